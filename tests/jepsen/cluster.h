// jepsen::Cluster: N real meridian-node processes and every fault the nemesis can inflict on
// them. Two network modes:
//  - kNamespaces: node i lives in network namespace <prefix>n<i> (jepsen.sh made them: veth pairs
//    into a bridge in namespace <prefix>b, addresses 10.77.0.<10+i>, the harness itself in
//    <prefix>c at 10.77.0.2). Partitions are iptables DROP rules inside the nodes' namespaces.
//  - kLoopback (no namespaces): nodes on 127.0.0.1, and every peer link i->j goes through a
//    fault-injecting TCP proxy in this process, which refuses and cuts blocked links.
// Regions are groups of nodes: node i is in region r<1 + (i-1) % regions>.
//
// What stays true: a node's addresses and data directory never change across restarts; a
// blocked link i->j means j hears nothing from i over peer links (a one-way partition);
// Heal() removes every network, pause, clock and disk fault. Every node is its own process group
// child of this process and dies with it (PR_SET_PDEATHSIG).
// Threading: the harness's reactor thread (the proxy runs on its own thread).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "io/network.h"
#include "tests/jepsen/powercut_journal.h"

namespace meridian::tests::jepsen {

enum class NetMode { kNamespaces, kLoopback };

struct ClusterOptions {
  std::string node_binary;
  std::string run_dir;  // node i keeps data, log and journal under <run_dir>/n<i>/
  NetMode net = NetMode::kNamespaces;
  std::string netns_prefix;  // kNamespaces: the namespaces' common prefix
  int nodes = 5;
  int regions = 3;
  std::vector<std::string> extra_node_args;
  std::string powercut_shim;  // non-empty: every node runs under it (journals unsynced writes)
  int64_t powercut_sync_delay_us = 0;
  std::string faketime_lib;  // non-empty: every node runs under libfaketime (clock skew)
  uint64_t disk_bytes = 0;   // > 0: each data directory is a tmpfs of this size (full-disk fault)
};

struct Node {
  int id = 0;
  int region = 1;
  io::Address client, peer;
  std::string ip;
  std::string dir;  // <run_dir>/n<id>
  pid_t pid = -1;
  bool paused = false;
  int starts = 0;
};

class LinkProxy;

class Cluster {
 public:
  explicit Cluster(ClusterOptions options);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  absl::Status Prepare();  // data directories, tmpfs mounts, the proxy
  void Start(int id);
  void StartAll();
  void Kill(int id);  // SIGKILL and reap
  void Pause(int id);
  void Resume(int id);
  bool Running(int id);  // reaps a node that exited on its own (and logs how)
  void StopAll();        // SIGTERM, then SIGKILL after a grace period

  // Network faults. Block(from, to): `to` hears nothing from `from` on peer links.
  void Block(int from, int to);
  void Partition(const std::set<int>& side);  // symmetric: side <-> everyone else
  void HealNetwork();

  void SetClockOffset(int id, int64_t offset_s);  // wall clock only (libfaketime)
  absl::Status FillDisk(int id);                  // leaves the tmpfs (almost) no room
  void FreeDisk(int id);
  // SIGKILL, then roll back every write the node had not fsynced.
  absl::StatusOr<RollbackStats> PowerCut(int id, PowerCutMode mode, uint64_t seed);

  Node& node(int id) { return nodes_.at(static_cast<size_t>(id - 1)); }
  std::vector<Node>& nodes() { return nodes_; }
  std::vector<io::Address> ClientAddresses() const;
  std::string DataDir(int id) const {
    return nodes_.at(static_cast<size_t>(id - 1)).dir + "/disk/data";
  }
  const ClusterOptions& options() const { return options_; }
  std::string Describe() const;
  std::vector<std::string>& events() { return events_; }
  void Event(const std::string& text);

 private:
  void Exec(Node& node);
  void RunIn(const Node& node, const std::vector<std::string>& command);
  uint64_t DroppedPackets(const Node& node);
  absl::Status CheckFaketime();

  const ClusterOptions options_;
  std::vector<Node> nodes_;
  std::set<std::pair<int, int>> blocked_;
  std::unique_ptr<LinkProxy> proxy_;
  std::vector<std::string> events_;
  int64_t started_ns_ = 0;
};

// Runs a command to completion; returns its exit status (-1 if it could not run).
int RunCommand(const std::vector<std::string>& command, bool quiet = true);

}  // namespace meridian::tests::jepsen
