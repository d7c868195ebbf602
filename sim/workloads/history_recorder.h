// sim::HistoryRecorder: records a simulated workload's client operations in the checks/ history
// format, on the world's virtual clock. Each recording process is single-threaded (one open
// operation); after an info completion the process id is retired and the caller takes a new
// one (the Jepsen convention docs/history-format.md asks for).
#pragma once

#include <cstdint>
#include <vector>

#include "checks/history.h"
#include "io/assert.h"
#include "sim/world.h"

namespace meridian::sim {

class HistoryRecorder {
 public:
  explicit HistoryRecorder(World& world) : world_(world) {}

  int64_t NewProcess() { return next_process_++; }
  int64_t NextValue() { return next_value_++; }

  // Starts an operation and returns its handle for Complete.
  size_t Invoke(int64_t process, checks::Function f) {
    checks::Operation op;
    op.process = process;
    op.f = f;
    op.invoke_ns = world_.Now().nanos();
    operations_.push_back(std::move(op));
    return operations_.size() - 1;
  }
  checks::Operation& operation(size_t handle) { return operations_.at(handle); }
  void Complete(size_t handle, checks::Outcome outcome) {
    checks::Operation& op = operations_.at(handle);
    MERIDIAN_CHECK(op.complete_ns == checks::kTimeNsInfinite, "operation completed twice");
    op.outcome = outcome;
    op.complete_ns = world_.Now().nanos();
    if (outcome != checks::Outcome::kOk) {
      op.offsets.clear();
      op.reads.clear();
    }
  }
  // Every operation so far; open ones stay open (info).
  checks::History Build() const {
    checks::History history;
    history.operations = operations_;
    for (checks::Operation& op : history.operations) {
      if (op.complete_ns == checks::kTimeNsInfinite) op.outcome = checks::Outcome::kInfo;
    }
    checks::FinishHistory(&history);
    return history;
  }
  uint64_t Count(checks::Function f, checks::Outcome outcome) const {
    uint64_t n = 0;
    for (const checks::Operation& op : operations_) {
      if (op.f == f && op.complete_ns != checks::kTimeNsInfinite && op.outcome == outcome) n++;
    }
    return n;
  }
  uint64_t CountOpen(checks::Function f) const {
    uint64_t n = 0;
    for (const checks::Operation& op : operations_) {
      if (op.f == f && op.complete_ns == checks::kTimeNsInfinite) n++;
    }
    return n;
  }

 private:
  World& world_;
  std::vector<checks::Operation> operations_;
  int64_t next_process_ = 0;
  int64_t next_value_ = 1;
};

}  // namespace meridian::sim
