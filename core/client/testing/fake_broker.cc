#include "core/client/testing/fake_broker.h"

#include <fmt/format.h>

#include <algorithm>

#include "io/assert.h"
#include "io/frame.h"

namespace meridian::core::client::testing {

struct FakeBroker::Session {
  Session(io::Runtime& runtime, std::unique_ptr<io::Stream> s, uint32_t n)
      : stream(std::move(s)), node(n), writers(runtime) {}
  std::unique_ptr<io::Stream> stream;
  uint32_t node;
  bool helloed = false;
  bool writing = false;
  bool closed = false;
  io::WaitList writers;
  void Close() {
    closed = true;
    stream->Close();
    writers.NotifyAll();
  }
};

FakeBroker::FakeBroker(io::Runtime& runtime, FakeBrokerOptions options)
    : runtime_(runtime), options_(std::move(options)), appended_(runtime) {}

FakeBroker::~FakeBroker() { Stop(); }

void FakeBroker::Spawn(std::string name, std::function<void()> body) {
  auto id = std::make_shared<io::FiberId>();
  *id = runtime_.Spawn(std::move(name), [this, body = std::move(body), id] {
    body();
    fibers_.erase(*id);
  });
  fibers_.insert(*id);
}

absl::Status FakeBroker::Start() {
  const io::Address* addresses[2] = {&options_.node1, &options_.node2};
  for (uint32_t i = 0; i < 2; ++i) {
    absl::StatusOr<std::unique_ptr<io::Listener>> listener =
        runtime_.network().Listen(*addresses[i]);
    if (!listener.ok()) return listener.status();
    listeners_[i] = std::move(*listener);
    io::Listener* raw = listeners_[i].get();
    Spawn(fmt::format("broker-accept-n{}", i + 1), [this, raw, i] { AcceptLoop(*raw, i + 1); });
  }
  return absl::OkStatus();
}

void FakeBroker::Stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& listener : listeners_) {
    if (listener != nullptr) listener->Close();
  }
  CloseAllConnections();
  if (runtime_.scheduler().shutting_down()) return;
  for (io::FiberId fiber : fibers_) runtime_.scheduler().Cancel(fiber);
}

void FakeBroker::AddTopic(const std::string& name, uint32_t partitions) {
  MERIDIAN_CHECK(partitions > 0);
  topics_[name] = std::vector<Partition>(partitions);
}

void FakeBroker::DropConnectionInsteadOfAnswering(wire::Body type, int count) {
  faults_[type].drop_count = count;
}

void FakeBroker::ThrottleRequests(wire::Body type, int count, uint32_t retry_after_ms) {
  faults_[type].throttle_count = count;
  faults_[type].retry_after_ms = retry_after_ms;
}

void FakeBroker::DelayRequests(wire::Body type, int count, io::Duration delay) {
  faults_[type].delay_count = count;
  faults_[type].delay = delay;
}

void FakeBroker::RefuseBatch(uint32_t epoch, int32_t base_sequence, int count,
                             std::optional<wire::ErrorCode> code) {
  batch_faults_.push_back({epoch, base_sequence, count, code});
}

std::optional<FakeBroker::BatchFault> FakeBroker::TakeBatchFault(
    const wire::ClientMessageT& request) {
  const wire::ProduceRequestT* produce = request.body.AsProduceRequest();
  if (produce == nullptr) return std::nullopt;
  absl::StatusOr<const wire::RecordBatch*> batch = wire::VerifyRecordBatch(produce->batch);
  if (!batch.ok()) return std::nullopt;
  for (BatchFault& fault : batch_faults_) {
    if (fault.count > 0 && fault.epoch == (*batch)->producer_epoch() &&
        fault.base_sequence == (*batch)->base_sequence()) {
      fault.count--;
      return fault;
    }
  }
  return std::nullopt;
}

void FakeBroker::CloseAllConnections() {
  std::vector<std::shared_ptr<Session>> sessions = std::move(sessions_);
  sessions_.clear();
  for (auto& session : sessions) session->Close();
}

