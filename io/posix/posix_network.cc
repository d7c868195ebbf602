#include "io/posix/posix_network.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include "io/assert.h"
#include "io/frame.h"
#include "io/posix/posix_runtime.h"
#include "io/posix/tls.h"

namespace meridian::io::posix {
namespace {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
};

absl::StatusOr<SocketAddress> Resolve(const Address& address) {
  SocketAddress out;
  const std::string host = address.host == "localhost" ? "127.0.0.1" : address.host;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(address.port);
    out.length = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(address.port);
    out.length = sizeof(sockaddr_in6);
  } else {
    return absl::InvalidArgumentError(
        fmt::format("'{}' is not an IP literal or localhost (no DNS here)", address.host));
  }
  return out;
}

class TcpStream final : public Stream {
 public:
  TcpStream(PosixRuntime& runtime, int fd, std::string peer)
      : runtime_(runtime), fd_(fd), watch_(runtime.Watch(fd)), peer_(std::move(peer)) {
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~TcpStream() override { Close(); }

  absl::StatusOr<size_t> Read(std::span<uint8_t> buffer, Instant deadline) override {
    MERIDIAN_CHECK(!buffer.empty());
    while (true) {
      if (fd_ < 0) return absl::FailedPreconditionError("stream closed");
      const ssize_t n = read(fd_, buffer.data(), buffer.size());
      if (n >= 0) return static_cast<size_t>(n);
      if (errno == EINTR) continue;
      if (errno != EAGAIN) return ErrnoStatus(errno, "read from " + peer_);
      watch_->readable = false;
      if (absl::Status s = runtime_.WaitReady(*watch_, Readiness::kReadable, deadline); !s.ok()) {
        return s;
      }
    }
  }

  absl::Status Write(std::span<const uint8_t> data, Instant deadline) override {
    size_t done = 0;
    while (done < data.size()) {
      if (fd_ < 0) return absl::FailedPreconditionError("stream closed");
      const ssize_t n = send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n >= 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN) return ErrnoStatus(errno, "write to " + peer_);
      watch_->writable = false;
      if (absl::Status s = runtime_.WaitReady(*watch_, Readiness::kWritable, deadline); !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }

  void Close() override {
    if (fd_ < 0) return;
    runtime_.Unwatch(*watch_);
    close(fd_);
    fd_ = -1;
  }
  std::string peer() const override { return peer_; }

  // For a non-blocking connect in progress.
  absl::Status WaitWritable(Instant deadline) {
    return runtime_.WaitReady(*watch_, Readiness::kWritable, deadline);
  }

 private:
  PosixRuntime& runtime_;
  int fd_;
  std::unique_ptr<FdWatch> watch_;
  const std::string peer_;
};

class TcpListener final : public Listener {
 public:
  // `backoffs` counts accept back-offs (PosixNetwork::accept_backoffs); it outlives listeners.
  TcpListener(PosixRuntime& runtime, int fd, Address address, uint64_t* backoffs)
      : runtime_(runtime),
        fd_(fd),
        watch_(runtime.Watch(fd)),
        address_(std::move(address)),
        backoffs_(backoffs) {}
  ~TcpListener() override { Close(); }

  absl::StatusOr<std::unique_ptr<Stream>> Accept(Instant deadline) override {
    while (true) {
      if (fd_ < 0) return absl::FailedPreconditionError("listener closed");
      sockaddr_storage peer{};
      socklen_t length = sizeof(peer);
      const int fd =
          accept4(fd_, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        if (starved_backoffs_ > 0) {
          fmt::print(stderr, "accept on {}: accepting again after {} back-offs\n",
                     address_.ToString(), starved_backoffs_);
          starved_backoffs_ = 0;
        }
        return std::make_unique<TcpStream>(runtime_, fd, DescribePeer(peer));
      }
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        if (absl::Status s = BackOff(errno, deadline); !s.ok()) return s;
        continue;
      }
      if (errno != EAGAIN) return ErrnoStatus(errno, "accept on " + address_.ToString());
      watch_->readable = false;
      if (absl::Status s = runtime_.WaitReady(*watch_, Readiness::kReadable, deadline); !s.ok()) {
        return s;
      }
    }
  }
  Address address() const override { return address_; }
  void Close() override {
    if (fd_ < 0) return;
    runtime_.Unwatch(*watch_);
    close(fd_);
    fd_ = -1;
  }

 private:
  // Out of descriptors (or kernel memory): the connection waits in the backlog. Failing here
  // would end the caller's accept loop and the node would stop serving for good, though
  // descriptors free up as connections close; so pause and retry. Logged once per starvation
  // episode (and when it ends), counted every time.
  absl::Status BackOff(int error, Instant deadline) {
    (*backoffs_)++;
    if (starved_backoffs_++ == 0) {
      fmt::print(stderr, "accept on {}: {}; retrying every {} ms\n", address_.ToString(),
                 std::strerror(error), PosixNetwork::kAcceptBackoff.count() / 1'000'000);
    }
    const Instant retry_at = runtime_.Now() + PosixNetwork::kAcceptBackoff;
    if (absl::Status s = runtime_.SleepUntil(std::min(retry_at, deadline)); !s.ok()) return s;
    if (runtime_.Now() >= deadline) {
      return absl::DeadlineExceededError(
          fmt::format("accept on {}: no descriptor before the deadline", address_.ToString()));
    }
    return absl::OkStatus();
  }

  static std::string DescribePeer(const sockaddr_storage& peer) {
    char text[INET6_ADDRSTRLEN] = "?";
    if (peer.ss_family == AF_INET) {
      const auto* v4 = reinterpret_cast<const sockaddr_in*>(&peer);
      inet_ntop(AF_INET, &v4->sin_addr, text, sizeof(text));
      return fmt::format("{}:{}", text, ntohs(v4->sin_port));
    }
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&peer);
    inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof(text));
    return fmt::format("[{}]:{}", text, ntohs(v6->sin6_port));
  }

  PosixRuntime& runtime_;
  int fd_;
  std::unique_ptr<FdWatch> watch_;
  const Address address_;
  uint64_t* const backoffs_;
  uint64_t starved_backoffs_ = 0;  // Back-offs since the last successful accept.
};

