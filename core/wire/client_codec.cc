#include "core/wire/client_codec.h"

#include <fmt/format.h>

#include "io/assert.h"

namespace meridian::core::wire {
namespace {

constexpr uint32_t kVerifierDepthMax = 16;
// A fetch response of kFetchBytesMax holds at most that many small tables; the verifier's table
// bound is a cost bound, not a format limit.
constexpr uint32_t kVerifierTablesMax = 1 << 20;

// What UnPack will copy out of a verified message, charged before it runs. The verifier bounds
// the buffer, not the copy: FlatBuffers lets any number of offsets point at one string, vector
// or table, and the object API copies each of them, so a 1 MiB message whose 4,000 topic names
// all point at one 1 MiB string unpacked into 4 GiB (found while writing fuzz/client_codec: it
// killed a broker with the first frame of a connection, before the hello). An honest encoder (Pack)
// stores every string and vector once, so what it copies totals at most the input: charging
// each string and vector (length prefix and contents) every time it is reached, against a
// budget of the input's size, accepts every honest message and refuses every amplifying one.
// Tables fan out only through vectors of offsets, which are charged per visit too, so the walk
// itself stops within budget / 4 steps. Update the walk with every new string or vector field.
class UnpackBudget {
 public:
  explicit UnpackBudget(size_t bytes_max) : bytes_left_(bytes_max) {}
  bool exceeded() const { return exceeded_; }

  void String(const flatbuffers::String* string) {
    if (string != nullptr) Charge(sizeof(flatbuffers::uoffset_t) + string->size() + 1);
  }
  template <typename T>
  void Scalars(const flatbuffers::Vector<T>* vector) {
    if (vector != nullptr) Charge(sizeof(flatbuffers::uoffset_t) + vector->size() * sizeof(T));
  }
  void Strings(const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>* vector) {
    if (vector == nullptr) return;
    Scalars(vector);
    for (flatbuffers::uoffset_t i = 0; i < vector->size() && !exceeded_; i++) {
      String(vector->Get(i));
    }
  }
  template <typename T, typename Walk>
  void Tables(const flatbuffers::Vector<flatbuffers::Offset<T>>* vector, Walk walk) {
    if (vector == nullptr) return;
    Scalars(vector);
    for (flatbuffers::uoffset_t i = 0; i < vector->size() && !exceeded_; i++) {
      if (const T* table = vector->Get(i); table != nullptr) walk(*this, *table);
    }
  }

 private:
  void Charge(size_t bytes) {
    if (bytes > bytes_left_) exceeded_ = true;
    bytes_left_ = exceeded_ ? 0 : bytes_left_ - bytes;
  }

