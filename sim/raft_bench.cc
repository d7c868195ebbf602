// raft_bench (virtual time): commits per second and commit latency of one 3-replica raft group
// spread over geo-3x3's regions (us-east, eu-west, ap-south), clients in us-east, no faults.
// The physical floor to compare against is printed with it: a commit needs the leader to reach
// a quorum, so its latency cannot be below the round trip to the nearest other region.
//   bazel run -c opt //sim:raft_bench
// (The same group over real loopback sockets with fsync is measured by //node:demo's figures.)
#include <fmt/format.h>

#include <algorithm>

#include "absl/flags/flag.h"
#include "io/command_line.h"
#include "sim/raft_cluster.h"

ABSL_FLAG(int, seeds, 5, "Runs (seeds) to aggregate.");
ABSL_FLAG(int, clients, 4, "Concurrent clients, each with one proposal in flight.");

int main(int argc, char** argv) {
  meridian::io::ParseCommandLineOrExit(argc, argv);
  using namespace meridian::sim;
  std::vector<int64_t> latencies;
  double virtual_s = 0;
  for (int seed = 1; seed <= absl::GetFlag(FLAGS_seeds); seed++) {
    RaftSimOptions options{.seed = static_cast<uint64_t>(seed),
                           .replicas = 3,
                           .clients = static_cast<uint32_t>(absl::GetFlag(FLAGS_clients)),
                           .fault_phase = std::chrono::seconds(60),
                           .heal_phase = std::chrono::seconds(1),
                           .faults = false};
    const RaftSimResult result = RunRaftSimulation(options);
    if (!result.ok()) {
      fmt::print(stderr, "raft_bench: seed {} failed: {}\n", seed, result.violations.front());
      return 1;
    }
    latencies.insert(latencies.end(), result.commit_latencies_ns.begin(),
                     result.commit_latencies_ns.end());
    virtual_s += 61;
  }
  std::sort(latencies.begin(), latencies.end());
  auto percentile = [&](double p) {
    return latencies.empty() ? 0.0
                             : latencies[static_cast<size_t>(p * (latencies.size() - 1))] / 1e6;
  };
  // us-east <-> eu-west one-way 38-46 ms (sim/topology.cc): the nearest quorum's round trip.
  fmt::print(
      "{{\"bench\":\"raft_bench\",\"time\":\"virtual\",\"replicas\":3,\"regions\":"
      "\"us-east,eu-west,ap-south\",\"clients\":{},\"commits\":{},\"commits_per_s\":{:.1f},"
      "\"latency_ms_p50\":{:.1f},\"latency_ms_p99\":{:.1f},"
      "\"nearest_quorum_rtt_ms_min\":76,\"p50_over_rtt_floor\":{:.2f}}}\n",
      absl::GetFlag(FLAGS_clients), latencies.size(), latencies.size() / virtual_s, percentile(0.5),
      percentile(0.99), percentile(0.5) / 76.0);
  return 0;
}
