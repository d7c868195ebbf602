// The node's raft group: a core::replica::Replica over io/posix, its peer-message dispatcher,
// and the client requests that use it (Propose, Status, ReadApplied). The applied entries are
// kept in memory (the node's state machine, for now) so clients and the demo can verify them.
#pragma once

#include <memory>

#include "absl/container/btree_map.h"
#include "core/replica/replica.h"
#include "core/wire/client_codec.h"
#include "io/runtime.h"

namespace meridian::node {

class RaftService final : public core::replica::ReplicaObserver {
 public:
  static constexpr size_t kAppliedEntriesKept = 1 << 20;

  // Opens the replica (recovering it from disk) and starts dispatching peer messages to it.
  static absl::StatusOr<std::unique_ptr<RaftService>> Start(io::Runtime& runtime,
                                                            core::replica::ReplicaOptions options);

  // Serves Propose, StatusQuery and ReadApplied; nullopt for anything else.
  std::optional<wire::ClientBody> Handle(const wire::ClientBody& request);

  void OnApply(io::NodeId node, const core::raft::Entry& entry) override;
  void OnLeader(io::NodeId node, core::raft::Term term, const core::raft::RaftLog& log) override;
  void OnFailStop(io::NodeId node, const absl::Status& why) override;

  const core::replica::Replica& replica() const { return *replica_; }
  uint64_t elections_won() const { return elections_won_; }

 private:
  explicit RaftService(io::Runtime& runtime) : runtime_(runtime) {}
  wire::ClientBody Propose(const wire::Propose& propose);
  wire::ClientBody Read(const wire::ReadApplied& read) const;

  io::Runtime& runtime_;
  std::shared_ptr<core::replica::Replica> replica_;
  absl::btree_map<uint64_t, std::pair<uint64_t, std::string>> applied_;  // index -> (term, data)
  uint64_t elections_won_ = 0;
};

}  // namespace meridian::node
