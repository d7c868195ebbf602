// bench::MeridianDriver: runs one bench Case against a Meridian cluster through core/client, the
// way an application would: a fresh topic per case (one partition per producer, replication
// factor 3), idempotent producers each keeping `in_flight / producers` records outstanding on
// its own partition, then a read-back of the whole topic from the beginning that must find every
// acknowledged record exactly once (or the case fails).
//
// Phases of a case: warm-up (one record per producer, so leaders are elected and connections
// open; then `warmup` of the timed phase's load, untimed, so heaps, segments and TCP windows
// reach their steady state), the timed phase (`duration`: records/s, produce latency, server and
// client CPU), the optional produce-to-consume phase (a consumer tails the topic while producers
// write), the read-back (consume records/s). Values carry "producer:sequence:send-ns:" then
// padding, so the read-back knows which acknowledged record it found and the tail consumer its
// latency.
//
// Threading: every call from a fiber of `runtime` (an io::posix::PosixRuntime).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "core/client/client.h"
#include "core/client/producer.h"
#include "io/network.h"
#include "io/runtime.h"
#include "node/bench/bench_case.h"

namespace meridian::node::bench {

struct MeridianOptions {
  std::vector<io::Address> bootstrap;
  std::vector<pid_t> server_pids;  // For CPU per record; empty when connecting to a cluster.
  io::Duration warmup = std::chrono::seconds(1);  // Same load, untimed (0: one record each).
  io::Duration duration = std::chrono::seconds(3);
  io::Duration e2e_duration = std::chrono::seconds(1);  // 0: no produce-to-consume phase.
  io::Duration linger{0};
  size_t batch_bytes_max = core::client::ProducerOptions{}.batch_bytes_max;
  uint32_t max_in_flight_per_partition =
      core::client::ProducerOptions{}.max_in_flight_per_partition;
  bool delete_topics = true;
  // The nodes run with --unsafe_ack_before_fsync_for_tests (through --node_args): every figure
  // is labelled as acknowledged before any fsync, never as durable.
  bool acks_before_fsync = false;
};

// The durability label of runs whose nodes acknowledge before they sync.
inline constexpr char kAckBeforeFsync[] =
    "ack BEFORE fsync (--unsafe_ack_before_fsync_for_tests: not durable, a test mode)";

class MeridianDriver {
 public:
  static constexpr uint32_t kProducersMax = 64;
  static constexpr io::Duration kReadBackStall = std::chrono::seconds(10);

  MeridianDriver(io::Runtime& runtime, MeridianOptions options);
  ~MeridianDriver();

  // Creates the case's topic and runs it. Never throws a rate for a case that lost a record.
  SideResult Run(const Case& what, int case_index);

 private:
  struct Worker;
  struct Phase;

  absl::Status CreateTopic(const std::string& topic, uint32_t partitions);
  void ProduceLoop(Worker& worker, Phase& phase);
  absl::Status StartWorkers(const Case& what, const std::string& topic, uint32_t partitions,
                            std::vector<Worker>& workers);
  absl::Status RunPhase(std::vector<Worker>& workers, Phase& phase);
  void ReadBack(const std::string& topic, uint32_t partitions, std::vector<Worker>& workers,
                SideResult& side);
  void TailLatency(const std::string& topic, uint32_t partitions, std::vector<Worker>& workers,
                   const Case& what, SideResult& side);

  io::Runtime& runtime_;
  const MeridianOptions options_;
  std::unique_ptr<core::client::Client> admin_;
};

}  // namespace meridian::node::bench
