// bench::JetStreamCluster: Debian's nats-server started as a 3-node JetStream cluster on
// loopback, for meridian-bench --peer=jetstream. The bench writes each node's config (client
// port, cluster routes to the other two, a JetStream file store under the temp dir) and forks
// `nats-server -c`; each child dies with the bench (PR_SET_PDEATHSIG) and logs to <dir>/nN.log.
//
// Durability as configured: nats-server 2.9's file store acknowledges a publish once the
// stream's raft group has it and syncs its files on a timer (2 minutes by default); 2.9.10
// refuses `sync_interval` (added in 2.10), so "fsync before ack" cannot be asked of it here.
// Threading: the main thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace meridian::node::bench {

class JetStreamCluster {
 public:
  static constexpr int kNodes = 3;

  // The nats-server binary found on PATH (or in /usr/sbin), or "" when it is not installed.
  static std::string FindServer();

  JetStreamCluster(std::string server_binary, std::string dir);
  ~JetStreamCluster();  // SIGKILL to whatever still runs.
  JetStreamCluster(const JetStreamCluster&) = delete;
  JetStreamCluster& operator=(const JetStreamCluster&) = delete;

  // Writes the configs and starts the nodes; OK once every client port takes connections.
  absl::Status Start();
  // SIGTERM each node and reap it; true if each exited 0.
  bool Stop();

  const std::vector<uint16_t>& client_ports() const { return client_ports_; }
  const std::vector<pid_t>& pids() const { return pids_; }
  std::string Version() const;

 private:
  const std::string server_binary_;
  const std::string dir_;
  std::vector<uint16_t> client_ports_;
  std::vector<uint16_t> route_ports_;
  std::vector<pid_t> pids_;
};

}  // namespace meridian::node::bench
