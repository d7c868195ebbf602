// DescribeConfigs: what a topic or this broker is configured with, from Meridian's metadata
// (a MetadataRequest through the broker, as for Kafka's Metadata). Nothing is alterable through
// Kafka: every config is reported read-only (`meridian topic create` sets them).
#include <fmt/format.h>

#include <algorithm>

#include "core/kafka/session_internal.h"
#include "core/kafka/translate.h"

namespace meridian::core::kafka {
namespace {

// Kafka's "unlimited" is -1; Meridian's is 0.
std::string LimitText(int64_t meridian) { return std::to_string(meridian == 0 ? -1 : meridian); }

ConfigEntry Config(std::string name, std::string value, int8_t source) {
  return ConfigEntry{.name = std::move(name), .value = std::move(value), .source = source};
}

std::vector<ConfigEntry> TopicConfigs(const wire::TopicInfoT& topic) {
  const auto set = [](int64_t v) { return v == 0 ? kConfigSourceDefault : kConfigSourceTopic; };
  std::vector<ConfigEntry> configs = {
      Config("retention.ms", LimitText(topic.retention_ms), set(topic.retention_ms)),
      Config("retention.bytes", LimitText(topic.retention_bytes), set(topic.retention_bytes)),
      // Whole segments leave the front of the log; Meridian has no compaction by key.
      Config("cleanup.policy", "delete", kConfigSourceDefault),
      Config("meridian.consistency", wire::EnumNameConsistency(topic.consistency),
             kConfigSourceTopic),
      Config("meridian.replication.factor", std::to_string(topic.replication_factor),
             kConfigSourceTopic),
  };
  if (topic.consistency == wire::Consistency::Regional) {
    configs.push_back(Config("meridian.home.region", topic.home_region, kConfigSourceTopic));
    configs.push_back(Config("meridian.observers.per.region",
                             std::to_string(topic.observers_per_region), kConfigSourceTopic));
  }
  return configs;
}

void DescribeTopic(Session& session, DescribeConfigsResult& result) {
  wire::MetadataRequestT ask;
  ask.topics = {result.name};
  const wire::ClientMessageT answer = Call(session, std::move(ask));
  const wire::MetadataResponseT* metadata = answer.body.AsMetadataResponse();
  if (metadata == nullptr) {
    const wire::ErrorResponseT* error = answer.body.AsErrorResponse();
    result.error_code = error != nullptr ? KafkaErrorCode(error->code, RequestKind::kPartition)
                                         : error::kUnknownServerError;
    if (error != nullptr) result.error_message = error->message;
    return;
  }
  for (const auto& topic : metadata->topics) {
    if (topic != nullptr && topic->name == result.name) {
      result.configs = TopicConfigs(*topic);
      return;
    }
  }
  result.error_code = error::kUnknownTopicOrPartition;
  // Not echoing the name: it may be up to INT16_MAX bytes, and the message must stay within it.
  result.error_message = "no such topic";
}

// A broker resource is answered by that broker (as in Kafka): its region is its rack.
void DescribeBroker(Session& session, DescribeConfigsResult& result) {
  const uint32_t self = session.broker.node_id();
  if (result.name != std::to_string(self)) {
    result.error_code = error::kInvalidRequest;
    // Not echoing the name (up to INT16_MAX bytes of the client's): the message must fit too.
    result.error_message = fmt::format("this is broker {}; ask the named broker itself", self);
    return;
  }
  auto node = session.broker.metadata().nodes().find(self);
  const std::string region =
      node == session.broker.metadata().nodes().end() ? "" : node->second.region;
  result.configs = {Config("broker.id", std::to_string(self), kConfigSourceStaticBroker),
                    Config("broker.rack", region, kConfigSourceStaticBroker)};
}

DescribeConfigsResult Describe(Session& session, const DescribeConfigsResource& resource) {
  DescribeConfigsResult result{.type = resource.type, .name = resource.name};
  if (resource.type == kResourceTopic) {
    DescribeTopic(session, result);
  } else if (resource.type == kResourceBroker) {
    DescribeBroker(session, result);
  } else {
    result.error_code = error::kInvalidRequest;
    result.error_message = fmt::format(
        "resource type {} is not described by Meridian (topics: "
        "{}, brokers: {})",
        resource.type, kResourceTopic, kResourceBroker);
  }
  if (resource.config_names.has_value()) {
    std::erase_if(result.configs, [&](const ConfigEntry& config) {
      return std::find(resource.config_names->begin(), resource.config_names->end(), config.name) ==
             resource.config_names->end();
    });
  }
  return result;
}

}  // namespace

Outcome HandleDescribeConfigs(Session& session, const RequestFrame& frame) {
  const int16_t v = frame.header.api_version;
  absl::StatusOr<DescribeConfigsRequest> request = DecodeDescribeConfigsRequest(frame.body, v);
  if (!request.ok()) return Close();
  std::vector<DescribeConfigsResult> results;
  for (const DescribeConfigsResource& resource : request->resources) {
    results.push_back(Describe(session, resource));
  }
  return Respond(EncodeDescribeConfigsResponse(results, v));
}

}  // namespace meridian::core::kafka
