#include "core/cluster/placement.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "absl/container/btree_set.h"
#include "core/cluster/metadata.h"

namespace meridian::core::cluster {
namespace {

// `per_region[i]` nodes in region "r<i>", alternating zones "a" and "b"; ids from 1.
absl::btree_map<uint32_t, NodeRecord> Cluster(const std::vector<uint32_t>& per_region) {
  absl::btree_map<uint32_t, NodeRecord> nodes;
  uint32_t id = 1;
  for (size_t r = 0; r < per_region.size(); r++) {
    for (uint32_t i = 0; i < per_region[r]; i++, id++) {
      nodes[id] = NodeRecord{id, fmt::format("r{}", r), i % 2 == 0 ? "a" : "b", "127.0.0.1", 1};
    }
  }
  return nodes;
}

absl::btree_map<std::string, uint32_t> VotersPerRegion(
    const absl::btree_map<uint32_t, NodeRecord>& nodes, const PartitionPlacement& partition) {
  absl::btree_map<std::string, uint32_t> count;
  for (uint32_t voter : partition.voters) count[nodes.at(voter).region]++;
  return count;
}

TEST(Placement, StrongNeverGivesOneRegionMoreVotersThanTheQuorumCanSpare) {
  EXPECT_EQ(StrongVotersPerRegionMax(3), 1u);
  EXPECT_EQ(StrongVotersPerRegionMax(4), 1u);
  EXPECT_EQ(StrongVotersPerRegionMax(5), 2u);
  for (const std::vector<uint32_t>& shape :
       std::vector<std::vector<uint32_t>>{{3, 3, 3}, {1, 1, 1, 1, 1}, {5, 1, 1}, {2, 2, 2, 2}}) {
    const auto nodes = Cluster(shape);
    for (uint32_t rf : {3u, 5u}) {
      absl::StatusOr<Placement> placed = Place(
          nodes,
          {.partitions = 12, .replication_factor = rf, .consistency = wire::Consistency::Strong},
          7);
      if (!placed.ok()) continue;  // Infeasible shapes are tested below.
      for (const PartitionPlacement& partition : placed->partitions) {
        ASSERT_EQ(partition.voters.size(), rf);
        EXPECT_EQ(
            absl::btree_set<uint32_t>(partition.voters.begin(), partition.voters.end()).size(), rf);
        for (const auto& [region, voters] : VotersPerRegion(nodes, partition)) {
          EXPECT_LE(voters, StrongVotersPerRegionMax(rf)) << region << " rf " << rf;
        }
      }
    }
  }
}

TEST(Placement, StrongSpreadsPartitionsOverEveryNodeNotOnlyOnePerRegion) {
  const auto nodes = Cluster({3, 3, 3});
  absl::StatusOr<Placement> placed = Place(
      nodes, {.partitions = 3, .replication_factor = 3, .consistency = wire::Consistency::Strong},
      0);
  ASSERT_TRUE(placed.ok());
  absl::btree_set<uint32_t> used;
  for (const PartitionPlacement& partition : placed->partitions) {
    used.insert(partition.voters.begin(), partition.voters.end());
  }
  EXPECT_EQ(used.size(), 9u) << "three partitions of three voters on nine nodes";
}

TEST(Placement, StrongRefusesWhatCannotSurviveARegionLossAndSaysWhy) {
  absl::StatusOr<Placement> two_regions = Place(
      Cluster({3, 3}),
      {.partitions = 1, .replication_factor = 3, .consistency = wire::Consistency::Strong}, 0);
  ASSERT_FALSE(two_regions.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(two_regions.status()));
  EXPECT_NE(two_regions.status().message().find("r0 (3 nodes), r1 (3 nodes)"), std::string::npos)
      << two_regions.status();
  absl::StatusOr<Placement> rf1 = Place(
      Cluster({1, 1, 1}),
      {.partitions = 1, .replication_factor = 1, .consistency = wire::Consistency::Strong}, 0);
  ASSERT_FALSE(rf1.ok());
  EXPECT_NE(rf1.status().message().find("replication factor >= 3"), std::string::npos);
  absl::StatusOr<Placement> with_observers = Place(Cluster({1, 1, 1}),
                                                   {.partitions = 1,
                                                    .replication_factor = 3,
                                                    .consistency = wire::Consistency::Strong,
                                                    .observers_per_region = 1},
                                                   0);
  EXPECT_TRUE(absl::IsInvalidArgument(with_observers.status())) << with_observers.status();
  absl::StatusOr<Placement> unknown_home = Place(Cluster({1, 1, 1}),
                                                 {.partitions = 1,
                                                  .replication_factor = 3,
                                                  .consistency = wire::Consistency::Strong,
                                                  .home_region = "mars"},
                                                 0);
  EXPECT_TRUE(absl::IsFailedPrecondition(unknown_home.status())) << unknown_home.status();
  EXPECT_NE(unknown_home.status().message().find("'mars'"), std::string::npos);
}

// A strong topic's home region is where its leaders are preferred: every partition has a voter
// there and lists it first, the preferred leaders rotate over that region's nodes, and the
// region-loss guarantee is untouched (a region never holds more voters than the quorum spares).
TEST(Placement, StrongWithAHomeRegionPrefersLeadersThereRotatingOverItsNodes) {
  for (const std::vector<uint32_t>& shape :
       std::vector<std::vector<uint32_t>>{{3, 3, 3}, {2, 2, 2, 2}, {1, 3, 3, 1, 2}}) {
    const auto nodes = Cluster(shape);
    for (uint32_t rf : {3u, 5u}) {
      absl::StatusOr<Placement> placed = Place(nodes,
                                               {.partitions = 12,
                                                .replication_factor = rf,
                                                .consistency = wire::Consistency::Strong,
                                                .home_region = "r1"},
                                               5);
      if (!placed.ok()) continue;  // RF 5 on three regions of three: infeasible shapes.
      EXPECT_EQ(placed->home_region, "r1");
      absl::btree_set<uint32_t> leaders;
      for (const PartitionPlacement& partition : placed->partitions) {
        ASSERT_EQ(partition.voters.size(), rf);
        EXPECT_EQ(nodes.at(partition.voters.front()).region, "r1");
        leaders.insert(partition.voters.front());
        for (const auto& [region, voters] : VotersPerRegion(nodes, partition)) {
          EXPECT_LE(voters, StrongVotersPerRegionMax(rf)) << region << " rf " << rf;
        }
        EXPECT_EQ(
            absl::btree_set<uint32_t>(partition.voters.begin(), partition.voters.end()).size(), rf);
      }
      EXPECT_EQ(leaders.size(), shape[1]) << "leaders rotate over every node of the home region";
    }
  }
}

// The mode comes from a client's request: a value this version does not know is an error, not
// a crash (an earlier cut asserted on it).
TEST(Placement, AnUnknownConsistencyValueIsRefused) {
  absl::StatusOr<Placement> placed =
      Place(Cluster({1, 1, 1}),
            {.replication_factor = 3, .consistency = static_cast<wire::Consistency>(200)}, 0);
  EXPECT_TRUE(absl::IsInvalidArgument(placed.status())) << placed.status();
}

TEST(Placement, RegionalKeepsVotersHomeAndPutsObserversInEveryOtherRegion) {
  const auto nodes = Cluster({3, 3, 3});
  absl::StatusOr<Placement> placed = Place(nodes,
                                           {.partitions = 6,
                                            .replication_factor = 3,
                                            .consistency = wire::Consistency::Regional,
                                            .home_region = "r1",
                                            .observers_per_region = 2},
                                           0);
  ASSERT_TRUE(placed.ok()) << placed.status();
  EXPECT_EQ(placed->home_region, "r1");
  absl::btree_map<uint32_t, int> leaders;
  for (const PartitionPlacement& partition : placed->partitions) {
    EXPECT_EQ(VotersPerRegion(nodes, partition),
              (absl::btree_map<std::string, uint32_t>{{"r1", 3}}));
    absl::btree_map<std::string, uint32_t> observers;
    for (uint32_t node : partition.observers) observers[nodes.at(node).region]++;
    EXPECT_EQ(observers, (absl::btree_map<std::string, uint32_t>{{"r0", 2}, {"r2", 2}}));
    leaders[partition.voters.front()]++;
  }
  EXPECT_EQ(leaders.size(), 3u) << "preferred leaders rotate over the home region's nodes";
}

TEST(Placement, RegionalRefusesAHomeRegionTooSmallOrUnknownAndTooManyObservers) {
  const auto nodes = Cluster({2, 3});
  const auto regional = [&](std::string home, uint32_t observers) {
    return Place(nodes,
                 {.partitions = 1,
                  .replication_factor = 3,
                  .consistency = wire::Consistency::Regional,
                  .home_region = std::move(home),
                  .observers_per_region = observers},
                 0);
  };
  EXPECT_NE(regional("r0", 0).status().message().find("home region 'r0', which has 2 nodes"),
            std::string::npos)
      << regional("r0", 0).status();
  EXPECT_NE(regional("mars", 0).status().message().find("'mars' has no registered node"),
            std::string::npos);
  EXPECT_NE(regional("r1", 3).status().message().find("region 'r0' has 2 nodes"), std::string::npos)
      << regional("r1", 3).status();
  EXPECT_TRUE(regional("r1", 2).ok());
}

TEST(Placement, UnspecifiedPicksStrongElseRegionalInTheLargestRegionElseSpread) {
  absl::StatusOr<Placement> geo = Place(Cluster({1, 1, 1}), {.replication_factor = 3}, 0);
  ASSERT_TRUE(geo.ok());
  EXPECT_EQ(geo->consistency, wire::Consistency::Strong);
  absl::StatusOr<Placement> local = Place(Cluster({3}), {.replication_factor = 3}, 0);
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ(local->consistency, wire::Consistency::Regional);
  EXPECT_EQ(local->home_region, "r0");
  EXPECT_TRUE(local->partitions[0].observers.empty()) << "no other region to observe from";
  // Two replicas over three single-node regions: neither strong (a quorum of 2 cannot spare a
  // region) nor regional (no region has 2 nodes): spread over two regions, said so.
  absl::StatusOr<Placement> spread = Place(Cluster({1, 1, 1}), {.replication_factor = 2}, 0);
  ASSERT_TRUE(spread.ok()) << spread.status();
  EXPECT_EQ(spread->consistency, wire::Consistency::Spread);
  EXPECT_EQ(VotersPerRegion(Cluster({1, 1, 1}), spread->partitions[0]).size(), 2u);
  absl::StatusOr<Placement> two = Place(Cluster({2, 3}), {.replication_factor = 3}, 0);
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ(two->home_region, "r1");
  EXPECT_EQ(two->observers_per_region, 1u);
  EXPECT_EQ(two->partitions[0].observers.size(), 1u);
}

// Seeds 106 and 147 of the disk-error mix: a region lost for good, then a topic created on its
// nodes (registered, but gone), whose partitions could never reach a quorum.
TEST(Placement, NodesNotLiveAreLeftOutAndAnErrorNamesThem) {
  const auto nodes = Cluster({3, 3, 3});  // r0: 1-3, r1: 4-6, r2: 7-9.
  const absl::btree_set<uint32_t> r1_gone = {4, 5, 6};
  for (wire::Consistency mode :
       {wire::Consistency::Regional, wire::Consistency::Spread, wire::Consistency::Unspecified}) {
    absl::StatusOr<Placement> placed = Place(
        nodes, {.partitions = 6, .replication_factor = 3, .consistency = mode, .not_live = r1_gone},
        0);
    ASSERT_TRUE(placed.ok()) << placed.status();
    EXPECT_NE(placed->home_region, "r1");
    for (const PartitionPlacement& partition : placed->partitions) {
      for (uint32_t node : partition.voters) EXPECT_FALSE(r1_gone.contains(node)) << node;
      for (uint32_t node : partition.observers) EXPECT_FALSE(r1_gone.contains(node)) << node;
    }
  }
  // Unspecified picks from what is live: two live regions cannot hold a strong topic.
  absl::StatusOr<Placement> chosen =
      Place(nodes, {.replication_factor = 3, .not_live = r1_gone}, 0);
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(chosen->consistency, wire::Consistency::Regional);
  // Asked for strong, or for a home region that is down: refused, naming the nodes left out.
  absl::StatusOr<Placement> strong = Place(
      nodes,
      {.replication_factor = 3, .consistency = wire::Consistency::Strong, .not_live = r1_gone}, 0);
  ASSERT_FALSE(strong.ok());
  EXPECT_EQ(strong.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(strong.status().message().find("left out: nodes 4, 5, 6"), std::string::npos)
      << strong.status();
  absl::StatusOr<Placement> home_down = Place(nodes,
                                              {.replication_factor = 3,
                                               .consistency = wire::Consistency::Regional,
                                               .home_region = "r1",
                                               .not_live = r1_gone},
                                              0);
  EXPECT_FALSE(home_down.ok());
  // Too few live nodes for the replication factor.
  absl::StatusOr<Placement> few =
      Place(Cluster({3}), {.replication_factor = 3, .not_live = {2}}, 0);
  ASSERT_FALSE(few.ok());
  EXPECT_NE(few.status().message().find("2 of 3 registered"), std::string::npos) << few.status();
}

// Placement constraints: voters per region (strong, spread) and observers per region
// (regional), exactly as asked, leaders rotating over the regions with voters.
TEST(PlacementConstraints, VotersPerRegionAreExactAndLeadersRotateOverThoseRegions) {
  const auto nodes = Cluster({3, 3, 3, 3});
  for (wire::Consistency mode : {wire::Consistency::Strong, wire::Consistency::Spread}) {
    const RegionCounts asked = {{"r0", 2}, {"r1", 2}, {"r3", 1}};
    absl::StatusOr<Placement> placed = Place(
        nodes, {.partitions = 6, .replication_factor = 5, .consistency = mode, .voters_in = asked},
        0);
    ASSERT_TRUE(placed.ok()) << placed.status();
    EXPECT_EQ(placed->voters_in, asked);
    absl::btree_set<std::string> leader_regions;
    for (const PartitionPlacement& partition : placed->partitions) {
      EXPECT_EQ(VotersPerRegion(nodes, partition), asked);
      EXPECT_EQ(absl::btree_set<uint32_t>(partition.voters.begin(), partition.voters.end()).size(),
                5u);
      EXPECT_TRUE(partition.observers.empty());
      leader_regions.insert(nodes.at(partition.voters.front()).region);
    }
    EXPECT_EQ(leader_regions, (absl::btree_set<std::string>{"r0", "r1", "r3"}));
  }
  // Strong with a home region: every partition's first voter is there.
  absl::StatusOr<Placement> homed = Place(nodes,
                                          {.partitions = 4,
                                           .replication_factor = 3,
                                           .consistency = wire::Consistency::Strong,
                                           .home_region = "r2",
                                           .voters_in = {{"r1", 1}, {"r2", 1}, {"r3", 1}}},
                                          0);
  ASSERT_TRUE(homed.ok()) << homed.status();
  for (const PartitionPlacement& partition : homed->partitions) {
    EXPECT_EQ(nodes.at(partition.voters.front()).region, "r2");
  }
}

TEST(PlacementConstraints, VotersPerRegionThatBreakTheModeOrTheClusterAreRefusedSayingWhy) {
  const auto nodes = Cluster({3, 3, 1});
  const auto refused = [&](PlacementRequest request, const std::string& says,
                           absl::StatusCode code) {
    request.partitions = 1;
    absl::StatusOr<Placement> placed = Place(nodes, request, 0);
    ASSERT_FALSE(placed.ok());
    EXPECT_EQ(placed.status().code(), code) << placed.status();
    EXPECT_NE(placed.status().message().find(says), std::string::npos) << placed.status();
  };
  const auto invalid = absl::StatusCode::kInvalidArgument;
  refused({.replication_factor = 3,
           .consistency = wire::Consistency::Strong,
           .voters_in = {{"r0", 1}, {"r1", 1}}},
          "add up to 2; the replication factor is 3", invalid);
  refused({.replication_factor = 3,
           .consistency = wire::Consistency::Strong,
           .voters_in = {{"r0", 2}, {"r1", 1}}},
          "keeps at most 1 voter(s) in a region", invalid);
  refused({.replication_factor = 3,
           .consistency = wire::Consistency::Spread,
           .voters_in = {{"r2", 2}, {"r1", 1}}},
          "region 'r2' was asked for 2 voter(s) but has 1 node(s)",
          absl::StatusCode::kFailedPrecondition);
  refused({.replication_factor = 3,
           .consistency = wire::Consistency::Spread,
           .voters_in = {{"nowhere", 3}}},
          "region 'nowhere' was asked for 3 voter(s) but has 0 node(s)",
          absl::StatusCode::kFailedPrecondition);
  refused({.replication_factor = 3,
           .consistency = wire::Consistency::Strong,
           .home_region = "r2",
           .voters_in = {{"r0", 1}, {"r1", 1}, {"r3", 1}}},
          "home region 'r2'", invalid);
  refused({.replication_factor = 3,
           .consistency = wire::Consistency::Regional,
           .home_region = "r0",
           .voters_in = {{"r0", 3}}},
          "voters per region apply to strong and spread topics", invalid);
  refused({.replication_factor = 3, .voters_in = {{"r0", 1}, {"r1", 1}, {"r2", 1}}},
          "need a consistency mode", invalid);
  refused({.replication_factor = 3,
           .consistency = wire::Consistency::Spread,
           .voters_in = {{"r0", 0}, {"r1", 3}}},
          "region 'r0' is given 0", invalid);
}

TEST(PlacementConstraints, ObserversPerRegionGoOnlyWhereNamed) {
  const auto nodes = Cluster({3, 3, 3, 3});
  const RegionCounts asked = {{"r1", 2}, {"r3", 1}};
  absl::StatusOr<Placement> placed = Place(nodes,
                                           {.partitions = 4,
                                            .replication_factor = 3,
                                            .consistency = wire::Consistency::Regional,
                                            .home_region = "r0",
                                            .observers_in = asked},
                                           0);
  ASSERT_TRUE(placed.ok()) << placed.status();
  EXPECT_EQ(placed->observers_in, asked);
  for (const PartitionPlacement& partition : placed->partitions) {
    EXPECT_EQ(VotersPerRegion(nodes, partition), (RegionCounts{{"r0", 3}}));
    RegionCounts observers;
    for (uint32_t id : partition.observers) observers[nodes.at(id).region]++;
    EXPECT_EQ(observers, asked);
  }
  const auto refused = [&](PlacementRequest request, const std::string& says) {
    request.partitions = 1;
    request.replication_factor = 3;
    request.home_region = "r0";
    absl::StatusOr<Placement> result = Place(nodes, request, 0);
    ASSERT_FALSE(result.ok());
    EXPECT_NE(result.status().message().find(says), std::string::npos) << result.status();
  };
  refused({.consistency = wire::Consistency::Regional, .observers_in = {{"r0", 1}}},
          "name the home region 'r0'");
  refused({.consistency = wire::Consistency::Regional, .observers_in = {{"r1", 4}}},
          "region 'r1' was asked for 4 observer(s) but has 3 node(s)");
  refused({.consistency = wire::Consistency::Regional,
           .observers_per_region = 1,
           .observers_in = {{"r1", 1}}},
          "not both");
  refused({.consistency = wire::Consistency::Strong, .observers_in = {{"r1", 1}}},
          "observers per region apply to regional topics only");
}

}  // namespace
}  // namespace meridian::core::cluster
