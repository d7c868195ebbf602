#include "sim/sim_network.h"

#include <fmt/format.h>

#include <algorithm>
#include <deque>

#include "io/assert.h"
#include "sim/sim_runtime.h"
#include "sim/world.h"

namespace meridian::sim {
namespace {

class SimStream;

// One direction of a connection.
struct Pipe {
  std::deque<uint8_t> bytes;
  bool eof = false;          // The writer closed cleanly; arrives after all its data.
  bool reset = false;        // The writer crashed; arrives after the data before the crash.
  bool reader_gone = false;  // The reading end is closed: further writes fail.
  io::Instant last_arrival;
  io::WaitList* readers = nullptr;  // Fibers blocked reading this pipe, while its reader lives.
  io::NodeId reader_node;
};

class SimStream final : public io::Stream {
 public:
  SimStream(World& world, SimRuntime& runtime, std::shared_ptr<Pipe> in, std::shared_ptr<Pipe> out,
            std::string peer)
      : world_(world), runtime_(runtime), in_(std::move(in)), out_(std::move(out)),
        peer_(std::move(peer)), readers_(runtime) {
    in_->readers = &readers_;
    in_->reader_node = runtime.node();
  }

  ~SimStream() override {
    if (runtime_.crashing()) {
      Shutdown(/*reset=*/true);
    } else {
      Close();
    }
    in_->readers = nullptr;
  }

  absl::StatusOr<size_t> Read(std::span<uint8_t> buffer, io::Instant deadline) override {
    MERIDIAN_CHECK(!buffer.empty());
    absl::Status waited = readers_.WaitUntil(
        [this] { return closed_ || !in_->bytes.empty() || in_->eof || in_->reset; }, deadline,
        "stream read");
    if (!waited.ok()) return waited;
    if (closed_) return absl::FailedPreconditionError("stream closed");
    if (!in_->bytes.empty()) {
      const size_t n = std::min(buffer.size(), in_->bytes.size());
      std::copy_n(in_->bytes.begin(), n, buffer.begin());
      in_->bytes.erase(in_->bytes.begin(), in_->bytes.begin() + static_cast<ptrdiff_t>(n));
      return n;
    }
    if (in_->reset) return absl::UnavailableError("connection reset by peer " + peer_);
    return 0;
  }

  absl::Status Write(std::span<const uint8_t> data, io::Instant deadline) override {
    if (closed_) return absl::FailedPreconditionError("stream closed");
    if (out_->reader_gone) return absl::UnavailableError("connection reset by peer " + peer_);
    std::vector<uint8_t> bytes(data.begin(), data.end());
    ScheduleArrival("stream data", [bytes = std::move(bytes)](Pipe& pipe) {
      pipe.bytes.insert(pipe.bytes.end(), bytes.begin(), bytes.end());
    });
    return absl::OkStatus();
  }

  void Close() override { Shutdown(/*reset=*/false); }
  std::string peer() const override { return peer_; }

 private:
  void Shutdown(bool reset) {
    if (closed_) return;
    closed_ = true;
    in_->reader_gone = true;
    ScheduleArrival(reset ? "stream reset" : "stream fin", [reset](Pipe& pipe) {
      if (reset) {
        pipe.reset = true;
      } else {
        pipe.eof = true;
      }
    });
    readers_.NotifyAll();
  }

  // Applies `change` to the outgoing pipe after the link latency, FIFO with earlier changes.
  void ScheduleArrival(std::string_view kind, std::function<void(Pipe&)> change) {
    const io::NodeId to = out_->reader_node;
    io::Instant at = world_.Now() + world_.network().Latency(runtime_.node(), to);
    at = std::max(at, out_->last_arrival);
    out_->last_arrival = at;
    world_.Schedule(at, to, kind, [pipe = out_, change = std::move(change)] {
      change(*pipe);
      if (pipe->readers != nullptr) pipe->readers->NotifyAll();
    });
  }

  World& world_;
  SimRuntime& runtime_;
  std::shared_ptr<Pipe> in_;
  std::shared_ptr<Pipe> out_;
  const std::string peer_;
  io::WaitList readers_;
  bool closed_ = false;
};

}  // namespace

class SimListener final : public io::Listener {
 public:
  static constexpr size_t kBacklogMax = 128;

  SimListener(World& world, SimRuntime& runtime, io::Address address)
      : world_(world), runtime_(runtime), address_(std::move(address)),
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

io::Duration SimNetwork::Latency(io::NodeId from, io::NodeId to) {
  const WorldOptions& options = world_.options();
  if (from == to) return io::Duration(1000);
  return io::Duration(world_.random().Between(options.link_latency_min.count(),
                                              options.link_latency_max.count()));
}

void SimNetwork::Deliver(io::NodeId from, io::NodeId to, std::vector<uint8_t> payload) {
  messages_sent_++;
  const io::Instant at = world_.Now() + Latency(from, to);
  world_.Schedule(at, to, "deliver", [this, from, to, payload = std::move(payload)]() mutable {
    SimRuntime* runtime = world_.runtime(to);
    if (runtime == nullptr || !runtime->endpoint().Enqueue({from, std::move(payload)})) {
      messages_dropped_++;
      world_.Trace(to, fmt::format("drop message from {} (node down or inbox full)",
                                   from.ToString()));
    }
  });
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
  auto to_server = std::make_shared<Pipe>();
  auto to_client = std::make_shared<Pipe>();
  const io::NodeId self = runtime_.node();
  const io::FiberId fiber = runtime_.scheduler().Current();
  SimListener* target = world_.network().Find(address);
  const io::NodeId server = target != nullptr ? target->node() : self;
  const std::string client_name = fmt::format("{}:{}", world_.host(self), fiber.value());
  to_server->reader_node = server;
  to_client->reader_node = self;
  SimNetwork& network = world_.network();
  // SYN: offer the connection to whoever listens on `address` when it arrives; SYN-ACK back.
  world_.Schedule(world_.Now() + network.Latency(self, server), server, "connect",
                  [this, address, handshake, to_server, to_client, self, server, fiber,
                   client_name, incarnation = runtime_.incarnation(), &network] {
                    SimListener* listener = network.Find(address);
                    const bool accepted =
                        listener != nullptr && listener->Offer(to_server, to_client, client_name);
                    world_.Schedule(
                        world_.Now() + network.Latency(server, self), self, "connect reply",
                        [this, handshake, accepted, fiber] {
                          handshake->done = true;
                          handshake->accepted = accepted;
                          runtime_.Unpark(fiber);
                        },
                        incarnation);
                  });
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