void FakeBroker::AppendRaw(const std::string& topic, uint32_t partition, std::vector<uint8_t> bytes,
                           uint32_t records) {
  Partition* found = FindPartition(topic, partition);
  MERIDIAN_CHECK(found != nullptr);
  found->batches.push_back(StoredBatch{found->high_watermark, records, std::move(bytes)});
  found->high_watermark += records;
  appended_.NotifyAll();
}

void FakeBroker::AdvertiseStaleLeader(const std::string& topic, uint32_t partition) {
  Partition* found = FindPartition(topic, partition);
  MERIDIAN_CHECK(found != nullptr);
  found->stale_leader = true;
}

void FakeBroker::ForgetProducerSequences(const std::string& topic, uint32_t partition) {
  Partition* found = FindPartition(topic, partition);
  MERIDIAN_CHECK(found != nullptr);
  for (auto& [producer, state] : found->producers) {
    const uint32_t epoch = state.epoch;
    state = ProducerState{};
    state.epoch = epoch;
  }
}

const std::vector<StoredBatch>& FakeBroker::Log(const std::string& topic,
                                                uint32_t partition) const {
  return topics_.at(topic).at(partition).batches;
}

int64_t FakeBroker::HighWatermark(const std::string& topic, uint32_t partition) const {
  return topics_.at(topic).at(partition).high_watermark;
}

uint64_t FakeBroker::requests(wire::Body type) const {
  auto it = requests_.find(type);
  return it == requests_.end() ? 0 : it->second;
}

FakeBroker::Partition* FakeBroker::FindPartition(const std::string& topic, uint32_t partition) {
  auto it = topics_.find(topic);
  if (it == topics_.end() || partition >= it->second.size()) return nullptr;
  return &it->second[partition];
}

// ---- Connections ----

void FakeBroker::AcceptLoop(io::Listener& listener, uint32_t node) {
  while (!stopped_) {
    absl::StatusOr<std::unique_ptr<io::Stream>> stream = listener.Accept(io::Instant::Infinite());
    if (!stream.ok()) return;
    auto session = std::make_shared<Session>(runtime_, std::move(*stream), node);
    sessions_.push_back(session);
    Spawn(fmt::format("broker-session-n{}", node), [this, session] { SessionLoop(session); });
  }
}

void FakeBroker::SessionLoop(std::shared_ptr<Session> session) {
  io::FrameReader reader(*session->stream, wire::kClientMessageBytesMax);
  while (!session->closed) {
    absl::StatusOr<std::vector<uint8_t>> frame = reader.Read(io::Instant::Infinite());
    if (!frame.ok()) break;
    absl::StatusOr<std::unique_ptr<wire::ClientMessageT>> request =
        wire::DecodeClientMessage(*frame);
    if (!request.ok()) break;  // A real node logs and closes; so do we.
    if (!session->helloed) {
      if (!HandleHello(*session, **request)) break;
      continue;
    }
    // One fiber per request, so slow requests (long polls, delays) answer out of order.
    std::shared_ptr<wire::ClientMessageT> shared = std::move(*request);
    Spawn("broker-request", [this, session, shared] { Serve(session, *shared); });
  }
  session->Close();
  std::erase(sessions_, session);
}

bool FakeBroker::HandleHello(Session& session, const wire::ClientMessageT& request) {
  const wire::HelloRequestT* hello = request.body.AsHelloRequest();
  requests_[request.body.type]++;
  if (hello == nullptr) {
    Respond(session,
            wire::ErrorMessage(request.request_id, wire::ErrorCode::NotHelloed, "say hello first"));
    return true;
  }
  const uint16_t low = std::max(hello->version_min, options_.version_min);
  const uint16_t high = std::min(hello->version_max, options_.version_max);
  if (low > high) {
    Respond(session, wire::ErrorMessage(request.request_id, wire::ErrorCode::UnsupportedVersion,
                                        fmt::format("node speaks {}..{}", options_.version_min,
                                                    options_.version_max)));
    return false;
  }
  wire::HelloResponseT answer;
  answer.version = high;
  answer.node_id = session.node;
  Respond(session, wire::Message(request.request_id, std::move(answer)));
  session.helloed = true;
  return true;
}

