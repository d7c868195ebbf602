#include <cstdio>
#include <cstdlib>
#include "core/raft/cluster_harness.h"
using namespace meridian::core::raft::testing;
using namespace meridian::core::raft;
int main(int argc, char** argv) {
  uint64_t n = std::atoi(argv[1]);
  uint32_t voters = std::atoi(argv[2]);
  uint32_t spares = std::atoi(argv[3]);
  int bug = std::atoi(argv[4]);
  int fails = 0;
  for (uint64_t seed = 1; seed <= n; seed++) {
    std::fprintf(stderr, "seed %lu\n", (unsigned long)seed); meridian::io::Random random(seed);
    auto ops = RandomSchedule(random, 600);
    auto v = RunSchedule(ClusterOptions{.voters = voters, .spares = spares, .seed = seed, .planted_bug = static_cast<PlantedBug>(bug)}, ops, nullptr);
    if (v) { fails++; std::printf("seed %lu: %s %s\n", (unsigned long)seed, PropertyName(v->property), v->detail.c_str()); if (fails > 5) break; }
  }
  std::printf("done %d\n", fails);
}
