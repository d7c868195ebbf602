// Kafka request decoders and response encoders (messages.h).
#include "core/kafka/messages.h"

#include <fmt/format.h>

#include "core/kafka/bytes.h"
#include "io/assert.h"

namespace meridian::core::kafka {
namespace {

std::vector<int32_t> ReadInt32s(Reader& reader) {
  std::vector<int32_t> values(reader.ArrayCount(kArrayElementsMax));
  for (int32_t& value : values) value = reader.Int32();
  return values;
}

void WriteInt32s(Writer& writer, const std::vector<int32_t>& values) {
  writer.ArrayCount(values.size());
  for (int32_t value : values) writer.Int32(value);
}

}  // namespace

std::optional<ApiVersionRange> SupportedRange(int16_t key) {
  for (const ApiVersionRange& range : kSupportedApis) {
    if (static_cast<int16_t>(range.key) == key) return range;
  }
  return std::nullopt;
}

absl::StatusOr<RequestFrame> DecodeRequestFrame(std::span<const uint8_t> payload) {
  Reader reader(payload);
  RequestFrame frame;
  frame.header.api_key = reader.Int16();
  frame.header.api_version = reader.Int16();
  frame.header.correlation_id = reader.Int32();
  if (!reader.ok()) return absl::InvalidArgumentError("a request shorter than its header");
  const std::optional<ApiVersionRange> range = SupportedRange(frame.header.api_key);
  if (range.has_value() && frame.header.api_version >= range->min &&
      frame.header.api_version <= range->max) {
    frame.header.client_id = reader.NullableString();
    if (!reader.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("request header: {}", std::string(reader.status().message())));
    }
  }
  frame.body = payload.subspan(reader.position());
  return frame;
}

absl::StatusOr<ProduceRequest> DecodeProduceRequest(std::span<const uint8_t> body, int16_t v) {
  Reader reader(body);
  ProduceRequest request;
  if (v >= 3) request.transactional_id = reader.NullableString();
  request.acks = reader.Int16();
  request.timeout_ms = reader.Int32();
  request.topics.resize(reader.ArrayCount(kArrayElementsMax));
  for (ProduceTopicData& topic : request.topics) {
    topic.name = reader.String();
    topic.partitions.resize(reader.ArrayCount(kArrayElementsMax));
    for (ProducePartitionData& partition : topic.partitions) {
      partition.partition = reader.Int32();
      partition.records = reader.Bytes();
    }
  }
  return Finish(reader, std::move(request), "Produce");
}

absl::StatusOr<FetchRequest> DecodeFetchRequest(std::span<const uint8_t> body, int16_t v) {
  Reader reader(body);
  FetchRequest request;
  (void)reader.Int32();  // replica_id: -1 for consumers.
  request.max_wait_ms = reader.Int32();
  request.min_bytes = reader.Int32();
  if (v >= 3) request.max_bytes = reader.Int32();
  if (v >= 4) request.isolation_level = reader.Int8();
  if (v >= 7) {
    (void)reader.Int32();  // session_id: sessions are not kept (always answered with 0).
    (void)reader.Int32();  // session_epoch.
  }
  request.topics.resize(reader.ArrayCount(kArrayElementsMax));
  for (FetchTopic& topic : request.topics) {
    topic.name = reader.String();
    topic.partitions.resize(reader.ArrayCount(kArrayElementsMax));
    for (FetchPartition& partition : topic.partitions) {
      partition.partition = reader.Int32();
      if (v >= 9) (void)reader.Int32();  // current_leader_epoch.
      partition.fetch_offset = reader.Int64();
      if (v >= 5) (void)reader.Int64();  // log_start_offset: followers only.
      partition.partition_max_bytes = reader.Int32();
    }
  }
  if (v >= 7) {
    const size_t forgotten = reader.ArrayCount(kArrayElementsMax);
    for (size_t i = 0; i < forgotten && reader.ok(); i++) {
      (void)reader.String();
      (void)ReadInt32s(reader);
    }
  }
  if (v >= 11) request.rack_id = reader.String();
  return Finish(reader, std::move(request), "Fetch");
}

