#include "checks/log_checker.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "checks/assert.h"
#include "checks/kafka_partition.h"

namespace meridian::checks {

const char* LogAnomalyName(LogAnomaly anomaly) {
  switch (anomaly) {
    case LogAnomaly::kLostWrite:
      return "lost-write";
    case LogAnomaly::kUnseen:
      return "unseen";
    case LogAnomaly::kDuplicate:
      return "duplicate";
    case LogAnomaly::kInconsistentOffsets:
      return "inconsistent-offsets";
    case LogAnomaly::kPollSkip:
      return "poll-skip";
    case LogAnomaly::kNonmonotonicPoll:
      return "nonmonotonic-poll";
    case LogAnomaly::kNonmonotonicSend:
      return "nonmonotonic-send";
    case LogAnomaly::kIntSendSkip:
      return "int-send-skip";
    case LogAnomaly::kIntPollSkip:
      return "int-poll-skip";
    case LogAnomaly::kRealtimeSendOrder:
      return "realtime-send-order";
    case LogAnomaly::kAbortedRead:
      return "aborted-read";
    case LogAnomaly::kPhantomRead:
      return "phantom-read";
    case LogAnomaly::kMisroutedKey:
      return "misrouted-key";
    case LogAnomaly::kProducerOrder:
      return "producer-order";
  }
  CHECKS_ASSERT_MSG(false, "unknown log anomaly");
  return "";
}

namespace {

struct Send {
  int64_t op_id = 0;
  Outcome outcome = Outcome::kInfo;
  int64_t offset = -1;  // the acknowledged offset; -1 unless the send is ok
};

// Everything known about one partition, gathered from ok sends and ok polls.
struct PartitionFacts {
  absl::btree_map<int64_t, Send> sends;  // value -> its (unique) send
  // offset -> value -> first operation that showed the value there, and the converse.
  absl::btree_map<int64_t, absl::btree_map<int64_t, int64_t>> values_at_offset;
  absl::btree_map<int64_t, absl::btree_map<int64_t, int64_t>> offsets_of_value;
  absl::btree_map<int64_t, int64_t> first_reader;  // value -> first poll that read it
  int64_t read_offset_max = -1;
  int64_t read_offset_max_op = -1;
  // The highest log start any ok assign reported: retention deleted every offset below it.
  int64_t expired_below = 0;
  std::vector<int64_t> known_offsets;  // sorted, distinct: the version order

  void Observe(int64_t offset, int64_t value, int64_t op_id) {
    values_at_offset[offset].try_emplace(value, op_id);
    offsets_of_value[value].try_emplace(offset, op_id);
  }

  // Position of `offset` in the version order; every observed offset has one.
  int64_t Index(int64_t offset) const {
    auto it = std::lower_bound(known_offsets.begin(), known_offsets.end(), offset);
    CHECKS_ASSERT(it != known_offsets.end());
    CHECKS_ASSERT(*it == offset);
    return it - known_offsets.begin();
  }
};

class LogChecker {
 public:
  LogChecker(const History& history, const LogCheckOptions& options)
      : history_(history), options_(options) {}

  absl::StatusOr<CheckReport> Run() && {
    if (absl::Status s = Gather(); !s.ok()) return s;
    CheckOffsets();
    CheckReads();
    CheckSends();
    CheckRouting();
    if (absl::Status s = CheckProducerOrder(); !s.ok()) return s;
    CheckPolls();
    for (auto& [partition, facts] : partitions_) CheckRealtime(partition, facts);
    return Finish();
  }

 private:
  std::string Where(int64_t op_id) const {
    const Operation& op = history_.operations[op_id];
    return absl::StrFormat("op %d (process %d, line %d)", op.id, op.process, op.invoke_line);
  }

  void Add(LogAnomaly kind, int64_t partition, int64_t order_key, std::string detail,
           std::vector<int64_t> op_ids) {
    std::sort(op_ids.begin(), op_ids.end());
    op_ids.erase(std::unique(op_ids.begin(), op_ids.end()), op_ids.end());
    CHECKS_ASSERT(!op_ids.empty());
    found_.push_back({kind, partition, order_key,
                      Finding{LogAnomalyName(kind), std::move(detail), std::move(op_ids)}});
  }

