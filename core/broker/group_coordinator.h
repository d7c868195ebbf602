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
// Client-side assignment (Kafka's JoinGroup/SyncGroup; group_coordinator_kafka.cc): members
// join with protocol type "consumer" and their protocols (name + opaque ConsumerProtocol
// subscription). When the join phase ends the coordinator picks a protocol every member
// supports, elects a leader member, announces generation current+1 and hands the leader every
// member's metadata. The leader's SyncGroup carries each member's assignment bytes: the
// coordinator parses them (consumer_protocol.h; malformed bytes or a partition given to two
// members are refused), writes the generation with each member's partitions and bytes to the
// log, and answers every member's SyncGroup with its own bytes. So the ledger's commit fence
// (owner in the current generation) holds for Kafka groups as for native ones. A group is
// either server-side or client-side while it has members (InconsistentAssignor otherwise).
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
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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
  // Called each time a generation this coordinator proposed is accepted by the log.
  std::function<void()> on_generation_written;
};

class GroupCoordinator {
 public:
  static constexpr size_t kSubscribedTopicsMax = 1024;
  // A Kafka joiner waits this much past its rebalance timeout: the join phase that timeout ends
  // is closed by the group fiber a tick later, and the joiner must hear its outcome rather than
  // give up at the same instant. Kafka clients allow 3 s or more beyond the rebalance timeout
  // for a JoinGroup answer.
  static constexpr io::Duration kJoinAnswerGrace = std::chrono::seconds(2);
  // Client-side groups: protocols a member offers, bytes of one protocol's metadata or of one
  // member's assignment, member ids handed out and not yet used (Kafka v4+ joins), and the
  // metadata of a whole group (what the leader's JoinGroup answer carries).
  static constexpr size_t kProtocolsMax = 16;
  static constexpr size_t kProtocolMetadataBytesMax = 64 << 10;
  static constexpr size_t kAssignmentBytesMax = 64 << 10;
  static constexpr size_t kPendingMemberIdsMax = 1024;
  static constexpr size_t kGroupMetadataBytesMax = 2 << 20;
  static constexpr size_t kGenerationAssignmentBytesMax = 512 << 10;
  static_assert(kGroupMetadataBytesMax + (64 << 10) <= wire::kClientMessageBytesMax,
                "the leader's JoinGroup answer fits in a client message");
  static_assert(kGenerationAssignmentBytesMax < wire::kBatchBytesMax,
                "a generation record with its assignment bytes fits in one batch");
  static constexpr std::string_view kConsumerProtocolType = "consumer";
  using PartitionCounts = std::function<absl::btree_map<std::string, uint32_t>()>;

  GroupCoordinator(io::Runtime& runtime, HostedPartition partition, GroupCoordinatorOptions options,
                   PartitionCounts partition_counts);

  wire::ClientMessageT Join(uint64_t id, const wire::JoinGroupRequestT& request,
                            io::Instant deadline);
  wire::ClientMessageT Sync(uint64_t id, const wire::SyncGroupRequestT& request,
                            io::Instant deadline);
  wire::ClientMessageT Heartbeat(uint64_t id, const wire::HeartbeatRequestT& request);
  wire::ClientMessageT Leave(uint64_t id, const wire::LeaveGroupRequestT& request);
  wire::ClientMessageT Commit(uint64_t id, const wire::OffsetCommitRequestT& request,
                              io::Instant deadline);
  wire::ClientMessageT FetchOffsets(uint64_t id, const wire::OffsetFetchRequestT& request);
  wire::ClientMessageT Describe(uint64_t id, const wire::DescribeGroupsRequestT& request);
  // Deletes a group without live members (group_coordinator_delete.cc): proposes a delete record
  // fenced by the generation seen here, and answers what the ledger decided.
  wire::ClientMessageT Delete(uint64_t id, const wire::DeleteGroupRequestT& request,
                              io::Instant deadline);
  // Expires sessions and finishes rebalances; may suspend (it proposes generations).
  void Tick();
  // Groups with live state here (members heard from, a rebalance): at most kGroupsMax. Stale
  // while the replica is not the leader (dropped on the next call of a leader term).
  size_t live_groups() const { return groups_.size(); }

