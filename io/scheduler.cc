#include "io/scheduler.h"

#include <algorithm>
#include <boost/context/fiber.hpp>
#include <boost/context/protected_fixedsize_stack.hpp>
#include <exception>
#include <utility>
#include <vector>

#include "io/assert.h"

#if defined(__SANITIZE_ADDRESS__)
#define MERIDIAN_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MERIDIAN_ASAN 1
#endif
#endif

#if defined(MERIDIAN_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace meridian::io {
namespace ctx = boost::context;
namespace {

// Thrown inside a suspended fiber when its scheduler is destroyed, to unwind its stack. Not an
// std::exception, so `catch (const std::exception&)` in protocol code cannot swallow it.
struct FiberUnwind {};

// Tells AddressSanitizer that the stack is about to change; see sanitizer/common_interface_defs.h.
void StartSwitch(void** fake_stack_save, const void* bottom, size_t bytes) {
#if defined(MERIDIAN_ASAN)
  __sanitizer_start_switch_fiber(fake_stack_save, bottom, bytes);
#else
  (void)fake_stack_save, (void)bottom, (void)bytes;
#endif
}

void FinishSwitch(void* fake_stack_save, const void** bottom_old, size_t* bytes_old) {
#if defined(MERIDIAN_ASAN)
  __sanitizer_finish_switch_fiber(fake_stack_save, bottom_old, bytes_old);
#else
  (void)fake_stack_save, (void)bottom_old, (void)bytes_old;
#endif
}

}  // namespace

struct Scheduler::Fiber {
  enum class State { kRunnable, kRunning, kSuspended };

  FiberId id;
  std::string name;
  State state = State::kRunnable;
  bool wake_pending = false;  // Wake() arrived while running: the next Suspend returns at once.
  bool unwind = false;        // The scheduler is shutting down: unwind at the next switch.
  bool cancelled = false;     // Cancel() was called: blocking waits return kCancelled.
  ctx::fiber self;            // Resumes this fiber; empty once it has finished.
  ctx::fiber scheduler;       // Resumes the scheduler; valid while this fiber runs.
  ctx::stack_context stack;
  void* fake_stack = nullptr;
  std::vector<FiberId> joiners;
};

namespace {

// Records the stack a fiber gets, so AddressSanitizer can be told about every switch.
// Freed stacks are kept (up to kPooledStacksMax per thread) and handed to the next fiber: a
// fresh stack costs mmap + mprotect + munmap and page faults, and a broker spawns a fiber per
// request. Which addresses a fiber's stack has decides nothing (docs/architecture.md determinism
// rules).
constexpr size_t kPooledStacksMax = 256;
thread_local std::vector<ctx::stack_context> pooled_stacks;

struct RecordingStackAllocator {
  ctx::protected_fixedsize_stack inner{Scheduler::kStackBytes};
  ctx::stack_context* record;

  ctx::stack_context allocate() {
    ctx::stack_context stack;
    if (!pooled_stacks.empty()) {
      stack = pooled_stacks.back();
      pooled_stacks.pop_back();
    } else {
      stack = inner.allocate();
    }
    *record = stack;
    // A new stack may reuse the addresses of a dead fiber's: its shadow can still hold that
    // fiber's scope poisoning, which AddressSanitizer would report as stack-use-after-scope.
    Unpoison(stack);
    return stack;
  }
  void deallocate(ctx::stack_context& stack) noexcept {
    Unpoison(stack);
    if (pooled_stacks.size() < kPooledStacksMax) {  // Every stack comes from one allocator setting.
      pooled_stacks.push_back(stack);
      return;
    }
    inner.deallocate(stack);
  }
  static void Unpoison(const ctx::stack_context& stack) {
#if defined(MERIDIAN_ASAN)
    ASAN_UNPOISON_MEMORY_REGION(static_cast<char*>(stack.sp) - stack.size, stack.size);
#else
    (void)stack;
#endif
  }
};

}  // namespace

Scheduler::Scheduler() = default;

