#include "core/client/testing/test_runtime.h"

#include <deque>

#include "io/assert.h"
#include "io/disk.h"
#include "io/sync.h"

namespace meridian::core::client::testing {
namespace {

// One direction of a stream: bytes written by one end, read by the other.
struct Pipe {
  explicit Pipe(io::Runtime& runtime) : readers(runtime) {}
  std::deque<uint8_t> bytes;
  bool closed = false;
  io::WaitList readers;
};

class MemoryStream final : public io::Stream {
 public:
  MemoryStream(std::shared_ptr<Pipe> in, std::shared_ptr<Pipe> out, std::string peer)
      : in_(std::move(in)), out_(std::move(out)), peer_(std::move(peer)) {}
  ~MemoryStream() override { Close(); }

  absl::StatusOr<size_t> Read(std::span<uint8_t> buffer, io::Instant deadline) override {
    if (closed_) return absl::FailedPreconditionError("stream closed");
    absl::Status waited = in_->readers.WaitUntil(
        [this] { return closed_ || in_->closed || !in_->bytes.empty(); }, deadline, "read");
    if (!waited.ok()) return waited;
    if (closed_) return absl::FailedPreconditionError("stream closed");
    size_t count = 0;
    while (count < buffer.size() && !in_->bytes.empty()) {
      buffer[count++] = in_->bytes.front();
      in_->bytes.pop_front();
    }
    return count;  // 0: the peer closed and everything was read.
  }

  absl::Status Write(std::span<const uint8_t> data, io::Instant) override {
    if (closed_) return absl::FailedPreconditionError("stream closed");
    if (out_->closed) return absl::UnavailableError("connection reset by peer");
    out_->bytes.insert(out_->bytes.end(), data.begin(), data.end());
    out_->readers.NotifyAll();
    return absl::OkStatus();
  }

  void Close() override {
    if (closed_) return;
    closed_ = true;
    in_->closed = true;
    out_->closed = true;
    in_->readers.NotifyAll();
    out_->readers.NotifyAll();
  }

  std::string peer() const override { return peer_; }

 private:
  std::shared_ptr<Pipe> in_;
  std::shared_ptr<Pipe> out_;
  std::string peer_;
  bool closed_ = false;
};

class MemoryNetwork;

class MemoryListener final : public io::Listener {
 public:
  MemoryListener(MemoryNetwork& network, io::Runtime& runtime, io::Address address)
      : network_(network), address_(std::move(address)), waiters_(runtime) {}
  ~MemoryListener() override { Close(); }

  absl::StatusOr<std::unique_ptr<io::Stream>> Accept(io::Instant deadline) override {
    absl::Status waited =
        waiters_.WaitUntil([this] { return closed_ || !pending_.empty(); }, deadline, "accept");
    if (!waited.ok()) return waited;
    if (closed_) return absl::FailedPreconditionError("listener closed");
    std::unique_ptr<io::Stream> stream = std::move(pending_.front());
    pending_.pop_front();
    return stream;
  }
  io::Address address() const override { return address_; }
  void Close() override;

  void Offer(std::unique_ptr<io::Stream> stream) {
    pending_.push_back(std::move(stream));
    waiters_.NotifyAll();
  }

 private:
  MemoryNetwork& network_;
  io::Address address_;
  io::WaitList waiters_;
  std::deque<std::unique_ptr<io::Stream>> pending_;
  bool closed_ = false;
};

class MemoryNetwork final : public io::Network {
 public:
  explicit MemoryNetwork(io::Runtime& runtime) : runtime_(runtime) {}

  void Send(io::NodeId, std::vector<uint8_t>) override {}
  absl::StatusOr<io::PeerMessage> Receive(io::Instant) override {
    return absl::UnimplementedError("no peer messages in the client test runtime");
  }

  absl::StatusOr<std::unique_ptr<io::Listener>> Listen(const io::Address& address) override {
    if (listeners_.contains(address)) {
      return absl::AlreadyExistsError(address.ToString() + " is in use");
    }
    auto listener = std::make_unique<MemoryListener>(*this, runtime_, address);
    listeners_[address] = listener.get();
    return std::unique_ptr<io::Listener>(std::move(listener));
  }

