// core::broker::GroupCoordinator: the coordinator of the consumer groups that live in one
// partition of "__consumer_offsets", run by that partition's leader (core/broker/README.md
// "Consumer groups").
//
// Two kinds of state:
//   - decided state, in the partition's log and applied by every replica (GroupLedger):
//     generations with their members and assignments, and committed offsets;
//   - live state, in this leader's memory only: which members are alive (heartbeats, session
//     timeouts), who has rejoined in a rebalance. A new leader rebuilds it from the ledger:
//     every member of each group's current generation is presumed alive for one session
//     timeout, so a group survives a coordinator change without a rebalance.
// A rebalance (a member joins, leaves, changes its subscription, or misses its session) waits
// until every member has rejoined or the rebalance timeout passes (stragglers are dropped),
// assigns the partitions (group_assignors.h) and proposes the next generation to the log; the
// joiners are answered once the log has accepted it. Commits are proposed as they come and
// decided by the ledger when applied.
//
// The live state belongs to one leader term: when the replica loses leadership or its term
// changes, it is dropped and waiting joiners are answered NotLeader.
//
// Fibers: request fibers call the handlers (the caller checked that the replica is a ready
// leader); the broker's group fiber calls Tick() every broker tick.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/container/btree_map.h"
#include "core/broker/broker_state.h"
#include "core/broker/group_assignors.h"
#include "core/broker/group_ledger.h"

namespace meridian::core::broker {

struct GroupCoordinatorOptions {
  io::Duration session_timeout_min = std::chrono::milliseconds(500);
  io::Duration session_timeout_max = std::chrono::minutes(30);
  io::Duration rebalance_timeout_max = std::chrono::minutes(10);
  AssignorPlantedBug assignor_bug = AssignorPlantedBug::kNone;
};

class GroupCoordinator {
 public:
  static constexpr size_t kSubscribedTopicsMax = 1024;
  using PartitionCounts = std::function<absl::btree_map<std::string, uint32_t>()>;

  GroupCoordinator(io::Runtime& runtime, HostedPartition partition, GroupCoordinatorOptions options,
                   PartitionCounts partition_counts);

  wire::ClientMessageT Join(uint64_t id, const wire::JoinGroupRequestT& request,
                            io::Instant deadline);
  wire::ClientMessageT Heartbeat(uint64_t id, const wire::HeartbeatRequestT& request);
  wire::ClientMessageT Leave(uint64_t id, const wire::LeaveGroupRequestT& request);
  wire::ClientMessageT Commit(uint64_t id, const wire::OffsetCommitRequestT& request,
                              io::Instant deadline);
  wire::ClientMessageT FetchOffsets(uint64_t id, const wire::OffsetFetchRequestT& request);
  wire::ClientMessageT Describe(uint64_t id, const wire::DescribeGroupsRequestT& request);
  // Expires sessions and finishes rebalances; may suspend (it proposes generations).
  void Tick();

 private:
  struct Member {
    std::string id;
    std::string client_id;
    std::vector<std::string> topics;
    wire::Assignor assignor = wire::Assignor::Range;
    io::Duration session_timeout{};
    io::Duration rebalance_timeout{};
    io::Instant last_heard;
    bool joined = false;  // Rejoined in the current rebalance.
    int waiting = 0;      // Join calls parked on this member.
  };
  struct Group {
    explicit Group(io::Runtime& runtime) : changed(runtime) {}
    int32_t generation = 0;
    wire::Assignor assignor = wire::Assignor::Range;
    absl::btree_map<std::string, Member> members;
    GroupAssignment assignment;  // Of `generation`.
    bool rebalancing = false;
    bool proposing = false;
    bool rerun = false;  // Membership changed while a generation was being written.
    io::Instant rebalance_deadline;
    io::WaitList changed;
  };

  // Drops the live state if the replica's leadership or term moved; false if not a leader.
  bool CurrentTerm();
  std::shared_ptr<Group> Load(const std::string& name);
  // The live group holding `member_id`, or nullptr with the error to answer.
  std::shared_ptr<Group> FindMember(uint64_t id, const std::string& name,
                                    const std::string& member_id, wire::ClientMessageT* error);
  void StartRebalance(Group& group);
  void ExpireSessions(Group& group);
  void FinishRebalance(const std::string& name, std::shared_ptr<Group> group);
  wire::ClientMessageT JoinResponse(uint64_t id, const Group& group, const std::string& member);
  wire::ClientMessageT AwaitGeneration(uint64_t id, const std::string& name,
                                       const std::string& member, int32_t after,
                                       io::Instant deadline);
  wire::ClientMessageT ProposeRecord(uint64_t id, std::string batch, io::Instant deadline,
                                     GroupOutcome* outcome);

  io::Runtime& runtime_;
  const HostedPartition partition_;
  const GroupCoordinatorOptions options_;
  const PartitionCounts partition_counts_;
  uint64_t term_ = 0;   // The leader term the live state belongs to (0: none).
  uint64_t epoch_ = 0;  // Bumped whenever the live state is dropped.
  uint64_t members_made_ = 0;
  absl::btree_map<std::string, std::shared_ptr<Group>> groups_;
};

}  // namespace meridian::core::broker
