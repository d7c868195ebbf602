// sim::SimNetwork: peer messages and client streams between simulated nodes.
//
// Peer messages: each Send becomes a delivery event after the link latency. A message to a node
// that is down when it arrives is lost; a full inbox drops it (as a real receive buffer would).
// Streams: FIFO byte pipes; each write arrives after the link latency but never before an
// earlier write on the same pipe. A crashed endpoint resets its peer's reads ("connection
// reset"); a clean Close gives the peer end-of-stream after the data in flight.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/btree_map.h"
#include "io/network.h"
#include "io/sync.h"

namespace meridian::sim {

class World;
class SimRuntime;
class SimListener;

class SimNetwork {
 public:
  explicit SimNetwork(World& world) : world_(world) {}

  // One-way latency for a message from `from` to `to`, drawn from the world's Random.
  io::Duration Latency(io::NodeId from, io::NodeId to);
  void Deliver(io::NodeId from, io::NodeId to, std::vector<uint8_t> payload);

  // Listener registry (by address); the listener unregisters itself when destroyed.
  absl::Status Register(const io::Address& address, SimListener* listener);
  void Unregister(const io::Address& address, SimListener* listener);
  SimListener* Find(const io::Address& address);
  uint16_t NextEphemeralPort() { return next_port_++; }

  uint64_t messages_sent() const { return messages_sent_; }
  uint64_t messages_dropped() const { return messages_dropped_; }

 private:
  World& world_;
  absl::btree_map<io::Address, SimListener*> listeners_;
  uint16_t next_port_ = 40000;
  uint64_t messages_sent_ = 0;
  uint64_t messages_dropped_ = 0;
};

// io::Network for one node incarnation.
class SimEndpoint final : public io::Network {
 public:
  static constexpr size_t kInboxMessagesMax = 4096;

  SimEndpoint(World& world, SimRuntime& runtime);

  void Send(io::NodeId to, std::vector<uint8_t> payload) override;
  absl::StatusOr<io::PeerMessage> Receive(io::Instant deadline) override;
  absl::StatusOr<std::unique_ptr<io::Listener>> Listen(const io::Address& address) override;
  absl::StatusOr<std::unique_ptr<io::Stream>> Connect(const io::Address& address,
                                                      io::Instant deadline) override;

  // Called by delivery events. False if the inbox was full (message dropped).
  bool Enqueue(io::PeerMessage message) { return inbox_.TrySend(std::move(message)); }

 private:
  World& world_;
  SimRuntime& runtime_;
  io::Channel<io::PeerMessage> inbox_;
};

}  // namespace meridian::sim