void FakeBroker::Respond(Session& session, const wire::ClientMessageT& response) {
  absl::Status turn = session.writers.WaitUntil([&] { return session.closed || !session.writing; },
                                                io::Instant::Infinite(), "write");
  if (!turn.ok() || session.closed) return;
  session.writing = true;
  absl::Status written =
      io::WriteFrame(*session.stream, wire::EncodeClientMessage(response), io::Instant::Infinite());
  session.writing = false;
  session.writers.NotifyAll();
  if (!written.ok()) session.Close();
}

void FakeBroker::Serve(std::shared_ptr<Session> session, wire::ClientMessageT& request) {
  const wire::ProduceRequestT* produce = request.body.AsProduceRequest();
  if (produce == nullptr) return ServeRequest(std::move(session), request);
  const std::pair<std::string, uint32_t> partition{produce->topic, produce->partition};
  const size_t held = ++produces_held_[partition];
  produces_held_max_[partition] = std::max(produces_held_max_[partition], held);
  ServeRequest(std::move(session), request);
  produces_held_[partition]--;
}

void FakeBroker::ServeRequest(std::shared_ptr<Session> session, wire::ClientMessageT& request) {
  const wire::Body type = request.body.type;
  requests_[type]++;
  if (std::optional<BatchFault> refused = TakeBatchFault(request)) {
    if (!refused->code.has_value()) return;  // Swallowed: never applied, never answered.
    Respond(*session, wire::ErrorMessage(request.request_id, *refused->code, "fake refusal"));
    return;
  }
  Fault& fault = faults_[type];
  if (fault.delay_count > 0) {
    fault.delay_count--;
    if (!runtime_.Sleep(fault.delay).ok()) return;
  }
  if (fault.throttle_count > 0) {
    fault.throttle_count--;
    wire::ClientMessageT throttled =
        wire::ErrorMessage(request.request_id, wire::ErrorCode::Throttled, "fake quota");
    throttled.body.AsErrorResponse()->retry_after_ms = fault.retry_after_ms;
    Respond(*session, throttled);
    return;
  }
  wire::ClientMessageT response = Handle(session->node, request);
  Fault& after = faults_[type];
  if (after.drop_count > 0) {
    after.drop_count--;
    session->Close();
    return;
  }
  Respond(*session, response);
}

// ---- Requests ----

wire::ClientMessageT FakeBroker::Handle(uint32_t node, wire::ClientMessageT& request) {
  const uint64_t id = request.request_id;
  wire::BodyUnion& body = request.body;
  const bool controller = node == kControllerNode;
  auto not_controller = [&] {
    not_leader_answers_++;
    return wire::ErrorMessage(id, wire::ErrorCode::NotLeader, "not the controller leader",
                              kControllerNode);
  };
  switch (body.type) {
    case wire::Body::MetadataRequest:
      return Metadata(id, *body.AsMetadataRequest());
    case wire::Body::CreateTopicRequest: {
      if (!controller) return not_controller();
      const wire::CreateTopicRequestT& create = *body.AsCreateTopicRequest();
      if (topics_.contains(create.name)) {
        return wire::ErrorMessage(id, wire::ErrorCode::TopicAlreadyExists, create.name);
      }
      if (create.partitions == 0 || create.partitions > 1000) {
        return wire::ErrorMessage(id, wire::ErrorCode::InvalidConfig, "partitions");
      }
      AddTopic(create.name, create.partitions);
      wire::CreateTopicResponseT created;
      created.topic = Describe(create.name);
      return wire::Message(id, std::move(created));
    }
    case wire::Body::DeleteTopicRequest: {
      if (!controller) return not_controller();
      if (topics_.erase(body.AsDeleteTopicRequest()->name) == 0) {
        return wire::ErrorMessage(id, wire::ErrorCode::UnknownTopicOrPartition, "no such topic");
      }
      return wire::Message(id, wire::DeleteTopicResponseT{});
    }
    case wire::Body::InitProducerIdRequest:
      if (!controller) return not_controller();
      return InitProducerId(id, *body.AsInitProducerIdRequest());
    case wire::Body::ProduceRequest:
      return Produce(node, id, *body.AsProduceRequest());
    case wire::Body::FetchRequest:
      return Fetch(node, id, *body.AsFetchRequest());
    case wire::Body::ListOffsetsRequest:
      return ListOffsets(node, id, *body.AsListOffsetsRequest());
    case wire::Body::ReplicaStatusRequest:
      return ReplicaStatus(node, id);
    default:
      return wire::ErrorMessage(id, wire::ErrorCode::Unsupported,
                                fmt::format("{} not served", wire::EnumNameBody(body.type)));
  }
}

