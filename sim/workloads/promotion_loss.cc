#include "sim/workloads/promotion_loss.h"

#include <algorithm>

#include "absl/container/btree_set.h"

namespace meridian::sim {

PromotionLoss ExcusePromotedLoss(
    std::string_view topic,
    const std::vector<std::pair<int64_t, core::broker::PromotionEvent>>& events,
    checks::History& history) {
  PromotionLoss loss;
  absl::btree_map<std::pair<int64_t, uint32_t>, uint64_t> reported;  // (partition, epoch) -> max
  std::vector<std::pair<int64_t, const core::broker::PromotionEvent*>> proposed;
  for (const auto& [at_ns, event] : events) {
    if (event.topic != topic) continue;
    const int64_t partition = event.partition;
    if (event.kind == core::broker::PromotionEvent::Kind::kProposed) {
      proposed.emplace_back(at_ns, &event);
    } else if (event.kind == core::broker::PromotionEvent::Kind::kAbandoned) {
      // The proposal certainly did not take effect: the old epoch lives on and lost nothing
      // to it (a failover that did happen is proposed again, and that one counts).
      std::erase_if(proposed, [&](const auto& entry) {
        return entry.second->partition == event.partition && entry.second->epoch == event.epoch &&
               entry.second->promoted_offset == event.promoted_offset;
      });
    } else {
      uint64_t& most = reported[{partition, event.epoch}];
      most = std::max(most, event.records);
    }
  }
  for (const auto& [key, records] : reported) loss.reported[key.first] += records;
  const auto superseded = [&](int64_t partition, int64_t offset, int64_t at_ns) {
    for (const auto& [proposed_ns, event] : proposed) {
      if (event->partition == partition && offset >= event->promoted_offset &&
          at_ns < proposed_ns) {
        return true;
      }
    }
    return false;
  };
  for (checks::Operation& op : history.operations) {
    if (op.f == checks::Function::kSend && op.outcome == checks::Outcome::kOk &&
        op.offsets.size() == 1 && superseded(op.partition, op.offsets[0], op.complete_ns)) {
      op.outcome = checks::Outcome::kInfo;
      op.offsets.clear();
      loss.acked_lost[op.partition]++;
    }
    if (op.f == checks::Function::kPoll) {
      std::erase_if(op.reads, [&](const checks::Read& read) {
        return superseded(read.partition, read.offset, op.complete_ns);
      });
    }
  }
  absl::btree_set<std::pair<int64_t, uint32_t>> distinct;
  for (const auto& [at_ns, event] : proposed) distinct.insert({event->partition, event->epoch});
  loss.promotions = distinct.size();
  return loss;
}

}  // namespace meridian::sim
