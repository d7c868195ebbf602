// posix::PosixNetwork: io::Network on non-blocking TCP.
//
// Streams are plain TCP sockets (IPv4/IPv6 literals or "localhost"; no DNS, which would block).
// Peer messages travel as frames (io/frame.h) over one outgoing TCP link per peer. Each link is a
// fiber that connects with jittered exponential backoff (10 ms doubling to 1 s), introduces
// itself with a hello frame carrying its node id, then writes queued messages. A full queue
// drops the message and a reset loses what was in flight: peer messages are unreliable by
// contract, and this is how that shows up in production.
#pragma once

#include <memory>
#include <vector>

#include "absl/container/btree_map.h"
#include "io/network.h"
#include "io/sync.h"

namespace meridian::io::posix {

class PosixRuntime;

class PosixNetwork final : public Network {
 public:
  static constexpr size_t kInboxMessagesMax = 4096;
  static constexpr size_t kLinkQueueMessagesMax = 1024;
  static constexpr Duration kBackoffMin = std::chrono::milliseconds(10);
  static constexpr Duration kBackoffMax = std::chrono::seconds(1);
  // Pause before retrying accept when the process is out of descriptors (EMFILE/ENFILE).
  static constexpr Duration kAcceptBackoff = std::chrono::milliseconds(100);

  PosixNetwork(PosixRuntime& runtime, absl::btree_map<NodeId, Address> peers);
  ~PosixNetwork() override;

  void Send(NodeId to, std::vector<uint8_t> payload) override;
  absl::StatusOr<PeerMessage> Receive(Instant deadline) override;
  absl::StatusOr<std::unique_ptr<Listener>> Listen(const Address& address) override;
  absl::StatusOr<std::unique_ptr<Stream>> Connect(const Address& address,
                                                  Instant deadline) override;

  absl::Status StartPeerListener(const Address& address);
  uint64_t messages_dropped() const { return messages_dropped_; }
  // Times a listener of this network found no descriptor (or kernel memory) for a pending
  // connection and paused kAcceptBackoff before retrying, instead of failing.
  uint64_t accept_backoffs() const { return accept_backoffs_; }
  // Peer message bytes (payloads, without framing) written to and read from each configured
  // peer since start, for the node's per-region traffic metrics.
  struct PeerTraffic {
    uint64_t bytes_sent = 0;
    uint64_t bytes_received = 0;
  };
  const absl::btree_map<NodeId, PeerTraffic>& peer_traffic() const { return peer_traffic_; }

 private:
  struct Link;
  void RunLink(Link& link);
  void ServePeerConnection(Stream& stream);

  PosixRuntime& runtime_;
  const absl::btree_map<NodeId, Address> peers_;
  absl::btree_map<NodeId, std::unique_ptr<Link>> links_;
  Channel<PeerMessage> inbox_;
  std::unique_ptr<Listener> peer_listener_;
  uint64_t messages_dropped_ = 0;
  uint64_t accept_backoffs_ = 0;
  absl::btree_map<NodeId, PeerTraffic> peer_traffic_;  // Configured peers only (bounded).
};

}  // namespace meridian::io::posix
