// The consumer-group codec (group_messages.h): request decoders field by field and under every
// truncation, bounds on opaque bytes, response layouts per version, the group error mapping.
#include <gtest/gtest.h>

#include <string>

#include "core/kafka/bytes.h"
#include "core/kafka/group_messages.h"
#include "core/kafka/translate.h"

namespace meridian::core::kafka {
namespace {

// Every strict prefix of `body` must be refused, and so must `body` plus one byte.
template <typename Decode>
void ExpectEveryTruncationRefused(const std::vector<uint8_t>& body, Decode decode) {
  for (size_t n = 0; n < body.size(); n++) {
    EXPECT_FALSE(decode(std::span<const uint8_t>(body.data(), n)).ok()) << "prefix " << n;
  }
  std::vector<uint8_t> longer = body;
  longer.push_back(0);
  EXPECT_FALSE(decode(longer).ok()) << "a byte left over";
}

std::vector<uint8_t> JoinGroupV5() {
  Writer w;
  w.String("g");
  w.Int32(10000);  // session.
  w.Int32(30000);  // rebalance.
  w.String("m-1");
  w.NullableString(std::nullopt);  // group_instance_id.
  w.String("consumer");
  w.ArrayCount(2);
  w.String("range");
  w.Bytes(std::vector<uint8_t>{1, 2, 3});
  w.String("roundrobin");
  w.Bytes(std::vector<uint8_t>{4});
  return w.Take();
}

TEST(GroupRequests, JoinGroupV5DecodesEveryField) {
  const std::vector<uint8_t> body = JoinGroupV5();
  absl::StatusOr<JoinGroupRequest> join = DecodeJoinGroupRequest(body, 5);
  ASSERT_TRUE(join.ok()) << join.status();
  EXPECT_EQ(join->group_id, "g");
  EXPECT_EQ(join->session_timeout_ms, 10000);
  EXPECT_EQ(join->rebalance_timeout_ms, 30000);
  EXPECT_EQ(join->member_id, "m-1");
  EXPECT_EQ(join->protocol_type, "consumer");
  ASSERT_EQ(join->protocols.size(), 2u);
  EXPECT_EQ(join->protocols[0].name, "range");
  EXPECT_EQ(join->protocols[0].bytes, (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_EQ(join->protocols[1].name, "roundrobin");
  ExpectEveryTruncationRefused(body, [](auto b) { return DecodeJoinGroupRequest(b, 5); });
}

TEST(GroupRequests, JoinGroupV0HasNoRebalanceTimeout) {
  Writer w;
  w.String("g");
  w.Int32(6000);
  w.String("");
  w.String("consumer");
  w.ArrayCount(1);
  w.String("range");
  w.Bytes(std::vector<uint8_t>{});
  absl::StatusOr<JoinGroupRequest> join = DecodeJoinGroupRequest(w.bytes(), 0);
  ASSERT_TRUE(join.ok()) << join.status();
  EXPECT_EQ(join->rebalance_timeout_ms, 6000);  // v0: the session timeout.
  EXPECT_TRUE(join->member_id.empty());
}

TEST(GroupRequests, OversizedMetadataAndTooManyProtocolsAreRefused) {
  Writer big;
  big.String("g");
  big.Int32(6000);
  big.String("");
  big.String("consumer");
  big.ArrayCount(1);
  big.String("range");
  big.Bytes(std::vector<uint8_t>(kGroupBytesMax + 1, 0));
  EXPECT_FALSE(DecodeJoinGroupRequest(big.bytes(), 0).ok());
  Writer many;
  many.String("g");
  many.Int32(6000);
  many.String("");
  many.String("consumer");
  many.ArrayCount(kGroupProtocolsMax + 1);
  for (size_t i = 0; i <= kGroupProtocolsMax; i++) {
    many.String("p");
    many.Bytes(std::vector<uint8_t>{});
  }
  EXPECT_FALSE(DecodeJoinGroupRequest(many.bytes(), 0).ok());
  Writer lying;  // A count far beyond the bytes there.
  lying.String("g");
  lying.Int32(1);
  lying.String("m");
  lying.ArrayCount(1000);
  EXPECT_FALSE(DecodeSyncGroupRequest(lying.bytes(), 0).ok());
}

TEST(GroupRequests, SyncHeartbeatLeaveDecode) {
  Writer sync;
  sync.String("g");
  sync.Int32(3);
  sync.String("m-1");
  sync.NullableString(std::nullopt);
  sync.ArrayCount(1);
  sync.String("m-1");
  sync.Bytes(std::vector<uint8_t>{9, 9});
  absl::StatusOr<SyncGroupRequest> s = DecodeSyncGroupRequest(sync.bytes(), 3);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->generation_id, 3);
  ASSERT_EQ(s->assignments.size(), 1u);
  EXPECT_EQ(s->assignments[0].name, "m-1");
  EXPECT_EQ(s->assignments[0].bytes, (std::vector<uint8_t>{9, 9}));
  ExpectEveryTruncationRefused(sync.bytes(), [](auto b) { return DecodeSyncGroupRequest(b, 3); });

  Writer heartbeat;
  heartbeat.String("g");
  heartbeat.Int32(3);
  heartbeat.String("m-1");
  absl::StatusOr<HeartbeatRequest> h = DecodeHeartbeatRequest(heartbeat.bytes(), 1);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->member_id, "m-1");
  ExpectEveryTruncationRefused(heartbeat.bytes(),
                               [](auto b) { return DecodeHeartbeatRequest(b, 1); });

  Writer leave;  // v3: a batch of members.
  leave.String("g");
  leave.ArrayCount(2);
  leave.String("a");
  leave.NullableString(std::nullopt);
  leave.String("b");
  leave.NullableString("static-b");
  absl::StatusOr<LeaveGroupRequest> l = DecodeLeaveGroupRequest(leave.bytes(), 3);
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->member_ids, (std::vector<std::string>{"a", "b"}));
  ExpectEveryTruncationRefused(leave.bytes(), [](auto b) { return DecodeLeaveGroupRequest(b, 3); });
  Writer leave1;
  leave1.String("g");
  leave1.String("a");
  ASSERT_TRUE(DecodeLeaveGroupRequest(leave1.bytes(), 1).ok());
  EXPECT_EQ(DecodeLeaveGroupRequest(leave1.bytes(), 1)->member_ids.size(), 1u);
}

TEST(GroupRequests, OffsetCommitAndFetchDecode) {
  Writer commit;  // v2: with retention_time.
  commit.String("g");
  commit.Int32(-1);
  commit.String("");
  commit.Int64(-1);
  commit.ArrayCount(1);
  commit.String("t");
  commit.ArrayCount(2);
  commit.Int32(0);
  commit.Int64(42);
  commit.NullableString("meta");
  commit.Int32(1);
  commit.Int64(7);
  commit.NullableString(std::nullopt);
  absl::StatusOr<OffsetCommitRequest> c = DecodeOffsetCommitRequest(commit.bytes(), 2);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->generation_id, -1);
  EXPECT_TRUE(c->member_id.empty());
  ASSERT_EQ(c->topics.size(), 1u);
  ASSERT_EQ(c->topics[0].second.size(), 2u);
  EXPECT_EQ(c->topics[0].second[0].offset, 42);
  EXPECT_EQ(c->topics[0].second[0].metadata, "meta");
  EXPECT_FALSE(c->topics[0].second[1].metadata.has_value());
  ExpectEveryTruncationRefused(commit.bytes(),
                               [](auto b) { return DecodeOffsetCommitRequest(b, 2); });

