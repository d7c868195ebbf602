#include "io/posix/posix_runtime.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "io/assert.h"
#include "io/posix/posix_disk.h"
#include "io/posix/posix_network.h"

namespace meridian::io::posix {

absl::Status ErrnoStatus(int error, std::string_view what) {
  const std::string message = fmt::format("{}: {}", what, std::strerror(error));
  switch (error) {
    case ENOENT:
      return absl::NotFoundError(message);
    case EEXIST:
      return absl::AlreadyExistsError(message);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(message);
    case EIO:
      return absl::DataLossError(message);
    case ECONNRESET:
    case EPIPE:
    case ECONNREFUSED:
    case ECONNABORTED:
    case ENETUNREACH:
    case EHOSTUNREACH:
    case ETIMEDOUT:
      return absl::UnavailableError(message);
    case EINVAL:
      return absl::InvalidArgumentError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::StatusOr<std::unique_ptr<PosixRuntime>> PosixRuntime::Create(PosixOptions options) {
  uint64_t seed = options.seed;
  if (seed == 0 && getrandom(&seed, sizeof(seed), 0) != sizeof(seed)) {
    return ErrnoStatus(errno, "getrandom");
  }
  std::unique_ptr<PosixRuntime> runtime(new PosixRuntime(std::move(options), seed));
  if (absl::Status s = runtime->Init(); !s.ok()) return s;
  return runtime;
}

PosixRuntime::PosixRuntime(PosixOptions options, uint64_t seed)
    : Runtime(options.node), options_(std::move(options)), random_(seed) {}

absl::Status PosixRuntime::Init() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return ErrnoStatus(errno, "epoll_create1");
  completion_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (completion_fd_ < 0) return ErrnoStatus(errno, "eventfd");
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.ptr = nullptr;  // nullptr marks the completion eventfd.
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, completion_fd_, &event) != 0) {
    return ErrnoStatus(errno, "epoll_ctl(eventfd)");
  }
  for (int i = 0; i < kHelperThreads; i++) helpers_.emplace_back([this] { HelperLoop(); });
  absl::StatusOr<std::unique_ptr<PosixDisk>> disk = PosixDisk::Open(*this, options_.data_dir);
  if (!disk.ok()) return disk.status();
  disk_ = std::move(*disk);
  if (absl::Status s = LockDataDir(); !s.ok()) return s;
  network_ = std::make_unique<PosixNetwork>(*this, options_.peers, options_.security,
                                            options_.peer_link_limits);
  if (options_.peer_listen.port != 0) {
    if (absl::Status s = network_->StartPeerListener(options_.peer_listen); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// Two nodes on one data directory would interleave writes to one log and each trust its own
// hard state (votes, commit): the lock makes the second fail at start instead. flock belongs to
// the open file description, so it also excludes a second runtime in this process, and the
// kernel drops it when the process dies: a crash never leaves a stale lock behind.
absl::Status PosixRuntime::LockDataDir() {
  const std::string path = options_.data_dir + "/LOCK";
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, "open " + path);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    char holder[32] = {};
    const ssize_t n = pread(fd, holder, sizeof(holder) - 1, 0);
    std::string pid = n > 0 ? std::string(holder, static_cast<size_t>(n)) : "";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    close(fd);
    if (error != EWOULDBLOCK) return ErrnoStatus(error, "flock " + path);
    return absl::FailedPreconditionError(fmt::format(
        "data directory {} is in use by another node ({} is locked{}); nodes never share a data "
        "directory",
        options_.data_dir, path, pid.empty() ? "" : " by pid " + pid));
  }
  data_dir_lock_fd_ = fd;
  // Who holds it, for the message above. Informational: the flock is the lock.
  const std::string pid = fmt::format("{}\n", getpid());
  if (ftruncate(fd, 0) == 0) {
    const ssize_t written = pwrite(fd, pid.data(), pid.size(), 0);
    (void)written;
  }
  return absl::OkStatus();
}

PosixRuntime::~PosixRuntime() {
  // Fibers first: they may own sockets and files that unregister from the reactor.
  scheduler_->Shutdown();
  network_.reset();
  disk_.reset();
  {
    std::lock_guard lock(helper_mutex_);
    helper_exit_ = true;
  }
  helper_wakeup_.notify_all();
  for (std::thread& helper : helpers_) helper.join();
  if (completion_fd_ >= 0) close(completion_fd_);
  if (epoll_fd_ >= 0) close(epoll_fd_);
  if (data_dir_lock_fd_ >= 0) close(data_dir_lock_fd_);  // Releases the lock.
}

int64_t PosixRuntime::WallClockMillis() const {
  timespec ts{};
  MERIDIAN_CHECK(clock_gettime(CLOCK_REALTIME, &ts) == 0);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1'000'000;
}

Instant PosixRuntime::Now() const {
  timespec ts{};
  MERIDIAN_CHECK(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
  return Instant::FromNanos(int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec);
}

Network& PosixRuntime::network() { return *network_; }
Disk& PosixRuntime::disk() { return *disk_; }

TimerId PosixRuntime::ArmTimer(Instant deadline, FiberId fiber) {
  MERIDIAN_CHECK(!deadline.is_infinite());
  const std::pair<int64_t, uint64_t> key{deadline.nanos(), next_timer_sequence_++};
  timers_.emplace(key, fiber);
  return TimerId{key.first, key.second};
}

void PosixRuntime::DisarmTimer(TimerId timer) {
  timers_.erase(std::pair<int64_t, uint64_t>{timer.deadline_ns, timer.sequence});
}

void PosixRuntime::FireExpiredTimers() {
  const int64_t now = Now().nanos();
  while (!timers_.empty() && timers_.begin()->first.first <= now) {
    const FiberId fiber = timers_.begin()->second;
    timers_.erase(timers_.begin());
    scheduler_->Wake(fiber);
  }
}

void PosixRuntime::Run() {
  stopping_ = false;
  while (!stopping_) {
    scheduler_->RunUntilIdle();
    FireExpiredTimers();
    if (scheduler_->runnable_fibers() > 0 || stopping_) continue;
    const Instant wake_at =
        timers_.empty() ? Instant::Infinite() : Instant::FromNanos(timers_.begin()->first.first);
    Poll(wake_at);
  }
}

void PosixRuntime::Poll(Instant wake_at) {
  int timeout_ms = -1;
  if (!wake_at.is_infinite()) {
    const int64_t wait_ns = std::max<int64_t>(0, (wake_at - Now()).count());
    timeout_ms = static_cast<int>(std::min<int64_t>((wait_ns + 999'999) / 1'000'000, 60'000));
  }
  constexpr int kEventsPerPoll = 64;
  epoll_event events[kEventsPerPoll];
  const int ready = epoll_wait(epoll_fd_, events, kEventsPerPoll, timeout_ms);
  if (ready < 0) {
    MERIDIAN_CHECK(errno == EINTR, "epoll_wait: {}", std::strerror(errno));
    return;
  }
  for (int i = 0; i < ready; i++) {
    if (events[i].data.ptr == nullptr) {
      DrainCompletions();
      continue;
    }
    FdWatch& watch = *static_cast<FdWatch*>(events[i].data.ptr);
    if (events[i].events & (EPOLLIN | EPOLLRDHUP)) watch.readable = true;
    if (events[i].events & EPOLLOUT) watch.writable = true;
    if (events[i].events & (EPOLLHUP | EPOLLERR)) watch.hangup = true;
    std::vector<FiberId> waiters = std::move(watch.waiters);
    watch.waiters.clear();
    for (FiberId fiber : waiters) scheduler_->Wake(fiber);
  }
}

std::unique_ptr<FdWatch> PosixRuntime::Watch(int fd) {
  auto watch = std::make_unique<FdWatch>();
  watch->fd = fd;
  epoll_event event{};
  event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  event.data.ptr = watch.get();
  MERIDIAN_CHECK(epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) == 0, "epoll_ctl add {}: {}", fd,
                 std::strerror(errno));
  return watch;
}

void PosixRuntime::Unwatch(FdWatch& watch) {
  MERIDIAN_CHECK(epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, watch.fd, nullptr) == 0,
                 "epoll_ctl del {}: {}", watch.fd, std::strerror(errno));
  // A fiber waiting on this descriptor (another fiber closed it) must not wait again on a
  // watch epoll no longer reports: it returns, and its retry finds the descriptor closed.
  watch.hangup = true;
  for (FiberId fiber : watch.waiters) scheduler_->Wake(fiber);  // Ignored once shut down.
  watch.waiters.clear();
}

absl::Status PosixRuntime::WaitReady(FdWatch& watch, Readiness readiness, Instant deadline) {
  while (true) {
    const bool ready = readiness == Readiness::kReadable ? watch.readable : watch.writable;
    if (ready || watch.hangup) return absl::OkStatus();
    watch.waiters.push_back(scheduler_->Current());
    const WakeReason reason = Park(deadline);
    if (reason != WakeReason::kNotified) {
      return WaitEndedStatus(reason, readiness == Readiness::kReadable ? "read" : "write");
    }
  }
}

absl::Status PosixRuntime::RunBlocking(std::function<absl::Status()> blocking) {
  struct Job {
    absl::Status result;
    bool done = false;
  };
  auto job = std::make_shared<Job>();
  const FiberId fiber = scheduler_->Current();
  {
    std::lock_guard lock(helper_mutex_);
    helper_jobs_.push_back([this, job, fiber, blocking = std::move(blocking)] {
      absl::Status result = blocking();
      std::lock_guard inner(helper_mutex_);
      completions_.push_back([this, job, fiber, result = std::move(result)] {
        job->result = result;
        job->done = true;
        scheduler_->Wake(fiber);
      });
    });
  }
  helper_wakeup_.notify_one();
  // Not cancellable: the caller's buffers and fds must outlive the syscall.
  while (!job->done) scheduler_->Suspend();
  return job->result;
}

void PosixRuntime::DrainCompletions() {
  uint64_t count = 0;
  while (read(completion_fd_, &count, sizeof(count)) > 0) {
  }
  std::deque<std::function<void()>> completions;
  {
    std::lock_guard lock(helper_mutex_);
    completions.swap(completions_);
  }
  for (auto& completion : completions) completion();
}

void PosixRuntime::HelperLoop() {
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock lock(helper_mutex_);
      helper_wakeup_.wait(lock, [this] { return helper_exit_ || !helper_jobs_.empty(); });
      if (helper_jobs_.empty()) return;  // helper_exit_ with nothing left to do.
      job = std::move(helper_jobs_.front());
      helper_jobs_.pop_front();
    }
    job();
    const uint64_t one = 1;
    MERIDIAN_CHECK(write(completion_fd_, &one, sizeof(one)) == sizeof(one));
  }
}

}  // namespace meridian::io::posix
