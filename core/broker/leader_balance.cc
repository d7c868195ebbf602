// Leader placement: each partition's leader hands leadership back to the partition's preferred
// leader (its first voter; core/cluster/placement.h rotates those over nodes, so leaders end up
// balanced) once that voter has been in sync for BrokerOptions::leader_balance_delay. Leadership
// lost to a failure thus returns when the failed node, zone or region does, and only after it
// has stayed healthy for a while (a flapping node does not pull leadership back and forth).
// Runs on every node for the partitions it leads: no controller decision, no metadata write.
#include <fmt/format.h>

#include <vector>

#include "absl/container/btree_map.h"
#include "core/broker/broker_state.h"
#include "io/assert.h"
#include "io/probe.h"

namespace meridian::core::broker {
namespace {

constexpr io::Duration kLeaderBalancePeriod = std::chrono::milliseconds(500);
constexpr io::Duration kTransferTimeout = std::chrono::seconds(1);  // Raft accepting it, no more.

// The preferred leader of the partition `hosted` replicates, if the metadata still names that
// group for it and no reassignment is moving its replicas (its executor moves leadership as it
// needs; 0 otherwise).
uint32_t PreferredLeader(const Broker::State& state, const HostedPartition& hosted) {
  const cluster::PartitionRecord* record = CurrentRecord(state, hosted);
  if (record == nullptr || record->replicas.empty() || !record->target_replicas.empty()) return 0;
  return record->replicas.front();
}

// The partitions this node leads whose preferred leader has been in sync for the delay;
// `in_sync_since` is updated for the others.
std::vector<HostedPartition> DueForHandover(const Broker::State& state,
                                            absl::btree_map<uint64_t, io::Instant>& in_sync_since) {
  const io::Instant now = state.runtime.Now();
  absl::btree_map<uint64_t, io::Instant> still;
  std::vector<HostedPartition> due;
  for (const auto& [group, hosted] : state.partitions) {
    const uint32_t preferred = PreferredLeader(state, hosted);
    if (preferred == 0 || preferred == state.options.node_id || !hosted.replica->leader_ready() ||
        !hosted.replica->VoterInSync(io::NodeId(preferred))) {
      continue;
    }
    auto since = in_sync_since.find(group);
    const io::Instant first = since != in_sync_since.end() ? since->second : now;
    if (now - first < state.options.leader_balance_delay) {
      still[group] = first;
    } else {
      // Not kept in `still`: if the transfer fails, the voter must be in sync for another whole
      // delay before the next try.
      due.push_back(hosted);
    }
  }
  in_sync_since = std::move(still);
  return due;
}

}  // namespace

void RunLeaderBalancer(std::shared_ptr<Broker::State> state) {
  io::Runtime& rt = state->runtime;
  // Per group this node leads with another node preferred: since when that node is in sync.
  absl::btree_map<uint64_t, io::Instant> in_sync_since;
  while (!state->stopped) {
    if (!rt.Sleep(kLeaderBalancePeriod).ok()) return;
    if (state->options.leader_balance_delay == io::Duration::zero() ||
        state->options.planted.leaders_stay_put) {
      continue;
    }
    // Collected first: a transfer waits for the replica's driver, and the partitions map may
    // change meanwhile.
    for (const HostedPartition& hosted : DueForHandover(*state, in_sync_since)) {
      const uint32_t preferred = PreferredLeader(*state, hosted);
      if (preferred == 0 || state->stopped) continue;
      MERIDIAN_PROBE("broker: a leader hands leadership back to the preferred leader");
      state->Log(fmt::format("{}/{}: handing leadership to node {}, its preferred leader",
                             hosted.topic, hosted.partition, preferred));
      const absl::Status transfer =
          hosted.replica->TransferLeadership(io::NodeId(preferred), rt.Now() + kTransferTimeout);
      if (transfer.ok()) state->metrics.leader_transfers_total++;
    }
  }
}

}  // namespace meridian::core::broker
