// Kafka's DeleteGroups through the Kafka session on the simulator (three brokers, raw Kafka
// requests): only an Empty group is deleted, its offsets with it, and a later join starts a new
// group at generation 1; NON_EMPTY_GROUP while a member lives, GROUP_ID_NOT_FOUND,
// NOT_COORDINATOR from another node, INVALID_GROUP_ID; a join racing the delete gets either the
// old group whole (the delete refused) or a new one, never half of the old; a request naming
// more groups than the bound answers the rest retriably without looking them up.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "core/client/client.h"
#include "core/kafka/bytes.h"
#include "core/kafka/group_messages.h"
#include "core/wire/client_codec.h"
#include "io/probe.h"
#include "tests/kafka/kafka_sim_calls.h"
#include "tests/kafka/kafka_sim_cluster.h"

namespace meridian {
namespace {

using core::kafka::ApiKey;
using core::kafka::Reader;
using core::kafka::Writer;
namespace error = core::kafka::error;

// DeleteGroups v`version` at `node`: (group, error code) per group, as answered.
std::vector<std::pair<std::string, int16_t>> DeleteGroups(io::Runtime& rt, uint32_t node,
                                                          const std::vector<std::string>& groups,
                                                          int16_t version = 1) {
  Writer body;
  body.ArrayCount(groups.size());
  for (const std::string& group : groups) body.String(group);
  const std::vector<uint8_t> response =
      KafkaCall(rt, node, ApiKey::kDeleteGroups, version, body.Take());
  if (response.empty()) return {};
  Reader reader(response);
  (void)reader.Int32();  // throttle_time_ms.
  std::vector<std::pair<std::string, int16_t>> results(reader.ArrayCount(1000));
  for (auto& [group, code] : results) {
    group = reader.String();
    code = reader.Int16();
  }
  EXPECT_TRUE(reader.ok() && reader.remaining() == 0) << reader.status();
  return results;
}

int16_t DeleteOne(io::Runtime& rt, uint32_t node, const std::string& group) {
  const std::vector<std::pair<std::string, int16_t>> results = DeleteGroups(rt, node, {group});
  return results.size() == 1 ? results[0].second : int16_t{-100};
}

// LeaveGroup v0 of `member`: its error code.
int16_t Leave(io::Runtime& rt, uint32_t node, const std::string& group, const std::string& member) {
  Writer body;
  body.String(group);
  body.String(member);
  const std::vector<uint8_t> response = KafkaCall(rt, node, ApiKey::kLeaveGroup, 0, body.Take());
  Reader reader(response);
  const int16_t code = reader.Int16();
  return reader.ok() ? code : int16_t{-100};
}

// OffsetCommit v2 without a generation or member (a "simple" commit, as after assign()) of
// `topic`/0 at `offset`: its error code.
int16_t SimpleCommit(io::Runtime& rt, uint32_t node, const std::string& group,
                     const std::string& topic, int64_t offset) {
  Writer body;
  body.String(group);
  body.Int32(-1);  // generation.
  body.String("");
  body.Int64(-1);  // retention_time_ms.
  body.ArrayCount(1);
  body.String(topic);
  body.ArrayCount(1);
  body.Int32(0);
  body.Int64(offset);
  body.NullableString("");
  const std::vector<uint8_t> response = KafkaCall(rt, node, ApiKey::kOffsetCommit, 2, body.Take());
  Reader reader(response);
  if (reader.ArrayCount(1) != 1) return -100;
  (void)reader.String();
  if (reader.ArrayCount(1) != 1) return -100;
  (void)reader.Int32();
  const int16_t code = reader.Int16();
  return reader.ok() ? code : int16_t{-100};
}

// OffsetFetch v1 of `topic`/0: the committed offset (-1: none), or -100.
int64_t Committed(io::Runtime& rt, uint32_t node, const std::string& group,
                  const std::string& topic) {
  Writer body;
  body.String(group);
  body.ArrayCount(1);
  body.String(topic);
  body.ArrayCount(1);
  body.Int32(0);
  const std::vector<uint8_t> response = KafkaCall(rt, node, ApiKey::kOffsetFetch, 1, body.Take());
  Reader reader(response);
  if (reader.ArrayCount(1) != 1) return -100;
  (void)reader.String();
  if (reader.ArrayCount(1) != 1) return -100;
  (void)reader.Int32();
  const int64_t offset = reader.Int64();
  (void)reader.NullableString();
  const int16_t code = reader.Int16();
  return reader.ok() && code == 0 ? offset : -100;
}

// Group `group` in generation 2 with no members and orders/0 committed at 42: a member joined
// (generation 1), left (generation 2, Empty), and a simple commit followed.
void MakeEmptyGroupWithOffsets(io::Runtime& rt, uint32_t coordinator, const std::string& group) {
  const std::string member = JoinAndSync(rt, coordinator, group);
  EXPECT_EQ(Leave(rt, coordinator, group, member), 0);
  for (int i = 0; i < 100 && DescribeOne(rt, coordinator, group).state != "Empty"; i++) {
    (void)rt.Sleep(milliseconds(100));
  }
  ASSERT_EQ(DescribeOne(rt, coordinator, group).state, "Empty");
  EXPECT_EQ(SimpleCommit(rt, coordinator, group, "orders", 42), 0);
  EXPECT_EQ(Committed(rt, coordinator, group, "orders"), 42);
}

TEST(KafkaGroupDeleteSim, OnlyAnEmptyGroupIsDeletedAndItsOffsetsGoWithIt) {
  KafkaCluster cluster(41);
  cluster.OnClient([&](io::Runtime& rt) {
    ASSERT_EQ(CreateTopicOnceNodesAreUp(rt, "orders", 1), 0);
    const uint32_t coordinator = Coordinator(rt, "g");
    const uint32_t other = coordinator % 3 + 1;
    EXPECT_EQ(Retrying(rt, [&](int) { return DeleteOne(rt, coordinator, "g"); }),
              error::kGroupIdNotFound);
    const std::string member = JoinAndSync(rt, coordinator, "g");
    EXPECT_EQ(DeleteOne(rt, coordinator, "g"), error::kNonEmptyGroup) << "a live member";
    EXPECT_EQ(DeleteOne(rt, other, "g"), error::kNotCoordinator);
    EXPECT_EQ(DescribeOne(rt, coordinator, "g").state, "Stable") << "nothing deleted";
    EXPECT_EQ(Leave(rt, coordinator, "g", member), 0);
    MakeEmptyGroupWithOffsets(rt, coordinator, "g");
    const std::vector<std::pair<std::string, int16_t>> deleted =
        DeleteGroups(rt, coordinator, {"g", "", kLongestName, "g"}, 0);
    std::vector<int16_t> codes;
    for (const auto& [group, code] : deleted) codes.push_back(code);
    EXPECT_EQ(codes, (std::vector<int16_t>{error::kNone, error::kInvalidGroupId,
                                           error::kInvalidGroupId, error::kGroupIdNotFound}));
    ASSERT_EQ(deleted.size(), 4u);
    EXPECT_TRUE(deleted[2].first == kLongestName) << "the name answered as it came";
    EXPECT_EQ(DeleteOne(rt, Coordinator(rt, "nope"), "nope"), error::kGroupIdNotFound);
    EXPECT_EQ(DescribeOne(rt, coordinator, "g").state, "Dead");
    EXPECT_EQ(Committed(rt, coordinator, "g", "orders"), -1) << "the offsets went with it";
    // A new group of that name starts over at generation 1 (the old one had reached 4).
    const auto [code, generation, joined] = Join(rt, coordinator, "g");
    EXPECT_EQ(code, 0);
    EXPECT_EQ(generation, 1);
  });
}

// A native member joins while the delete of its group is on its way through the log. Either
// the join is decided first (the delete is refused: NON_EMPTY_GROUP, the group and its offsets
// stay) or the delete is (the join gets a new group at generation 1, without the old offsets):
// whichever the log decides, nothing of the old group survives a delete.
TEST(KafkaGroupDeleteSim, AJoinRacingADeleteGetsTheWholeGroupOrANewOne) {
  io::probe::Reset();
  KafkaCluster cluster(43);
  cluster.OnClient([&](io::Runtime& rt) {
    ASSERT_EQ(CreateTopicOnceNodesAreUp(rt, "orders", 1), 0);
    const uint32_t coordinator = Coordinator(rt, "race");
    MakeEmptyGroupWithOffsets(rt, coordinator, "race");
    core::client::ClientOptions options;
    options.bootstrap = {AddressOf(1), AddressOf(2), AddressOf(3)};
    core::client::Client client(rt, options);
    ASSERT_TRUE(client.DescribeGroups("race").ok());  // Routes cached: the join goes straight.
    int16_t deleted = -100;
    int32_t generation = -1;
    int done = 0;
    rt.Spawn("delete", [&] {
      deleted = DeleteOne(rt, coordinator, "race");
      done++;
    });
    rt.Spawn("join", [&] {
      // After the delete has reached the coordinator, before the log has decided it (0 ms: the
      // join comes first; 2 ms: the delete is applied already).
      (void)rt.Sleep(milliseconds(1));
      core::wire::JoinGroupRequestT join;
      join.group = "race";
      join.client_id = "racer";
      join.topics = {"orders"};
      join.session_timeout_ms = 10000;
      join.rebalance_timeout_ms = 3000;
      const core::client::Client::Response joined =
          client.CallCoordinator("race", core::wire::Message(0, join), rt.Now() + seconds(20));
      if (joined.ok() && (*joined)->body.AsJoinGroupResponse() != nullptr) {
        generation = (*joined)->body.AsJoinGroupResponse()->generation;
      }
      done++;
    });
    for (int i = 0; i < 300 && done < 2; i++) (void)rt.Sleep(milliseconds(100));
    ASSERT_EQ(done, 2);
    if (deleted == error::kNone) {
      EXPECT_EQ(generation, 1) << "a new group";
      EXPECT_EQ(Committed(rt, coordinator, "race", "orders"), -1);
    } else {
      EXPECT_EQ(deleted, error::kNonEmptyGroup);
      EXPECT_EQ(generation, 3) << "the old group, whole";
      EXPECT_EQ(Committed(rt, coordinator, "race", "orders"), 42);
    }
    EXPECT_EQ(DescribeOne(rt, coordinator, "race").state, "Stable");
  });
  // The delete is decided first here, while the join is in its join phase: the join loaded the
  // group as it was before the delete, the log refused the generation it proposed from there,
  // and the live group started over from the ledger (GroupCoordinator::Resync).
  EXPECT_TRUE(io::probe::Snapshot().contains("group: the live state starts again after a delete"));
}

// Past KafkaSessionLimits::deleted_groups_max the groups a request names are answered
// COORDINATOR_LOAD_IN_PROGRESS without reaching a coordinator; invalid ids do not count.
TEST(KafkaGroupDeleteSim, DeleteGroupsStopsAtItsBound) {
  io::probe::Reset();
  KafkaCluster cluster(47, KafkaClusterOptions{.session_limits = {.deleted_groups_max = 2}});
  cluster.OnClient([&](io::Runtime& rt) {
    const uint32_t coordinator = Coordinator(rt, "a");
    std::vector<std::pair<std::string, int16_t>> deleted;
    EXPECT_EQ(Retrying(rt,
                       [&](int) {
                         deleted = DeleteGroups(rt, coordinator, {"", "a", "a", "b", "c"});
                         return deleted.size() == 5 ? deleted[1].second : int16_t{-100};
                       }),
              error::kGroupIdNotFound);
    ASSERT_EQ(deleted.size(), 5u);
    EXPECT_EQ(deleted[0].second, error::kInvalidGroupId);
    EXPECT_EQ(deleted[2].second, error::kGroupIdNotFound);
    EXPECT_EQ(deleted[3],
              (std::pair<std::string, int16_t>{"b", error::kCoordinatorLoadInProgress}));
    EXPECT_EQ(deleted[4],
              (std::pair<std::string, int16_t>{"c", error::kCoordinatorLoadInProgress}));
  });
  EXPECT_TRUE(io::probe::Snapshot().contains("kafka: DeleteGroups answered past its bound"));
}

}  // namespace
}  // namespace meridian
