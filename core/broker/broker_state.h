// Internals of core::broker::Broker shared by broker.cc (lifecycle, peers, reconciler,
// registration), broker_requests.cc (request handlers) and broker_session.cc (connections).
#pragma once

#include <memory>
#include <string>

#include "absl/container/btree_map.h"
#include "core/broker/broker.h"
#include "core/broker/partition_state.h"
#include "core/cluster/metadata.h"
#include "core/replica/replica.h"
#include "io/sync.h"

namespace meridian::core::broker {

// A partition's state machine as the replica sees it, plus the wait list long polls park on.
class PartitionMachine final : public replica::ReplicaStateMachine {
 public:
  PartitionMachine(io::Runtime& runtime, PartitionPlantedBug bug) : state(bug), applied(runtime) {}
  void Apply(const raft::Entry& entry) override {
    state.Apply(entry);
    applied.NotifyAll();
  }
  absl::Status Restore(const raft::SnapshotMeta& meta, std::string_view data) override {
    if (absl::Status s = state.RestoreSnapshot(meta.index, data); !s.ok()) return s;
    snapshot_data.assign(data);
    applied.NotifyAll();
    return absl::OkStatus();
  }
  PartitionState state;
  // The data of the replica's latest snapshot (retention rolls it forward to the next one).
  std::string snapshot_data;
  io::WaitList applied;
};

// The metadata group's state machine; wakes the reconciler on every change.
class MetadataMachine final : public replica::ReplicaStateMachine {
 public:
  explicit MetadataMachine(io::Runtime& runtime) : changed(runtime) {}
  void Apply(const raft::Entry& entry) override {
    applied = entry.index;
    if (entry.kind == raft::EntryKind::kNormal && !entry.data.empty()) {
      outcomes[entry.index] = metadata.Apply(
          std::span(reinterpret_cast<const uint8_t*>(entry.data.data()), entry.data.size()));
      while (outcomes.size() > kOutcomesKept) outcomes.erase(outcomes.begin());
    }
    changed.NotifyAll();
  }
  absl::Status Restore(const raft::SnapshotMeta& meta, std::string_view data) override {
    if (absl::Status s = metadata.RestoreSnapshot(data); !s.ok()) return s;
    applied = meta.index;
    changed.NotifyAll();
    return absl::OkStatus();
  }
  static constexpr size_t kOutcomesKept = 4096;
  cluster::ClusterMetadata metadata;
  raft::Index applied;  // The metadata is the state after this entry.
  absl::btree_map<raft::Index, cluster::MetadataOutcome> outcomes;
  io::WaitList changed;
};

struct HostedPartition {
  std::string topic;
  uint32_t partition = 0;
  uint64_t group = 0;
  std::shared_ptr<PartitionMachine> machine;
  std::shared_ptr<replica::Replica> replica;
};

struct Broker::State {
  State(io::Runtime& rt, BrokerOptions opts) : runtime(rt), options(std::move(opts)) {}

  io::Runtime& runtime;
  const BrokerOptions options;
  std::shared_ptr<MetadataMachine> controller_machine;
  std::shared_ptr<replica::Replica> controller;
  absl::btree_map<uint64_t, HostedPartition> partitions;  // by raft group id
  BrokerMetrics metrics;
  bool stopped = false;
  // ACL denials are counted each time but logged at most once per kDenialLogInterval.
  std::optional<io::Instant> denial_logged_at;

  // Proposes a metadata command and waits until it is applied here; the outcome, or the
  // proposal's error (FailedPrecondition: not the controller leader).
  absl::StatusOr<cluster::MetadataOutcome> ProposeMetadata(const wire::MetadataCommandT& command,
                                                           io::Instant deadline);
  const HostedPartition* FindHosted(std::string_view topic, uint32_t partition) const;
  raft::RaftOptions GroupRaftOptions(const std::vector<uint32_t>& voters,
                                     const std::vector<uint32_t>& learners = {}) const;
  void Log(std::string_view text) const;
};

// Request handlers (broker_requests.cc).
wire::ClientMessageT HandleRequest(Broker::State& state, const wire::ClientMessageT& request);
// HandleRequest for `principal` if the ACLs allow it, else NotAuthorized (broker_acl.cc).
wire::ClientMessageT HandleAuthorized(Broker::State& state, const Principal& principal,
                                      const wire::ClientMessageT& request);

}  // namespace meridian::core::broker
