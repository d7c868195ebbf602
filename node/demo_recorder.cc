// node::RecordedTopic and the demos' small helpers (demo_recorder.h).
#include "node/demo_recorder.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "core/client/consumer.h"
#include "core/client/partitioner.h"
#include "io/assert.h"
#include "io/posix/posix_network.h"
#include "io/sync.h"

namespace meridian::node {

using std::chrono::milliseconds;
using std::chrono::seconds;

double Millis(io::Duration duration) {
  return std::chrono::duration<double, std::milli>(duration).count();
}

double Quantile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[static_cast<size_t>(q * static_cast<double>(values.size() - 1))];
}

RecordedTopic::RecordedTopic(io::Runtime& rt, std::string topic, uint32_t partitions)
    : rt_(rt),
      topic_(std::move(topic)),
      partitions_(partitions),
      pending_(partitions),
      draining_(partitions, false),
      resolved_waiters_(rt) {
  MERIDIAN_CHECK(partitions_ >= 1);
}

RecordedTopic::~RecordedTopic() {
  // Each pending delivery resolves or reaches its deadline; cooperative fibers then finish
  // their loop before this one runs again.
  (void)resolved_waiters_.WaitUntil([this] { return outstanding_ == 0; }, io::Instant::Infinite(),
                                    "deliveries");
}

absl::Status RecordedTopic::Send(core::client::Producer& producer, int records,
                                 io::Instant deadline) {
  for (int i = 0; i < records; i++) {
    const int64_t value = next_value_++;
    const std::string key = fmt::format("customer-{}", value % 50);
    checks::Operation send{
        .process = next_process_++, .f = checks::Function::kSend, .invoke_ns = rt_.Now().nanos()};
    send.partition = core::client::PartitionForKey(key, partitions_);
    send.values = {value};
    send.key = key;  // The checker judges the producer's routing (misrouted-key).
    send.partition_count = partitions_;
    history_.operations.push_back(send);
    absl::StatusOr<std::shared_ptr<core::client::DeliveryPromise>> sent =
        producer.Send(topic_, key, std::to_string(value), {}, 0, deadline);
    if (!sent.ok()) {
      // Refused before it was queued: it certainly did not happen.
      history_.operations.back().outcome = checks::Outcome::kFail;
      history_.operations.back().complete_ns = rt_.Now().nanos();
      return sent.status();
    }
    send.partition = (*sent)->partition();
    history_.operations.back().partition = send.partition;
    pending_[send.partition].push_back(
        {history_.operations.size() - 1, rt_.Now(), deadline + seconds(5), *sent});
    outstanding_++;
    if (!draining_[send.partition]) {
      draining_[send.partition] = true;
      const uint32_t partition = static_cast<uint32_t>(send.partition);
      rt_.Spawn("demo-deliveries", [this, partition] { DrainPartition(partition); });
    }
  }
  return absl::OkStatus();
}

void RecordedTopic::Resolve(const Pending& pending) {
  auto waited = pending.delivery->Wait(pending.deadline);
  checks::Operation& op = history_.operations[pending.op];
  op.complete_ns = rt_.Now().nanos();
  if (waited.ok() && (*waited)->ok() && (**waited)->offset.has_value()) {
    op.outcome = checks::Outcome::kOk;
    op.offsets = {static_cast<int64_t>((**waited)->offset->value())};
    latencies_ms_.push_back(Millis(rt_.Now() - pending.sent));
    resolved_.acknowledged++;
    acknowledged_++;
  } else {
    op.outcome = checks::Outcome::kInfo;  // Unknown: the checker allows either way.
    if (resolved_.unknown++ == 0) {
      resolved_.first_error = !waited.ok()       ? waited.status().ToString()
                              : !(*waited)->ok() ? (*waited)->status().ToString()
                                                 : "no offset";
    }
  }
}

void RecordedTopic::DrainPartition(uint32_t partition) {
  while (!pending_[partition].empty()) {
    const Pending next = pending_[partition].front();
    pending_[partition].pop_front();
    Resolve(next);
    outstanding_--;
    resolved_waiters_.NotifyAll();
  }
  draining_[partition] = false;
}

