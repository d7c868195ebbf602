// core::cluster::Place: where a topic's partition replicas go, decided by the controller leader
// before it proposes a topic command (the command records the decision; apply only validates).
//
// Two consistency modes (core/wire/client.fbs Consistency, docs/design.md):
//   - Strong: `replication_factor` voters spread over regions so that no region holds more voters
//     than the quorum can spare (at most RF - (RF/2 + 1) per region). Losing any one region then
//     leaves a quorum: no acknowledged record is lost and writes continue. Needs RF >= 3 and
//     enough regions (3 for RF 3 or 5, 4 for RF 4); otherwise FailedPrecondition saying what the
//     cluster lacks. With a `home_region`, every partition has a voter there, listed first: the
//     topic's leaders are preferred in that region (where its producers are), rotating over its
//     nodes; the leader balancer (core/broker) brings them back after a failure.
//   - Regional: every voter in the home region, spread over its zones (writes commit inside one
//     region); `observers_per_region` raft learners in each other region replicate asynchronously
//     and serve follower reads.
//   - Spread: voters round-robin over regions, then zones, with no cap per region: as wide as
//     the cluster allows, and no promise about losing a region.
//   - Placement constraints (Confluent's replica placement, by region): `voters_in` fixes how
//     many voters each named region holds (strong and spread; adding up to the replication
//     factor; strong: at most what a region loss can spare in any), and `observers_in` how many
//     observers each named region holds (regional, instead of `observers_per_region`; not the
//     home region). Regions not named get none. A constraint the live nodes cannot meet, or that
//     breaks the mode's promise, is refused saying which region and why.
//   - Unspecified: Strong when the cluster can place it, else Regional with the region holding
//     the most nodes as home (ties: the first name) and one observer per other region unless
//     asked otherwise, else Spread. The result says which mode was chosen.
// Within a region, consecutive picks alternate zones; preferred leaders (the first voter) rotate
// with `rotation` (partitions created so far), so leadership is balanced over nodes.
//
// Only live nodes are placed on (`PlacementRequest::not_live` are left out; an error then says
// which were). Pure and deterministic.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/status/statusor.h"
#include "core/wire/client_generated.h"

namespace meridian::core::cluster {

struct NodeRecord;

inline constexpr uint32_t kObserversMax = 16;  // Per partition.

// A placement constraint: region -> how many voters (or observers) of each partition go there.
using RegionCounts = absl::btree_map<std::string, uint32_t>;
inline constexpr size_t kRegionCountsMax = 64;  // Regions one constraint may name.
// Checks a constraint's shape, whatever the cluster: at most kRegionCountsMax regions, names of
// 1 to wire::kNameBytesMax bytes, every count at least 1. `what`: "voters" or "observers".
absl::Status ValidateRegionCounts(const RegionCounts& counts, std::string_view what);
// "us-east=2,eu-west=1" (as the CLI takes it; empty for none).
std::string DescribeRegionCounts(const RegionCounts& counts);

struct PlacementRequest {
  uint32_t partitions = 1;
  uint32_t replication_factor = 3;
  wire::Consistency consistency = wire::Consistency::Unspecified;
  // Regional: where the voters are (empty: the controller picks). Strong: where the leaders are
  // preferred (empty: no preference, rotated over every region).
  std::string home_region;
  uint32_t observers_per_region = 0;  // Regional.
  RegionCounts voters_in;             // Strong, spread: voters per region (empty: the rule).
  RegionCounts observers_in;          // Regional: observers per region (empty: the uniform).
  // Registered nodes the controller has not heard from within its liveness window: left out, so
  // a new partition is not born on nodes that may be gone (a region lost for good left topics
  // created after it with no quorum, ever). Unspecified picks its mode from the nodes left.
  absl::btree_set<uint32_t> not_live;
};

struct PartitionPlacement {
  std::vector<uint32_t> voters;  // The preferred leader first.
  std::vector<uint32_t> observers;
};

struct Placement {
  wire::Consistency consistency = wire::Consistency::Strong;  // Never Unspecified.
  std::string home_region;  // Regional: the voters' region; Strong: the leaders' (or empty).
  uint32_t observers_per_region = 0;  // Regional only.
  RegionCounts voters_in;             // As asked (strong, spread).
  RegionCounts observers_in;          // As asked (regional).
  std::vector<PartitionPlacement> partitions;
};

// The most voters one region may hold in a Strong group of `replication_factor` voters.
uint32_t StrongVotersPerRegionMax(uint32_t replication_factor);

absl::StatusOr<Placement> Place(const absl::btree_map<uint32_t, NodeRecord>& nodes,
                                const PlacementRequest& request, uint64_t rotation);

}  // namespace meridian::core::cluster
