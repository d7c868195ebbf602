#include "core/cluster/placement.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/cluster/metadata.h"
#include "io/assert.h"

namespace meridian::core::cluster {
namespace {

// Each region's nodes ordered so that neighbours differ in zone (round-robin over zones).
using RegionRings = absl::btree_map<std::string, std::vector<uint32_t>>;

RegionRings ZoneInterleavedRings(const absl::btree_map<uint32_t, NodeRecord>& nodes) {
  absl::btree_map<std::string, absl::btree_map<std::string, std::vector<uint32_t>>> by_place;
  for (const auto& [id, node] : nodes) by_place[node.region][node.zone].push_back(id);
  RegionRings rings;
  for (auto& [region, zones] : by_place) {
    size_t region_nodes = 0;
    for (auto& [zone, ids] : zones) region_nodes += ids.size();
    std::vector<uint32_t>& ring = rings[region];
    for (size_t i = 0; ring.size() < region_nodes; i++) {
      for (auto& [zone, ids] : zones) {
        if (i < ids.size()) ring.push_back(ids[i]);
      }
    }
  }
  return rings;
}

std::string DescribeRegions(const RegionRings& rings) {
  std::string out;
  for (const auto& [region, ids] : rings) {
    out += fmt::format("{}{} ({} node{})", out.empty() ? "" : ", ", region, ids.size(),
                       ids.size() == 1 ? "" : "s");
  }
  return out.empty() ? "none" : out;
}

// `count` nodes of `ring` starting at `start`, wrapping.
std::vector<uint32_t> Take(const std::vector<uint32_t>& ring, uint64_t start, uint32_t count) {
  MERIDIAN_CHECK(count <= ring.size());
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < count; i++) out.push_back(ring[(start + i) % ring.size()]);
  return out;
}

absl::Status StrongFeasible(const RegionRings& rings, uint32_t replication_factor) {
  const uint32_t cap = StrongVotersPerRegionMax(replication_factor);
  if (cap == 0) {
    return absl::FailedPreconditionError(fmt::format(
        "a strong topic needs replication factor >= 3 (to survive a region loss); got {}",
        replication_factor));
  }
  uint64_t placeable = 0;
  for (const auto& [region, ids] : rings) placeable += std::min<uint64_t>(cap, ids.size());
  if (placeable < replication_factor) {
    return absl::FailedPreconditionError(fmt::format(
        "a strong topic of replication factor {} needs its voters in regions holding at most {} "
        "each, so that losing one region keeps a quorum; the cluster's regions: {}",
        replication_factor, cap, DescribeRegions(rings)));
  }
  return absl::OkStatus();
}

// Voters round-robin over regions (the region order rotates per partition), at most `cap` per
// region; within a region the zone-interleaved ring is entered at a rotating point, so that
// partitions spread over every node, not only over the first node of each region.
// `cap`: the most voters one region may take (Strong), or replication_factor (Spread).
// `leader_region` (Strong, optional): it comes first in every partition's region order, so
// every partition has a voter there and lists it first (its preferred leader).
std::vector<uint32_t> SpreadVoters(const RegionRings& rings, uint32_t replication_factor,
                                   uint32_t cap, uint64_t slot,
                                   const std::string& leader_region = "") {
  std::vector<const std::vector<uint32_t>*> regions;
  for (const auto& [region, ids] : rings) regions.push_back(&ids);
  std::vector<const std::vector<uint32_t>*> order;  // This partition's region order.
  if (!leader_region.empty()) order.push_back(&rings.at(leader_region));
  for (size_t r = 0; r < regions.size(); r++) {
    const std::vector<uint32_t>* ring = regions[(slot + r) % regions.size()];
    if (order.empty() || ring != order.front()) order.push_back(ring);
  }
  std::vector<uint32_t> voters;
  for (uint32_t pass = 0; pass < cap && voters.size() < replication_factor; pass++) {
    for (size_t r = 0; r < order.size() && voters.size() < replication_factor; r++) {
      const std::vector<uint32_t>& ring = *order[r];
      if (pass >= ring.size()) continue;
      // slot + slot / R: consecutive partitions use different nodes of a region, and the
      // preferred leaders of R * |ring| consecutive partitions are all different nodes.
      voters.push_back(ring[(slot + slot / regions.size() + pass) % ring.size()]);
    }
  }
  MERIDIAN_CHECK(voters.size() == replication_factor);
  return voters;
}

// Voter counts per region (strong, spread) against the live nodes and the mode's promise.
absl::Status VotersInFeasible(const RegionRings& rings, const PlacementRequest& request,
                              bool strong) {
  uint64_t total = 0;
  for (const auto& [region, count] : request.voters_in) total += count;
  if (total != request.replication_factor) {
    return absl::InvalidArgumentError(
        fmt::format("voters per region ({}) add up to {}; the replication factor is {}",
                    DescribeRegionCounts(request.voters_in), total, request.replication_factor));
  }
  if (strong && !request.home_region.empty() && !request.voters_in.contains(request.home_region)) {
    return absl::InvalidArgumentError(
        fmt::format("home region '{}' (where a strong topic's leaders are preferred) is given no "
                    "voter by the voters per region ({})",
                    request.home_region, DescribeRegionCounts(request.voters_in)));
  }
  const uint32_t cap = StrongVotersPerRegionMax(request.replication_factor);
  for (const auto& [region, count] : request.voters_in) {
    if (strong && count > cap) {
      return absl::InvalidArgumentError(fmt::format(
          "a strong topic of replication factor {} keeps at most {} voter(s) in a region, so "
          "that losing one keeps a quorum; region '{}' was asked for {}",
          request.replication_factor, cap, region, count));
    }
    auto ring = rings.find(region);
    const size_t nodes = ring == rings.end() ? 0 : ring->second.size();
    if (nodes < count) {
      return absl::FailedPreconditionError(
          fmt::format("region '{}' was asked for {} voter(s) but has {} node(s); the cluster's "
                      "regions: {}",
                      region, count, nodes, DescribeRegions(rings)));
    }
  }
  return absl::OkStatus();
}

// One partition's voters by `voters_in`: each named region's count, from its zone-interleaved
// ring entered at a rotating point. The regions' order rotates per partition (the leader
// region first when there is one), so preferred leaders spread over every region with voters.
std::vector<uint32_t> CountedVoters(const RegionRings& rings, const RegionCounts& voters_in,
                                    uint64_t slot, const std::string& leader_region) {
  std::vector<std::pair<std::string, uint32_t>> regions(voters_in.begin(), voters_in.end());
  std::rotate(regions.begin(), regions.begin() + static_cast<ptrdiff_t>(slot % regions.size()),
              regions.end());
  if (!leader_region.empty()) {
    auto leader = std::find_if(regions.begin(), regions.end(),
                               [&](const auto& entry) { return entry.first == leader_region; });
    MERIDIAN_CHECK(leader != regions.end(), "the leader region has voters");
    std::rotate(regions.begin(), leader, leader + 1);
  }
  std::vector<uint32_t> voters;
  for (const auto& [region, count] : regions) {
    for (uint32_t node : Take(rings.at(region), slot + slot / regions.size(), count)) {
      voters.push_back(node);
    }
  }
  return voters;
}

std::string MostPopulatedRegion(const RegionRings& rings) {
  std::string best;
  size_t best_size = 0;
  for (const auto& [region, ids] : rings) {
    if (ids.size() > best_size) {
      best = region;
      best_size = ids.size();
    }
  }
  return best;
}

absl::Status RegionalFeasible(const RegionRings& rings, const Placement& placement,
                              uint32_t replication_factor) {
  auto home = rings.find(placement.home_region);
  if (home == rings.end()) {
    return absl::FailedPreconditionError(
        fmt::format("home region '{}' has no registered node; the cluster's regions: {}",
                    placement.home_region, DescribeRegions(rings)));
  }
  if (home->second.size() < replication_factor) {
    return absl::FailedPreconditionError(fmt::format(
        "a regional topic keeps all {} voters in its home region '{}', which has {} node{}",
        replication_factor, placement.home_region, home->second.size(),
        home->second.size() == 1 ? "" : "s"));
  }
  uint64_t observers = 0;
  for (const auto& [region, count] : placement.observers_in) {
    auto ring = rings.find(region);
    const size_t nodes = ring == rings.end() ? 0 : ring->second.size();
    if (region == placement.home_region) {
      return absl::InvalidArgumentError(fmt::format(
          "observers per region name the home region '{}', which holds the voters", region));
    }
    if (nodes < count) {
      return absl::FailedPreconditionError(
          fmt::format("region '{}' was asked for {} observer(s) but has {} node(s); the "
                      "cluster's regions: {}",
                      region, count, nodes, DescribeRegions(rings)));
    }
    observers += count;
  }
  for (const auto& [region, ids] : rings) {
    if (region == placement.home_region || !placement.observers_in.empty()) continue;
    observers += placement.observers_per_region;
    if (ids.size() < placement.observers_per_region) {
      return absl::FailedPreconditionError(fmt::format(
          "{} observers per region asked for, but region '{}' has {} node{}",
          placement.observers_per_region, region, ids.size(), ids.size() == 1 ? "" : "s"));
    }
  }
  if (observers > kObserversMax) {
    return absl::FailedPreconditionError(
        fmt::format("{} observers per partition (at most {})", observers, kObserversMax));
  }
  return absl::OkStatus();
}

PartitionPlacement RegionalPartition(const RegionRings& rings, const Placement& placement,
                                     uint32_t replication_factor, uint64_t slot) {
  PartitionPlacement out;
  out.voters = Take(rings.at(placement.home_region), slot, replication_factor);
  for (const auto& [region, count] : placement.observers_in) {
    for (uint32_t node : Take(rings.at(region), slot, count)) out.observers.push_back(node);
  }
  for (const auto& [region, ids] : rings) {
    if (region == placement.home_region || !placement.observers_in.empty()) continue;
    for (uint32_t node : Take(ids, slot, placement.observers_per_region)) {
      out.observers.push_back(node);
    }
  }
  return out;
}

// A regional placement's home region and observer count: as asked, with the largest region as
// the default home and, when the mode was not asked for, one observer per other region.
Placement RegionalShape(const RegionRings& rings, const PlacementRequest& request) {
  Placement regional;
  regional.consistency = wire::Consistency::Regional;
  regional.home_region =
      request.home_region.empty() ? MostPopulatedRegion(rings) : request.home_region;
  regional.observers_per_region = request.observers_per_region;
  regional.observers_in = request.observers_in;
  if (request.consistency == wire::Consistency::Unspecified && request.observers_per_region == 0) {
    regional.observers_per_region = 1;
  }
  return regional;
}

// Unspecified: the strongest mode the cluster can place.
wire::Consistency ChooseMode(const RegionRings& rings, const PlacementRequest& request) {
  if (StrongFeasible(rings, request.replication_factor).ok()) return wire::Consistency::Strong;
  if (RegionalFeasible(rings, RegionalShape(rings, request), request.replication_factor).ok()) {
    return wire::Consistency::Regional;
  }
  return wire::Consistency::Spread;
}

}  // namespace

