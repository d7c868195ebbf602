#include "sim/sim_network.h"

#include <fmt/format.h>

#include <algorithm>
#include <deque>

#include "io/assert.h"
#include "sim/sim_runtime.h"
#include "sim/world.h"

namespace meridian::sim {
namespace {

// One direction of a connection. Changes (data, end-of-stream, reset) travel through `pending`
// in order; a pump event applies each when it is due and its link is not blocked.
struct Pipe {
  struct Change {
    io::Instant due;
    std::vector<uint8_t> bytes;
    enum class Kind { kData, kEof, kReset } kind;
  };
  std::deque<uint8_t> bytes;
  bool eof = false;          // The writer closed cleanly; arrives after all its data.
  bool reset = false;        // The connection was reset; arrives after earlier data.
  bool reader_gone = false;  // The reading end is closed: further writes fail.
  bool pump_scheduled = false;
  std::deque<Change> pending;
  io::WaitList* readers = nullptr;  // Fibers blocked reading this pipe, while its reader lives.
  io::NodeId writer_node;
  io::NodeId reader_node;
};

void SchedulePump(World& world, const std::shared_ptr<Pipe>& pipe);

void Pump(World& world, const std::shared_ptr<Pipe>& pipe) {
  pipe->pump_scheduled = false;
  SimNetwork& network = world.network();
  bool changed = false;
  while (!pipe->pending.empty() && pipe->pending.front().due <= world.Now()) {
    if (network.IsBlocked(pipe->writer_node, pipe->reader_node) ||
        network.ClogEnd(pipe->writer_node, pipe->reader_node) > world.Now()) {
      // Held like unacknowledged TCP segments; try again later, keeping order.
      pipe->pending.front().due = world.Now() + SimNetwork::kBlockedRetry;
      break;
    }
    Pipe::Change change = std::move(pipe->pending.front());
    pipe->pending.pop_front();
    changed = true;
    switch (change.kind) {
      case Pipe::Change::Kind::kData:
        pipe->bytes.insert(pipe->bytes.end(), change.bytes.begin(), change.bytes.end());
        break;
      case Pipe::Change::Kind::kEof:
        pipe->eof = true;
        break;
      case Pipe::Change::Kind::kReset:
        pipe->reset = true;
        break;
    }
  }
  if (changed && pipe->readers != nullptr) pipe->readers->NotifyAll();
  SchedulePump(world, pipe);
}

void SchedulePump(World& world, const std::shared_ptr<Pipe>& pipe) {
  if (pipe->pump_scheduled || pipe->pending.empty()) return;
  pipe->pump_scheduled = true;
  world.Schedule(pipe->pending.front().due, pipe->reader_node, "stream",
                 [&world, pipe] { Pump(world, pipe); });
}

}  // namespace

class SimStream final : public io::Stream {
 public:
  SimStream(World& world, SimRuntime& runtime, std::shared_ptr<Pipe> in, std::shared_ptr<Pipe> out,
            std::string peer)
      : world_(world),
        runtime_(runtime),
        in_(std::move(in)),
        out_(std::move(out)),
        peer_(std::move(peer)),
        readers_(runtime) {
    in_->readers = &readers_;
    MERIDIAN_CHECK(in_->reader_node == runtime.node());
    MERIDIAN_CHECK(out_->writer_node == runtime.node());
    id_ = world_.network().AddStream(this);
  }

  ~SimStream() override {
    world_.network().RemoveStream(id_);
    Shutdown(runtime_.crashing() ? Pipe::Change::Kind::kReset : Pipe::Change::Kind::kEof);
    in_->readers = nullptr;
  }

  absl::StatusOr<size_t> Read(std::span<uint8_t> buffer, io::Instant deadline) override {
    MERIDIAN_CHECK(!buffer.empty());
    absl::Status waited = readers_.WaitUntil(
        [this] { return closed_ || !in_->bytes.empty() || in_->eof || in_->reset; }, deadline,
        "stream read");
    if (!waited.ok()) return waited;
    if (in_->reset) return absl::UnavailableError("connection reset by peer " + peer_);
    if (closed_) return absl::FailedPreconditionError("stream closed");
    if (!in_->bytes.empty()) {
      const size_t n = std::min(buffer.size(), in_->bytes.size());
      std::copy_n(in_->bytes.begin(), n, buffer.begin());
      in_->bytes.erase(in_->bytes.begin(), in_->bytes.begin() + static_cast<ptrdiff_t>(n));
      return n;
    }
    return 0;
  }

