// Deleting a consumer group in core::broker::GroupCoordinator (Kafka's DeleteGroups, `meridian
// group delete`; core/broker/README.md "Consumer groups").
//
// Two checks, one of them the log's. Here: the group has no live state that would make it
// non-empty (members, a join phase, a generation being written, an announced generation) and
// its current generation in the ledger has no members. Then the delete record carries the
// generation seen, and the ledger accepts it only if that is still the group's generation with
// no members (group_ledger.h): a join decided in between — by this leader's next tick or by a
// coordinator of another term — fences it. Whatever was proposed from the state before the
// delete (a generation, a member's commit) names a generation the deleted group no longer has
// and is refused, so no part of the old group comes back; a join after it starts a new group.
#include <fmt/format.h>

#include "core/broker/group_coordinator.h"
#include "io/assert.h"
#include "io/probe.h"

namespace meridian::core::broker {
namespace {

using wire::ErrorCode;
using wire::ErrorMessage;
using wire::Message;

}  // namespace

wire::ClientMessageT GroupCoordinator::Delete(uint64_t id, const wire::DeleteGroupRequestT& request,
                                              io::Instant deadline) {
  const std::string& name = request.group;
  if (name.empty() || name.size() > wire::kNameBytesMax) {
    return ErrorMessage(id, ErrorCode::BadRequest,
                        fmt::format("group name must be 1 to {} bytes", wire::kNameBytesMax));
  }
  if (!CurrentTerm()) return ErrorMessage(id, ErrorCode::NotLeader, "not the coordinator");
  if (auto live = groups_.find(name); live != groups_.end()) {
    const Group& group = *live->second;
    if (!group.members.empty() || group.rebalancing || group.proposing || group.awaiting_sync) {
      return ErrorMessage(id, ErrorCode::GroupNotEmpty,
                          fmt::format("group {} has {} live member{}{}", name, group.members.size(),
                                      group.members.size() == 1 ? "" : "s",
                                      group.rebalancing ? " and is rebalancing" : ""));
    }
  }
  const LedgerGroup* decided = partition_.machine->ledger->Find(name);
  if (decided == nullptr) {
    return ErrorMessage(id, ErrorCode::GroupIdNotFound,
                        fmt::format("group {} does not exist", name));
  }
  if (!decided->members.empty()) {
    return ErrorMessage(id, ErrorCode::GroupNotEmpty,
                        fmt::format("group {} has {} members in generation {}", name,
                                    decided->members.size(), decided->generation));
  }
  wire::GroupDeleteRecordT record;
  record.group = name;
  record.generation = decided->generation;
  const uint64_t epoch = epoch_;
  GroupOutcome outcome;
  wire::ClientMessageT error = ProposeRecord(
      id, GroupLedger::EncodeDelete(record, runtime_.WallClockMillis()), deadline, &outcome);
  if (outcome.result == GroupResult::kIllegalGeneration) {
    MERIDIAN_PROBE("group: a delete fenced by a generation decided before it");
    return ErrorMessage(id, ErrorCode::GroupNotEmpty,
                        fmt::format("group {} changed while it was being deleted ({}): not deleted",
                                    name, outcome.reason));
  }
  if (outcome.result != GroupResult::kAccepted) return error;
  if (epoch_ == epoch) {
    // A join that came in meanwhile loaded the group as it was: it becomes a new group's.
    if (auto live = groups_.find(name); live != groups_.end()) {
      Group& group = *live->second;
      Resync(name, group);
      if (group.members.empty() && !group.rebalancing && !group.proposing) groups_.erase(live);
    }
  }
  return Message(id, wire::DeleteGroupResponseT{});
}

void GroupCoordinator::Resync(const std::string& name, Group& group) {
  const LedgerGroup* decided = partition_.machine->ledger->Find(name);
  const int32_t generation = decided == nullptr ? 0 : decided->generation;
  // The ledger's generation only grows, but for a delete; this leader wrote every generation
  // of its term, so the live one can be ahead only across a delete.
  if (group.generation == generation) return;
  MERIDIAN_CHECK(decided == nullptr || decided->generation < group.generation);
  MERIDIAN_PROBE("group: the live state starts again after a delete");
  group.generation = generation;
  group.assignment.clear();
  group.kafka_assignments.clear();
  if (!group.members.empty()) StartRebalance(group);  // Abandons what was announced.
  group.changed.NotifyAll();
}

}  // namespace meridian::core::broker
