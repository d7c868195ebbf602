// io::Runtime: everything a node's protocol code may ask of the world it runs in.
//
// One Runtime per node. Its fibers run on one thread (io::Scheduler). The two implementations are
// sim::SimRuntime (virtual time, seeded faults) and posix::PosixRuntime (epoll, CLOCK_MONOTONIC,
// real files); core/ sees only this interface, so the same protocol code runs in both worlds.
//
// Blocking calls (Sleep, Park, and the Network/Disk operations) may only be made from a fiber of
// this runtime; they suspend that fiber, never the thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "io/node_id.h"
#include "io/random.h"
#include "io/scheduler.h"
#include "io/time.h"

namespace meridian::io {

class Network;
class Disk;

// Why a parked fiber resumed.
enum class WakeReason {
  kNotified,   // Unpark() or another wake; the caller re-checks its condition.
  kDeadline,   // The deadline passed.
  kCancelled,  // Scheduler::Cancel() was called for this fiber.
};

// Identifies a timer armed by Runtime::ArmTimer, so it can be disarmed.
struct TimerId {
  int64_t deadline_ns = 0;
  uint64_t sequence = 0;
  bool valid() const { return sequence != 0; }
};

class Runtime {
 public:
  explicit Runtime(NodeId node) : node_(node) {}
  virtual ~Runtime() = default;
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  NodeId node() const { return node_; }

  // The runtime's monotonic clock. In the simulator, virtual time (with this node's offset and
  // drift once the fault model turns them on).
  virtual Instant Now() const = 0;
  // Calendar time in milliseconds since the Unix epoch, for what must survive restarts and be
  // compared with clients' timestamps (age-based retention). May jump; never use it to time
  // anything. In the simulator, a fixed epoch plus this node's local virtual time.
  virtual int64_t WallClockMillis() const = 0;
  // Randomness for this node; in the simulator derived from the run's seed.
  virtual Random& random() = 0;
  // BUGGIFY-style fault point: should the rare path named `site` fire now? Always false in
  // production; answered from the seed in the simulator. `site` must be a string literal-like
  // stable name (it keys the decision).
  virtual bool ShouldInjectFault(std::string_view site) = 0;
  virtual Network& network() = 0;
  virtual Disk& disk() = 0;
  virtual Scheduler& scheduler() = 0;

  // Arms a one-shot timer that wakes `fiber` at `deadline`. Returns an id for DisarmTimer.
  virtual TimerId ArmTimer(Instant deadline, FiberId fiber) = 0;
  // Disarms a timer; a no-op for one that already fired.
  virtual void DisarmTimer(TimerId timer) = 0;

  // --- Shared conveniences, implemented once on top of the above. ---

  FiberId Spawn(std::string name, std::function<void()> body) {
    return scheduler().Spawn(std::move(name), std::move(body));
  }
  // Suspends the calling fiber until it is woken, `deadline` passes or it is cancelled.
  // Wake-ups may be spurious: callers re-check what they wait for.
  WakeReason Park(Instant deadline);
  // Sleeps for at least `duration`. Returns Cancelled if the fiber was cancelled meanwhile.
  absl::Status Sleep(Duration duration);
  absl::Status SleepUntil(Instant deadline);
  // Wakes a parked fiber (no-op for a fiber that is not parked or has finished).
  void Unpark(FiberId fiber) { scheduler().Wake(fiber); }

 private:
  NodeId node_;
};

// Maps a WakeReason that ends a wait to its status: kDeadline -> DeadlineExceeded,
// kCancelled -> Cancelled. `what` names the wait in the message.
absl::Status WaitEndedStatus(WakeReason reason, std::string_view what);

}  // namespace meridian::io
