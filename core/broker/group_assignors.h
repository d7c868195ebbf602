// Partition assignors of consumer groups, run by the group's coordinator at the end of a
// rebalance (server-side assignment; the members name the assignor they want).
//
//   Range       per topic, the subscribers in member-id order get contiguous ranges of
//               partitions; the first (partitions % subscribers) one extra (Kafka's range).
//   RoundRobin  every topic-partition in (topic, partition) order goes to the next member in
//               member-id order that subscribes to its topic.
//   Sticky      keeps every partition with its previous owner while that owner is still in the
//               group and subscribes to the topic, hands the rest to the least-loaded
//               subscriber, then moves partitions one at a time from the most to the least
//               loaded eligible member until no move would narrow the gap (so a member joining
//               takes its share and nothing else moves; a member leaving frees only its own).
//
// What stays true (group_assignors_test checks it on random groups): every partition of every
// subscribed topic the cluster knows is assigned to exactly one member that subscribes to it;
// with identical subscriptions, loads differ by at most one. Pure and deterministic.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "core/broker/group_ledger.h"

namespace meridian::core::broker {

struct AssignorMember {
  std::string member_id;
  std::vector<std::string> topics;
};

// member id -> its partitions, sorted. Every member given appears (possibly with none).
using GroupAssignment = absl::btree_map<std::string, std::vector<TopicPartitionKey>>;

// Test-only planted bug: the last partition is handed to a second member too.
enum class AssignorPlantedBug : uint8_t { kNone, kAssignOnePartitionTwice };

// `partition_counts`: each topic the cluster knows and its partition count (subscribed topics
// missing from it get nothing). `previous`: the last generation's assignment (Sticky uses it).
GroupAssignment AssignPartitions(wire::Assignor assignor,
                                 const std::vector<AssignorMember>& members,
                                 const absl::btree_map<std::string, uint32_t>& partition_counts,
                                 const GroupAssignment& previous,
                                 AssignorPlantedBug bug = AssignorPlantedBug::kNone);

}  // namespace meridian::core::broker
