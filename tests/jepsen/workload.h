// jepsen::Workload: concurrent producers and consumers of one topic through core/client, every
// operation recorded in the checks/ history format (docs/history-format.md), a final drain of
// every partition, and the verdict of checks/' log checker.
//
// Producers: half idempotent (the default), half not. Each has `in_flight` sender fibers; each
// fiber is one history process with one record in flight (a send of one value). Values are one
// global counter, so they are unique per partition. A record whose delivery was not confirmed
// is `info` (it may or may not be written) and its process retires; a record Send refused
// before queueing it is `fail`. Consumers: each assigned every partition; a poll error retires
// the process and a new one re-assigns (recorded as an assign) from where the old one stopped.
//
// A non-idempotent producer retries on lost connections and may write a record twice: the
// checker then reports `duplicate`, which at-least-once delivery allows. The verdict tolerates
// exactly those findings (counted and printed) and nothing else.
//
// Threading: fibers of the harness's reactor.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "checks/history.h"
#include "checks/verdict.h"
#include "core/client/client.h"
#include "core/client/consumer.h"
#include "io/runtime.h"

namespace meridian::tests::jepsen {

struct WorkloadOptions {
  std::string topic = "jepsen";
  uint32_t partitions = 4;
  uint32_t replication = 3;
  int producers = 4;  // even ids idempotent, odd ids not
  int in_flight = 4;  // sender fibers (processes) per producer
  int consumers = 2;
  io::Duration drain_timeout = std::chrono::seconds(90);
};

struct Verdict {
  bool valid = false;  // no finding but tolerated duplicates; drain complete; nothing lost
  std::string text;    // the summary lines
  checks::CheckReport report;
  uint64_t acknowledged = 0, lost = 0, indeterminate = 0, indeterminate_applied = 0;
  uint64_t failed = 0, tolerated_duplicates = 0;
  bool reports_acked_loss = false;  // The checker found an acknowledged record never read.
};

class Workload {
 public:
  Workload(io::Runtime& runtime, core::client::Client& client, WorkloadOptions options);
  ~Workload();

  absl::Status CreateTopic(io::Duration timeout);
  void Start();
  void Stop();  // producers resolve what they sent; consumers close
  // Reads every partition from its start to (at least) its end; true if it got there.
  bool FinalDrain();
  Verdict Judge();

  checks::History& history() { return history_; }
  const std::vector<uint64_t>& groups() const { return groups_; }  // raft group per partition
  const std::vector<std::vector<uint32_t>>& replicas() const { return replicas_; }

 private:
  size_t Invoke(checks::Operation op);
  void Complete(size_t index, checks::Outcome outcome);
  void ProducerLoop(int producer);
  void SenderLoop(core::client::Producer& producer, bool idempotent);
  void ConsumerLoop();
  // Records an assign of every partition, positioned at `next` (0: the log's start).
  bool Assign(core::client::Consumer& consumer, int64_t process, const std::vector<int64_t>& next);
  // One poll, recorded unless empty; false when it failed (the process is then done).
  bool PollOnce(core::client::Consumer& consumer, int64_t process, std::vector<int64_t>* next);
  absl::StatusOr<std::vector<int64_t>> EndOffsets(io::Instant deadline);
  void RecordPoll(size_t op, const std::vector<core::client::ConsumedRecord>& records,
                  std::vector<int64_t>* next);

  io::Runtime& rt_;
  core::client::Client& client_;
  const WorkloadOptions options_;
  checks::History history_;
  std::vector<uint64_t> groups_;
  std::vector<std::vector<uint32_t>> replicas_;
  std::set<int64_t> non_idempotent_values_;
  std::set<int64_t> drain_processes_;
  int64_t next_value_ = 1;
  int64_t next_process_ = 0;
  bool stopping_ = false;
  int fibers_running_ = 0;
  bool drain_complete_ = false;
  std::map<std::string, int64_t> errors_;  // why operations ended info or fail, by status code
};

}  // namespace meridian::tests::jepsen