  absl::Status Gather();
  void CheckOffsets();
  void CheckReads();
  void CheckSends();
  void CheckRouting();
  absl::Status CheckProducerOrder();
  void CheckPolls();
  void CheckPollSequence(const Operation& op, int64_t partition,
                         const std::vector<int64_t>& offsets,
                         absl::btree_map<std::pair<int64_t, int64_t>, int64_t>* last_read);
  void CheckRealtime(int64_t partition, const PartitionFacts& facts);
  CheckReport Finish();

  struct Found {
    LogAnomaly kind;
    int64_t partition;
    int64_t order_key;
    Finding finding;
  };

  const History& history_;
  const LogCheckOptions options_;
  absl::btree_map<int64_t, PartitionFacts> partitions_;
  std::vector<Found> found_;
  int64_t unseen_count_ = 0;
  int64_t expired_count_ = 0;
  int64_t reads_count_ = 0;
};

absl::Status LogChecker::Gather() {
  for (const Operation& op : history_.operations) {
    if (op.f == Function::kSend) {
      PartitionFacts& facts = partitions_[op.partition];
      for (size_t i = 0; i < op.values.size(); i++) {
        auto [it, inserted] = facts.sends.try_emplace(op.values[i], Send{op.id, op.outcome});
        if (!inserted) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "line %d: value %d is sent to partition %d again (first on line %d); the log "
              "checker needs unique values per partition",
              op.invoke_line, op.values[i], op.partition,
              history_.operations[it->second.op_id].invoke_line));
        }
        if (!op.ok()) continue;
        it->second.offset = op.offsets[i];
        facts.Observe(op.offsets[i], op.values[i], op.id);
      }
    } else if (op.f == Function::kAssign && op.ok()) {
      for (const Commit& start : op.starts) {
        PartitionFacts& facts = partitions_[start.partition];
        facts.expired_below = std::max(facts.expired_below, start.offset);
      }
    } else if (op.f == Function::kPoll && op.ok()) {
      for (const Read& read : op.reads) {
        PartitionFacts& facts = partitions_[read.partition];
        facts.Observe(read.offset, read.value, op.id);
        facts.first_reader.try_emplace(read.value, op.id);
        if (read.offset > facts.read_offset_max) {
          facts.read_offset_max = read.offset;
          facts.read_offset_max_op = op.id;
        }
        reads_count_++;
      }
    }
  }
  for (auto& [partition, facts] : partitions_) {
    for (const auto& [offset, values] : facts.values_at_offset) {
      facts.known_offsets.push_back(offset);
    }
  }
  return absl::OkStatus();
}

void LogChecker::CheckOffsets() {
  for (const auto& [partition, facts] : partitions_) {
    for (const auto& [offset, values] : facts.values_at_offset) {
      if (values.size() < 2) continue;
      std::string detail = absl::StrFormat("offset %d of partition %d holds", offset, partition);
      std::vector<int64_t> ops;
      for (const auto& [value, op_id] : values) {
        absl::StrAppendFormat(&detail, " value %d (seen by %s);", value, Where(op_id));
        ops.push_back(op_id);
      }
      Add(LogAnomaly::kInconsistentOffsets, partition, offset, detail, ops);
    }
    for (const auto& [value, offsets] : facts.offsets_of_value) {
      if (offsets.size() < 2) continue;
      std::string detail = absl::StrFormat("value %d of partition %d is at", value, partition);
      std::vector<int64_t> ops;
      for (const auto& [offset, op_id] : offsets) {
        absl::StrAppendFormat(&detail, " offset %d (seen by %s);", offset, Where(op_id));
        ops.push_back(op_id);
      }
      Add(LogAnomaly::kDuplicate, partition, value, detail, ops);
    }
  }
}

