// Kafka <-> Meridian batches and error codes (translate.h).
#include "core/kafka/translate.h"

#include <fmt/format.h>

#include "absl/strings/numbers.h"
#include "core/kafka/protocol.h"
#include "io/assert.h"

namespace meridian::core::kafka {
namespace {

std::vector<uint8_t> Bytes(const flatbuffers::Vector<uint8_t>* v) {
  if (v == nullptr) return {};
  return {v->begin(), v->end()};
}

}  // namespace

std::optional<wire::RecordBatchT> ToMeridianBatch(const KafkaBatch& batch, std::string* why) {
  MERIDIAN_CHECK(why != nullptr);
  wire::RecordBatchT out;
  if (batch.producer_id != -1) {
    if (batch.producer_id <= 0 || batch.producer_epoch < 0 || batch.base_sequence < 0) {
      *why = fmt::format("producer id {} epoch {} sequence {}: not from InitProducerId",
                         batch.producer_id, batch.producer_epoch, batch.base_sequence);
      return std::nullopt;
    }
    out.producer_id = static_cast<uint64_t>(batch.producer_id);
    out.producer_epoch = static_cast<uint32_t>(batch.producer_epoch);
    out.base_sequence = batch.base_sequence;
  }
  out.records.reserve(batch.records.size());
  for (const KafkaRecord& record : batch.records) {
    auto r = std::make_unique<wire::RecordT>();
    r->timestamp_ms = record.timestamp_ms;
    if (record.key.has_value()) r->key = *record.key;
    if (record.value.has_value()) r->value = *record.value;
    for (const KafkaHeader& header : record.headers) {
      auto h = std::make_unique<wire::HeaderT>();
      h->key = header.key;
      if (header.value.has_value()) h->value = *header.value;
      r->headers.push_back(std::move(h));
    }
    out.records.push_back(std::move(r));
  }
  return out;
}

void AppendKafkaBatch(const wire::RecordBatch& batch, int64_t base_offset,
                      std::vector<uint8_t>& out) {
  MERIDIAN_CHECK(batch.records() != nullptr && batch.records()->size() > 0);
  KafkaBatch kafka;
  kafka.base_offset = base_offset;
  if (batch.producer_id() != 0) {
    kafka.producer_id = static_cast<int64_t>(batch.producer_id());
    kafka.producer_epoch = static_cast<int16_t>(batch.producer_epoch());
    kafka.base_sequence = batch.base_sequence();
  }
  kafka.records.reserve(batch.records()->size());
  for (const wire::Record* record : *batch.records()) {
    KafkaRecord r;
    r.timestamp_ms = record->timestamp_ms();
    if (record->key() != nullptr) r.key = Bytes(record->key());
    r.value = Bytes(record->value());
    if (record->headers() != nullptr) {
      for (const wire::Header* header : *record->headers()) {
        KafkaHeader h;
        if (header->key() != nullptr) h.key = header->key()->str();
        h.value = Bytes(header->value());
        r.headers.push_back(std::move(h));
      }
    }
    kafka.records.push_back(std::move(r));
  }
  EncodeRecordBatch(kafka, out);
}

int16_t KafkaErrorCode(wire::ErrorCode code, RequestKind kind) {
  using wire::ErrorCode;
  switch (code) {
    case ErrorCode::None:
      return error::kNone;
    case ErrorCode::NotLeader:
    case ErrorCode::Failed:  // Certainly not applied: leadership moved, or the queue was full.
      if (kind == RequestKind::kController) return error::kNotController;
      if (kind == RequestKind::kProducerId) return error::kCoordinatorNotAvailable;
      if (kind == RequestKind::kGroup) return error::kNotCoordinator;
      return error::kNotLeaderOrFollower;
    case ErrorCode::Unknown:
      return error::kRequestTimedOut;
    case ErrorCode::UnknownTopicOrPartition:
      // Groups: "__consumer_offsets" is not there yet (FindCoordinator creates it).
      return kind == RequestKind::kGroup ? error::kCoordinatorNotAvailable
                                         : error::kUnknownTopicOrPartition;
    case ErrorCode::RecordTooLarge:
      return error::kMessageTooLarge;
    case ErrorCode::OutOfOrderSequence:
      return error::kOutOfOrderSequenceNumber;
    case ErrorCode::FencedProducerEpoch:
      return error::kInvalidProducerEpoch;
    case ErrorCode::NotEnoughReplicas:
      return kind == RequestKind::kController ? error::kInvalidReplicationFactor
                                              : error::kNotEnoughReplicas;
    case ErrorCode::OffsetOutOfRange:
      return error::kOffsetOutOfRange;
    case ErrorCode::Throttled:
      // Still refused after the listener held it for kThrottleHoldMax (a Kafka broker delays a
      // throttled client and never answers data requests with an error): certainly not applied,
      // so a timeout the client retries. Controller requests have KIP-599's own code.
      return kind == RequestKind::kController ? error::kThrottlingQuotaExceeded
                                              : error::kRequestTimedOut;
    case ErrorCode::TopicAlreadyExists:
      return error::kTopicAlreadyExists;
    case ErrorCode::InvalidConfig:
      // Groups: a join out of bounds (session or rebalance timeout, group size).
      return kind == RequestKind::kGroup ? error::kInvalidSessionTimeout : error::kInvalidConfig;
    case ErrorCode::Unsupported:
    case ErrorCode::UnsupportedVersion:
      return error::kUnsupportedVersion;
    case ErrorCode::BadRequest:
    case ErrorCode::NotHelloed:
      return error::kInvalidRequest;
    case ErrorCode::UnknownMemberId:
      return error::kUnknownMemberId;
    case ErrorCode::IllegalGeneration:
      return error::kIllegalGeneration;
    case ErrorCode::RebalanceInProgress:
      return error::kRebalanceInProgress;
    case ErrorCode::GroupNotEmpty:
      // Groups: a "simple" commit (no member, generation -1) into a group with members; Kafka
      // answers UNKNOWN_MEMBER_ID (the empty member is not one of them).
      return kind == RequestKind::kGroup ? error::kUnknownMemberId : error::kNonEmptyGroup;
    case ErrorCode::InconsistentAssignor:
      return error::kInconsistentGroupProtocol;
    case ErrorCode::NotAuthorized:
      return kind == RequestKind::kGroup ? error::kGroupAuthorizationFailed
                                         : error::kTopicAuthorizationFailed;
    case ErrorCode::GroupIdNotFound:
      return error::kGroupIdNotFound;
  }
  return error::kUnknownServerError;
}

std::optional<int64_t> MeridianRetention(std::string_view kafka_value) {
  int64_t number = 0;
  if (!absl::SimpleAtoi(absl::string_view(kafka_value.data(), kafka_value.size()), &number)) {
    return std::nullopt;
  }
  if (number == -1) return 0;
  if (number <= 0) return std::nullopt;
  return number;
}

int16_t KafkaErrorCode(BatchError batch_error) {
  switch (batch_error) {
    case BatchError::kCorrupt:
      return error::kCorruptMessage;
    case BatchError::kUnsupportedCompression:
      return error::kUnsupportedCompressionType;
    case BatchError::kUnsupported:
      return error::kInvalidRequest;
    case BatchError::kTooLarge:
      return error::kMessageTooLarge;
  }
  return error::kUnknownServerError;
}

}  // namespace meridian::core::kafka