  absl::Status Write(std::span<const uint8_t> data, io::Instant deadline) override {
    if (closed_) return absl::FailedPreconditionError("stream closed");
    if (out_->reader_gone || in_->reset) {
      return absl::UnavailableError("connection reset by peer " + peer_);
    }
    Send(Pipe::Change::Kind::kData, std::vector<uint8_t>(data.begin(), data.end()));
    return absl::OkStatus();
  }

  void Close() override { Shutdown(Pipe::Change::Kind::kEof); }
  std::string peer() const override { return peer_; }

  // The nemesis' connection reset: both ends see Unavailable.
  void Reset() {
    if (closed_) return;
    in_->reset = true;
    readers_.NotifyAll();
    Shutdown(Pipe::Change::Kind::kReset);
  }

 private:
  void Shutdown(Pipe::Change::Kind how) {
    if (closed_) return;
    closed_ = true;
    in_->reader_gone = true;
    Send(how, {});
    readers_.NotifyAll();
  }

  void Send(Pipe::Change::Kind kind, std::vector<uint8_t> bytes) {
    const io::Instant due =
        world_.Now() + world_.network().Latency(runtime_.node(), out_->reader_node, bytes.size());
    // FIFO: never due before what is already queued on this pipe.
    const io::Instant at = out_->pending.empty() ? due : std::max(due, out_->pending.back().due);
    out_->pending.push_back({at, std::move(bytes), kind});
    SchedulePump(world_, out_);
  }

  World& world_;
  SimRuntime& runtime_;
  std::shared_ptr<Pipe> in_;
  std::shared_ptr<Pipe> out_;
  const std::string peer_;
  io::WaitList readers_;
  bool closed_ = false;
  uint64_t id_ = 0;
};

class SimListener final : public io::Listener {
 public:
  static constexpr size_t kBacklogMax = 128;

  SimListener(World& world, SimRuntime& runtime, io::Address address)
      : world_(world),
        runtime_(runtime),
        address_(std::move(address)),
        pending_(runtime, kBacklogMax) {}
  ~SimListener() override { Close(); }

  absl::StatusOr<std::unique_ptr<io::Stream>> Accept(io::Instant deadline) override {
    absl::StatusOr<std::unique_ptr<io::Stream>> stream = pending_.Receive(deadline);
    if (!stream.ok() && pending_.closed()) return absl::FailedPreconditionError("listener closed");
    return stream;
  }
  io::Address address() const override { return address_; }
  void Close() override {
    if (pending_.closed()) return;
    pending_.Close();
    world_.network().Unregister(address_, this);
  }

  // Called at a connection's arrival. False when the backlog is full (connection refused).
  bool Offer(std::shared_ptr<Pipe> in, std::shared_ptr<Pipe> out, std::string peer) {
    if (pending_.closed() || pending_.size() >= pending_.capacity()) return false;
    auto stream = std::make_unique<SimStream>(world_, runtime_, std::move(in), std::move(out),
                                              std::move(peer));
    MERIDIAN_CHECK(pending_.TrySend(std::move(stream)));
    return true;
  }
  io::NodeId node() const { return runtime_.node(); }

