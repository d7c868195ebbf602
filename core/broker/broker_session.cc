// One client connection: the hello (version exchange), then pipelined requests, each handled on
// its own fiber (at most BrokerLimits::requests_in_flight_per_connection_max at once), responses
// written whole and in completion order. Bytes that do not decode end the connection with a
// BadRequest error.
#include <fmt/format.h>

#include <deque>

#include "core/broker/broker_state.h"
#include "io/assert.h"
#include "io/frame.h"
#include "io/probe.h"

namespace meridian::core::broker {
namespace {

using wire::ErrorCode;
using wire::ErrorMessage;

// A response frame waiting for the connection's writer; its bytes belong to the fiber that
// queued it, which waits until they are written (or takes them out of the queue if cancelled).
struct QueuedResponse {
  uint64_t sequence;
  const std::vector<uint8_t>* payload;
};

// The most bytes of queued responses one stream write carries (one larger response goes alone).
constexpr size_t kResponseWriteBatchBytes = 256 * 1024;

// What the connection's fibers share; the reader and every request fiber hold it.
struct Session {
  Session(io::Runtime& runtime, std::shared_ptr<io::Stream> s)
      : stream(std::move(s)), writable(runtime), room(runtime) {}
  std::shared_ptr<io::Stream> stream;
  std::string client_id;  // From the hello: whose quota the requests use.
  bool writing = false;
  bool failed = false;
  size_t in_flight = 0;
  std::deque<QueuedResponse> queue;  // In the order the responses completed.
  uint64_t queued = 0;               // Sequence of the last response queued.
  uint64_t written = 0;              // Every response up to this sequence is written.
  std::vector<uint8_t> batch;        // The writer's buffer.
  io::WaitList writable;  // Writers wait for `writing` to clear or their response to be written.
  io::WaitList room;      // The reader waits for in_flight to drop below the bound.
};

io::Instant WriteDeadline(io::Runtime& runtime) { return runtime.Now() + std::chrono::seconds(30); }

// The response's bytes on the wire (a BadRequest error when it would not fit in a frame).
std::vector<uint8_t> Encode(const wire::ClientMessageT& response) {
  std::vector<uint8_t> bytes = wire::EncodeClientMessage(response);
  if (!wire::FitsInAFrame(bytes)) {
    // Fetches are built within budget; only an answer listing very many topics gets here.
    bytes = wire::EncodeClientMessage(wire::ErrorMessage(
        response.request_id, ErrorCode::BadRequest,
        fmt::format("the response would be {} bytes, over the {} byte frame limit: ask for "
                    "fewer topics at a time",
                    bytes.size(), wire::kClientMessageBytesMax)));
  }
  return bytes;
}

// Writes the queued responses from the front, as many as kResponseWriteBatchBytes holds (at
// least one), in one stream write. First it lets every other runnable fiber run once: the
// request fibers one commit woke queue their responses then, instead of each finding the
// stream free and writing alone (a socket write that does not block returns at once).
void WriteQueued(io::Runtime& runtime, Session& session) {
  MERIDIAN_CHECK(!session.writing && !session.queue.empty());
  session.writing = true;
  runtime.scheduler().Yield();
  // Only the fiber holding `writing` sets `failed`, so the connection is still good here.
  MERIDIAN_CHECK(!session.failed);
  session.batch.clear();
  uint64_t through = session.written;
  size_t frames = 0;
  while (!session.queue.empty() && (frames == 0 || session.batch.size() + io::kFrameHeaderBytes +
                                                           session.queue.front().payload->size() <=
                                                       kResponseWriteBatchBytes)) {
    io::AppendFrame(session.batch, *session.queue.front().payload);
    through = session.queue.front().sequence;
    session.queue.pop_front();
    frames++;
  }
  if (frames > 1) MERIDIAN_PROBE("broker: responses coalesced into one write");
  if (session.stream->Write(session.batch, WriteDeadline(runtime)).ok()) {
    session.written = through;
  } else {
    session.failed = true;
    session.stream->Close();
    // The waiting fibers return on `failed`, taking their bytes with them: no entry may
    // outlive them.
    session.queue.clear();
  }
  // One large response must not pin its buffer for the life of the connection.
  if (session.batch.capacity() > 4 * kResponseWriteBatchBytes) session.batch = {};
  session.writing = false;
  session.writable.NotifyAll();
}

// Writes one response frame and returns once it is on the stream (or the connection failed).
// Frames never interleave and go out in the order they were queued. A fiber that finds another
// writing queues its frame for whichever fiber writes next, which writes every frame queued by
// then in one stream write (up to kResponseWriteBatchBytes): a burst of responses that one
// commit completes costs one system call, not one each.
void Write(io::Runtime& runtime, Session& session, const std::vector<uint8_t>& bytes) {
  if (session.failed) return;
  const uint64_t mine = ++session.queued;
  session.queue.push_back({mine, &bytes});
  while (!session.failed && session.written < mine) {
    if (!session.writing) {
      WriteQueued(runtime, session);
      continue;
    }
    const absl::Status woke = session.writable.WaitUntil(
        [&] { return !session.writing || session.failed || session.written >= mine; },
        io::Instant::Infinite(), "response write");
    if (!woke.ok()) {
      // Cancelled: `bytes` goes with this fiber, so it must not stay queued.
      std::erase_if(session.queue, [&](const QueuedResponse& r) { return r.sequence == mine; });
      return;
    }
  }
}

void Reply(io::Runtime& runtime, Session& session, const wire::ClientMessageT& response) {
  Write(runtime, session, Encode(response));
}

// Answers a request admitted with `admission`: a response larger than what the request
// reserved reserves the difference, or is replaced by a Throttled answer (the node's memory
// bound holds for answers too). Releases the request's memory once the bytes are written.
void ReplyWithin(Broker::State& state, Session& session, Admission& admission,
                 const wire::ClientMessageT& response) {
  std::vector<uint8_t> bytes = Encode(response);
  uint64_t extra = 0;
  if (bytes.size() > admission.reserved_bytes) {
    extra = bytes.size() - admission.reserved_bytes;
    if (!state.memory.TryReserve(extra)) {
      extra = 0;
      state.metrics.shed_total++;
      bytes = wire::EncodeClientMessage(ThrottledMessage(
          response.request_id, state.options.limits.shed_retry_after,
          fmt::format("the answer is {} bytes and the node's buffers are full", bytes.size())));
    }
  }
  Write(state.runtime, session, bytes);
  if (extra > 0) state.memory.Release(extra);
  ReleaseReply(state, admission);
}
// The hello: agrees on a version or explains why not.
bool Hello(Broker::State& state, Session& session, io::FrameReader& reader,
           const ConnectionSlot& slot) {
  io::Runtime& rt = state.runtime;
  absl::StatusOr<std::vector<uint8_t>> frame = reader.Read(rt.Now() + std::chrono::seconds(30));
  if (!frame.ok()) return false;
  absl::StatusOr<std::unique_ptr<wire::ClientMessageT>> request = wire::DecodeClientMessage(*frame);
  if (!request.ok()) {
    Reply(rt, session,
          ErrorMessage(0, ErrorCode::BadRequest, std::string(request.status().message())));
    return false;
  }
  const wire::HelloRequestT* hello = (*request)->body.AsHelloRequest();
  if (hello == nullptr) {
    Reply(rt, session,
          ErrorMessage((*request)->request_id, ErrorCode::NotHelloed,
                       "the first request on a connection must be HelloRequest"));
    return false;
  }
  if (hello->client_id.size() > wire::kNameBytesMax) {
    Reply(rt, session,
          ErrorMessage((*request)->request_id, ErrorCode::BadRequest,
                       fmt::format("a client id of at most {} bytes", wire::kNameBytesMax)));
    return false;
  }
  const BrokerLimits& limits = state.options.limits;
  if (state.connections_open > limits.connections_max) {
    state.metrics.connections_refused_total++;
    Reply(rt, session,
          ThrottledMessage(
              (*request)->request_id, limits.shed_retry_after,
              fmt::format("{} client connections are open, the limit", limits.connections_max)));
    return false;
  }
  if (slot.open_from_address() > limits.connections_per_address_max) {
    state.metrics.connections_refused_per_address_total++;
    Reply(rt, session,
          ThrottledMessage((*request)->request_id, limits.shed_retry_after,
                           fmt::format("{} client connections from {} are open, the limit",
                                       limits.connections_per_address_max, slot.address())));
    return false;
  }
  session.client_id = hello->client_id;
  const uint16_t version = std::min(hello->version_max, wire::kProtocolVersionMax);
  if (version < hello->version_min || version < wire::kProtocolVersionMin) {
    Reply(rt, session,
          ErrorMessage((*request)->request_id, ErrorCode::UnsupportedVersion,
                       fmt::format("client speaks versions {}..{}, this node {}..{}",
                                   hello->version_min, hello->version_max,
                                   wire::kProtocolVersionMin, wire::kProtocolVersionMax)));
    return false;
  }
  wire::HelloResponseT response;
  response.version = version;
  response.node_id = state.options.node_id;
  Reply(rt, session, wire::Message((*request)->request_id, std::move(response)));
  return !session.failed;
}

}  // namespace

ConnectionSlot::ConnectionSlot(std::shared_ptr<Broker::State> state, std::string address)
    : state_(std::move(state)), address_(std::move(address)) {
  state_->metrics.connections_open = ++state_->connections_open;
  state_->connections_by_address[address_]++;
}

ConnectionSlot::~ConnectionSlot() {
  if (state_ == nullptr) return;
  MERIDIAN_CHECK(state_->connections_open > 0);
  state_->metrics.connections_open = --state_->connections_open;
  const auto open = state_->connections_by_address.find(address_);
  MERIDIAN_CHECK(open != state_->connections_by_address.end() && open->second > 0);
  if (--open->second == 0) state_->connections_by_address.erase(open);
}

uint32_t ConnectionSlot::open_from_address() const {
  MERIDIAN_CHECK(state_ != nullptr);
  const auto open = state_->connections_by_address.find(address_);
  return open == state_->connections_by_address.end() ? 0 : open->second;
}

void Broker::LogClosedConnection(std::string_view why) {
  const io::Instant now = state_->runtime.Now();
  if (state_->closed_connection_logged_at.has_value() &&
      now - *state_->closed_connection_logged_at < std::chrono::seconds(1)) {
    state_->closed_connections_unlogged++;
    return;
  }
  state_->closed_connection_logged_at = now;
  state_->Log(fmt::format("{} ({} more closed since the last such line)", why,
                          std::exchange(state_->closed_connections_unlogged, 0)));
}

void Broker::NoteConnectionTimedOut(std::string_view why) {
  state_->metrics.connections_timed_out_total++;
  LogClosedConnection(why);
}

std::optional<ConnectionSlot> Broker::TakeConnectionSlot(std::string_view peer) {
  state_->metrics.connections_total++;
  const BrokerLimits& limits = state_->options.limits;
  if (state_->connections_open >= limits.connections_max) {
    state_->metrics.connections_refused_total++;
    return std::nullopt;
  }
  const std::string address(io::PeerAddress(peer));
  const auto open = state_->connections_by_address.find(address);
  if (open != state_->connections_by_address.end() &&
      open->second >= limits.connections_per_address_max) {
    state_->metrics.connections_refused_per_address_total++;
    return std::nullopt;
  }
  return ConnectionSlot(state_, address);
}

void Broker::ServeConnection(std::shared_ptr<io::Stream> stream, Principal principal) {
  std::shared_ptr<State> state = state_;
  io::Runtime& rt = state->runtime;
  state->metrics.connections_total++;
  // Over a limit, the hello explains the refusal.
  const ConnectionSlot open(state, std::string(io::PeerAddress(stream->peer())));
  auto session = std::make_shared<Session>(rt, std::move(stream));
  io::FrameReader reader(*session->stream, wire::kClientMessageBytesMax);
  if (!Hello(*state, *session, reader, open)) {
    session->stream->Close();
    return;
  }
  while (!state->stopped && !session->failed) {
    if (!session->room
             .WaitUntil(
                 [&] {
                   return session->in_flight <
                          state->options.limits.requests_in_flight_per_connection_max;
                 },
                 io::Instant::Infinite(), "request slot")
             .ok()) {
      break;
    }
    const BrokerLimits& limits = state->options.limits;
    absl::StatusOr<std::vector<uint8_t>> frame = reader.ReadWithin(
        rt, rt.Now() + limits.connection_idle_timeout, limits.request_read_timeout);
    // Idle while requests are in flight (a long poll) is not idle: wait again.
    if (absl::IsDeadlineExceeded(frame.status()) && reader.buffered_bytes() == 0 &&
        session->in_flight > 0) {
      continue;
    }
    if (absl::IsDeadlineExceeded(frame.status())) {
      NoteConnectionTimedOut(fmt::format(
          "closed the connection of client '{}': {}", session->client_id,
          reader.buffered_bytes() == 0
              ? fmt::format("no request for {}", io::FormatDuration(limits.connection_idle_timeout))
              : fmt::format("a request begun but not whole within {} ({} bytes of it)",
                            io::FormatDuration(limits.request_read_timeout),
                            reader.buffered_bytes())));
    }
    if (!frame.ok()) break;
    absl::StatusOr<std::unique_ptr<wire::ClientMessageT>> request =
        wire::DecodeClientMessage(*frame);
    if (!request.ok()) {
      state->metrics.request_errors_total++;
      Reply(rt, *session,
            ErrorMessage(0, ErrorCode::BadRequest, std::string(request.status().message())));
      break;
    }
    session->in_flight++;
    std::shared_ptr<wire::ClientMessageT> owned(std::move(*request));
    const uint64_t frame_bytes = frame->size();
    rt.Spawn("request", [state, session, owned, frame_bytes, principal] {
      Admission admission = AdmitRequest(*state, session->client_id, *owned, frame_bytes);
      const wire::ClientMessageT response = admission.refusal.has_value()
                                                ? *admission.refusal
                                                : HandleAuthorized(*state, principal, *owned);
      FinishRequest(*state, session->client_id, admission, response);
      ReplyWithin(*state, *session, admission, response);
      session->in_flight--;
      session->room.NotifyAll();
    });
  }
  session->stream->Close();
}

}  // namespace meridian::core::broker
