// io::Network: how a node talks to its peers and how clients talk to nodes.
//
// Peer messages are datagram-like and unreliable on purpose: a message may be lost, delayed,
// duplicated or reordered (the simulator does all four; a TCP link that resets loses what was in
// flight). Protocols must tolerate that, so there is no delivery status to lean on.
//
// Client traffic uses ordered, reliable byte streams (TCP in production) that may still be reset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "io/node_id.h"
#include "io/time.h"

namespace meridian::io {

// Largest peer message or frame we accept; a larger length prefix is a protocol error.
inline constexpr size_t kMessageBytesMax = 16 << 20;

struct PeerMessage {
  NodeId from;
  std::vector<uint8_t> payload;
};

// A stream endpoint address. In production host is an IP literal or "localhost"; in the
// simulator it names a simulated host.
struct Address {
  std::string host;
  uint16_t port = 0;
  std::string ToString() const { return host + ":" + std::to_string(port); }
  auto operator<=>(const Address&) const = default;
};

// Parses "host:port"; InvalidArgument with the reason otherwise.
absl::StatusOr<Address> ParseAddress(std::string_view text);

// The address part of a Stream::peer() ("10.0.0.7:51234" -> "10.0.0.7", "[::1]:80" -> "[::1]";
// a peer without a port is its own address), what per-address connection limits count by.
std::string_view PeerAddress(std::string_view peer);

class Stream {
 public:
  virtual ~Stream() = default;
  // Reads at least one byte into `buffer` (or returns 0 at end of stream).
  virtual absl::StatusOr<size_t> Read(std::span<uint8_t> buffer, Instant deadline) = 0;
  // Writes all of `data`, or fails (the stream is then unusable).
  virtual absl::Status Write(std::span<const uint8_t> data, Instant deadline) = 0;
  // Closes both directions; pending and later operations fail. Idempotent.
  virtual void Close() = 0;
  virtual std::string peer() const = 0;
};

class Listener {
 public:
  virtual ~Listener() = default;
  virtual absl::StatusOr<std::unique_ptr<Stream>> Accept(Instant deadline) = 0;
  // The bound address (with the real port when 0 was asked for).
  virtual Address address() const = 0;
  virtual void Close() = 0;
};

class Network {
 public:
  virtual ~Network() = default;

  // Sends `payload` to `to`, best effort. Never blocks; may silently lose the message.
  virtual void Send(NodeId to, std::vector<uint8_t> payload) = 0;
  // The next message addressed to this node.
  virtual absl::StatusOr<PeerMessage> Receive(Instant deadline) = 0;

  virtual absl::StatusOr<std::unique_ptr<Listener>> Listen(const Address& address) = 0;
  virtual absl::StatusOr<std::unique_ptr<Stream>> Connect(const Address& address,
                                                          Instant deadline) = 0;
};

}  // namespace meridian::io