RecordedTopic::Resolved RecordedTopic::Wait(io::Instant deadline) {
  (void)resolved_waiters_.WaitUntil([this] { return outstanding_ == 0; }, deadline, "deliveries");
  Resolved resolved = std::move(resolved_);
  resolved_ = {};
  return resolved;
}

absl::StatusOr<uint64_t> RecordedTopic::ConsumeAll(core::client::Client& client, io::Duration limit,
                                                   uint64_t extra) {
  core::client::ConsumerOptions options;
  options.auto_offset_reset = core::client::OffsetReset::kNone;
  core::client::Consumer consumer(client, options);
  const int64_t process = next_process_++;
  checks::Operation assign{.process = process,
                           .f = checks::Function::kAssign,
                           .outcome = checks::Outcome::kOk,
                           .invoke_ns = rt_.Now().nanos()};
  std::vector<core::client::TopicPartition> all;
  for (uint32_t p = 0; p < partitions_; p++) {
    all.push_back({topic_, p});
    assign.partitions.push_back(p);
  }
  // A node that just restarted may not know the topic yet (its metadata lags the controller):
  // UnknownTopicOrPartition (NotFound) is retried until `limit`, like the producer does.
  const io::Instant start = rt_.Now();
  while (true) {
    absl::Status assigned = consumer.Assign(all);
    if (assigned.ok()) break;
    if (!absl::IsNotFound(assigned) || rt_.Now() >= start + limit) return assigned;
    (void)rt_.Sleep(milliseconds(200));
  }
  assign.complete_ns = rt_.Now().nanos();
  history_.operations.push_back(assign);
  uint64_t read = 0;
  bool drained = false;  // An empty poll after the count was reached: every partition's end.
  while (!(read >= acknowledged_ + extra && drained) && rt_.Now() < start + limit) {
    checks::Operation poll{.process = process,
                           .f = checks::Function::kPoll,
                           .outcome = checks::Outcome::kOk,
                           .invoke_ns = rt_.Now().nanos()};
    absl::StatusOr<std::vector<core::client::ConsumedRecord>> records =
        consumer.Poll(milliseconds(500));
    if (!records.ok() && absl::IsNotFound(records.status())) {
      (void)rt_.Sleep(milliseconds(200));  // As above: a lagging node's metadata.
      continue;
    }
    if (!records.ok()) return records.status();
    for (const core::client::ConsumedRecord& record : *records) {
      int64_t value = 0;
      if (!absl::SimpleAtoi(record.value, &value)) {
        return absl::DataLossError(fmt::format("a record of {} holds '{}'", topic_, record.value));
      }
      poll.reads.push_back({record.partition, static_cast<int64_t>(record.offset.value()), value});
    }
    read += records->size();
    drained = records->empty();
    poll.complete_ns = rt_.Now().nanos();
    if (!poll.reads.empty()) history_.operations.push_back(poll);
  }
  consumer.Close();
  return read;
}

absl::StatusOr<checks::CheckReport> RecordedTopic::Judge(const char* label) {
  std::sort(history_.operations.begin(), history_.operations.end(),
            [](const auto& a, const auto& b) { return a.invoke_ns < b.invoke_ns; });
  checks::FinishHistory(&history_);
  absl::StatusOr<checks::CheckReport> report = checks::CheckLog(history_, {});
  if (!report.ok()) {
    fmt::print("{}: the log checker rejected the history of '{}': {}\n", label, topic_,
               report.status().ToString());
    return report;
  }
  fmt::print("{}: checks/ log checker on the history of '{}' ({} operations): {}\n", label, topic_,
             history_.operations.size(), checks::VerdictName(report->verdict));
  for (const checks::Finding& finding : report->findings) {
    fmt::print("{}:   {}: {}\n", label, finding.kind, finding.detail);
  }
  return report;
}

io::Instant RecordedTopic::FirstAckOfSendAfter(uint32_t partition, io::Instant after) const {
  int64_t first = io::Instant::Infinite().nanos();
  for (const checks::Operation& op : history_.operations) {
    if (op.f == checks::Function::kSend && op.outcome == checks::Outcome::kOk &&
        op.partition == partition && op.invoke_ns > after.nanos()) {
      first = std::min(first, op.complete_ns);
    }
  }
  return io::Instant::FromNanos(first);
}

