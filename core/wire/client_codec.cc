#include "core/wire/client_codec.h"

#include <fmt/format.h>

#include "io/assert.h"

namespace meridian::wire {
namespace {

constexpr uint32_t kVerifierDepthMax = 16;
// A fetch response of kFetchBytesMax holds at most that many small tables; the verifier's table
// bound is a cost bound, not a format limit.
constexpr uint32_t kVerifierTablesMax = 1 << 20;

}  // namespace

std::vector<uint8_t> EncodeClientMessage(const ClientMessageT& message) {
  flatbuffers::FlatBufferBuilder builder(256);
  builder.Finish(ClientMessage::Pack(builder, &message));
  return {builder.GetBufferPointer(), builder.GetBufferPointer() + builder.GetSize()};
}

absl::StatusOr<std::unique_ptr<ClientMessageT>> DecodeClientMessage(
    std::span<const uint8_t> bytes) {
  if (bytes.size() > kClientMessageBytesMax) {
    return absl::InvalidArgumentError(fmt::format("client message of {} bytes", bytes.size()));
  }
  flatbuffers::Verifier verifier(bytes.data(), bytes.size(), kVerifierDepthMax, kVerifierTablesMax);
  if (!VerifyClientMessageBuffer(verifier)) {
    return absl::InvalidArgumentError("client message failed FlatBuffers verification");
  }
  const ClientMessage* message = GetClientMessage(bytes.data());
  // The verifier accepts a union whose type is set but whose value is absent.
  if (message->body() == nullptr || message->body_type() == Body::NONE) {
    return absl::InvalidArgumentError("client message without a body");
  }
  if (static_cast<uint8_t>(message->body_type()) > static_cast<uint8_t>(Body::MAX)) {
    return absl::InvalidArgumentError(fmt::format("client message body of unknown type {}",
                                                  static_cast<int>(message->body_type())));
  }
  return std::unique_ptr<ClientMessageT>(message->UnPack());
}

std::vector<uint8_t> EncodeRecordBatch(const RecordBatchT& batch) {
  flatbuffers::FlatBufferBuilder builder(256);
  builder.Finish(RecordBatch::Pack(builder, &batch));
  return {builder.GetBufferPointer(), builder.GetBufferPointer() + builder.GetSize()};
}

absl::StatusOr<const RecordBatch*> VerifyRecordBatch(std::span<const uint8_t> bytes) {
  if (bytes.size() > kBatchBytesMax) {
    return absl::InvalidArgumentError(
        fmt::format("record batch of {} bytes (at most {})", bytes.size(), kBatchBytesMax));
  }
  flatbuffers::Verifier verifier(bytes.data(), bytes.size(), kVerifierDepthMax, kVerifierTablesMax);
  if (!VerifyRecordBatchBuffer(verifier)) {
    return absl::InvalidArgumentError("record batch failed FlatBuffers verification");
  }
  const RecordBatch* batch = GetRecordBatch(bytes.data());
  if (batch->records() == nullptr || batch->records()->size() == 0) {
    return absl::InvalidArgumentError("record batch without records");
  }
  if (batch->records()->size() > kBatchRecordsMax) {
    return absl::InvalidArgumentError(fmt::format("record batch of {} records (at most {})",
                                                  batch->records()->size(), kBatchRecordsMax));
  }
  if (batch->producer_id() != 0 && batch->base_sequence() < 0) {
    return absl::InvalidArgumentError("idempotent batch with a negative base sequence");
  }
  return batch;
}

ClientMessageT ErrorMessage(uint64_t request_id, ErrorCode code, std::string text,
                            uint32_t leader) {
  ErrorResponseT error;
  error.code = code;
  error.message = std::move(text);
  error.leader = leader;
  return Message(request_id, std::move(error));
}

}  // namespace meridian::wire
