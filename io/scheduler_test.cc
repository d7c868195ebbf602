#include "io/scheduler.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace meridian::io {
namespace {

TEST(Scheduler, RunsFibersInSpawnOrderAndInterleavesAtSuspend) {
  Scheduler scheduler;
  std::vector<std::string> trace;
  FiberId a = scheduler.Spawn("a", [&] {
    trace.push_back("a1");
    scheduler.Suspend();
    trace.push_back("a2");
  });
  scheduler.Spawn("b", [&] {
    trace.push_back("b1");
    scheduler.Wake(a);
    trace.push_back("b2");
  });
  EXPECT_EQ(scheduler.RunUntilIdle(), 3u);
  EXPECT_EQ(trace, (std::vector<std::string>{"a1", "b1", "b2", "a2"}));
  EXPECT_EQ(scheduler.live_fibers(), 0u);
}

TEST(Scheduler, WakeBeforeSuspendIsNotLost) {
  Scheduler scheduler;
  int steps = 0;
  scheduler.Spawn("self-waker", [&] {
    scheduler.Wake(scheduler.Current());
    scheduler.Suspend();  // Returns at once: the wake arrived while running.
    steps++;
  });
  scheduler.RunUntilIdle();
  EXPECT_EQ(steps, 1);
}

TEST(Scheduler, YieldLetsOthersRun) {
  Scheduler scheduler;
  std::string trace;
  for (char name : std::string("xy")) {
    scheduler.Spawn(std::string(1, name), [&, name] {
      for (int i = 0; i < 3; i++) {
        trace += name;
        scheduler.Yield();
      }
    });
  }
  scheduler.RunUntilIdle();
  EXPECT_EQ(trace, "xyxyxy");
}

TEST(Scheduler, JoinWaitsForCompletion) {
  Scheduler scheduler;
  std::vector<int> order;
  FiberId worker = scheduler.Spawn("worker", [&] {
    scheduler.Suspend();
    order.push_back(1);
  });
  scheduler.Spawn("joiner", [&] {
    scheduler.Join(worker);
    order.push_back(2);
  });
  scheduler.RunUntilIdle();
  EXPECT_TRUE(order.empty());
  scheduler.Wake(worker);
  scheduler.RunUntilIdle();
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

TEST(Scheduler, DestructionUnwindsSuspendedFibersRunningDestructors) {
  auto destroyed = std::make_shared<int>(0);
  {
    Scheduler scheduler;
    for (int i = 0; i < 3; i++) {
      scheduler.Spawn("sleeper", [&scheduler, destroyed] {
        struct Guard {
          std::shared_ptr<int> counter;
          ~Guard() { (*counter)++; }
        } guard{destroyed};
        scheduler.Suspend();
        ADD_FAILURE() << "a crashed fiber must not continue";
      });
    }
    scheduler.RunUntilIdle();
    // Spawned but never resumed: destruction must discard it without running it.
    scheduler.Spawn("never-started", [] { ADD_FAILURE() << "must not run"; });
  }
  EXPECT_EQ(*destroyed, 3);
}

TEST(Scheduler, CancelWakesAndIsObservable) {
  Scheduler scheduler;
  bool saw_cancel = false;
  FiberId f = scheduler.Spawn("waiter", [&] {
    scheduler.Suspend();
    saw_cancel = scheduler.IsCancelled(scheduler.Current());
  });
  scheduler.RunUntilIdle();
  scheduler.Cancel(f);
  scheduler.RunUntilIdle();
  EXPECT_TRUE(saw_cancel);
}

TEST(SchedulerDeathTest, SuspendOutsideAFiberIsAProgrammerError) {
  Scheduler scheduler;
  EXPECT_DEATH(scheduler.Suspend(), "Suspend\\(\\) outside a fiber");
}

TEST(SchedulerDeathTest, ExceptionEscapingAFiberCrashesWithItsName) {
  EXPECT_DEATH(
      {
        Scheduler scheduler;
        scheduler.Spawn("thrower", [] { throw std::runtime_error("boom"); });
        scheduler.RunUntilIdle();
      },
      "fiber 'thrower' threw: boom");
}

TEST(Scheduler, ManyFibersDeepStacks) {
  Scheduler scheduler;
  int done = 0;
  for (int i = 0; i < 1000; i++) {
    scheduler.Spawn("f", [&] {
      volatile char buffer[32 * 1024];
      buffer[0] = 1;
      buffer[sizeof(buffer) - 1] = buffer[0];
      scheduler.Yield();
      done++;
    });
  }
  scheduler.RunUntilIdle();
  EXPECT_EQ(done, 1000);
}

}  // namespace
}  // namespace meridian::io
