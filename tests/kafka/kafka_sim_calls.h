// tests/kafka: raw Kafka requests the simulator tests share (kafka_admin_sim_test.cc,
// kafka_group_delete_sim_test.cc, kafka_config_sim_test.cc, kafka_sim_test.cc): creating a topic,
// finding a group's coordinator, a one-member group through JoinGroup and SyncGroup, and
// DescribeConfigs. Each answers the Kafka error code it got (-100: no answer or one that does
// not decode).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/broker/consumer_protocol.h"
#include "core/kafka/bytes.h"
#include "core/kafka/group_messages.h"
#include "core/kafka/protocol.h"
#include "tests/kafka/kafka_sim_cluster.h"

namespace meridian {

// The longest name a Kafka string carries (less a little): a 32 KiB name.
inline const std::string kLongestName(INT16_MAX - 8, 'n');

// Runs `call` until it answers something other than a retriable code (or 100 tries).
template <typename Call>
inline int16_t Retrying(io::Runtime& rt, Call call) {
  int16_t code = -100;
  for (int attempt = 0; attempt < 100; attempt++) {
    code = call(attempt);
    const bool retriable = code == -100 || code == core::kafka::error::kNotController ||
                           code == core::kafka::error::kRequestTimedOut ||
                           code == core::kafka::error::kNotCoordinator ||
                           code == core::kafka::error::kCoordinatorNotAvailable ||
                           code == core::kafka::error::kCoordinatorLoadInProgress;
    if (!retriable) return code;
    (void)rt.Sleep(milliseconds(200));
  }
  return code;
}

// Until `node`'s Kafka port accepts a connection (a node listens once its storage is open), or
// 20 s.
inline void WaitUntilListening(io::Runtime& rt, uint32_t node) {
  for (int attempt = 0; attempt < 100; attempt++) {
    absl::StatusOr<std::unique_ptr<io::Stream>> probe =
        rt.network().Connect(KafkaAddress(node), rt.Now() + std::chrono::seconds(1));
    if (probe.ok()) {
      (*probe)->Close();
      return;
    }
    (void)rt.Sleep(milliseconds(200));
  }
}

// CreateTopics v4 of one topic (3 replicas) at `node`: its error code.
inline int16_t CreateTopic(io::Runtime& rt, uint32_t node, const std::string& name,
                           int32_t partitions) {
  core::kafka::Writer body;
  body.ArrayCount(1);
  body.String(name);
  body.Int32(partitions);
  body.Int16(3);
  body.ArrayCount(0);
  body.ArrayCount(0);
  body.Int32(10000);
  body.Bool(false);
  const std::vector<uint8_t> response =
      KafkaCall(rt, node, core::kafka::ApiKey::kCreateTopics, 4, body.Take());
  core::kafka::Reader reader(response);
  (void)reader.Int32();
  if (reader.ArrayCount(1) != 1) return -100;
  (void)reader.String();
  return reader.Int16();
}

// CreateTopics at each node in turn until one answers NONE (INVALID_REPLICATION_FACTOR until
// every node has registered) or 100 tries: the last code.
inline int16_t CreateTopicOnceNodesAreUp(io::Runtime& rt, const std::string& name,
                                         int32_t partitions) {
  int16_t created = -100;
  for (int i = 0; i < 100 && created != 0; i++) {
    created = CreateTopic(rt, 1 + static_cast<uint32_t>(i) % 3, name, partitions);
    if (created != 0) (void)rt.Sleep(milliseconds(200));
  }
  return created;
}

// FindCoordinator v2 of `group` (creating "__consumer_offsets" the first time): its node.
inline uint32_t Coordinator(io::Runtime& rt, const std::string& group) {
  int32_t node = -1;
  const int16_t code = Retrying(rt, [&](int i) -> int16_t {
    core::kafka::Writer body;
    body.String(group);
    body.Int8(0);
    const std::vector<uint8_t> response =
        KafkaCall(rt, 1 + static_cast<uint32_t>(i) % 3, core::kafka::ApiKey::kFindCoordinator, 2,
                  body.Take());
    core::kafka::Reader reader(response);
    (void)reader.Int32();
    const int16_t error_code = reader.Int16();
    (void)reader.NullableString();
    node = reader.Int32();
    return reader.ok() ? error_code : -100;
  });
  EXPECT_EQ(code, 0);
  return node > 0 ? static_cast<uint32_t>(node) : 1;
}

inline const std::vector<uint8_t> kSubscription =
    core::broker::EncodeConsumerSubscription({"orders"});
inline const std::vector<uint8_t> kAssignment =
    core::broker::EncodeConsumerAssignment({{"orders", 0}});

using JoinProtocols = std::vector<std::pair<std::string, std::vector<uint8_t>>>;

// The body of a JoinGroup v1 offering `protocols` (name, ConsumerProtocol subscription bytes).
inline std::vector<uint8_t> JoinBody(const std::string& group, int32_t session_timeout_ms,
                                     int32_t rebalance_timeout_ms, const std::string& member_id,
                                     const JoinProtocols& protocols) {
  core::kafka::Writer body;
  body.String(group);
  body.Int32(session_timeout_ms);
  body.Int32(rebalance_timeout_ms);
  body.String(member_id);
  body.String("consumer");
  body.ArrayCount(protocols.size());
  for (const auto& [name, metadata] : protocols) {
    body.String(name);
    body.Bytes(metadata);
  }
  return body.Take();
}

// JoinGroup v1 (no MEMBER_ID_REQUIRED) with the "range" protocol, of a new member or (a
// `member_id`) a rejoining one: (error code, generation, member id).
inline std::tuple<int16_t, int32_t, std::string> Join(io::Runtime& rt, uint32_t node,
                                                      const std::string& group,
                                                      int32_t session_timeout_ms = 10000,
                                                      int32_t rebalance_timeout_ms = 10000,
                                                      const std::string& member_id = "") {
  const std::vector<uint8_t> response =
      KafkaCall(rt, node, core::kafka::ApiKey::kJoinGroup, 1,
                JoinBody(group, session_timeout_ms, rebalance_timeout_ms, member_id,
                         {{"range", kSubscription}}));
  core::kafka::Reader reader(response);
  const int16_t code = reader.Int16();
  const int32_t generation = reader.Int32();
  (void)reader.String();  // protocol.
  (void)reader.String();  // leader.
  std::string member = reader.String();
  return {reader.ok() ? code : int16_t{-100}, generation, std::move(member)};
}

// SyncGroup v0 of the group's leader, giving itself partition 0 of "orders".
inline int16_t Sync(io::Runtime& rt, uint32_t node, const std::string& group, int32_t generation,
                    const std::string& member) {
  core::kafka::Writer body;
  body.String(group);
  body.Int32(generation);
  body.String(member);
  body.ArrayCount(1);
  body.String(member);
  body.Bytes(kAssignment);
  const std::vector<uint8_t> response =
      KafkaCall(rt, node, core::kafka::ApiKey::kSyncGroup, 0, body.Take());
  core::kafka::Reader reader(response);
  const int16_t code = reader.Int16();
  return reader.ok() ? code : int16_t{-100};
}

// A one-member group, Stable: its member id.
inline std::string JoinAndSync(io::Runtime& rt, uint32_t coordinator, const std::string& group,
                               int32_t session_timeout_ms = 10000) {
  std::tuple<int16_t, int32_t, std::string> joined;
  EXPECT_EQ(Retrying(rt,
                     [&](int) {
                       joined = Join(rt, coordinator, group, session_timeout_ms);
                       return std::get<0>(joined);
                     }),
            0);
  EXPECT_EQ(Sync(rt, coordinator, group, std::get<1>(joined), std::get<2>(joined)), 0);
  return std::get<2>(joined);
}

// DescribeConfigs v1 of one resource at `node`: (error code, config name -> value); with
// `read_only`, each config's read_only flag too.
inline std::pair<int16_t, std::map<std::string, std::string>> DescribeConfigs(
    io::Runtime& rt, uint32_t node, int8_t type, const std::string& name,
    std::map<std::string, bool>* read_only = nullptr) {
  core::kafka::Writer body;
  body.ArrayCount(1);
  body.Int8(type);
  body.String(name);
  body.Int32(-1);
  body.Bool(false);
  const std::vector<uint8_t> response =
      KafkaCall(rt, node, core::kafka::ApiKey::kDescribeConfigs, 1, body.Take());
  core::kafka::Reader reader(response);
  (void)reader.Int32();
  if (reader.ArrayCount(1) != 1) return {-100, {}};
  const int16_t error = reader.Int16();
  (void)reader.NullableString();
  (void)reader.Int8();
  (void)reader.String();
  std::map<std::string, std::string> configs;
  const size_t count = reader.ArrayCount(100);
  for (size_t i = 0; i < count && reader.ok(); i++) {
    const std::string key = reader.String();
    configs[key] = reader.NullableString().value_or("(null)");
    const bool is_read_only = reader.Bool();
    if (read_only != nullptr) (*read_only)[key] = is_read_only;
    (void)reader.Int8();
    (void)reader.Bool();
    (void)reader.ArrayCount(0);
  }
  EXPECT_TRUE(reader.ok() && reader.remaining() == 0) << reader.status();
  return {error, configs};
}

// DescribeGroups v`version` at `node`, decoded.
inline std::vector<core::kafka::DescribedGroup> Describe(io::Runtime& rt, uint32_t node,
                                                         const std::vector<std::string>& groups,
                                                         int16_t version = 4) {
  core::kafka::Writer body;
  body.ArrayCount(groups.size());
  for (const std::string& group : groups) body.String(group);
  if (version >= 3) body.Bool(true);
  const std::vector<uint8_t> response =
      KafkaCall(rt, node, core::kafka::ApiKey::kDescribeGroups, version, body.Take());
  core::kafka::Reader reader(response);
  if (version >= 1) (void)reader.Int32();
  std::vector<core::kafka::DescribedGroup> out(reader.ArrayCount(100));
  for (core::kafka::DescribedGroup& group : out) {
    group.error_code = reader.Int16();
    group.group_id = reader.String();
    group.state = reader.String();
    group.protocol_type = reader.String();
    group.protocol = reader.String();
    group.members.resize(reader.ArrayCount(100));
    for (core::kafka::DescribedMember& member : group.members) {
      member.member_id = reader.String();
      if (version >= 4) (void)reader.NullableString();
      member.client_id = reader.String();
      member.client_host = reader.String();
      const std::span<const uint8_t> metadata = reader.Bytes();
      member.metadata.assign(metadata.begin(), metadata.end());
      const std::span<const uint8_t> assignment = reader.Bytes();
      member.assignment.assign(assignment.begin(), assignment.end());
    }
    if (version >= 3) {
      EXPECT_EQ(reader.Int32(), INT32_MIN);
    }
  }
  EXPECT_TRUE(reader.ok() && reader.remaining() == 0) << reader.status();
  return out;
}

inline core::kafka::DescribedGroup DescribeOne(io::Runtime& rt, uint32_t node,
                                               const std::string& group) {
  std::vector<core::kafka::DescribedGroup> out = Describe(rt, node, {group});
  return out.size() == 1 ? std::move(out[0]) : core::kafka::DescribedGroup{.error_code = -100};
}

}  // namespace meridian
