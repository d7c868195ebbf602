// Produce, Fetch and ListOffsets, translated into Meridian's ProduceRequest, FetchRequest and
// ListOffsetsRequest (one per partition) and handed to the broker.
#include <fmt/format.h>

#include <algorithm>

#include "core/client/near_replica.h"
#include "core/kafka/record_batch.h"
#include "core/kafka/session_internal.h"
#include "core/kafka/translate.h"
#include "io/assert.h"
#include "io/probe.h"

namespace meridian::core::kafka {
namespace {

// A produce partition: what to propose, or the error it is answered with without proposing.
struct ProduceJob {
  size_t topic = 0;
  ProducePartitionResponse response;
  std::optional<wire::ProduceRequestT> request;
};

static_assert(kDecompressedRecordsBytesMax >= wire::kBatchBytesMax,
              "a compressed batch whose records would fit a native batch decompresses in full");

// Translates one partition's records into a Meridian ProduceRequest, or sets the error.
void PrepareProduce(const ProduceRequest& request, const ProduceTopicData& topic,
                    const ProducePartitionData& data, ProduceJob& job) {
  job.response.partition = data.partition;
  const auto refuse = [&](int16_t code, std::string message) {
    job.response.error_code = code;
    job.response.error_message = std::move(message);
  };
  if (request.acks != 0 && request.acks != 1 && request.acks != -1) {
    return refuse(error::kInvalidRequiredAcks, fmt::format("acks={}", request.acks));
  }
  if (request.transactional_id.has_value()) {
    return refuse(error::kInvalidRequest, "transactions are not supported by Meridian");
  }
  if (data.partition < 0) return refuse(error::kUnknownTopicOrPartition, "negative partition");
  BatchDecodeError batch_error;
  std::optional<KafkaBatch> batch = DecodeRecordBatch(data.records, &batch_error);
  if (!batch.has_value()) return refuse(KafkaErrorCode(batch_error.error), batch_error.reason);
  std::string why;
  std::optional<wire::RecordBatchT> meridian = ToMeridianBatch(*batch, &why);
  if (!meridian.has_value()) return refuse(error::kInvalidRequest, why);
  wire::ProduceRequestT produce;
  produce.topic = topic.name;
  produce.partition = static_cast<uint32_t>(data.partition);
  produce.acks = request.acks == 1 ? wire::Acks::Leader : wire::Acks::Quorum;
  produce.timeout_ms = static_cast<uint32_t>(std::max(request.timeout_ms, 0));
  produce.batch = wire::EncodeRecordBatch(*meridian);
  if (produce.batch.size() > wire::kBatchBytesMax) {
    return refuse(error::kMessageTooLarge,
                  fmt::format("the batch is {} bytes in Meridian's encoding; the limit is {}",
                              produce.batch.size(), wire::kBatchBytesMax));
  }
  job.request = std::move(produce);
}

void ProduceResult(const wire::ClientMessageT& answer, ProducePartitionResponse& response) {
  if (const wire::ProduceResponseT* ok = answer.body.AsProduceResponse()) {
    // A duplicate of an idempotent batch is a success with the original offset (Kafka does so).
    response.base_offset = ok->base_offset;
    return;
  }
  const wire::ErrorResponseT* error = answer.body.AsErrorResponse();
  response.error_code = error != nullptr ? KafkaErrorCode(error->code, RequestKind::kPartition)
                                         : error::kUnknownServerError;
  if (error != nullptr) response.error_message = error->message;
}

// Proposes every prepared partition, each on its own fiber spawned in request order (so the
// proposals enter each partition's log in the order the requests came), and waits for all.
// Returns how long the node held the request for its quotas or bounds.
io::Duration RunProduceJobs(Session& session, std::vector<ProduceJob>& jobs) {
  struct Pending {
    explicit Pending(io::Runtime& rt) : done(rt) {}
    size_t left = 0;
    io::Duration held{0};  // The longest any partition waited for admission.
    io::WaitList done;
  };
  auto pending = std::make_shared<Pending>(session.runtime);
  // The partitions share one hold: a produce to many is not held many times as long.
  const io::Instant hold_until = session.runtime.Now() + kThrottleHoldMax;
  auto shared = std::make_shared<std::vector<ProduceJob>>(std::move(jobs));
  for (ProduceJob& job : *shared) {
    if (!job.request.has_value()) continue;
    pending->left++;
    session.runtime.Spawn(
        "kafka-produce", [self = session.shared_from_this(), pending, shared, &job, hold_until] {
          io::Duration held{0};
          ProduceResult(Call(*self, std::move(*job.request), &held, hold_until), job.response);
          pending->held = std::max(pending->held, held);
          pending->left--;
          pending->done.NotifyAll();
        });
  }
  (void)pending->done.WaitUntil([&] { return pending->left == 0; }, io::Instant::Infinite(),
                                "kafka produce partitions");
  jobs = std::move(*shared);
  return pending->held;
}

}  // namespace

Outcome HandleProduce(Session& session, const RequestFrame& frame) {
  const int16_t v = frame.header.api_version;
  absl::StatusOr<ProduceRequest> request = DecodeProduceRequest(frame.body, v);
  if (!request.ok()) return Close();
  std::vector<ProduceJob> jobs;
  for (size_t t = 0; t < request->topics.size(); t++) {
    for (const ProducePartitionData& data : request->topics[t].partitions) {
      ProduceJob& job = jobs.emplace_back();
      job.topic = t;
      PrepareProduce(*request, request->topics[t], data, job);
    }
  }
  const io::Duration held = RunProduceJobs(session, jobs);
  if (request->acks == 0) return Outcome{};  // acks=0: the producer expects no response.
  ProduceResponse response;
  response.throttle_time_ms = ThrottleTimeMs(held);
  for (const ProduceTopicData& topic : request->topics) response.topics.push_back({topic.name, {}});
  for (ProduceJob& job : jobs) {
    response.topics[job.topic].second.push_back(std::move(job.response));
  }
  return Respond(EncodeProduceResponse(response, v));
}

namespace {

// One partition's fetch with Meridian's long poll of `wait_ms` (0: answer now), translated.
// `allow_follower`: Fetch v11+ (KIP-392), which a follower serves (committed records only).
// It waits for admission until `hold_until` at most, adding the time waited to `*held` if given.
FetchPartitionResponse FetchPartitionNow(Session& session, const std::string& topic,
                                         const FetchPartition& partition, uint32_t bytes_max,
                                         uint32_t wait_ms, bool allow_follower, io::Duration* held,
                                         io::Instant hold_until) {
  FetchPartitionResponse out;
  out.partition = partition.partition;
  if (partition.partition < 0 || partition.fetch_offset < 0) {
    out.error_code =
        partition.partition < 0 ? error::kUnknownTopicOrPartition : error::kOffsetOutOfRange;
    return out;
  }
  wire::FetchRequestT request;
  request.topic = topic;
  request.partition = static_cast<uint32_t>(partition.partition);
  request.offset = partition.fetch_offset;
  request.max_bytes = std::max<uint32_t>(bytes_max, 1);
  request.max_wait_ms = wait_ms;
  request.allow_follower = allow_follower;
  const wire::ClientMessageT answer = Call(session, std::move(request), held, hold_until);
  if (const wire::ErrorResponseT* error = answer.body.AsErrorResponse()) {
    out.error_code = KafkaErrorCode(error->code, RequestKind::kPartition);
    if (error->code == wire::ErrorCode::OffsetOutOfRange) {
      out.high_watermark = error->latest_offset;
      out.log_start_offset = error->earliest_offset;
    }
    return out;
  }
  const wire::FetchResponseT* fetched = answer.body.AsFetchResponse();
  if (fetched == nullptr) {
    out.error_code = error::kUnknownServerError;
    return out;
  }
  out.high_watermark = fetched->high_watermark;
  out.log_start_offset = fetched->log_start_offset;
  for (const auto& batch : fetched->batches) {
    absl::StatusOr<const wire::RecordBatch*> verified = wire::VerifyRecordBatch(batch->batch);
    if (!verified.ok()) {  // Read back from a CRC-checked log: a bug if it happens.
      out.error_code = error::kCorruptMessage;
      out.records.clear();
      return out;
    }
    AppendKafkaBatch(**verified, batch->base_offset, out.records);
  }
  return out;
}

// KIP-392: the node a client in rack `rack` (a Meridian region) should fetch `partition` from
// instead of this one, or -1. Only the leader names one, as in Kafka: a replica or observer of
// the client's region with a Kafka listener, by core/client's rule (near_replica.h: the leader
// itself when it is in that region; otherwise a stable choice per partition).
int32_t PreferredReadReplica(Session& session, const std::string& topic, int32_t partition,
                             const std::string& rack) {
  if (rack.empty() || partition < 0) return -1;
  const uint32_t index = static_cast<uint32_t>(partition);
  if (!session.broker.LeadsPartition(topic, index)) return -1;
  const cluster::ClusterMetadata& metadata = session.broker.metadata();
  const cluster::TopicRecord* record = metadata.FindTopic(topic);
  if (record == nullptr || index >= record->partitions.size()) return -1;
  wire::PartitionInfoT info;
  info.partition = index;
  info.replicas = record->partitions[index].replicas;
  info.observers = record->partitions[index].observers;
  info.leader = session.broker.node_id();
  const auto region_of = [&metadata](uint32_t node) {
    auto found = metadata.nodes().find(node);
    if (found == metadata.nodes().end() || found->second.kafka_address.empty())
      return std::string();
    return found->second.region;  // A node without a Kafka listener is never named.
  };
  const std::optional<io::NodeId> near =
      client::ChooseNearReplica(info, topic, rack, region_of, /*avoid=*/{});
  if (!near.has_value() || near->value() == session.broker.node_id()) return -1;
  MERIDIAN_CHECK(near->value() != 0);
  return static_cast<int32_t>(near->value());
}

// Every partition of the request, answered now; the response's bytes of records in `*bytes`.
// `*answer_now`: some partition has an error or names a preferred read replica (no long poll).
// `*held`: the time the request has waited for admission so far, at most kThrottleHoldMax.
FetchResponse FetchPass(Session& session, const FetchRequest& request, int16_t v, size_t* bytes,
                        bool* answer_now, io::Duration* held) {
  FetchResponse response;
  const size_t budget = std::clamp<size_t>(static_cast<size_t>(std::max(request.max_bytes, 1)), 1,
                                           wire::kFetchBytesMax);
  *bytes = 0;
  *answer_now = false;
  for (const FetchTopic& topic : request.topics) {
    auto& partitions =
        response.topics.emplace_back(topic.name, std::vector<FetchPartitionResponse>{}).second;
    for (const FetchPartition& partition : topic.partitions) {
      const size_t left = budget > *bytes ? budget - *bytes : 0;
      const uint32_t bytes_max = static_cast<uint32_t>(
          std::min<size_t>(left, static_cast<size_t>(std::max(partition.partition_max_bytes, 1))));
      const int32_t preferred =
          v >= 11 ? PreferredReadReplica(session, topic.name, partition.partition, request.rack_id)
                  : -1;
      // Redirected, the records are not sent: the smallest read gives the offsets to report.
      // The partitions share one hold: a fetch of many is not held many times as long.
      FetchPartitionResponse answer =
          FetchPartitionNow(session, topic.name, partition, preferred >= 0 ? 1 : bytes_max, 0,
                            v >= 11, held, session.runtime.Now() + (kThrottleHoldMax - *held));
      if (preferred >= 0 && answer.error_code == error::kNone) {
        // As Kafka's leader does: no records, only where to fetch them (the client goes there).
        MERIDIAN_PROBE("kafka: fetch answered with a preferred read replica");
        answer.records.clear();
        answer.preferred_read_replica = preferred;
        *answer_now = true;
      }
      // The first batch is always served (KIP-74); later partitions only within the budget.
      if (*bytes > 0 && *bytes + answer.records.size() > budget) answer.records.clear();
      *bytes += answer.records.size();
      *answer_now |= answer.error_code != error::kNone;
      partitions.push_back(std::move(answer));
    }
  }
  return response;
}

// Waits until some partition of the request has records (or an error), or until `deadline`:
// one Meridian long poll per partition; the first to answer wakes the request.
void LongPoll(Session& session, const FetchRequest& request, io::Instant deadline, uint32_t wait_ms,
              bool allow_follower) {
  size_t partitions = 0;
  for (const FetchTopic& topic : request.topics) partitions += topic.partitions.size();
  if (session.long_polls + partitions > kLongPollsMax) {
    // Too many pollers already parked on this connection: a short sleep instead.
    (void)session.runtime.SleepUntil(
        std::min(deadline, session.runtime.Now() + std::chrono::milliseconds(20)));
    return;
  }
  struct Wake {
    explicit Wake(io::Runtime& rt) : changed(rt) {}
    size_t left = 0;
    bool woken = false;
    io::WaitList changed;
  };
  auto wake = std::make_shared<Wake>(session.runtime);
  for (const FetchTopic& topic : request.topics) {
    for (const FetchPartition& partition : topic.partitions) {
      wake->left++;
      session.long_polls++;
      session.runtime.Spawn(
          "kafka-long-poll", [self = session.shared_from_this(), wake, name = topic.name, partition,
                              wait_ms, allow_follower] {
            const FetchPartitionResponse answer =
                // Refused, a long poll answers at once: the request's next pass waits.
                FetchPartitionNow(*self, name, partition, 1, wait_ms, allow_follower, nullptr,
                                  self->runtime.Now());
            self->long_polls--;
            wake->left--;
            wake->woken |= !answer.records.empty() || answer.error_code != error::kNone;
            wake->changed.NotifyAll();
          });
    }
  }
  (void)wake->changed.WaitUntil([&] { return wake->woken || wake->left == 0; }, deadline,
                                "kafka fetch long poll");
}

}  // namespace

Outcome HandleFetch(Session& session, const RequestFrame& frame) {
  const int16_t v = frame.header.api_version;
  absl::StatusOr<FetchRequest> request = DecodeFetchRequest(frame.body, v);
  if (!request.ok()) return Close();
  const uint32_t wait_ms = static_cast<uint32_t>(std::clamp(request->max_wait_ms, 0, 60'000));
  const io::Instant deadline = session.runtime.Now() + std::chrono::milliseconds(wait_ms);
  size_t bytes = 0;
  bool answer_now = false;
  io::Duration held{0};
  FetchResponse response = FetchPass(session, *request, v, &bytes, &answer_now, &held);
  const size_t min_bytes = static_cast<size_t>(std::max(request->min_bytes, 1));
  if (bytes < min_bytes && !answer_now && wait_ms > 0) {
    LongPoll(session, *request, deadline, wait_ms, /*allow_follower=*/v >= 11);
    response = FetchPass(session, *request, v, &bytes, &answer_now, &held);
  }
  response.throttle_time_ms = ThrottleTimeMs(held);
  return Respond(EncodeFetchResponse(response, v));
}

Outcome HandleListOffsets(Session& session, const RequestFrame& frame) {
  const int16_t v = frame.header.api_version;
  absl::StatusOr<ListOffsetsRequest> request = DecodeListOffsetsRequest(frame.body, v);
  if (!request.ok()) return Close();
  ListOffsetsResponse response;
  for (const ListOffsetsTopic& topic : request->topics) {
    auto& out =
        response.topics.emplace_back(topic.name, std::vector<ListOffsetsPartitionResponse>{})
            .second;
    for (const ListOffsetsPartition& partition : topic.partitions) {
      ListOffsetsPartitionResponse& answer = out.emplace_back();
      answer.partition = partition.partition;
      if (partition.partition < 0) {
        answer.error_code = error::kUnknownTopicOrPartition;
        continue;
      }
      wire::ListOffsetsRequestT list;
      list.topic = topic.name;
      list.partition = static_cast<uint32_t>(partition.partition);
      list.spec = partition.timestamp == -1   ? wire::OffsetSpec::Latest
                  : partition.timestamp == -2 ? wire::OffsetSpec::Earliest
                                              : wire::OffsetSpec::Timestamp;
      list.timestamp_ms = partition.timestamp;
      const wire::ClientMessageT result = Call(session, std::move(list));
      if (const wire::ListOffsetsResponseT* ok = result.body.AsListOffsetsResponse()) {
        answer.offset = ok->offset;
      } else if (const wire::ErrorResponseT* error = result.body.AsErrorResponse()) {
        answer.error_code = KafkaErrorCode(error->code, RequestKind::kPartition);
      } else {
        answer.error_code = error::kUnknownServerError;
      }
    }
  }
  return Respond(EncodeListOffsetsResponse(response, v));
}

}  // namespace meridian::core::kafka