  absl::StatusOr<std::unique_ptr<io::Stream>> Connect(const io::Address& address,
                                                      io::Instant) override {
    auto it = listeners_.find(address);
    if (it == listeners_.end()) {
      return absl::UnavailableError("connection refused by " + address.ToString());
    }
    auto up = std::make_shared<Pipe>(runtime_);
    auto down = std::make_shared<Pipe>(runtime_);
    const std::string client = "client:" + std::to_string(next_client_port_++);
    it->second->Offer(std::make_unique<MemoryStream>(up, down, client));
    auto stream = std::make_unique<MemoryStream>(down, up, address.ToString());
    return std::unique_ptr<io::Stream>(std::move(stream));
  }

  void Forget(const io::Address& address) { listeners_.erase(address); }

 private:
  io::Runtime& runtime_;
  absl::btree_map<io::Address, MemoryListener*> listeners_;
  uint32_t next_client_port_ = 40000;
};

void MemoryListener::Close() {
  if (closed_) return;
  closed_ = true;
  network_.Forget(address_);
  pending_.clear();
  waiters_.NotifyAll();
}

class NoDisk final : public io::Disk {
 public:
  absl::StatusOr<std::unique_ptr<io::File>> Open(const std::string&, io::OpenMode) override {
    return Unavailable();
  }
  absl::Status CreateDir(const std::string&) override { return Unavailable(); }
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string&) override {
    return Unavailable();
  }
  absl::Status Remove(const std::string&) override { return Unavailable(); }
  absl::Status Rename(const std::string&, const std::string&) override { return Unavailable(); }
  absl::Status SyncDir(const std::string&) override { return Unavailable(); }
  absl::StatusOr<bool> Exists(const std::string&) override { return Unavailable(); }

 private:
  static absl::Status Unavailable() {
    return absl::UnimplementedError("the client test runtime has no disk");
  }
};

}  // namespace

TestRuntime::TestRuntime(uint64_t seed)
    : io::Runtime(io::NodeId(1)),
      random_(seed),
      scheduler_(std::make_unique<io::Scheduler>()),
      network_(std::make_unique<MemoryNetwork>(*this)),
      disk_(std::make_unique<NoDisk>()) {}

TestRuntime::~TestRuntime() { scheduler_->Shutdown(); }

io::Network& TestRuntime::network() { return *network_; }
io::Disk& TestRuntime::disk() { return *disk_; }

io::TimerId TestRuntime::ArmTimer(io::Instant deadline, io::FiberId fiber) {
  const uint64_t sequence = next_timer_sequence_++;
  timers_[{deadline.nanos(), sequence}] = fiber;
  return io::TimerId{.deadline_ns = deadline.nanos(), .sequence = sequence};
}

void TestRuntime::DisarmTimer(io::TimerId timer) {
  timers_.erase({timer.deadline_ns, timer.sequence});
}

bool TestRuntime::RunUntil(const std::function<bool()>& done, io::Duration limit) {
  const io::Instant end = now_ + limit;
  while (true) {
    scheduler_->RunUntilIdle();
    if (done()) return true;
    if (timers_.empty()) return false;  // Every fiber waits for something that never comes.
    auto first = timers_.begin();
    const io::Instant at = io::Instant::FromNanos(first->first.first);
    if (at > end) return false;
    if (at > now_) now_ = at;
    const io::FiberId fiber = first->second;
    timers_.erase(first);
    scheduler_->Wake(fiber);
  }
}

bool TestRuntime::RunFiber(std::function<void()> body, io::Duration limit) {
  auto finished = std::make_shared<bool>(false);
  Spawn("test-main", [body = std::move(body), finished] {
    body();
    *finished = true;
  });
  return RunUntil([&] { return *finished; }, limit);
}

}  // namespace meridian::core::client::testing
