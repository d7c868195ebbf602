#include "sim/topology.h"

#include <algorithm>

#include "io/assert.h"

namespace meridian::sim {

using std::chrono::microseconds;
using std::chrono::milliseconds;

Topology::Topology()
    : same_zone{microseconds(100), microseconds(300)},
      cross_zone{microseconds(800), microseconds(1300)},
      cross_region{milliseconds(60), milliseconds(90)},
      link_bytes_per_second(1'250'000'000) {}  // 10 Gbit/s

void Topology::Place(io::NodeId node, Location location) {
  MERIDIAN_CHECK(!location.region.empty());
  MERIDIAN_CHECK(!location.zone.empty());
  MERIDIAN_CHECK(locations_.emplace(node, std::move(location)).second, "{} placed twice",
                 node.ToString());
}

const Location& Topology::location(io::NodeId node) const {
  auto it = locations_.find(node);
  MERIDIAN_CHECK(it != locations_.end(), "{} has no location", node.ToString());
  return it->second;
}

std::vector<io::NodeId> Topology::NodesInRegion(const std::string& region) const {
  std::vector<io::NodeId> nodes;
  for (const auto& [node, location] : locations_) {
    if (location.region == region) nodes.push_back(node);
  }
  return nodes;
}

std::vector<std::string> Topology::Regions() const {
  std::vector<std::string> regions;
  for (const auto& [node, location] : locations_) {
    if (std::find(regions.begin(), regions.end(), location.region) == regions.end()) {
      regions.push_back(location.region);
    }
  }
  return regions;
}

void Topology::SetRegionLatency(const std::string& a, const std::string& b, LatencyRange range) {
  MERIDIAN_CHECK(range.min <= range.max);
  region_latency_[{a, b}] = range;
  region_latency_[{b, a}] = range;
}

LatencyRange Topology::Range(io::NodeId from, io::NodeId to) const {
  const Location& a = location(from);
  const Location& b = location(to);
  if (a.region != b.region) {
    auto it = region_latency_.find({a.region, b.region});
    return it == region_latency_.end() ? cross_region : it->second;
  }
  return a.zone == b.zone ? same_zone : cross_zone;
}

io::Duration Topology::Draw(io::NodeId from, io::NodeId to, size_t bytes,
                            io::Random& random) const {
  if (from == to) return microseconds(1);
  const LatencyRange range = Range(from, to);
  const io::Duration propagation(random.Between(range.min.count(), range.max.count()));
  const io::Duration transmission(static_cast<int64_t>(bytes) * 1'000'000'000 /
                                  static_cast<int64_t>(link_bytes_per_second));
  return propagation + transmission;
}

bool MakeScenarioTopology(const std::string& name, int clients, Topology* topology, int* servers) {
  MERIDIAN_CHECK(clients >= 0);
  std::vector<std::string> regions;
  int zones_per_region = 0;
  if (name == "single-region-3") {
    regions = {"us-east"};
    zones_per_region = 3;
  } else if (name == "geo-3x3" || name == "region-loss-strong" || name == "region-loss-regional" ||
             name == "spike-10x" || name == "zone-loss" || name == "node-churn" ||
             name == "region-flap" || name == "node-loss") {
    regions = {"us-east", "eu-west", "ap-south"};
    zones_per_region = 3;
  } else if (name == "geo-5x1") {
    regions = {"us-east", "us-west", "eu-west", "ap-south", "sa-east"};
    zones_per_region = 1;
  } else {
    return false;
  }
  uint32_t next = 1;
  for (const std::string& region : regions) {
    for (int zone = 0; zone < zones_per_region; zone++) {
      topology->Place(io::NodeId(next++), {region, region + "-" + char('a' + zone)});
    }
  }
  *servers = static_cast<int>(next - 1);
  for (int client = 0; client < clients; client++) {
    topology->Place(io::NodeId(next++), {regions[0], regions[0] + "-a"});
  }
  // One-way latencies between the regions we name (roughly half of public RTT figures).
  topology->SetRegionLatency("us-east", "us-west", {milliseconds(30), milliseconds(38)});
  topology->SetRegionLatency("us-east", "eu-west", {milliseconds(38), milliseconds(46)});
  topology->SetRegionLatency("us-east", "ap-south", {milliseconds(100), milliseconds(120)});
  topology->SetRegionLatency("us-east", "sa-east", {milliseconds(58), milliseconds(66)});
  topology->SetRegionLatency("us-west", "eu-west", {milliseconds(65), milliseconds(75)});
  topology->SetRegionLatency("us-west", "ap-south", {milliseconds(110), milliseconds(130)});
  topology->SetRegionLatency("us-west", "sa-east", {milliseconds(85), milliseconds(95)});
  topology->SetRegionLatency("eu-west", "ap-south", {milliseconds(60), milliseconds(70)});
  topology->SetRegionLatency("eu-west", "sa-east", {milliseconds(95), milliseconds(105)});
  topology->SetRegionLatency("ap-south", "sa-east", {milliseconds(140), milliseconds(150)});
  return true;
}

}  // namespace meridian::sim