absl::StatusOr<ListOffsetsRequest> DecodeListOffsetsRequest(std::span<const uint8_t> body,
                                                            int16_t v) {
  Reader reader(body);
  ListOffsetsRequest request;
  (void)reader.Int32();             // replica_id.
  if (v >= 2) (void)reader.Int8();  // isolation_level.
  request.topics.resize(reader.ArrayCount(kArrayElementsMax));
  for (ListOffsetsTopic& topic : request.topics) {
    topic.name = reader.String();
    topic.partitions.resize(reader.ArrayCount(kArrayElementsMax));
    for (ListOffsetsPartition& partition : topic.partitions) {
      partition.partition = reader.Int32();
      if (v >= 4) (void)reader.Int32();  // current_leader_epoch.
      partition.timestamp = reader.Int64();
    }
  }
  return Finish(reader, std::move(request), "ListOffsets");
}

absl::StatusOr<MetadataRequest> DecodeMetadataRequest(std::span<const uint8_t> body, int16_t v) {
  Reader reader(body);
  MetadataRequest request;
  const int32_t count = Reader(body).Int32();
  const size_t topics = reader.ArrayCount(kArrayElementsMax);
  // v0 has no null array: its empty array asks for every topic (v1+: for none).
  if (count != -1 && !(v == 0 && topics == 0)) {
    request.topics.emplace();
    for (size_t i = 0; i < topics && reader.ok(); i++) request.topics->push_back(reader.String());
  }
  if (v >= 4) (void)reader.Bool();  // allow_auto_topic_creation: topics are never auto-created.
  if (v >= 8) {
    (void)reader.Bool();  // include_cluster_authorized_operations.
    (void)reader.Bool();  // include_topic_authorized_operations.
  }
  return Finish(reader, std::move(request), "Metadata");
}

absl::StatusOr<CreateTopicsRequest> DecodeCreateTopicsRequest(std::span<const uint8_t> body,
                                                              int16_t v) {
  Reader reader(body);
  CreateTopicsRequest request;
  request.topics.resize(reader.ArrayCount(kArrayElementsMax));
  for (CreatableTopic& topic : request.topics) {
    topic.name = reader.String();
    topic.num_partitions = reader.Int32();
    topic.replication_factor = reader.Int16();
    const size_t assignments = reader.ArrayCount(kArrayElementsMax);
    topic.has_assignments = assignments > 0;
    for (size_t i = 0; i < assignments && reader.ok(); i++) {
      (void)reader.Int32();
      (void)ReadInt32s(reader);
    }
    topic.configs.resize(reader.ArrayCount(kArrayElementsMax));
    for (auto& [name, value] : topic.configs) {
      name = reader.String();
      value = reader.NullableString();
    }
  }
  request.timeout_ms = reader.Int32();
  if (v >= 1) request.validate_only = reader.Bool();
  return Finish(reader, std::move(request), "CreateTopics");
}

absl::StatusOr<DeleteTopicsRequest> DecodeDeleteTopicsRequest(std::span<const uint8_t> body,
                                                              int16_t v) {
  Reader reader(body);
  DeleteTopicsRequest request;
  request.names.resize(reader.ArrayCount(kArrayElementsMax));
  for (std::string& name : request.names) name = reader.String();
  request.timeout_ms = reader.Int32();
  return Finish(reader, std::move(request), "DeleteTopics");
}

absl::StatusOr<InitProducerIdRequest> DecodeInitProducerIdRequest(std::span<const uint8_t> body,
                                                                  int16_t v) {
  Reader reader(body);
  InitProducerIdRequest request;
  request.transactional_id = reader.NullableString();
  request.transaction_timeout_ms = reader.Int32();
  return Finish(reader, std::move(request), "InitProducerId");
}