// [u32 node id, little-endian][cluster id, 0..64 bytes].
std::vector<uint8_t> EncodeHello(NodeId node, std::string_view cluster_id) {
  std::vector<uint8_t> hello(4);
  for (int i = 0; i < 4; i++) hello[i] = static_cast<uint8_t>(node.value() >> (8 * i));
  hello.insert(hello.end(), cluster_id.begin(), cluster_id.end());
  return hello;
}

}  // namespace

struct PosixNetwork::Link {
  Link(PosixRuntime& runtime, NodeId peer, Address address)
      : peer(peer), address(std::move(address)), queue(runtime, kLinkQueueMessagesMax) {}
  NodeId peer;
  Address address;
  Channel<std::vector<uint8_t>> queue;
};

PosixNetwork::PosixNetwork(PosixRuntime& runtime, absl::btree_map<NodeId, Address> peers,
                           NetworkSecurity security, PeerLinkLimits limits)
    : runtime_(runtime),
      peers_(std::move(peers)),
      inbox_(runtime, kInboxMessagesMax),
      security_(std::move(security)),
      limits_(limits) {
  MERIDIAN_CHECK(limits_.hellos_pending_max >= 1 && limits_.hellos_pending_per_address_max >= 1);
  MERIDIAN_CHECK(security_.peer_tls == nullptr || !security_.cluster_id.empty(),
                 "peer TLS needs a cluster id");
  MERIDIAN_CHECK(security_.cluster_id.size() + 4 <= kHelloBytesMax);
}

PosixNetwork::~PosixNetwork() = default;

void PosixNetwork::Send(NodeId to, std::vector<uint8_t> payload) {
  MERIDIAN_CHECK(payload.size() <= kMessageBytesMax, "message of {} bytes", payload.size());
  auto it = links_.find(to);
  if (it == links_.end()) {
    auto peer = peers_.find(to);
    if (peer == peers_.end()) {
      messages_dropped_++;  // Unknown peer: nothing to send to.
      return;
    }
    it = links_.emplace(to, std::make_unique<Link>(runtime_, to, peer->second)).first;
    Link& link = *it->second;
    runtime_.Spawn(fmt::format("link-{}", to.ToString()), [this, &link] { RunLink(link); });
  }
  if (!it->second->queue.TrySend(std::move(payload))) messages_dropped_++;
}

