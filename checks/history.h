// The history format (docs/history-format.md): what a simulator or a real-cluster harness
// records about every client operation, one JSON object per line, and its in-memory form.
//
// A history is a sequence of events. A process (a single-threaded client) invokes an operation
// and later completes it with ok (it happened, with these results), fail (it certainly did not
// happen) or info (unknown: it may or may not have happened, possibly later). Reading pairs each
// invocation with its completion into an `Operation`; an invocation with no completion by the end
// of the file is treated as info. What stays true of a parsed `History`:
//   - events are in file order and their times never decrease;
//   - a process has at most one operation in flight, and never invokes after an info completion;
//   - `operations` are ordered by invocation, and `operations[i].id == i`.
#ifndef MERIDIAN_CHECKS_HISTORY_H_
#define MERIDIAN_CHECKS_HISTORY_H_

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace meridian::checks {

inline constexpr int64_t kLinesMax = 50'000'000;
inline constexpr int64_t kLineBytesMax = 1 << 20;
inline constexpr int64_t kBatchValuesMax = 1 << 16;
// Completion time of an operation whose outcome is unknown: it may take effect at any later time.
inline constexpr int64_t kTimeNsInfinite = std::numeric_limits<int64_t>::max();
// The register/key-value models' "never written" value, written as null in the file.
inline constexpr int64_t kValueNone = std::numeric_limits<int64_t>::min();

enum class EventType { kInvoke, kOk, kFail, kInfo };
enum class Outcome { kOk, kFail, kInfo };

// Log operations (send, poll, commit, assign) and register/key-value operations (read, write,
// cas). A history may mix them, but each checker looks only at the kinds it understands.
enum class Function { kSend, kPoll, kCommit, kAssign, kRead, kWrite, kCas };

const char* EventTypeName(EventType type);
const char* OutcomeName(Outcome outcome);
const char* FunctionName(Function f);
bool IsLogFunction(Function f);

// One record observed by a poll: `value` sits at `offset` of `partition`.
struct Read {
  int64_t partition = 0;
  int64_t offset = 0;
  int64_t value = 0;
  friend bool operator==(const Read&, const Read&) = default;
};

// A consumer's committed position in one partition.
struct Commit {
  int64_t partition = 0;
  int64_t offset = 0;
  friend bool operator==(const Commit&, const Commit&) = default;
};

// One invocation paired with its completion. Request fields come from the invocation, result
// fields (offsets, reads, a read's value) from an ok completion.
struct Operation {
  int64_t id = 0;
  int64_t process = 0;
  Function f = Function::kSend;
  Outcome outcome = Outcome::kInfo;
  int64_t invoke_ns = 0;
  int64_t complete_ns = kTimeNsInfinite;  // time of the completion; kTimeNsInfinite if none
  int64_t invoke_line = 0;                // 1-based line numbers in the file, 0 when absent
  int64_t complete_line = 0;

  // send: all `values` go to `partition`; an ok send reports one offset per value.
  int64_t partition = -1;
  // send, optional: the topic's partition count the producer routed the batch's record key
  // (`key`) by; -1 when absent. The log checker expects Kafka's default partitioner then.
  int64_t partition_count = -1;
  // send, optional: the producer (one client-side producer object) that accepted the send, and
  // the order it accepted its sends in (strictly increasing per producer); -1 when absent. A
  // producer keeps a partition's records in that order (the log checker's producer-order).
  int64_t producer = -1;
  int64_t producer_seq = -1;
  std::vector<int64_t> values;
  std::vector<int64_t> offsets;
  // poll: records read, in the order the consumer returned them.
  std::vector<Read> reads;
  // commit: positions committed. assign: partitions the consumer now reads.
  std::vector<Commit> commits;
  std::vector<int64_t> partitions;
  // assign, ok completion, optional: (partition, offset) pairs, each the earliest offset the
  // partition's log still held when the consumer asked (retention deleted everything below).
  std::vector<Commit> starts;
  // assign and commit, optional: the consumer group generation the consumer acted in (a group
  // member's assignment, or the generation it committed as); -1 when absent (not a group).
  int64_t generation = -1;
  // read/write/cas on a register, named by `key` ("" for a lone register); on a send with a
  // partition_count, the record key every value of the batch was sent with. `value` is what a
  // write writes, what an ok read returned, or a cas's new value; `expected` is a cas's old value.
  std::string key;
  int64_t value = kValueNone;
  int64_t expected = kValueNone;

  bool ok() const { return outcome == Outcome::kOk; }
  bool failed() const { return outcome == Outcome::kFail; }
  bool indeterminate() const { return outcome == Outcome::kInfo; }
  // The latest time the operation can have taken effect: an info operation may take effect at
  // any time after its invocation, even after its info completion was recorded.
  int64_t effect_deadline_ns() const { return indeterminate() ? kTimeNsInfinite : complete_ns; }
};

struct History {
  std::vector<Operation> operations;
  int64_t processes_count = 0;  // distinct process ids
  bool has_log_operations = false;
  bool has_register_operations = false;
};

// Parses a whole history file's text. Errors name the 1-based line and column.
absl::StatusOr<History> ParseHistory(std::string_view text);
absl::StatusOr<History> ReadHistoryFile(const std::string& path);

// Writes `history` back as JSON lines, invocations and completions interleaved by time (ties
// broken by invocation order), so that ParseHistory(FormatHistory(h)) describes the same history.
std::string FormatHistory(const History& history);

// Assigns ids and derives the summary fields after a generator built `operations` directly.
// Crashes on malformed operations: generators are code, not input.
void FinishHistory(History* history);

}  // namespace meridian::checks

#endif  // MERIDIAN_CHECKS_HISTORY_H_
