// Metadata, CreateTopics, DeleteTopics, CreatePartitions and InitProducerId, translated into
// Meridian's MetadataRequest, CreateTopicRequest, DeleteTopicRequest, CreatePartitionsRequest and
// InitProducerIdRequest.
#include <fmt/format.h>

#include <algorithm>

#include "absl/container/btree_map.h"
#include "absl/strings/numbers.h"
#include "core/cluster/metadata.h"
#include "core/kafka/session_internal.h"
#include "core/kafka/translate.h"
#include "io/frame.h"

namespace meridian::core::kafka {
namespace {

// Sends `request` to the node at `address` over the native protocol (hello first) and returns
// its answer: how a controller request reaches the controller leader from any node.
absl::StatusOr<wire::ClientMessageT> CallRemote(io::Runtime& runtime, const io::Address& address,
                                                wire::ClientMessageT request) {
  const io::Instant deadline = runtime.Now() + std::chrono::seconds(10);
  absl::StatusOr<std::unique_ptr<io::Stream>> stream = runtime.network().Connect(address, deadline);
  if (!stream.ok()) return stream.status();
  wire::HelloRequestT hello;
  hello.version_min = wire::kProtocolVersionMin;
  hello.version_max = wire::kProtocolVersionMax;
  hello.client_id = "kafka-listener";
  io::FrameReader reader(**stream, wire::kClientMessageBytesMax);
  absl::StatusOr<wire::ClientMessageT> last = absl::UnavailableError("nothing sent");
  for (wire::ClientMessageT message : {wire::Message(1, std::move(hello)), std::move(request)}) {
    if (absl::Status s = io::WriteFrame(**stream, wire::EncodeClientMessage(message), deadline);
        !s.ok()) {
      return s;
    }
    absl::StatusOr<std::vector<uint8_t>> frame = reader.Read(deadline);
    if (!frame.ok()) return frame.status();
    absl::StatusOr<std::unique_ptr<wire::ClientMessageT>> answer =
        wire::DecodeClientMessage(*frame);
    if (!answer.ok()) return answer.status();
    last = std::move(**answer);
  }
  (*stream)->Close();
  return last;
}

template <typename BodyT>
wire::ClientMessageT CallController(Session& session, BodyT body) {
  return CallControllerLeader(session,
                              wire::Message(++session.meridian_request_id, std::move(body)));
}

}  // namespace

wire::ClientMessageT CallControllerLeader(Session& session, wire::ClientMessageT request) {
  wire::ClientMessageT answer = CallAdmitted(session, request);
  const wire::ErrorResponseT* error = answer.body.AsErrorResponse();
  if (error == nullptr || error->code != wire::ErrorCode::NotLeader || error->leader == 0 ||
      error->leader == session.broker.node_id()) {
    return answer;
  }
  const auto& nodes = session.broker.metadata().nodes();
  auto leader = nodes.find(error->leader);
  if (leader == nodes.end()) return answer;
  absl::StatusOr<wire::ClientMessageT> forwarded = CallRemote(
      session.runtime, io::Address{leader->second.host, leader->second.port}, std::move(request));
  return forwarded.ok() ? *std::move(forwarded) : answer;
}

namespace {

std::optional<MetadataBroker> KafkaBroker(const wire::NodeInfoT& node) {
  return KafkaBrokerAt(node.id, node.kafka_address, node.region);
}

MetadataTopic KafkaTopic(const wire::TopicInfoT& topic) {
  MetadataTopic out;
  out.name = topic.name;
  for (const auto& partition : topic.partitions) {
    MetadataPartition& p = out.partitions.emplace_back();
    p.partition = static_cast<int32_t>(partition->partition);
    p.leader = partition->leader == 0 ? -1 : static_cast<int32_t>(partition->leader);
    if (partition->leader == 0) p.error_code = error::kLeaderNotAvailable;
    for (uint32_t replica : partition->replicas)
      p.replicas.push_back(static_cast<int32_t>(replica));
    // The raft voters: an acknowledged write is on a quorum of them (docs/kafka.md "ISR").
    p.isr = p.replicas;
  }
  return out;
}

}  // namespace

std::optional<MetadataBroker> KafkaBrokerAt(uint32_t node_id, const std::string& kafka_address,
                                            const std::string& region) {
  const size_t colon = kafka_address.rfind(':');
  int32_t port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(kafka_address.substr(colon + 1), &port) ||
      port <= 0 || port > 65535) {
    return std::nullopt;  // No Kafka listener on that node.
  }
  return MetadataBroker{static_cast<int32_t>(node_id), kafka_address.substr(0, colon), port,
                        region};
}

