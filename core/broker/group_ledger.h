// core::broker::GroupLedger: the state machine of consumer groups, applied from the log of one
// partition of the internal topic "__consumer_offsets" (core/wire/groups.fbs).
//
// Every replica of that partition applies the same records in the same order, so what the ledger
// decides is decided once, by the log:
//   - a generation record is accepted only if it is the next generation of its group (the
//     previous accepted one plus 1). Two coordinators racing after a leadership change both
//     propose "next"; the first applied wins and the other is refused.
//   - an offset commit is accepted only if its generation is the group's current generation,
//     its member is a member of it, and every partition it names is assigned to that member in
//     it. So a zombie (a member of an older generation, or one the group dropped) can never
//     commit once the generation that replaced it is in the log. An admin commit (no member,
//     generation -1) is accepted only when the current generation has no members.
//   - a delete is accepted only if the group exists, its current generation is the one the
//     delete names (the generation its coordinator saw empty) and has no members; the group's
//     generation state and offsets then go together, and the next generation is 1 again. A
//     join decided before it in the log (a newer generation) fences it; a generation proposed
//     from before it names a generation the deleted group no longer has and is refused.
// Outcomes are remembered per raft index, so the coordinator that proposed a record answers its
// client with what the log decided.
//
// Records that do not decode are refused and counted (they come from the log: a coordinator
// writes them, clients cannot produce to the internal topic). Never aborts on record bytes.
//
// Pure: no I/O, no clock. Who may call: the partition replica's driver fiber (ApplyBatch) and,
// between applies, request fibers (the queries).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/statusor.h"
#include "core/raft/types.h"
#include "core/wire/client_codec.h"
#include "core/wire/groups_generated.h"

namespace meridian::core::broker {

using wire::GroupPartition;
using wire::kOffsetsTopic;

using TopicPartitionKey = std::pair<std::string, uint32_t>;

// Sorted (topic, partition) pairs as the wire's per-topic lists.
std::vector<std::unique_ptr<wire::TopicPartitionsT>> ToWire(
    const std::vector<TopicPartitionKey>& partitions);

struct LedgerMember {
  std::string member_id;
  std::string client_id;
  std::vector<std::string> topics;
  std::vector<TopicPartitionKey> assignment;  // Sorted.
  uint32_t session_timeout_ms = 0;
  uint32_t rebalance_timeout_ms = 0;
  std::vector<uint8_t> kafka_assignment;  // Client-side groups: the leader's bytes for it.
};

struct CommittedOffset {
  int64_t offset = 0;
  std::string metadata;
  int32_t generation = 0;  // The generation it was committed in (-1: an admin commit).
};

struct LedgerGroup {
  int32_t generation = 0;  // 0: no generation yet.
  wire::Assignor assignor = wire::Assignor::Range;
  std::string protocol_type;          // "consumer": a Kafka client-side group; empty: server-side.
  std::string protocol;               // Client-side: the protocol (assignor) the members agreed on.
  std::vector<LedgerMember> members;  // Of the current generation, by member id.
  absl::btree_map<TopicPartitionKey, CommittedOffset> offsets;

  const LedgerMember* FindMember(std::string_view member_id) const;
};

enum class GroupResult : uint8_t {
  kAccepted,
  kIllegalGeneration,  // Stale generation, or a partition the member does not own in it.
  kUnknownMember,
  kGroupNotEmpty,  // An admin commit or a delete while the group has members.
  kInvalid,        // Does not decode or breaks a limit.
  kGroupNotFound,  // A delete of a group the ledger does not hold.
};
const char* GroupResultName(GroupResult result);

struct GroupOutcome {
  GroupResult result = GroupResult::kInvalid;
  std::string reason;
};

// A "__consumer_offsets" partition's snapshot, decoded and checked (GroupLedger::DecodeSnapshot).
struct GroupLedgerSnapshotData {
  std::string partition_state;  // PartitionState::EncodeSnapshot bytes of the same index.
  absl::btree_map<std::string, LedgerGroup> groups;
};

// Test-only planted bugs (the group simulation catches them). Production: kNone.
enum class GroupLedgerPlantedBug : uint8_t {
  kNone,
  kZombieCommitAccepted,  // Commits are accepted whatever their generation and member.
  kDeleteWithoutFence,    // A delete is accepted whatever the group's generation and members.
};

class GroupLedger {
 public:
  static constexpr size_t kGroupsMax = 1 << 16;
  static constexpr size_t kMembersMax = 1024;
  static constexpr size_t kOffsetsPerCommitMax = 1 << 14;
  static constexpr size_t kOutcomesKept = 1 << 14;

  explicit GroupLedger(GroupLedgerPlantedBug bug = GroupLedgerPlantedBug::kNone) : bug_(bug) {}

  // Applies the records of the accepted record batch `batch` (verified bytes) committed at
  // `index`. One outcome per index (the batch's first record decides; the coordinator writes
  // one record per batch).
  void ApplyBatch(raft::Index index, std::span<const uint8_t> batch);

  std::optional<GroupOutcome> OutcomeAt(raft::Index index) const;
  const LedgerGroup* Find(std::string_view group) const;
  const absl::btree_map<std::string, LedgerGroup>& groups() const { return groups_; }
  uint64_t records_refused() const { return records_refused_; }

  // Snapshot data of the partition at the ledger's applied point (core/wire/groups.fbs
  // GroupLedgerSnapshot): `partition_state` (PartitionState::EncodeSnapshot at the same index)
  // and every group, so the partition's log can be compacted behind it.
  std::string EncodeSnapshot(std::string_view partition_state) const;
  // Snapshot data from a disk or a peer, checked against every rule ApplyBatch enforces
  // (InvalidArgument otherwise). Nothing changes until Restore.
  static absl::StatusOr<GroupLedgerSnapshotData> DecodeSnapshot(std::string_view data);
  // Replaces every group with a snapshot's; the outcomes of earlier indices are forgotten.
  void Restore(absl::btree_map<std::string, LedgerGroup> groups);

  // One-record batches for the coordinator to propose (producer id 0; timestamp in ms).
  static std::string EncodeGeneration(const wire::GroupGenerationRecordT& record,
                                      int64_t timestamp_ms);
  static std::string EncodeCommit(const wire::GroupOffsetCommitRecordT& record,
                                  int64_t timestamp_ms);
  static std::string EncodeDelete(const wire::GroupDeleteRecordT& record, int64_t timestamp_ms);

 private:
  // The group (without offsets) a generation record or a snapshot's group state describes.
  static absl::StatusOr<LedgerGroup> ParseGeneration(const wire::GroupGenerationRecord& record);
  GroupOutcome ApplyRecord(const wire::GroupRecord& record);
  GroupOutcome ApplyGeneration(const wire::GroupGenerationRecord& record);
  GroupOutcome ApplyCommit(const wire::GroupOffsetCommitRecord& record);
  GroupOutcome ApplyDelete(const wire::GroupDeleteRecord& record);
  void Remember(raft::Index index, GroupOutcome outcome);

  const GroupLedgerPlantedBug bug_;
  absl::btree_map<std::string, LedgerGroup> groups_;
  absl::btree_map<raft::Index, GroupOutcome> outcomes_;
  uint64_t records_refused_ = 0;
};

}  // namespace meridian::core::broker
