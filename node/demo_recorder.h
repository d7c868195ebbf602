// node::RecordedTopic: what the demos (`//node:demo`, `//node:region_demo`) produce to and
// consume from one topic, recorded as a checks/ history (docs/history-format.md) so that the
// log checker judges the run, not the demo's own bookkeeping.
//
// Every record is one send operation of its own process (a process has one operation open);
// values are 1, 2, 3, ... in send order, so the checker can tell every record apart. A send's
// completion time is when its delivery resolved: from the first Send, one fiber per partition
// waits for that partition's deliveries in send order (a partition's records resolve in order),
// so neither a partition stalled by a failure nor a late Wait() skews the times recorded.
//
// Threading: fibers of one io::Runtime.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "checks/history.h"
#include "checks/log_checker.h"
#include "core/client/client.h"
#include "core/client/producer.h"
#include "io/posix/posix_runtime.h"
#include "io/runtime.h"
#include "io/sync.h"
#include "node/local_cluster.h"

namespace meridian::node {

double Millis(io::Duration duration);
// The q-quantile (0..1) of `values` (0 when empty).
double Quantile(std::vector<double> values, double q);

class RecordedTopic {
 public:
  RecordedTopic(io::Runtime& rt, std::string topic, uint32_t partitions);
  // Waits (a fiber of `rt`) until every send resolved: its fibers refer to this object.
  ~RecordedTopic();
  RecordedTopic(const RecordedTopic&) = delete;
  RecordedTopic& operator=(const RecordedTopic&) = delete;

  // Queues `records` keyed records ("customer-<value % 50>"); each is one send operation.
  // Errors: a record the producer refused at once (nothing more is queued).
  absl::Status Send(core::client::Producer& producer, int records, io::Instant deadline);
  struct Resolved {
    uint64_t acknowledged = 0;
    uint64_t unknown = 0;     // Not confirmed: info in the history (may or may not be in the log).
    std::string first_error;  // Of the first unconfirmed one.
  };
  // Sends acknowledged since the last Wait().
  uint64_t AcknowledgedNotWaited() const { return resolved_.acknowledged; }
  // Waits until every queued send resolved or `deadline`; what resolved since the last Wait.
  Resolved Wait(io::Instant deadline);

  // Reads every partition from its beginning until it has read as many records as were
  // acknowledged (plus `extra`) and a poll came back empty (the end of every partition), or
  // `limit`; records the polls. Returns the number of records read.
  absl::StatusOr<uint64_t> ConsumeAll(core::client::Client& client, io::Duration limit,
                                      uint64_t extra = 0);

  // A regional promotion discarded the old epoch's records at or after `promoted_offset` of
  // `partition` (core/cluster/promotion.h): sends acknowledged there before
  // `acknowledged_before` (by the old epoch) become unknown, so the checker allows their loss
  // and judges everything else. Returns how many acknowledged records that excuses (the RPO).
  uint64_t ExcuseDiscarded(uint32_t partition, int64_t promoted_offset,
                           io::Instant acknowledged_before);

  // The log checker's verdict on the history so far (sorted and finished first); prints it.
  absl::StatusOr<checks::CheckReport> Judge(const char* label);

  // When the first of the sends to `partition` invoked after `after` was acknowledged
  // (Infinite: none); a record sent after a failure can only be acknowledged by what survived it.
  io::Instant FirstAckOfSendAfter(uint32_t partition, io::Instant after) const;

  // Past the highest acknowledged offset of `partition` (0: none).
  int64_t EndOffset(uint32_t partition) const;

  const std::string& topic() const { return topic_; }
  uint32_t partitions() const { return partitions_; }
  uint64_t acknowledged() const { return acknowledged_; }
  const std::vector<double>& latencies_ms() const { return latencies_ms_; }
  checks::History& history() { return history_; }

 private:
  struct Pending {
    size_t op;  // Index into history_.operations.
    io::Instant sent;
    io::Instant deadline;
    std::shared_ptr<core::client::DeliveryPromise> delivery;
  };
  void Resolve(const Pending& pending);
  void DrainPartition(uint32_t partition);

  io::Runtime& rt_;
  const std::string topic_;
  const uint32_t partitions_;
  checks::History history_;
  std::vector<std::deque<Pending>> pending_;  // Per partition, in send order.
  std::vector<bool> draining_;                // A fiber is waiting on that partition.
  size_t outstanding_ = 0;                    // Sends not resolved yet.
  Resolved resolved_;                         // Since the last Wait().
  io::WaitList resolved_waiters_;
  int64_t next_value_ = 1;
  int64_t next_process_ = 0;
  uint64_t acknowledged_ = 0;
  std::vector<double> latencies_ms_;
};

// The node currently leading `topic`/`partition`, asked of every running node's replica status
// (0: none found).
int LeaderOf(core::client::Client& client, const std::vector<NodeProcess>& nodes,
             const std::string& topic, uint32_t partition);

// GET `path` from a node's metrics listener; the whole HTTP response (empty on failure).
std::string HttpGet(io::Runtime& rt, const io::Address& address, const std::string& path);

// Runs `body` in a fiber of a client runtime (node id 100, TLS material of `cluster`) until it
// returns, then stops every node with SIGTERM and removes `cluster.root()`. Prints
// "<label>: all nodes stopped ..." and true only if `body` returned true and every node exited 0.
bool RunDemo(const char* label, LocalCluster& cluster,
             const std::function<bool(io::posix::PosixRuntime&)>& body);

// The value of an unlabelled counter or gauge in Prometheus text (-1 when absent).
double MetricValue(const std::string& text, const std::string& name);

}  // namespace meridian::node