std::unique_ptr<wire::TopicInfoT> FakeBroker::Describe(const std::string& name) const {
  const std::vector<Partition>& partitions = topics_.at(name);
  auto topic = std::make_unique<wire::TopicInfoT>();
  topic->name = name;
  topic->replication_factor = 2;
  for (uint32_t p = 0; p < partitions.size(); ++p) {
    auto info = std::make_unique<wire::PartitionInfoT>();
    info->partition = p;
    info->group = p + 1;
    const uint32_t leader = LeaderOf(p).value();
    const uint32_t other = leader == 1 ? 2 : 1;
    info->replicas = {leader, other};
    info->leader = partitions[p].stale_leader ? other : leader;
    info->leader_term = 1;
    topic->partitions.push_back(std::move(info));
  }
  return topic;
}

wire::ClientMessageT FakeBroker::Metadata(uint64_t id, const wire::MetadataRequestT& request) {
  wire::MetadataResponseT metadata;
  const io::Address* addresses[2] = {&options_.node1, &options_.node2};
  for (uint32_t i = 0; i < 2; ++i) {
    auto node = std::make_unique<wire::NodeInfoT>();
    node->id = i + 1;
    node->region = i == 0 ? options_.node1_region : options_.node2_region;
    node->host = addresses[i]->host;
    node->port = addresses[i]->port;
    metadata.nodes.push_back(std::move(node));
  }
  metadata.controller_leader = kControllerNode;
  if (request.topics.empty()) {
    for (const auto& [name, partitions] : topics_) metadata.topics.push_back(Describe(name));
  }
  for (const std::string& name : request.topics) {
    if (topics_.contains(name)) {
      metadata.topics.push_back(Describe(name));
    } else {
      metadata.missing_topics.push_back(name);
    }
  }
  return wire::Message(id, std::move(metadata));
}

wire::ClientMessageT FakeBroker::InitProducerId(uint64_t id,
                                                const wire::InitProducerIdRequestT& request) {
  wire::InitProducerIdResponseT answer;
  if (request.producer_id == 0) {
    answer.producer_id = next_producer_id_++;
    answer.producer_epoch = 0;
  } else {
    auto it = producer_epochs_.find(request.producer_id);
    if (it == producer_epochs_.end()) {
      return wire::ErrorMessage(id, wire::ErrorCode::BadRequest, "unknown producer id");
    }
    answer.producer_id = request.producer_id;
    answer.producer_epoch = it->second + 1;
  }
  producer_epochs_[answer.producer_id] = answer.producer_epoch;
  return wire::Message(id, std::move(answer));
}

