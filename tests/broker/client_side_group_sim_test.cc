// Client-side assignment (Kafka's JoinGroup/SyncGroup, core/broker/group_coordinator.h) on the
// deterministic simulator, with raw native requests: the leader's assignment is written to the
// ledger and handed to each member; commits are fenced by owner and generation as for native
// groups (a zombie of an older generation is refused); an assignment giving one partition to
// two members and malformed ConsumerProtocol bytes are refused with an error; native and Kafka
// members cannot share a group.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/broker/consumer_protocol.h"
#include "core/broker/group_coordinator.h"
#include "core/client/client.h"
#include "core/client/errors.h"
#include "tests/broker/sim_cluster.h"

namespace meridian {
namespace {

using core::broker::EncodeConsumerAssignment;
using core::broker::EncodeConsumerSubscription;
using core::broker::TopicPartitionKey;

core::client::ClientOptions Options() {
  core::client::ClientOptions options;
  options.bootstrap = {AddressOf(1), AddressOf(2), AddressOf(3)};
  options.client_id = "kafka-like";
  options.request_timeout = seconds(3);
  return options;
}

void CreateTopic(io::Runtime& rt, core::client::Client& client) {
  for (int attempt = 0; attempt < 100; attempt++) {
    if (client.CreateTopic("t", 4, 3).ok()) return;
    (void)rt.Sleep(milliseconds(200));
  }
  FAIL() << "topic t not created";
}

absl::StatusOr<core::wire::JoinGroupResponseT> Join(core::client::Client& client, io::Runtime& rt,
                                                    const std::string& group, std::string member_id,
                                                    bool require_known_member_id = false) {
  core::wire::JoinGroupRequestT join;
  join.group = group;
  join.member_id = std::move(member_id);
  join.require_known_member_id = require_known_member_id;
  join.session_timeout_ms = 1000;
  join.rebalance_timeout_ms = 2000;
  join.protocol_type = "consumer";
  auto protocol = std::make_unique<core::wire::GroupProtocolT>();
  protocol->name = "range";
  protocol->metadata = EncodeConsumerSubscription({"t"});
  join.protocols.push_back(std::move(protocol));
  return core::client::TakeBody<core::wire::JoinGroupResponseT>(
      client.CallCoordinator(group, core::wire::Message(0, std::move(join)),
                             rt.Now() + seconds(10)),
      [](core::wire::BodyUnion& body) { return body.AsJoinGroupResponse(); }, "JoinGroupResponse");
}

// The leader's SyncGroup: member id -> its assignment bytes.
absl::StatusOr<core::wire::SyncGroupResponseT> Sync(
    core::client::Client& client, io::Runtime& rt, const std::string& group,
    const core::wire::JoinGroupResponseT& joined,
    std::vector<std::pair<std::string, std::vector<uint8_t>>> assignments) {
  core::wire::SyncGroupRequestT sync;
  sync.group = group;
  sync.member_id = joined.member_id;
  sync.generation = joined.generation;
  for (auto& [member, bytes] : assignments) {
    auto out = std::make_unique<core::wire::GroupMemberBytesT>();
    out->member_id = member;
    out->bytes = std::move(bytes);
    sync.assignments.push_back(std::move(out));
  }
  return core::client::TakeBody<core::wire::SyncGroupResponseT>(
      client.CallCoordinator(group, core::wire::Message(0, std::move(sync)),
                             rt.Now() + seconds(10)),
      [](core::wire::BodyUnion& body) { return body.AsSyncGroupResponse(); }, "SyncGroupResponse");
}

std::vector<std::unique_ptr<core::wire::PartitionOffsetT>> OffsetOf(uint32_t partition,
                                                                    int64_t value) {
  std::vector<std::unique_ptr<core::wire::PartitionOffsetT>> offsets;
  offsets.push_back(std::make_unique<core::wire::PartitionOffsetT>());
  offsets.back()->topic = "t";
  offsets.back()->partition = partition;
  offsets.back()->offset = value;
  return offsets;
}

std::vector<TopicPartitionKey> Partitions(std::initializer_list<uint32_t> partitions) {
  std::vector<TopicPartitionKey> out;
  for (uint32_t p : partitions) out.emplace_back("t", p);
  return out;
}

TEST(ClientSideGroupSim, LeaderAssignsCommitsAreFencedAndAZombieIsRefused) {
  BrokerCluster cluster(21);
  cluster.OnClient([&](io::Runtime& rt) {
    core::client::Client client(rt, Options());
    CreateTopic(rt, client);
    absl::StatusOr<core::wire::JoinGroupResponseT> first = Join(client, rt, "g", "");
    ASSERT_TRUE(first.ok()) << first.status();
    EXPECT_EQ(first->generation, 1);
    EXPECT_EQ(first->leader, first->member_id);
    EXPECT_EQ(first->protocol, "range");
    ASSERT_EQ(first->member_metadata.size(), 1u);
    EXPECT_EQ(first->member_metadata[0]->bytes, EncodeConsumerSubscription({"t"}));
    const std::vector<uint8_t> all = EncodeConsumerAssignment(Partitions({0, 1, 2, 3}));
    absl::StatusOr<core::wire::SyncGroupResponseT> synced =
        Sync(client, rt, "g", *first, {{first->member_id, all}});
    ASSERT_TRUE(synced.ok()) << synced.status();
    EXPECT_EQ(synced->assignment, all);  // The leader's bytes, handed back unchanged.
    EXPECT_TRUE(
        client.CommitOffsets("g", first->member_id, 1, OffsetOf(2, 5), rt.Now() + seconds(5)).ok());
    // A native (server-side) member cannot join a Kafka group.
    core::wire::JoinGroupRequestT native;
    native.group = "g";
    native.topics = {"t"};
    native.session_timeout_ms = 1000;
    native.rebalance_timeout_ms = 1000;
    absl::Status mixed =
        core::client::TakeBody<core::wire::JoinGroupResponseT>(
            client.CallCoordinator("g", core::wire::Message(0, native), rt.Now() + seconds(5)),
            [](core::wire::BodyUnion& b) { return b.AsJoinGroupResponse(); }, "join")
            .status();
    EXPECT_EQ(core::client::WireErrorCode(mixed), core::wire::ErrorCode::InconsistentAssignor)
        << mixed;
    // The first member goes silent; a second joins and, after the first is dropped, leads
    // generation 2. The first member's late commit (generation 1) must be refused.
    absl::StatusOr<core::wire::JoinGroupResponseT> second = Join(client, rt, "g", "");
    ASSERT_TRUE(second.ok()) << second.status();
    EXPECT_EQ(second->generation, 2);
    EXPECT_EQ(second->leader, second->member_id);
    ASSERT_TRUE(Sync(client, rt, "g", *second, {{second->member_id, all}}).ok());
    absl::Status zombie =
        client.CommitOffsets("g", first->member_id, 1, OffsetOf(2, 9), rt.Now() + seconds(5));
    EXPECT_EQ(core::client::WireErrorCode(zombie), core::wire::ErrorCode::IllegalGeneration)
        << zombie;
    auto committed = client.CommittedOffsets("g", {"t"});
    ASSERT_TRUE(committed.ok()) << committed.status();
    ASSERT_EQ(committed->size(), 1u);
    EXPECT_EQ((*committed)[0]->offset, 5);  // The zombie's 9 was never applied.
  });
}

TEST(ClientSideGroupSim, DoubleAssignmentAndMalformedBytesAreRefused) {
  BrokerCluster cluster(22);
  cluster.OnClient([&](io::Runtime& rt) {
    core::client::Client client(rt, Options());
    CreateTopic(rt, client);
    // The first member joins alone; the second's join (another fiber) starts a join phase that
    // waits for the first to rejoin, as a client told REBALANCE_IN_PROGRESS does.
    absl::StatusOr<core::wire::JoinGroupResponseT> alone = Join(client, rt, "g2", "");
    ASSERT_TRUE(alone.ok()) << alone.status();
    absl::StatusOr<core::wire::JoinGroupResponseT> other = absl::UnknownError("not yet");
    bool other_done = false;
    rt.Spawn("member-2", [&] {
      other = Join(client, rt, "g2", "");
      other_done = true;
    });
    (void)rt.Sleep(milliseconds(300));
    absl::StatusOr<core::wire::JoinGroupResponseT> one = Join(client, rt, "g2", alone->member_id);
    while (!other_done) (void)rt.Sleep(milliseconds(50));
    ASSERT_TRUE(one.ok()) << one.status();
    ASSERT_TRUE(other.ok()) << other.status();
    ASSERT_EQ(one->generation, other->generation);
    const core::wire::JoinGroupResponseT& leader = one->leader == one->member_id ? *one : *other;
    const core::wire::JoinGroupResponseT& follower = one->leader == one->member_id ? *other : *one;
    ASSERT_EQ(leader.member_metadata.size(), 2u);
    // Partition 1 given to both: the fence needs one owner, so the coordinator refuses.
    absl::Status twice = Sync(client, rt, "g2", leader,
                              {{leader.member_id, EncodeConsumerAssignment(Partitions({0, 1}))},
                               {follower.member_id, EncodeConsumerAssignment(Partitions({1, 2}))}})
                             .status();
    EXPECT_EQ(core::client::WireErrorCode(twice), core::wire::ErrorCode::BadRequest) << twice;
    EXPECT_NE(twice.message().find("assigned to both"), std::string::npos) << twice;
    // Malformed ConsumerProtocol bytes: an error answer (and no generation written).
    absl::StatusOr<core::wire::JoinGroupResponseT> again = Join(client, rt, "g3", "");
    ASSERT_TRUE(again.ok()) << again.status();
    absl::Status garbage =
        Sync(client, rt, "g3", *again, {{again->member_id, {0, 0, 0x7f, 0xff, 0xff, 0xff}}})
            .status();
    EXPECT_EQ(core::client::WireErrorCode(garbage), core::wire::ErrorCode::BadRequest) << garbage;
    auto described = client.DescribeGroups("g3");
    ASSERT_TRUE(described.ok()) << described.status();
    if (!described->empty()) {
      EXPECT_EQ((*described)[0]->generation, 0);
    }
  });
}

// The coordinator's limits are inclusive (core/broker/group_coordinator.h): one member's
// assignment of kAssignmentBytesMax bytes and a SyncGroup whose assignments total
// kGenerationAssignmentBytesMax are taken, a byte more of either is refused. Assignments for ids
// that are not members count toward the total (they are checked before they are dropped).
TEST(ClientSideGroupSim, AssignmentSizeLimitsAreInclusive) {
  using core::broker::GroupCoordinator;
  BrokerCluster cluster(23);
  cluster.OnClient([&](io::Runtime& rt) {
    core::client::Client client(rt, Options());
    CreateTopic(rt, client);
    absl::StatusOr<core::wire::JoinGroupResponseT> leader = Join(client, rt, "g4", "");
    ASSERT_TRUE(leader.ok()) << leader.status();
    ASSERT_EQ(leader->leader, leader->member_id);
    const std::vector<uint8_t> own = EncodeConsumerAssignment(Partitions({0}));
    // Fillers for ids that are not members, `total` bytes in all, none over the per-member limit.
    const auto with_fillers = [&](size_t total, size_t first) {
      std::vector<std::pair<std::string, std::vector<uint8_t>>> assignments = {
          {leader->member_id, own}};
      size_t left = total - own.size();
      for (int i = 0; left > 0; i++) {
        const size_t bytes = std::min(left, i == 0 ? first : GroupCoordinator::kAssignmentBytesMax);
        assignments.emplace_back(fmt::format("not-a-member-{}", i), std::vector<uint8_t>(bytes, 7));
        left -= bytes;
      }
      return assignments;
    };
    const size_t one_max = GroupCoordinator::kAssignmentBytesMax;
    const size_t all_max = GroupCoordinator::kGenerationAssignmentBytesMax;
    for (const auto& [total, first] :
         {std::pair{own.size() + one_max + 1, one_max + 1}, std::pair{all_max + 1, one_max}}) {
      const absl::Status refused =
          Sync(client, rt, "g4", *leader, with_fillers(total, first)).status();
      EXPECT_EQ(core::client::WireErrorCode(refused), core::wire::ErrorCode::BadRequest)
          << total << " bytes: " << refused;
      EXPECT_NE(refused.message().find("too large"), std::string::npos) << refused;
      // A refused assignment starts a rebalance: the leader joins the next generation.
      leader = Join(client, rt, "g4", leader->member_id);
      ASSERT_TRUE(leader.ok()) << leader.status();
    }
    absl::StatusOr<core::wire::SyncGroupResponseT> taken =
        Sync(client, rt, "g4", *leader, with_fillers(all_max, one_max));
    ASSERT_TRUE(taken.ok()) << taken.status();
    EXPECT_EQ(taken->assignment, own);
  });
}

// Kafka v4+ joins (KIP-394) hand out a member id first; the coordinator keeps the newest
// kPendingMemberIdsMax of those not yet used, each for its join's session timeout. One more
// evicts the oldest: a join with it is refused as unknown, a join with the next oldest is taken,
// also after many coordinator ticks in a group with no member (the group was dropped at the next
// tick, ids and all, so a client slower than a tick to come back was told its id was unknown).
TEST(ClientSideGroupSim, PendingMemberIdsKeepTheNewestUpToTheLimit) {
  using core::broker::GroupCoordinator;
  BrokerCluster cluster(24);
  cluster.OnClient([&](io::Runtime& rt) {
    core::client::Client client(rt, Options());
    CreateTopic(rt, client);
    std::vector<std::string> pending;
    io::Instant first_handed_out;
    for (size_t i = 0; i <= GroupCoordinator::kPendingMemberIdsMax; i++) {
      absl::StatusOr<core::wire::JoinGroupResponseT> first =
          Join(client, rt, "g5", "", /*require_known_member_id=*/true);
      ASSERT_TRUE(first.ok()) << first.status();
      ASSERT_TRUE(first->member_id_required);
      pending.push_back(first->member_id);
      if (i == 0) first_handed_out = rt.Now();
    }
    // The group has no member yet: the ids must outlive the coordinator's ticks while their
    // clients come back, as a client across regions does after a round trip.
    (void)rt.Sleep(milliseconds(300));
    // Inside the joins' 1 s session timeout: an id refused now was evicted, not lapsed.
    ASSERT_LT(rt.Now() - first_handed_out, milliseconds(800));
    const absl::Status evicted = Join(client, rt, "g5", pending[0], true).status();
    EXPECT_EQ(core::client::WireErrorCode(evicted), core::wire::ErrorCode::UnknownMemberId)
        << evicted;
    absl::StatusOr<core::wire::JoinGroupResponseT> kept = Join(client, rt, "g5", pending[1], true);
    ASSERT_TRUE(kept.ok()) << kept.status();
    EXPECT_EQ(kept->member_id, pending[1]);
    EXPECT_GE(kept->generation, 1);
    // Unused ids lapse after the session timeout their join asked for (1 s).
    (void)rt.Sleep(milliseconds(1200));
    const absl::Status lapsed = Join(client, rt, "g5", pending.back(), true).status();
    EXPECT_EQ(core::client::WireErrorCode(lapsed), core::wire::ErrorCode::UnknownMemberId)
        << lapsed;
  });
}

}  // namespace
}  // namespace meridian
