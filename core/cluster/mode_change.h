// Changing a topic's consistency mode after its creation (issue 12 item 1; core/cluster/README.md
// "Changing a topic's mode", docs/design.md "Changing a topic's mode").
//
// A mode is a placement (placement.h): where the voters are and which observers there are. So a
// change is a series of replica reassignments (reassignment.h), one per partition, and the
// topic's mode flips only when every partition is placed by the new rules:
//
//   1. The controller leader checks that the live nodes can place the topic in the new mode
//      (Place, with its errors) and records TopicModeChange: `changing_to`. From then on
//      reassignments of the topic are checked against the target's rules (CheckMode), and
//      observers may join or leave whatever the mode.
//   2. The controller leader plans, per partition, the replica set of the target mode that moves
//      the least data (PlanModeChange: keep the replicas that fit, add copies that already hold
//      the data first) and records it as a PartitionReassign; the partition's leader moves the
//      raft configuration there one server at a time, as for any reassignment. At most
//      kModeChangeMovesInFlight partitions of a topic move at once.
//   3. When every partition is placed and none is moving, the controller records
//      TopicModeChange with `complete`; apply checks each partition against the target once
//      more and the topic takes the new mode (a partition's regional epoch restarts there:
//      rehomed_epoch).
//
// Until the flip the topic keeps its old mode's behaviour (a regional topic's data lease and
// promotions, a strong topic's none), and its guarantees are those of the partitions as they
// stand: moving strong -> regional loses "any region can be lost" partition by partition. A new
// change while one is in progress replaces its target (moving back to the current mode is how
// a change is undone); the partitions go wherever the newest target says.
//
// Pure and deterministic: plans are made by the controller leader before it proposes; apply only
// validates and records.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/status/statusor.h"
#include "core/cluster/metadata.h"
#include "core/wire/metadata_generated.h"

namespace meridian::core::cluster {

// Whether some partition of a regional topic lives away from the home region since a promotion
// (its epoch is past rehomed_epoch). Asking such a topic for its own mode is not a no-op: it is
// the fail-back, which moves those partitions home and restarts their epoch there.
bool PromotedAway(const TopicRecord& topic);

// The metadata command that records a change of `topic` to `target` (or, `complete`, its end).
wire::TopicModeChangeT ModeChangeCommand(const std::string& topic, const ModeTarget& target,
                                         bool complete);

// "strong", "regional", "spread" (or "unspecified"): a mode as operators write it.
std::string_view ModeName(wire::Consistency consistency);

// Partitions of one topic being reassigned at once by a mode change: a bound on the catch-up
// traffic the change adds to the cluster.
inline constexpr uint32_t kModeChangeMovesInFlight = 4;

// The mode `topic` would have after a change to `consistency` with these settings and placement
// constraints (placement.h; empty: none, as at creation), defaults filled in as at creation
// (regional: the most populated region as home, one observer per other region; observers_per_region
// -1: that default), checked against the live nodes: every partition of the topic must be placeable
// so (FailedPrecondition saying what the cluster lacks, InvalidArgument for settings no mode
// takes). Asking for the mode the topic already has, with no change in progress, is
// InvalidArgument, unless partitions were promoted away from its home region (PromotedAway): then
// it brings them back (fail-back).
absl::StatusOr<ModeTarget> ResolveModeChange(
    const ClusterMetadata& metadata, const TopicRecord& topic, wire::Consistency consistency,
    std::string_view home_region, int32_t observers_per_region,
    const absl::btree_set<uint32_t>& not_live, const RegionCounts& voters_in = {},
    const RegionCounts& observers_in = {});

// Replicas (voters and observers) hosted per node over every topic, targets included: the
// planner's tie-break, so new copies go to the least loaded nodes.
absl::btree_map<uint32_t, uint32_t> ReplicaLoad(const ClusterMetadata& metadata);

// The reassignment that places `partition` of `topic` by `target`: the voters that fit stay
// (in their order: the preferred leader stays first; strong with a home region puts a voter of
// that region first), observers and then live nodes fill the rest, least-used region, zone and
// node first; observers of a regional target keep the copies already in each other region.
// nullopt when the partition already is so placed. FailedPrecondition when the live nodes
// cannot place it.
absl::StatusOr<std::optional<wire::PartitionReassignT>> PlanModeChange(
    const ClusterMetadata& metadata, const TopicRecord& topic, const PartitionRecord& partition,
    const ModeTarget& target, const absl::btree_set<uint32_t>& not_live,
    const absl::btree_map<uint32_t, uint32_t>& load);

// Replacing the copies on nodes lost for good (down past BrokerOptions::replica_replacement_delay;
// core/broker/README.md "Replacing a lost node's replicas"): the reassignment that moves
// `partition`'s voters and observers off the `lost` nodes onto live ones by its topic's own
// mode rules (PlanModeChange with the lost copies left out; every other copy stays). nullopt
// when no copy is on a lost node, or when nothing could take a lost copy's place but the copy
// is an observer (dropping it alone adds no safety). FailedPrecondition when the live nodes
// cannot take a lost voter's place (the partition keeps it: its replication factor is never
// cut). The caller skips partitions moving, topics changing mode, and regional partitions
// promoted away from home (their own mode's rules would move them home: that is a fail-back).
absl::StatusOr<std::optional<wire::PartitionReassignT>> PlanReplacement(
    const ClusterMetadata& metadata, const TopicRecord& topic, const PartitionRecord& partition,
    const absl::btree_set<uint32_t>& lost, const absl::btree_set<uint32_t>& not_live,
    const absl::btree_map<uint32_t, uint32_t>& load);

}  // namespace meridian::core::cluster
