#include "io/runtime.h"

#include <fmt/format.h>

#include "io/assert.h"

namespace meridian::io {

WakeReason Runtime::Park(Instant deadline) {
  Scheduler& fibers = scheduler();
  const FiberId self = fibers.Current();
  if (fibers.IsCancelled(self)) return WakeReason::kCancelled;
  if (Now() >= deadline) return WakeReason::kDeadline;
  TimerId timer;
  if (!deadline.is_infinite()) timer = ArmTimer(deadline, self);
  fibers.Suspend();
  if (timer.valid()) DisarmTimer(timer);
  if (fibers.IsCancelled(self)) return WakeReason::kCancelled;
  if (Now() >= deadline) return WakeReason::kDeadline;
  return WakeReason::kNotified;
}

absl::Status Runtime::SleepUntil(Instant deadline) {
  MERIDIAN_CHECK(!deadline.is_infinite(), "sleep forever: use Park()");
  while (true) {
    switch (Park(deadline)) {
      case WakeReason::kDeadline:
        return absl::OkStatus();
      case WakeReason::kCancelled:
        return absl::CancelledError("sleep cancelled");
      case WakeReason::kNotified:
        break;  // Spurious for a sleeper: keep sleeping.
    }
  }
}

absl::Status Runtime::Sleep(Duration duration) {
  MERIDIAN_CHECK(duration.count() >= 0, "negative sleep");
  return SleepUntil(Now() + duration);
}

absl::Status WaitEndedStatus(WakeReason reason, std::string_view what) {
  switch (reason) {
    case WakeReason::kDeadline:
      return absl::DeadlineExceededError(fmt::format("{}: deadline exceeded", what));
    case WakeReason::kCancelled:
      return absl::CancelledError(fmt::format("{}: cancelled", what));
    case WakeReason::kNotified:
      break;
  }
  MERIDIAN_UNREACHABLE("kNotified does not end a wait");
}

}  // namespace meridian::io
