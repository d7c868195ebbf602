// Fuzz target: one Kafka request frame payload (after its int32 size) as a Kafka client sends it
// to meridian-node's Kafka listener (core/kafka/messages.h) — untrusted bytes.
//
// Input: any bytes, used twice:
//   1. as a frame payload: DecodeRequestFrame, then the decoder its API key and version name
//      (the served ones, the group APIs' included), then every Produce partition's records
//      through DecodeRecordBatch;
//   2. byte 0 picks a decoder and byte 1 a version (0..11), and the rest is that request's body
//      — so every decoder sees every body, whatever header the bytes would have.
// Each decoder must return a request or a status, never crash, never read outside the input; a
// decoded request's arrays hold no more elements than the input has bytes.
// Seeds: fuzz/corpus/kafka_request (make_corpus.cc).
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/kafka/group_messages.h"
#include "core/kafka/messages.h"
#include "core/kafka/record_batch.h"
#include "io/assert.h"

namespace meridian::fuzz {
namespace {

using namespace core::kafka;  // NOLINT: the target names most of the package.

void Produce(std::span<const uint8_t> body, int16_t v) {
  absl::StatusOr<ProduceRequest> request = DecodeProduceRequest(body, v);
  if (!request.ok()) return;
  size_t partitions = 0;
  for (const ProduceTopicData& topic : request->topics) {
    for (const ProducePartitionData& partition : topic.partitions) {
      partitions++;
      BatchDecodeError error;
      (void)DecodeRecordBatch(partition.records, &error);
    }
  }
  MERIDIAN_CHECK(partitions <= body.size());
}

// The consumer-group requests (group_messages.h); a decoded one is bounded by the input.
void DecodeGroupRequest(ApiKey key, std::span<const uint8_t> body, int16_t v) {
  switch (key) {
    case ApiKey::kFindCoordinator:
      (void)DecodeFindCoordinatorRequest(body, v);
      return;
    case ApiKey::kJoinGroup:
      if (auto r = DecodeJoinGroupRequest(body, v); r.ok()) {
        MERIDIAN_CHECK(r->protocols.size() <= kGroupProtocolsMax);
        for (const auto& protocol : r->protocols)
          MERIDIAN_CHECK(protocol.bytes.size() <= body.size());
      }
      return;
    case ApiKey::kSyncGroup:
      if (auto r = DecodeSyncGroupRequest(body, v); r.ok()) {
        MERIDIAN_CHECK(r->assignments.size() <= body.size());
      }
      return;
    case ApiKey::kHeartbeat:
      (void)DecodeHeartbeatRequest(body, v);
      return;
    case ApiKey::kLeaveGroup:
      if (auto r = DecodeLeaveGroupRequest(body, v); r.ok()) {
        MERIDIAN_CHECK(r->member_ids.size() <= body.size());
      }
      return;
    case ApiKey::kOffsetCommit:
      if (auto r = DecodeOffsetCommitRequest(body, v); r.ok()) {
        MERIDIAN_CHECK(r->topics.size() <= body.size());
      }
      return;
    case ApiKey::kOffsetFetch:
      if (auto r = DecodeOffsetFetchRequest(body, v); r.ok() && r->topics.has_value()) {
        MERIDIAN_CHECK(r->topics->size() <= body.size());
      }
      return;
    case ApiKey::kDescribeGroups:
      if (auto r = DecodeDescribeGroupsRequest(body, v); r.ok()) {
        MERIDIAN_CHECK(r->groups.size() <= body.size());
      }
      return;
    case ApiKey::kDeleteGroups:
      if (auto r = DecodeDeleteGroupsRequest(body, v); r.ok()) {
        MERIDIAN_CHECK(r->groups.size() <= body.size());
      }
      return;
    default:
      return;
  }
}

void AlterConfigs(ApiKey key, std::span<const uint8_t> body, int16_t v) {
  absl::StatusOr<AlterConfigsRequest> r = key == ApiKey::kAlterConfigs
                                              ? DecodeAlterConfigsRequest(body, v)
                                              : DecodeIncrementalAlterConfigsRequest(body, v);
  if (!r.ok()) return;
  MERIDIAN_CHECK(r->resources.size() <= body.size());
  for (const AlterConfigsResource& resource : r->resources) {
    MERIDIAN_CHECK(resource.configs.size() <= body.size());
  }
}

void Decode(ApiKey key, std::span<const uint8_t> body, int16_t v) {
  switch (key) {
    case ApiKey::kProduce:
      return Produce(body, v);
    case ApiKey::kFetch:
      if (auto r = DecodeFetchRequest(body, v); r.ok())
        MERIDIAN_CHECK(r->topics.size() <= body.size());
      return;
    case ApiKey::kListOffsets:
      (void)DecodeListOffsetsRequest(body, v);
      return;
    case ApiKey::kMetadata:
      if (auto r = DecodeMetadataRequest(body, v); r.ok() && r->topics.has_value()) {
        MERIDIAN_CHECK(r->topics->size() <= body.size());
      }
      return;
    case ApiKey::kCreateTopics:
      (void)DecodeCreateTopicsRequest(body, v);
      return;
    case ApiKey::kDeleteTopics:
      (void)DecodeDeleteTopicsRequest(body, v);
      return;
    case ApiKey::kInitProducerId:
      (void)DecodeInitProducerIdRequest(body, v);
      return;
    case ApiKey::kDescribeConfigs:
      if (auto r = DecodeDescribeConfigsRequest(body, v); r.ok()) {
        MERIDIAN_CHECK(r->resources.size() <= body.size());
        for (const DescribeConfigsResource& resource : r->resources) {
          if (resource.config_names.has_value()) {
            MERIDIAN_CHECK(resource.config_names->size() <= body.size());
          }
        }
      }
      return;
    case ApiKey::kCreatePartitions:
      if (auto r = DecodeCreatePartitionsRequest(body, v); r.ok()) {
        MERIDIAN_CHECK(r->topics.size() <= body.size());
      }
      return;
    case ApiKey::kAlterConfigs:
    case ApiKey::kIncrementalAlterConfigs:
      return AlterConfigs(key, body, v);
    default:
      return DecodeGroupRequest(key, body, v);
  }
}

void Run(std::span<const uint8_t> input) {
  absl::StatusOr<RequestFrame> frame = DecodeRequestFrame(input);
  if (frame.ok()) {
    const std::optional<ApiVersionRange> range = SupportedRange(frame->header.api_key);
    const int16_t v = frame->header.api_version;
    if (range.has_value() && v >= range->min && v <= range->max) {
      Decode(range->key, frame->body, v);
    }
  }
  if (input.size() < 2) return;
  const ApiVersionRange& pick = kSupportedApis[input[0] % std::size(kSupportedApis)];
  Decode(pick.key, input.subspan(2), static_cast<int16_t>(input[1] % 12));
}

}  // namespace
}  // namespace meridian::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  meridian::fuzz::Run(std::span<const uint8_t>(data, size));
  return 0;
}