uint32_t StrongVotersPerRegionMax(uint32_t replication_factor) {
  return replication_factor - (replication_factor / 2 + 1);
}

namespace {

// Which constraint goes with which mode, whatever the cluster.
absl::Status ConstraintsFitTheMode(const PlacementRequest& request) {
  if (absl::Status s = ValidateRegionCounts(request.voters_in, "voters"); !s.ok()) return s;
  if (absl::Status s = ValidateRegionCounts(request.observers_in, "observers"); !s.ok()) return s;
  const bool constrained = !request.voters_in.empty() || !request.observers_in.empty();
  if (constrained && request.consistency == wire::Consistency::Unspecified) {
    return absl::InvalidArgumentError(
        "placement constraints (voters or observers per region) need a consistency mode");
  }
  if (!request.voters_in.empty() && request.consistency == wire::Consistency::Regional) {
    return absl::InvalidArgumentError(
        "a regional topic keeps every voter in its home region: voters per region apply to "
        "strong and spread topics (name the home region instead)");
  }
  if (!request.observers_in.empty() && request.consistency != wire::Consistency::Regional) {
    return absl::InvalidArgumentError("observers per region apply to regional topics only");
  }
  if (!request.observers_in.empty() && request.observers_per_region != 0) {
    return absl::InvalidArgumentError(
        "observers per region: give one count for every other region, or a count per named "
        "region, not both");
  }
  return absl::OkStatus();
}

absl::StatusOr<Placement> PlaceOn(const absl::btree_map<uint32_t, NodeRecord>& nodes,
                                  const PlacementRequest& request, uint64_t rotation) {
  if (nodes.size() < request.replication_factor) {
    return absl::FailedPreconditionError(
        fmt::format("replication factor {} needs {} nodes; {} are available",
                    request.replication_factor, request.replication_factor, nodes.size()));
  }
  if (request.consistency != wire::Consistency::Unspecified &&
      request.consistency != wire::Consistency::Strong &&
      request.consistency != wire::Consistency::Regional &&
      request.consistency != wire::Consistency::Spread) {
    // Remote bytes: an enum value this version does not know is refused, never asserted on.
    return absl::InvalidArgumentError(
        fmt::format("unknown consistency mode {}", static_cast<int>(request.consistency)));
  }
  if (absl::Status s = ConstraintsFitTheMode(request); !s.ok()) return s;
  const RegionRings rings = ZoneInterleavedRings(nodes);
  Placement placement;
  placement.consistency = request.consistency;
  if (request.consistency == wire::Consistency::Unspecified) {
    placement.consistency = ChooseMode(rings, request);
  }
  if (placement.consistency == wire::Consistency::Strong ||
      placement.consistency == wire::Consistency::Spread) {
    const bool strong = placement.consistency == wire::Consistency::Strong;
    if (request.observers_per_region != 0 || (!strong && !request.home_region.empty())) {
      return absl::InvalidArgumentError(
          "observers apply to regional topics only, a home region to regional and strong ones");
    }
    if (strong) {
      if (absl::Status s = StrongFeasible(rings, request.replication_factor); !s.ok()) return s;
      if (!request.home_region.empty() && !rings.contains(request.home_region)) {
        return absl::FailedPreconditionError(fmt::format(
            "home region '{}' (where a strong topic's leaders are preferred) has no registered "
            "node; the cluster's regions: {}",
            request.home_region, DescribeRegions(rings)));
      }
      placement.home_region = request.home_region;
    }
    if (!request.voters_in.empty()) {
      if (absl::Status s = VotersInFeasible(rings, request, strong); !s.ok()) return s;
      placement.voters_in = request.voters_in;
      for (uint32_t p = 0; p < request.partitions; p++) {
        placement.partitions.push_back(
            {CountedVoters(rings, request.voters_in, rotation + p, placement.home_region), {}});
      }
      return placement;
    }
    const uint32_t cap =
        strong ? StrongVotersPerRegionMax(request.replication_factor) : request.replication_factor;
    for (uint32_t p = 0; p < request.partitions; p++) {
      placement.partitions.push_back({SpreadVoters(rings, request.replication_factor, cap,
                                                   rotation + p, placement.home_region),
                                      {}});
    }
    return placement;
  }
  MERIDIAN_CHECK(placement.consistency == wire::Consistency::Regional);
  placement = RegionalShape(rings, request);
  if (absl::Status s = RegionalFeasible(rings, placement, request.replication_factor); !s.ok()) {
    return s;
  }
  for (uint32_t p = 0; p < request.partitions; p++) {
    placement.partitions.push_back(
        RegionalPartition(rings, placement, request.replication_factor, rotation + p));
  }
  return placement;
}

}  // namespace

