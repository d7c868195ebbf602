// Which of the workload topic's partitions can never take a write again, whatever the product
// does, because of servers the nemesis lost for good (Nemesis::lost_for_good). The broker
// workload does not ask such a partition to take writes after the heal (Judge in broker.cc) and
// names it in the run's partitions_lost_for_good. Pure: a topic record and a set of node ids in,
// an answer out, so that the excuse is tested directly (lost_for_good_test.cc) and not only
// through a seed that happens to reach it.
//
// Three cases, and no others:
//  - no member left: every voter, observer and reassignment target was lost for good. No
//    protocol can take a write with no server.
//  - a spread topic's quorum lost: a majority of its voters (of the current and, during a
//    reassignment, of the target replica set) was lost for good. Spread placement makes no
//    region-loss promise (docs/design.md "The two consistency modes": the controller picks it
//    only when the live nodes allow neither strong nor regional, so two voters can share a
//    region), and a spread topic has no observer to promote. A strong topic is never excused
//    this way: its placement keeps a majority out of every region, so a region loss that takes
//    its quorum is a bug (the planted strong-voters-share-a-region); a regional topic's home
//    region loss is what promotion is for.
//  - a quorum lost in the middle of a mode change (core/cluster/mode_change.h): the operator
//    asked the topic to move, and a partition being moved passes through configurations that
//    keep no region-loss promise (strong -> regional adds home voters before the others leave,
//    so for a moment the home region holds a majority). Judged on the configuration in force
//    (`voters_in_force`: the raft configuration the surviving replicas hold, not the metadata),
//    and not when a promotion must restore a quorum (a topic regional since its creation moving
//    to another mode, every voter lost, an observer left). A topic that became regional by a
//    change is promoted only once all its voters renewed their data lease since the change (a
//    voter from before it may serve without one), which a run may not reach: excused too.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "core/cluster/metadata.h"
#include "io/node_id.h"

namespace meridian::sim {

enum class PartitionLoss : uint8_t {
  kNone,                  // Some quorum can still form, or a promotion can restore one.
  kNoMemberLeft,          // Every member was lost for good.
  kSpreadQuorumLost,      // A spread topic's voters lost a majority for good.
  kModeChangeQuorumLost,  // A partition moving for a mode change lost its quorum for good.
};

const char* PartitionLossName(PartitionLoss loss);

// `voters_in_force`: the voters of the raft configuration the partition's surviving replicas
// hold, joining copies left out (nullptr or empty: unknown, as when no replica survived or only
// joining ones did; the metadata's voters stand in for it then).
PartitionLoss PartitionLostForGood(const core::cluster::TopicRecord& topic,
                                   const core::cluster::PartitionRecord& partition,
                                   const absl::btree_set<io::NodeId>& lost_for_good,
                                   const std::vector<uint32_t>* voters_in_force = nullptr);

// The partitions of `topic` whose PartitionLostForGood is not kNone.
absl::btree_set<uint32_t> PartitionsLostForGood(
    const core::cluster::TopicRecord& topic, const absl::btree_set<io::NodeId>& lost_for_good,
    const absl::btree_map<uint32_t, std::vector<uint32_t>>& voters_in_force = {});

}  // namespace meridian::sim