void PosixNetwork::RunLink(Link& link) {
  Duration backoff = kBackoffMin;
  while (true) {
    absl::StatusOr<std::unique_ptr<Stream>> stream = ConnectPeer(link);
    absl::Status failure = stream.status();
    if (stream.ok()) {
      backoff = kBackoffMin;
      failure = WriteFrame(**stream, EncodeHello(runtime_.node(), security_.cluster_id),
                           Instant::Infinite());
      std::vector<uint8_t> batch;
      while (failure.ok()) {
        absl::StatusOr<std::vector<uint8_t>> message = link.queue.Receive();
        if (!message.ok()) return;  // Cancelled or closed: the node is shutting down.
        // What queued up meanwhile (while the last write waited, say) goes in the same write.
        // A message is never split: a failed write loses whole messages, which raft resends.
        batch.clear();
        uint64_t payload_bytes = message->size();
        AppendFrame(batch, *message);
        while (batch.size() < kLinkWriteBatchBytes) {
          std::optional<std::vector<uint8_t>> more = link.queue.TryReceive();
          if (!more.has_value()) break;
          payload_bytes += more->size();
          AppendFrame(batch, *more);
        }
        failure = (*stream)->Write(batch, Instant::Infinite());
        if (failure.ok()) peer_traffic_[link.peer].bytes_sent += payload_bytes;
        // One large message must not pin its buffer for the life of the link.
        if (batch.capacity() > 4 * kLinkWriteBatchBytes) batch = {};
      }
    }
    if (absl::IsCancelled(failure)) return;
    // Jittered exponential backoff, so restarting peers are not hammered in lock-step.
    const Duration jitter(runtime_.random().Below(static_cast<uint64_t>(backoff.count()) / 2 + 1));
    if (!runtime_.Sleep(backoff + jitter).ok()) return;
    backoff = std::min(backoff * 2, kBackoffMax);
  }
}

absl::Status PosixNetwork::StartPeerListener(const Address& address) {
  absl::StatusOr<std::unique_ptr<Listener>> listener = Listen(address);
  if (!listener.ok()) return listener.status();
  peer_listener_ = std::move(*listener);
  runtime_.Spawn("peer-accept", [this] {
    while (true) {
      absl::StatusOr<std::unique_ptr<Stream>> stream = peer_listener_->Accept(Instant::Infinite());
      if (!stream.ok()) return;
      AcceptPeerConnection(std::move(*stream));
    }
  });
  return absl::OkStatus();
}

// Counts the connection against the hellos pending (refusing it past PeerLinkLimits) and
// serves it on a fiber of its own.
void PosixNetwork::AcceptPeerConnection(std::unique_ptr<Stream> accepted) {
  std::string address(PeerAddress(accepted->peer()));
  size_t& from_address = hellos_pending_by_address_[address];
  if (hellos_pending_ >= limits_.hellos_pending_max ||
      from_address >= limits_.hellos_pending_per_address_max) {
    const bool per_address = from_address >= limits_.hellos_pending_per_address_max;
    if (from_address == 0) hellos_pending_by_address_.erase(address);
    RefusePeer("from", accepted->peer(),
               absl::ResourceExhaustedError(
                   per_address ? fmt::format("{} connections from {} await their hello, the limit",
                                             limits_.hellos_pending_per_address_max, address)
                               : fmt::format("{} connections await their hello, the limit",
                                             limits_.hellos_pending_max)));
    accepted->Close();
    return;
  }
  from_address++;
  hellos_pending_++;
  if (security_.peer_tls != nullptr) {
    // Only sets up the TLS state; the handshake runs on the connection's own fiber.
    accepted = security_.peer_tls->Wrap(runtime_, std::move(accepted), TlsRole::kServer,
                                        ClientCertificate::kRequired);
  }
  std::shared_ptr<Stream> connection(std::move(accepted));
  runtime_.Spawn("peer-in", [this, connection, address = std::move(address)] {
    ServePeerConnection(connection, address);
  });
}

void PosixNetwork::RefusePeer(std::string_view direction, std::string_view peer,
                              const absl::Status& why) {
  peer_connections_refused_++;
  const Instant now = runtime_.Now();
  if (!refusal_window_start_.has_value() || now - *refusal_window_start_ >= kRefusalWindow) {
    refusal_window_start_ = now;
    refusals_logged_in_window_ = 0;
  }
  if (refusals_logged_in_window_ == kRefusalLinesPerWindow) {
    refusals_unlogged_++;
    return;
  }
  refusals_logged_in_window_++;
  fmt::print(stderr, "peer link {} {} refused: {}", direction, peer, why.ToString());
  if (refusals_unlogged_ > 0) {
    fmt::print(stderr, " ({} more refused unlogged before this line)",
               std::exchange(refusals_unlogged_, 0));
  }
  fmt::print(stderr, "\n");
}

