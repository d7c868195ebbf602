// One Kafka connection (session.h): framing, dispatch by API key, responses in request order.
#include <fmt/format.h>

#include <algorithm>

#include "core/kafka/bytes.h"
#include "core/kafka/session_internal.h"
#include "io/assert.h"
#include "io/probe.h"

namespace meridian::core::kafka {
namespace {

io::Instant WriteDeadline(io::Runtime& runtime) { return runtime.Now() + std::chrono::seconds(30); }

absl::Status ReadFull(io::Stream& stream, std::span<uint8_t> buffer, io::Instant deadline) {
  size_t done = 0;
  while (done < buffer.size()) {
    absl::StatusOr<size_t> n = stream.Read(buffer.subspan(done), deadline);
    if (!n.ok()) return n.status();
    if (*n == 0) return absl::OutOfRangeError("end of stream");
    done += *n;
  }
  return absl::OkStatus();
}

// Requests are read into memory that follows the bytes that arrive, this much at a time, never
// the declared size up front: a header declaring 8 MiB followed by silence costs this much.
constexpr size_t kRequestReadChunkBytes = 64 << 10;

// The next request frame's payload (after its int32 size), or why the connection must end.
// Waits until `idle_deadline` for a request to begin; once its first byte is here the whole
// frame must arrive within the broker's request_read_timeout (DeadlineExceeded otherwise, and
// `*begun` says which bound it was).
absl::StatusOr<std::vector<uint8_t>> ReadRequest(io::Runtime& runtime, io::Stream& stream,
                                                 io::Instant idle_deadline,
                                                 io::Duration frame_timeout, bool* begun) {
  std::array<uint8_t, 4> size_bytes{};
  *begun = false;
  absl::StatusOr<size_t> first = stream.Read(std::span<uint8_t>(size_bytes), idle_deadline);
  if (!first.ok()) return first.status();
  if (*first == 0) return absl::OutOfRangeError("end of stream");
  *begun = true;
  const io::Instant deadline = runtime.Now() + frame_timeout;
  if (absl::Status s = ReadFull(stream, std::span<uint8_t>(size_bytes).subspan(*first), deadline);
      !s.ok()) {
    return s;
  }
  const int32_t size = Reader(size_bytes).Int32();
  if (size < 8 || static_cast<size_t>(size) > kRequestBytesMax) {
    return absl::InvalidArgumentError(
        fmt::format("request frame of {} bytes (8..{})", size, kRequestBytesMax));
  }
  std::vector<uint8_t> payload;
  while (payload.size() < static_cast<size_t>(size)) {
    const size_t done = payload.size();
    payload.resize(std::min(static_cast<size_t>(size), done + kRequestReadChunkBytes));
    if (absl::Status s = ReadFull(stream, std::span<uint8_t>(payload).subspan(done), deadline);
        !s.ok()) {
      return s;
    }
  }
  return payload;
}

// The connection's next request within the node's idle and request-read timeouts (a timeout
// is counted and logged, and ends the connection), or nullopt when the connection was idle
// while requests are in flight (a long poll): that is not idle, and the caller reads again.
std::optional<absl::StatusOr<std::vector<uint8_t>>> ReadNextRequest(Session& session) {
  const broker::BrokerLimits& bounds = session.broker.limits();
  bool begun = false;
  absl::StatusOr<std::vector<uint8_t>> payload = ReadRequest(
      session.runtime, *session.stream, session.runtime.Now() + bounds.connection_idle_timeout,
      bounds.request_read_timeout, &begun);
  if (!absl::IsDeadlineExceeded(payload.status())) return payload;
  if (!begun && session.in_flight > 0) return std::nullopt;
  session.broker.NoteConnectionTimedOut(fmt::format(
      "kafka: closed the connection of client '{}': {}", session.client_id,
      begun
          ? fmt::format("a request begun but not whole within {}",
                        io::FormatDuration(bounds.request_read_timeout))
          : fmt::format("no request for {}", io::FormatDuration(bounds.connection_idle_timeout))));
  return payload;
}

Outcome HandleApiVersions(const RequestFrame& frame) {
  const int16_t v = frame.header.api_version;
  const std::optional<ApiVersionRange> range = SupportedRange(frame.header.api_key);
  if (v < range->min || v > range->max) {
    // KIP-511: a version we do not speak gets UNSUPPORTED_VERSION in a v0 body with our ranges;
    // the client retries with one it does.
    return Respond(EncodeApiVersionsResponse(error::kUnsupportedVersion, 0));
  }
  return Respond(EncodeApiVersionsResponse(error::kNone, v));
}

Outcome Dispatch(Session& session, const RequestFrame& frame) {
  const int16_t key = frame.header.api_key;
  if (key == static_cast<int16_t>(ApiKey::kApiVersions)) return HandleApiVersions(frame);
  const std::optional<ApiVersionRange> range = SupportedRange(key);
  if (!range.has_value()) {
    // No response layout to answer in: a Kafka broker closes too (and logs why, as here).
    return Close(fmt::format("API key {} is not served (ApiVersions lists those that are)", key));
  }
  if (frame.header.api_version < range->min || frame.header.api_version > range->max) {
    return Close(fmt::format("API key {} version {} is outside the served {}..{}", key,
                             frame.header.api_version, range->min, range->max));
  }
  switch (static_cast<ApiKey>(key)) {
    case ApiKey::kProduce:
      return HandleProduce(session, frame);
    case ApiKey::kFetch:
      return HandleFetch(session, frame);
    case ApiKey::kListOffsets:
      return HandleListOffsets(session, frame);
    case ApiKey::kMetadata:
      return HandleMetadata(session, frame);
    case ApiKey::kCreateTopics:
      return HandleCreateTopics(session, frame);
    case ApiKey::kDeleteTopics:
      return HandleDeleteTopics(session, frame);
    case ApiKey::kInitProducerId:
      return HandleInitProducerId(session, frame);
    case ApiKey::kDescribeConfigs:
      return HandleDescribeConfigs(session, frame);
    case ApiKey::kFindCoordinator:
      return HandleFindCoordinator(session, frame);
    case ApiKey::kJoinGroup:
      return HandleJoinGroup(session, frame);
    case ApiKey::kSyncGroup:
      return HandleSyncGroup(session, frame);
    case ApiKey::kHeartbeat:
      return HandleHeartbeat(session, frame);
    case ApiKey::kLeaveGroup:
      return HandleLeaveGroup(session, frame);
    case ApiKey::kOffsetCommit:
      return HandleOffsetCommit(session, frame);
    case ApiKey::kOffsetFetch:
      return HandleOffsetFetch(session, frame);
    case ApiKey::kListGroups:
      return HandleListGroups(session, frame);
    case ApiKey::kDescribeGroups:
      return HandleDescribeGroups(session, frame);
    case ApiKey::kCreatePartitions:
      return HandleCreatePartitions(session, frame);
    case ApiKey::kAlterConfigs:
    case ApiKey::kIncrementalAlterConfigs:
      return HandleAlterConfigs(session, frame);
    case ApiKey::kDeleteGroups:
      return HandleDeleteGroups(session, frame);
    case ApiKey::kApiVersions:
      break;  // Answered above.
  }
  return Close();
}

// The most bytes of finished responses one stream write carries (a larger one goes alone).
constexpr size_t kResponseWriteBatchBytes = 256 * 1024;

// Writes the finished responses from next_to_write on, while they are consecutive, up to
// kResponseWriteBatchBytes (at least one), in one stream write; closes the connection at a
// response that says to, after the ones before it. First it lets every other runnable fiber run
// once, so the request fibers one commit woke finish theirs into the same write.
void WriteFinished(Session& session) {
  MERIDIAN_CHECK(!session.writing && !session.failed);
  session.writing = true;
  session.runtime.scheduler().Yield();
  session.batch.clear();
  uint64_t next = session.next_to_write;
  size_t frames = 0;
  bool close = false;
  for (auto it = session.finished.find(next); it != session.finished.end() && it->first == next;
       it = session.finished.find(next)) {
    const size_t bytes = it->second.frame.has_value() ? it->second.frame->size() : 0;
    if (frames > 0 && session.batch.size() + bytes > kResponseWriteBatchBytes) break;
    close = it->second.close;
    if (!close && it->second.frame.has_value()) {
      session.batch.insert(session.batch.end(), it->second.frame->begin(), it->second.frame->end());
      frames++;
    }
    session.finished.erase(it);
    next++;
    if (close) break;
  }
  if (frames > 1) MERIDIAN_PROBE("kafka: responses coalesced into one write");
  if (!session.batch.empty() &&
      !session.stream->Write(session.batch, WriteDeadline(session.runtime)).ok()) {
    close = true;
  }
  if (close) {
    session.failed = true;
    session.stream->Close();
    session.finished.clear();
  }
  session.next_to_write = next;
  // One large response must not pin its buffer for the life of the connection.
  if (session.batch.capacity() > 4 * kResponseWriteBatchBytes) session.batch = {};
  session.writing = false;
  session.turn.NotifyAll();
}

// Hands request `sequence`'s response to the connection's writer, and returns once it is
// written (or the connection failed). Responses go out in request order, as Kafka requires.
void WriteInTurn(Session& session, uint64_t sequence, int32_t correlation_id,
                 const Outcome& outcome) {
  if (session.failed) return;
  Session::Finished finished{std::nullopt, outcome.close};
  if (outcome.body.has_value()) {
    Writer writer;
    writer.Int32(static_cast<int32_t>(outcome.body->size() + 4));
    writer.Int32(correlation_id);
    writer.Raw(*outcome.body);
    finished.frame = writer.bytes();
  }
  MERIDIAN_CHECK(session.finished.emplace(sequence, std::move(finished)).second,
                 "response {} finished twice", sequence);
  const auto may_write = [&] {
    return !session.writing && session.finished.contains(session.next_to_write);
  };
  while (!session.failed && session.next_to_write <= sequence) {
    if (may_write()) {
      WriteFinished(session);
      continue;
    }
    if (!session.turn
             .WaitUntil(
                 [&] { return session.failed || session.next_to_write > sequence || may_write(); },
                 io::Instant::Infinite(), "kafka response turn")
             .ok()) {
      return;  // Cancelled (the node stops): the map keeps the response's bytes.
    }
  }
}

// What a translated request holds beyond a produce's batch (its other fields, the response):
// what Admit reserves for it as its "frame" (the Kafka frame itself is this session's).
constexpr uint64_t kTranslatedRequestBytes = 512;

uint64_t TranslatedBytes(const wire::ClientMessageT& request) {
  const wire::ProduceRequestT* produce = request.body.AsProduceRequest();
  return kTranslatedRequestBytes + (produce != nullptr ? produce->batch.size() : 0);
}

// Passes the admission turn on however the holder leaves.
struct AdmissionTurn {
  explicit AdmissionTurn(Session& s) : session(s), ticket(s.admission_tickets++) {}
  ~AdmissionTurn() { PassOn(); }
  void PassOn() {
    if (passed) return;
    passed = true;
    MERIDIAN_CHECK(session.admission_next == ticket, "admission turns are taken in order");
    session.admission_next++;
    session.admission_turn.NotifyAll();
  }
  Session& session;
  const uint64_t ticket;
  bool passed = false;
};

}  // namespace

int32_t ThrottleTimeMs(io::Duration held) {
  const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(held).count();
  return static_cast<int32_t>(std::clamp<int64_t>(ms, 0, INT32_MAX));
}

wire::ClientMessageT CallAdmitted(Session& session, const wire::ClientMessageT& request,
                                  io::Duration* held, std::optional<io::Instant> hold_until) {
  // The ticket is taken before the first suspension, so tickets follow request order.
  AdmissionTurn turn(session);
  (void)session.admission_turn.WaitUntil([&] { return session.admission_next == turn.ticket; },
                                         io::Instant::Infinite(), "kafka admission turn");
  const io::Instant started = session.runtime.Now();
  const io::Instant give_up =
      std::min(hold_until.value_or(started + kThrottleHoldMax), started + kThrottleHoldMax);
  while (true) {
    broker::AdmittedRequest admitted =
        session.broker.Admit(request, session.client_id, TranslatedBytes(request));
    const wire::ClientMessageT* refusal = admitted.refusal();
    const wire::ErrorResponseT* error =
        refusal != nullptr ? refusal->body.AsErrorResponse() : nullptr;
    const io::Duration wait = std::chrono::milliseconds(
        std::max<uint32_t>(error != nullptr ? error->retry_after_ms : 0, 1));
    if (refusal == nullptr || session.runtime.Now() + wait > give_up) {
      if (held != nullptr) *held += session.runtime.Now() - started;
      // Nothing suspends between here and the proposal inside Run: the next request's
      // admission cannot overtake this one.
      turn.PassOn();
      return session.broker.Run(std::move(admitted), request, session.principal);
    }
    MERIDIAN_PROBE("kafka: a request waits out a throttle");
    if (!session.runtime.Sleep(wait).ok()) {
      // Shutting down: no more waiting (a cancelled sleep returns at once; looping would spin).
      turn.PassOn();
      return session.broker.Run(std::move(admitted), request, session.principal);
    }
  }
}

void ServeKafkaConnection(broker::Broker& broker, io::Runtime& runtime,
                          std::shared_ptr<io::Stream> stream, KafkaSessionStats* stats,
                          broker::Principal principal, KafkaSessionLimits limits) {
  // Kafka has no answer for "too many connections" before a request: a broker closes.
  const std::optional<broker::ConnectionSlot> slot = broker.TakeConnectionSlot(stream->peer());
  if (!slot.has_value()) {
    MERIDIAN_PROBE("kafka: connection refused at the node's connection limits");
    stream->Close();
    return;
  }
  auto session =
      std::make_shared<Session>(broker, runtime, std::move(stream), std::move(principal), limits);
  uint64_t sequence = 0;
  while (!session->failed) {
    if (!session->room
             .WaitUntil(
                 [&] { return session->in_flight < kRequestsInFlightMax || session->failed; },
                 io::Instant::Infinite(), "kafka request slot")
             .ok() ||
        session->failed) {
      break;
    }
    std::optional<absl::StatusOr<std::vector<uint8_t>>> next = ReadNextRequest(*session);
    if (!next.has_value()) continue;  // Idle with requests in flight: not idle.
    absl::StatusOr<std::vector<uint8_t>> payload = *std::move(next);
    if (!payload.ok()) {
      if (absl::IsInvalidArgument(payload.status())) {
        if (stats != nullptr) stats->closed_for_bad_input++;
        broker.LogClosedConnection("kafka: closed a connection: " +
                                   std::string(payload.status().message()));
      }
      break;
    }
    auto owned = std::make_shared<std::vector<uint8_t>>(*std::move(payload));
    absl::StatusOr<RequestFrame> frame = DecodeRequestFrame(*owned);
    if (!frame.ok()) {
      if (stats != nullptr) stats->closed_for_bad_input++;
      broker.LogClosedConnection("kafka: closed a connection: " +
                                 std::string(frame.status().message()));
      break;
    }
    if (stats != nullptr) stats->requests++;
    session->client_id = frame->header.client_id.value_or("").substr(0, kClientIdBytesMax);
    session->in_flight++;
    runtime.Spawn("kafka-request", [session, owned, frame = *frame, seq = sequence++, stats] {
      const Outcome outcome = Dispatch(*session, frame);
      if (outcome.close) {
        if (stats != nullptr) stats->closed_for_bad_input++;
        session->broker.LogClosedConnection(fmt::format(
            "kafka: closed the connection of client '{}' after API key {} v{}: {}",
            session->client_id, frame.header.api_key, frame.header.api_version,
            outcome.close_reason.empty() ? "the request does not decode" : outcome.close_reason));
      }
      WriteInTurn(*session, seq, frame.header.correlation_id, outcome);
      session->in_flight--;
      session->room.NotifyAll();
    });
  }
  // Requests still in flight finish (their proposals may commit) but write nothing more.
  session->failed = true;
  session->stream->Close();
  session->turn.NotifyAll();
}

}  // namespace meridian::core::kafka
