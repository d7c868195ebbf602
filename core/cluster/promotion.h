// Promotion: how a regional partition fails over when its home region is lost (issue 12;
// core/cluster/README.md "Promotion", docs/design.md "Regional failover").
//
// A regional partition's voters all live in its home region. Losing that region leaves its raft
// group without a quorum, and a group cannot change its configuration without one. So a
// promotion does not change the old group: it starts a new one. The controller leader records
// a PartitionPromote command: epoch + 1, a new raft group id, the chosen observer (`source`,
// the most caught-up one that answered) as its voter, and every other replica of the old epoch
// as its observers. `source` seeds the new group from its own copy of the old group's log
// through `promoted_index` — a committed prefix (an observer applies only what its leader
// said is committed) — so the new epoch continues at `promoted_offset`; every old-epoch record
// at or after that offset is discarded, and each old replica that comes back reports how many
// records it discards (the RPO, never silent).
//
// Fencing follows from the new group id: peers route raft messages by group, and the old group
// is no longer in the metadata, so nothing of it is hosted (or served) once a node has applied
// the promotion; core/broker/fencing.h covers the time before that (a data lease).
//
// Pure and deterministic: the controller leader plans (PlanPromotion) before it proposes; apply
// only validates and records.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/cluster/metadata.h"
#include "core/wire/metadata_generated.h"

namespace meridian::core::cluster {

// What one observer reported of its replica of a partition's current group.
struct ObserverProgress {
  uint32_t node = 0;
  uint64_t applied_index = 0;  // Raft index applied in the current group.
  int64_t high_watermark = 0;  // The partition's high watermark at applied_index.
};

// The promotion of `topic`/`partition` to its most caught-up observer among `progress`
// (highest high watermark, then applied index, then lowest node id; entries naming a node that
// is not an observer of the current epoch are ignored). FailedPrecondition when the topic is
// not regional or no observer answered; NotFound for an unknown topic or partition.
absl::StatusOr<wire::PartitionPromoteT> PlanPromotion(const ClusterMetadata& metadata,
                                                      std::string_view topic, uint32_t partition,
                                                      std::span<const ObserverProgress> progress);

}  // namespace meridian::core::cluster
