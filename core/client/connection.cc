#include "core/client/connection.h"

#include <fmt/format.h>

#include "io/assert.h"
#include "io/probe.h"

namespace meridian::core::client {

Connection::Connection(io::Runtime& runtime, io::Address address,
                       std::unique_ptr<io::Stream> stream)
    : runtime_(runtime),
      address_(std::move(address)),
      stream_(std::move(stream)),
      reader_(*stream_, wire::kClientMessageBytesMax),
      room_(runtime),
      writers_(runtime) {}

Connection::~Connection() {
  if (stream_ != nullptr) stream_->Close();
}

absl::StatusOr<std::shared_ptr<Connection>> Connection::Open(io::Runtime& runtime,
                                                             const io::Address& address,
                                                             std::string client_id,
                                                             io::Instant deadline) {
  absl::StatusOr<std::unique_ptr<io::Stream>> stream = runtime.network().Connect(address, deadline);
  if (!stream.ok()) {
    if (absl::IsCancelled(stream.status())) return stream.status();
    return absl::UnavailableError(
        fmt::format("connect to {}: {}", address.ToString(), stream.status().ToString()));
  }
  auto connection = std::make_shared<Connection>(runtime, address, std::move(*stream));
  absl::Status hello = connection->Hello(client_id, deadline);
  if (!hello.ok()) {
    connection->Close(std::string(hello.message()));
    return hello;
  }
  MERIDIAN_CHECK(connection->protocol_version_ >= wire::kProtocolVersionMin);
  std::shared_ptr<Connection> self = connection;
  runtime.Spawn(fmt::format("client-conn-{}", address.ToString()), [self] { self->ReadLoop(); });
  return connection;
}

// Before the reader fiber exists, so this fiber reads the hello response itself.
absl::Status Connection::Hello(const std::string& client_id, io::Instant deadline) {
  wire::HelloRequestT hello;
  hello.version_min = wire::kProtocolVersionMin;
  hello.version_max = wire::kProtocolVersionMax;
  hello.client_id = client_id;
  const uint64_t request_id = next_request_id_++;
  absl::Status written = WriteMessage(wire::Message(request_id, std::move(hello)), deadline);
  if (!written.ok()) return written;
  const std::string where = address_.ToString();
  absl::StatusOr<std::vector<uint8_t>> frame = reader_.Read(deadline);
  if (!frame.ok()) {
    if (absl::IsDeadlineExceeded(frame.status()) || absl::IsCancelled(frame.status())) {
      return frame.status();
    }
    return absl::UnavailableError(
        fmt::format("hello to {}: no response ({})", where, frame.status().ToString()));
  }
  absl::StatusOr<std::unique_ptr<wire::ClientMessageT>> response =
      wire::DecodeClientMessage(*frame);
  if (!response.ok()) {
    return absl::UnavailableError(fmt::format("hello to {}: undecodable response: {}", where,
                                              std::string(response.status().message())));
  }
  if (const wire::ErrorResponseT* error = (*response)->body.AsErrorResponse()) {
    return absl::FailedPreconditionError(
        fmt::format("hello to {} refused: {} ({}); this client speaks protocol versions {}..{}",
                    where, wire::EnumNameErrorCode(error->code), error->message,
                    wire::kProtocolVersionMin, wire::kProtocolVersionMax));
  }
  const wire::HelloResponseT* answer = (*response)->body.AsHelloResponse();
  if (answer == nullptr) {
    return absl::FailedPreconditionError(fmt::format("hello to {}: answered with {}", where,
                                                     wire::EnumNameBody((*response)->body.type)));
  }
  if (answer->version < wire::kProtocolVersionMin || answer->version > wire::kProtocolVersionMax) {
    return absl::FailedPreconditionError(
        fmt::format("hello to {}: node chose protocol version {}, outside {}..{}", where,
                    answer->version, wire::kProtocolVersionMin, wire::kProtocolVersionMax));
  }
  if (answer->node_id == 0) {
    return absl::FailedPreconditionError(fmt::format("hello to {}: node id 0", where));
  }
  node_id_ = io::NodeId(answer->node_id);
  protocol_version_ = answer->version;
  return absl::OkStatus();
}

absl::Status Connection::WriteMessage(const wire::ClientMessageT& message, io::Instant deadline) {
  absl::Status turn =
      writers_.WaitUntil([this] { return closed_ || !writing_; }, deadline, "connection write");
  if (!turn.ok()) return turn;
  if (closed_) return close_status_;
  const std::vector<uint8_t> payload = wire::EncodeClientMessage(message);
  if (!wire::FitsInAFrame(payload)) {
    writers_.NotifyAll();
    return absl::InvalidArgumentError(
        fmt::format("request of {} bytes is over the {} byte frame limit", payload.size(),
                    wire::kClientMessageBytesMax));
  }
  writing_ = true;
  absl::Status written = io::WriteFrame(*stream_, payload, deadline);
  writing_ = false;
  writers_.NotifyAll();
  if (!written.ok()) {
    // A partial frame cannot be taken back: the stream is unusable whatever the cause.
    Close(fmt::format("write failed: {}", written.ToString()));
    if (absl::IsDeadlineExceeded(written) || absl::IsCancelled(written)) return written;
    return close_status_;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<wire::ClientMessageT>> Connection::Call(wire::ClientMessageT request,
                                                                       io::Instant deadline) {
  absl::Status room =
      room_.WaitUntil([this] { return closed_ || pending_.size() < kRequestsInFlightMax; },
                      deadline, "connection room");
  if (!room.ok()) return room;
  if (closed_) return close_status_;
  MERIDIAN_CHECK(pending_.size() < kRequestsInFlightMax);
  const uint64_t request_id = next_request_id_++;
  request.request_id = request_id;
  auto pending = std::make_shared<Pending>(runtime_);
  pending_[request_id] = pending;
  absl::Status written = WriteMessage(request, deadline);
  if (!written.ok()) {
    if (!pending->response.has_value()) Abandon(request_id, *pending);
    return written;
  }
  absl::Status waited = pending->waiters.WaitUntil([&] { return pending->response.has_value(); },
                                                   deadline, "response");
  if (!waited.ok()) {
    MERIDIAN_PROBE("client: call abandoned (deadline or cancel)");
    Abandon(request_id, *pending);
    return waited;
  }
  MERIDIAN_CHECK(!pending_.contains(request_id) || closed_);
  return std::move(*pending->response);
}

void Connection::Abandon(uint64_t request_id, Pending& pending) {
  if (closed_ || !pending_.contains(request_id)) return;
  MERIDIAN_CHECK(!pending.abandoned);
  pending.abandoned = true;
  abandoned_count_++;
  if (abandoned_count_ >= kRequestsAbandonedMax) {
    Close(fmt::format("{} requests went unanswered past their deadlines", abandoned_count_));
  }
}

void Connection::ReadLoop() {
  while (!closed_) {
    absl::StatusOr<std::vector<uint8_t>> frame = reader_.Read(io::Instant::Infinite());
    if (closed_) return;
    if (!frame.ok()) {
      Close(absl::IsOutOfRange(frame.status())
                ? "the node closed the connection"
                : fmt::format("read failed: {}", frame.status().ToString()));
      return;
    }
    absl::StatusOr<std::unique_ptr<wire::ClientMessageT>> message =
        wire::DecodeClientMessage(*frame);
    if (!message.ok()) {
      MERIDIAN_PROBE("client: undecodable response");
      Close(fmt::format("undecodable response: {}", std::string(message.status().message())));
      return;
    }
    auto it = pending_.find((*message)->request_id);
    if (it == pending_.end()) {
      MERIDIAN_PROBE("client: response with an unknown request id");
      Close(fmt::format("response to unknown request id {}", (*message)->request_id));
      return;
    }
    std::shared_ptr<Pending> pending = std::move(it->second);
    pending_.erase(it);
    room_.NotifyAll();
    if (pending->abandoned) {
      MERIDIAN_CHECK(abandoned_count_ > 0);
      abandoned_count_--;
      continue;  // Its caller timed out: drop the late response.
    }
    pending->response.emplace(std::move(*message));
    pending->waiters.NotifyAll();
  }
}

void Connection::Close(std::string_view reason) {
  if (closed_) return;
  closed_ = true;
  close_status_ = absl::UnavailableError(fmt::format(
      "connection to {} ({}) closed: {}", address_.ToString(), node_id_.ToString(), reason));
  stream_->Close();
  absl::btree_map<uint64_t, std::shared_ptr<Pending>> pending = std::move(pending_);
  pending_.clear();
  abandoned_count_ = 0;
  for (auto& [request_id, call] : pending) {
    if (call->abandoned) continue;
    call->response.emplace(close_status_);
    call->waiters.NotifyAll();
  }
  room_.NotifyAll();
  writers_.NotifyAll();
}

}  // namespace meridian::core::client
