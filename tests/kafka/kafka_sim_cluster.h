// tests/kafka: tests/broker's simulated three-node cluster with a Kafka listener (core/kafka)
// on a second port of every node, and one raw Kafka request on a fresh connection — what the
// Kafka simulator tests (kafka_sim_test.cc, kafka_admin_sim_test.cc) drive the session with.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <array>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "core/broker/acl.h"
#include "core/broker/broker.h"
#include "core/kafka/bytes.h"
#include "core/kafka/protocol.h"
#include "core/kafka/session.h"
#include "tests/broker/sim_cluster.h"

namespace meridian {

inline constexpr uint16_t kKafkaPort = 9192;

inline io::Address KafkaAddress(uint32_t node) { return {fmt::format("node{}", node), kKafkaPort}; }

struct KafkaClusterOptions {
  core::broker::BrokerLimits limits;          // Every node's (client quotas, connections).
  std::function<void(std::string_view)> log;  // Every node's broker log lines, if given.
  std::shared_ptr<const core::broker::AccessControl> acl;  // Every node's ACLs, if given.
  core::broker::Principal principal;               // Whom every Kafka connection speaks for.
  core::kafka::KafkaSessionLimits session_limits;  // Every Kafka connection's.
};

class KafkaCluster : public BrokerCluster {
 public:
  explicit KafkaCluster(uint64_t seed, core::broker::BrokerLimits limits = {},
                        std::function<void(std::string_view)> log = nullptr)
      : KafkaCluster(seed, KafkaClusterOptions{.limits = limits, .log = std::move(log)}) {}

  KafkaCluster(uint64_t seed, KafkaClusterOptions options)
      : BrokerCluster(
            seed,
            [options](core::broker::BrokerOptions& broker) {
              broker.kafka_advertised = KafkaAddress(broker.node_id).ToString();
              broker.limits = options.limits;
              if (options.log) broker.log = options.log;
              if (options.acl) broker.acl = options.acl;
            },
            [options](io::Runtime& rt, uint32_t id, std::shared_ptr<core::broker::Broker> b) {
              ServeKafka(rt, id, std::move(b), options);
            }) {}

 private:
  static void ServeKafka(io::Runtime& rt, uint32_t id, std::shared_ptr<core::broker::Broker> broker,
                         const KafkaClusterOptions& options) {
    absl::StatusOr<std::unique_ptr<io::Listener>> listener = rt.network().Listen(KafkaAddress(id));
    ASSERT_TRUE(listener.ok()) << listener.status();
    std::shared_ptr<io::Listener> kafka(std::move(*listener));
    const core::broker::Principal principal = options.principal;
    const core::kafka::KafkaSessionLimits limits = options.session_limits;
    rt.Spawn("kafka-accept", [&rt, broker, kafka, principal, limits] {
      while (true) {
        absl::StatusOr<std::unique_ptr<io::Stream>> stream = kafka->Accept(io::Instant::Infinite());
        if (!stream.ok()) return;
        std::shared_ptr<io::Stream> connection(std::move(*stream));
        rt.Spawn("kafka-conn", [&rt, broker, connection, principal, limits] {
          core::kafka::ServeKafkaConnection(*broker, rt, connection, nullptr, principal, limits);
        });
      }
    });
  }
};

// One Kafka request on a fresh connection to `node`; the response body (after the correlation
// id), or empty when the connection failed.
inline std::vector<uint8_t> KafkaCall(io::Runtime& rt, uint32_t node, core::kafka::ApiKey key,
                                      int16_t version, const std::vector<uint8_t>& body) {
  using core::kafka::Reader;
  const io::Instant deadline = rt.Now() + seconds(20);
  absl::StatusOr<std::unique_ptr<io::Stream>> stream =
      rt.network().Connect(KafkaAddress(node), deadline);
  if (!stream.ok()) return {};
  core::kafka::Writer request;
  request.Int32(0);
  request.Int16(static_cast<int16_t>(key));
  request.Int16(version);
  request.Int32(77);
  request.NullableString("sim-test");
  request.Raw(body);
  request.PatchInt32(0, static_cast<int32_t>(request.size() - 4));
  if (!(*stream)->Write(request.bytes(), deadline).ok()) return {};
  std::vector<uint8_t> response;
  std::array<uint8_t, 65536> buffer{};
  while (true) {
    if (response.size() >= 4) {
      const size_t size = static_cast<size_t>(Reader(response).Int32());
      if (response.size() >= size + 4) break;
    }
    absl::StatusOr<size_t> n = (*stream)->Read(buffer, deadline);
    if (!n.ok() || *n == 0) return {};
    response.insert(response.end(), buffer.begin(), buffer.begin() + *n);
  }
  (*stream)->Close();
  Reader reader(response);
  (void)reader.Int32();
  EXPECT_EQ(reader.Int32(), 77);
  return {response.begin() + 8, response.end()};
}

}  // namespace meridian