absl::StatusOr<DescribeConfigsRequest> DecodeDescribeConfigsRequest(std::span<const uint8_t> body,
                                                                    int16_t v) {
  Reader reader(body);
  DescribeConfigsRequest request;
  request.resources.resize(reader.ArrayCount(kArrayElementsMax));
  for (DescribeConfigsResource& resource : request.resources) {
    resource.type = reader.Int8();
    resource.name = reader.String();
    const bool every = reader.NextArrayIsNull();  // A null array asks for every config.
    const size_t names = reader.ArrayCount(kArrayElementsMax);
    if (every) continue;
    resource.config_names.emplace();
    for (size_t i = 0; i < names && reader.ok(); i++)
      resource.config_names->push_back(reader.String());
  }
  if (v >= 1) (void)reader.Bool();  // include_synonyms: none are reported.
  return Finish(reader, std::move(request), "DescribeConfigs");
}

absl::StatusOr<CreatePartitionsRequest> DecodeCreatePartitionsRequest(std::span<const uint8_t> body,
                                                                      int16_t v) {
  Reader reader(body);
  CreatePartitionsRequest request;
  request.topics.resize(reader.ArrayCount(kArrayElementsMax));
  for (CreatePartitionsTopic& topic : request.topics) {
    topic.name = reader.String();
    topic.count = reader.Int32();
    // A nullable array: null lets the broker place the new partitions.
    topic.has_assignments = !reader.NextArrayIsNull();
    const size_t assignments = reader.ArrayCount(kArrayElementsMax);
    for (size_t i = 0; i < assignments && reader.ok(); i++) (void)ReadInt32s(reader);
    if (!reader.ok()) break;
  }
  request.timeout_ms = reader.Int32();
  request.validate_only = reader.Bool();
  return Finish(reader, std::move(request), "CreatePartitions");
}

namespace {

// The resources of an AlterConfigs (v0-1) or IncrementalAlterConfigs (v0) request: the layouts
// differ only in the operation byte of each config.
AlterConfigsRequest ReadAlterConfigs(Reader& reader, bool incremental) {
  AlterConfigsRequest request;
  request.incremental = incremental;
  request.resources.resize(reader.ArrayCount(kArrayElementsMax));
  for (AlterConfigsResource& resource : request.resources) {
    resource.type = reader.Int8();
    resource.name = reader.String();
    resource.configs.resize(reader.ArrayCount(kArrayElementsMax));
    for (AlterableConfig& config : resource.configs) {
      config.name = reader.String();
      if (incremental) config.operation = reader.Int8();
      config.value = reader.NullableString();
      if (!reader.ok()) break;
    }
    if (!reader.ok()) break;
  }
  request.validate_only = reader.Bool();
  return request;
}

}  // namespace

absl::StatusOr<AlterConfigsRequest> DecodeAlterConfigsRequest(std::span<const uint8_t> body,
                                                              int16_t v) {
  (void)v;  // v0 and v1 have the same layout.
  Reader reader(body);
  AlterConfigsRequest request = ReadAlterConfigs(reader, /*incremental=*/false);
  return Finish(reader, std::move(request), "AlterConfigs");
}

absl::StatusOr<AlterConfigsRequest> DecodeIncrementalAlterConfigsRequest(
    std::span<const uint8_t> body, int16_t v) {
  (void)v;  // v0 only (v1 is flexible).
  Reader reader(body);
  AlterConfigsRequest request = ReadAlterConfigs(reader, /*incremental=*/true);
  return Finish(reader, std::move(request), "IncrementalAlterConfigs");
}

std::vector<uint8_t> EncodeApiVersionsResponse(int16_t error_code, int16_t v) {
  Writer writer;
  writer.Int16(error_code);
  writer.ArrayCount(std::size(kSupportedApis));
  for (const ApiVersionRange& range : kSupportedApis) {
    writer.Int16(static_cast<int16_t>(range.key));
    writer.Int16(range.min);
    writer.Int16(range.max);
  }
  if (v >= 1) writer.Int32(0);  // throttle_time_ms.
  return writer.Take();
}

