#include "core/broker/group_assignors.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <set>

namespace meridian::core::broker {
namespace {

using Counts = absl::btree_map<std::string, uint32_t>;

// Every partition of a subscribed, known topic is owned exactly once, by a subscriber.
void ExpectComplete(const GroupAssignment& out, const std::vector<AssignorMember>& members,
                    const Counts& counts) {
  std::map<TopicPartitionKey, int> owners;
  for (const auto& [member, partitions] : out) {
    const auto& subscribed =
        std::find_if(members.begin(), members.end(), [&](const AssignorMember& m) {
          return m.member_id == member;
        })->topics;
    for (const TopicPartitionKey& tp : partitions) {
      owners[tp]++;
      RC_ASSERT(std::find(subscribed.begin(), subscribed.end(), tp.first) != subscribed.end());
    }
  }
  for (const auto& [topic, n] : counts) {
    const bool wanted = std::any_of(members.begin(), members.end(), [&](const AssignorMember& m) {
      return std::find(m.topics.begin(), m.topics.end(), topic) != m.topics.end();
    });
    const int expected = wanted ? 1 : 0;
    for (uint32_t p = 0; p < n; p++) RC_ASSERT(owners[TopicPartitionKey(topic, p)] == expected);
  }
}

size_t Spread(const GroupAssignment& out) {
  size_t low = SIZE_MAX, high = 0;
  for (const auto& [member, partitions] : out) {
    low = std::min(low, partitions.size());
    high = std::max(high, partitions.size());
  }
  return high - low;
}

std::vector<AssignorMember> Members(size_t n, const std::vector<std::string>& topics) {
  std::vector<AssignorMember> members;
  for (size_t i = 0; i < n; i++) members.push_back({"m" + std::to_string(i), topics});
  return members;
}

const wire::Assignor kAll[] = {wire::Assignor::Range, wire::Assignor::RoundRobin,
                               wire::Assignor::Sticky};

RC_GTEST_PROP(GroupAssignors, EveryPartitionOnceToASubscriber, ()) {
  const Counts counts{{"a", *rc::gen::inRange(1u, 9u)}, {"b", *rc::gen::inRange(1u, 9u)}};
  std::vector<AssignorMember> members;
  const size_t n = *rc::gen::inRange<size_t>(1, 6);
  for (size_t i = 0; i < n; i++) {
    std::vector<std::string> topics;
    for (const char* topic : {"a", "b", "x"}) {
      if (*rc::gen::arbitrary<bool>()) topics.push_back(topic);
    }
    members.push_back({"m" + std::to_string(i), topics});
  }
  for (wire::Assignor assignor : kAll) {
    ExpectComplete(AssignPartitions(assignor, members, counts, {}), members, counts);
  }
}

RC_GTEST_PROP(GroupAssignors, IdenticalSubscriptionsAreBalanced, ()) {
  const Counts counts{{"a", *rc::gen::inRange(1u, 20u)}};
  const auto members = Members(*rc::gen::inRange<size_t>(1, 8), {"a"});
  for (wire::Assignor assignor : {wire::Assignor::RoundRobin, wire::Assignor::Sticky}) {
    RC_ASSERT(Spread(AssignPartitions(assignor, members, counts, {})) <= 1);
  }
}

// Partitions whose owner differs between two assignments.
size_t Moved(const GroupAssignment& before, const GroupAssignment& after) {
  std::map<TopicPartitionKey, std::string> owner;
  for (const auto& [member, partitions] : before) {
    for (const auto& tp : partitions) owner[tp] = member;
  }
  size_t moved = 0;
  for (const auto& [member, partitions] : after) {
    for (const auto& tp : partitions) moved += owner.count(tp) == 0 || owner[tp] != member;
  }
  return moved;
}

RC_GTEST_PROP(GroupAssignors, StickyMovesOnlyTheNewcomersShare, ()) {
  const uint32_t partitions = *rc::gen::inRange(1u, 40u);
  const Counts counts{{"a", partitions}};
  const size_t n = *rc::gen::inRange<size_t>(1, 7);
  auto members = Members(n, {"a"});
  const GroupAssignment before = AssignPartitions(wire::Assignor::Sticky, members, counts, {});
  members.push_back({"new", {"a"}});
  const GroupAssignment after = AssignPartitions(wire::Assignor::Sticky, members, counts, before);
  ExpectComplete(after, members, counts);
  RC_ASSERT(Spread(after) <= 1);
  RC_ASSERT(Moved(before, after) == after.at("new").size());
  // And a member leaving moves only what it owned.
  members.erase(members.begin());
  const GroupAssignment left = AssignPartitions(wire::Assignor::Sticky, members, counts, after);
  RC_ASSERT(Moved(after, left) == after.at("m0").size());
}

TEST(GroupAssignors, RangeGivesContiguousRanges) {
  const auto out = AssignPartitions(wire::Assignor::Range, Members(2, {"a"}), {{"a", 5}}, {});
  EXPECT_EQ(out.at("m0"), (std::vector<TopicPartitionKey>{{"a", 0}, {"a", 1}, {"a", 2}}));
  EXPECT_EQ(out.at("m1"), (std::vector<TopicPartitionKey>{{"a", 3}, {"a", 4}}));
}

TEST(GroupAssignors, PlantedBugAssignsOnePartitionTwice) {
  const auto out = AssignPartitions(wire::Assignor::Range, Members(2, {"a"}), {{"a", 4}}, {},
                                    AssignorPlantedBug::kAssignOnePartitionTwice);
  EXPECT_EQ(out.at("m0").size() + out.at("m1").size(), 5u);
}

}  // namespace
}  // namespace meridian::core::broker
