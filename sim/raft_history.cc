#include "sim/raft_history.h"

#include <fmt/format.h>

#include <algorithm>

namespace meridian::sim {

std::optional<std::string> FindStaleLeaseRead(const std::vector<RaftClientOp>& ops) {
  using Outcome = RaftClientOp::Outcome;
  std::vector<const RaftClientOp*> writes;  // Acknowledged, by completion time.
  for (const RaftClientOp& op : ops) {
    if (op.outcome == Outcome::kOk && !op.value.empty()) writes.push_back(&op);
  }
  std::sort(writes.begin(), writes.end(), [](const RaftClientOp* a, const RaftClientOp* b) {
    return a->completed < b->completed;
  });
  // The highest index among writes[0..i]: writes can be acknowledged out of index order.
  std::vector<const RaftClientOp*> highest(writes.size());
  for (size_t i = 0; i < writes.size(); i++) {
    highest[i] = i > 0 && highest[i - 1]->index > writes[i]->index ? highest[i - 1] : writes[i];
  }
  for (const RaftClientOp& read : ops) {
    if (read.outcome != Outcome::kOk || !read.value.empty()) continue;
    const auto before = std::lower_bound(
        writes.begin(), writes.end(), read.invoked,
        [](const RaftClientOp* write, io::Instant at) { return write->completed < at; });
    if (before == writes.begin()) continue;
    const RaftClientOp* write = highest[static_cast<size_t>(before - writes.begin()) - 1];
    if (write->index <= read.index) continue;
    return fmt::format(
        "stale-lease-read: a read invoked at {} returned index {}, below {} (value {}) "
        "acknowledged at {}",
        read.invoked.ToString(), read.index, write->index, write->value,
        write->completed.ToString());
  }
  return std::nullopt;
}

}  // namespace meridian::sim