Outcome HandleMetadata(Session& session, const RequestFrame& frame) {
  const int16_t v = frame.header.api_version;
  absl::StatusOr<MetadataRequest> request = DecodeMetadataRequest(frame.body, v);
  if (!request.ok()) return Close();
  wire::MetadataRequestT ask;
  if (request->topics.has_value()) ask.topics = *request->topics;
  const wire::ClientMessageT answer = Call(session, std::move(ask));
  const wire::MetadataResponseT* metadata = answer.body.AsMetadataResponse();
  MetadataResponse response;
  response.cluster_id = "meridian";
  if (metadata != nullptr) {
    for (const auto& node : metadata->nodes) {
      if (std::optional<MetadataBroker> broker = KafkaBroker(*node)) {
        response.brokers.push_back(*std::move(broker));
      }
    }
    if (metadata->controller_leader != 0) {
      response.controller_id = static_cast<int32_t>(metadata->controller_leader);
    }
    // An empty list (not null) asks for no topics; Meridian's empty list means all of them.
    const bool none = request->topics.has_value() && request->topics->empty();
    for (const auto& topic : metadata->topics) {
      if (!none) response.topics.push_back(KafkaTopic(*topic));
    }
    for (const std::string& name : metadata->missing_topics) {
      response.topics.push_back({error::kUnknownTopicOrPartition, name, {}});
    }
  }
  return Respond(EncodeMetadataResponse(response, v));
}

namespace {

// Kafka's topic configs that map onto Meridian's topic settings; others are refused. The
// messages quote no value or unknown name of the client's (up to INT16_MAX bytes each).
std::optional<std::string> ApplyConfigs(const CreatableTopic& topic,
                                        wire::CreateTopicRequestT& create) {
  for (const auto& [name, value] : topic.configs) {
    if (name != "retention.ms" && name != "retention.bytes") {
      return "a config that is not supported (retention.ms and retention.bytes are)";
    }
    const std::optional<int64_t> meridian = MeridianRetention(value.value_or(""));
    if (!meridian.has_value()) {
      return fmt::format("{} must be -1 (unlimited) or a positive number", name);
    }
    (name == "retention.ms" ? create.retention_ms : create.retention_bytes) = *meridian;
  }
  return std::nullopt;
}

TopicResult CreateOne(Session& session, const CreatableTopic& topic, bool validate_only) {
  TopicResult result{topic.name, error::kNone, std::nullopt};
  if (absl::Status s = cluster::ValidateTopicName(topic.name); !s.ok()) {
    return {topic.name, error::kInvalidTopic, std::string(s.message())};
  }
  if (topic.has_assignments) {
    return {topic.name, error::kInvalidRequest, "manual replica assignment is not supported"};
  }
  wire::CreateTopicRequestT create;
  create.name = topic.name;
  create.partitions = topic.num_partitions == -1 ? 1 : static_cast<uint32_t>(topic.num_partitions);
  const size_t nodes = session.broker.metadata().nodes().size();
  create.replication_factor = topic.replication_factor == -1
                                  ? static_cast<uint32_t>(std::clamp<size_t>(nodes, 1, 3))
                                  : static_cast<uint32_t>(topic.replication_factor);
  if (topic.num_partitions == 0 || topic.num_partitions < -1) {
    return {topic.name, error::kInvalidPartitions, "partitions must be at least 1"};
  }
  if (topic.replication_factor == 0 || topic.replication_factor < -1) {
    return {topic.name, error::kInvalidReplicationFactor, "replication factor must be >= 1"};
  }
  if (std::optional<std::string> why = ApplyConfigs(topic, create)) {
    return {topic.name, error::kInvalidConfig, *why};
  }
  if (absl::Status s = cluster::ValidateTopicSettings(create.partitions, create.replication_factor,
                                                      create.retention_bytes, create.retention_ms);
      !s.ok()) {
    return {topic.name, error::kInvalidConfig, std::string(s.message())};
  }
  if (validate_only) {
    if (session.broker.metadata().FindTopic(topic.name) != nullptr) {
      return {topic.name, error::kTopicAlreadyExists, "the topic exists"};
    }
    return result;
  }
  const wire::ClientMessageT answer = CallController(session, std::move(create));
  if (const wire::ErrorResponseT* error = answer.body.AsErrorResponse()) {
    return {topic.name, KafkaErrorCode(error->code, RequestKind::kController), error->message};
  }
  return result;
}

}  // namespace

Outcome HandleCreateTopics(Session& session, const RequestFrame& frame) {
  const int16_t v = frame.header.api_version;
  absl::StatusOr<CreateTopicsRequest> request = DecodeCreateTopicsRequest(frame.body, v);
  if (!request.ok()) return Close();
  std::vector<TopicResult> results;
  for (const CreatableTopic& topic : request->topics) {
    results.push_back(CreateOne(session, topic, request->validate_only));
  }
  return Respond(EncodeCreateTopicsResponse(results, v));
}

Outcome HandleDeleteTopics(Session& session, const RequestFrame& frame) {
  const int16_t v = frame.header.api_version;
  absl::StatusOr<DeleteTopicsRequest> request = DecodeDeleteTopicsRequest(frame.body, v);
  if (!request.ok()) return Close();
  std::vector<TopicResult> results;
  for (const std::string& name : request->names) {
    wire::DeleteTopicRequestT remove;
    remove.name = name;
    const wire::ClientMessageT answer = CallController(session, std::move(remove));
    const wire::ErrorResponseT* error = answer.body.AsErrorResponse();
    results.push_back(
        {name,
         error == nullptr ? error::kNone : KafkaErrorCode(error->code, RequestKind::kController),
         std::nullopt});
  }
  return Respond(EncodeDeleteTopicsResponse(results, v));
}