void LogChecker::CheckReads() {
  for (const auto& [partition, facts] : partitions_) {
    for (const auto& [value, reader] : facts.first_reader) {
      auto send = facts.sends.find(value);
      if (send == facts.sends.end()) {
        Add(LogAnomaly::kPhantomRead, partition, value,
            absl::StrFormat("%s read value %d from partition %d, which no operation sent",
                            Where(reader), value, partition),
            {reader});
      } else if (send->second.outcome == Outcome::kFail) {
        Add(LogAnomaly::kAbortedRead, partition, value,
            absl::StrFormat("%s read value %d from partition %d, whose send %s failed",
                            Where(reader), value, partition, Where(send->second.op_id)),
            {reader, send->second.op_id});
      }
    }
    for (const auto& [value, send] : facts.sends) {
      if (send.outcome != Outcome::kOk || facts.first_reader.contains(value)) continue;
      if (send.offset < facts.expired_below) {
        expired_count_++;  // Deleted by retention before anyone read it: not lost.
        continue;
      }
      if (facts.read_offset_max > send.offset) {
        Add(LogAnomaly::kLostWrite, partition, send.offset,
            absl::StrFormat("value %d acknowledged at offset %d of partition %d by %s was never "
                            "read, yet %s read offset %d",
                            value, send.offset, partition, Where(send.op_id),
                            Where(facts.read_offset_max_op), facts.read_offset_max),
            {send.op_id, facts.read_offset_max_op});
        continue;
      }
      unseen_count_++;
      if (!options_.unseen_is_anomaly) continue;
      Add(LogAnomaly::kUnseen, partition, send.offset,
          absl::StrFormat("value %d acknowledged at offset %d of partition %d by %s was never "
                          "read by the end of the history (highest offset read: %d)",
                          value, send.offset, partition, Where(send.op_id), facts.read_offset_max),
          {send.op_id});
    }
  }
}

void LogChecker::CheckSends() {
  // (process, partition) -> the op id of its last acknowledged send there.
  absl::btree_map<std::pair<int64_t, int64_t>, int64_t> last_send;
  for (const Operation& op : history_.operations) {
    if (op.f != Function::kSend || !op.ok()) continue;
    const PartitionFacts& facts = partitions_.at(op.partition);
    for (size_t i = 0; i + 1 < op.offsets.size(); i++) {
      const int64_t a = op.offsets[i];
      const int64_t b = op.offsets[i + 1];
      if (b <= a) {
        Add(LogAnomaly::kNonmonotonicSend, op.partition, a,
            absl::StrFormat("%s sent values %d then %d in one batch but got offsets %d then %d",
                            Where(op.id), op.values[i], op.values[i + 1], a, b),
            {op.id});
      } else if (facts.Index(b) > facts.Index(a) + 1) {
        const int64_t skipped = facts.known_offsets[facts.Index(a) + 1];
        Add(LogAnomaly::kIntSendSkip, op.partition, a,
            absl::StrFormat("%s sent values %d then %d in one batch at offsets %d and %d of "
                            "partition %d, but offset %d between them holds value %d",
                            Where(op.id), op.values[i], op.values[i + 1], a, b, op.partition,
                            skipped, facts.values_at_offset.at(skipped).begin()->first),
            {op.id, facts.values_at_offset.at(skipped).begin()->second});
      }
    }
    auto [last, inserted] = last_send.try_emplace({op.process, op.partition}, op.id);
    if (!inserted) {
      const Operation& previous = history_.operations[last->second];
      if (op.offsets.front() <= previous.offsets.back()) {
        Add(LogAnomaly::kNonmonotonicSend, op.partition, op.offsets.front(),
            absl::StrFormat("process %d's send %s got offset %d of partition %d, not after "
                            "offset %d of its earlier send %s",
                            op.process, Where(op.id), op.offsets.front(), op.partition,
                            previous.offsets.back(), Where(previous.id)),
            {previous.id, op.id});
      }
      last->second = op.id;
    }
  }
}

// A keyed send names the partition count it routed by: it must be where Kafka's default
// partitioner puts the key, so every producer (Kafka's and Meridian's) agrees where a key lives.
// Judged for every outcome: the routing happened before the send did or did not. One finding per
// (key, partition count, partition), naming the first few sends.
void LogChecker::CheckRouting() {
  constexpr size_t kOpsNamedMax = 8;
  absl::btree_map<std::tuple<std::string, int64_t, int64_t>, std::vector<int64_t>> misrouted;
  for (const Operation& op : history_.operations) {
    if (op.f != Function::kSend || op.partition_count <= 0) continue;
    if (op.partition == KafkaKeyPartition(op.key, op.partition_count)) continue;
    misrouted[{op.key, op.partition_count, op.partition}].push_back(op.id);
  }
  for (auto& [routing, op_ids] : misrouted) {
    const auto& [key, count, partition] = routing;
    std::string shown = key.substr(0, 64);
    if (shown.size() < key.size()) shown += "...";
    const size_t sends = op_ids.size();
    const int64_t first = op_ids.front();
    if (op_ids.size() > kOpsNamedMax) op_ids.resize(kOpsNamedMax);
    Add(LogAnomaly::kMisroutedKey, partition, first,
        absl::StrFormat("%s and %d more send(s) sent key \"%s\" to partition %d, but Kafka's "
                        "default partitioner puts it in partition %d of %d",
                        Where(first), sends - 1, absl::CHexEscape(shown), partition,
                        KafkaKeyPartition(key, count), count),
        std::move(op_ids));
  }
}

