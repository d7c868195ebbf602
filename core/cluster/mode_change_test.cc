// Mode changes: a change is checked against the live nodes, recorded without moving anything,
// planned per partition with the least movement (the copies that fit stay; copies that hold the
// data are added first), completed only when every partition is placed by the target's rules
// and none is moving, replaceable while in progress, and kept by snapshots; a partition's
// regional epoch restarts at its new home.
#include "core/cluster/mode_change.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "core/cluster/promotion.h"
#include "core/cluster/reassignment.h"

namespace meridian::core::cluster {
namespace {

absl::Status ApplyBody(ClusterMetadata& metadata, wire::MetadataCommandBodyUnion body) {
  wire::MetadataCommandT command;
  command.body = std::move(body);
  return metadata.Apply(EncodeCommand(command)).status;
}

// Nodes 1-3 in r1, 4-6 in r2, 7-9 in r3 (zones a, b, c in each); topic "t" of 4 partitions.
ClusterMetadata Cluster(wire::Consistency consistency) {
  ClusterMetadata metadata;
  for (uint32_t id = 1; id <= 9; id++) {
    wire::NodeRegisterT node;
    node.node = std::make_unique<wire::NodeInfoT>();
    node.node->id = id;
    node.node->region = fmt::format("r{}", (id - 1) / 3 + 1);
    node.node->zone = std::string(1, static_cast<char>('a' + (id - 1) % 3));
    wire::MetadataCommandBodyUnion body;
    body.Set(std::move(node));
    EXPECT_TRUE(ApplyBody(metadata, std::move(body)).ok());
  }
  absl::StatusOr<Placement> placed = metadata.Place(
      {.partitions = 4,
       .replication_factor = 3,
       .consistency = consistency,
       .home_region = consistency == wire::Consistency::Regional ? "r1" : "",
       .observers_per_region = consistency == wire::Consistency::Regional ? 1u : 0u});
  EXPECT_TRUE(placed.ok()) << placed.status();
  wire::TopicCreateT create;
  create.name = "t";
  create.replication_factor = 3;
  create.consistency = placed->consistency;
  create.home_region = placed->home_region;
  create.observers_per_region = placed->observers_per_region;
  for (const PartitionPlacement& partition : placed->partitions) {
    auto assignment = std::make_unique<wire::PartitionAssignmentT>();
    assignment->replicas = partition.voters;
    assignment->observers = partition.observers;
    create.partitions.push_back(std::move(assignment));
  }
  wire::MetadataCommandBodyUnion body;
  body.Set(std::move(create));
  EXPECT_TRUE(ApplyBody(metadata, std::move(body)).ok());
  return metadata;
}

absl::Status Change(ClusterMetadata& metadata, const ModeTarget& target, bool complete) {
  wire::MetadataCommandBodyUnion body;
  body.Set(ModeChangeCommand("t", target, complete));
  return ApplyBody(metadata, std::move(body));
}

absl::Status Record(ClusterMetadata& metadata, wire::PartitionReassignT reassign) {
  wire::MetadataCommandBodyUnion body;
  body.Set(std::move(reassign));
  return ApplyBody(metadata, std::move(body));
}

const TopicRecord& Topic(const ClusterMetadata& metadata) { return *metadata.FindTopic("t"); }

std::string RegionOf(const ClusterMetadata& metadata, uint32_t id) {
  return metadata.nodes().at(id).region;
}

// What the controller leader and the partitions' leaders do together: plan each partition,
// record its target, report it complete (the executor's job, here at once), until nothing is
// left to move. Returns the partitions moved.
int MoveEveryPartition(ClusterMetadata& metadata) {
  int moved = 0;
  for (uint32_t p = 0; p < Topic(metadata).partitions.size(); p++) {
    const TopicRecord& topic = Topic(metadata);
    absl::StatusOr<std::optional<wire::PartitionReassignT>> plan = PlanModeChange(
        metadata, topic, topic.partitions[p], *topic.changing_to, {}, ReplicaLoad(metadata));
    EXPECT_TRUE(plan.ok()) << plan.status();
    if (!plan.ok() || !plan->has_value()) continue;
    wire::PartitionReassignT target = **plan;
    EXPECT_TRUE(Record(metadata, target).ok());
    target.complete = true;
    EXPECT_TRUE(Record(metadata, target).ok());
    moved++;
  }
  return moved;
}

TEST(ModeChange, StrongToRegionalKeepsTheHomeVoterAndTheCopiesElsewhereAsObservers) {
  ClusterMetadata metadata = Cluster(wire::Consistency::Strong);
  const TopicRecord before = Topic(metadata);
  absl::StatusOr<ModeTarget> target =
      ResolveModeChange(metadata, Topic(metadata), wire::Consistency::Regional, "r1", -1, {});
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(target->observers_per_region, 1u) << "regional's default: one observer per region";
  ASSERT_TRUE(Change(metadata, *target, false).ok());
  EXPECT_EQ(Topic(metadata).consistency, wire::Consistency::Strong) << "not before the moves";
  EXPECT_EQ(Change(metadata, *target, true).code(), absl::StatusCode::kFailedPrecondition)
      << "completion refused while partitions are placed by the old rules";
  EXPECT_EQ(MoveEveryPartition(metadata), 4);
  EXPECT_EQ(MoveEveryPartition(metadata), 0) << "a placed partition plans nothing";
  for (size_t p = 0; p < before.partitions.size(); p++) {
    const PartitionRecord& now = Topic(metadata).partitions[p];
    for (uint32_t voter : now.replicas) EXPECT_EQ(RegionOf(metadata, voter), "r1");
    ASSERT_EQ(now.observers.size(), 2u);
    EXPECT_NE(RegionOf(metadata, now.observers[0]), RegionOf(metadata, now.observers[1]));
    // Every old copy stays: the r1 voter as a voter, the others as their region's observer.
    for (uint32_t old : before.partitions[p].replicas) {
      const bool kept = std::count(now.replicas.begin(), now.replicas.end(), old) +
                        std::count(now.observers.begin(), now.observers.end(), old);
      EXPECT_TRUE(kept) << "partition " << p << " dropped node " << old;
    }
  }
  ASSERT_TRUE(Change(metadata, *target, true).ok());
  EXPECT_EQ(Topic(metadata).consistency, wire::Consistency::Regional);
  EXPECT_EQ(Topic(metadata).home_region, "r1");
  EXPECT_FALSE(Topic(metadata).changing_to.has_value());
}

TEST(ModeChange, RegionalToStrongPromotesObserversBeforeNewNodes) {
  ClusterMetadata metadata = Cluster(wire::Consistency::Regional);
  const TopicRecord before = Topic(metadata);
  absl::StatusOr<ModeTarget> target =
      ResolveModeChange(metadata, Topic(metadata), wire::Consistency::Strong, "", -1, {});
  ASSERT_TRUE(target.ok()) << target.status();
  ASSERT_TRUE(Change(metadata, *target, false).ok());
  EXPECT_EQ(MoveEveryPartition(metadata), 4);
  for (size_t p = 0; p < before.partitions.size(); p++) {
    const PartitionRecord& now = Topic(metadata).partitions[p];
    EXPECT_TRUE(now.observers.empty());
    EXPECT_EQ(now.replicas.front(), before.partitions[p].replicas.front())
        << "the preferred leader stays";
    for (uint32_t observer : before.partitions[p].observers) {
      EXPECT_NE(std::find(now.replicas.begin(), now.replicas.end(), observer), now.replicas.end())
          << "observer " << observer << " holds the data: it should have become the voter";
    }
  }
  ASSERT_TRUE(Change(metadata, *target, true).ok());
  EXPECT_EQ(Topic(metadata).consistency, wire::Consistency::Strong);
}

TEST(ModeChange, RefusesWhatTheClusterCannotPlaceOrAlreadyHas) {
  ClusterMetadata metadata = Cluster(wire::Consistency::Strong);
  absl::StatusOr<ModeTarget> same =
      ResolveModeChange(metadata, Topic(metadata), wire::Consistency::Strong, "", -1, {});
  EXPECT_EQ(same.status().code(), absl::StatusCode::kInvalidArgument);
  // r1 has three nodes; with two of them silent a regional topic of RF 3 cannot live there.
  absl::StatusOr<ModeTarget> crowded =
      ResolveModeChange(metadata, Topic(metadata), wire::Consistency::Regional, "r1", -1, {2, 3});
  EXPECT_EQ(crowded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(crowded.status().message().find("cannot become regional"), std::string::npos)
      << crowded.status();
  absl::StatusOr<ModeTarget> nowhere =
      ResolveModeChange(metadata, Topic(metadata), wire::Consistency::Regional, "mars", -1, {});
  EXPECT_FALSE(nowhere.ok());
  EXPECT_EQ(ResolveModeChange(metadata, Topic(metadata), wire::Consistency::Strong, "", 2, {})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument)
      << "observers on a strong topic";
  EXPECT_EQ(Change(metadata, Topic(metadata).mode(), false).code(),
            absl::StatusCode::kInvalidArgument)
      << "apply refuses the current mode with no change in progress";
}

TEST(ModeChange, ANewTargetReplacesTheChangeAndTheOldModeUndoesIt) {
  ClusterMetadata metadata = Cluster(wire::Consistency::Strong);
  const ModeTarget strong = Topic(metadata).mode();
  const ModeTarget regional{wire::Consistency::Regional, "r2", 1};
  ASSERT_TRUE(Change(metadata, regional, false).ok());
  EXPECT_EQ(MoveEveryPartition(metadata), 4);
  // Placed for r2 but not completed: the operator changes their mind.
  ASSERT_TRUE(Change(metadata, strong, false).ok());
  EXPECT_EQ(Change(metadata, regional, true).code(), absl::StatusCode::kFailedPrecondition)
      << "a completion of the replaced target";
  EXPECT_EQ(MoveEveryPartition(metadata), 4) << "every partition moves back";
  ASSERT_TRUE(Change(metadata, strong, true).ok());
  EXPECT_EQ(Topic(metadata).consistency, wire::Consistency::Strong);
  for (const PartitionRecord& partition : Topic(metadata).partitions) {
    EXPECT_TRUE(partition.observers.empty());
    EXPECT_TRUE(ValidateReassignment(metadata, Topic(metadata), partition, partition.replicas,
                                     partition.observers)
                    .ok());
  }
}

TEST(ModeChange, ReassignmentsDuringAChangeAreCheckedAgainstTheTarget) {
  ClusterMetadata metadata = Cluster(wire::Consistency::Strong);
  ASSERT_TRUE(Change(metadata, {wire::Consistency::Regional, "r1", 1}, false).ok());
  const PartitionRecord& partition = Topic(metadata).partitions[0];
  const std::vector<uint32_t> home{1, 2, 3}, observers{4, 7}, spread{1, 4, 7}, none;
  EXPECT_TRUE(ValidateReassignment(metadata, Topic(metadata), partition, home, observers).ok());
  EXPECT_EQ(ValidateReassignment(metadata, Topic(metadata), partition, spread, none).code(),
            absl::StatusCode::kFailedPrecondition)
      << "voters outside the target's home region";
}

TEST(ModeChange, SnapshotsKeepTheChangeAndTheRehomedEpoch) {
  ClusterMetadata metadata = Cluster(wire::Consistency::Strong);
  const ModeTarget regional{wire::Consistency::Regional, "r1", 1};
  ASSERT_TRUE(Change(metadata, regional, false).ok());
  EXPECT_EQ(MoveEveryPartition(metadata), 4);
  ClusterMetadata restored;
  ASSERT_TRUE(restored.RestoreSnapshot(metadata.EncodeSnapshot()).ok());
  ASSERT_TRUE(Topic(restored).changing_to.has_value());
  EXPECT_EQ(*Topic(restored).changing_to, regional);
  ASSERT_TRUE(Change(restored, regional, true).ok());
  ClusterMetadata again;
  ASSERT_TRUE(again.RestoreSnapshot(restored.EncodeSnapshot()).ok());
  EXPECT_EQ(Topic(again).consistency, wire::Consistency::Regional);
  EXPECT_FALSE(Topic(again).changing_to.has_value());
}

// Promotes partition 0 of a regional topic homed in r1 to its observer in r2 (epoch 1).
void PromoteToR2(ClusterMetadata& metadata) {
  const PartitionRecord& first = Topic(metadata).partitions[0];
  uint32_t source = 0;
  for (uint32_t observer : first.observers) {
    if (RegionOf(metadata, observer) == "r2") source = observer;
  }
  ASSERT_NE(source, 0u);
  wire::PartitionPromoteT promote;
  promote.topic = "t";
  promote.partition = 0;
  promote.epoch = 1;
  promote.replicas = {source};
  for (uint32_t id : first.replicas) promote.observers.push_back(id);
  for (uint32_t id : first.observers) {
    if (id != source) promote.observers.push_back(id);
  }
  promote.source = source;
  wire::MetadataCommandBodyUnion body;
  body.Set(std::move(promote));
  ASSERT_TRUE(ApplyBody(metadata, std::move(body)).ok());
  EXPECT_EQ(VoterRegion(metadata, Topic(metadata), Topic(metadata).partitions[0]), "r2");
}

// A regional partition promoted to r2 (epoch 1), then the topic made strong and regional in r1
// again: its voters are in r1 now, so its voter region must be r1, not its old source's.
TEST(ModeChange, APromotedPartitionMadeRegionalAgainLivesAtTheNewHome) {
  ClusterMetadata metadata = Cluster(wire::Consistency::Regional);
  PromoteToR2(metadata);
  const ModeTarget regional{wire::Consistency::Regional, "r1", 1};
  ASSERT_TRUE(Change(metadata, {wire::Consistency::Strong, "", 0}, false).ok());
  MoveEveryPartition(metadata);
  ASSERT_TRUE(Change(metadata, {wire::Consistency::Strong, "", 0}, true).ok());
  ASSERT_TRUE(Change(metadata, regional, false).ok());
  MoveEveryPartition(metadata);
  ASSERT_TRUE(Change(metadata, regional, true).ok());
  const PartitionRecord& now = Topic(metadata).partitions[0];
  EXPECT_EQ(now.epoch, 1u);
  EXPECT_EQ(now.rehomed_epoch, 1u);
  EXPECT_EQ(VoterRegion(metadata, Topic(metadata), now), "r1");
  for (uint32_t voter : now.replicas) EXPECT_EQ(RegionOf(metadata, voter), "r1");
}

// Fail-back: asking a regional topic for its own mode is refused while every partition lives
// at home, and accepted once one was promoted away; the moves bring it home and restart its
// epoch there.
TEST(ModeChange, AskingForTheOwnModeFailsAPromotedPartitionBackHome) {
  ClusterMetadata metadata = Cluster(wire::Consistency::Regional);
  EXPECT_EQ(ResolveModeChange(metadata, Topic(metadata), wire::Consistency::Regional, "r1", 1, {})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  PromoteToR2(metadata);
  EXPECT_TRUE(PromotedAway(Topic(metadata)));
  absl::StatusOr<ModeTarget> home =
      ResolveModeChange(metadata, Topic(metadata), wire::Consistency::Regional, "r1", 1, {});
  ASSERT_TRUE(home.ok()) << home.status();
  ASSERT_TRUE(Change(metadata, *home, false).ok());
  EXPECT_EQ(MoveEveryPartition(metadata), 1) << "only the promoted partition moves";
  ASSERT_TRUE(Change(metadata, *home, true).ok());
  const PartitionRecord& back = Topic(metadata).partitions[0];
  EXPECT_EQ(back.replicas.size(), 3u);
  for (uint32_t voter : back.replicas) EXPECT_EQ(RegionOf(metadata, voter), "r1");
  EXPECT_EQ(VoterRegion(metadata, Topic(metadata), back), "r1");
  EXPECT_FALSE(PromotedAway(Topic(metadata)));
}

// Replacing copies on nodes lost for good (PlanReplacement): the lost copy's place is taken by a
// live node the topic's mode allows; every other copy stays; a voter is never dropped.
absl::StatusOr<std::optional<wire::PartitionReassignT>> Replace(
    const ClusterMetadata& metadata, uint32_t partition, const absl::btree_set<uint32_t>& lost) {
  const TopicRecord& topic = Topic(metadata);
  return PlanReplacement(metadata, topic, topic.partitions[partition], lost, lost,
                         ReplicaLoad(metadata));
}

TEST(Replacement, ALostStrongVoterIsReplacedInItsRegionAndTheOthersStay) {
  ClusterMetadata metadata = Cluster(wire::Consistency::Strong);
  const PartitionRecord before = Topic(metadata).partitions[0];
  const uint32_t lost = before.replicas[0];
  absl::StatusOr<std::optional<wire::PartitionReassignT>> plan = Replace(metadata, 0, {lost});
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_TRUE(plan->has_value());
  const std::vector<uint32_t>& voters = (*plan)->replicas;
  ASSERT_EQ(voters.size(), 3u);
  EXPECT_EQ(std::count(voters.begin(), voters.end(), lost), 0);
  for (uint32_t kept : {before.replicas[1], before.replicas[2]}) {
    EXPECT_EQ(std::count(voters.begin(), voters.end(), kept), 1) << "node " << kept << " moved";
  }
  const uint32_t added = *std::find_if(voters.begin(), voters.end(), [&](uint32_t id) {
    return std::count(before.replicas.begin(), before.replicas.end(), id) == 0;
  });
  EXPECT_EQ(RegionOf(metadata, added), RegionOf(metadata, lost)) << "one voter per region";
  // The metadata takes it as any reassignment (checked against the topic's mode) and completes.
  wire::PartitionReassignT target = **plan;
  ASSERT_TRUE(Record(metadata, target).ok());
  target.complete = true;
  ASSERT_TRUE(Record(metadata, target).ok());
  EXPECT_EQ(Topic(metadata).partitions[0].replicas, voters);
  EXPECT_FALSE(Replace(metadata, 0, {lost})->has_value()) << "nothing left on the lost node";
}

TEST(Replacement, NoLostCopyPlansNothingAndNoPlaceForAVoterKeepsIt) {
  ClusterMetadata metadata = Cluster(wire::Consistency::Strong);
  const PartitionRecord& partition = Topic(metadata).partitions[0];
  uint32_t outsider = 1;
  while (std::count(partition.replicas.begin(), partition.replicas.end(), outsider)) outsider++;
  absl::StatusOr<std::optional<wire::PartitionReassignT>> none = Replace(metadata, 0, {outsider});
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  // Region r1 lost whole: a strong topic's r1 voter has nowhere to go (one voter per region).
  absl::StatusOr<std::optional<wire::PartitionReassignT>> stuck = Replace(metadata, 0, {1, 2, 3});
  EXPECT_EQ(stuck.status().code(), absl::StatusCode::kFailedPrecondition) << stuck.status();
}

TEST(Replacement, RegionalVotersStayHomeAndObserversInTheirRegion) {
  ClusterMetadata metadata = Cluster(wire::Consistency::Regional);
  const PartitionRecord before = Topic(metadata).partitions[1];
  ASSERT_EQ(before.observers.size(), 2u);
  // A home voter lost: r1 has three nodes, all voters already, so nothing can take its place.
  EXPECT_EQ(Replace(metadata, 1, {before.replicas[0]}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // An observer lost: another node of its region takes its place; the voters stay.
  const uint32_t observer = before.observers[0];
  absl::StatusOr<std::optional<wire::PartitionReassignT>> plan = Replace(metadata, 1, {observer});
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_TRUE(plan->has_value());
  EXPECT_EQ((*plan)->replicas, before.replicas);
  ASSERT_EQ((*plan)->observers.size(), 2u);
  for (uint32_t id : (*plan)->observers) EXPECT_NE(id, observer);
  EXPECT_EQ(std::count_if((*plan)->observers.begin(), (*plan)->observers.end(),
                          [&](uint32_t id) {
                            return RegionOf(metadata, id) == RegionOf(metadata, observer);
                          }),
            1);
  // Its whole region lost: no observer can replace it there, and dropping it alone adds nothing.
  absl::btree_set<uint32_t> region;
  for (uint32_t id = 1; id <= 9; id++) {
    if (RegionOf(metadata, id) == RegionOf(metadata, observer)) region.insert(id);
  }
  absl::StatusOr<std::optional<wire::PartitionReassignT>> none = Replace(metadata, 1, region);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
}

// Placement constraints through a mode change: voters per region (spread) and observers per
// region (regional) are planned exactly, moving only what the counts require; a reassignment
// that breaks them is refused; snapshots keep them, and the change's.
TEST(ModeChange, VotersPerRegionMoveOnlyWhatTheCountsRequire) {
  ClusterMetadata metadata = Cluster(wire::Consistency::Strong);
  const TopicRecord before = Topic(metadata);
  const RegionCounts counts = {{"r1", 2}, {"r2", 1}};
  absl::StatusOr<ModeTarget> target = ResolveModeChange(
      metadata, Topic(metadata), wire::Consistency::Spread, "", -1, {}, counts, {});
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(target->voters_in, counts);
  ASSERT_TRUE(Change(metadata, *target, false).ok());
  const ClusterMetadata mid = metadata;
  EXPECT_EQ(MoveEveryPartition(metadata), 4);
  for (size_t p = 0; p < before.partitions.size(); p++) {
    const PartitionRecord& now = Topic(metadata).partitions[p];
    RegionCounts held;
    for (uint32_t voter : now.replicas) held[RegionOf(metadata, voter)]++;
    EXPECT_EQ(held, counts) << "partition " << p;
    for (uint32_t old : before.partitions[p].replicas) {
      const bool kept = std::count(now.replicas.begin(), now.replicas.end(), old) > 0;
      EXPECT_EQ(kept, RegionOf(metadata, old) != "r3") << "partition " << p << " node " << old;
    }
  }
  ASSERT_TRUE(Change(metadata, *target, true).ok());
  EXPECT_EQ(Topic(metadata).voters_in, counts);
  // A reassignment that breaks the counts is refused; one that keeps them is not.
  const PartitionRecord& first = Topic(metadata).partitions[0];
  const std::vector<uint32_t> one_per_region = {1, 4, 7};
  EXPECT_EQ(ValidateReassignment(metadata, Topic(metadata), first, one_per_region, {}).code(),
            absl::StatusCode::kFailedPrecondition);
  std::vector<uint32_t> same_regions = first.replicas;
  EXPECT_TRUE(ValidateReassignment(metadata, Topic(metadata), first, same_regions, {}).ok());
  // Snapshots keep the constraint, and a change's in progress.
  for (const ClusterMetadata* state : std::vector<const ClusterMetadata*>{&metadata, &mid}) {
    ClusterMetadata restored;
    ASSERT_TRUE(restored.RestoreSnapshot(state->EncodeSnapshot()).ok());
    EXPECT_EQ(Topic(restored).mode(), Topic(*state).mode());
    EXPECT_EQ(Topic(restored).changing_to, Topic(*state).changing_to);
  }
}

TEST(ModeChange, ObserversPerRegionGoOnlyWhereNamedAndAreCheckedWhenRecorded) {
  ClusterMetadata metadata = Cluster(wire::Consistency::Strong);
  const RegionCounts counts = {{"r2", 2}};
  absl::StatusOr<ModeTarget> target = ResolveModeChange(
      metadata, Topic(metadata), wire::Consistency::Regional, "r1", -1, {}, {}, counts);
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(target->observers_per_region, 0u);
  ASSERT_TRUE(Change(metadata, *target, false).ok());
  EXPECT_EQ(MoveEveryPartition(metadata), 4);
  for (const PartitionRecord& now : Topic(metadata).partitions) {
    ASSERT_EQ(now.observers.size(), 2u);
    for (uint32_t observer : now.observers) EXPECT_EQ(RegionOf(metadata, observer), "r2");
  }
  ASSERT_TRUE(Change(metadata, *target, true).ok());
  EXPECT_EQ(Topic(metadata).observers_in, counts);
  // Recorded constraints are checked when applied too (the command may come from anywhere).
  ModeTarget home_observers = *target;
  home_observers.observers_in = {{"r1", 1}};
  EXPECT_EQ(Change(metadata, home_observers, false).code(), absl::StatusCode::kInvalidArgument);
  ModeTarget strong_over_cap{wire::Consistency::Strong, "", 0, {{"r1", 2}, {"r2", 1}}, {}};
  EXPECT_EQ(Change(metadata, strong_over_cap, false).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace meridian::core::cluster
