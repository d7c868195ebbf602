// The Kafka protocol's vocabulary as this listener speaks it: API keys, the versions served
// (non-flexible ones only: flexible versions need compact strings and tagged fields, which no
// decoder here reads), error codes, and limits.
//
// Requests are framed as int32 size + (request header v1 + body); responses as int32 size +
// (response header v0 = correlation id + body). See docs/kafka.md for the whole story.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace meridian::core::kafka {

enum class ApiKey : int16_t {
  kProduce = 0,
  kFetch = 1,
  kListOffsets = 2,
  kMetadata = 3,
  kOffsetCommit = 8,
  kOffsetFetch = 9,
  kFindCoordinator = 10,
  kJoinGroup = 11,
  kHeartbeat = 12,
  kLeaveGroup = 13,
  kSyncGroup = 14,
  kDescribeGroups = 15,
  kListGroups = 16,
  kApiVersions = 18,
  kCreateTopics = 19,
  kDeleteTopics = 20,
  kInitProducerId = 22,
  kDescribeConfigs = 32,
  kAlterConfigs = 33,
  kCreatePartitions = 37,
  kDeleteGroups = 42,
  kIncrementalAlterConfigs = 44,
};

struct ApiVersionRange {
  ApiKey key;
  int16_t min = 0;
  int16_t max = 0;
};

// What ApiVersions advertises, ascending by key (the versions librdkafka 2.0 and kafka-python
// 2.0 negotiate, non-flexible ones).
inline constexpr ApiVersionRange kSupportedApis[] = {
    {ApiKey::kProduce, 3, 8},         {ApiKey::kFetch, 4, 11},
    {ApiKey::kListOffsets, 1, 5},     {ApiKey::kMetadata, 0, 8},
    {ApiKey::kOffsetCommit, 2, 7},    {ApiKey::kOffsetFetch, 1, 5},
    {ApiKey::kFindCoordinator, 0, 2}, {ApiKey::kJoinGroup, 0, 5},
    {ApiKey::kHeartbeat, 0, 3},       {ApiKey::kLeaveGroup, 0, 3},
    {ApiKey::kSyncGroup, 0, 3},       {ApiKey::kDescribeGroups, 0, 4},
    {ApiKey::kListGroups, 0, 2},      {ApiKey::kApiVersions, 0, 2},
    {ApiKey::kCreateTopics, 2, 4},    {ApiKey::kDeleteTopics, 1, 3},
    {ApiKey::kInitProducerId, 0, 1},  {ApiKey::kDescribeConfigs, 0, 2},
    {ApiKey::kAlterConfigs, 0, 1},    {ApiKey::kCreatePartitions, 0, 1},
    {ApiKey::kDeleteGroups, 0, 1},    {ApiKey::kIncrementalAlterConfigs, 0, 0},
};

// The served range of `key`, if it is served at all.
std::optional<ApiVersionRange> SupportedRange(int16_t key);

// Kafka error codes used here (the protocol guide's table).
namespace error {
inline constexpr int16_t kUnknownServerError = -1;
inline constexpr int16_t kNone = 0;
inline constexpr int16_t kOffsetOutOfRange = 1;
inline constexpr int16_t kCorruptMessage = 2;
inline constexpr int16_t kUnknownTopicOrPartition = 3;
inline constexpr int16_t kLeaderNotAvailable = 5;
inline constexpr int16_t kNotLeaderOrFollower = 6;
inline constexpr int16_t kRequestTimedOut = 7;
inline constexpr int16_t kMessageTooLarge = 10;
inline constexpr int16_t kOffsetMetadataTooLarge = 12;
inline constexpr int16_t kCoordinatorLoadInProgress = 14;
inline constexpr int16_t kCoordinatorNotAvailable = 15;
inline constexpr int16_t kNotCoordinator = 16;
inline constexpr int16_t kInvalidTopic = 17;
inline constexpr int16_t kTopicAuthorizationFailed = 29;
inline constexpr int16_t kGroupAuthorizationFailed = 30;
inline constexpr int16_t kNotEnoughReplicas = 19;
inline constexpr int16_t kIllegalGeneration = 22;
inline constexpr int16_t kInconsistentGroupProtocol = 23;
inline constexpr int16_t kInvalidGroupId = 24;
inline constexpr int16_t kUnknownMemberId = 25;
inline constexpr int16_t kInvalidSessionTimeout = 26;
inline constexpr int16_t kRebalanceInProgress = 27;
inline constexpr int16_t kInvalidRequiredAcks = 21;
inline constexpr int16_t kUnsupportedVersion = 35;
inline constexpr int16_t kTopicAlreadyExists = 36;
inline constexpr int16_t kInvalidPartitions = 37;
inline constexpr int16_t kInvalidReplicationFactor = 38;
inline constexpr int16_t kInvalidConfig = 40;
inline constexpr int16_t kNotController = 41;
inline constexpr int16_t kInvalidRequest = 42;
inline constexpr int16_t kOutOfOrderSequenceNumber = 45;
inline constexpr int16_t kInvalidProducerEpoch = 47;
inline constexpr int16_t kNonEmptyGroup = 68;
inline constexpr int16_t kGroupIdNotFound = 69;
inline constexpr int16_t kUnsupportedCompressionType = 76;
inline constexpr int16_t kMemberIdRequired = 79;
inline constexpr int16_t kThrottlingQuotaExceeded = 89;
}  // namespace error

// ---- Limits (house style rule 7). ----
// One request frame (after its size): a Produce of several partitions' batches fits.
inline constexpr size_t kRequestBytesMax = 8 << 20;
// Topics or partitions in one request's array.
inline constexpr size_t kArrayElementsMax = 1 << 16;

}  // namespace meridian::core::kafka
