#include "core/wire/client_codec.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace meridian::core::wire {
namespace {

std::vector<uint8_t> Bytes(std::string_view text) { return {text.begin(), text.end()}; }

RecordBatchT SampleBatch() {
  RecordBatchT batch;
  batch.producer_id = 77;
  batch.producer_epoch = 2;
  batch.base_sequence = 10;
  for (int i = 0; i < 3; i++) {
    auto record = std::make_unique<RecordT>();
    record->timestamp_ms = 1000 + i;
    record->key = Bytes(fmt::format("k{}", i));
    record->value = Bytes(fmt::format("value-{}", i));
    auto header = std::make_unique<HeaderT>();
    header->key = "h";
    header->value = Bytes("v");
    record->headers.push_back(std::move(header));
    batch.records.push_back(std::move(record));
  }
  return batch;
}

// A message whose vector holds many offsets to one string: what the object API would copy.
std::vector<uint8_t> SharedStrings(size_t string_bytes, size_t references) {
  flatbuffers::FlatBufferBuilder builder;
  const auto name = builder.CreateString(std::string(string_bytes, 'a'));
  const std::vector<flatbuffers::Offset<flatbuffers::String>> names(references, name);
  const auto request = CreateMetadataRequest(builder, builder.CreateVector(names));
  builder.Finish(CreateClientMessage(builder, 1, Body::MetadataRequest, request.Union()));
  return {builder.GetBufferPointer(), builder.GetBufferPointer() + builder.GetSize()};
}

TEST(ClientCodec, RefusesSharedOffsetsThatWouldUnpackIntoGigabytes) {
  // 1 MiB on the wire, 4 GiB once unpacked: it used to end in std::bad_alloc (an abort) in
  // whichever broker decoded it, from the first frame of a connection.
  const std::vector<uint8_t> bomb = SharedStrings(1 << 20, 4000);
  ASSERT_LE(bomb.size(), kClientMessageBytesMax);
  const auto decoded = DecodeClientMessage(bomb);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(DecodeClientMessage(SharedStrings(100, 1)).ok()) << "one reference is honest";
}

// A metadata response whose partitions all share one observers vector of `node_ids` ids.
std::vector<uint8_t> SharedObservers(size_t node_ids, size_t partitions) {
  flatbuffers::FlatBufferBuilder builder;
  const auto observers = builder.CreateVector(std::vector<uint32_t>(node_ids, 7));
  PartitionInfoBuilder partition(builder);
  partition.add_observers(observers);
  const auto shared = partition.Finish();
  const std::vector<flatbuffers::Offset<PartitionInfo>> all(partitions, shared);
  const auto topic = CreateTopicInfo(builder, builder.CreateString("t"), builder.CreateVector(all));
  const std::vector<flatbuffers::Offset<TopicInfo>> topics{topic};
  const auto response = CreateMetadataResponse(builder, 0, builder.CreateVector(topics));
  builder.Finish(CreateClientMessage(builder, 1, Body::MetadataResponse, response.Union()));
  return {builder.GetBufferPointer(), builder.GetBufferPointer() + builder.GetSize()};
}

// A join request whose subscription names one long topic string many times.
std::vector<uint8_t> SharedSubscription(size_t string_bytes, size_t references) {
  flatbuffers::FlatBufferBuilder builder;
  const auto name = builder.CreateString(std::string(string_bytes, 't'));
  const std::vector<flatbuffers::Offset<flatbuffers::String>> names(references, name);
  const auto group = builder.CreateString("g");
  const auto request = CreateJoinGroupRequest(builder, group, 0, 0, builder.CreateVector(names));
  builder.Finish(CreateClientMessage(builder, 1, Body::JoinGroupRequest, request.Union()));
  return {builder.GetBufferPointer(), builder.GetBufferPointer() + builder.GetSize()};
}

TEST(ClientCodec, ChargesObserversAndGroupSubscriptionsAgainstTheUnpackBudget) {
  // The observers vector was added without its charge: 1 MiB of ids shared by 4000 partitions
  // unpacked into 4 GiB. Same for a JoinGroupRequest's subscription strings.
  for (const std::vector<uint8_t>& bomb :
       {SharedObservers(1 << 18, 4000), SharedSubscription(1 << 20, 4000)}) {
    ASSERT_LE(bomb.size(), kClientMessageBytesMax);
    const auto decoded = DecodeClientMessage(bomb);
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(DecodeClientMessage(SharedObservers(3, 1)).ok());
  EXPECT_TRUE(DecodeClientMessage(SharedSubscription(10, 1)).ok());
}

TEST(ClientCodec, RoundTripsAProduceRequestWithItsNestedBatch) {
  ProduceRequestT produce;
  produce.topic = "orders";
  produce.partition = 3;
  produce.acks = Acks::Leader;
  produce.batch = EncodeRecordBatch(SampleBatch());
  auto decoded = DecodeClientMessage(EncodeClientMessage(Message(41, std::move(produce))));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ((*decoded)->request_id, 41u);
  const ProduceRequestT* request = (*decoded)->body.AsProduceRequest();
  ASSERT_NE(request, nullptr);
  EXPECT_EQ(request->topic, "orders");
  EXPECT_EQ(request->acks, Acks::Leader);
  auto batch = VerifyRecordBatch(request->batch);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ((*batch)->producer_id(), 77u);
  ASSERT_EQ((*batch)->records()->size(), 3u);
  EXPECT_EQ((*batch)->records()->Get(2)->timestamp_ms(), 1002);
}

TEST(ClientCodec, RoundTripsAnError) {
  auto decoded =
      DecodeClientMessage(EncodeClientMessage(ErrorMessage(5, ErrorCode::NotLeader, "no", 3)));
  ASSERT_TRUE(decoded.ok());
  const ErrorResponseT* error = (*decoded)->body.AsErrorResponse();
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(error->code, ErrorCode::NotLeader);
  EXPECT_EQ(error->leader, 3u);
  EXPECT_EQ(error->message, "no");
}

TEST(ClientCodec, RejectsGarbageEmptyAndBodylessMessages) {
  EXPECT_FALSE(DecodeClientMessage({}).ok());
  const std::vector<uint8_t> garbage = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  EXPECT_FALSE(DecodeClientMessage(garbage).ok());
  flatbuffers::FlatBufferBuilder builder;
  builder.Finish(CreateClientMessage(builder));  // No body.
  EXPECT_FALSE(DecodeClientMessage({builder.GetBufferPointer(), builder.GetSize()}).ok());
}

TEST(ClientCodec, RejectsAUnionTypeWithoutItsValue) {
  // Regression: body_type set, body absent. FlatBuffers' verifier accepts it.
  flatbuffers::FlatBufferBuilder builder;
  ClientMessageBuilder message(builder);
  message.add_body_type(Body::ProduceResponse);
  builder.Finish(message.Finish());
  EXPECT_FALSE(DecodeClientMessage({builder.GetBufferPointer(), builder.GetSize()}).ok());
}

TEST(ClientCodec, RejectsAUnionTypeFromTheFuture) {
  // The verifier passes unknown union members (forward compatibility); UnPack would drop them.
  flatbuffers::FlatBufferBuilder builder;
  auto hello = CreateHelloResponse(builder, 1, 1);
  ClientMessageBuilder message(builder);
  message.add_body_type(static_cast<Body>(200));
  message.add_body(hello.Union());
  builder.Finish(message.Finish());
  EXPECT_FALSE(DecodeClientMessage({builder.GetBufferPointer(), builder.GetSize()}).ok());
}

TEST(ClientCodec, RejectsAProduceRequestWhoseNestedBatchIsGarbage) {
  ProduceRequestT produce;
  produce.topic = "t";
  produce.batch = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
  const std::vector<uint8_t> bytes = EncodeClientMessage(Message(1, std::move(produce)));
  EXPECT_FALSE(DecodeClientMessage(bytes).ok());
}

TEST(RecordBatchCodec, RejectsEmptyOversizedAndNegativeSequenceBatches) {
  RecordBatchT empty;
  EXPECT_FALSE(VerifyRecordBatch(EncodeRecordBatch(empty)).ok());
  RecordBatchT negative = SampleBatch();
  negative.base_sequence = -1;
  EXPECT_FALSE(VerifyRecordBatch(EncodeRecordBatch(negative)).ok());
  RecordBatchT big = SampleBatch();
  big.records[0]->value.assign(kBatchBytesMax, 'x');
  EXPECT_FALSE(VerifyRecordBatch(EncodeRecordBatch(big)).ok());
  EXPECT_TRUE(VerifyRecordBatch(EncodeRecordBatch(SampleBatch())).ok());
}

TEST(ClientCodec, AnOversizedMessageEncodesButDoesNotFitAFrame) {
  // Senders check before writing (the broker answers with an error instead); encoding itself
  // must not crash, whatever the message holds.
  MetadataResponseT metadata;
  for (int i = 0; i < 30'000; i++) {
    auto topic = std::make_unique<TopicInfoT>();
    topic->name = std::string(200, 'a') + std::to_string(i);
    metadata.topics.push_back(std::move(topic));
  }
  const std::vector<uint8_t> bytes = EncodeClientMessage(Message(1, std::move(metadata)));
  EXPECT_GT(bytes.size(), kClientMessageBytesMax);
  EXPECT_FALSE(FitsInAFrame(bytes));
  EXPECT_TRUE(FitsInAFrame(EncodeClientMessage(ErrorMessage(1, ErrorCode::BadRequest, "x"))));
}

// Untrusted bytes never crash the decoder: any mutation either decodes or is rejected.
RC_GTEST_PROP(ClientCodec, MutatedBytesNeverCrash, (size_t position, uint8_t value)) {
  ProduceRequestT produce;
  produce.topic = "orders";
  produce.batch = EncodeRecordBatch(SampleBatch());
  std::vector<uint8_t> bytes = EncodeClientMessage(Message(1, std::move(produce)));
  bytes[position % bytes.size()] = value;
  if (auto decoded = DecodeClientMessage(bytes); decoded.ok()) {
    if (const ProduceRequestT* request = (*decoded)->body.AsProduceRequest()) {
      (void)VerifyRecordBatch(request->batch);
    }
  }
  bytes.resize(position % bytes.size());
  (void)DecodeClientMessage(bytes);
}

}  // namespace
}  // namespace meridian::core::wire
