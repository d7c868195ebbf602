#include "core/cluster/mode_change.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <tuple>
#include <utility>
#include <vector>

#include "core/cluster/reassignment.h"
#include "io/assert.h"

namespace meridian::core::cluster {
namespace {

bool Contains(std::span<const uint32_t> ids, uint32_t id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace

std::string_view ModeName(wire::Consistency consistency) {
  switch (consistency) {
    case wire::Consistency::Strong:
      return "strong";
    case wire::Consistency::Regional:
      return "regional";
    case wire::Consistency::Spread:
      return "spread";
    case wire::Consistency::Unspecified:
      break;
  }
  return "unspecified";
}

namespace {

std::string DescribeTarget(const ModeTarget& target) {
  std::string text(ModeName(target.consistency));
  if (!target.home_region.empty()) text += fmt::format(" (home region {})", target.home_region);
  if (!target.voters_in.empty()) {
    text += fmt::format(" with voters {}", DescribeRegionCounts(target.voters_in));
  }
  if (!target.observers_in.empty()) {
    text += fmt::format(" with observers {}", DescribeRegionCounts(target.observers_in));
  }
  return text;
}

// Picks nodes for one partition's new replica set: a node joins at most once; among the
// candidates a predicate allows, copies that already hold the partition's data come first, then
// the region and zone with the fewest picks so far, then the least loaded node, then the
// lowest id. New copies go to live nodes only.
class Picker {
 public:
  Picker(const ClusterMetadata& metadata, const PartitionRecord& partition,
         const absl::btree_set<uint32_t>& not_live, const absl::btree_map<uint32_t, uint32_t>& load,
         absl::btree_set<uint32_t>& taken)
      : metadata_(metadata),
        partition_(partition),
        not_live_(not_live),
        load_(load),
        taken_(taken) {}

  const NodeRecord& Node(uint32_t id) const { return metadata_.nodes().at(id); }
  uint32_t InRegion(const std::string& region) const {
    auto it = per_region_.find(region);
    return it == per_region_.end() ? 0 : it->second;
  }
  bool Taken(uint32_t id) const { return taken_.contains(id); }

  void Add(std::vector<uint32_t>& into, uint32_t id) {
    MERIDIAN_CHECK(taken_.insert(id).second, "node {} picked twice", id);
    into.push_back(id);
    const NodeRecord& node = Node(id);
    per_region_[node.region]++;
    per_zone_[{node.region, node.zone}]++;
  }

  template <typename Allowed>
  std::optional<uint32_t> Best(Allowed allowed) const {
    std::optional<std::tuple<bool, uint32_t, uint32_t, uint32_t, uint32_t>> best;
    for (const auto& [id, node] : metadata_.nodes()) {
      if (taken_.contains(id) || !allowed(node)) continue;
      const bool holds = Contains(partition_.replicas, id) || Contains(partition_.observers, id);
      if (!holds && not_live_.contains(id)) continue;
      auto zone = per_zone_.find({node.region, node.zone});
      auto load = load_.find(id);
      const std::tuple key(!holds, InRegion(node.region),
                           zone == per_zone_.end() ? 0u : zone->second,
                           load == load_.end() ? 0u : load->second, id);
      if (!best.has_value() || key < *best) best = key;
    }
    if (!best.has_value()) return std::nullopt;
    return std::get<4>(*best);
  }

 private:
  const ClusterMetadata& metadata_;
  const PartitionRecord& partition_;
  const absl::btree_set<uint32_t>& not_live_;
  const absl::btree_map<uint32_t, uint32_t>& load_;
  absl::btree_set<uint32_t>& taken_;
  absl::btree_map<std::string, uint32_t> per_region_;
  absl::btree_map<std::pair<std::string, std::string>, uint32_t> per_zone_;
};

absl::Status CannotPlace(const TopicRecord& topic, const PartitionRecord& partition,
                         const ModeTarget& target, std::string_view what) {
  return absl::FailedPreconditionError(
      fmt::format("cannot place {}/{} as {}: {} (counting live nodes and the partition's own "
                  "replicas)",
                  topic.name, partition.partition, DescribeTarget(target), what));
}

// Voters by the target's counts per region (its constraint was checked against the mode when
// it was recorded): the partition's voters that fit stay, in their order; then the best node of
// each region short of its count.
absl::Status PlanCountedVoters(Picker& picker, const TopicRecord& topic,
                               const PartitionRecord& partition, const ModeTarget& target,
                               std::vector<uint32_t>& voters) {
  const auto wanted = [&](const std::string& region) {
    auto it = target.voters_in.find(region);
    return it == target.voters_in.end() ? 0u : it->second;
  };
  for (uint32_t voter : partition.replicas) {
    const std::string& region = picker.Node(voter).region;
    if (!picker.Taken(voter) && picker.InRegion(region) < wanted(region)) {
      picker.Add(voters, voter);
    }
  }
  for (const auto& [region, count] : target.voters_in) {
    while (picker.InRegion(region) < count) {
      std::optional<uint32_t> next =
          picker.Best([&](const NodeRecord& n) { return n.region == region; });
      if (!next.has_value()) {
        return CannotPlace(topic, partition, target,
                           fmt::format("{} voter(s) in region '{}'; only {} fit", count, region,
                                       picker.InRegion(region)));
      }
      picker.Add(voters, *next);
    }
  }
  return absl::OkStatus();
}

// Strong and spread: voters over regions (strong: at most the cap per region; with a home region
// a voter there, first), no observers.
absl::Status PlanSpreadVoters(Picker& picker, const TopicRecord& topic,
                              const PartitionRecord& partition, const ModeTarget& target,
                              std::vector<uint32_t>& voters) {
  const uint32_t rf = topic.replication_factor;
  const bool strong = target.consistency == wire::Consistency::Strong;
  const uint32_t cap = strong ? StrongVotersPerRegionMax(rf) : rf;
  if (strong && !target.home_region.empty()) {
    std::optional<uint32_t> home;
    for (uint32_t voter : partition.replicas) {
      if (!home.has_value() && picker.Node(voter).region == target.home_region) home = voter;
    }
    if (!home.has_value()) {
      home = picker.Best([&](const NodeRecord& n) { return n.region == target.home_region; });
    }
    if (!home.has_value()) {
      return CannotPlace(topic, partition, target,
                         fmt::format("no node in region '{}'", target.home_region));
    }
    picker.Add(voters, *home);
  }
  if (!target.voters_in.empty()) return PlanCountedVoters(picker, topic, partition, target, voters);
  for (uint32_t voter : partition.replicas) {
    if (voters.size() < rf && !picker.Taken(voter) &&
        picker.InRegion(picker.Node(voter).region) < cap) {
      picker.Add(voters, voter);
    }
  }
  while (voters.size() < rf) {
    std::optional<uint32_t> next =
        picker.Best([&](const NodeRecord& n) { return picker.InRegion(n.region) < cap; });
    if (!next.has_value()) {
      return CannotPlace(
          topic, partition, target,
          fmt::format("{} voters with at most {} per region; only {} fit", rf, cap, voters.size()));
    }
    picker.Add(voters, *next);
  }
  return absl::OkStatus();
}

// Regional: every voter in the home region, and up to observers_per_region observers in each
// other region (the copies already there first).
absl::Status PlanRegional(const ClusterMetadata& metadata, Picker& voter_picker,
                          Picker& observer_picker, const TopicRecord& topic,
                          const PartitionRecord& partition, const ModeTarget& target,
                          std::vector<uint32_t>& voters, std::vector<uint32_t>& observers) {
  const uint32_t rf = topic.replication_factor;
  const std::string& home = target.home_region;
  for (uint32_t voter : partition.replicas) {
    if (voters.size() < rf && voter_picker.Node(voter).region == home) {
      voter_picker.Add(voters, voter);
    }
  }
  while (voters.size() < rf) {
    std::optional<uint32_t> next =
        voter_picker.Best([&](const NodeRecord& n) { return n.region == home; });
    if (!next.has_value()) {
      return CannotPlace(
          topic, partition, target,
          fmt::format("{} voters in region '{}'; only {} are there", rf, home, voters.size()));
    }
    voter_picker.Add(voters, *next);
  }
  absl::btree_set<std::string> regions;
  for (const auto& [id, node] : metadata.nodes()) regions.insert(node.region);
  regions.erase(home);
  for (const std::string& region : regions) {
    uint32_t wanted = target.observers_per_region;
    if (!target.observers_in.empty()) {
      auto it = target.observers_in.find(region);
      wanted = it == target.observers_in.end() ? 0 : it->second;
    }
    const auto room = [&] {
      return observer_picker.InRegion(region) < wanted && observers.size() < kObserversMax;
    };
    for (std::span<const uint32_t> holders : {std::span<const uint32_t>(partition.observers),
                                              std::span<const uint32_t>(partition.replicas)}) {
      for (uint32_t id : holders) {
        if (room() && !observer_picker.Taken(id) && observer_picker.Node(id).region == region) {
          observer_picker.Add(observers, id);
        }
      }
    }
    while (room()) {
      std::optional<uint32_t> next =
          observer_picker.Best([&](const NodeRecord& n) { return n.region == region; });
      if (!next.has_value()) break;  // A region smaller than the count: as many as it has.
      observer_picker.Add(observers, *next);
    }
  }
  return absl::OkStatus();
}

std::vector<uint32_t> Sorted(std::vector<uint32_t> ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace

wire::TopicModeChangeT ModeChangeCommand(const std::string& topic, const ModeTarget& target,
                                         bool complete) {
  wire::TopicModeChangeT change;
  change.name = topic;
  change.consistency = target.consistency;
  change.home_region = target.home_region;
  change.observers_per_region = target.observers_per_region;
  change.voters_in = RegionCountsToWire(target.voters_in);
  change.observers_in = RegionCountsToWire(target.observers_in);
  change.complete = complete;
  return change;
}

bool PromotedAway(const TopicRecord& topic) {
  return topic.consistency == wire::Consistency::Regional &&
         std::any_of(topic.partitions.begin(), topic.partitions.end(),
                     [](const PartitionRecord& p) { return p.epoch != p.rehomed_epoch; });
}

absl::btree_map<uint32_t, uint32_t> ReplicaLoad(const ClusterMetadata& metadata) {
  absl::btree_map<uint32_t, uint32_t> load;
  for (const auto& [name, topic] : metadata.topics()) {
    for (const PartitionRecord& partition : topic.partitions) {
      absl::btree_set<uint32_t> hosts(partition.replicas.begin(), partition.replicas.end());
      hosts.insert(partition.observers.begin(), partition.observers.end());
      hosts.insert(partition.target_replicas.begin(), partition.target_replicas.end());
      hosts.insert(partition.target_observers.begin(), partition.target_observers.end());
      for (uint32_t id : hosts) load[id]++;
    }
  }
  return load;
}

absl::StatusOr<std::optional<wire::PartitionReassignT>> PlanModeChange(
    const ClusterMetadata& metadata, const TopicRecord& topic, const PartitionRecord& partition,
    const ModeTarget& target, const absl::btree_set<uint32_t>& not_live,
    const absl::btree_map<uint32_t, uint32_t>& load) {
  absl::btree_set<uint32_t> taken;
  Picker voter_picker(metadata, partition, not_live, load, taken);
  Picker observer_picker(metadata, partition, not_live, load, taken);
  std::vector<uint32_t> voters;
  std::vector<uint32_t> observers;
  const absl::Status planned =
      target.consistency == wire::Consistency::Regional
          ? PlanRegional(metadata, voter_picker, observer_picker, topic, partition, target, voters,
                         observers)
          : PlanSpreadVoters(voter_picker, topic, partition, target, voters);
  if (!planned.ok()) return planned;
  if (voters == partition.replicas && Sorted(observers) == Sorted(partition.observers)) {
    return std::optional<wire::PartitionReassignT>();
  }
  wire::PartitionReassignT plan;
  plan.topic = topic.name;
  plan.partition = partition.partition;
  plan.group = partition.group;
  plan.replicas = std::move(voters);
  plan.observers = std::move(observers);
  return std::optional(std::move(plan));
}

absl::StatusOr<ModeTarget> ResolveModeChange(
    const ClusterMetadata& metadata, const TopicRecord& topic, wire::Consistency consistency,
    std::string_view home_region, int32_t observers_per_region,
    const absl::btree_set<uint32_t>& not_live, const RegionCounts& voters_in,
    const RegionCounts& observers_in) {
  if (consistency != wire::Consistency::Strong && consistency != wire::Consistency::Regional &&
      consistency != wire::Consistency::Spread) {
    return absl::InvalidArgumentError("the consistency must be strong, regional or spread");
  }
  if (observers_per_region < -1 || observers_per_region > static_cast<int32_t>(kObserversMax)) {
    return absl::InvalidArgumentError(
        fmt::format("observers per region must be 0 to {} (-1: the default)", kObserversMax));
  }
  const bool regional = consistency == wire::Consistency::Regional;
  const uint32_t observers = observers_per_region == -1
                                 ? (regional && observers_in.empty() ? 1 : 0)
                                 : static_cast<uint32_t>(observers_per_region);
  absl::StatusOr<Placement> placed = metadata.Place({.partitions = 1,
                                                     .replication_factor = topic.replication_factor,
                                                     .consistency = consistency,
                                                     .home_region = std::string(home_region),
                                                     .observers_per_region = observers,
                                                     .voters_in = voters_in,
                                                     .observers_in = observers_in,
                                                     .not_live = not_live});
  if (!placed.ok()) {
    return absl::Status(placed.status().code(),
                        fmt::format("topic '{}' cannot become {}: {}", topic.name,
                                    ModeName(consistency), std::string(placed.status().message())));
  }
  const ModeTarget target{placed->consistency, placed->home_region, placed->observers_per_region,
                          placed->voters_in, placed->observers_in};
  if (!topic.changing_to.has_value() && target == topic.mode() && !PromotedAway(topic)) {
    return absl::InvalidArgumentError(
        fmt::format("topic '{}' is already {}", topic.name, DescribeTarget(target)));
  }
  TopicRecord changing = topic;
  changing.changing_to = target;
  const absl::btree_map<uint32_t, uint32_t> load = ReplicaLoad(metadata);
  for (const PartitionRecord& partition : topic.partitions) {
    absl::StatusOr<std::optional<wire::PartitionReassignT>> plan =
        PlanModeChange(metadata, changing, partition, target, not_live, load);
    if (!plan.ok()) return plan.status();
  }
  return target;
}

MetadataOutcome ClusterMetadata::ApplyTopicModeChange(const wire::TopicModeChange& change) {
  const std::string name = change.name() != nullptr ? change.name()->str() : "";
  auto it = topics_.find(name);
  if (it == topics_.end()) {
    return {absl::NotFoundError(fmt::format("topic '{}' does not exist", name))};
  }
  TopicRecord& topic = it->second;
  TopicRecord after = topic;
  after.changing_to.reset();
  if (change.consistency() == wire::Consistency::Unspecified) {
    return {absl::InvalidArgumentError("a mode change must name its consistency")};
  }
  absl::StatusOr<RegionCounts> voters_in = RegionCountsFromWire(change.voters_in());
  if (!voters_in.ok()) return {voters_in.status()};
  absl::StatusOr<RegionCounts> observers_in = RegionCountsFromWire(change.observers_in());
  if (!observers_in.ok()) return {observers_in.status()};
  if (absl::Status s = SetPlacementMode(
          after, change.consistency(),
          change.home_region() != nullptr ? change.home_region()->string_view() : "",
          change.observers_per_region(), *voters_in, *observers_in);
      !s.ok()) {
    return {s};
  }
  const ModeTarget target = after.mode();
  if (!change.complete()) {
    if (!topic.changing_to.has_value() && target == topic.mode() && !PromotedAway(topic)) {
      return {absl::InvalidArgumentError(
          fmt::format("topic '{}' is already {}", name, DescribeTarget(target)))};
    }
    if (target.consistency == wire::Consistency::Regional &&
        topic.consistency != wire::Consistency::Regional) {
      topic.regional_by_change = true;
    }
    topic.changing_to = target;  // Replaces a change in progress: its partitions move on.
    return {absl::OkStatus()};
  }
  if (topic.changing_to != target) {
    return {absl::FailedPreconditionError(
        fmt::format("topic '{}': the completion does not name the mode change in progress", name))};
  }
  for (PartitionRecord& partition : after.partitions) {
    if (partition.reassigning()) {
      return {absl::FailedPreconditionError(
          fmt::format("{}/{} is still being reassigned: the mode change is not complete", name,
                      partition.partition))};
    }
    // A regional partition's epoch restarts at home: its voters are in the home region now.
    if (target.consistency == wire::Consistency::Regional) {
      partition.rehomed_epoch = partition.epoch;
    }
    if (absl::Status s =
            ValidateReassignment(*this, after, partition, partition.replicas, partition.observers);
        !s.ok()) {
      return {absl::FailedPreconditionError(fmt::format(
          "the mode change of '{}' is not complete: {}", name, std::string(s.message())))};
    }
  }
  if (target.consistency != wire::Consistency::Regional) after.regional_by_change = false;
  topic = std::move(after);
  return {absl::OkStatus()};
}

absl::StatusOr<std::optional<wire::PartitionReassignT>> PlanReplacement(
    const ClusterMetadata& metadata, const TopicRecord& topic, const PartitionRecord& partition,
    const absl::btree_set<uint32_t>& lost, const absl::btree_set<uint32_t>& not_live,
    const absl::btree_map<uint32_t, uint32_t>& load) {
  const auto is_lost = [&](uint32_t id) { return lost.contains(id); };
  if (std::none_of(partition.replicas.begin(), partition.replicas.end(), is_lost) &&
      std::none_of(partition.observers.begin(), partition.observers.end(), is_lost)) {
    return std::optional<wire::PartitionReassignT>();
  }
  // Planned as if the lost copies were gone already: the planner keeps the copies it is given
  // (it prefers holders, live or not) and fills the places left from live nodes only.
  PartitionRecord without = partition;
  std::erase_if(without.replicas, is_lost);
  std::erase_if(without.observers, is_lost);
  absl::btree_set<uint32_t> excluded = not_live;
  excluded.insert(lost.begin(), lost.end());
  absl::StatusOr<std::optional<wire::PartitionReassignT>> plan =
      PlanModeChange(metadata, topic, without, topic.mode(), excluded, load);
  if (!plan.ok() || !plan->has_value()) return plan;
  MERIDIAN_CHECK((*plan)->replicas.size() == topic.replication_factor);
  const auto is_new = [&](uint32_t id) {
    return !Contains(partition.replicas, id) && !Contains(partition.observers, id);
  };
  if (std::none_of((*plan)->replicas.begin(), (*plan)->replicas.end(), is_new) &&
      std::none_of((*plan)->observers.begin(), (*plan)->observers.end(), is_new)) {
    return std::optional<wire::PartitionReassignT>();  // Only an observer would be dropped.
  }
  return plan;
}

}  // namespace meridian::core::cluster