std::vector<uint8_t> EncodeProduceResponse(const ProduceResponse& response, int16_t v) {
  Writer writer;
  writer.ArrayCount(response.topics.size());
  for (const auto& [name, partitions] : response.topics) {
    writer.String(name);
    writer.ArrayCount(partitions.size());
    for (const ProducePartitionResponse& partition : partitions) {
      writer.Int32(partition.partition);
      writer.Int16(partition.error_code);
      writer.Int64(partition.base_offset);
      writer.Int64(-1);  // log_append_time_ms: CreateTime only.
      if (v >= 5) writer.Int64(partition.log_start_offset);
      if (v >= 8) {
        writer.ArrayCount(0);  // record_errors.
        writer.NullableString(partition.error_message);
      }
    }
  }
  writer.Int32(response.throttle_time_ms);
  return writer.Take();
}

std::vector<uint8_t> EncodeFetchResponse(const FetchResponse& response, int16_t v) {
  Writer writer;
  writer.Int32(response.throttle_time_ms);
  if (v >= 7) {
    writer.Int16(error::kNone);
    writer.Int32(0);  // session_id: no fetch sessions.
  }
  writer.ArrayCount(response.topics.size());
  for (const auto& [name, partitions] : response.topics) {
    writer.String(name);
    writer.ArrayCount(partitions.size());
    for (const FetchPartitionResponse& partition : partitions) {
      writer.Int32(partition.partition);
      writer.Int16(partition.error_code);
      writer.Int64(partition.high_watermark);
      writer.Int64(partition.high_watermark);  // last_stable_offset: no transactions.
      if (v >= 5) writer.Int64(partition.log_start_offset);
      writer.ArrayCount(0);  // aborted_transactions.
      if (v >= 11) writer.Int32(partition.preferred_read_replica);
      writer.Bytes(partition.records);
    }
  }
  return writer.Take();
}

std::vector<uint8_t> EncodeListOffsetsResponse(const ListOffsetsResponse& response, int16_t v) {
  Writer writer;
  if (v >= 2) writer.Int32(0);  // throttle_time_ms.
  writer.ArrayCount(response.topics.size());
  for (const auto& [name, partitions] : response.topics) {
    writer.String(name);
    writer.ArrayCount(partitions.size());
    for (const ListOffsetsPartitionResponse& partition : partitions) {
      writer.Int32(partition.partition);
      writer.Int16(partition.error_code);
      writer.Int64(-1);  // timestamp: not tracked per offset.
      writer.Int64(partition.offset);
      if (v >= 4) writer.Int32(-1);  // leader_epoch.
    }
  }
  return writer.Take();
}

std::vector<uint8_t> EncodeMetadataResponse(const MetadataResponse& response, int16_t v) {
  Writer writer;
  if (v >= 3) writer.Int32(0);  // throttle_time_ms.
  writer.ArrayCount(response.brokers.size());
  for (const MetadataBroker& broker : response.brokers) {
    writer.Int32(broker.node_id);
    writer.String(broker.host);
    writer.Int32(broker.port);
    if (v >= 1) writer.NullableString(broker.rack);
  }
  if (v >= 2) writer.NullableString(response.cluster_id);
  if (v >= 1) writer.Int32(response.controller_id);
  writer.ArrayCount(response.topics.size());
  for (const MetadataTopic& topic : response.topics) {
    writer.Int16(topic.error_code);
    writer.String(topic.name);
    if (v >= 1) writer.Bool(false);  // is_internal.
    writer.ArrayCount(topic.partitions.size());
    for (const MetadataPartition& partition : topic.partitions) {
      writer.Int16(partition.error_code);
      writer.Int32(partition.partition);
      writer.Int32(partition.leader);
      if (v >= 7) writer.Int32(-1);  // leader_epoch: not exposed (no epoch validation).
      WriteInt32s(writer, partition.replicas);
      WriteInt32s(writer, partition.isr);
      if (v >= 5) writer.ArrayCount(0);  // offline_replicas.
    }
    if (v >= 8) writer.Int32(INT32_MIN);  // topic_authorized_operations: not computed.
  }
  if (v >= 8) writer.Int32(INT32_MIN);  // cluster_authorized_operations.
  return writer.Take();
}

