// posix::PosixRuntime: the production io::Runtime. One reactor per process on epoll.
//
// - Time: CLOCK_MONOTONIC. Timers live in an ordered map; epoll_wait sleeps until the next one.
// - Sockets are non-blocking and registered edge-triggered; a fiber that meets EAGAIN parks until
//   epoll reports the edge.
// - Files: pread/pwrite run inline (page cache); fdatasync/fsync, the calls that really block,
//   run on a pool of helper threads and complete through an eventfd, so the reactor thread never
//   waits on the disk. A pool, not one thread: every replica of a node syncs its own files, and
//   one thread made them queue behind each other (a node's nine replicas took turns at the disk;
//   a kernel batches concurrent syncs into one journal commit). (The helper threads are
//   io/posix's business; docs/architecture.md bans threads only in core/ and sim/.)
// - ShouldInjectFault is always false.
//
// Threading: everything except PostCompletion runs on the reactor thread.
#pragma once

#include <sys/epoll.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/statusor.h"
#include "io/network.h"
#include "io/runtime.h"

namespace meridian::io::posix {

class PosixNetwork;
class PosixDisk;
class TlsContext;

// How peer links and outgoing client streams are secured (io/posix/tls.h). All empty: plaintext
// peer links that trust the hello's node id (the simulator-like mode meridian-node only runs
// with --insecure_plaintext) and plaintext Connect.
struct NetworkSecurity {
  // Mutual TLS on peer links: both ends present node certificates from one CA, and a link is
  // accepted only from a configured peer whose certificate names the id it claims in
  // `cluster_id` (PosixNetwork). Null: plaintext peer links.
  std::shared_ptr<TlsContext> peer_tls;
  // Sent in every peer hello and required to match on the receiving side (with or without TLS).
  // Required with peer_tls; "" = no cluster check (plaintext only).
  std::string cluster_id;
  // When set, Network::Connect streams speak TLS with this context and accept only a server
  // whose certificate is a node certificate (TLS client ports: the CLI, the demo, the broker's
  // own forwarding). PosixNetwork::ConnectPlain stays plaintext (HTTP metrics).
  std::shared_ptr<TlsContext> client_tls;
};

// Bounds on the peer port (PosixNetwork), where anyone who can reach it may connect.
struct PeerLinkLimits {
  // Accepted connections still in their TLS handshake and hello (each given
  // PosixNetwork::kHelloTimeout), node-wide and from one address; past either, a new one is
  // refused at once.
  size_t hellos_pending_max = 256;
  size_t hellos_pending_per_address_max = 16;
  // Once a peer frame has begun, the rest must arrive within this, or the link is closed (a
  // peer, or a middlebox, that stalls mid-frame holds no buffer for ever).
  Duration frame_timeout = std::chrono::seconds(30);
};

struct PosixOptions {
  NodeId node{1};
  // Root directory of this node's Disk. Created if missing. Locked (flock on <data_dir>/LOCK)
  // for the runtime's lifetime: Create fails with FailedPrecondition if another runtime, in this
  // process or another, holds it.
  std::string data_dir;
  // Where this node accepts peer links (port 0 = no peer listener), and where its peers are.
  Address peer_listen;
  absl::btree_map<NodeId, Address> peers;
  NetworkSecurity security;
  PeerLinkLimits peer_link_limits;
  // 0 = seed from the kernel (getrandom).
  uint64_t seed = 0;
};

// Readiness of one registered file descriptor, and the fibers waiting for it.
struct FdWatch {
  int fd = -1;
  bool readable = false;
  bool writable = false;
  bool hangup = false;
  std::vector<FiberId> waiters;
};

enum class Readiness { kReadable, kWritable };

class PosixRuntime final : public Runtime {
 public:
  static absl::StatusOr<std::unique_ptr<PosixRuntime>> Create(PosixOptions options);
  ~PosixRuntime() override;

  Instant Now() const override;
  int64_t WallClockMillis() const override;
  Random& random() override { return random_; }
  bool ShouldInjectFault(std::string_view site) override { return false; }
  Network& network() override;
  Disk& disk() override;
  Scheduler& scheduler() override { return *scheduler_; }
  TimerId ArmTimer(Instant deadline, FiberId fiber) override;
  void DisarmTimer(TimerId timer) override;

  // Runs the reactor until Stop() (from a fiber or a signal-safe path).
  void Run();
  void Stop() { stopping_ = true; }

  // --- For io/posix's own sockets and files ---
  std::unique_ptr<FdWatch> Watch(int fd);
  void Unwatch(FdWatch& watch);
  // Parks until `watch` reports `readiness` (or hang-up), the deadline passes or cancellation.
  absl::Status WaitReady(FdWatch& watch, Readiness readiness, Instant deadline);
  // Runs `blocking` on a helper thread; the calling fiber parks until it returns. Cannot be
  // cancelled once started (the syscall runs to completion either way).
  absl::Status RunBlocking(std::function<absl::Status()> blocking);

 private:
  explicit PosixRuntime(PosixOptions options, uint64_t seed);
  absl::Status Init();
  absl::Status LockDataDir();
  void FireExpiredTimers();
  void Poll(Instant wake_at);
  void DrainCompletions();
  void HelperLoop();

  PosixOptions options_;
  Random random_;
  std::unique_ptr<Scheduler> scheduler_ = std::make_unique<Scheduler>();
  int epoll_fd_ = -1;
  int completion_fd_ = -1;     // eventfd: a helper thread's "something finished".
  int data_dir_lock_fd_ = -1;  // <data_dir>/LOCK, flock'ed exclusively while we live.
  bool stopping_ = false;
  uint64_t next_timer_sequence_ = 1;
  absl::btree_map<std::pair<int64_t, uint64_t>, FiberId> timers_;

  std::mutex helper_mutex_;
  std::condition_variable helper_wakeup_;
  std::deque<std::function<void()>> helper_jobs_;  // Guarded by helper_mutex_.
  std::deque<std::function<void()>> completions_;  // Guarded by helper_mutex_.
  bool helper_exit_ = false;                       // Guarded by helper_mutex_.
  // Enough for the fibers that sync at once on a busy node (each replica's log, mark and hard
  // state); a job beyond them waits in helper_jobs_.
  static constexpr int kHelperThreads = 16;
  std::vector<std::thread> helpers_;

  std::unique_ptr<PosixDisk> disk_;
  std::unique_ptr<PosixNetwork> network_;
};

// Maps an errno to a status: ENOENT NotFound, EEXIST AlreadyExists, ENOSPC/EDQUOT
// ResourceExhausted, EIO DataLoss, ECONNRESET/EPIPE/ECONNREFUSED Unavailable, others Internal.
absl::Status ErrnoStatus(int error, std::string_view what);

}  // namespace meridian::io::posix