  Writer all;  // v5, null topics: everything committed.
  all.String("g");
  all.Int32(-1);
  absl::StatusOr<OffsetFetchRequest> f = DecodeOffsetFetchRequest(all.bytes(), 5);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_FALSE(f->topics.has_value());
  Writer some;
  some.String("g");
  some.ArrayCount(1);
  some.String("t");
  some.ArrayCount(2);
  some.Int32(0);
  some.Int32(3);
  f = DecodeOffsetFetchRequest(some.bytes(), 2);
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE(f->topics.has_value());
  EXPECT_EQ((*f->topics)[0].second, (std::vector<int32_t>{0, 3}));
  ExpectEveryTruncationRefused(some.bytes(), [](auto b) { return DecodeOffsetFetchRequest(b, 2); });

  Writer find;
  find.String("g");
  find.Int8(0);
  ASSERT_TRUE(DecodeFindCoordinatorRequest(find.bytes(), 2).ok());
  EXPECT_FALSE(DecodeFindCoordinatorRequest(find.bytes(), 0).ok());  // v0 has no key_type.
}

TEST(GroupResponses, LayoutsPerVersion) {
  FindCoordinatorResponse coordinator{0, std::nullopt, 2, "h", 9092};
  const std::vector<uint8_t> find_v0 = EncodeFindCoordinatorResponse(coordinator, 0);
  Reader find(find_v0);
  EXPECT_EQ(find.Int16(), 0);
  EXPECT_EQ(find.Int32(), 2);
  EXPECT_EQ(find.String(), "h");
  EXPECT_EQ(find.Int32(), 9092);
  EXPECT_EQ(find.remaining(), 0u);
  EXPECT_EQ(EncodeFindCoordinatorResponse(coordinator, 1).size(), 4u + 2 + 2 + 4 + 3 + 4);

  JoinGroupResponse join{0, 4, "range", "m-1", "m-1", {{"m-1", {1}}, {"m-2", {2, 2}}}};
  const std::vector<uint8_t> join_v5 = EncodeJoinGroupResponse(join, 5);
  Reader j(join_v5);
  EXPECT_EQ(j.Int32(), 0);  // throttle.
  EXPECT_EQ(j.Int16(), 0);
  EXPECT_EQ(j.Int32(), 4);
  EXPECT_EQ(j.String(), "range");
  EXPECT_EQ(j.String(), "m-1");
  EXPECT_EQ(j.String(), "m-1");
  EXPECT_EQ(j.ArrayCount(10), 2u);
  EXPECT_EQ(j.String(), "m-1");
  EXPECT_FALSE(j.NullableString().has_value());  // v5: group_instance_id.
  EXPECT_EQ(j.Bytes().size(), 1u);
  EXPECT_EQ(j.String(), "m-2");
  EXPECT_FALSE(j.NullableString().has_value());
  EXPECT_EQ(j.Bytes().size(), 2u);
  EXPECT_EQ(j.remaining(), 0u);

  EXPECT_EQ(EncodeSyncGroupResponse({0, {7}}, 0), (std::vector<uint8_t>{0, 0, 0, 0, 0, 1, 7}));
  EXPECT_EQ(EncodeHeartbeatResponse(error::kRebalanceInProgress, 0), (std::vector<uint8_t>{0, 27}));
  const std::vector<uint8_t> leave_v3 = EncodeLeaveGroupResponse({0, {{"a", 25}}}, 3);
  Reader leave(leave_v3);
  EXPECT_EQ(leave.Int32(), 0);
  EXPECT_EQ(leave.Int16(), 0);
  EXPECT_EQ(leave.ArrayCount(10), 1u);
  EXPECT_EQ(leave.String(), "a");
  EXPECT_FALSE(leave.NullableString().has_value());
  EXPECT_EQ(leave.Int16(), 25);
  EXPECT_EQ(leave.remaining(), 0u);

  OffsetFetchResponse fetched{{{"t", {{0, 42, "meta", 0}, {1, -1, "", 0}}}}, 0};
  const std::vector<uint8_t> fetch_v5 = EncodeOffsetFetchResponse(fetched, 5);
  Reader f(fetch_v5);
  EXPECT_EQ(f.Int32(), 0);
  EXPECT_EQ(f.ArrayCount(10), 1u);
  EXPECT_EQ(f.String(), "t");
  EXPECT_EQ(f.ArrayCount(10), 2u);
  EXPECT_EQ(f.Int32(), 0);
  EXPECT_EQ(f.Int64(), 42);
  EXPECT_EQ(f.Int32(), -1);  // v5: leader epoch.
  EXPECT_EQ(f.NullableString(), "meta");
  EXPECT_EQ(f.Int16(), 0);
  EXPECT_EQ(f.Int32(), 1);
  EXPECT_EQ(f.Int64(), -1);
  (void)f.Int32();
  (void)f.NullableString();
  (void)f.Int16();
  EXPECT_EQ(f.Int16(), 0);  // The top-level error.
  EXPECT_EQ(f.remaining(), 0u);

  const std::vector<uint8_t> commit_v7 = EncodeOffsetCommitResponse({{"t", {{0, 22}}}}, 7);
  Reader commit(commit_v7);
  EXPECT_EQ(commit.Int32(), 0);
  EXPECT_EQ(commit.ArrayCount(10), 1u);
  EXPECT_EQ(commit.String(), "t");
  EXPECT_EQ(commit.ArrayCount(10), 1u);
  EXPECT_EQ(commit.Int32(), 0);
  EXPECT_EQ(commit.Int16(), error::kIllegalGeneration);
}