// A producer keeps a partition's records in the order it accepted the sends (Kafka's ordering
// guarantee, with any number of batches in flight): among the ok sends of one producer to one
// partition, a later producer_seq must land after an earlier one. Bad input: a producer_seq
// used twice by one producer.
absl::Status LogChecker::CheckProducerOrder() {
  absl::btree_map<std::pair<int64_t, int64_t>, int64_t> seen;  // (producer, seq) -> op
  absl::btree_map<std::tuple<int64_t, int64_t, int64_t>, int64_t> ok_sends;
  for (const Operation& op : history_.operations) {
    if (op.f != Function::kSend || op.producer < 0) continue;
    auto [it, inserted] = seen.try_emplace({op.producer, op.producer_seq}, op.id);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "line %d: producer %d uses producer_seq %d again (first on line %d)", op.invoke_line,
          op.producer, op.producer_seq, history_.operations[it->second].invoke_line));
    }
    if (op.ok()) ok_sends[{op.producer, op.partition, op.producer_seq}] = op.id;
  }
  const Operation* previous = nullptr;
  for (const auto& [where, op_id] : ok_sends) {
    const Operation& op = history_.operations[op_id];
    const bool same = previous != nullptr && previous->producer == op.producer &&
                      previous->partition == op.partition;
    if (same && op.offsets.front() <= previous->offsets.back()) {
      Add(LogAnomaly::kProducerOrder, op.partition, op.offsets.front(),
          absl::StrFormat("producer %d accepted %s (value %d) after %s (value %d), but it got "
                          "offset %d of partition %d, not after offset %d",
                          op.producer, Where(op.id), op.values.front(), Where(previous->id),
                          previous->values.back(), op.offsets.front(), op.partition,
                          previous->offsets.back()),
          {previous->id, op.id});
    }
    previous = &op;
  }
  return absl::OkStatus();
}

void LogChecker::CheckPolls() {
  // (process, partition) -> the last offset that process polled there since its last assign.
  absl::btree_map<std::pair<int64_t, int64_t>, int64_t> last_read;
  for (const Operation& op : history_.operations) {
    if (op.f == Function::kAssign) {
      // A new assignment may legitimately rewind to a committed offset: start afresh. A failed
      // one has no effect (docs/history-format.md), so the consumer's position stands.
      if (!op.failed()) {
        last_read.erase(last_read.lower_bound({op.process, INT64_MIN}),
                        last_read.upper_bound({op.process, INT64_MAX}));
      }
      continue;
    }
    if (op.f != Function::kPoll || !op.ok()) continue;
    absl::btree_map<int64_t, std::vector<int64_t>> offsets_by_partition;
    for (const Read& read : op.reads) offsets_by_partition[read.partition].push_back(read.offset);
    for (const auto& [partition, offsets] : offsets_by_partition) {
      CheckPollSequence(op, partition, offsets, &last_read);
    }
  }
}

void LogChecker::CheckPollSequence(
    const Operation& op, int64_t partition, const std::vector<int64_t>& offsets,
    absl::btree_map<std::pair<int64_t, int64_t>, int64_t>* last_read) {
  CHECKS_ASSERT(!offsets.empty());
  const PartitionFacts& facts = partitions_.at(partition);
  auto skipped_detail = [&](int64_t a, int64_t b) {
    const int64_t skipped = facts.known_offsets[facts.Index(a) + 1];
    return absl::StrFormat("read offset %d then %d of partition %d, skipping offset %d (value %d)",
                           a, b, partition, skipped,
                           facts.values_at_offset.at(skipped).begin()->first);
  };
  for (size_t i = 0; i + 1 < offsets.size(); i++) {
    const int64_t a = offsets[i];
    const int64_t b = offsets[i + 1];
    if (b <= a) {
      Add(LogAnomaly::kNonmonotonicPoll, partition, a,
          absl::StrFormat("%s read offset %d then %d of partition %d within one poll", Where(op.id),
                          a, b, partition),
          {op.id});
    } else if (facts.Index(b) > facts.Index(a) + 1) {
      Add(LogAnomaly::kIntPollSkip, partition, a,
          absl::StrFormat("%s %s within one poll", Where(op.id), skipped_detail(a, b)), {op.id});
    }
  }
  auto [last, inserted] = last_read->try_emplace({op.process, partition}, offsets.back());
  if (inserted) return;
  const int64_t previous = last->second;
  const int64_t first = offsets.front();
  if (first <= previous) {
    Add(LogAnomaly::kNonmonotonicPoll, partition, first,
        absl::StrFormat("process %d polled up to offset %d of partition %d, then %s read offset "
                        "%d without a new assign in between",
                        op.process, previous, partition, Where(op.id), first),
        {op.id});
  } else if (facts.Index(first) > facts.Index(previous) + 1) {
    Add(LogAnomaly::kPollSkip, partition, previous,
        absl::StrFormat("process %d %s across consecutive polls, the second being %s", op.process,
                        skipped_detail(previous, first), Where(op.id)),
        {op.id});
  }
  last->second = offsets.back();
}

