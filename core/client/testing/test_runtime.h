// A deterministic, single-process io::Runtime for core/client tests: virtual time, an in-memory
// byte-stream network (Listen/Connect by address) and no disk.
//
// Why not sim::World: //sim is visible only to //sim, //tests and //fuzz, and this package may
// not edit sim/. This runtime is the small part of the simulator that client tests need: one
// scheduler runs every fiber (the fake broker's and the client's), time advances only when no
// fiber is runnable (to the next timer), so a test run is a pure function of its code.
//
// What stays true: timers fire in (deadline, arming sequence) order; stream bytes arrive in order
// and at once; a closed stream fails the closer's later operations and gives the peer end of
// stream after the bytes already written.
//
// Single-threaded. RunUntil is called from outside fibers; everything else from fibers.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/container/btree_map.h"
#include "io/network.h"
#include "io/runtime.h"

namespace meridian::core::client::testing {

class TestRuntime final : public io::Runtime {
 public:
  explicit TestRuntime(uint64_t seed = 1);
  ~TestRuntime() override;

  io::Instant Now() const override { return now_; }
  int64_t WallClockMillis() const override { return now_.nanos() / 1'000'000; }
  io::Random& random() override { return random_; }
  bool ShouldInjectFault(std::string_view) override { return false; }
  io::Network& network() override;
  io::Disk& disk() override;
  io::Scheduler& scheduler() override { return *scheduler_; }
  io::TimerId ArmTimer(io::Instant deadline, io::FiberId fiber) override;
  void DisarmTimer(io::TimerId timer) override;

  // Runs fibers, advancing virtual time to the next timer whenever none is runnable, until
  // `done()` holds (true) or virtual time would pass Now() + `limit` or nothing is left to run
  // (false).
  bool RunUntil(const std::function<bool()>& done, io::Duration limit);
  // Spawns `body` as a fiber and runs until it returns. False if it did not finish in `limit`.
  bool RunFiber(std::function<void()> body, io::Duration limit = std::chrono::seconds(3600));

 private:
  using TimerKey = std::pair<int64_t, uint64_t>;

  io::Instant now_ = io::Instant::FromNanos(1'000'000'000);
  io::Random random_;
  uint64_t next_timer_sequence_ = 1;
  absl::btree_map<TimerKey, io::FiberId> timers_;
  std::unique_ptr<io::Scheduler> scheduler_;
  std::unique_ptr<io::Network> network_;
  std::unique_ptr<io::Disk> disk_;
};

}  // namespace meridian::core::client::testing