TEST(GroupErrors, MeridianCodesMapToWhatKafkaGroupClientsActOn) {
  using wire::ErrorCode;
  EXPECT_EQ(KafkaErrorCode(ErrorCode::NotLeader, RequestKind::kGroup), error::kNotCoordinator);
  EXPECT_EQ(KafkaErrorCode(ErrorCode::Failed, RequestKind::kGroup), error::kNotCoordinator);
  EXPECT_EQ(KafkaErrorCode(ErrorCode::UnknownTopicOrPartition, RequestKind::kGroup),
            error::kCoordinatorNotAvailable);
  EXPECT_EQ(KafkaErrorCode(ErrorCode::UnknownMemberId, RequestKind::kGroup),
            error::kUnknownMemberId);
  EXPECT_EQ(KafkaErrorCode(ErrorCode::IllegalGeneration, RequestKind::kGroup),
            error::kIllegalGeneration);
  EXPECT_EQ(KafkaErrorCode(ErrorCode::RebalanceInProgress, RequestKind::kGroup),
            error::kRebalanceInProgress);
  EXPECT_EQ(KafkaErrorCode(ErrorCode::InconsistentAssignor, RequestKind::kGroup),
            error::kInconsistentGroupProtocol);
  EXPECT_EQ(KafkaErrorCode(ErrorCode::GroupNotEmpty, RequestKind::kGroup), error::kUnknownMemberId);
  EXPECT_EQ(KafkaErrorCode(ErrorCode::InvalidConfig, RequestKind::kGroup),
            error::kInvalidSessionTimeout);
  EXPECT_EQ(KafkaErrorCode(ErrorCode::BadRequest, RequestKind::kGroup), error::kInvalidRequest);
  EXPECT_EQ(KafkaErrorCode(ErrorCode::GroupIdNotFound, RequestKind::kGroup),
            error::kGroupIdNotFound);
  EXPECT_EQ(KafkaErrorCode(ErrorCode::NotAuthorized, RequestKind::kGroup),
            error::kGroupAuthorizationFailed);
}