uint64_t RecordedTopic::ExcuseDiscarded(uint32_t partition, int64_t promoted_offset,
                                        io::Instant acknowledged_before) {
  uint64_t excused = 0;
  for (checks::Operation& op : history_.operations) {
    if (op.f == checks::Function::kSend && op.outcome == checks::Outcome::kOk &&
        op.partition == partition && op.offsets.size() == 1 && op.offsets[0] >= promoted_offset &&
        op.complete_ns < acknowledged_before.nanos()) {
      op.outcome = checks::Outcome::kInfo;
      op.offsets.clear();
      excused++;
    }
  }
  acknowledged_ -= excused;
  return excused;
}

int64_t RecordedTopic::EndOffset(uint32_t partition) const {
  int64_t end = 0;
  for (const checks::Operation& op : history_.operations) {
    if (op.f == checks::Function::kSend && op.outcome == checks::Outcome::kOk &&
        op.partition == partition && op.offsets.size() == 1) {
      end = std::max(end, op.offsets[0] + 1);
    }
  }
  return end;
}

int LeaderOf(core::client::Client& client, const std::vector<NodeProcess>& nodes,
             const std::string& topic, uint32_t partition) {
  for (const NodeProcess& node : nodes) {
    if (node.pid <= 0) continue;
    absl::StatusOr<core::wire::ReplicaStatusResponseT> status =
        client.ReplicaStatus(io::NodeId(node.id));
    if (!status.ok()) continue;
    for (const auto& replica : status->replicas) {
      if (replica->topic == topic && replica->partition == partition && replica->role == "leader") {
        return node.id;
      }
    }
  }
  return 0;
}

std::string HttpGet(io::Runtime& rt, const io::Address& address, const std::string& path) {
  absl::StatusOr<std::unique_ptr<io::Stream>> http =
      static_cast<io::posix::PosixNetwork&>(rt.network())
          .ConnectPlain(address, rt.Now() + seconds(2));
  if (!http.ok()) return "";
  const std::string get = fmt::format("GET {} HTTP/1.0\r\n\r\n", path);
  if (!(*http)->Write(std::vector<uint8_t>(get.begin(), get.end()), rt.Now() + seconds(2)).ok()) {
    return "";
  }
  std::string response;
  std::vector<uint8_t> buffer(4096);
  while (true) {
    absl::StatusOr<size_t> n = (*http)->Read(buffer, rt.Now() + seconds(2));
    if (!n.ok() || *n == 0) break;
    response.append(buffer.begin(), buffer.begin() + static_cast<ptrdiff_t>(*n));
  }
  return response;
}

bool RunDemo(const char* label, LocalCluster& cluster,
             const std::function<bool(io::posix::PosixRuntime&)>& body) {
  bool ok = false;
  {
    absl::StatusOr<std::unique_ptr<io::posix::PosixRuntime>> runtime =
        io::posix::PosixRuntime::Create({.node = io::NodeId(100),
                                         .data_dir = cluster.root() + "/client",
                                         .security = cluster.ClientSecurity()});
    if (!runtime.ok()) {
      fmt::print("{}: no client runtime: {}\n", label, runtime.status().ToString());
    } else {
      io::posix::PosixRuntime& rt = **runtime;
      rt.Spawn(label, [&] {
        ok = body(rt);  // Its client and fibers are gone when it returns.
        rt.Stop();
      });
      rt.Run();
    }
  }
  const bool clean = cluster.StopAll();
  fmt::print("{}: all nodes stopped on SIGTERM, {}\n", label, clean ? "exit 0" : "NOT cleanly");
  std::filesystem::remove_all(cluster.root());
  return ok && clean;
}

double MetricValue(const std::string& text, const std::string& name) {
  const std::string prefix = "\n" + name + " ";
  const size_t at = text.find(prefix);
  if (at == std::string::npos) return -1;
  const size_t begin = at + prefix.size();
  const size_t end = text.find('\n', begin);
  double value = -1;
  if (!absl::SimpleAtod(text.substr(begin, end - begin), &value)) return -1;
  return value;
}

}  // namespace meridian::node
