// jepsen::Workload (workload.h).
#include "tests/jepsen/workload.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "absl/strings/numbers.h"
#include "checks/log_checker.h"
#include "core/client/partitioner.h"
#include "core/client/producer.h"
#include "io/assert.h"

namespace meridian::tests::jepsen {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr io::Duration kPollWait = milliseconds(300);
constexpr io::Duration kRetryPause = milliseconds(300);

}  // namespace

Workload::Workload(io::Runtime& runtime, core::client::Client& client, WorkloadOptions options)
    : rt_(runtime), client_(client), options_(std::move(options)) {}

Workload::~Workload() { MERIDIAN_CHECK(fibers_running_ == 0, "Stop() the workload first"); }

absl::Status Workload::CreateTopic(io::Duration timeout) {
  const io::Instant deadline = rt_.Now() + timeout;
  absl::Status last = absl::DeadlineExceededError("no attempt");
  while (rt_.Now() < deadline) {
    absl::StatusOr<core::wire::TopicInfoT> created =
        client_.CreateTopic(options_.topic, options_.partitions, options_.replication);
    if (!created.ok()) created = client_.DescribeTopic(options_.topic);  // an earlier try won
    if (created.ok() && created->partitions.size() == options_.partitions) {
      groups_.assign(options_.partitions, 0);
      replicas_.assign(options_.partitions, {});
      for (const auto& partition : created->partitions) {
        groups_.at(partition->partition) = partition->group;
        replicas_.at(partition->partition) = partition->replicas;
      }
      return absl::OkStatus();
    }
    last = created.status();
    (void)rt_.Sleep(kRetryPause);  // the controller is electing, nodes are registering
  }
  return absl::DeadlineExceededError("could not create the topic: " + last.ToString());
}

size_t Workload::Invoke(checks::Operation op) {
  op.invoke_ns = rt_.Now().nanos();
  op.complete_ns = checks::kTimeNsInfinite;
  op.outcome = checks::Outcome::kInfo;
  history_.operations.push_back(std::move(op));
  return history_.operations.size() - 1;
}

void Workload::Complete(size_t index, checks::Outcome outcome) {
  checks::Operation& op = history_.operations.at(index);
  op.outcome = outcome;
  op.complete_ns = rt_.Now().nanos();
}

void Workload::Start() {
  for (int p = 0; p < options_.producers; p++) {
    fibers_running_++;
    rt_.Spawn(fmt::format("producer-{}", p), [this, p] {
      ProducerLoop(p);
      fibers_running_--;
    });
  }
  for (int c = 0; c < options_.consumers; c++) {
    fibers_running_++;
    rt_.Spawn(fmt::format("consumer-{}", c), [this] {
      ConsumerLoop();
      fibers_running_--;
    });
  }
}

void Workload::Stop() {
  stopping_ = true;
  while (fibers_running_ > 0) (void)rt_.Sleep(milliseconds(50));
}

void Workload::ProducerLoop(int producer_index) {
  const bool idempotent = producer_index % 2 == 0;
  core::client::ProducerOptions options;
  options.idempotent = idempotent;
  options.delivery_timeout = seconds(8);
  options.request_timeout = seconds(3);
  std::unique_ptr<core::client::Producer> producer;
  while (!stopping_ && producer == nullptr) {
    absl::StatusOr<std::unique_ptr<core::client::Producer>> created =
        core::client::Producer::Create(client_, options);
    if (created.ok()) {
      producer = std::move(*created);
    } else {
      (void)rt_.Sleep(kRetryPause);  // no controller right now
    }
  }
  if (producer == nullptr) return;
  int senders = 0;
  for (int i = 0; i < options_.in_flight; i++) {
    senders++;
    rt_.Spawn("sender", [this, &producer, &senders, idempotent] {
      SenderLoop(*producer, idempotent);
      senders--;
    });
  }
  while (senders > 0) (void)rt_.Sleep(milliseconds(50));
  (void)producer->Close(rt_.Now() + seconds(10));
}