TEST(GroupResponses, ListGroupsV0HasNoThrottleTimeAndV1Does) {
  const ListGroupsResponse response{.groups = {{"g1", "consumer"}, {"g2", "consumer"}}};
  for (int16_t v : {0, 1, 2}) {
    const std::vector<uint8_t> body = EncodeListGroupsResponse(response, v);
    Reader reader(body);
    if (v >= 1) {
      EXPECT_EQ(reader.Int32(), 0);  // throttle.
    }
    EXPECT_EQ(reader.Int16(), 0);
    ASSERT_EQ(reader.ArrayCount(10), 2u);
    EXPECT_EQ(reader.String(), "g1");
    EXPECT_EQ(reader.String(), "consumer");
    EXPECT_EQ(reader.String(), "g2");
    EXPECT_EQ(reader.String(), "consumer");
    EXPECT_TRUE(reader.ok());
    EXPECT_EQ(reader.remaining(), 0u) << "v" << v;
  }
}

TEST(GroupRequests, DescribeGroupsV0AndV3DecodeAndEveryTruncationIsRefused) {
  Writer v0;
  v0.ArrayCount(2);
  v0.String("g1");
  v0.String("g2");
  absl::StatusOr<DescribeGroupsRequest> request = DecodeDescribeGroupsRequest(v0.bytes(), 0);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->groups, (std::vector<std::string>{"g1", "g2"}));
  EXPECT_FALSE(DecodeDescribeGroupsRequest(v0.bytes(), 3).ok())
      << "v3 carries include_authorized_operations";
  ExpectEveryTruncationRefused(v0.bytes(), [](std::span<const uint8_t> body) {
    return DecodeDescribeGroupsRequest(body, 2);
  });
  Writer v3 = v0;
  v3.Bool(true);
  request = DecodeDescribeGroupsRequest(v3.bytes(), 4);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_TRUE(request->include_authorized_operations);
  ExpectEveryTruncationRefused(v3.bytes(), [](std::span<const uint8_t> body) {
    return DecodeDescribeGroupsRequest(body, 3);
  });
}