absl::Status ValidateRegionCounts(const RegionCounts& counts, std::string_view what) {
  if (counts.size() > kRegionCountsMax) {
    return absl::InvalidArgumentError(fmt::format("{} per region name {} regions (at most {})",
                                                  what, counts.size(), kRegionCountsMax));
  }
  for (const auto& [region, count] : counts) {
    if (region.empty() || region.size() > wire::kNameBytesMax) {
      return absl::InvalidArgumentError(
          fmt::format("{} per region: a region name of 1 to {} bytes", what, wire::kNameBytesMax));
    }
    if (count == 0) {
      return absl::InvalidArgumentError(fmt::format(
          "{} per region: region '{}' is given 0 (leave it out to give it none)", what, region));
    }
  }
  return absl::OkStatus();
}

std::string DescribeRegionCounts(const RegionCounts& counts) {
  std::string out;
  for (const auto& [region, count] : counts) {
    out += fmt::format("{}{}={}", out.empty() ? "" : ",", region, count);
  }
  return out;
}

absl::StatusOr<Placement> Place(const absl::btree_map<uint32_t, NodeRecord>& nodes,
                                const PlacementRequest& request, uint64_t rotation) {
  if (request.not_live.empty()) return PlaceOn(nodes, request, rotation);
  absl::btree_map<uint32_t, NodeRecord> live;
  std::vector<uint32_t> left_out;
  for (const auto& [id, record] : nodes) {
    if (request.not_live.contains(id)) {
      left_out.push_back(id);
    } else {
      live.emplace(id, record);
    }
  }
  absl::StatusOr<Placement> placed = PlaceOn(live, request, rotation);
  if (placed.ok() || left_out.empty()) return placed;
  return absl::Status(placed.status().code(),
                      fmt::format("{} (counting live nodes only: {} of {} registered; not heard "
                                  "from lately, so left out: nodes {})",
                                  std::string(placed.status().message()), live.size(), nodes.size(),
                                  fmt::join(left_out, ", ")));
}

}  // namespace meridian::core::cluster
