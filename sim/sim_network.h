// sim::SimNetwork: peer messages and client streams between simulated nodes, with faults.
//
// Peer messages: each Send becomes a delivery event after a latency drawn from the Topology.
// Faults, each with its own rate (parts per million): drop, duplicate, delay spike; plus
// directed link blocks (partitions, a region cut off) that lose messages sent across them, and
// clogs (a link stalls until a time, then delivers everything it held). A message to a node that
// is down when it arrives is lost; a full inbox drops it.
//
// Streams: FIFO byte pipes. A blocked or clogged link holds the bytes (TCP retransmits) until it
// heals; the nemesis may reset any live stream (the peer's reads then fail with Unavailable). A
// crashed endpoint resets its peer; a clean Close gives end-of-stream after the data in flight.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "io/network.h"
#include "io/sync.h"
#include "sim/topology.h"

namespace meridian::sim {

class World;
class SimRuntime;
class SimListener;
class SimStream;

struct NetworkFaultRates {
  uint32_t drop_ppm = 0;
  uint32_t duplicate_ppm = 0;
  uint32_t delay_spike_ppm = 0;
  io::Duration delay_spike_max = std::chrono::milliseconds(400);
};

class SimNetwork {
 public:
  // How often a held stream chunk re-checks a blocked link.
  static constexpr io::Duration kBlockedRetry = std::chrono::milliseconds(50);

  SimNetwork(World& world, Topology& topology) : world_(world), topology_(topology) {}

  io::Duration Latency(io::NodeId from, io::NodeId to, size_t bytes);
  void Deliver(io::NodeId from, io::NodeId to, std::vector<uint8_t> payload);

  // --- Faults ---
  void set_rates(const NetworkFaultRates& rates) { rates_ = rates; }
  const NetworkFaultRates& rates() const { return rates_; }
  void Block(io::NodeId from, io::NodeId to) { blocked_.insert({from, to}); }
  // Lifts one directed block (a targeted fault ending before the others; HealAll lifts all).
  void Unblock(io::NodeId from, io::NodeId to) { blocked_.erase({from, to}); }
  bool IsBlocked(io::NodeId from, io::NodeId to) const { return blocked_.contains({from, to}); }
  void Clog(io::NodeId from, io::NodeId to, io::Instant until);
  // When a message sent now on from->to may arrive at the earliest (clogs).
  io::Instant ClogEnd(io::NodeId from, io::NodeId to) const;
  // A slow link in one direction: every message sent on from->to from now on takes `extra`
  // longer than its latency (0: back to normal). Unlike a clog, each message keeps its own delay.
  void Slow(io::NodeId from, io::NodeId to, io::Duration extra);
  io::Duration SlowExtra(io::NodeId from, io::NodeId to) const;
  void HealAll();
  size_t blocked_links() const { return blocked_.size(); }
  // Resets one live stream chosen by the world's Random. False if there is none.
  bool ResetRandomStream();

  // --- Registries ---
  absl::Status Register(const io::Address& address, SimListener* listener);
  void Unregister(const io::Address& address, SimListener* listener);
  SimListener* Find(const io::Address& address);
  uint16_t NextEphemeralPort() { return next_port_++; }
  uint64_t AddStream(SimStream* stream);
  void RemoveStream(uint64_t id) { streams_.erase(id); }

  // A tap on peer messages as they reach a live node's inbox (after the faults above, before any
  // fiber of `to` reads them): targeted fault schedules watch a protocol through it (the broker
  // workload's election schedules, sim/election_faults.h). Runs inside the delivery event, so it
  // may block links and schedule events but must not crash or start nodes itself.
  using DeliveryTap =
      std::function<void(io::NodeId from, io::NodeId to, std::span<const uint8_t> payload)>;
  void set_delivery_tap(DeliveryTap tap) { delivery_tap_ = std::move(tap); }

  uint64_t messages_sent() const { return messages_sent_; }
  uint64_t messages_dropped() const { return messages_dropped_; }
  Topology& topology() { return topology_; }

 private:
  void ScheduleDelivery(io::NodeId from, io::NodeId to, std::vector<uint8_t> payload,
                        const char* kind);

  World& world_;
  Topology& topology_;
  NetworkFaultRates rates_;
  DeliveryTap delivery_tap_;
  absl::btree_set<std::pair<io::NodeId, io::NodeId>> blocked_;
  absl::btree_map<std::pair<io::NodeId, io::NodeId>, io::Instant> clogged_until_;
  absl::btree_map<std::pair<io::NodeId, io::NodeId>, io::Duration> slowed_;
  absl::btree_map<io::Address, SimListener*> listeners_;
  absl::btree_map<uint64_t, SimStream*> streams_;
  uint64_t next_stream_id_ = 1;
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
