// Admission of client requests (issue 13 items 2 and 3): before a request runs, the node checks
// its bounds (buffered bytes, bytes awaiting commit per partition, fetches in flight) and the
// quotas of the client id and the topic, and reserves the memory the request may use. Past a
// bound or a quota the request is answered Throttled with retry_after_ms and never runs, so the
// node's memory stays within BrokerLimits::buffered_bytes_max whatever the clients send.
//
// What a request reserves (MemoryBudget, honest to within the FlatBuffers object overhead):
//   every request   its decoded copy (the frame's size) + kResponseBytesSmall for its answer;
//   produce         + the batch copy proposed to raft, held until the answer;
//   fetch           after its long poll (ReserveFetchRead), twice the bytes it may return (the
//                   response object and its encoding): an idle long poll holds no more than a
//                   small request, so parked consumers cannot starve the others.
// A response larger than what its request reserved (a metadata answer about many topics)
// reserves the difference when it is encoded, or is replaced by a Throttled answer.
#include <fmt/format.h>

#include <algorithm>

#include "core/broker/broker_state.h"
#include "io/assert.h"
#include "io/probe.h"

namespace meridian::core::broker {
namespace {

static_assert(wire::kClientMessageBytesMax <= Quotas::kRequestBytesMax,
              "every request's bytes must fit in a quota bucket's burst");
static_assert(wire::kFetchBytesMax <= Quotas::kRequestBytesMax);

// What any answer but a fetch's may take without reserving more: error texts, produce and
// offset answers are far below it.
constexpr uint64_t kResponseBytesSmall = 4 << 10;
constexpr io::Duration kRetryAfterMax = std::chrono::seconds(30);

void SyncMemoryMetrics(Broker::State& state) {
  state.metrics.buffered_bytes = state.memory.used();
  state.metrics.buffered_bytes_peak = state.memory.peak();
  state.metrics.buffered_bytes_max = state.memory.bytes_max();
}

static_assert(static_cast<int>(QuotaSubject::kClient) ==
              static_cast<int>(wire::QuotaSubject::Client));
static_assert(static_cast<int>(QuotaSubject::kTopic) ==
              static_cast<int>(wire::QuotaSubject::Topic));

QuotaLimits LimitsFor(const Broker::State& state, QuotaSubject subject, std::string_view name) {
  const cluster::ClusterMetadata& metadata = state.controller_machine->metadata;
  if (const cluster::QuotaRecord* set =
          metadata.FindQuota(static_cast<wire::QuotaSubject>(subject), name)) {
    return {.bytes_per_s = set->bytes_per_s, .requests_per_s = set->requests_per_s};
  }
  return subject == QuotaSubject::kClient ? state.options.limits.client_quota_default
                                          : state.options.limits.topic_quota_default;
}

Quotas::Charged Charged(const Broker::State& state, QuotaSubject subject, std::string_view name) {
  return {subject, name, LimitsFor(state, subject, name)};
}

wire::ClientMessageT Shed(Broker::State& state, uint64_t id, std::string text) {
  state.metrics.shed_total++;
  MERIDIAN_PROBE("broker: request shed at a bound");
  return ThrottledMessage(id, state.options.limits.shed_retry_after, std::move(text));
}

// The bytes a request may hold beyond its decoded copy, and its topic (empty: none).
uint64_t ExtraBytes(const wire::ClientMessageT& request, std::string* topic) {
  if (const wire::ProduceRequestT* produce = request.body.AsProduceRequest()) {
    *topic = produce->topic;
    return produce->batch.size();
  }
  if (const wire::FetchRequestT* fetch = request.body.AsFetchRequest()) {
    *topic = fetch->topic;
    return 0;  // Reserved after the long poll (ReserveFetchRead).
  }
  return 0;
}

// Produce and fetch only: the node-wide and per-partition bounds; a refusal or nullopt.
std::optional<wire::ClientMessageT> CheckBounds(Broker::State& state, uint64_t id,
                                                const wire::ClientMessageT& request,
                                                Admission& admission) {
  if (request.body.AsFetchRequest() != nullptr &&
      state.fetches_in_flight >= state.options.limits.fetches_in_flight_max) {
    return Shed(
        state, id,
        fmt::format("{} fetches in flight on this node, the limit", state.fetches_in_flight));
  }
  const wire::ProduceRequestT* produce = request.body.AsProduceRequest();
  if (produce == nullptr) return std::nullopt;
  const HostedPartition* hosted = state.FindHosted(produce->topic, produce->partition);
  if (hosted == nullptr) return std::nullopt;  // The handler answers with the routing error.
  const uint64_t bytes = produce->batch.size();
  if (hosted->machine->pending_bytes + bytes > state.options.limits.partition_pending_bytes_max) {
    return Shed(state, id,
                fmt::format("{}/{} has {} bytes awaiting commit, the limit is {}", produce->topic,
                            produce->partition, hosted->machine->pending_bytes,
                            state.options.limits.partition_pending_bytes_max));
  }
  admission.partition = hosted->machine;
  admission.partition_bytes = bytes;
  return std::nullopt;
}

// Whether this node would serve the produce or fetch (it hosts the partition and, for a produce
// or a fetch not allowed on a follower, leads it): quotas are charged only where the request
// runs, so a client that asked the wrong node hears NotLeader, not Throttled.
bool RunsHere(const Broker::State& state, const wire::ClientMessageT& request) {
  const wire::ProduceRequestT* produce = request.body.AsProduceRequest();
  const wire::FetchRequestT* fetch = request.body.AsFetchRequest();
  const HostedPartition* hosted =
      produce != nullptr ? state.FindHosted(produce->topic, produce->partition)
      : fetch != nullptr ? state.FindHosted(fetch->topic, fetch->partition)
                         : nullptr;
  if (hosted == nullptr) return false;
  const bool leader = hosted->replica->role() == raft::Role::kLeader;
  return leader || (fetch != nullptr && fetch->allow_follower);
}

}  // namespace

wire::ClientMessageT ThrottledMessage(uint64_t id, io::Duration wait, std::string text) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::clamp<io::Duration>(
      wait + std::chrono::microseconds(999), std::chrono::milliseconds(1), kRetryAfterMax));
  wire::ClientMessageT message = wire::ErrorMessage(
      id, wire::ErrorCode::Throttled, fmt::format("{}; retry after {} ms", text, ms.count()));
  message.body.AsErrorResponse()->retry_after_ms = static_cast<uint32_t>(ms.count());
  return message;
}

