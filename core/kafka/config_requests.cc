// DescribeConfigs: what a topic or this broker is configured with, from Meridian's metadata
// (a MetadataRequest through the broker, as for Kafka's Metadata). AlterConfigs and
// IncrementalAlterConfigs: a topic's retention.ms and retention.bytes, changed by the
// controller leader's AlterTopicConfigRequest (the path `meridian topic alter` takes: ACLs, the
// internal-topic rule, one metadata command). Every other config is read-only here (the topic's
// mode changes with `meridian topic alter --consistency`) or unknown; a broker's configs are its
// node's flags.
#include <fmt/format.h>

#include <algorithm>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "core/cluster/metadata.h"
#include "core/kafka/session_internal.h"
#include "core/kafka/translate.h"
#include "io/assert.h"
#include "io/probe.h"

namespace meridian::core::kafka {
namespace {

// Kafka's "unlimited" is -1; Meridian's is 0.
std::string LimitText(int64_t meridian) { return std::to_string(meridian == 0 ? -1 : meridian); }

ConfigEntry Config(std::string name, std::string value, int8_t source) {
  return ConfigEntry{.name = std::move(name), .value = std::move(value), .source = source};
}

// A topic's configs that AlterConfigs changes; those DescribeConfigs reports besides them are
// read-only (kReadOnlyTopicConfigs).
constexpr std::string_view kRetentionMs = "retention.ms";
constexpr std::string_view kRetentionBytes = "retention.bytes";
constexpr std::string_view kReadOnlyTopicConfigs[] = {
    "cleanup.policy",       "meridian.consistency",          "meridian.replication.factor",
    "meridian.home.region", "meridian.observers.per.region", "meridian.voters.in",
    "meridian.observers.in"};

// "us-east=2,eu-west=1": placement constraints as `meridian topic create --voters-in` takes them.
std::string RegionCountsText(const std::vector<std::unique_ptr<wire::RegionCountT>>& counts) {
  std::string text;
  for (const auto& entry : counts) {
    text += fmt::format("{}{}={}", text.empty() ? "" : ",", entry->region, entry->count);
  }
  return text;
}

std::vector<ConfigEntry> TopicConfigs(const wire::TopicInfoT& topic) {
  const auto set = [](int64_t v) { return v == 0 ? kConfigSourceDefault : kConfigSourceTopic; };
  std::vector<ConfigEntry> configs = {
      Config(std::string(kRetentionMs), LimitText(topic.retention_ms), set(topic.retention_ms)),
      Config(std::string(kRetentionBytes), LimitText(topic.retention_bytes),
             set(topic.retention_bytes)),
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
  if (!topic.voters_in.empty()) {
    configs.push_back(
        Config("meridian.voters.in", RegionCountsText(topic.voters_in), kConfigSourceTopic));
  }
  if (!topic.observers_in.empty()) {
    configs.push_back(
        Config("meridian.observers.in", RegionCountsText(topic.observers_in), kConfigSourceTopic));
  }
  configs[0].read_only = false;  // retention.ms and retention.bytes: AlterConfigs changes them.
  configs[1].read_only = false;
  for (const ConfigEntry& config : configs) {
    const bool listed =
        std::find(std::begin(kReadOnlyTopicConfigs), std::end(kReadOnlyTopicConfigs),
                  config.name) != std::end(kReadOnlyTopicConfigs);
    MERIDIAN_CHECK(config.read_only == listed, "config {}: read-only as AlterConfigs treats it",
                   config.name);
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

namespace {

AlterConfigsResult Refused(const AlterConfigsResource& resource, int16_t code,
                           std::optional<std::string> why) {
  return {.error_code = code,
          .error_message = std::move(why),
          .type = resource.type,
          .name = resource.name};
}

// One config of a topic into `alter` (-1: unchanged; 0: unlimited, Meridian's default), or the
// Kafka error and message refusing it. Messages quote no name or value of the client's.
std::optional<std::pair<int16_t, std::string>> ApplyTopicConfig(
    const AlterableConfig& config, wire::AlterTopicConfigRequestT& alter) {
  const bool ms = config.name == kRetentionMs;
  if (!ms && config.name != kRetentionBytes) {
    const bool read_only =
        std::find(std::begin(kReadOnlyTopicConfigs), std::end(kReadOnlyTopicConfigs),
                  config.name) != std::end(kReadOnlyTopicConfigs);
    if (read_only) {
      return std::pair{error::kInvalidRequest,
                       fmt::format("{} is read-only: Meridian decides it when the topic is "
                                   "created",
                                   config.name)};
    }
    return std::pair{error::kInvalidConfig,
                     std::string("an unknown or unsupported topic config (alterable: "
                                 "retention.ms, retention.bytes)")};
  }
  int64_t& setting = ms ? alter.retention_ms : alter.retention_bytes;
  switch (config.operation) {
    case kConfigOpDelete:
      setting = 0;  // Back to the default: unlimited.
      return std::nullopt;
    case kConfigOpSet: {
      if (!config.value.has_value()) {
        return std::pair{error::kInvalidRequest, fmt::format("a null value for {}", config.name)};
      }
      const std::optional<int64_t> meridian = MeridianRetention(*config.value);
      if (!meridian.has_value()) {
        return std::pair{
            error::kInvalidConfig,
            fmt::format("{} must be -1 (unlimited) or a positive number", config.name)};
      }
      setting = *meridian;
      return std::nullopt;
    }
    case kConfigOpAppend:
    case kConfigOpSubtract:
      return std::pair{error::kInvalidConfig,
                       fmt::format("{} is not a list: it cannot be appended to", config.name)};
    default:
      return std::pair{error::kInvalidRequest, "an unknown config operation"};
  }
}

// The Kafka answer to an AlterTopicConfigRequest the controller refused, in messages of our own
// (the broker's quote the topic name, up to INT16_MAX bytes here).
AlterConfigsResult TopicRefused(const AlterConfigsResource& resource, wire::ErrorCode code) {
  switch (code) {
    case wire::ErrorCode::UnknownTopicOrPartition:
      return Refused(resource, error::kUnknownTopicOrPartition, "no such topic");
    case wire::ErrorCode::InvalidConfig:
      if (resource.name.starts_with("__")) {
        return Refused(resource, error::kInvalidRequest,
                       "an internal topic (a name starting with __) keeps its settings");
      }
      return Refused(resource, error::kInvalidConfig, "the controller refused the values");
    default:
      return Refused(resource, KafkaErrorCode(code, RequestKind::kController), std::nullopt);
  }
}

// A topic's configs through the controller leader. AlterConfigs sets the topic's whole set:
// what it does not name goes back to its default; IncrementalAlterConfigs changes only what it
// names. A config named twice refuses the resource, as Kafka does.
AlterConfigsResult AlterTopic(Session& session, const AlterConfigsResource& resource,
                              const AlterConfigsRequest& request) {
  wire::AlterTopicConfigRequestT alter;
  alter.topic = resource.name;
  alter.validate_only = request.validate_only;
  if (!request.incremental) {
    alter.retention_ms = 0;
    alter.retention_bytes = 0;
  }
  absl::btree_set<std::string_view> named;
  for (const AlterableConfig& config : resource.configs) {
    if (!named.insert(config.name).second) {
      return Refused(resource, error::kInvalidRequest, "a config is named twice");
    }
    if (auto refused = ApplyTopicConfig(config, alter)) {
      return Refused(resource, refused->first, std::move(refused->second));
    }
  }
  if (!cluster::ValidateTopicName(resource.name).ok()) {
    return Refused(resource, error::kUnknownTopicOrPartition, "no such topic (not a valid name)");
  }
  const wire::ClientMessageT answer =
      CallControllerLeader(session, wire::Message(++session.meridian_request_id, std::move(alter)));
  if (answer.body.AsAlterTopicConfigResponse() != nullptr) {
    return {.type = resource.type, .name = resource.name};
  }
  const wire::ErrorResponseT* error = answer.body.AsErrorResponse();
  if (error == nullptr) return Refused(resource, error::kUnknownServerError, std::nullopt);
  return TopicRefused(resource, error->code);
}

AlterConfigsResult AlterOne(Session& session, const AlterConfigsResource& resource,
                            const AlterConfigsRequest& request) {
  if (resource.type == kResourceTopic) return AlterTopic(session, resource, request);
  if (resource.type == kResourceBroker) {
    return Refused(resource, error::kInvalidRequest,
                   "a broker's configs are its node's flags: not alterable while it runs");
  }
  return Refused(resource, error::kInvalidRequest,
                 fmt::format("resource type {} has no configs Meridian alters (topics: {})",
                             resource.type, kResourceTopic));
}

}  // namespace

// AlterConfigs (v0-1) and IncrementalAlterConfigs (v0): per resource, at most
// KafkaSessionLimits::altered_resources_max of them (each a proposal to the controller; the
// rest are refused unread); a resource named twice is refused both times, as Kafka does.
Outcome HandleAlterConfigs(Session& session, const RequestFrame& frame) {
  const int16_t v = frame.header.api_version;
  const bool incremental =
      frame.header.api_key == static_cast<int16_t>(ApiKey::kIncrementalAlterConfigs);
  absl::StatusOr<AlterConfigsRequest> request =
      incremental ? DecodeIncrementalAlterConfigsRequest(frame.body, v)
                  : DecodeAlterConfigsRequest(frame.body, v);
  if (!request.ok()) return Close();
  absl::btree_map<std::pair<int8_t, std::string_view>, int> named;
  for (const AlterConfigsResource& resource : request->resources) {
    named[{resource.type, resource.name}]++;
  }
  std::vector<AlterConfigsResult> results;
  for (const AlterConfigsResource& resource : request->resources) {
    if (results.size() >= session.limits.altered_resources_max) {
      MERIDIAN_PROBE("kafka: AlterConfigs answered past its bound");
      results.push_back(Refused(
          resource, error::kInvalidRequest,
          fmt::format("at most {} resources per request", session.limits.altered_resources_max)));
    } else if (named[{resource.type, resource.name}] > 1) {
      results.push_back(
          Refused(resource, error::kInvalidRequest, "the resource is named more than once"));
    } else {
      results.push_back(AlterOne(session, resource, *request));
    }
  }
  MERIDIAN_CHECK(results.size() == request->resources.size());
  return Respond(EncodeAlterConfigsResponse(results, v));
}

}  // namespace meridian::core::kafka
