#include "core/wire/client_codec.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace meridian::wire {
namespace {

TEST(ClientCodec, RoundTripsEveryBody) {
  auto ping = DecodeClientMessage(EncodeClientMessage(Ping{42}));
  ASSERT_TRUE(ping.ok()) << ping.status();
  EXPECT_EQ(std::get<Ping>(*ping).sequence, 42u);
  auto pong = DecodeClientMessage(EncodeClientMessage(Pong{7, 3}));
  ASSERT_TRUE(pong.ok());
  EXPECT_EQ(std::get<Pong>(*pong).node_id, 3u);
  auto error = DecodeClientMessage(EncodeClientMessage(Error{ErrorCode::Unsupported, "no"}));
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(std::get<Error>(*error).message, "no");
}

TEST(ClientCodec, RoundTripsTheRaftRequests) {
  auto propose = DecodeClientMessage(EncodeClientMessage(Propose{"value-1"}));
  ASSERT_TRUE(propose.ok());
  EXPECT_EQ(std::get<Propose>(*propose).data, "value-1");
  auto status = DecodeClientMessage(EncodeClientMessage(Status{2, "leader", 5, 2, 99}));
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(std::get<Status>(*status).applied, 99u);
  EXPECT_EQ(std::get<Status>(*status).role, "leader");
  AppliedEntries entries;
  entries.entries.push_back({1, 1, ""});
  entries.entries.push_back({2, 1, "x"});
  auto read = DecodeClientMessage(EncodeClientMessage(entries));
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(std::get<AppliedEntries>(*read).entries.size(), 2u);
  EXPECT_EQ(std::get<AppliedEntries>(*read).entries[1].data, "x");
  auto error = DecodeClientMessage(EncodeClientMessage(Error{ErrorCode::NotLeader, "", 3}));
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(std::get<Error>(*error).leader, 3u);
  EXPECT_FALSE(DecodeClientMessage(EncodeClientMessage(ReadApplied{1, kReadEntriesMax + 1})).ok());
}

TEST(ClientCodec, RejectsGarbageEmptyAndBodylessMessages) {
  EXPECT_FALSE(DecodeClientMessage({}).ok());
  const std::vector<uint8_t> garbage = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  EXPECT_FALSE(DecodeClientMessage(garbage).ok());
  flatbuffers::FlatBufferBuilder builder;
  builder.Finish(CreateClientMessage(builder));  // No body.
  const std::vector<uint8_t> bodyless(builder.GetBufferPointer(),
                                      builder.GetBufferPointer() + builder.GetSize());
  EXPECT_FALSE(DecodeClientMessage(bodyless).ok());
}

TEST(ClientCodec, RejectsAUnionTypeWithoutItsValue) {
  // Regression: body_type set, body absent. FlatBuffers' verifier accepts it.
  flatbuffers::FlatBufferBuilder builder;
  ClientMessageBuilder message(builder);
  message.add_body_type(Body::PingResponse);
  builder.Finish(message.Finish());
  const std::vector<uint8_t> bytes(builder.GetBufferPointer(),
                                   builder.GetBufferPointer() + builder.GetSize());
  EXPECT_FALSE(DecodeClientMessage(bytes).ok());
}

// Untrusted bytes never crash the decoder: any mutation either decodes or is rejected.
RC_GTEST_PROP(ClientCodec, MutatedBytesNeverCrash, (uint64_t sequence, size_t position, uint8_t value)) {
  std::vector<uint8_t> bytes = EncodeClientMessage(Pong{sequence, 9});
  bytes[position % bytes.size()] = value;
  (void)DecodeClientMessage(bytes);
  bytes.resize(position % bytes.size());
  (void)DecodeClientMessage(bytes);
}

}  // namespace
}  // namespace meridian::wire
