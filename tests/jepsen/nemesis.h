// jepsen::Nemesis: injects one fault at a time into a Cluster, holds it, heals it, rests, and
// repeats until its time is up; every action is a line in Cluster::events().
//
// Fault classes (the --nemesis names):
//   kill          kill -9 a random node, restart it later
//   pause         SIGSTOP a random node, SIGCONT later
//   partition     a random minority cut off from the rest, both ways (iptables DROP)
//   oneway        a random minority's peer links into the rest dropped, one way only
//   region        every node of one region cut off from the others
//   leader        kill, pause or isolate the current leader of a random partition
//   clock         a node's wall clock skewed by up to +-2 days, then jumped (libfaketime)
//   disk          a node's data directory (a tmpfs) filled to the last byte, then freed (and
//                 the node restarted, unless disk_heal_restart is off)
//   powercut      power loss: SIGKILL and loss of unsynced writes, one node or all at once
//   powercut-all  only coordinated power cuts of every node, every unsynced write lost
//   bitflip       a down node's segment files get bit flips or a truncation, in one replica or
//                 one replica of every partition (always a minority of each partition)
// Threading: a fiber of the harness's reactor (it blocks the reactor briefly for iptables).
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/client/client.h"
#include "io/runtime.h"
#include "tests/jepsen/cluster.h"

namespace meridian::tests::jepsen {

inline const std::vector<std::string>& NemesisNames() {
  static const std::vector<std::string> names = {"kill",     "pause",   "partition",   "oneway",
                                                 "region",   "leader",  "clock",       "disk",
                                                 "powercut", "bitflip", "powercut-all"};
  return names;
}

struct NemesisOptions {
  std::vector<std::string> faults;
  uint64_t seed = 1;
  io::Duration fault_min = std::chrono::seconds(2), fault_max = std::chrono::seconds(5);
  io::Duration rest_min = std::chrono::seconds(1), rest_max = std::chrono::seconds(3);
  bool disk_heal_restart = true;  // restart a node after its full disk was freed
  std::string topic;
  std::vector<uint64_t> groups;                 // raft group of each partition
  std::vector<std::vector<uint32_t>> replicas;  // replica node ids of each partition
};

class Nemesis {
 public:
  Nemesis(io::Runtime& runtime, core::client::Client& client, Cluster& cluster,
          NemesisOptions options);

  void Run(io::Instant until);
  // Heals everything and restarts every node that is down (or tries to: see events()).
  void HealAll();
  const std::map<std::string, int>& counts() const { return counts_; }
  uint64_t unexpected_exits() const { return unexpected_exits_; }

 private:
  void Inject(const std::string& fault);
  void Hold();
  int RandomNode();
  std::set<int> RandomMinority();
  int LeaderOfSomePartition();
  void KillOrPause(int id, bool kill, const char* who);
  void Network(const std::string& fault);
  void Clock();
  void Leader();
  void PowerCut(bool all, bool drop_all);
  void BitFlip();
  void Corrupt(int node, uint64_t group);
  void RestartDownNodes();

  io::Runtime& rt_;
  core::client::Client& client_;
  Cluster& cluster_;
  const NemesisOptions options_;
  std::mt19937_64 random_;
  std::map<std::string, int> counts_;
  uint64_t unexpected_exits_ = 0;
};

}  // namespace meridian::tests::jepsen
