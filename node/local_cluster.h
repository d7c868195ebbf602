// node::LocalCluster: real meridian-node processes on loopback, for the tools that drive a
// cluster the way an application would (the demo, meridian-bench). It picks free ports, forks and
// execs the node binary (each child dies with its parent: PR_SET_PDEATHSIG), kills and restarts
// single nodes, and stops them all with SIGTERM, reporting whether each exited 0.
//
// What stays true: `nodes()[i].id == i + 1`; a node's ports and data directory never change, so a
// restarted node comes back from its own data directory under the same addresses.
// Threading: the process's main thread (fork from a reactor fiber is fine: the child execs).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "io/network.h"
#include "io/posix/posix_runtime.h"

namespace meridian::node {

struct NodeProcess {
  int id = 0;
  io::Address client, peer, metrics;
  io::Address kafka;  // The node's Kafka listener (--kafka_listen).
  std::string data_dir;
  std::string region, zone;  // "r<k>", and "z<j>" when regions hold several nodes.
  pid_t pid = -1;
};

// kMutualTls: `meridian certs`-style certificates in <root>/certs (cluster id "local"), mutual TLS
// on peer links and on the client port. kPlaintext: --insecure_plaintext (meridian-bench, whose
// numbers are compared with runs from before TLS).
enum class Transport { kMutualTls, kPlaintext };

class LocalCluster {
 public:
  static constexpr int kNodesMax = 16;
  static constexpr char kClusterId[] = "local";
  static constexpr char kClientName[] = "local-client";

  // Nodes 1..node_count with data directories <root>/n<id>; `extra_args` go to every node.
  // Regions: nodes 1..nodes_per_region in r1 (zones z1, z2, ...), the next ones in r2, ...
  LocalCluster(std::string binary, std::string root, int node_count,
               std::vector<std::string> extra_args = {},
               Transport transport = Transport::kMutualTls, int nodes_per_region = 1);
  ~LocalCluster();  // Kills (SIGKILL) any node still running.
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  void StartAll();
  void Start(NodeProcess& node);
  // kill -9 and reap.
  void Kill(NodeProcess& node);
  // SIGSTOP / SIGCONT: the node is frozen (its peers see a silent node, its sockets stay open).
  void Pause(NodeProcess& node);
  void Resume(NodeProcess& node);
  // SIGTERM to every running node; true if every one exited 0.
  bool StopAll();

  std::vector<NodeProcess>& nodes() { return nodes_; }
  std::vector<io::Address> ClientAddresses() const;
  const std::string& root() const { return root_; }
  // What a client runtime needs to reach the client ports: TLS with the "local-client"
  // certificate under kMutualTls, nothing under kPlaintext.
  io::posix::NetworkSecurity ClientSecurity() const;

 private:
  const std::string binary_;
  const std::string root_;
  const std::vector<std::string> extra_args_;
  const Transport transport_;
  std::vector<NodeProcess> nodes_;
};

}  // namespace meridian::node
