// Kafka requests and responses as plain structs, with a decoder per request and an encoder per
// response, for the versions protocol.h advertises. Field layouts follow Apache Kafka's message
// definitions (clients/src/main/resources/common/message/*.json).
//
// Decoders read untrusted bytes through core/kafka/bytes.h (every length checked, arrays
// bounded); a request that does not decode, or has bytes left over, is InvalidArgument.
// Encoders are total over their structs. Pure: no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/kafka/protocol.h"

namespace meridian::core::kafka {

struct RequestHeader {
  int16_t api_key = 0;
  int16_t api_version = 0;
  int32_t correlation_id = 0;
  std::optional<std::string> client_id;  // Header v1 only (not read for an ApiVersions fallback).
};

// The header of a request frame, and the body's bytes after it. Only the first 8 bytes are
// read when the version is not one of ours (flexible headers carry tagged fields we skip).
struct RequestFrame {
  RequestHeader header;
  std::span<const uint8_t> body;
};
absl::StatusOr<RequestFrame> DecodeRequestFrame(std::span<const uint8_t> payload);

// ---- Requests ----
struct ProducePartitionData {
  int32_t partition = 0;
  std::span<const uint8_t> records;  // A view into the request frame.
};
struct ProduceTopicData {
  std::string name;
  std::vector<ProducePartitionData> partitions;
};
struct ProduceRequest {
  std::optional<std::string> transactional_id;
  int16_t acks = -1;
  int32_t timeout_ms = 0;
  std::vector<ProduceTopicData> topics;
};

struct FetchPartition {
  int32_t partition = 0;
  int64_t fetch_offset = 0;
  int32_t partition_max_bytes = 0;
};
struct FetchTopic {
  std::string name;
  std::vector<FetchPartition> partitions;
};
struct FetchRequest {
  int32_t max_wait_ms = 0;
  int32_t min_bytes = 0;
  int32_t max_bytes = INT32_MAX;
  int8_t isolation_level = 0;
  std::vector<FetchTopic> topics;
  std::string rack_id;  // v11: the client's rack (client.rack): a Meridian region (KIP-392).
};

struct ListOffsetsPartition {
  int32_t partition = 0;
  int64_t timestamp = 0;  // -1 latest, -2 earliest, else a time in ms.
};
struct ListOffsetsTopic {
  std::string name;
  std::vector<ListOffsetsPartition> partitions;
};
struct ListOffsetsRequest {
  std::vector<ListOffsetsTopic> topics;
};

struct MetadataRequest {
  std::optional<std::vector<std::string>> topics;  // nullopt: every topic.
};

struct CreatableTopic {
  std::string name;
  int32_t num_partitions = -1;
  int16_t replication_factor = -1;
  bool has_assignments = false;
  std::vector<std::pair<std::string, std::optional<std::string>>> configs;
};
struct CreateTopicsRequest {
  std::vector<CreatableTopic> topics;
  int32_t timeout_ms = 0;
  bool validate_only = false;
};

struct DeleteTopicsRequest {
  std::vector<std::string> names;
  int32_t timeout_ms = 0;
};

struct InitProducerIdRequest {
  std::optional<std::string> transactional_id;
  int32_t transaction_timeout_ms = 0;
};

// DescribeConfigs resource types (the protocol's ConfigResource.Type).
inline constexpr int8_t kResourceTopic = 2;
inline constexpr int8_t kResourceBroker = 4;

struct DescribeConfigsResource {
  int8_t type = 0;
  std::string name;
  std::optional<std::vector<std::string>> config_names;  // nullopt: every config.
};
struct DescribeConfigsRequest {
  std::vector<DescribeConfigsResource> resources;
};

// CreatePartitions v0-1: grow topics to `count` partitions. Manual assignments (a non-null
// array, even an empty one) are only noted: Meridian places partitions itself.
struct CreatePartitionsTopic {
  std::string name;
  int32_t count = 0;
  bool has_assignments = false;
};
struct CreatePartitionsRequest {
  std::vector<CreatePartitionsTopic> topics;
  int32_t timeout_ms = 0;
  bool validate_only = false;
};

// AlterConfigs v0-1 and IncrementalAlterConfigs v0: new values for some configs of resources.
// AlterConfigs replaces the resource's whole set (a config it does not name goes back to its
// default); IncrementalAlterConfigs changes only what it names, by operation.
inline constexpr int8_t kConfigOpSet = 0;
inline constexpr int8_t kConfigOpDelete = 1;  // Back to the default.
inline constexpr int8_t kConfigOpAppend = 2;  // List configs only.
inline constexpr int8_t kConfigOpSubtract = 3;
struct AlterableConfig {
  std::string name;
  int8_t operation = kConfigOpSet;  // AlterConfigs: always SET (a null value: the default).
  std::optional<std::string> value;
};
struct AlterConfigsResource {
  int8_t type = 0;
  std::string name;
  std::vector<AlterableConfig> configs;
};
struct AlterConfigsRequest {
  std::vector<AlterConfigsResource> resources;
  bool validate_only = false;
  bool incremental = false;  // IncrementalAlterConfigs.
};

absl::StatusOr<ProduceRequest> DecodeProduceRequest(std::span<const uint8_t> body, int16_t v);
absl::StatusOr<FetchRequest> DecodeFetchRequest(std::span<const uint8_t> body, int16_t v);
absl::StatusOr<ListOffsetsRequest> DecodeListOffsetsRequest(std::span<const uint8_t> body,
                                                            int16_t v);
absl::StatusOr<MetadataRequest> DecodeMetadataRequest(std::span<const uint8_t> body, int16_t v);
absl::StatusOr<CreateTopicsRequest> DecodeCreateTopicsRequest(std::span<const uint8_t> body,
                                                              int16_t v);
absl::StatusOr<DeleteTopicsRequest> DecodeDeleteTopicsRequest(std::span<const uint8_t> body,
                                                              int16_t v);
absl::StatusOr<InitProducerIdRequest> DecodeInitProducerIdRequest(std::span<const uint8_t> body,
                                                                  int16_t v);
absl::StatusOr<DescribeConfigsRequest> DecodeDescribeConfigsRequest(std::span<const uint8_t> body,
                                                                    int16_t v);
absl::StatusOr<CreatePartitionsRequest> DecodeCreatePartitionsRequest(std::span<const uint8_t> body,
                                                                      int16_t v);
absl::StatusOr<AlterConfigsRequest> DecodeAlterConfigsRequest(std::span<const uint8_t> body,
                                                              int16_t v);
absl::StatusOr<AlterConfigsRequest> DecodeIncrementalAlterConfigsRequest(
    std::span<const uint8_t> body, int16_t v);

// ---- Responses (bodies; the session adds the size and the correlation id) ----
struct ProducePartitionResponse {
  int32_t partition = 0;
  int16_t error_code = 0;
  int64_t base_offset = -1;
  int64_t log_start_offset = -1;
  std::optional<std::string> error_message;
};
struct ProduceResponse {
  std::vector<std::pair<std::string, std::vector<ProducePartitionResponse>>> topics;
  int32_t throttle_time_ms = 0;  // How long the node held it for a quota or a bound.
};

struct FetchPartitionResponse {
  int32_t partition = 0;
  int16_t error_code = 0;
  int64_t high_watermark = -1;
  int64_t log_start_offset = -1;
  // v11 (KIP-392): the node the client should fetch this partition from (-1: this one).
  int32_t preferred_read_replica = -1;
  std::vector<uint8_t> records;  // Concatenated record batches v2.
};
struct FetchResponse {
  std::vector<std::pair<std::string, std::vector<FetchPartitionResponse>>> topics;
  int32_t throttle_time_ms = 0;  // How long the node held it for a quota or a bound.
};

struct ListOffsetsPartitionResponse {
  int32_t partition = 0;
  int16_t error_code = 0;
  int64_t offset = -1;
};
struct ListOffsetsResponse {
  std::vector<std::pair<std::string, std::vector<ListOffsetsPartitionResponse>>> topics;
};

struct MetadataBroker {
  int32_t node_id = 0;
  std::string host;
  int32_t port = 0;
  std::optional<std::string> rack;
};
struct MetadataPartition {
  int16_t error_code = 0;
  int32_t partition = 0;
  int32_t leader = -1;
  std::vector<int32_t> replicas;
  std::vector<int32_t> isr;
};
struct MetadataTopic {
  int16_t error_code = 0;
  std::string name;
  std::vector<MetadataPartition> partitions;
};
struct MetadataResponse {
  std::vector<MetadataBroker> brokers;
  std::optional<std::string> cluster_id;
  int32_t controller_id = -1;
  std::vector<MetadataTopic> topics;
};

struct TopicResult {
  std::string name;
  int16_t error_code = 0;
  std::optional<std::string> error_message;
};

struct InitProducerIdResponse {
  int16_t error_code = 0;
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
};

// DescribeConfigs config sources (v1+; v0 carries only is_default).
inline constexpr int8_t kConfigSourceTopic = 1;         // DYNAMIC_TOPIC_CONFIG: set on the topic.
inline constexpr int8_t kConfigSourceStaticBroker = 4;  // STATIC_BROKER_CONFIG: a node flag.
inline constexpr int8_t kConfigSourceDefault = 5;       // DEFAULT_CONFIG.

struct ConfigEntry {
  std::string name;
  std::optional<std::string> value;
  bool read_only = true;  // Only the retention configs are alterable (AlterConfigs).
  int8_t source = kConfigSourceDefault;
};
struct DescribeConfigsResult {
  int16_t error_code = 0;
  std::optional<std::string> error_message;
  int8_t type = 0;
  std::string name;
  std::vector<ConfigEntry> configs;
};

std::vector<uint8_t> EncodeApiVersionsResponse(int16_t error_code, int16_t v);
std::vector<uint8_t> EncodeProduceResponse(const ProduceResponse& response, int16_t v);
std::vector<uint8_t> EncodeFetchResponse(const FetchResponse& response, int16_t v);
std::vector<uint8_t> EncodeListOffsetsResponse(const ListOffsetsResponse& response, int16_t v);
std::vector<uint8_t> EncodeMetadataResponse(const MetadataResponse& response, int16_t v);
std::vector<uint8_t> EncodeCreateTopicsResponse(const std::vector<TopicResult>& topics, int16_t v);
std::vector<uint8_t> EncodeDeleteTopicsResponse(const std::vector<TopicResult>& topics, int16_t v);
std::vector<uint8_t> EncodeInitProducerIdResponse(const InitProducerIdResponse& response,
                                                  int16_t v);
std::vector<uint8_t> EncodeDescribeConfigsResponse(
    const std::vector<DescribeConfigsResult>& results, int16_t v);
// AlterConfigs v0-1 and IncrementalAlterConfigs v0 answer in the same layout: per resource.
struct AlterConfigsResult {
  int16_t error_code = 0;
  std::optional<std::string> error_message;
  int8_t type = 0;
  std::string name;
};
std::vector<uint8_t> EncodeAlterConfigsResponse(const std::vector<AlterConfigsResult>& results,
                                                int16_t v);

std::vector<uint8_t> EncodeCreatePartitionsResponse(const std::vector<TopicResult>& topics,
                                                    int16_t v);

}  // namespace meridian::core::kafka