void Workload::SenderLoop(core::client::Producer& producer, bool idempotent) {
  int64_t process = next_process_++;
  while (!stopping_) {
    const int64_t value = next_value_++;
    const std::string key = std::to_string(value);
    if (!idempotent) non_idempotent_values_.insert(value);
    checks::Operation send{.process = process, .f = checks::Function::kSend};
    send.partition = core::client::PartitionForKey(key, options_.partitions);
    send.values = {value};
    send.key = key;  // The checker judges the producer's routing (misrouted-key).
    send.partition_count = options_.partitions;
    const size_t op = Invoke(std::move(send));
    absl::StatusOr<std::shared_ptr<core::client::DeliveryPromise>> sent =
        producer.Send(options_.topic, key, key, {}, 0, rt_.Now() + seconds(2));
    if (sent.ok()) history_.operations[op].partition = (*sent)->partition();
    if (!sent.ok()) {  // refused before it was queued: certainly not written
      Complete(op, checks::Outcome::kFail);
      errors_[std::string(absl::StatusCodeToString(sent.status().code()))]++;
      (void)rt_.Sleep(milliseconds(100));
      continue;
    }
    auto waited = (*sent)->Wait(rt_.Now() + seconds(60));
    if (waited.ok() && (*waited)->ok() && (**waited)->offset.has_value()) {
      history_.operations[op].offsets = {static_cast<int64_t>((**waited)->offset->value())};
      Complete(op, checks::Outcome::kOk);
    } else {
      Complete(op, checks::Outcome::kInfo);  // may or may not be written
      errors_[std::string(absl::StatusCodeToString(waited.ok() ? (*waited)->status().code()
                                                               : waited.status().code()))]++;
      process = next_process_++;  // an info process never acts again
    }
  }
}

void Workload::RecordPoll(size_t op, const std::vector<core::client::ConsumedRecord>& records,
                          std::vector<int64_t>* next) {
  checks::Operation& poll = history_.operations.at(op);
  for (const core::client::ConsumedRecord& record : records) {
    int64_t value = 0;
    MERIDIAN_CHECK(absl::SimpleAtoi(record.value, &value), "a value that is not ours: {}",
                   record.value);
    const auto offset = static_cast<int64_t>(record.offset.value());
    poll.reads.push_back({record.partition, offset, value});
    (*next)[record.partition] = offset + 1;
  }
  Complete(op, checks::Outcome::kOk);
}

bool Workload::Assign(core::client::Consumer& consumer, int64_t process,
                      const std::vector<int64_t>& next) {
  checks::Operation assign{.process = process, .f = checks::Function::kAssign};
  std::vector<core::client::TopicPartition> all;
  for (uint32_t p = 0; p < options_.partitions; p++) {
    all.push_back({options_.topic, p});
    assign.partitions.push_back(p);
  }
  const size_t op = Invoke(std::move(assign));
  bool ok = consumer.Assign(all).ok();
  for (uint32_t p = 0; ok && p < options_.partitions; p++) {
    if (next[p] > 0) ok = consumer.Seek(all[p], core::Offset(next[p])).ok();
  }
  Complete(op, ok ? checks::Outcome::kOk : checks::Outcome::kInfo);
  return ok;
}

bool Workload::PollOnce(core::client::Consumer& consumer, int64_t process,
                        std::vector<int64_t>* next) {
  // Invoked before the poll, recorded after it: an empty poll says nothing and is left out
  // (other fibers record operations meanwhile; Judge sorts by invocation time).
  checks::Operation poll{.process = process, .f = checks::Function::kPoll};
  poll.invoke_ns = rt_.Now().nanos();
  absl::StatusOr<std::vector<core::client::ConsumedRecord>> records = consumer.Poll(kPollWait);
  if (records.ok() && records->empty()) return true;
  history_.operations.push_back(std::move(poll));
  const size_t op = history_.operations.size() - 1;
  if (records.ok()) {
    RecordPoll(op, *records, next);
    return true;
  }
  Complete(op, checks::Outcome::kInfo);
  errors_["poll " + std::string(absl::StatusCodeToString(records.status().code()))]++;
  // Out of range: the position is past the log's end (or before its start); start over.
  if (absl::IsOutOfRange(records.status())) next->assign(options_.partitions, 0);
  return false;
}

void Workload::ConsumerLoop() {
  std::vector<int64_t> next(options_.partitions, 0);  // 0: from the log's start
  while (!stopping_) {
    const int64_t process = next_process_++;
    core::client::ConsumerOptions options;
    options.auto_offset_reset = core::client::OffsetReset::kNone;  // every jump is an assign
    core::client::Consumer consumer(client_, options);
    bool ok = Assign(consumer, process, next);
    while (ok && !stopping_) ok = PollOnce(consumer, process, &next);
    consumer.Close();
    if (!ok) (void)rt_.Sleep(kRetryPause);
  }
}

absl::StatusOr<std::vector<int64_t>> Workload::EndOffsets(io::Instant deadline) {
  core::client::ConsumerOptions options;
  options.auto_offset_reset = core::client::OffsetReset::kNone;
  core::client::Consumer probe(client_, options);
  std::vector<core::client::TopicPartition> all;
  for (uint32_t p = 0; p < options_.partitions; p++) all.push_back({options_.topic, p});
  if (absl::Status s = probe.Assign(all); !s.ok()) return s;
  std::vector<int64_t> ends;
  for (const core::client::TopicPartition& tp : all) {
    if (absl::Status s = probe.SeekToEnd(tp); !s.ok()) return s;
    absl::StatusOr<core::Offset> end = probe.Position(tp, deadline);
    if (!end.ok()) return end.status();
    ends.push_back(static_cast<int64_t>(end->value()));
  }
  probe.Close();
  return ends;
}

