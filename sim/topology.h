// sim::Topology: where each simulated node sits (region, zone) and what the links between them
// cost: one-way latency by distance class, with jitter, and per-link bandwidth.
//
// Defaults follow the model: same zone 0.1-0.3 ms, across zones of a region ~1 ms,
// across regions 20-150 ms (a per-pair table; unknown pairs use cross_region). Latency is drawn
// per message from the world's Random, so messages on one link reorder when their draws do.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "io/node_id.h"
#include "io/random.h"
#include "io/time.h"

namespace meridian::sim {

struct Location {
  std::string region;
  std::string zone;
};

struct LatencyRange {
  io::Duration min;
  io::Duration max;
};

class Topology {
 public:
  Topology();

  void Place(io::NodeId node, Location location);
  const Location& location(io::NodeId node) const;
  bool has(io::NodeId node) const { return locations_.contains(node); }
  std::vector<io::NodeId> NodesInRegion(const std::string& region) const;
  std::vector<std::string> Regions() const;

  // Sets the one-way latency between two regions (symmetric).
  void SetRegionLatency(const std::string& a, const std::string& b, LatencyRange range);
  LatencyRange Range(io::NodeId from, io::NodeId to) const;
  // A latency draw for one message of `bytes` from `from` to `to`, including transmission time
  // at the link bandwidth.
  io::Duration Draw(io::NodeId from, io::NodeId to, size_t bytes, io::Random& random) const;

  LatencyRange same_zone;
  LatencyRange cross_zone;
  LatencyRange cross_region;
  uint64_t link_bytes_per_second;

 private:
  absl::btree_map<io::NodeId, Location> locations_;
  absl::btree_map<std::pair<std::string, std::string>, LatencyRange> region_latency_;
};

// Named topologies for scenarios: "single-region-3", "geo-3x3", "geo-5x1". Nodes 1..N are the
// servers; `clients` extra nodes (ids N+1..) sit in the first region. InvalidArgument for an
// unknown name is the caller's to report, so this returns false.
bool MakeScenarioTopology(const std::string& name, int clients, Topology* topology, int* servers);

}  // namespace meridian::sim
