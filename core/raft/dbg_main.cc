#include <cstdio>
#include <cstdlib>
#include "core/raft/cluster_harness.h"
using namespace meridian::core::raft::testing;
using namespace meridian::core::raft;
int main(int argc, char** argv) {
  uint64_t seed = std::atoi(argv[1]);
  uint32_t voters = std::atoi(argv[2]);
  uint32_t spares = std::atoi(argv[3]);
  int bug = std::atoi(argv[4]);
  meridian::io::Random random(seed);
  auto ops = RandomSchedule(random, 600);
  std::string trace;
  auto v = RunSchedule(ClusterOptions{.voters = voters, .spares = spares, .seed = seed, .planted_bug = static_cast<PlantedBug>(bug)}, ops, &trace);
  std::printf("%s\n%s\n", v ? PropertyName(v->property) : "ok", trace.c_str());
}
