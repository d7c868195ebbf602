// tests/broker: a broker cluster on the deterministic simulator — 3 nodes by default (regions
// r1..r3, one node each, all controller voters; a 4th node and more go to r1, r2, r3 in turn as
// controller learners) — plus one client node, for tests that drive the real broker.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/broker/broker.h"
#include "core/client/client.h"
#include "core/client/consumer.h"
#include "core/client/producer.h"
#include "io/assert.h"
#include "sim/world.h"

namespace meridian {

using std::chrono::milliseconds;
using std::chrono::seconds;

inline constexpr uint16_t kPort = 9092;

inline io::Address AddressOf(uint32_t node) { return {fmt::format("node{}", node), kPort}; }

// Whether the node closed `stream` by `deadline` (a read sees the end, or the connection fails).
inline bool ClosedByNode(io::Stream& stream, io::Instant deadline) {
  std::array<uint8_t, 256> buffer{};
  while (true) {
    absl::StatusOr<size_t> n = stream.Read(std::span<uint8_t>(buffer), deadline);
    if (!n.ok()) return !absl::IsDeadlineExceeded(n.status());
    if (*n == 0) return true;
  }
}

// Expects the node to close `stream` (the last answer on it was read at `since`) `timeout`
// later: no later than 3 s past it, and not more than 1 s before it (the node's clock started
// when it sent that answer, a network delay earlier).
inline void ExpectClosedByNodeAfter(io::Runtime& rt, io::Stream& stream, io::Instant since,
                                    io::Duration timeout, std::string_view what) {
  EXPECT_TRUE(ClosedByNode(stream, since + timeout + std::chrono::seconds(3)))
      << what << " must close its connection";
  EXPECT_GE(rt.Now() - since, timeout - std::chrono::seconds(1)) << what << ": closed too early";
}

// Creates `topic` (`partitions` partitions, replication factor 3; retried while the cluster
// elects its controller) and writes `records` records ("k0"/"v0" ...) through an idempotent
// producer, every one acknowledged.
inline void CreateTopicAndFill(io::Runtime& rt, core::client::Client& client,
                               const std::string& topic, uint32_t partitions, int records) {
  for (int attempt = 0; attempt < 100; attempt++) {
    if (client.CreateTopic(topic, partitions, 3).ok()) break;
    (void)rt.Sleep(std::chrono::milliseconds(200));
  }
  absl::StatusOr<std::unique_ptr<core::client::Producer>> producer =
      core::client::Producer::Create(client);
  ASSERT_TRUE(producer.ok()) << producer.status();
  for (int i = 0; i < records; i++) {
    ASSERT_TRUE((*producer)
                    ->Send(topic, fmt::format("k{}", i), fmt::format("v{}", i), {}, 0,
                           rt.Now() + std::chrono::seconds(10))
                    .ok());
  }
  ASSERT_TRUE((*producer)->Flush(rt.Now() + std::chrono::seconds(30)).ok());
  ASSERT_TRUE((*producer)->Close(rt.Now() + std::chrono::seconds(5)).ok());
}

// The distinct values read from the beginning of partitions 0..partitions-1 of `topic`, polling
// until `expected` of them were seen or `timeout` passed.
inline std::set<std::string> ReadValues(io::Runtime& rt, core::client::Client& client,
                                        const std::string& topic, uint32_t partitions,
                                        size_t expected, io::Duration timeout) {
  core::client::Consumer consumer(client);
  std::vector<core::client::TopicPartition> assigned;
  for (uint32_t p = 0; p < partitions; p++) assigned.push_back({topic, p});
  EXPECT_TRUE(consumer.Assign(assigned).ok());
  std::set<std::string> values;
  const io::Instant until = rt.Now() + timeout;
  while (values.size() < expected && rt.Now() < until) {
    absl::StatusOr<std::vector<core::client::ConsumedRecord>> records =
        consumer.Poll(std::chrono::milliseconds(200));
    if (!records.ok()) continue;
    for (const auto& record : *records) values.insert(record.value);
  }
  consumer.Close();
  return values;
}

class BrokerCluster {
 public:
  // `tune` adjusts each node's options before its broker starts; `started` runs on the node's
  // runtime once its broker is up (another listener, say), before it accepts clients.
  using Started =
      std::function<void(io::Runtime&, uint32_t node, std::shared_ptr<core::broker::Broker>)>;
  explicit BrokerCluster(uint64_t seed,
                         std::function<void(core::broker::BrokerOptions&)> tune = nullptr,
                         Started started = nullptr, uint32_t servers = 3)
      : world_(sim::WorldOptions{.seed = seed}),
        tune_(std::move(tune)),
        started_(std::move(started)),
        servers_(servers) {
    MERIDIAN_CHECK(servers >= 3 && servers < 10);
    for (uint32_t id = 1; id <= servers; id++) {
      world_.AddNode(io::NodeId(id), AddressOf(id).host,
                     [this, id](io::Runtime& rt) { Serve(rt, id); });
    }
    world_.AddNode(io::NodeId(10), "client", [this](io::Runtime& rt) { client_ = &rt; });
    for (io::NodeId node : world_.nodes()) world_.Start(node);
  }

  // Runs `body` on the client node to completion.
  void OnClient(std::function<void(io::Runtime&)> body) {
    bool done = false;
    client_->Spawn("test", [&] {
      body(*client_);
      done = true;
    });
    ASSERT_TRUE(world_.RunUntil([&] { return done; }, world_.Now() + seconds(120)));
  }

  sim::World& world() { return world_; }
  uint32_t servers() const { return servers_; }
  // Node `id`'s running broker (null before it started, or after its node crashed). For
  // read-only looks from a test fiber: a broker belongs to its node's runtime, which owns it.
  std::shared_ptr<core::broker::Broker> broker(uint32_t id) {
    auto found = brokers_.find(id);
    return found == brokers_.end() ? nullptr : found->second.lock();
  }

 private:
  void Serve(io::Runtime& rt, uint32_t id) {
    core::broker::BrokerOptions options;
    options.node_id = id;
    options.region = fmt::format("r{}", (id - 1) % 3 + 1);
    options.advertised = AddressOf(id);
    options.controller_voters = {1, 2, 3};
    for (uint32_t learner = 4; learner <= servers_; learner++) {
      options.controller_learners.push_back(learner);
    }
    if (tune_) tune_(options);
    absl::StatusOr<std::unique_ptr<core::broker::Broker>> broker =
        core::broker::Broker::Start(rt, options);
    ASSERT_TRUE(broker.ok()) << broker.status();
    std::shared_ptr<core::broker::Broker> shared(std::move(*broker));
    brokers_[id] = shared;
    if (started_) started_(rt, id, shared);
    absl::StatusOr<std::unique_ptr<io::Listener>> listener = rt.network().Listen(AddressOf(id));
    ASSERT_TRUE(listener.ok());
    while (true) {
      absl::StatusOr<std::unique_ptr<io::Stream>> stream =
          (*listener)->Accept(io::Instant::Infinite());
      if (!stream.ok()) return;
      std::shared_ptr<io::Stream> connection(std::move(*stream));
      rt.Spawn("conn", [shared, connection] { shared->ServeConnection(connection); });
    }
  }

  sim::World world_;
  std::function<void(core::broker::BrokerOptions&)> tune_;
  Started started_;
  uint32_t servers_;
  std::map<uint32_t, std::weak_ptr<core::broker::Broker>> brokers_;  // Owned by the nodes.
  io::Runtime* client_ = nullptr;
};

}  // namespace meridian