 private:
  World& world_;
  SimRuntime& runtime_;
  const io::Address address_;
  io::Channel<std::unique_ptr<io::Stream>> pending_;
};

io::Duration SimNetwork::Latency(io::NodeId from, io::NodeId to, size_t bytes) {
  io::Duration latency = topology_.Draw(from, to, bytes, world_.random());
  if (rates_.delay_spike_ppm > 0 && world_.random().Chance(rates_.delay_spike_ppm, 1'000'000)) {
    latency += io::Duration(world_.random().Between(0, rates_.delay_spike_max.count()));
    world_.RecordFault("delay_spike");
  }
  return latency;
}

void SimNetwork::Clog(io::NodeId from, io::NodeId to, io::Instant until) {
  io::Instant& end = clogged_until_[{from, to}];
  end = std::max(end, until);
}

io::Instant SimNetwork::ClogEnd(io::NodeId from, io::NodeId to) const {
  auto it = clogged_until_.find({from, to});
  return it == clogged_until_.end() ? io::Instant() : it->second;
}

void SimNetwork::Slow(io::NodeId from, io::NodeId to, io::Duration extra) {
  MERIDIAN_CHECK(extra.count() >= 0);
  if (extra.count() == 0) {
    slowed_.erase({from, to});
  } else {
    slowed_[{from, to}] = extra;
  }
}

io::Duration SimNetwork::SlowExtra(io::NodeId from, io::NodeId to) const {
  auto it = slowed_.find({from, to});
  return it == slowed_.end() ? io::Duration(0) : it->second;
}

void SimNetwork::HealAll() {
  blocked_.clear();
  clogged_until_.clear();
  slowed_.clear();
}

void SimNetwork::Deliver(io::NodeId from, io::NodeId to, std::vector<uint8_t> payload) {
  messages_sent_++;
  if (IsBlocked(from, to)) {
    messages_dropped_++;
    world_.Trace(from, fmt::format("partitioned: message to {} lost", to.ToString()));
    return;
  }
  if (rates_.drop_ppm > 0 && world_.random().Chance(rates_.drop_ppm, 1'000'000)) {
    messages_dropped_++;
    world_.RecordFault("drop");
    world_.Trace(from, fmt::format("drop message to {}", to.ToString()));
    return;
  }
  if (rates_.duplicate_ppm > 0 && world_.random().Chance(rates_.duplicate_ppm, 1'000'000)) {
    world_.RecordFault("duplicate");
    ScheduleDelivery(from, to, payload, "deliver duplicate");
  }
  ScheduleDelivery(from, to, std::move(payload), "deliver");
}

void SimNetwork::ScheduleDelivery(io::NodeId from, io::NodeId to, std::vector<uint8_t> payload,
                                  const char* kind) {
  const io::Instant at = std::max(
      world_.Now() + Latency(from, to, payload.size()) + SlowExtra(from, to), ClogEnd(from, to));
  world_.Schedule(at, to, kind, [this, from, to, payload = std::move(payload)]() mutable {
    SimRuntime* runtime = world_.runtime(to);
    // The tap sees only what the node will read, so it keeps a copy past the inbox's move.
    std::vector<uint8_t> tapped;
    if (delivery_tap_ && runtime != nullptr) tapped = payload;
    if (runtime == nullptr || !runtime->endpoint().Enqueue({from, std::move(payload)})) {
      messages_dropped_++;
      world_.Trace(to,
                   fmt::format("drop message from {} (node down or inbox full)", from.ToString()));
      return;
    }
    if (delivery_tap_) delivery_tap_(from, to, tapped);
  });
}

bool SimNetwork::ResetRandomStream() {
  if (streams_.empty()) return false;
  auto it = streams_.begin();
  std::advance(it, static_cast<ptrdiff_t>(world_.random().Below(streams_.size())));
  it->second->Reset();
  return true;
}

uint64_t SimNetwork::AddStream(SimStream* stream) {
  const uint64_t id = next_stream_id_++;
  streams_.emplace(id, stream);
  return id;
}

absl::Status SimNetwork::Register(const io::Address& address, SimListener* listener) {
  if (!listeners_.emplace(address, listener).second) {
    return absl::AlreadyExistsError("address in use: " + address.ToString());
  }
  return absl::OkStatus();
}

void SimNetwork::Unregister(const io::Address& address, SimListener* listener) {
  auto it = listeners_.find(address);
  if (it != listeners_.end() && it->second == listener) listeners_.erase(it);
}

SimListener* SimNetwork::Find(const io::Address& address) {
  auto it = listeners_.find(address);
  return it == listeners_.end() ? nullptr : it->second;
}

SimEndpoint::SimEndpoint(World& world, SimRuntime& runtime)
    : world_(world), runtime_(runtime), inbox_(runtime, kInboxMessagesMax) {}

void SimEndpoint::Send(io::NodeId to, std::vector<uint8_t> payload) {
  MERIDIAN_CHECK(payload.size() <= io::kMessageBytesMax, "message of {} bytes", payload.size());
  world_.network().Deliver(runtime_.node(), to, std::move(payload));
}

absl::StatusOr<io::PeerMessage> SimEndpoint::Receive(io::Instant deadline) {
  return inbox_.Receive(deadline);
}

absl::StatusOr<std::unique_ptr<io::Listener>> SimEndpoint::Listen(const io::Address& address) {
  const std::string& own_host = world_.host(runtime_.node());
  if (address.host != own_host) {
    return absl::InvalidArgumentError(
        fmt::format("node {} cannot listen on host '{}'", own_host, address.host));
  }
  io::Address bound = address;
  if (bound.port == 0) bound.port = world_.network().NextEphemeralPort();
  auto listener = std::make_unique<SimListener>(world_, runtime_, bound);
  if (absl::Status s = world_.network().Register(bound, listener.get()); !s.ok()) return s;
  return listener;
}

absl::StatusOr<std::unique_ptr<io::Stream>> SimEndpoint::Connect(const io::Address& address,
                                                                 io::Instant deadline) {
  struct Handshake {
    bool done = false;
    bool accepted = false;
  };
  auto handshake = std::make_shared<Handshake>();
  const io::NodeId self = runtime_.node();
  const io::FiberId fiber = runtime_.scheduler().Current();
  SimNetwork& network = world_.network();
  SimListener* target = network.Find(address);
  const io::NodeId server = target != nullptr ? target->node() : self;
  auto to_server = std::make_shared<Pipe>();
  auto to_client = std::make_shared<Pipe>();
  to_server->writer_node = self;
  to_server->reader_node = server;
  to_client->writer_node = server;
  to_client->reader_node = self;
  const std::string client_name = fmt::format("{}:{}", world_.host(self), fiber.value());
  const bool syn_lost = network.IsBlocked(self, server);
  // SYN: offer the connection to whoever listens on `address` when it arrives; SYN-ACK back.
  // A SYN across a partition is lost: the connect times out at its deadline.
  if (!syn_lost) {
    world_.Schedule(
        world_.Now() + network.Latency(self, server, 0), server, "connect",
        // Not `this`: the dialling node may crash (destroying this endpoint) before the SYN
        // arrives. Only the SYN-ACK, which is dropped for a later incarnation, touches it.
        [endpoint = this, &world = world_, address, handshake, to_server, to_client, self, server,
         fiber, client_name, incarnation = runtime_.incarnation(), &network] {
          SimListener* listener = network.Find(address);
          // A listener that appeared elsewhere since the SYN left is not the one we dialled.
          const bool accepted = listener != nullptr && listener->node() == server &&
                                listener->Offer(to_server, to_client, client_name);
          if (network.IsBlocked(server, self)) return;  // SYN-ACK lost.
          world.Schedule(
              world.Now() + network.Latency(server, self, 0), self, "connect reply",
              [endpoint, handshake, accepted, fiber] {
                handshake->done = true;
                handshake->accepted = accepted;
                endpoint->runtime_.Unpark(fiber);
              },
              incarnation);
        });
  }
  while (!handshake->done) {
    const io::WakeReason reason = runtime_.Park(deadline);
    if (reason != io::WakeReason::kNotified && !handshake->done) {
      to_client->reader_gone = true;  // An accept that still arrives sees a dead peer.
      to_server->reset = true;
      return io::WaitEndedStatus(reason, "connect to " + address.ToString());
    }
  }
  if (!handshake->accepted) {
    return absl::UnavailableError("connection refused by " + address.ToString());
  }
  return std::make_unique<SimStream>(world_, runtime_, to_client, to_server, address.ToString());
}

}  // namespace meridian::sim
