// The simulator's reassignment checker: judges the configuration changes partition leaders
// report taking (core::broker::ReassignmentEvent, BrokerOptions::on_reassignment), outside the
// protocol, against the two rules of the step order (core/broker/reassignment_step.h):
//   - voter-not-caught-up: a learner became a voter while its match index was more than
//     kCatchUpEntriesSlack behind its leader's commit index, or 0 (it never acknowledged an
//     entry: a dead node, which a log younger than the slack would let through); the new
//     quorum would wait for it;
//   - voters-below-target: a voter was removed while the group had no more voters than the
//     smaller of the voters it had and its target, so a replica left before its replacement
//     voted (one fault fewer tolerated meanwhile).
// Plus, at the end of a run, replication-not-restored: a partition of the workload's topic the
// metadata still shows short of its replication factor, or still reassigning.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/broker/broker.h"
#include "core/cluster/metadata.h"

namespace meridian::sim {

// What the brokers told of reassignment steps, on the world's clock.
struct ReassignmentLog {
  std::vector<std::pair<int64_t, core::broker::ReassignmentEvent>> events;  // (time ns, event)
};

// One violation per broken rule (at most kReassignmentViolationsMax, then a count).
inline constexpr size_t kReassignmentViolationsMax = 8;
std::vector<std::string> JudgeReassignments(const ReassignmentLog& log);

// Per partition of `topic`: whether it ended with replication_factor voters and no
// reassignment in progress.
std::vector<bool> ReplicationRestored(const core::cluster::TopicRecord& topic);

// Per partition of a regional `topic`: whether it is home — its epoch restarted in the home
// region since its last promotion (never promoted, or failed back), every voter there by
// `region_of`, no reassignment in progress. Not regional: every partition is home.
std::vector<bool> PartitionsHome(const core::cluster::TopicRecord& topic,
                                 const std::function<std::string(uint32_t node)>& region_of);

}  // namespace meridian::sim