void LogChecker::CheckRealtime(int64_t partition, const PartitionFacts& facts) {
  // An acknowledged send that completed before another began must get lower offsets.
  std::vector<const Operation*> by_invoke;
  for (const auto& [value, send] : facts.sends) {
    if (send.outcome == Outcome::kOk) by_invoke.push_back(&history_.operations[send.op_id]);
  }
  std::sort(by_invoke.begin(), by_invoke.end(),
            [](const Operation* a, const Operation* b) { return a->id < b->id; });
  by_invoke.erase(std::unique(by_invoke.begin(), by_invoke.end()), by_invoke.end());
  std::vector<const Operation*> by_complete = by_invoke;
  std::sort(by_complete.begin(), by_complete.end(), [](const Operation* a, const Operation* b) {
    return std::tie(a->complete_ns, a->id) < std::tie(b->complete_ns, b->id);
  });
  size_t done = 0;
  const Operation* highest = nullptr;  // among sends completed so far, the highest offset
  for (const Operation* b : by_invoke) {
    while (done < by_complete.size() && by_complete[done]->complete_ns < b->invoke_ns) {
      const Operation* a = by_complete[done++];
      if (highest == nullptr || a->offsets.back() > highest->offsets.back()) highest = a;
    }
    if (highest == nullptr || b->offsets.front() > highest->offsets.back()) continue;
    CHECKS_ASSERT(highest->complete_ns < b->invoke_ns);
    Add(LogAnomaly::kRealtimeSendOrder, partition, b->offsets.front(),
        absl::StrFormat("%s got offset %d of partition %d although it began after %s had "
                        "completed with offset %d",
                        Where(b->id), b->offsets.front(), partition, Where(highest->id),
                        highest->offsets.back()),
        {highest->id, b->id});
  }
}

CheckReport LogChecker::Finish() {
  std::stable_sort(found_.begin(), found_.end(), [](const Found& a, const Found& b) {
    return std::tie(a.kind, a.partition, a.order_key) < std::tie(b.kind, b.partition, b.order_key);
  });
  CheckReport report;
  report.checker = "log";
  for (Found& f : found_) report.findings.push_back(std::move(f.finding));
  report.verdict = report.findings.empty() ? Verdict::kValid : Verdict::kInvalid;
  int64_t sends_count[3] = {0, 0, 0};
  int64_t polls_count = 0;
  for (const Operation& op : history_.operations) {
    if (op.f == Function::kSend) sends_count[static_cast<int>(op.outcome)]++;
    if (op.f == Function::kPoll) polls_count++;
  }
  report.notes.push_back(
      absl::StrFormat("%d partitions; sends: %d ok, %d fail, %d info; %d polls reading %d records",
                      partitions_.size(), sends_count[0], sends_count[1], sends_count[2],
                      polls_count, reads_count_));
  if (expired_count_ > 0) {
    report.notes.push_back(absl::StrFormat(
        "%d acknowledged values were deleted by retention before any poll read them (their "
        "offsets are below a log start an assign reported)",
        expired_count_));
  }
  if (unseen_count_ > 0 && !options_.unseen_is_anomaly) {
    report.notes.push_back(absl::StrFormat(
        "%d acknowledged values were not read by the end (unseen is not an anomaly here)",
        unseen_count_));
  }
  return report;
}

}  // namespace

absl::StatusOr<CheckReport> CheckLog(const History& history, const LogCheckOptions& options) {
  return LogChecker(history, options).Run();
}

}  // namespace meridian::checks