wire::ClientMessageT FakeBroker::Produce(uint32_t node, uint64_t id,
                                         const wire::ProduceRequestT& request) {
  Partition* partition = FindPartition(request.topic, request.partition);
  if (partition == nullptr) {
    return wire::ErrorMessage(id, wire::ErrorCode::UnknownTopicOrPartition, request.topic);
  }
  if (LeaderOf(request.partition).value() != node) {
    not_leader_answers_++;
    return wire::ErrorMessage(id, wire::ErrorCode::NotLeader, "not the leader",
                              LeaderOf(request.partition).value());
  }
  absl::StatusOr<const wire::RecordBatch*> batch = wire::VerifyRecordBatch(request.batch);
  if (!batch.ok()) {
    return wire::ErrorMessage(id, wire::ErrorCode::BadRequest,
                              std::string(batch.status().message()));
  }
  const uint32_t count = (*batch)->records()->size();
  const uint64_t producer_id = (*batch)->producer_id();
  const int32_t sequence = (*batch)->base_sequence();
  ProducerState* state = nullptr;
  if (producer_id != 0) {
    auto epoch = producer_epochs_.find(producer_id);
    if (epoch != producer_epochs_.end() && (*batch)->producer_epoch() < epoch->second) {
      return wire::ErrorMessage(id, wire::ErrorCode::FencedProducerEpoch, "older epoch");
    }
    state = &partition->producers[producer_id];
    if ((*batch)->producer_epoch() < state->epoch) {
      return wire::ErrorMessage(id, wire::ErrorCode::FencedProducerEpoch, "older epoch");
    }
    if ((*batch)->producer_epoch() > state->epoch) {  // A new epoch restarts at sequence 0.
      *state = ProducerState{};
      state->epoch = (*batch)->producer_epoch();
    }
    for (const ProducerState::Recent& recent : state->recent) {
      if (recent.base_sequence == sequence && recent.records == count) {
        duplicates_++;
        wire::ProduceResponseT answer;
        answer.base_offset = request.acks == wire::Acks::Leader ? -1 : recent.base_offset;
        answer.duplicate = true;
        return wire::Message(id, std::move(answer));
      }
    }
    if (sequence != state->next_sequence) {
      out_of_order_answers_++;
      return wire::ErrorMessage(id, wire::ErrorCode::OutOfOrderSequence,
                                fmt::format("expected {}, got {}", state->next_sequence, sequence));
    }
  }
  const int64_t base_offset = partition->high_watermark;
  partition->batches.push_back(StoredBatch{base_offset, count, request.batch});
  partition->high_watermark += count;
  if (state != nullptr) {
    state->next_sequence = sequence + static_cast<int32_t>(count);
    state->recent.push_back({sequence, count, base_offset});
    if (state->recent.size() > kRecentBatchesMax) state->recent.pop_front();
  }
  appended_.NotifyAll();
  wire::ProduceResponseT answer;
  answer.base_offset = request.acks == wire::Acks::Leader ? -1 : base_offset;
  return wire::Message(id, std::move(answer));
}

int64_t FakeBroker::ServableHighWatermark(uint32_t node, uint32_t partition_index,
                                          const Partition& partition) const {
  if (LeaderOf(partition_index).value() == node || partition.follower_high_watermark < 0) {
    return partition.high_watermark;
  }
  // A replica's high watermark ends a whole batch: the last one ending by the lag's.
  int64_t high_watermark = 0;
  for (const StoredBatch& stored : partition.batches) {
    if (stored.base_offset + stored.records > partition.follower_high_watermark) break;
    high_watermark = stored.base_offset + stored.records;
  }
  return high_watermark;
}

