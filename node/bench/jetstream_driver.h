// bench::JetStreamDriver: runs one bench Case against a JetStreamCluster with the bench's own
// NATS client, mirroring MeridianDriver: a fresh 3-replica file stream per producer (a stream is
// JetStream's unit of ordering and replication, as a partition is Meridian's), one connection
// per producer keeping `in_flight / producers` publishes outstanding (each with its own reply
// subject; the ack `{"stream":..,"seq":..}` ends its latency), then a read-back through a push
// consumer from the first message that must deliver every acknowledged sequence exactly once.
//
// JetStream has no leader-only ack: acks=leader cases are not run (the result has ran=false).
// Threading: the main thread; blocking socket calls with timeouts.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "node/bench/bench_case.h"
#include "node/bench/nats_client.h"

namespace meridian::node::bench {

struct JetStreamOptions {
  std::vector<uint16_t> client_ports;  // Producers spread over them round-robin.
  std::vector<pid_t> server_pids;
  std::chrono::milliseconds warmup{1000};  // Same load, untimed (0: one publish each).
  std::chrono::milliseconds duration{3000};
  std::string durability;  // Printed beside the figures.
};

class JetStreamDriver {
 public:
  static constexpr uint32_t kProducersMax = 64;
  static constexpr std::chrono::seconds kAckTimeout{30};
  static constexpr std::chrono::seconds kReadBackStall{10};

  explicit JetStreamDriver(JetStreamOptions options) : options_(std::move(options)) {}
  SideResult Run(const Case& what, int case_index);

 private:
  struct Producer;

  absl::Status Admin(const std::string& subject, const std::string& json);
  absl::Status Drive(std::vector<Producer>& producers, const Case& what,
                     std::chrono::steady_clock::time_point until, uint32_t window,
                     LatencySamples* latencies);
  void ReadBack(std::vector<Producer>& producers, const Case& what, int case_index,
                SideResult& side);

  const JetStreamOptions options_;
  std::unique_ptr<NatsConnection> admin_;
};

}  // namespace meridian::node::bench
