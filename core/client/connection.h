// client::Connection: one client connection to one node, speaking core/wire/client.fbs.
//
// Open() connects, exchanges HelloRequest/HelloResponse (the node's id comes from the hello),
// then starts one reader fiber. Call() may be used by many fibers at once: each call takes the
// next request_id, writes its frame (writers take turns, so frames never interleave) and waits
// for the response carrying the same id. Responses may arrive in any order; the reader fiber
// hands each to its caller.
//
// What stays true:
// - At most kRequestsInFlightMax requests are outstanding (a request whose caller gave up still
//   counts until its response arrives); Call waits for room.
// - Every response matches exactly one outstanding request id. A response with an unknown id,
//   bytes that do not frame or decode, or a failed stream close the connection; the reason is
//   kept (close_status()) and given, as Unavailable, to every pending and later call.
// - A call that times out returns DeadlineExceeded; its late response is dropped.
//
// Lifetime: held by std::shared_ptr; the reader fiber holds a reference until the stream ends, so
// call Close() when done (Client does). Methods are called from fibers of one runtime.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/wire/client_codec.h"
#include "io/frame.h"
#include "io/network.h"
#include "io/runtime.h"
#include "io/sync.h"

namespace meridian::core::client {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // Requests outstanding on one connection (answered or abandoned-but-unanswered).
  static constexpr size_t kRequestsInFlightMax = 1024;
  // A node that leaves this many timed-out requests unanswered is treated as wedged.
  static constexpr size_t kRequestsAbandonedMax = kRequestsInFlightMax / 2;
  static_assert(kRequestsAbandonedMax < kRequestsInFlightMax);

  // Connects and says hello. Unavailable if the node cannot be reached or the stream fails;
  // FailedPrecondition for UnsupportedVersion or a hello answered with something else.
  static absl::StatusOr<std::shared_ptr<Connection>> Open(io::Runtime& runtime,
                                                          const io::Address& address,
                                                          std::string client_id,
                                                          io::Instant deadline);

  // Sends `request` (its request_id is overwritten) and waits for the response. Errors:
  // Unavailable (the connection closed; the message says why), DeadlineExceeded, Cancelled.
  // An ErrorResponse from the node is a successful Call: the caller reads its code.
  absl::StatusOr<std::unique_ptr<wire::ClientMessageT>> Call(wire::ClientMessageT request,
                                                             io::Instant deadline);

  // Closes the stream; pending calls complete with Unavailable(reason). Idempotent.
  void Close(std::string_view reason = "closed by the client");

  bool closed() const { return closed_; }
  // Why the connection closed (OK while open).
  const absl::Status& close_status() const { return close_status_; }
  io::NodeId node_id() const { return node_id_; }
  uint16_t protocol_version() const { return protocol_version_; }
  const io::Address& address() const { return address_; }
  size_t requests_in_flight() const { return pending_.size(); }

  // Use Open(). Public for std::make_shared.
  Connection(io::Runtime& runtime, io::Address address, std::unique_ptr<io::Stream> stream);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

 private:
  using Response = absl::StatusOr<std::unique_ptr<wire::ClientMessageT>>;
  struct Pending {
    explicit Pending(io::Runtime& runtime) : waiters(runtime) {}
    io::WaitList waiters;
    std::optional<Response> response;
    bool abandoned = false;  // The caller gave up; drop the response when it comes.
  };

  absl::Status Hello(const std::string& client_id, io::Instant deadline);
  absl::Status WriteMessage(const wire::ClientMessageT& message, io::Instant deadline);
  void ReadLoop();
  void Abandon(uint64_t request_id, Pending& pending);

  io::Runtime& runtime_;
  const io::Address address_;
  std::unique_ptr<io::Stream> stream_;
  io::FrameReader reader_;
  io::NodeId node_id_;
  uint16_t protocol_version_ = 0;
  uint64_t next_request_id_ = 1;
  absl::btree_map<uint64_t, std::shared_ptr<Pending>> pending_;
  size_t abandoned_count_ = 0;
  io::WaitList room_;     // Callers waiting for pending_.size() < kRequestsInFlightMax.
  bool writing_ = false;  // A fiber is writing a frame.
  io::WaitList writers_;  // Callers waiting for !writing_.
  bool closed_ = false;
  absl::Status close_status_;
};

}  // namespace meridian::core::client
