#include "core/client/client.h"

#include <fmt/format.h>

#include <algorithm>

#include "io/assert.h"
#include "io/probe.h"

namespace meridian::core::client {

struct Client::Route {
  enum class Kind { kPartition, kController };
  Kind kind;
  std::string topic;
  uint32_t partition = 0;
  std::vector<std::string> topics() const {
    return kind == Kind::kPartition ? std::vector<std::string>{topic} : std::vector<std::string>{};
  }
  std::string ToString() const {
    return kind == Kind::kController ? std::string("controller")
                                     : fmt::format("{}/{} leader", topic, partition);
  }
};

Client::Client(io::Runtime& runtime, ClientOptions options)
    : runtime_(runtime), options_(std::move(options)), opened_(runtime) {
  MERIDIAN_CHECK(options_.request_timeout.count() > 0);
  MERIDIAN_CHECK(options_.retry_backoff.count() > 0);
  MERIDIAN_CHECK(options_.retry_backoff <= options_.retry_backoff_max);
  MERIDIAN_CHECK(options_.retry_backoff <= options_.throttle_wait_max);
}

Client::~Client() { Close(); }

void Client::Close() {
  closed_ = true;
  for (auto& [node, connection] : connections_) connection->Close("client closed");
  connections_.clear();
  opened_.NotifyAll();
}

io::Instant Client::AttemptDeadline(io::Instant deadline) const {
  return std::min(deadline, runtime_.Now() + options_.request_timeout);
}

absl::Status Client::Backoff(uint32_t attempt, io::Instant deadline) {
  const uint32_t doublings = std::min<uint32_t>(attempt, 20);
  io::Duration backoff = options_.retry_backoff * (int64_t{1} << doublings);
  backoff = std::min(backoff, options_.retry_backoff_max);
  // Jitter in [80%, 120%) spreads clients that failed together.
  const int64_t jitter_percent = runtime_.random().Between(80, 119);
  backoff = backoff * jitter_percent / 100;
  const io::Instant wake = std::min(runtime_.Now() + backoff, deadline);
  if (wake <= runtime_.Now()) return absl::OkStatus();
  return runtime_.SleepUntil(wake);
}

// ---- Connections ----

void Client::Remember(std::shared_ptr<Connection> connection) {
  const uint32_t node = connection->node_id().value();
  auto [it, inserted] = connections_.try_emplace(node, connection);
  if (!inserted && it->second != connection) {
    it->second->Close("replaced by a newer connection");
    it->second = std::move(connection);
  }
}

absl::StatusOr<std::shared_ptr<Connection>> Client::Connect(io::Address address,
                                                            io::Instant deadline) {
  absl::Status turn = opened_.WaitUntil([&] { return closed_ || !opening_.contains(address); },
                                        deadline, "connect");
  if (!turn.ok()) return turn;
  if (closed_) return absl::CancelledError("client closed");
  for (auto& [node, connection] : connections_) {
    if (!connection->closed() && connection->address() == address) return connection;
  }
  opening_[address] = true;
  absl::StatusOr<std::shared_ptr<Connection>> connection =
      Connection::Open(runtime_, address, options_.client_id, AttemptDeadline(deadline));
  opening_.erase(address);
  opened_.NotifyAll();
  if (!connection.ok()) return connection.status();
  if (closed_) {
    (*connection)->Close("client closed");
    return absl::CancelledError("client closed");
  }
  Remember(*connection);
  return connection;
}

absl::StatusOr<std::shared_ptr<Connection>> Client::ConnectionTo(io::NodeId node,
                                                                 io::Instant deadline) {
  auto it = connections_.find(node.value());
  if (it != connections_.end() && !it->second->closed()) return it->second;
  auto address = nodes_.find(node.value());
  if (address == nodes_.end()) {
    (void)RefreshMetadata();  // Learn the node's address, if the cluster knows it.
    address = nodes_.find(node.value());
  }
  if (address == nodes_.end()) {
    return absl::UnavailableError(fmt::format("no address known for node {}", node.ToString()));
  }
  // A copy: Connect suspends, and another fiber's metadata refresh may rebuild nodes_.
  const io::Address target = address->second.address;
  absl::StatusOr<std::shared_ptr<Connection>> connection = Connect(target, deadline);
  if (!connection.ok()) return connection;
  if ((*connection)->node_id() != node) {
    return absl::UnavailableError(fmt::format("{} is node {}, expected {}", target.ToString(),
                                              (*connection)->node_id().ToString(),
                                              node.ToString()));
  }
  return connection;
}

std::vector<io::Address> Client::AnyNodeCandidates() const {
  std::vector<io::Address> candidates;
  auto add = [&](const io::Address& address) {
    if (std::find(candidates.begin(), candidates.end(), address) == candidates.end()) {
      candidates.push_back(address);
    }
  };
  for (const auto& [node, connection] : connections_) {
    if (!connection->closed()) add(connection->address());
  }
  for (const auto& [node, known] : nodes_) add(known.address);
  for (const io::Address& address : options_.bootstrap) add(address);
  return candidates;
}

// ---- Calls ----

Client::Response Client::AttemptOn(io::NodeId node, const wire::ClientMessageT& request,
                                   io::Instant deadline, bool* connected) {
  absl::StatusOr<std::shared_ptr<Connection>> connection = ConnectionTo(node, deadline);
  if (!connection.ok()) return connection.status();
  *connected = true;  // From here on the request may reach the node.
  return (*connection)->Call(request, AttemptDeadline(deadline));
}

Client::Response Client::CallNode(io::NodeId node, wire::ClientMessageT request,
                                  io::Instant deadline) {
  absl::Status last = absl::UnavailableError("no attempt made");
  for (uint32_t attempt = 0; runtime_.Now() < deadline && !closed_; ++attempt) {
    absl::StatusOr<std::shared_ptr<Connection>> connection = ConnectionTo(node, deadline);
    if (connection.ok()) {
      Response response = (*connection)->Call(request, AttemptDeadline(deadline));
      if (response.ok() || absl::IsCancelled(response.status())) return response;
      last = response.status();
    } else {
      if (absl::IsCancelled(connection.status())) return connection.status();
      last = connection.status();
    }
    absl::Status slept = Backoff(attempt, deadline);
    if (!slept.ok()) return slept;
  }
  if (closed_) return absl::CancelledError("client closed");
  return absl::DeadlineExceededError(fmt::format("call to {}: deadline exceeded; last error: {}",
                                                 node.ToString(), last.ToString()));
}

Client::Response Client::CallAnyNode(wire::ClientMessageT request, io::Instant deadline) {
  absl::Status last = absl::UnavailableError("no bootstrap or known node address");
  for (uint32_t round = 0; runtime_.Now() < deadline && !closed_; ++round) {
    for (const io::Address& address : AnyNodeCandidates()) {
      absl::StatusOr<std::shared_ptr<Connection>> connection = Connect(address, deadline);
      if (!connection.ok()) {
        if (absl::IsCancelled(connection.status())) return connection.status();
        last = connection.status();
        continue;
      }
      Response response = (*connection)->Call(request, AttemptDeadline(deadline));
      if (response.ok() || absl::IsCancelled(response.status())) return response;
      last = response.status();
      if (runtime_.Now() >= deadline) break;
    }
    absl::Status slept = Backoff(round, deadline);
    if (!slept.ok()) return slept;
  }
  if (closed_) return absl::CancelledError("client closed");
  return absl::DeadlineExceededError(
      fmt::format("no node answered before the deadline; last error: {}", last.ToString()));
}

Client::Response Client::CallPartitionLeader(const std::string& topic, uint32_t partition,
                                             wire::ClientMessageT request, io::Instant deadline,
                                             bool* maybe_delivered, io::NodeId* answered_by) {
  return CallWithRetry(Route{Route::Kind::kPartition, topic, partition}, request, deadline,
                       maybe_delivered, answered_by);
}

Client::Response Client::CallController(wire::ClientMessageT request, io::Instant deadline) {
  return CallWithRetry(Route{Route::Kind::kController, "", 0}, request, deadline);
}

absl::StatusOr<io::NodeId> Client::PickNode(const Route& route, uint32_t attempt,
                                            io::Instant deadline) {
  if (route.kind == Route::Kind::kController) {
    if (controller_leader_ == 0) {
      absl::StatusOr<wire::MetadataResponseT> refreshed = RefreshMetadata({});
      if (!refreshed.ok()) return refreshed.status();
    }
    if (controller_leader_ == 0) return absl::UnavailableError("controller leader unknown");
    return io::NodeId(controller_leader_);
  }
  auto leader = leaders_.find({route.topic, route.partition});
  if (leader != leaders_.end()) return io::NodeId(leader->second);
  if (!topics_.contains(route.topic)) {
    absl::StatusOr<wire::MetadataResponseT> refreshed = RefreshMetadata({route.topic});
    if (!refreshed.ok()) return refreshed.status();
    leader = leaders_.find({route.topic, route.partition});
    if (leader != leaders_.end()) return io::NodeId(leader->second);
  }
  const wire::TopicInfoT* topic = CachedTopic(route.topic);
  if (topic == nullptr) return absl::NotFoundError(fmt::format("unknown topic {}", route.topic));
  for (const auto& info : topic->partitions) {
    if (info == nullptr || info->partition != route.partition || info->replicas.empty()) continue;
    // Leader unknown: ask the replicas in turn (preferred leader first).
    return io::NodeId(info->replicas[attempt % info->replicas.size()]);
  }
  return absl::NotFoundError(fmt::format("unknown partition {}/{}", route.topic, route.partition));
}

void Client::ForgetLeader(const Route& route) {
  if (route.kind == Route::Kind::kController) {
    controller_leader_ = 0;
  } else {
    leaders_.erase({route.topic, route.partition});
  }
}

void Client::LearnLeader(const Route& route, uint32_t leader) {
  MERIDIAN_CHECK(leader != 0);
  if (route.kind == Route::Kind::kController) {
    controller_leader_ = leader;
  } else {
    leaders_[{route.topic, route.partition}] = leader;
  }
}

Client::Response Client::CallWithRetry(const Route& route, const wire::ClientMessageT& request,
                                       io::Instant deadline, bool* maybe_delivered,
                                       io::NodeId* answered_by) {
  absl::Status last = absl::UnavailableError("no attempt made");
  bool refreshed_unknown = false;
  uint32_t failures_in_a_row = 0;
  for (uint32_t attempt = 0; runtime_.Now() < deadline && !closed_; ++attempt) {
    absl::StatusOr<io::NodeId> node = PickNode(route, attempt, deadline);
    if (!node.ok() && absl::IsNotFound(node.status())) {
      // The cluster does not know the topic or partition: answer as a node would.
      return std::make_unique<wire::ClientMessageT>(
          wire::ErrorMessage(request.request_id, wire::ErrorCode::UnknownTopicOrPartition,
                             std::string(node.status().message())));
    }
    bool connected = false;
    Response response =
        node.ok() ? AttemptOn(*node, request, deadline, &connected) : Response(node.status());
    if (!response.ok() && connected && maybe_delivered != nullptr) *maybe_delivered = true;
    if (!response.ok()) {
      if (absl::IsCancelled(response.status())) return response;
      last = response.status();
      // One failure may be a dropped connection; two in a row: the leader may have moved.
      if (node.ok() && ++failures_in_a_row >= 2) {
        failures_in_a_row = 0;
        ForgetLeader(route);
        (void)RefreshMetadata(route.topics());
      }
      absl::Status slept = Backoff(attempt, deadline);
      if (!slept.ok()) return slept;
      continue;
    }
    failures_in_a_row = 0;
    if (answered_by != nullptr) *answered_by = *node;
    const wire::ErrorResponseT* error = (*response)->body.AsErrorResponse();
    if (error == nullptr) return response;
    last = StatusFromError(*error);
    switch (error->code) {
      case wire::ErrorCode::NotLeader:
        MERIDIAN_PROBE("client: NotLeader");
        if (error->leader != 0 && error->leader != node->value()) {
          LearnLeader(route, error->leader);
          if (attempt == 0) continue;  // A fresh hint deserves an immediate try.
        } else {
          ForgetLeader(route);
          (void)RefreshMetadata(route.topics());
        }
        break;
      case wire::ErrorCode::NotEnoughReplicas:
        if (route.kind == Route::Kind::kController) return response;
        break;
      case wire::ErrorCode::Throttled:
        if (absl::Status slept = WaitOutThrottle(*error, deadline); !slept.ok()) return slept;
        continue;
      case wire::ErrorCode::UnknownTopicOrPartition:
        if (refreshed_unknown || route.kind == Route::Kind::kController) return response;
        refreshed_unknown = true;
        ForgetLeader(route);
        (void)RefreshMetadata({route.topic});
        continue;
      default:
        return response;
    }
    absl::Status slept = Backoff(attempt, deadline);
    if (!slept.ok()) return slept;
  }
  if (closed_) return absl::CancelledError("client closed");
  return absl::DeadlineExceededError(
      fmt::format("{}: deadline exceeded; last error: {}", route.ToString(), last.ToString()));
}

absl::Status Client::WaitOutThrottle(const wire::ErrorResponseT& error, io::Instant deadline) {
  // Never a hot loop: a node's retry_after_ms (remote bytes, any value) is held within
  // [retry_backoff, throttle_wait_max].
  MERIDIAN_PROBE("client: Throttled, waiting retry_after_ms");
  throttled_total_++;
  const io::Duration wait =
      std::clamp<io::Duration>(std::chrono::milliseconds(error.retry_after_ms),
                               options_.retry_backoff, options_.throttle_wait_max);
  return runtime_.SleepUntil(std::min(deadline, runtime_.Now() + wait));
}

// ---- Metadata ----

absl::StatusOr<wire::MetadataResponseT> Client::RefreshMetadata(std::vector<std::string> topics) {
  const bool all_topics = topics.empty();
  wire::MetadataRequestT request;
  request.topics = std::move(topics);
  absl::StatusOr<wire::MetadataResponseT> metadata = TakeBody<wire::MetadataResponseT>(
      CallAnyNode(wire::Message(0, std::move(request)), runtime_.Now() + options_.request_timeout),
      [](wire::BodyUnion& body) { return body.AsMetadataResponse(); }, "MetadataResponse");
  if (metadata.ok()) CacheMetadata(*metadata, all_topics);
  return metadata;
}

void Client::CacheMetadata(const wire::MetadataResponseT& metadata, bool all_topics) {
  for (const auto& node : metadata.nodes) {
    if (node == nullptr || node->id == 0) continue;  // Not a node we could address.
    if (!nodes_.contains(node->id) && nodes_.size() >= kNodesMax) break;
    nodes_[node->id] = NodeAddress{io::Address{node->host, node->port}, node->region};
  }
  absl::btree_map<std::string, bool> seen;
  for (const auto& topic : metadata.topics) {
    if (topic == nullptr) continue;
    if (!topics_.contains(topic->name) && topics_.size() >= kTopicsCachedMax) break;
    seen[topic->name] = true;
    for (auto it = leaders_.lower_bound({topic->name, 0});
         it != leaders_.end() && it->first.first == topic->name;) {
      it = leaders_.erase(it);
    }
    for (const auto& partition : topic->partitions) {
      if (partition != nullptr && partition->leader != 0) {
        leaders_[{topic->name, partition->partition}] = partition->leader;
      }
    }
    topics_[topic->name] = std::make_unique<wire::TopicInfoT>(*topic);
  }
  std::vector<std::string> gone(metadata.missing_topics.begin(), metadata.missing_topics.end());
  if (all_topics) {
    for (const auto& [name, info] : topics_) {
      if (!seen.contains(name)) gone.push_back(name);
    }
  }
  for (const std::string& name : gone) {
    topics_.erase(name);
    for (auto it = leaders_.lower_bound({name, 0});
         it != leaders_.end() && it->first.first == name;) {
      it = leaders_.erase(it);
    }
  }
  if (metadata.controller_leader != 0) controller_leader_ = metadata.controller_leader;
}

const wire::TopicInfoT* Client::CachedTopic(const std::string& topic) const {
  auto it = topics_.find(topic);
  return it == topics_.end() ? nullptr : it->second.get();
}

std::string Client::NodeRegion(uint32_t node) const {
  auto it = nodes_.find(node);
  return it == nodes_.end() ? std::string() : it->second.region;
}

absl::StatusOr<uint32_t> Client::PartitionCount(const std::string& topic, io::Instant deadline) {
  if (CachedTopic(topic) == nullptr) {
    absl::StatusOr<wire::MetadataResponseT> refreshed = RefreshMetadata({topic});
    if (!refreshed.ok()) return refreshed.status();
  }
  const wire::TopicInfoT* info = CachedTopic(topic);
  if (info == nullptr || info->partitions.empty()) {
    wire::ErrorResponseT error;
    error.code = wire::ErrorCode::UnknownTopicOrPartition;
    error.message = fmt::format("topic {} does not exist", topic);
    return StatusFromError(error);
  }
  return static_cast<uint32_t>(info->partitions.size());
}

// ---- Admin ----

absl::StatusOr<wire::TopicInfoT> Client::CreateTopic(const std::string& name, uint32_t partitions,
                                                     uint32_t replication_factor,
                                                     int64_t retention_bytes,
                                                     int64_t retention_ms) {
  wire::CreateTopicRequestT request;
  request.name = name;
  request.partitions = partitions;
  request.replication_factor = replication_factor;
  request.retention_bytes = retention_bytes;
  request.retention_ms = retention_ms;
  return CreateTopic(std::move(request));
}

absl::StatusOr<wire::TopicInfoT> Client::CreateTopic(wire::CreateTopicRequestT request) {
  absl::StatusOr<wire::CreateTopicResponseT> created = TakeBody<wire::CreateTopicResponseT>(
      CallController(wire::Message(0, std::move(request)),
                     runtime_.Now() + options_.request_timeout),
      [](wire::BodyUnion& body) { return body.AsCreateTopicResponse(); }, "CreateTopicResponse");
  if (!created.ok()) return created.status();
  if (created->topic == nullptr) return absl::InternalError("CreateTopicResponse without a topic");
  wire::MetadataResponseT as_metadata;
  as_metadata.topics.push_back(std::make_unique<wire::TopicInfoT>(*created->topic));
  CacheMetadata(as_metadata, /*all_topics=*/false);
  return std::move(*created->topic);
}

absl::StatusOr<wire::TopicInfoT> Client::AddPartitions(const std::string& name, uint32_t total) {
  wire::CreatePartitionsRequestT request;
  request.topic = name;
  request.total = total;
  absl::StatusOr<wire::CreatePartitionsResponseT> grown = TakeBody<wire::CreatePartitionsResponseT>(
      CallController(wire::Message(0, std::move(request)),
                     runtime_.Now() + options_.request_timeout),
      [](wire::BodyUnion& body) { return body.AsCreatePartitionsResponse(); },
      "CreatePartitionsResponse");
  if (!grown.ok()) return grown.status();
  if (grown->topic == nullptr) {
    return absl::InternalError("CreatePartitionsResponse without a topic");
  }
  wire::MetadataResponseT as_metadata;
  as_metadata.topics.push_back(std::make_unique<wire::TopicInfoT>(*grown->topic));
  CacheMetadata(as_metadata, /*all_topics=*/false);
  return std::move(*grown->topic);
}

absl::StatusOr<wire::TopicInfoT> Client::AlterTopicConfig(wire::AlterTopicConfigRequestT request) {
  absl::StatusOr<wire::AlterTopicConfigResponseT> altered =
      TakeBody<wire::AlterTopicConfigResponseT>(
          CallController(wire::Message(0, std::move(request)),
                         runtime_.Now() + options_.request_timeout),
          [](wire::BodyUnion& body) { return body.AsAlterTopicConfigResponse(); },
          "AlterTopicConfigResponse");
  if (!altered.ok()) return altered.status();
  if (altered->topic == nullptr) {
    return absl::InternalError("AlterTopicConfigResponse without a topic");
  }
  return std::move(*altered->topic);
}

absl::StatusOr<wire::ReassignPartitionResponseT> Client::ReassignPartition(
    const std::string& topic, uint32_t partition, std::vector<uint32_t> replicas,
    std::vector<uint32_t> observers) {
  wire::ReassignPartitionRequestT request;
  request.topic = topic;
  request.partition = partition;
  request.replicas = std::move(replicas);
  request.observers = std::move(observers);
  return TakeBody<wire::ReassignPartitionResponseT>(
      CallController(wire::Message(0, std::move(request)),
                     runtime_.Now() + options_.request_timeout),
      [](wire::BodyUnion& body) { return body.AsReassignPartitionResponse(); },
      "ReassignPartitionResponse");
}

absl::StatusOr<wire::PromotePartitionResponseT> Client::PromotePartition(const std::string& topic,
                                                                         uint32_t partition) {
  wire::PromotePartitionRequestT request;
  request.topic = topic;
  request.partition = partition;
  return TakeBody<wire::PromotePartitionResponseT>(
      CallController(wire::Message(0, std::move(request)),
                     runtime_.Now() + options_.request_timeout),
      [](wire::BodyUnion& body) { return body.AsPromotePartitionResponse(); },
      "PromotePartitionResponse");
}

absl::Status Client::DeleteTopic(const std::string& name) {
  wire::DeleteTopicRequestT request;
  request.name = name;
  absl::StatusOr<wire::DeleteTopicResponseT> deleted = TakeBody<wire::DeleteTopicResponseT>(
      CallController(wire::Message(0, std::move(request)),
                     runtime_.Now() + options_.request_timeout),
      [](wire::BodyUnion& body) { return body.AsDeleteTopicResponse(); }, "DeleteTopicResponse");
  if (!deleted.ok()) return deleted.status();
  wire::MetadataResponseT as_metadata;
  as_metadata.missing_topics.push_back(name);
  CacheMetadata(as_metadata, /*all_topics=*/false);
  return absl::OkStatus();
}

absl::StatusOr<wire::MetadataResponseT> Client::ListTopics() { return RefreshMetadata({}); }

absl::StatusOr<wire::TopicInfoT> Client::DescribeTopic(const std::string& name) {
  absl::StatusOr<wire::MetadataResponseT> metadata = RefreshMetadata({name});
  if (!metadata.ok()) return metadata.status();
  for (auto& topic : metadata->topics) {
    if (topic != nullptr && topic->name == name) return std::move(*topic);
  }
  wire::ErrorResponseT error;
  error.code = wire::ErrorCode::UnknownTopicOrPartition;
  error.message = fmt::format("topic {} does not exist", name);
  return StatusFromError(error);
}

absl::StatusOr<wire::InitProducerIdResponseT> Client::InitProducerId(uint64_t producer_id) {
  wire::InitProducerIdRequestT request;
  request.producer_id = producer_id;
  return TakeBody<wire::InitProducerIdResponseT>(
      CallController(wire::Message(0, std::move(request)),
                     runtime_.Now() + options_.request_timeout),
      [](wire::BodyUnion& body) { return body.AsInitProducerIdResponse(); },
      "InitProducerIdResponse");
}

absl::StatusOr<wire::ReplicaStatusResponseT> Client::ReplicaStatus(io::NodeId node) {
  return TakeBody<wire::ReplicaStatusResponseT>(
      CallNode(node, wire::Message(0, wire::ReplicaStatusRequestT{}),
               runtime_.Now() + options_.request_timeout),
      [](wire::BodyUnion& body) { return body.AsReplicaStatusResponse(); },
      "ReplicaStatusResponse");
}

absl::Status Client::SetQuota(wire::QuotaEntryT quota, bool remove) {
  wire::SetQuotaRequestT request;
  request.quota = std::make_unique<wire::QuotaEntryT>(std::move(quota));
  request.remove = remove;
  return TakeBody<wire::SetQuotaResponseT>(
             CallController(wire::Message(0, std::move(request)),
                            runtime_.Now() + options_.request_timeout),
             [](wire::BodyUnion& body) { return body.AsSetQuotaResponse(); }, "SetQuotaResponse")
      .status();
}

absl::StatusOr<wire::DescribeQuotasResponseT> Client::DescribeQuotas() {
  return TakeBody<wire::DescribeQuotasResponseT>(
      CallAnyNode(wire::Message(0, wire::DescribeQuotasRequestT{}),
                  runtime_.Now() + options_.request_timeout),
      [](wire::BodyUnion& body) { return body.AsDescribeQuotasResponse(); },
      "DescribeQuotasResponse");
}

}  // namespace meridian::core::client