wire::ClientMessageT FakeBroker::Fetch(uint32_t node, uint64_t id,
                                       const wire::FetchRequestT& request) {
  Partition* partition = FindPartition(request.topic, request.partition);
  if (partition == nullptr) {
    return wire::ErrorMessage(id, wire::ErrorCode::UnknownTopicOrPartition, request.topic);
  }
  const bool follower = LeaderOf(request.partition).value() != node;
  if (follower && (!request.allow_follower || follower_refusals_ > 0)) {
    if (request.allow_follower) follower_refusals_--;
    not_leader_answers_++;
    return wire::ErrorMessage(id, wire::ErrorCode::NotLeader, "not the leader",
                              LeaderOf(request.partition).value());
  }
  // A follower waits for what it has not received yet; the leader refuses past its end.
  if (request.offset < 0 || (!follower && request.offset > partition->high_watermark)) {
    wire::ClientMessageT error =
        wire::ErrorMessage(id, wire::ErrorCode::OffsetOutOfRange, "offset out of range");
    error.body.AsErrorResponse()->earliest_offset = 0;
    error.body.AsErrorResponse()->latest_offset = partition->high_watermark;
    return error;
  }
  const io::Instant deadline = runtime_.Now() + std::chrono::milliseconds(request.max_wait_ms);
  const std::string topic = request.topic;
  const uint32_t index = request.partition;
  (void)appended_.WaitUntil(
      [&] {
        Partition* p = FindPartition(topic, index);
        return p == nullptr || ServableHighWatermark(node, index, *p) > request.offset;
      },
      deadline, "long poll");
  partition = FindPartition(topic, index);  // The topic may have been deleted meanwhile.
  if (partition == nullptr) {
    return wire::ErrorMessage(id, wire::ErrorCode::UnknownTopicOrPartition, topic);
  }
  wire::FetchResponseT answer;
  answer.high_watermark = ServableHighWatermark(node, index, *partition);
  answer.log_start_offset = 0;
  size_t bytes = 0;
  for (const StoredBatch& stored : partition->batches) {
    if (stored.base_offset + stored.records <= request.offset) continue;
    if (stored.base_offset >= answer.high_watermark) break;
    if (!answer.batches.empty() && bytes + stored.bytes.size() > request.max_bytes) break;
    auto fetched = std::make_unique<wire::FetchedBatchT>();
    fetched->base_offset = stored.base_offset;
    fetched->batch = stored.bytes;
    bytes += stored.bytes.size();
    answer.batches.push_back(std::move(fetched));
  }
  fetches_served_[node]++;
  return wire::Message(id, std::move(answer));
}

void FakeBroker::LagFollower(const std::string& topic, uint32_t partition, int64_t high_watermark) {
  Partition* found = FindPartition(topic, partition);
  MERIDIAN_CHECK(found != nullptr);
  found->follower_high_watermark = high_watermark;
  appended_.NotifyAll();
}

wire::ClientMessageT FakeBroker::ListOffsets(uint32_t node, uint64_t id,
                                             const wire::ListOffsetsRequestT& request) {
  Partition* partition = FindPartition(request.topic, request.partition);
  if (partition == nullptr) {
    return wire::ErrorMessage(id, wire::ErrorCode::UnknownTopicOrPartition, request.topic);
  }
  if (LeaderOf(request.partition).value() != node && !request.allow_follower) {
    not_leader_answers_++;
    return wire::ErrorMessage(id, wire::ErrorCode::NotLeader, "not the leader",
                              LeaderOf(request.partition).value());
  }
  wire::ListOffsetsResponseT answer;
  switch (request.spec) {
    case wire::OffsetSpec::Earliest:
      answer.offset = 0;
      break;
    case wire::OffsetSpec::Latest:
      answer.offset = partition->high_watermark;
      break;
    case wire::OffsetSpec::Timestamp:
      answer.offset = partition->high_watermark;
      for (const StoredBatch& stored : partition->batches) {
        const wire::RecordBatch* batch = *wire::VerifyRecordBatch(stored.bytes);
        for (uint32_t i = 0; i < batch->records()->size(); ++i) {
          if (batch->records()->Get(i)->timestamp_ms() >= request.timestamp_ms) {
            answer.offset = stored.base_offset + i;
            return wire::Message(id, std::move(answer));
          }
        }
      }
      break;
  }
  return wire::Message(id, std::move(answer));
}

wire::ClientMessageT FakeBroker::ReplicaStatus(uint32_t node, uint64_t id) {
  wire::ReplicaStatusResponseT answer;
  answer.node_id = node;
  for (const auto& [name, partitions] : topics_) {
    for (uint32_t p = 0; p < partitions.size(); ++p) {
      auto status = std::make_unique<wire::ReplicaStatusT>();
      status->topic = name;
      status->partition = p;
      status->group = p + 1;
      status->role = LeaderOf(p).value() == node ? "leader" : "follower";
      status->term = 1;
      status->leader = LeaderOf(p).value();
      status->high_watermark = partitions[p].high_watermark;
      answer.replicas.push_back(std::move(status));
    }
  }
  return wire::Message(id, std::move(answer));
}

}  // namespace meridian::core::client::testing