TEST(GroupResponses, DescribeGroupsLayoutsPerVersion) {
  const std::vector<DescribedGroup> groups = {
      {.group_id = "g",
       .state = "Stable",
       .protocol_type = "consumer",
       .protocol = "range",
       .members = {{"m-1", "c", "/10.0.0.1", {1, 2}, {3}}}},
      {.error_code = error::kNotCoordinator, .group_id = "h", .state = "Dead"}};
  for (int16_t v : {0, 1, 2, 3, 4}) {
    const std::vector<uint8_t> body = EncodeDescribeGroupsResponse(groups, v);
    Reader reader(body);
    if (v >= 1) {
      EXPECT_EQ(reader.Int32(), 0);  // throttle.
    }
    ASSERT_EQ(reader.ArrayCount(10), 2u);
    EXPECT_EQ(reader.Int16(), error::kNone);
    EXPECT_EQ(reader.String(), "g");
    EXPECT_EQ(reader.String(), "Stable");
    EXPECT_EQ(reader.String(), "consumer");
    EXPECT_EQ(reader.String(), "range");
    ASSERT_EQ(reader.ArrayCount(10), 1u);
    EXPECT_EQ(reader.String(), "m-1");
    if (v >= 4) {
      EXPECT_EQ(reader.NullableString(), std::nullopt);  // group_instance_id.
    }
    EXPECT_EQ(reader.String(), "c");
    EXPECT_EQ(reader.String(), "/10.0.0.1");
    const std::span<const uint8_t> metadata = reader.Bytes();
    EXPECT_EQ(std::vector<uint8_t>(metadata.begin(), metadata.end()), (std::vector<uint8_t>{1, 2}));
    EXPECT_EQ(reader.Bytes().size(), 1u);
    if (v >= 3) {
      EXPECT_EQ(reader.Int32(), INT32_MIN);  // authorized_operations.
    }
    EXPECT_EQ(reader.Int16(), error::kNotCoordinator);
    EXPECT_EQ(reader.String(), "h");
    EXPECT_EQ(reader.String(), "Dead");
    EXPECT_EQ(reader.String(), "");
    EXPECT_EQ(reader.String(), "");
    EXPECT_EQ(reader.ArrayCount(10), 0u);
    if (v >= 3) {
      EXPECT_EQ(reader.Int32(), INT32_MIN);
    }
    EXPECT_TRUE(reader.ok());
    EXPECT_EQ(reader.remaining(), 0u) << "v" << v;
  }
}

TEST(GroupRequests, DeleteGroupsV0AndV1DecodeAndEveryTruncationIsRefused) {
  Writer w;
  w.ArrayCount(3);
  w.String("a");
  w.String("");
  w.String(std::string(300, 'x'));
  for (int16_t v : {0, 1}) {
    absl::StatusOr<DeleteGroupsRequest> request = DecodeDeleteGroupsRequest(w.bytes(), v);
    ASSERT_TRUE(request.ok()) << request.status();
    EXPECT_EQ(request->groups, (std::vector<std::string>{"a", "", std::string(300, 'x')}));
    ExpectEveryTruncationRefused(w.bytes(), [v](std::span<const uint8_t> body) {
      return DecodeDeleteGroupsRequest(body, v);
    });
  }
  Writer lying;  // A count the bytes cannot hold is refused before anything is allocated.
  lying.ArrayCount(1'000'000);
  lying.String("a");
  EXPECT_FALSE(DecodeDeleteGroupsRequest(lying.bytes(), 1).ok());
}

TEST(GroupResponses, DeleteGroupsLayout) {
  const DeleteGroupsResponse results = {{"a", error::kNone}, {"b", error::kNonEmptyGroup}};
  for (int16_t v : {0, 1}) {
    const std::vector<uint8_t> body = EncodeDeleteGroupsResponse(results, v);
    Reader reader(body);
    EXPECT_EQ(reader.Int32(), 0);  // throttle_time_ms.
    ASSERT_EQ(reader.ArrayCount(10), 2u);
    EXPECT_EQ(reader.String(), "a");
    EXPECT_EQ(reader.Int16(), error::kNone);
    EXPECT_EQ(reader.String(), "b");
    EXPECT_EQ(reader.Int16(), error::kNonEmptyGroup);
    EXPECT_TRUE(reader.ok());
    EXPECT_EQ(reader.remaining(), 0u);
  }
}

}  // namespace
}  // namespace meridian::core::kafka