// Dials `link.peer`; with peer TLS, also checks that the listener is the node we meant to reach
// (not merely someone with a certificate from our CA).
absl::StatusOr<std::unique_ptr<Stream>> PosixNetwork::ConnectPeer(const Link& link) {
  const Instant deadline = runtime_.Now() + std::chrono::seconds(5);
  absl::StatusOr<std::unique_ptr<Stream>> tcp = ConnectPlain(link.address, deadline);
  if (!tcp.ok() || security_.peer_tls == nullptr) return tcp;
  std::unique_ptr<TlsStream> tls = security_.peer_tls->Wrap(
      runtime_, std::move(*tcp), TlsRole::kClient, ClientCertificate::kRequired);
  absl::Status status = tls->Handshake(deadline);
  const std::string wanted = NodeCertificateName(link.peer, security_.cluster_id);
  if (status.ok() && tls->peer_common_name() != wanted) {
    status = absl::PermissionDeniedError(
        fmt::format("its certificate names '{}', not '{}'", tls->peer_common_name(), wanted));
  }
  if (!status.ok()) {
    if (!absl::IsCancelled(status)) {
      RefusePeer("to", fmt::format("{} at {}", link.peer.ToString(), link.address.ToString()),
                 status);
    }
    return status;
  }
  return std::unique_ptr<Stream>(std::move(tls));
}

// The TLS handshake (with peer TLS) and the hello: the node this connection speaks for, or why
// it is refused.
absl::StatusOr<NodeId> PosixNetwork::AdmitPeer(Stream& stream, FrameReader& reader) {
  const Instant deadline = runtime_.Now() + kHelloTimeout;
  auto* tls = dynamic_cast<TlsStream*>(&stream);
  if (tls != nullptr) {
    if (absl::Status s = tls->Handshake(deadline); !s.ok()) return s;
  }
  absl::StatusOr<std::vector<uint8_t>> hello = reader.Read(deadline);
  if (!hello.ok()) return hello.status();
  if (hello->size() < 4 || hello->size() > kHelloBytesMax) {
    return absl::InvalidArgumentError(fmt::format("bad hello of {} bytes", hello->size()));
  }
  uint32_t from = 0;
  for (int i = 0; i < 4; i++) from |= static_cast<uint32_t>((*hello)[i]) << (8 * i);
  const std::string cluster(hello->begin() + 4, hello->end());
  if (!security_.cluster_id.empty() && cluster != security_.cluster_id) {
    return absl::PermissionDeniedError(fmt::format(
        "hello from n{} names cluster '{}', this is '{}'", from, cluster, security_.cluster_id));
  }
  // Not even plaintext believes a claim to be this node: its own replicas would take the
  // messages for their own (core/broker and core/replica assert a node never reports itself).
  if (NodeId(from) == runtime_.node()) {
    return absl::PermissionDeniedError(fmt::format("hello claims this node's own id n{}", from));
  }
  if (tls == nullptr) {  // Plaintext: a member's claim is believed.
    if (!peers_.contains(NodeId(from))) {
      return absl::PermissionDeniedError(
          fmt::format("hello claims n{}, not a member of this cluster (--peers)", from));
    }
    return NodeId(from);
  }
  const std::optional<NodeCertificateIdentity> identity =
      ParseNodeCertificateName(tls->peer_common_name());
  if (!identity.has_value() || identity->cluster_id != security_.cluster_id) {
    return absl::PermissionDeniedError(
        fmt::format("certificate '{}' is not a node certificate of cluster '{}'",
                    tls->peer_common_name(), security_.cluster_id));
  }
  if (identity->node != NodeId(from)) {
    return absl::PermissionDeniedError(fmt::format("hello claims n{} but the certificate names {}",
                                                   from, identity->node.ToString()));
  }
  if (!peers_.contains(identity->node)) {
    return absl::PermissionDeniedError(
        fmt::format("{} is not a member of this cluster (--peers)", identity->node.ToString()));
  }
  return identity->node;
}

void PosixNetwork::ServePeerConnection(const std::shared_ptr<Stream>& stream,
                                       const std::string& address) {
  FrameReader reader(*stream);
  absl::StatusOr<NodeId> from = AdmitPeer(*stream, reader);
  hellos_pending_--;
  const auto pending = hellos_pending_by_address_.find(address);
  MERIDIAN_CHECK(pending != hellos_pending_by_address_.end() && pending->second > 0);
  if (--pending->second == 0) hellos_pending_by_address_.erase(pending);
  if (!from.ok()) {
    if (!absl::IsCancelled(from.status())) RefusePeer("from", stream->peer(), from.status());
    stream->Close();
    return;
  }
  MERIDIAN_CHECK(peers_.contains(*from));  // AdmitPeer admits members only.
  std::shared_ptr<Stream>& incoming = incoming_[*from];
  if (incoming != nullptr) {
    incoming->Close();  // Its reader sees the close and leaves the map to us.
    peer_links_replaced_++;
  }
  incoming = stream;
  ReadPeerLink(stream, reader, *from);
  const auto current = incoming_.find(*from);
  if (current != incoming_.end() && current->second == stream) incoming_.erase(current);
  stream->Close();
}

