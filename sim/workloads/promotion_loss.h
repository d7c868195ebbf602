// What a run's promotions of one topic cost, as the broker workload tells the log checker
// (region-loss-regional; README "Regional failover"). Pure: promotion events and a history in,
// the history amended and the counts out, so the excuse is tested directly
// (promotion_loss_test.cc) and not only through the seeds that reach it.
//
// A send acknowledged before a promotion was proposed, at or past the offset the new epoch
// starts at, was the old epoch's and is gone: it becomes indeterminate. So are reads, before the
// proposal, of those offsets. Whatever the old epoch acknowledged or served after the proposal
// is not excused: fencing must have stopped it, and the checker judges it like any other
// operation. A proposal the controller reports abandoned (kAbandoned: it certainly did not take
// effect) excuses nothing: the old epoch lived on (geo-3x3 --change_consistency=regional
// --kinds=region_loss,partition seed 114: a proposal refused as "not leader" excused four sends
// as lost, then "RPO under-reported" failed the run for records nobody discarded). Only
// `topic`'s promotions count: a partition number names a different partition in every topic
// (geo-3x3 --group_members=3 --near_reads seed 40: __consumer_offsets/0-7 promoted at offset 0,
// events never promoted, and every send acknowledged before those proposals was excused as "lost"
// and then found unreported).
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "checks/history.h"
#include "core/broker/broker.h"

namespace meridian::sim {

struct PromotionLoss {
  uint64_t promotions = 0;                        // Distinct (partition, epoch) proposed.
  absl::btree_map<int64_t, uint64_t> acked_lost;  // partition -> acknowledged sends excused
  // partition -> records the old replicas reported discarding: the max over the nodes of one
  // (partition, epoch), summed over its epochs.
  absl::btree_map<int64_t, uint64_t> reported;
};

// `events` are (virtual time in ns, event), as BrokerOptions::on_promotion delivered them.
PromotionLoss ExcusePromotedLoss(
    std::string_view topic,
    const std::vector<std::pair<int64_t, core::broker::PromotionEvent>>& events,
    checks::History& history);

}  // namespace meridian::sim
