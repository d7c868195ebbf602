#include "core/broker/group_assignors.h"

#include <algorithm>

#include "io/assert.h"

namespace meridian::core::broker {
namespace {

// The members subscribing to each topic the cluster knows, in member-id order.
absl::btree_map<std::string, std::vector<std::string>> Subscribers(
    const std::vector<AssignorMember>& members,
    const absl::btree_map<std::string, uint32_t>& partition_counts) {
  absl::btree_map<std::string, std::vector<std::string>> subscribers;
  for (const AssignorMember& member : members) {
    for (const std::string& topic : member.topics) {
      if (!partition_counts.contains(topic)) continue;
      std::vector<std::string>& list = subscribers[topic];
      if (std::find(list.begin(), list.end(), member.member_id) == list.end()) {
        list.push_back(member.member_id);
      }
    }
  }
  for (auto& [topic, list] : subscribers) std::sort(list.begin(), list.end());
  return subscribers;
}

void AssignRange(const absl::btree_map<std::string, std::vector<std::string>>& subscribers,
                 const absl::btree_map<std::string, uint32_t>& counts, GroupAssignment& out) {
  for (const auto& [topic, members] : subscribers) {
    const uint32_t partitions = counts.at(topic);
    const uint32_t share = partitions / members.size();
    const uint32_t extra = partitions % members.size();
    uint32_t next = 0;
    for (size_t i = 0; i < members.size(); i++) {
      const uint32_t take = share + (i < extra ? 1 : 0);
      for (uint32_t p = next; p < next + take; p++) out[members[i]].emplace_back(topic, p);
      next += take;
    }
  }
}

void AssignRoundRobin(const absl::btree_map<std::string, std::vector<std::string>>& subscribers,
                      const absl::btree_map<std::string, uint32_t>& counts,
                      const std::vector<std::string>& member_ids, GroupAssignment& out) {
  size_t cursor = 0;
  for (const auto& [topic, members] : subscribers) {
    for (uint32_t p = 0; p < counts.at(topic); p++) {
      // The next member (cyclically) that subscribes to `topic`; there is at least one.
      for (size_t tried = 0; tried < member_ids.size(); tried++, cursor++) {
        const std::string& candidate = member_ids[cursor % member_ids.size()];
        if (std::binary_search(members.begin(), members.end(), candidate)) break;
      }
      out[member_ids[cursor % member_ids.size()]].emplace_back(topic, p);
      cursor++;
    }
  }
}

// The eligible member with the fewest partitions (ties: the smallest id).
const std::string* LeastLoaded(const std::vector<std::string>& eligible,
                               const GroupAssignment& out) {
  const std::string* best = nullptr;
  for (const std::string& member : eligible) {
    if (best == nullptr || out.at(member).size() < out.at(*best).size()) best = &member;
  }
  return best;
}

// One move from a most-loaded member to an eligible member with at least two fewer; false when
// there is none.
bool MoveOne(const absl::btree_map<std::string, std::vector<std::string>>& subscribers,
             GroupAssignment& out) {
  std::vector<std::string> by_load;
  for (const auto& [member, partitions] : out) by_load.push_back(member);
  std::stable_sort(by_load.begin(), by_load.end(), [&](const auto& a, const auto& b) {
    return out.at(a).size() > out.at(b).size();
  });
  for (const std::string& from : by_load) {
    std::vector<TopicPartitionKey>& owned = out[from];
    for (size_t i = owned.size(); i-- > 0;) {
      const std::string* to = LeastLoaded(subscribers.at(owned[i].first), out);
      if (to == nullptr || out.at(*to).size() + 2 > owned.size()) continue;
      out[*to].push_back(owned[i]);
      owned.erase(owned.begin() + static_cast<std::ptrdiff_t>(i));
      return true;
    }
  }
  return false;
}

void AssignSticky(const absl::btree_map<std::string, std::vector<std::string>>& subscribers,
                  const absl::btree_map<std::string, uint32_t>& counts,
                  const GroupAssignment& previous, GroupAssignment& out) {
  absl::btree_map<TopicPartitionKey, bool> taken;
  for (const auto& [member, partitions] : previous) {
    if (!out.contains(member)) continue;
    for (const TopicPartitionKey& tp : partitions) {
      auto subscribed = subscribers.find(tp.first);
      if (subscribed == subscribers.end() || tp.second >= counts.at(tp.first)) continue;
      if (!std::binary_search(subscribed->second.begin(), subscribed->second.end(), member)) {
        continue;
      }
      if (taken.emplace(tp, true).second) out[member].push_back(tp);
    }
  }
  for (const auto& [topic, members] : subscribers) {
    for (uint32_t p = 0; p < counts.at(topic); p++) {
      if (taken.contains({topic, p})) continue;
      out[*LeastLoaded(members, out)].emplace_back(topic, p);
    }
  }
  size_t total = taken.size();
  for (const auto& [member, partitions] : out) total += partitions.size();
  // Each move narrows the gap between two members by at least two: it ends.
  for (size_t moves = 0; moves <= total * out.size() && MoveOne(subscribers, out); moves++) {
  }
}

}  // namespace

GroupAssignment AssignPartitions(wire::Assignor assignor,
                                 const std::vector<AssignorMember>& members,
                                 const absl::btree_map<std::string, uint32_t>& partition_counts,
                                 const GroupAssignment& previous, AssignorPlantedBug bug) {
  GroupAssignment out;
  std::vector<std::string> member_ids;
  for (const AssignorMember& member : members) {
    if (out.emplace(member.member_id, std::vector<TopicPartitionKey>{}).second) {
      member_ids.push_back(member.member_id);
    }
  }
  std::sort(member_ids.begin(), member_ids.end());
  const auto subscribers = Subscribers(members, partition_counts);
  switch (assignor) {
    case wire::Assignor::Range:
      AssignRange(subscribers, partition_counts, out);
      break;
    case wire::Assignor::RoundRobin:
      AssignRoundRobin(subscribers, partition_counts, member_ids, out);
      break;
    case wire::Assignor::Sticky:
      AssignSticky(subscribers, partition_counts, previous, out);
      break;
  }
  if (bug == AssignorPlantedBug::kAssignOnePartitionTwice && member_ids.size() >= 2) {
    // PLANTED BUG: the first member's last partition is also handed to the second member.
    const std::vector<TopicPartitionKey>& first = out[member_ids[0]];
    if (!first.empty()) out[member_ids[1]].push_back(first.back());
  }
  for (auto& [member, partitions] : out) std::sort(partitions.begin(), partitions.end());
  return out;
}

}  // namespace meridian::core::broker
