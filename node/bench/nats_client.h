// bench::NatsConnection: a small client of the NATS text protocol over one TCP socket, enough to
// drive JetStream: INFO, CONNECT, PUB (with a reply subject), SUB, MSG, PING/PONG, +OK/-ERR.
// JetStream's API is requests on `$JS.API.>` subjects answered on the reply subject; a publish
// to a stream's subject with a reply subject is answered with `{"stream":..,"seq":..}` once the
// stream's raft group has it (JetStream 2.9: before its files are fsynced).
//
// Usage: Publish/Subscribe append to an output buffer, Flush writes it; Fill reads what the
// socket has (waiting up to a timeout) and Parse hands out complete messages, answering the
// server's PINGs itself. Bytes from the server are untrusted: a malformed or oversized line or
// payload is an error (DataLoss), never an assertion; the read buffer is bounded.
// Threading: one thread; blocking calls only in Fill and Flush (poll with a timeout).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace meridian::node::bench {

struct NatsMessage {
  std::string subject;
  uint64_t sid = 0;
  std::string reply;
  std::string payload;
};

class NatsConnection {
 public:
  static constexpr size_t kPayloadBytesMax = 8 << 20;
  static constexpr size_t kLineBytesMax = 64 << 10;
  static constexpr size_t kReadChunkBytes = 256 << 10;

  static absl::StatusOr<std::unique_ptr<NatsConnection>> Connect(const std::string& host,
                                                                 uint16_t port,
                                                                 std::chrono::milliseconds timeout);
  ~NatsConnection();
  NatsConnection(const NatsConnection&) = delete;
  NatsConnection& operator=(const NatsConnection&) = delete;

  void Publish(std::string_view subject, std::string_view reply, std::string_view payload);
  void Subscribe(std::string_view subject, uint64_t sid);
  absl::Status Flush();
  // Reads once from the socket, waiting up to `timeout` for bytes. OK with nothing read on a
  // timeout; Unavailable when the server closed the connection.
  absl::Status Fill(std::chrono::milliseconds timeout);
  // The next complete MSG in the read buffer, if any (PING, +OK, INFO are consumed here).
  absl::StatusOr<std::optional<NatsMessage>> Parse();
  // A request on `subject` answered on a private inbox: the answer's payload, or
  // DeadlineExceeded. Other messages that arrive meanwhile are dropped, so call it only when
  // nothing else is outstanding on this connection.
  absl::StatusOr<std::string> Request(std::string_view subject, std::string_view payload,
                                      std::chrono::milliseconds timeout);
  int fd() const { return fd_; }
  size_t pending_output_bytes() const { return out_.size(); }

 private:
  explicit NatsConnection(int fd) : fd_(fd) {}

  int fd_ = -1;
  std::string out_;
  std::string in_;
  size_t in_start_ = 0;  // Parsed bytes at the front of in_.
  uint64_t requests_ = 0;
  bool request_subscribed_ = false;
};

}  // namespace meridian::node::bench