bool Workload::FinalDrain() {
  const io::Instant deadline = rt_.Now() + options_.drain_timeout;
  // Read at least past every acknowledged offset, and to the end each partition reports.
  std::vector<int64_t> target(options_.partitions, 0);
  for (const checks::Operation& op : history_.operations) {
    if (op.f != checks::Function::kSend || !op.ok()) continue;
    for (int64_t offset : op.offsets)
      target[op.partition] = std::max(target[op.partition], offset + 1);
  }
  absl::StatusOr<std::vector<int64_t>> ends = absl::UnavailableError("not asked");
  while (!ends.ok() && rt_.Now() < deadline) {
    ends = EndOffsets(std::min(deadline, rt_.Now() + seconds(5)));
    if (!ends.ok()) (void)rt_.Sleep(kRetryPause);
  }
  if (!ends.ok()) return false;
  for (uint32_t p = 0; p < options_.partitions; p++) target[p] = std::max(target[p], (*ends)[p]);
  std::vector<int64_t> next(options_.partitions, 0);
  const auto done = [&] {
    for (uint32_t p = 0; p < options_.partitions; p++) {
      if (next[p] < target[p]) return false;
    }
    return true;
  };
  while (!done() && rt_.Now() < deadline) {
    const int64_t process = next_process_++;
    drain_processes_.insert(process);
    core::client::ConsumerOptions options;
    options.auto_offset_reset = core::client::OffsetReset::kNone;
    core::client::Consumer consumer(client_, options);
    bool ok = Assign(consumer, process, next);
    while (ok && !done() && rt_.Now() < deadline) ok = PollOnce(consumer, process, &next);
    consumer.Close();
  }
  drain_complete_ = done();
  return drain_complete_;
}

Verdict Workload::Judge() {
  Verdict v;
  checks::FinishHistory(&history_);  // sorts by invocation and numbers the operations
  absl::StatusOr<checks::CheckReport> report = checks::CheckLog(history_, {});
  if (!report.ok()) {
    v.text = "the log checker rejected the history: " + report.status().ToString() + "\n";
    return v;
  }
  v.report = *report;
  // Lost: acknowledged but not in the final drain (a record read during the run and gone from
  // the log afterwards is lost too). Taken effect: an info send whose value anyone read.
  std::set<std::pair<int64_t, int64_t>> read, drained;  // (partition, value)
  for (const checks::Operation& op : history_.operations) {
    for (const checks::Read& r : op.reads) {
      read.insert({r.partition, r.value});
      if (drain_processes_.contains(op.process)) drained.insert({r.partition, r.value});
    }
  }
  for (const checks::Operation& op : history_.operations) {
    if (op.f != checks::Function::kSend) continue;
    const bool seen = read.contains({op.partition, op.values[0]});
    if (op.ok()) {
      v.acknowledged++;
      if (!drained.contains({op.partition, op.values[0]})) v.lost++;
    } else if (op.indeterminate()) {
      v.indeterminate++;
      if (seen) v.indeterminate_applied++;
    } else {
      v.failed++;
    }
  }
  uint64_t intolerable = 0;
  for (const checks::Finding& finding : report->findings) {
    bool tolerated = finding.kind == "duplicate";
    for (int64_t id : finding.operation_ids) {
      const checks::Operation& op = history_.operations.at(static_cast<size_t>(id));
      if (op.f == checks::Function::kSend && !non_idempotent_values_.contains(op.values[0])) {
        tolerated = false;  // a duplicate of an idempotent producer's record is a bug
      }
    }
    v.tolerated_duplicates += tolerated ? 1 : 0;
    intolerable += tolerated ? 0 : 1;
    // An acknowledged record never read: lost-write when a later offset of its partition was
    // read, unseen when it was the partition's tail (nothing after it survived either).
    v.reports_acked_loss |= finding.kind == "lost-write" || finding.kind == "unseen";
  }
  v.valid = intolerable == 0 && v.lost == 0 && drain_complete_ &&
            report->verdict != checks::Verdict::kUnknown;
  v.text = fmt::format(
      "operations: {}; acknowledged records: {}; lost (missing from the final drain): {}; "
      "indeterminate sends: {} (taken "
      "effect: {}); failed sends: {}\nchecker: {}; findings: {} ({} duplicates of "
      "non-idempotent producers tolerated); final drain {}\n",
      history_.operations.size(), v.acknowledged, v.lost, v.indeterminate, v.indeterminate_applied,
      v.failed, checks::VerdictName(report->verdict), report->findings.size(),
      v.tolerated_duplicates, drain_complete_ ? "complete" : "INCOMPLETE");
  for (const auto& [why, count] : errors_) v.text += fmt::format("  ended by {}: {}\n", why, count);
  return v;
}

}  // namespace meridian::tests::jepsen
