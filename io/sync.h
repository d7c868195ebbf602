// Fiber synchronisation on top of io::Runtime: a wait list, a one-shot event, a bounded channel
// and a single-value promise. All are single-threaded (one node's fibers); waits take a deadline
// and end with DeadlineExceeded or Cancelled rather than blocking forever by accident.
//
// Non-blocking operations (TrySend, Set, Close, Fulfil) may be called from outside a fiber, which
// is how backends hand completions (a delivered message, a finished fsync) to waiting fibers.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "io/assert.h"
#include "io/runtime.h"

namespace meridian::io {

// Fibers waiting for a condition. Notification wakes all of them; each re-checks its condition
// (so a wake is never lost and a spurious one is harmless).
class WaitList {
 public:
  explicit WaitList(Runtime& runtime) : runtime_(runtime) {}

  // Waits until `ready()` is true. Returns OK, DeadlineExceeded or Cancelled.
  template <typename Ready>
  absl::Status WaitUntil(Ready&& ready, Instant deadline, std::string_view what) {
    while (!ready()) {
      waiters_.push_back(runtime_.scheduler().Current());
      const WakeReason reason = runtime_.Park(deadline);
      if (reason != WakeReason::kNotified && !ready()) return WaitEndedStatus(reason, what);
    }
    return absl::OkStatus();
  }

  void NotifyAll() {
    std::vector<FiberId> waiters = std::move(waiters_);
    waiters_.clear();
    for (FiberId fiber : waiters) runtime_.Unpark(fiber);
  }

  Runtime& runtime() { return runtime_; }

 private:
  Runtime& runtime_;
  std::vector<FiberId> waiters_;
};

// A one-shot flag: once set, every Wait returns OK.
class Event {
 public:
  explicit Event(Runtime& runtime) : waiters_(runtime) {}

  void Set() {
    is_set_ = true;
    waiters_.NotifyAll();
  }
  bool is_set() const { return is_set_; }
  absl::Status Wait(Instant deadline = Instant::Infinite()) {
    return waiters_.WaitUntil([this] { return is_set_; }, deadline, "event wait");
  }

 private:
  WaitList waiters_;
  bool is_set_ = false;
};

// A bounded FIFO channel. Closing it wakes everyone: receivers drain what is queued, then get
// FailedPrecondition ("closed"); senders get FailedPrecondition at once.
template <typename T>
class Channel {
 public:
  Channel(Runtime& runtime, size_t capacity)
      : capacity_(capacity), readers_(runtime), writers_(runtime) {
    MERIDIAN_CHECK(capacity > 0);
  }

  // Non-blocking send; false if full or closed.
  bool TrySend(T value) {
    if (closed_ || queue_.size() >= capacity_) return false;
    queue_.push_back(std::move(value));
    readers_.NotifyAll();
    return true;
  }

  absl::Status Send(T value, Instant deadline = Instant::Infinite()) {
    absl::Status waited = writers_.WaitUntil(
        [this] { return closed_ || queue_.size() < capacity_; }, deadline, "channel send");
    if (!waited.ok()) return waited;
    if (closed_) return absl::FailedPreconditionError("channel closed");
    queue_.push_back(std::move(value));
    MERIDIAN_CHECK(queue_.size() <= capacity_);
    readers_.NotifyAll();
    return absl::OkStatus();
  }

  std::optional<T> TryReceive() {
    if (queue_.empty()) return std::nullopt;
    T value = std::move(queue_.front());
    queue_.pop_front();
    writers_.NotifyAll();
    return value;
  }

  absl::StatusOr<T> Receive(Instant deadline = Instant::Infinite()) {
    absl::Status waited = readers_.WaitUntil([this] { return closed_ || !queue_.empty(); },
                                             deadline, "channel receive");
    if (!waited.ok()) return waited;
    if (queue_.empty()) {
      MERIDIAN_CHECK(closed_);
      return absl::FailedPreconditionError("channel closed");
    }
    return *TryReceive();
  }

  void Close() {
    closed_ = true;
    readers_.NotifyAll();
    writers_.NotifyAll();
  }

  bool closed() const { return closed_; }
  size_t size() const { return queue_.size(); }
  size_t capacity() const { return capacity_; }

 private:
  const size_t capacity_;
  std::deque<T> queue_;
  bool closed_ = false;
  WaitList readers_;
  WaitList writers_;
};

// A value that one party fulfils once and any number of fibers wait for.
template <typename T>
class Promise {
 public:
  explicit Promise(Runtime& runtime) : waiters_(runtime) {}

  void Fulfil(T value) {
    MERIDIAN_CHECK(!value_.has_value(), "promise fulfilled twice");
    value_.emplace(std::move(value));
    waiters_.NotifyAll();
  }
  bool ready() const { return value_.has_value(); }

  // Waits for the value and returns a reference to it (valid while the promise lives).
  absl::StatusOr<const T*> Wait(Instant deadline = Instant::Infinite()) {
    absl::Status waited =
        waiters_.WaitUntil([this] { return value_.has_value(); }, deadline, "promise wait");
    if (!waited.ok()) return waited;
    return &*value_;
  }

 private:
  WaitList waiters_;
  std::optional<T> value_;
};

}  // namespace meridian::io
