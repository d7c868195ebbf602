// Replica reassignment: moving a partition's raft group to another replica set (issue 12 item 4;
// core/cluster/README.md "Reassignment", docs/design.md "Re-replication").
//
// The controller records a target (PartitionReassign without `complete`): the voters (the
// preferred leader first) and observers the partition should end with, checked against the
// topic's placement rules (ValidateReassignment). Nothing moves at apply time: the partition's
// leader (core/broker/reassignment.cc) changes the group's raft configuration one server at a
// time — new replicas join as learners, become voters once caught up, departing voters leave
// last — and when the committed configuration is the target it reports so (PartitionReassign
// with `complete`), which makes the target the partition's replicas. A node hosts the
// partition while the replicas or the target name it, so a departing replica stops, and its
// directory goes, only once its removal is committed.
//
// What stays true: at most one target per partition (a second is refused until the first
// completes; a promotion, which starts a new group, drops it); the target and the replicas
// each satisfy ValidateReplicas; a completion names exactly the target of the current group.
//
// After a promotion (core/cluster/promotion.h) a regional partition runs on one voter;
// PlanRegrowth picks the replacement voters that bring it back to its replication factor, in
// the promoted voter's region (observers already there first, then the zones its voters use
// least), since a regional partition's voters share one region.
//
// Pure and deterministic: plans are made by the controller leader before it proposes.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/cluster/metadata.h"
#include "core/wire/metadata_generated.h"

namespace meridian::core::cluster {

// The region every voter of `partition` must be in: a regional topic's home region, or after a
// promotion the promoted source's region; "" for other modes (no such rule).
std::string VoterRegion(const ClusterMetadata& metadata, const TopicRecord& topic,
                        const PartitionRecord& partition);

// Checks a target replica set for `partition` of `topic` against the topic's placement rules:
// registered, distinct nodes; the replication factor's voter count (1 to it after a
// promotion); strong: no region holding more voters than a region loss can spare; regional:
// every voter in VoterRegion; observers on regional topics only. InvalidArgument or
// FailedPrecondition saying which rule failed.
absl::Status ValidateReassignment(const ClusterMetadata& metadata, const TopicRecord& topic,
                                  const PartitionRecord& partition,
                                  std::span<const uint32_t> voters,
                                  std::span<const uint32_t> observers);

// The controller's plan to bring a promoted regional partition back to its replication
// factor: nullopt when it is not short of voters, a reassignment is already in progress, or its
// region has no node to add.
std::optional<wire::PartitionReassignT> PlanRegrowth(const ClusterMetadata& metadata,
                                                     std::string_view topic, uint32_t partition);

}  // namespace meridian::core::cluster