  size_t bytes_left_;
  bool exceeded_ = false;
};

void WalkNode(UnpackBudget& budget, const NodeInfo& node) {
  budget.String(node.region());
  budget.String(node.zone());
  budget.String(node.host());
  budget.String(node.kafka_address());
}

void WalkTopic(UnpackBudget& budget, const TopicInfo& topic) {
  budget.String(topic.name());
  budget.String(topic.home_region());
  budget.String(topic.changing_home_region());
  budget.Tables(topic.partitions(), [](UnpackBudget& b, const PartitionInfo& partition) {
    b.Scalars(partition.replicas());
    b.Scalars(partition.observers());
    b.Scalars(partition.target_replicas());
    b.Scalars(partition.target_observers());
  });
}

void WalkReplicaStatus(UnpackBudget& budget, const ReplicaStatus& status) {
  budget.String(status.topic());
  budget.String(status.role());
}

void WalkTopicPartitions(UnpackBudget& budget, const TopicPartitions& partitions) {
  budget.String(partitions.topic());
  budget.Scalars(partitions.partitions());
}

void WalkPartitionOffset(UnpackBudget& budget, const PartitionOffset& offset) {
  budget.String(offset.topic());
  budget.String(offset.metadata());
}

void WalkGroupInfo(UnpackBudget& budget, const GroupInfo& group) {
  budget.String(group.group());
  budget.String(group.state());
  budget.Tables(group.members(), [](UnpackBudget& b, const GroupMemberInfo& member) {
    b.String(member.member_id());
    b.String(member.client_id());
    b.Strings(member.topics());
    b.Tables(member.assignment(), WalkTopicPartitions);
  });
  budget.Tables(group.offsets(), WalkPartitionOffset);
}

void WalkGroupMemberBytes(UnpackBudget& budget, const GroupMemberBytes& member) {
  budget.String(member.member_id());
  budget.Scalars(member.bytes());
}

// The consumer-group bodies (client.fbs "Consumer groups").
void WalkGroupBody(UnpackBudget& budget, const ClientMessage& message) {
  if (const auto* body = message.body_as_FindCoordinatorRequest()) budget.String(body->group());
  if (const auto* body = message.body_as_FindCoordinatorResponse()) {
    if (body->topic() != nullptr) WalkTopic(budget, *body->topic());
  }
  if (const auto* body = message.body_as_JoinGroupRequest()) {
    budget.String(body->group());
    budget.String(body->member_id());
    budget.String(body->client_id());
    budget.Strings(body->topics());
    budget.String(body->protocol_type());
    budget.Tables(body->protocols(), [](UnpackBudget& b, const GroupProtocol& protocol) {
      b.String(protocol.name());
      b.Scalars(protocol.metadata());
    });
  }
  if (const auto* body = message.body_as_JoinGroupResponse()) {
    budget.String(body->member_id());
    budget.Tables(body->assignment(), WalkTopicPartitions);
    budget.String(body->protocol());
    budget.String(body->leader());
    budget.Tables(body->member_metadata(), WalkGroupMemberBytes);
  }
  if (const auto* body = message.body_as_SyncGroupRequest()) {
    budget.String(body->group());
    budget.String(body->member_id());
    budget.Tables(body->assignments(), WalkGroupMemberBytes);
  }
  if (const auto* body = message.body_as_SyncGroupResponse()) {
    budget.String(body->protocol());
    budget.Scalars(body->assignment());
  }
  if (const auto* body = message.body_as_HeartbeatRequest()) {
    budget.String(body->group());
    budget.String(body->member_id());
  }
  if (const auto* body = message.body_as_LeaveGroupRequest()) {
    budget.String(body->group());
    budget.String(body->member_id());
  }
  if (const auto* body = message.body_as_OffsetCommitRequest()) {
    budget.String(body->group());
    budget.String(body->member_id());
    budget.Tables(body->offsets(), WalkPartitionOffset);
  }
  if (const auto* body = message.body_as_OffsetFetchRequest()) {
    budget.String(body->group());
    budget.Strings(body->topics());
  }
  if (const auto* body = message.body_as_OffsetFetchResponse()) {
    budget.Tables(body->offsets(), WalkPartitionOffset);
  }
  if (const auto* body = message.body_as_DescribeGroupsRequest()) budget.String(body->group());
  if (const auto* body = message.body_as_DescribeGroupsResponse()) {
    budget.Tables(body->groups(), WalkGroupInfo);
  }
  if (const auto* body = message.body_as_DeleteGroupRequest()) budget.String(body->group());
}

// Charges every string and vector UnPack copies out of `message`'s body.
void WalkBody(UnpackBudget& budget, const ClientMessage& message) {
  static_assert(Body::MAX == Body::AlterTopicConfigResponse,
                "a new body type: charge its strings and vectors here");
  if (const auto* body = message.body_as_ErrorResponse()) budget.String(body->message());
  if (const auto* body = message.body_as_HelloRequest()) budget.String(body->client_id());
  if (const auto* body = message.body_as_MetadataRequest()) budget.Strings(body->topics());
  if (const auto* body = message.body_as_MetadataResponse()) {
    budget.Tables(body->nodes(), WalkNode);
    budget.Tables(body->topics(), WalkTopic);
    budget.Strings(body->missing_topics());
  }
  if (const auto* body = message.body_as_CreateTopicRequest()) {
    budget.String(body->name());
    budget.String(body->home_region());
  }
  if (const auto* body = message.body_as_CreateTopicResponse()) {
    if (body->topic() != nullptr) WalkTopic(budget, *body->topic());
  }
  if (const auto* body = message.body_as_PromotePartitionRequest()) budget.String(body->topic());
  if (const auto* body = message.body_as_ReassignPartitionRequest()) {
    budget.String(body->topic());
    budget.Scalars(body->replicas());
    budget.Scalars(body->observers());
  }
  if (const auto* body = message.body_as_ReassignPartitionResponse()) {
    budget.Scalars(body->target_replicas());
    budget.Scalars(body->target_observers());
  }
  if (const auto* body = message.body_as_DeleteTopicRequest()) budget.String(body->name());
  if (const auto* body = message.body_as_ProduceRequest()) {
    budget.String(body->topic());
    budget.Scalars(body->batch());
  }
  if (const auto* body = message.body_as_FetchRequest()) budget.String(body->topic());
  if (const auto* body = message.body_as_FetchResponse()) {
    budget.Tables(body->batches(),
                  [](UnpackBudget& b, const FetchedBatch& batch) { b.Scalars(batch.batch()); });
  }
  if (const auto* body = message.body_as_ListOffsetsRequest()) budget.String(body->topic());
  if (const auto* body = message.body_as_RegisterNodeRequest()) {
    if (body->node() != nullptr) WalkNode(budget, *body->node());
  }
  if (const auto* body = message.body_as_ReplicaStatusResponse()) {
    budget.Tables(body->replicas(), WalkReplicaStatus);
  }
  if (const auto* body = message.body_as_CreatePartitionsRequest()) budget.String(body->topic());
  if (const auto* body = message.body_as_CreatePartitionsResponse()) {
    if (body->topic() != nullptr) WalkTopic(budget, *body->topic());
  }
  if (const auto* body = message.body_as_AlterTopicConfigRequest()) {
    budget.String(body->topic());
    budget.String(body->home_region());
  }
  if (const auto* body = message.body_as_AlterTopicConfigResponse()) {
    if (body->topic() != nullptr) WalkTopic(budget, *body->topic());
  }
  WalkGroupBody(budget, message);
  const auto walk_quota = [](UnpackBudget& b, const QuotaEntry& quota) { b.String(quota.name()); };
  if (const auto* body = message.body_as_SetQuotaRequest()) {
    if (body->quota() != nullptr) walk_quota(budget, *body->quota());
  }
  if (const auto* body = message.body_as_DescribeQuotasResponse()) {
    budget.Tables(body->quotas(), walk_quota);
  }
}

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
  UnpackBudget budget(bytes.size());
  WalkBody(budget, *message);
  if (budget.exceeded()) {
    return absl::InvalidArgumentError(fmt::format(
        "client message of {} bytes refers to its strings or vectors more than once and would "
        "unpack into more than its size",
        bytes.size()));
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

uint32_t GroupPartition(std::string_view group, uint32_t partitions) {
  MERIDIAN_CHECK(partitions > 0);
  uint32_t hash = 2166136261u;
  for (char c : group) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 16777619u;
  }
  return hash % partitions;
}

ClientMessageT ErrorMessage(uint64_t request_id, ErrorCode code, std::string text,
                            uint32_t leader) {
  ErrorResponseT error;
  error.code = code;
  error.message = std::move(text);
  error.leader = leader;
  return Message(request_id, std::move(error));
}

}  // namespace meridian::core::wire