std::vector<uint8_t> EncodeCreateTopicsResponse(const std::vector<TopicResult>& topics, int16_t v) {
  Writer writer;
  if (v >= 2) writer.Int32(0);  // throttle_time_ms.
  writer.ArrayCount(topics.size());
  for (const TopicResult& topic : topics) {
    writer.String(topic.name);
    writer.Int16(topic.error_code);
    if (v >= 1) writer.NullableString(topic.error_message);
  }
  return writer.Take();
}

std::vector<uint8_t> EncodeDeleteTopicsResponse(const std::vector<TopicResult>& topics, int16_t v) {
  Writer writer;
  if (v >= 1) writer.Int32(0);  // throttle_time_ms.
  writer.ArrayCount(topics.size());
  for (const TopicResult& topic : topics) {
    writer.String(topic.name);
    writer.Int16(topic.error_code);
  }
  return writer.Take();
}

std::vector<uint8_t> EncodeInitProducerIdResponse(const InitProducerIdResponse& response,
                                                  int16_t v) {
  Writer writer;
  writer.Int32(0);  // throttle_time_ms.
  writer.Int16(response.error_code);
  writer.Int64(response.producer_id);
  writer.Int16(response.producer_epoch);
  return writer.Take();
}

std::vector<uint8_t> EncodeDescribeConfigsResponse(
    const std::vector<DescribeConfigsResult>& results, int16_t v) {
  Writer writer;
  writer.Int32(0);  // throttle_time_ms.
  writer.ArrayCount(results.size());
  for (const DescribeConfigsResult& result : results) {
    writer.Int16(result.error_code);
    writer.NullableString(result.error_message);
    writer.Int8(result.type);
    writer.String(result.name);
    writer.ArrayCount(result.configs.size());
    for (const ConfigEntry& config : result.configs) {
      writer.String(config.name);
      writer.NullableString(config.value);
      writer.Bool(config.read_only);
      if (v == 0) {
        writer.Bool(config.source == kConfigSourceDefault);  // is_default.
      } else {
        writer.Int8(config.source);
      }
      writer.Bool(false);                // is_sensitive.
      if (v >= 1) writer.ArrayCount(0);  // synonyms.
    }
  }
  return writer.Take();
}

std::vector<uint8_t> EncodeAlterConfigsResponse(const std::vector<AlterConfigsResult>& results,
                                                int16_t v) {
  (void)v;  // The same layout in AlterConfigs v0-1 and IncrementalAlterConfigs v0.
  Writer writer;
  writer.Int32(0);  // throttle_time_ms.
  writer.ArrayCount(results.size());
  for (const AlterConfigsResult& result : results) {
    writer.Int16(result.error_code);
    writer.NullableString(result.error_message);
    writer.Int8(result.type);
    writer.String(result.name);
  }
  return writer.Take();
}

std::vector<uint8_t> EncodeCreatePartitionsResponse(const std::vector<TopicResult>& topics,
                                                    int16_t v) {
  Writer writer;
  writer.Int32(0);  // throttle_time_ms.
  writer.ArrayCount(topics.size());
  for (const TopicResult& topic : topics) {
    writer.String(topic.name);
    writer.Int16(topic.error_code);
    writer.NullableString(topic.error_message);
  }
  return writer.Take();
}

}  // namespace meridian::core::kafka