 private:
  struct Member {
    std::string id;
    std::string client_id;
    std::string client_host;  // Client-side groups: the JoinGroup connection's peer.
    std::vector<std::string> topics;
    wire::Assignor assignor = wire::Assignor::Range;
    io::Duration session_timeout{};
    io::Duration rebalance_timeout{};
    io::Instant last_heard;
    bool joined = false;  // Rejoined in the current rebalance.
    int waiting = 0;      // Join calls parked on this member.
    int syncing = 0;      // SyncGroup calls parked on this member (client-side groups).
    // Client-side groups: (protocol name, metadata) by the member's preference.
    std::vector<std::pair<std::string, std::vector<uint8_t>>> protocols;
  };
  struct Group {
    explicit Group(io::Runtime& runtime) : changed(runtime) {}
    int32_t generation = 0;
    // Generations this leader wrote for the group: what a joiner waits to see grow (the
    // generation number itself starts again from 0 after a delete).
    uint64_t writes = 0;
    wire::Assignor assignor = wire::Assignor::Range;
    absl::btree_map<std::string, Member> members;
    GroupAssignment assignment;  // Of `generation`.
    bool rebalancing = false;
    bool proposing = false;
    bool rerun = false;  // Membership changed while a generation was being written.
    io::Instant rebalance_deadline;
    io::WaitList changed;
    // Client-side groups (empty protocol_type: server-side).
    std::string protocol_type;
    std::string protocol;
    std::string leader;
    bool awaiting_sync = false;  // Generation+1 announced, the leader's assignment not written.
    uint64_t join_rounds = 0;    // Join phases ended (announcements).
    absl::btree_map<std::string, std::vector<uint8_t>> kafka_assignments;  // Of `generation`.
    // Member ids handed out by a v4+ join and not yet joined with, oldest first. Each lapses
    // after the session timeout its join asked for (Kafka's pending members do too); until then
    // the group stays live even with no members (Tick), or the id would be forgotten between a
    // client's two joins whenever a tick fell between them.
    struct PendingMemberId {
      std::string id;
      io::Instant lapses;
    };
    std::vector<PendingMemberId> pending_member_ids;
    // The generation members of a client-side group are told: announced, maybe not yet written.
    int32_t announced() const { return awaiting_sync ? generation + 1 : generation; }
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
  // Parks a join of `member_id` until `joined()` holds (nullopt) or answers why it stopped
  // waiting: the coordinator moved, the member was removed, or the deadline passed.
  std::optional<wire::ClientMessageT> ParkJoin(uint64_t id, Group& group,
                                               const std::string& member_id, io::Instant deadline,
                                               const std::function<bool()>& joined);
  wire::ClientMessageT JoinResponse(uint64_t id, const Group& group, const std::string& member);
  // One group as DescribeGroups reports it: the decided state, with what this leader's live
  // state adds (a rebalance, members' hosts and protocol metadata).
  std::unique_ptr<wire::GroupInfoT> DescribeOne(uint64_t id, const std::string& name,
                                                const LedgerGroup& decided, bool names_only);
  wire::ClientMessageT AwaitGeneration(uint64_t id, const std::string& name,
                                       const std::string& member, uint64_t writes_before,
                                       io::Instant deadline);
  // After the log refused a generation this leader proposed, or decided a delete: the live
  // group takes the ledger's generation again (0 once deleted), and a next generation computed
  // or announced from the old one is abandoned (its members rejoin).
  void Resync(const std::string& name, Group& group);
  // Client-side assignment (group_coordinator_kafka.cc).
  using Protocols = std::vector<std::pair<std::string, std::vector<uint8_t>>>;
  // The error if a client-side join cannot enter `group` (another kind of member, no protocol
  // in common, too much metadata), or nullopt.
  std::optional<wire::ClientMessageT> RefuseClientSideJoin(uint64_t id, const Group& group,
                                                           const wire::JoinGroupRequestT& request,
                                                           const Protocols& protocols) const;
  // Sets `*member_id` (the request's, or a new one); an answer to send instead: an error, or
  // the new id of a Kafka v4+ join (which joins again with it).
  std::optional<wire::ClientMessageT> ResolveMemberId(uint64_t id, Group& group,
                                                      const wire::JoinGroupRequestT& request,
                                                      std::string* member_id);
  // The error if a server-side join cannot enter `group` (Kafka members, another assignor).
  static std::optional<wire::ClientMessageT> RefuseServerSideJoin(
      uint64_t id, const Group& group, const wire::JoinGroupRequestT& request);
  wire::ClientMessageT JoinClientSide(uint64_t id, const wire::JoinGroupRequestT& request,
                                      io::Instant deadline);
  wire::ClientMessageT KafkaJoinResponse(uint64_t id, const Group& group,
                                         const std::string& member);
  wire::ClientMessageT AwaitAnnouncement(uint64_t id, const std::string& name,
                                         const std::string& member, io::Instant deadline);
  // Ends a client-side join phase: protocol, leader, generation+1 announced.
  void AnnounceJoin(Group& group);
  wire::ClientMessageT WriteLeaderAssignment(uint64_t id, const std::string& name,
                                             std::shared_ptr<Group> group,
                                             const wire::SyncGroupRequestT& request,
                                             io::Instant deadline);
  wire::ClientMessageT AwaitSync(uint64_t id, std::shared_ptr<Group> group,
                                 const wire::SyncGroupRequestT& request, io::Instant deadline);
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