Outcome HandleInitProducerId(Session& session, const RequestFrame& frame) {
  const int16_t v = frame.header.api_version;
  absl::StatusOr<InitProducerIdRequest> request = DecodeInitProducerIdRequest(frame.body, v);
  if (!request.ok()) return Close();
  InitProducerIdResponse response;
  if (request->transactional_id.has_value()) {
    response.error_code = error::kInvalidRequest;  // Transactions are not supported.
    return Respond(EncodeInitProducerIdResponse(response, v));
  }
  const wire::ClientMessageT answer = CallController(session, wire::InitProducerIdRequestT{});
  if (const wire::InitProducerIdResponseT* ok = answer.body.AsInitProducerIdResponse()) {
    if (ok->producer_id > static_cast<uint64_t>(INT64_MAX) || ok->producer_epoch > INT16_MAX) {
      response.error_code = error::kUnknownServerError;  // Kafka cannot carry it.
    } else {
      response.producer_id = static_cast<int64_t>(ok->producer_id);
      response.producer_epoch = static_cast<int16_t>(ok->producer_epoch);
    }
  } else if (const wire::ErrorResponseT* error = answer.body.AsErrorResponse()) {
    response.error_code = KafkaErrorCode(error->code, RequestKind::kProducerId);
  } else {
    response.error_code = error::kUnknownServerError;
  }
  return Respond(EncodeInitProducerIdResponse(response, v));
}

namespace {

// The Kafka answer to a CreatePartitions the controller refused. The messages are ours, never
// the broker's: those quote the topic name, which may be up to INT16_MAX bytes long here.
TopicResult PartitionsRefused(const std::string& name, wire::ErrorCode code) {
  switch (code) {
    case wire::ErrorCode::InvalidConfig:
      if (name.starts_with("__")) {
        return {name, error::kInvalidRequest,
                "an internal topic (a name starting with __) keeps its partitions"};
      }
      return {name, error::kInvalidPartitions,
              fmt::format("the new count must exceed the current one and be at most {}",
                          cluster::kPartitionsPerTopicMax)};
    case wire::ErrorCode::UnknownTopicOrPartition:
      return {name, error::kUnknownTopicOrPartition, "no such topic"};
    case wire::ErrorCode::NotEnoughReplicas:
      return {name, error::kInvalidReplicationFactor,
              "too few nodes to place the new partitions' replicas"};
    default:
      return {name, KafkaErrorCode(code, RequestKind::kController), std::nullopt};
  }
}

TopicResult GrowOne(Session& session, const CreatePartitionsTopic& topic, bool validate_only) {
  if (topic.has_assignments) {
    return {topic.name, error::kInvalidRequest,
            "manual partition assignment is not supported: Meridian places new partitions"};
  }
  if (topic.count <= 0) {
    return {topic.name, error::kInvalidPartitions, "the partition count must be positive"};
  }
  if (!cluster::ValidateTopicName(topic.name).ok()) {
    return {topic.name, error::kUnknownTopicOrPartition, "no such topic (not a valid name)"};
  }
  wire::CreatePartitionsRequestT grow;
  grow.topic = topic.name;
  grow.total = static_cast<uint32_t>(topic.count);
  grow.validate_only = validate_only;
  const wire::ClientMessageT answer = CallController(session, std::move(grow));
  if (answer.body.AsCreatePartitionsResponse() != nullptr) {
    return {topic.name, error::kNone, std::nullopt};
  }
  const wire::ErrorResponseT* error = answer.body.AsErrorResponse();
  if (error == nullptr) return {topic.name, error::kUnknownServerError, std::nullopt};
  return PartitionsRefused(topic.name, error->code);
}

}  // namespace

// CreatePartitions: each topic grown by the controller leader's CreatePartitionsRequest (the
// path `meridian topic add-partitions` takes: ACLs, the internal-topic rule, placement), with
// validate_only passed along (the controller checks everything and proposes nothing). A topic
// named twice is refused both times, as Kafka does.
Outcome HandleCreatePartitions(Session& session, const RequestFrame& frame) {
  const int16_t v = frame.header.api_version;
  absl::StatusOr<CreatePartitionsRequest> request = DecodeCreatePartitionsRequest(frame.body, v);
  if (!request.ok()) return Close();
  absl::btree_map<std::string_view, int> named;
  for (const CreatePartitionsTopic& topic : request->topics) named[topic.name]++;
  std::vector<TopicResult> results;
  for (const CreatePartitionsTopic& topic : request->topics) {
    if (named[topic.name] > 1) {
      results.push_back(
          {topic.name, error::kInvalidRequest, "the topic is named more than once in the request"});
      continue;
    }
    results.push_back(GrowOne(session, topic, request->validate_only));
  }
  return Respond(EncodeCreatePartitionsResponse(results, v));
}

}  // namespace meridian::core::kafka
