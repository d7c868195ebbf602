// The log checker: Jepsen's Kafka-workload anomaly taxonomy over send/poll/assign operations.
// Every anomaly is defined in docs/checks.md; the names here are the names there.
//
// Preconditions on the workload (violations are bad input, reported as absl::Status):
//   - each value is sent at most once per partition, so a value identifies one send;
//   - offsets are per partition and increase along the log (they need not be dense).
// Indeterminate (info) sends may or may not have happened: their values may be read (that is not
// an anomaly) and they are never counted as lost or unseen. Failed sends certainly did not
// happen: reading their values is an anomaly (aborted-read).
#ifndef MERIDIAN_CHECKS_LOG_CHECKER_H_
#define MERIDIAN_CHECKS_LOG_CHECKER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "checks/history.h"
#include "checks/verdict.h"

namespace meridian::checks {

enum class LogAnomaly {
  kLostWrite,
  kUnseen,
  kDuplicate,
  kInconsistentOffsets,
  kPollSkip,
  kNonmonotonicPoll,
  kNonmonotonicSend,
  kIntSendSkip,
  kIntPollSkip,
  kRealtimeSendOrder,
  kAbortedRead,
  kPhantomRead,
  kMisroutedKey,
  kProducerOrder,
};

const char* LogAnomalyName(LogAnomaly anomaly);

struct LogCheckOptions {
  // An acknowledged value nobody read by the end is "unseen". It is an anomaly when the history
  // ends with consumers draining every partition (the workload's final reads); a history cut off
  // mid-run should turn this off, and then unseen values are only counted in the notes.
  bool unseen_is_anomaly = true;
};

// Checks the log operations of `history` (register operations are ignored). The report's
// findings are ordered by (anomaly kind, partition, offset/value), so output is deterministic.
absl::StatusOr<CheckReport> CheckLog(const History& history, const LogCheckOptions& options);

}  // namespace meridian::checks

#endif  // MERIDIAN_CHECKS_LOG_CHECKER_H_
