// A single-threaded, cooperative scheduler of fibers on Boost.Context.
//
// One Scheduler runs all fibers of one node. Both backends (io/posix and sim/) drive the same
// class: they call `RunUntilIdle()` whenever something may have become runnable, and wake fibers
// from their timers and I/O completions through `Wake()`.
//
// What stays true:
// - Exactly one fiber runs at a time, and only inside `RunUntilIdle()`; switching happens only
//   in `Suspend()`, so code between two suspension points is atomic with respect to the node.
// - Runnable fibers run in FIFO order of their wake-up, so a given sequence of wakes always
//   produces the same interleaving (the simulator depends on this).
// - Destroying the scheduler unwinds every fiber that has not finished, running its destructors
//   (this is how the simulator models a crash: memory is gone, RAII cleanup still runs).
//
// Threading: a Scheduler and its fibers belong to the thread that created it. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"

namespace meridian::io {

class FiberId {
 public:
  constexpr FiberId() = default;
  constexpr explicit FiberId(uint64_t value) : value_(value) {}
  constexpr uint64_t value() const { return value_; }
  constexpr bool valid() const { return value_ != 0; }
  constexpr auto operator<=>(const FiberId&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, FiberId id) {
    return H::combine(std::move(h), id.value_);
  }

 private:
  uint64_t value_ = 0;
};

class Scheduler {
 public:
  // Upper bound on live fibers per node: a leak of fibers is a bug, and we want it loud.
  static constexpr size_t kFibersMax = 1 << 16;
  static constexpr size_t kStackBytes = 256 * 1024;

  Scheduler();
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Creates a fiber that will first run on the next `RunUntilIdle()`. May be called from a fiber
  // or from outside one.
  FiberId Spawn(std::string name, std::function<void()> body);

  // From inside a fiber: give control back until someone calls `Wake(Current())`.
  void Suspend();
  // Makes a suspended fiber runnable. A no-op for a fiber that is runnable, running (a wake that
  // arrives before the fiber suspends is kept: the next Suspend returns at once) or finished.
  void Wake(FiberId id);
  // From inside a fiber: let every other runnable fiber run once, then continue.
  void Yield();
  // From inside a fiber: suspend until fiber `id` has finished (returns at once if it has).
  void Join(FiberId id);

  // Cancellation is a flag the fiber observes at its next blocking wait (io::Runtime::Park
  // returns kCancelled); the fiber is woken so it notices promptly. Never forced.
  void Cancel(FiberId id);
  bool IsCancelled(FiberId id) const;

  // Unwinds every fiber that has not finished (running their destructors) and ignores wakes
  // from then on. The destructor does this too; a runtime calls it first so that objects the
  // fibers reference are still alive while they unwind. Idempotent. Not from inside a fiber.
  void Shutdown();
  bool shutting_down() const { return shutting_down_; }

  // Runs runnable fibers until none is left. Returns how many times a fiber was resumed.
  // Must not be called from inside a fiber.
  size_t RunUntilIdle();

  bool InFiber() const { return current_ != nullptr; }
  FiberId Current() const;
  const std::string& CurrentName() const;
  bool IsAlive(FiberId id) const { return fibers_.contains(id); }
  size_t live_fibers() const { return fibers_.size(); }
  size_t runnable_fibers() const { return runnable_.size(); }
  uint64_t resumes() const { return resumes_; }

 private:
  struct Fiber;
  void Resume(Fiber& fiber);
  void SwitchToScheduler(Fiber& fiber);
  void Finish(FiberId id);

  // Looked up on every wake and resume (a btree map here was the simulator's hottest lookup);
  // never iterated, so its order cannot leak into a run (Shutdown sorts the ids first).
  absl::flat_hash_map<FiberId, std::unique_ptr<Fiber>> fibers_;
  std::deque<FiberId> runnable_;
  Fiber* current_ = nullptr;
  uint64_t next_fiber_id_ = 1;
  uint64_t resumes_ = 0;
  bool shutting_down_ = false;
  // AddressSanitizer bookkeeping for the scheduler's own (thread) stack.
  const void* thread_stack_bottom_ = nullptr;
  size_t thread_stack_bytes_ = 0;
};

}  // namespace meridian::io
