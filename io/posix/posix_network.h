// posix::PosixNetwork: io::Network on non-blocking TCP.
//
// Streams are plain TCP sockets (IPv4/IPv6 literals or "localhost"; no DNS, which would block).
// Peer messages travel as frames (io/frame.h) over one outgoing TCP link per peer. Each link is a
// fiber that connects with jittered exponential backoff (10 ms doubling to 1 s), introduces
// itself with a hello frame carrying its node id, then writes queued messages. A full queue
// drops the message and a reset loses what was in flight: peer messages are unreliable by
// contract, and this is how that shows up in production.
//
// The hello is [u32 node id][cluster id]. With NetworkSecurity::peer_tls every link is mutual
// TLS first (io/posix/tls.h), and the receiving side refuses the connection — closes it, logs a
// line on stderr, counts it in peer_connections_refused() and delivers nothing it sent — unless
// the certificate verified against the CA, names node `n` of our cluster, the hello claims that
// same `n`, `n` is a configured peer and the hello's cluster id is ours. The dialing side checks
// that the listener's certificate names the peer it meant to reach. Without peer_tls the hello's
// id is believed (anyone reaching the peer port can speak for any node): plaintext mode, which
// meridian-node runs only when told --insecure_plaintext.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "io/frame.h"
#include "io/network.h"
#include "io/posix/posix_runtime.h"
#include "io/sync.h"

namespace meridian::io::posix {

class PosixNetwork final : public Network {
 public:
  static constexpr size_t kInboxMessagesMax = 4096;
  static constexpr size_t kLinkQueueMessagesMax = 1024;
  // A link writes every message queued behind the one it waited for in one write, up to about
  // this many bytes (fewer syscalls and TLS records under load; one message when idle).
  static constexpr size_t kLinkWriteBatchBytes = 256 << 10;
  static constexpr Duration kBackoffMin = std::chrono::milliseconds(10);
  static constexpr Duration kBackoffMax = std::chrono::seconds(1);
  // Pause before retrying accept when the process is out of descriptors (EMFILE/ENFILE).
  static constexpr Duration kAcceptBackoff = std::chrono::milliseconds(100);

  // Bound on a peer hello's cluster id, and on how long an accepted peer connection may take to
  // finish its TLS handshake and hello before it is dropped.
  static constexpr size_t kHelloBytesMax = 4 + 64;
  static constexpr Duration kHelloTimeout = std::chrono::seconds(10);

  PosixNetwork(PosixRuntime& runtime, absl::btree_map<NodeId, Address> peers,
               NetworkSecurity security = {}, PeerLinkLimits limits = {});
  ~PosixNetwork() override;

  void Send(NodeId to, std::vector<uint8_t> payload) override;
  absl::StatusOr<PeerMessage> Receive(Instant deadline) override;
  absl::StatusOr<std::unique_ptr<Listener>> Listen(const Address& address) override;
  absl::StatusOr<std::unique_ptr<Stream>> Connect(const Address& address,
                                                  Instant deadline) override;

  // A TCP stream without TLS whatever NetworkSecurity::client_tls says (HTTP endpoints).
  absl::StatusOr<std::unique_ptr<Stream>> ConnectPlain(const Address& address, Instant deadline);

  absl::Status StartPeerListener(const Address& address);
  // Peer connections refused (either direction): a TLS handshake that failed, a certificate
  // that does not name the claimed node of this cluster, a bad hello, a non-member, one past
  // PeerLinkLimits' hellos pending.
  uint64_t peer_connections_refused() const { return peer_connections_refused_; }
  // Incoming links closed because the same peer opened a newer one (one incoming link per peer:
  // the newest; the older is a peer's abandoned connection, or an impostor's in plaintext).
  uint64_t peer_links_replaced() const { return peer_links_replaced_; }
  // Incoming links closed because a frame did not arrive whole within
  // PeerLinkLimits::frame_timeout of its first byte.
  uint64_t peer_links_timed_out() const { return peer_links_timed_out_; }
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
  absl::StatusOr<std::unique_ptr<Stream>> ConnectPeer(const Link& link);
  void AcceptPeerConnection(std::unique_ptr<Stream> accepted);
  void ServePeerConnection(const std::shared_ptr<Stream>& stream, const std::string& address);
  void ReadPeerLink(const std::shared_ptr<Stream>& stream, FrameReader& reader, NodeId from);
  absl::StatusOr<NodeId> AdmitPeer(Stream& stream, FrameReader& reader);
  void RefusePeer(std::string_view direction, std::string_view peer, const absl::Status& why);

  PosixRuntime& runtime_;
  const absl::btree_map<NodeId, Address> peers_;
  absl::btree_map<NodeId, std::unique_ptr<Link>> links_;
  Channel<PeerMessage> inbox_;
  std::unique_ptr<Listener> peer_listener_;
  const NetworkSecurity security_;
  uint64_t messages_dropped_ = 0;
  uint64_t peer_connections_refused_ = 0;
  uint64_t accept_backoffs_ = 0;
  const PeerLinkLimits limits_;
  size_t hellos_pending_ = 0;
  absl::btree_map<std::string, size_t> hellos_pending_by_address_;  // Erased at 0.
  absl::btree_map<NodeId, std::shared_ptr<Stream>> incoming_;       // Members only.
  uint64_t peer_links_replaced_ = 0;
  uint64_t peer_links_timed_out_ = 0;
  // RefusePeer writes at most kRefusalLinesPerWindow lines a kRefusalWindow (a flood of hostile
  // connections must not flood the log); the next line logged says how many went unlogged.
  static constexpr Duration kRefusalWindow = std::chrono::seconds(1);
  static constexpr size_t kRefusalLinesPerWindow = 10;
  std::optional<Instant> refusal_window_start_;
  size_t refusals_logged_in_window_ = 0;
  uint64_t refusals_unlogged_ = 0;
  absl::btree_map<NodeId, PeerTraffic> peer_traffic_;  // Configured peers only (bounded).
};

}  // namespace meridian::io::posix