Admission AdmitRequest(Broker::State& state, std::string_view client_id,
                       const wire::ClientMessageT& request, uint64_t frame_bytes) {
  Admission admission;
  const uint64_t id = request.request_id;
  const uint64_t extra = ExtraBytes(request, &admission.topic);
  if (admission.topic.empty()) {  // Not a produce or a fetch: metadata, admin, offsets.
    admission.reserved_bytes = frame_bytes + kResponseBytesSmall;
  } else {
    if ((admission.refusal = CheckBounds(state, id, request, admission))) return admission;
    admission.reserved_bytes = frame_bytes + kResponseBytesSmall + extra;
  }
  if (!state.memory.TryReserve(admission.reserved_bytes)) {
    const uint64_t wanted = admission.reserved_bytes;
    admission = Admission{};
    admission.refusal = Shed(state, id,
                             fmt::format("node buffers {} of {} bytes; this request needs {}",
                                         state.memory.used(), state.memory.bytes_max(), wanted));
    return admission;
  }
  if (!admission.topic.empty() && RunsHere(state, request)) {
    const uint64_t bytes = request.body.AsProduceRequest() != nullptr ? extra : 0;
    const io::Duration wait =
        state.quotas.Admit(state.runtime.Now(), Charged(state, QuotaSubject::kClient, client_id),
                           Charged(state, QuotaSubject::kTopic, admission.topic), bytes);
    if (wait.count() > 0) {
      state.memory.Release(admission.reserved_bytes);
      state.metrics.throttled_total++;
      MERIDIAN_PROBE("broker: request throttled by a quota");
      const std::string topic = admission.topic;
      admission = Admission{};
      admission.refusal = ThrottledMessage(
          id, wait, fmt::format("quota of client '{}' or topic '{}' used up", client_id, topic));
      return admission;
    }
  }
  if (admission.partition != nullptr)
    admission.partition->pending_bytes += admission.partition_bytes;
  if (request.body.AsFetchRequest() != nullptr) {
    admission.fetch_slot = true;
    state.fetches_in_flight++;
  }
  SyncMemoryMetrics(state);
  return admission;
}

uint64_t ReserveFetchRead(Broker::State& state, uint64_t bytes_max) {
  constexpr uint64_t kFetchBytesFloor = 4 << 10;
  MERIDIAN_CHECK(bytes_max >= 1 && bytes_max <= wire::kFetchBytesMax);
  // Short of memory, read less rather than nothing: halve down to the floor, then shed.
  for (uint64_t bytes = bytes_max;; bytes /= 2) {
    if (state.memory.TryReserve(2 * bytes)) {
      state.fetch_reads[state.runtime.scheduler().Current()] += 2 * bytes;
      SyncMemoryMetrics(state);
      return bytes;
    }
    if (bytes <= kFetchBytesFloor) break;
  }
  state.metrics.shed_total++;
  MERIDIAN_PROBE("broker: fetch read shed at the memory bound");
  return 0;
}

void FinishRequest(Broker::State& state, std::string_view client_id, Admission& admission,
                   const wire::ClientMessageT& response) {
  // The fetch read reserved on this fiber is released with the reply.
  if (auto read = state.fetch_reads.find(state.runtime.scheduler().Current());
      read != state.fetch_reads.end()) {
    admission.reserved_bytes += read->second;
    state.fetch_reads.erase(read);
  }
  if (admission.partition != nullptr) {
    MERIDIAN_CHECK(admission.partition->pending_bytes >= admission.partition_bytes);
    admission.partition->pending_bytes -= admission.partition_bytes;
    admission.partition = nullptr;
  }
  if (admission.fetch_slot) {
    MERIDIAN_CHECK(state.fetches_in_flight > 0);
    state.fetches_in_flight--;
    admission.fetch_slot = false;
    uint64_t bytes = 0;
    if (const wire::FetchResponseT* fetched = response.body.AsFetchResponse()) {
      for (const auto& batch : fetched->batches) bytes += batch->batch.size();
    }
    const io::Instant now = state.runtime.Now();
    state.quotas.ChargeBytes(now, Charged(state, QuotaSubject::kClient, client_id), bytes);
    state.quotas.ChargeBytes(now, Charged(state, QuotaSubject::kTopic, admission.topic), bytes);
  }
}

void ReleaseReply(Broker::State& state, Admission& admission) {
  state.memory.Release(admission.reserved_bytes);
  admission.reserved_bytes = 0;
  SyncMemoryMetrics(state);
}

}  // namespace meridian::core::broker