// Delivers the frames of an admitted link until it closes, is replaced, or stalls mid-frame.
void PosixNetwork::ReadPeerLink(const std::shared_ptr<Stream>& stream, FrameReader& reader,
                                NodeId from) {
  while (true) {
    absl::StatusOr<std::vector<uint8_t>> frame =
        reader.ReadWithin(runtime_, Instant::Infinite(), limits_.frame_timeout);
    if (!frame.ok()) {
      const auto current = incoming_.find(from);
      if (current == incoming_.end() || current->second != stream) return;  // Replaced.
      if (absl::IsDeadlineExceeded(frame.status())) peer_links_timed_out_++;
      if (!absl::IsOutOfRange(frame.status()) && !absl::IsCancelled(frame.status())) {
        fmt::print(stderr, "peer link from {} closed: {}\n", from.ToString(),
                   frame.status().ToString());
      }
      return;
    }
    peer_traffic_[from].bytes_received += frame->size();
    if (!inbox_.TrySend(PeerMessage{from, std::move(*frame)})) messages_dropped_++;
  }
}

absl::StatusOr<PeerMessage> PosixNetwork::Receive(Instant deadline) {
  return inbox_.Receive(deadline);
}

absl::StatusOr<std::unique_ptr<Listener>> PosixNetwork::Listen(const Address& address) {
  absl::StatusOr<SocketAddress> resolved = Resolve(address);
  if (!resolved.ok()) return resolved.status();
  const int fd = socket(resolved->storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus(errno, "socket");
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<const sockaddr*>(&resolved->storage), resolved->length) != 0 ||
      listen(fd, SOMAXCONN) != 0) {
    const int error = errno;
    close(fd);
    return ErrnoStatus(error, "listen on " + address.ToString());
  }
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  Address actual = address;
  actual.port =
      ntohs(bound.ss_family == AF_INET ? reinterpret_cast<const sockaddr_in*>(&bound)->sin_port
                                       : reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port);
  return std::make_unique<TcpListener>(runtime_, fd, actual, &accept_backoffs_);
}

absl::StatusOr<std::unique_ptr<Stream>> PosixNetwork::Connect(const Address& address,
                                                              Instant deadline) {
  absl::StatusOr<std::unique_ptr<Stream>> tcp = ConnectPlain(address, deadline);
  if (!tcp.ok() || security_.client_tls == nullptr) return tcp;
  std::unique_ptr<TlsStream> tls = security_.client_tls->Wrap(
      runtime_, std::move(*tcp), TlsRole::kClient, ClientCertificate::kRequired);
  if (absl::Status s = tls->Handshake(deadline); !s.ok()) return s;
  // Every certificate of the cluster's CA verifies; only a node's may serve clients.
  if (!ParseNodeCertificateName(tls->peer_common_name()).has_value()) {
    return absl::PermissionDeniedError(fmt::format("tls: {} presents '{}', not a node certificate",
                                                   address.ToString(), tls->peer_common_name()));
  }
  return std::unique_ptr<Stream>(std::move(tls));
}

absl::StatusOr<std::unique_ptr<Stream>> PosixNetwork::ConnectPlain(const Address& address,
                                                                   Instant deadline) {
  absl::StatusOr<SocketAddress> resolved = Resolve(address);
  if (!resolved.ok()) return resolved.status();
  const int fd = socket(resolved->storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus(errno, "socket");
  auto stream = std::make_unique<TcpStream>(runtime_, fd, address.ToString());
  if (connect(fd, reinterpret_cast<const sockaddr*>(&resolved->storage), resolved->length) == 0) {
    return stream;
  }
  if (errno != EINPROGRESS) return ErrnoStatus(errno, "connect to " + address.ToString());
  if (absl::Status s = stream->WaitWritable(deadline); !s.ok()) return s;
  int error = 0;
  socklen_t length = sizeof(error);
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
  if (error != 0) return ErrnoStatus(error, "connect to " + address.ToString());
  return stream;
}

}  // namespace meridian::io::posix