Scheduler::~Scheduler() { Shutdown(); }

void Scheduler::Shutdown() {
  MERIDIAN_CHECK(!InFiber(), "a scheduler cannot shut down from one of its fibers");
  shutting_down_ = true;
  runnable_.clear();
  // Unwind in id order (deterministic). Unwinding may not spawn or suspend, so no fiber
  // appears meanwhile, and each unwinding finishes only itself.
  std::vector<FiberId> ids;
  ids.reserve(fibers_.size());
  for (const auto& [id, fiber] : fibers_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  for (FiberId id : ids) {
    auto it = fibers_.find(id);
    MERIDIAN_CHECK(it != fibers_.end(), "fiber {} finished while another unwound", id.value());
    it->second->unwind = true;
    Resume(*it->second);  // Finishes the fiber and frees it.
    MERIDIAN_CHECK(!IsAlive(id), "fiber did not finish while unwinding");
  }
  MERIDIAN_CHECK(fibers_.empty(), "a fiber appeared while unwinding");
}

FiberId Scheduler::Spawn(std::string name, std::function<void()> body) {
  MERIDIAN_CHECK(!shutting_down_, "spawn of '{}' during shutdown", name);
  MERIDIAN_CHECK(!InFiber() || !current_->unwind, "spawn of '{}' while unwinding", name);
  MERIDIAN_CHECK(fibers_.size() < kFibersMax, "too many fibers (spawning '{}')", name);
  MERIDIAN_CHECK(body != nullptr);
  auto owned = std::make_unique<Fiber>();
  Fiber& fiber = *owned;
  fiber.id = FiberId(next_fiber_id_++);
  fiber.name = std::move(name);
  fiber.self =
      ctx::fiber(std::allocator_arg, RecordingStackAllocator{.record = &fiber.stack},
                 [this, &fiber, body = std::move(body)](ctx::fiber&& scheduler) mutable {
                   fiber.scheduler = std::move(scheduler);
                   FinishSwitch(nullptr, &thread_stack_bottom_, &thread_stack_bytes_);
                   if (!fiber.unwind) {
                     try {
                       body();
                     } catch (const FiberUnwind&) {
                       MERIDIAN_CHECK(fiber.unwind);
                     } catch (const std::exception& e) {
                       MERIDIAN_UNREACHABLE("fiber '{}' threw: {}", fiber.name, e.what());
                     } catch (...) {
                       MERIDIAN_UNREACHABLE("fiber '{}' threw a non-std exception", fiber.name);
                     }
                   }
                   body = nullptr;  // Destroy captured state while still on this stack.
                   // A dying fiber passes nullptr so AddressSanitizer frees its fake stack.
                   StartSwitch(nullptr, thread_stack_bottom_, thread_stack_bytes_);
                   return std::move(fiber.scheduler);
                 });
  runnable_.push_back(fiber.id);
  fibers_.emplace(fiber.id, std::move(owned));
  return fiber.id;
}

void Scheduler::Resume(Fiber& fiber) {
  MERIDIAN_CHECK(current_ == nullptr, "nested resume of '{}'", fiber.name);
  MERIDIAN_CHECK(fiber.state != Fiber::State::kRunning);
  MERIDIAN_CHECK(static_cast<bool>(fiber.self), "resume of finished fiber '{}'", fiber.name);
  current_ = &fiber;
  fiber.state = Fiber::State::kRunning;
  fiber.wake_pending = false;
  resumes_++;
  void* scheduler_fake_stack = nullptr;
  const void* bottom = static_cast<const char*>(fiber.stack.sp) - fiber.stack.size;
  StartSwitch(&scheduler_fake_stack, bottom, fiber.stack.size);
  fiber.self = std::move(fiber.self).resume();
  FinishSwitch(scheduler_fake_stack, nullptr, nullptr);
  MERIDIAN_CHECK(current_ == &fiber);
  current_ = nullptr;
  if (!fiber.self) Finish(fiber.id);
}

void Scheduler::Finish(FiberId id) {
  auto it = fibers_.find(id);
  MERIDIAN_CHECK(it != fibers_.end());
  std::vector<FiberId> joiners = std::move(it->second->joiners);
  fibers_.erase(it);
  for (FiberId joiner : joiners) Wake(joiner);
}

void Scheduler::Suspend() {
  MERIDIAN_CHECK(current_ != nullptr, "Suspend() outside a fiber");
  Fiber& fiber = *current_;
  MERIDIAN_CHECK(!fiber.unwind, "fiber '{}' suspended while unwinding", fiber.name);
  if (fiber.wake_pending) {
    fiber.wake_pending = false;
    return;
  }
  fiber.state = Fiber::State::kSuspended;
  SwitchToScheduler(fiber);
}

void Scheduler::Yield() {
  MERIDIAN_CHECK(current_ != nullptr, "Yield() outside a fiber");
  Fiber& fiber = *current_;
  MERIDIAN_CHECK(!fiber.unwind, "fiber '{}' yielded while unwinding", fiber.name);
  fiber.wake_pending = false;
  fiber.state = Fiber::State::kRunnable;
  runnable_.push_back(fiber.id);
  SwitchToScheduler(fiber);
}

void Scheduler::SwitchToScheduler(Fiber& fiber) {
  MERIDIAN_CHECK(current_ == &fiber);
  MERIDIAN_CHECK(fiber.state != Fiber::State::kRunning);
  StartSwitch(&fiber.fake_stack, thread_stack_bottom_, thread_stack_bytes_);
  fiber.scheduler = std::move(fiber.scheduler).resume();
  FinishSwitch(fiber.fake_stack, &thread_stack_bottom_, &thread_stack_bytes_);
  MERIDIAN_CHECK(current_ == &fiber);
  MERIDIAN_CHECK(fiber.state == Fiber::State::kRunning);
  if (fiber.unwind) throw FiberUnwind{};
}

void Scheduler::Wake(FiberId id) {
  if (shutting_down_) return;
  auto it = fibers_.find(id);
  if (it == fibers_.end()) return;
  Fiber& fiber = *it->second;
  switch (fiber.state) {
    case Fiber::State::kSuspended:
      fiber.state = Fiber::State::kRunnable;
      runnable_.push_back(id);
      return;
    case Fiber::State::kRunning:
      fiber.wake_pending = true;
      return;
    case Fiber::State::kRunnable:
      return;
  }
}

void Scheduler::Join(FiberId id) {
  MERIDIAN_CHECK(current_ != nullptr, "Join() outside a fiber");
  MERIDIAN_CHECK(current_->id != id, "a fiber cannot join itself");
  while (IsAlive(id)) {
    fibers_.at(id)->joiners.push_back(current_->id);
    Suspend();
  }
}

void Scheduler::Cancel(FiberId id) {
  auto it = fibers_.find(id);
  if (it == fibers_.end()) return;
  it->second->cancelled = true;
  Wake(id);
}

bool Scheduler::IsCancelled(FiberId id) const {
  auto it = fibers_.find(id);
  return it != fibers_.end() && it->second->cancelled;
}

size_t Scheduler::RunUntilIdle() {
  MERIDIAN_CHECK(current_ == nullptr, "RunUntilIdle() from inside a fiber");
  size_t resumed = 0;
  while (!runnable_.empty()) {
    const FiberId id = runnable_.front();
    runnable_.pop_front();
    auto it = fibers_.find(id);
    if (it == fibers_.end()) continue;
    if (it->second->state != Fiber::State::kRunnable) continue;
    Resume(*it->second);
    resumed++;
  }
  return resumed;
}

FiberId Scheduler::Current() const {
  MERIDIAN_CHECK(current_ != nullptr, "Current() outside a fiber");
  return current_->id;
}

const std::string& Scheduler::CurrentName() const {
  MERIDIAN_CHECK(current_ != nullptr, "CurrentName() outside a fiber");
  return current_->name;
}

}  // namespace meridian::io
