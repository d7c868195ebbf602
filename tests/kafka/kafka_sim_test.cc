// The Kafka session (core/kafka) on the deterministic simulator: three brokers, each serving
// Kafka connections on a second port, driven with raw Kafka requests built by core/kafka's own
// codec. CreateTopics sent to every node (forwarded to the controller leader from the others),
// Metadata with racks and leaders, Produce and Fetch round trips on every partition, an
// idempotent retry answered with the original offset, a produce to a follower refused with
// NOT_LEADER_OR_FOLLOWER; fetches from the client's rack (KIP-392: preferred_read_replica, a
// follower serving v11); and the same seed gives the same trace hash twice.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>

#include "core/broker/broker.h"
#include "core/broker/group_coordinator.h"
#include "core/kafka/bytes.h"
#include "core/kafka/messages.h"
#include "core/kafka/record_batch.h"
#include "core/kafka/session.h"
#include "io/probe.h"
#include "sim/world.h"
#include "tests/broker/sim_cluster.h"
#include "tests/kafka/kafka_sim_calls.h"
#include "tests/kafka/kafka_sim_cluster.h"

namespace meridian {
namespace {

using core::kafka::ApiKey;
using core::kafka::Reader;
using core::kafka::Writer;

std::vector<uint8_t> RecordsOf(std::vector<std::string> values, int64_t producer_id,
                               int32_t sequence) {
  core::kafka::KafkaBatch batch;
  batch.producer_id = producer_id;
  if (producer_id != -1) {
    batch.producer_epoch = 0;
    batch.base_sequence = sequence;
  }
  for (std::string& value : values) {
    core::kafka::KafkaRecord record;
    record.timestamp_ms = 1000;
    record.key = std::vector<uint8_t>{'k'};
    record.value = std::vector<uint8_t>(value.begin(), value.end());
    batch.records.push_back(std::move(record));
  }
  std::vector<uint8_t> out;
  core::kafka::EncodeRecordBatch(batch, out);
  return out;
}

// Produce v7 of one batch to topic/partition: (error code, base offset).
using Produced = std::pair<int16_t, int64_t>;

Produced Produce(io::Runtime& rt, uint32_t node, int32_t partition,
                 const std::vector<uint8_t>& records) {
  Writer body;
  body.NullableString(std::nullopt);
  body.Int16(-1);
  body.Int32(10000);
  body.ArrayCount(1);
  body.String("orders");
  body.ArrayCount(1);
  body.Int32(partition);
  body.Bytes(records);
  const std::vector<uint8_t> response = KafkaCall(rt, node, ApiKey::kProduce, 7, body.Take());
  if (response.empty()) return {-100, -1};
  Reader reader(response);
  (void)reader.ArrayCount(1);
  (void)reader.String();
  (void)reader.ArrayCount(1);
  EXPECT_EQ(reader.Int32(), partition);
  const int16_t error = reader.Int16();
  return {error, reader.Int64()};
}

struct Fetched {
  int16_t error = -1;
  int32_t preferred_read_replica = -1;  // v11.
  std::vector<std::string> values;
};

// Fetch v`version` (10 or 11; 11 with rack_id `rack`) of one partition from offset 0.
Fetched FetchAll(io::Runtime& rt, uint32_t node, int32_t partition, int16_t version = 11,
                 const std::string& rack = "r1") {
  Writer body;
  for (int32_t v : {-1, 100, 1, 1 << 20}) body.Int32(v);
  body.Int8(0);
  body.Int32(0);
  body.Int32(-1);
  body.ArrayCount(1);
  body.String("orders");
  body.ArrayCount(1);
  body.Int32(partition);
  body.Int32(-1);
  body.Int64(0);
  body.Int64(-1);
  body.Int32(1 << 20);
  body.ArrayCount(0);
  if (version >= 11) body.String(rack);
  const std::vector<uint8_t> response = KafkaCall(rt, node, ApiKey::kFetch, version, body.Take());
  Reader reader(response);
  (void)reader.Int32();
  EXPECT_EQ(reader.Int16(), 0);
  (void)reader.Int32();
  (void)reader.ArrayCount(1);
  (void)reader.String();
  (void)reader.ArrayCount(1);
  (void)reader.Int32();
  Fetched out;
  out.error = reader.Int16();
  for (int i = 0; i < 3; i++) (void)reader.Int64();
  (void)reader.ArrayCount(0);
  if (version >= 11) out.preferred_read_replica = reader.Int32();
  std::span<const uint8_t> records = reader.Bytes();
  EXPECT_TRUE(reader.ok());
  while (records.size() >= 12) {
    const size_t size = 12 + static_cast<size_t>(Reader(records.subspan(8, 4)).Int32());
    core::kafka::BatchDecodeError error;
    std::optional<core::kafka::KafkaBatch> batch =
        core::kafka::DecodeRecordBatch(records.first(size), &error);
    EXPECT_TRUE(batch.has_value()) << error.reason;
    if (!batch.has_value()) break;
    for (const auto& record : batch->records) {
      out.values.emplace_back(record.value->begin(), record.value->end());
    }
    records = records.subspan(size);
  }
  return out;
}

// KIP-392 on partition `p` led by `leader`, for a client in rack r1 (node 1's region): the
// leader serves it when it is node 1; otherwise it names node 1 as the preferred read replica
// and sends no records, and node 1, a follower, serves Fetch v11 (not v10: NOT_LEADER).
void ExpectReadsNearRackR1(io::Runtime& rt, uint32_t leader, int32_t p) {
  const std::vector<std::string> all = {"a", "b", "c", "d"};
  const Fetched at_leader = FetchAll(rt, leader, p);
  EXPECT_EQ(at_leader.error, 0) << "fetch error";
  if (leader == 1) {
    EXPECT_EQ(at_leader.preferred_read_replica, -1);
    EXPECT_EQ(at_leader.values, all);
    return;
  }
  EXPECT_EQ(at_leader.preferred_read_replica, 1) << "partition " << p;
  EXPECT_TRUE(at_leader.values.empty());
  EXPECT_EQ(FetchAll(rt, leader, p, 11, "r9").values, all) << "no replica in r9: the leader";
  EXPECT_EQ(FetchAll(rt, leader, p, 10).values, all);
  // The follower may still be applying the last record: it serves what it has, then the rest.
  Fetched near;
  for (int attempt = 0; attempt < 50 && near.values.size() < all.size(); attempt++) {
    near = FetchAll(rt, 1, p);
    if (near.values.size() < all.size()) (void)rt.Sleep(milliseconds(100));
  }
  EXPECT_EQ(near.error, 0);
  EXPECT_EQ(near.preferred_read_replica, -1);
  EXPECT_EQ(near.values, all);
  EXPECT_EQ(FetchAll(rt, 1, p, 10).error, 6) << "a follower serves v11+ only";
}

struct PartitionMetadata {
  int32_t leader = -1;
  std::vector<std::string> racks;
};

// Metadata v8 for "orders": each partition's leader (-1 unknown); the brokers' racks.
PartitionMetadata Metadata(io::Runtime& rt, uint32_t node, std::vector<int32_t>* leaders) {
  Writer body;
  body.ArrayCount(1);
  body.String("orders");
  for (int i = 0; i < 3; i++) body.Bool(false);
  const std::vector<uint8_t> response = KafkaCall(rt, node, ApiKey::kMetadata, 8, body.Take());
  PartitionMetadata out;
  Reader reader(response);
  (void)reader.Int32();
  const size_t brokers = reader.ArrayCount(10);
  for (size_t i = 0; i < brokers; i++) {
    (void)reader.Int32();
    (void)reader.String();
    (void)reader.Int32();
    out.racks.push_back(reader.NullableString().value_or("null"));
  }
  (void)reader.NullableString();
  (void)reader.Int32();
  leaders->clear();
  if (reader.ArrayCount(10) != 1) return out;
  (void)reader.Int16();
  (void)reader.String();
  (void)reader.Bool();
  const size_t partitions = reader.ArrayCount(10);
  for (size_t i = 0; i < partitions && reader.ok(); i++) {
    (void)reader.Int16();
    (void)reader.Int32();
    leaders->push_back(reader.Int32());
    (void)reader.Int32();
    (void)reader.ArrayCount(10);
    for (int r = 0; r < 3; r++) (void)reader.Int32();
    (void)reader.ArrayCount(10);
    for (int r = 0; r < 3; r++) (void)reader.Int32();
    (void)reader.ArrayCount(10);
  }
  return out;
}

std::vector<uint8_t> CreateTopicsBody() {
  Writer body;
  body.ArrayCount(1);
  body.String("orders");
  body.Int32(3);
  body.Int16(3);
  body.ArrayCount(0);
  body.ArrayCount(0);
  body.Int32(10000);
  body.Bool(false);
  return body.Take();
}

// Produce v7 requests of one record each ("p0", "p1", ...) to `partition`, all written before
// the first response is read, on one connection: each response's (error, base offset, throttle
// time), in the order read.
struct PipelinedAnswer {
  int16_t error = -100;
  int64_t base_offset = -1;
  int32_t throttle_time_ms = -1;
};

std::vector<PipelinedAnswer> ProducePipelined(io::Runtime& rt, uint32_t node, int32_t partition,
                                              int count) {
  const io::Instant deadline = rt.Now() + seconds(60);
  absl::StatusOr<std::unique_ptr<io::Stream>> stream =
      rt.network().Connect(KafkaAddress(node), deadline);
  if (!stream.ok()) return {};
  Writer requests;
  for (int i = 0; i < count; i++) {
    const size_t start = requests.size();
    requests.Int32(0);
    requests.Int16(static_cast<int16_t>(ApiKey::kProduce));
    requests.Int16(7);
    requests.Int32(i);
    requests.NullableString("sim-test");
    requests.NullableString(std::nullopt);
    requests.Int16(-1);
    requests.Int32(10000);
    requests.ArrayCount(1);
    requests.String("orders");
    requests.ArrayCount(1);
    requests.Int32(partition);
    requests.Bytes(RecordsOf({fmt::format("p{}", i)}, -1, 0));
    requests.PatchInt32(start, static_cast<int32_t>(requests.size() - start - 4));
  }
  if (!(*stream)->Write(requests.bytes(), deadline).ok()) return {};
  std::vector<uint8_t> bytes;
  std::array<uint8_t, 65536> buffer{};
  std::vector<PipelinedAnswer> answers;
  while (answers.size() < static_cast<size_t>(count)) {
    if (bytes.size() >= 4) {
      const size_t size = static_cast<size_t>(Reader(bytes).Int32());
      if (bytes.size() >= size + 4) {
        Reader reader(std::span<const uint8_t>(bytes).subspan(4, size));
        EXPECT_EQ(reader.Int32(), static_cast<int32_t>(answers.size())) << "correlation id";
        (void)reader.ArrayCount(1);
        (void)reader.String();
        (void)reader.ArrayCount(1);
        (void)reader.Int32();
        PipelinedAnswer& answer = answers.emplace_back();
        answer.error = reader.Int16();
        answer.base_offset = reader.Int64();
        (void)reader.Int64();  // log_append_time.
        (void)reader.Int64();  // log_start_offset.
        answer.throttle_time_ms = reader.Int32();
        EXPECT_TRUE(reader.ok());
        bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(size + 4));
        continue;
      }
    }
    absl::StatusOr<size_t> n = (*stream)->Read(buffer, deadline);
    if (!n.ok() || *n == 0) break;
    bytes.insert(bytes.end(), buffer.begin(), buffer.begin() + *n);
  }
  (*stream)->Close();
  return answers;
}

// Creates "orders" (3 partitions, 3 replicas) through the Kafka session and waits until each
// partition has a leader; their node ids, by partition.
std::vector<int32_t> CreateOrders(io::Runtime& rt, PartitionMetadata* metadata) {
  // The first node to answer anything but a retriable error created the topic; every node
  // can be asked (non-controllers forward).
  int16_t created = -1;
  for (int attempt = 0; attempt < 100 && created != 0 && created != 36; attempt++) {
    const std::vector<uint8_t> response =
        KafkaCall(rt, 1 + attempt % 3, ApiKey::kCreateTopics, 4, CreateTopicsBody());
    Reader reader(response);
    (void)reader.Int32();
    if (reader.ArrayCount(1) == 1) {
      (void)reader.String();
      created = reader.Int16();
    }
    if (created != 0) (void)rt.Sleep(milliseconds(200));
  }
  EXPECT_EQ(created, 0) << "CreateTopics";
  std::vector<int32_t> leaders;
  for (int attempt = 0; attempt < 100; attempt++) {
    *metadata = Metadata(rt, 2, &leaders);
    if (leaders.size() == 3 && std::ranges::count(leaders, -1) == 0) break;
    (void)rt.Sleep(milliseconds(200));
  }
  return leaders;
}

// The whole scenario; returns the world's trace hash.
uint64_t RunScenario(uint64_t seed) {
  KafkaCluster cluster(seed);
  cluster.OnClient([&](io::Runtime& rt) {
    PartitionMetadata metadata;
    const std::vector<int32_t> leaders = CreateOrders(rt, &metadata);
    ASSERT_EQ(leaders.size(), 3u);
    EXPECT_EQ(metadata.racks, (std::vector<std::string>{"r1", "r2", "r3"}));
    // DescribeConfigs: the topic's settings from any node, a broker's from itself only.
    const auto [topic_error, topic_configs] =
        DescribeConfigs(rt, 2, core::kafka::kResourceTopic, "orders");
    EXPECT_EQ(topic_error, 0);
    EXPECT_EQ(topic_configs.at("retention.ms"), "-1") << "unlimited, as Kafka writes it";
    EXPECT_EQ(topic_configs.at("meridian.consistency"), "Strong");
    EXPECT_EQ(topic_configs.at("meridian.replication.factor"), "3");
    EXPECT_EQ(DescribeConfigs(rt, 2, core::kafka::kResourceTopic, "nope").first, 3);
    EXPECT_EQ(DescribeConfigs(rt, 1, core::kafka::kResourceBroker, "1").second.at("broker.rack"),
              "r1");
    EXPECT_EQ(DescribeConfigs(rt, 2, core::kafka::kResourceBroker, "1").first, 42)
        << "broker 1's configs come from broker 1";
    // Names as long as the protocol allows are answered, not echoed into an oversized message
    // (a Writer assertion took the node down before).
    const std::string longest(INT16_MAX - 8, 'n');
    EXPECT_EQ(DescribeConfigs(rt, 2, core::kafka::kResourceBroker, longest).first, 42);
    EXPECT_EQ(DescribeConfigs(rt, 2, core::kafka::kResourceTopic, longest).first, 3);
    for (int32_t p = 0; p < 3; p++) {
      const uint32_t leader = static_cast<uint32_t>(leaders[static_cast<size_t>(p)]);
      ASSERT_GE(leader, 1u);
      EXPECT_EQ(Produce(rt, leader, p, RecordsOf({"a", "b"}, -1, 0)), Produced(0, 0));
      EXPECT_EQ(Produce(rt, leader, p, RecordsOf({"c"}, -1, 0)), Produced(0, 2));
      // An idempotent batch, then its retry: the same offset, no second copy.
      EXPECT_EQ(Produce(rt, leader, p, RecordsOf({"d"}, 1, 0)), Produced(0, 3));
      EXPECT_EQ(Produce(rt, leader, p, RecordsOf({"d"}, 1, 0)), Produced(0, 3));
      ExpectReadsNearRackR1(rt, leader, p);
      const uint32_t follower = leader % 3 + 1;
      EXPECT_EQ(Produce(rt, follower, p, RecordsOf({"x"}, -1, 0)).first, 6)
          << "a follower must answer NOT_LEADER_OR_FOLLOWER";
    }
  });
  return cluster.world().trace_hash();
}

TEST(KafkaSim, CreateMetadataProduceFetchThroughTheKafkaSession) {
  io::probe::Reset();
  const uint64_t first = RunScenario(5);
  EXPECT_TRUE(io::probe::Snapshot().contains("kafka: fetch answered with a preferred read replica"))
      << "every partition was led from rack r1: the redirect was not exercised";
  EXPECT_EQ(RunScenario(5), first) << "the same seed must give the same run";
}

// Kafka connections pass the node's admission like native ones (issue 13): a client over its
// requests-per-second quota is held on the node, as a Kafka broker delays a throttled client,
// not answered with an error, and its pipelined produces keep their order while held.
TEST(KafkaSim, AQuotaHoldsKafkaProducesInOrderAndReportsTheThrottleTime) {
  constexpr int kRequests = 12;
  constexpr uint64_t kRequestsPerS = 4;
  KafkaCluster cluster(
      7, core::broker::BrokerLimits{.client_quota_default = {.requests_per_s = kRequestsPerS}});
  io::probe::Reset();
  cluster.OnClient([&](io::Runtime& rt) {
    PartitionMetadata metadata;
    const std::vector<int32_t> leaders = CreateOrders(rt, &metadata);
    ASSERT_EQ(leaders.size(), 3u);
    const uint32_t leader = static_cast<uint32_t>(leaders[0]);
    const io::Instant started = rt.Now();
    const std::vector<PipelinedAnswer> answers = ProducePipelined(rt, leader, 0, kRequests);
    const io::Duration took = rt.Now() - started;
    ASSERT_EQ(answers.size(), static_cast<size_t>(kRequests));
    int32_t throttled_ms = 0;
    for (size_t i = 0; i < answers.size(); i++) {
      EXPECT_EQ(answers[i].error, 0) << "request " << i << ": a held request must succeed";
      if (i > 0) {
        EXPECT_GT(answers[i].base_offset, answers[i - 1].base_offset) << "order, " << i;
      }
      throttled_ms += answers[i].throttle_time_ms;
    }
    EXPECT_GT(throttled_ms, 0) << "no response reported being held";
    // A burst of kRequestsPerS, then kRequestsPerS a second.
    EXPECT_GE(took, milliseconds(1000 * (kRequests - kRequestsPerS) / kRequestsPerS - 250))
        << "the quota did not slow the client";
    const Fetched fetched = FetchAll(rt, leader, 0, 10);
    ASSERT_EQ(fetched.values.size(), static_cast<size_t>(kRequests));
    for (int i = 0; i < kRequests; i++) {
      EXPECT_EQ(fetched.values[static_cast<size_t>(i)], fmt::format("p{}", i)) << "log order";
    }
  });
  EXPECT_TRUE(io::probe::Snapshot().contains("kafka: a request waits out a throttle"));
}

// Pipelined produces are answered once each, in request order (ProducePipelined checks the
// correlation ids), and responses that finish together share one stream write.
TEST(KafkaSim, PipelinedResponsesAreAnsweredInOrderAndShareWrites) {
  constexpr int kRequests = 64;
  KafkaCluster cluster(17);
  io::probe::Reset();
  cluster.OnClient([&](io::Runtime& rt) {
    PartitionMetadata metadata;
    const std::vector<int32_t> leaders = CreateOrders(rt, &metadata);
    ASSERT_EQ(leaders.size(), 3u);
    const uint32_t leader = static_cast<uint32_t>(leaders[1]);
    const std::vector<PipelinedAnswer> answers = ProducePipelined(rt, leader, 1, kRequests);
    ASSERT_EQ(answers.size(), static_cast<size_t>(kRequests));
    for (size_t i = 0; i < answers.size(); i++) {
      EXPECT_EQ(answers[i].error, 0) << "request " << i;
      if (i > 0) {
        EXPECT_GT(answers[i].base_offset, answers[i - 1].base_offset) << "order, " << i;
      }
    }
    const Fetched fetched = FetchAll(rt, leader, 1, 10);
    ASSERT_EQ(fetched.values.size(), static_cast<size_t>(kRequests));
  });
  EXPECT_TRUE(io::probe::Snapshot().contains("kafka: responses coalesced into one write"));
}

// Whether a Metadata v8 request on `stream` is answered (false: the node closed it).
bool AnswersMetadata(io::Runtime& rt, io::Stream& stream) {
  Writer request;
  request.Int32(0);
  request.Int16(static_cast<int16_t>(ApiKey::kMetadata));
  request.Int16(8);
  request.Int32(1);
  request.NullableString("sim-test");
  request.ArrayCount(0);
  for (int i = 0; i < 3; i++) request.Bool(false);
  request.PatchInt32(0, static_cast<int32_t>(request.size() - 4));
  const io::Instant deadline = rt.Now() + seconds(5);
  if (!stream.Write(request.bytes(), deadline).ok()) return false;
  std::array<uint8_t, 4096> buffer{};
  absl::StatusOr<size_t> n = stream.Read(buffer, deadline);
  return n.ok() && *n > 0;
}

// Holds Kafka connections to node 1 until one is refused (closed before any answer), expects
// `cap` held, then closes one and expects the freed slot to serve the next connection.
void ExpectKafkaConnectionsCapped(KafkaCluster& cluster, uint32_t cap) {
  cluster.OnClient([&](io::Runtime& rt) {
    const auto connect = [&] {
      absl::StatusOr<std::unique_ptr<io::Stream>> stream =
          rt.network().Connect(KafkaAddress(1), rt.Now() + seconds(5));
      EXPECT_TRUE(stream.ok()) << stream.status();
      return stream.ok() ? *std::move(stream) : nullptr;
    };
    for (int attempt = 0; attempt < 100; attempt++) {  // Until node 1 listens.
      if (!KafkaCall(rt, 1, ApiKey::kApiVersions, 0, {}).empty()) break;
      (void)rt.Sleep(milliseconds(100));
    }
    std::vector<std::unique_ptr<io::Stream>> held;
    bool refused = false;
    while (!refused && held.size() <= cap) {
      std::unique_ptr<io::Stream> stream = connect();
      ASSERT_NE(stream, nullptr);
      if (AnswersMetadata(rt, *stream)) {
        held.push_back(std::move(stream));
      } else {
        refused = true;
      }
    }
    EXPECT_TRUE(refused) << held.size() << " Kafka connections served, the limit is " << cap;
    // The node's other connections (its peers' native clients) may hold slots of the node-wide
    // limit, never of the client's address.
    EXPECT_LE(held.size(), cap);
    ASSERT_FALSE(held.empty());
    held.back()->Close();
    held.pop_back();
    (void)rt.Sleep(milliseconds(100));  // The node sees the close and frees the slot.
    std::unique_ptr<io::Stream> next = connect();
    ASSERT_NE(next, nullptr);
    EXPECT_TRUE(AnswersMetadata(rt, *next)) << "a freed slot did not serve the next connection";
    next->Close();
    for (auto& stream : held) stream->Close();
  });
  EXPECT_TRUE(
      io::probe::Snapshot().contains("kafka: connection refused at the node's connection limits"));
}

// Kafka connections hold the node's client connection slots (--connections_max, shared with
// native connections, the other brokers' among them): past the limit a new one is closed
// before any answer, and a slot freed by a closed connection serves the next.
TEST(KafkaSim, KafkaConnectionsCountAgainstTheNodesConnectionLimit) {
  constexpr uint32_t kConnectionsMax = 8;
  KafkaCluster cluster(9, core::broker::BrokerLimits{.connections_max = kConnectionsMax});
  io::probe::Reset();
  ExpectKafkaConnectionsCapped(cluster, kConnectionsMax);
  EXPECT_GT(cluster.broker(1)->metrics().connections_refused_total, 0u);
}

// One address may hold at most connections_per_address_max of them (--connections_per_address_max),
// however many the node has free.
TEST(KafkaSim, KafkaConnectionsFromOneAddressArePerAddressCapped) {
  constexpr uint32_t kPerAddressMax = 3;
  KafkaCluster cluster(9,
                       core::broker::BrokerLimits{.connections_per_address_max = kPerAddressMax});
  io::probe::Reset();
  ExpectKafkaConnectionsCapped(cluster, kPerAddressMax);
  const core::broker::BrokerMetrics& metrics = cluster.broker(1)->metrics();
  EXPECT_GT(metrics.connections_refused_per_address_total, 0u);
  EXPECT_EQ(metrics.connections_refused_total, 0u);
}

// A Kafka client that trickles a request (slowloris) or sends nothing is closed, as on the
// native port (BrokerSim.ConnectionsThatIdleOrTrickleARequestAreClosedAndFreeTheirSlot): a size
// header declaring 1 MiB and 100 bytes of it, then silence, after request_read_timeout; a
// connection idle after its answer, after connection_idle_timeout. Both counted and logged.
TEST(KafkaSim, ConnectionsThatIdleOrTrickleARequestAreClosed) {
  std::vector<std::string> logged;
  KafkaCluster cluster(17,
                       core::broker::BrokerLimits{.connection_idle_timeout = seconds(6),
                                                  .request_read_timeout = seconds(2)},
                       [&logged](std::string_view line) {
                         if (line.find("kafka: closed") != std::string_view::npos) {
                           logged.emplace_back(line);
                         }
                       });
  cluster.OnClient([&](io::Runtime& rt) {
    for (int attempt = 0; attempt < 100; attempt++) {  // Until node 1 listens.
      if (!KafkaCall(rt, 1, ApiKey::kApiVersions, 0, {}).empty()) break;
      (void)rt.Sleep(milliseconds(100));
    }
    auto trickler = rt.network().Connect(KafkaAddress(1), rt.Now() + seconds(5));
    ASSERT_TRUE(trickler.ok());
    ASSERT_TRUE(AnswersMetadata(rt, **trickler));
    std::vector<uint8_t> begun = {0x00, 0x10, 0x00, 0x00};  // 1 MiB declared...
    begun.resize(104, 0);                                   // ... and 100 bytes of it.
    ASSERT_TRUE((*trickler)->Write(begun, rt.Now() + seconds(1)).ok());
    const io::Instant stalled_at = rt.Now();
    ExpectClosedByNodeAfter(rt, **trickler, stalled_at, seconds(2),
                            "a request not whole within request_read_timeout");
    (*trickler)->Close();
    auto idler = rt.network().Connect(KafkaAddress(1), rt.Now() + seconds(5));
    ASSERT_TRUE(idler.ok());
    ASSERT_TRUE(AnswersMetadata(rt, **idler));
    ExpectClosedByNodeAfter(rt, **idler, rt.Now(), seconds(6), "an idle connection");
    (*idler)->Close();
    EXPECT_EQ(cluster.broker(1)->metrics().connections_timed_out_total, 2u);
  });
  const auto said = [&](std::string_view what) {
    return std::any_of(logged.begin(), logged.end(), [&](const std::string& line) {
      return line.find(what) != std::string::npos;
    });
  };
  EXPECT_TRUE(said("a request begun but not whole within 2s"));
  EXPECT_TRUE(said("no request for 6s"));
}

// An API the listener does not serve closes the connection (Kafka has no reply layout for it),
// never silently: the node logs why, at most once a second however often it happens.
TEST(KafkaSim, AnUnservedApiClosesTheConnectionAndTheNodeLogsWhy) {
  std::vector<std::string> logged;
  KafkaCluster cluster(13, {}, [&logged](std::string_view line) {
    if (line.find("kafka: closed") != std::string_view::npos) logged.emplace_back(line);
  });
  cluster.OnClient([&](io::Runtime& rt) {
    for (int attempt = 0; attempt < 100; attempt++) {  // Until node 1 listens.
      if (!KafkaCall(rt, 1, ApiKey::kApiVersions, 0, {}).empty()) break;
      (void)rt.Sleep(milliseconds(100));
    }
    // DescribeAcls (29) is not served; Metadata v9 is flexible, outside 0..8.
    EXPECT_TRUE(KafkaCall(rt, 1, static_cast<ApiKey>(29), 1, {}).empty());
    EXPECT_TRUE(KafkaCall(rt, 1, ApiKey::kMetadata, 9, {}).empty());
    for (int i = 0; i < 20; i++) (void)KafkaCall(rt, 1, static_cast<ApiKey>(29), 1, {});
  });
  ASSERT_GE(logged.size(), 1u);
  EXPECT_NE(logged[0].find("API key 29 is not served"), std::string::npos) << logged[0];
  EXPECT_LT(logged.size(), 10u) << "22 closes within a second or two must not give a line each";
}

// A new coordinator takes a Kafka group's members from the log with their rebalance timeouts:
// the rebalance a join starts after a failover waits for the longest of them, not only the
// joiner's. Member A (rebalance timeout 10 s) is alone and Stable; the coordinator crashes;
// member B joins the successor with a rebalance timeout of 100 ms, and A rejoins 1 s later. B's
// join must wait for A: both land in one generation. (With the timeouts dropped from the
// generation record, the successor waited 1 ms for A, gave B a generation of its own, and A's
// rejoin started another.)
TEST(KafkaSim, ARebalanceAfterACoordinatorCrashWaitsForTheMembersTheLogHolds) {
  KafkaCluster cluster(47);
  cluster.OnClient([&](io::Runtime& rt) {
    ASSERT_EQ(CreateTopicOnceNodesAreUp(rt, "orders", 1), 0);
    const uint32_t coordinator = Coordinator(rt, "g");
    const std::string a = JoinAndSync(rt, coordinator, "g", /*session_timeout_ms=*/30000);
    cluster.world().Crash(io::NodeId(coordinator));
    uint32_t successor = coordinator;
    for (int i = 0; i < 50 && successor == coordinator; i++) {
      (void)rt.Sleep(milliseconds(200));
      successor = Coordinator(rt, "g");
    }
    ASSERT_NE(successor, coordinator) << "no new coordinator";
    int32_t a_generation = -1;
    rt.Spawn("rejoin", [&] {
      (void)rt.Sleep(seconds(1));
      const auto [code, generation, member] = Join(rt, successor, "g", 30000, 10000, a);
      EXPECT_EQ(code, 0);
      EXPECT_EQ(member, a);
      a_generation = generation;
    });
    const auto [code, b_generation, b] =
        Join(rt, successor, "g", 30000, /*rebalance_timeout_ms=*/100);
    EXPECT_EQ(code, 0);
    for (int i = 0; i < 100 && a_generation < 0; i++) (void)rt.Sleep(milliseconds(100));
    EXPECT_EQ(a_generation, b_generation) << "B's generation left A out";
  });
}

// JoinGroup v1 of a new member of `group` offering `protocols`: the error code.
int16_t JoinOffering(io::Runtime& rt, uint32_t node, const std::string& group,
                     const JoinProtocols& protocols) {
  const std::vector<uint8_t> response = KafkaCall(rt, node, core::kafka::ApiKey::kJoinGroup, 1,
                                                  JoinBody(group, 10000, 10000, "", protocols));
  core::kafka::Reader reader(response);
  const int16_t code = reader.Int16();
  return reader.ok() ? code : int16_t{-100};
}

// A ConsumerProtocol subscription to `topics`, padded with user data to `bytes` in all.
std::vector<uint8_t> SubscriptionOf(const std::vector<std::string>& topics, size_t bytes = 0) {
  std::vector<uint8_t> out = core::broker::EncodeConsumerSubscription(topics);
  if (bytes == 0) return out;
  out.resize(out.size() - 4);  // The null user data's length.
  EXPECT_GE(bytes, out.size() + 4);
  const size_t user_data = bytes - out.size() - 4;
  core::kafka::Writer length;
  length.Int32(static_cast<int32_t>(user_data));
  const std::vector<uint8_t> prefix = length.Take();
  out.insert(out.end(), prefix.begin(), prefix.end());
  out.resize(bytes, 'u');
  return out;
}

// A Kafka join's limits are inclusive: kProtocolsMax protocols, metadata of
// kProtocolMetadataBytesMax bytes and kSubscribedTopicsMax topics over all protocols are taken
// (each join a group of its own); one more topic is refused (INVALID_REQUEST), and
// one more protocol or metadata byte is refused before the coordinator sees it (core/kafka's
// decoder holds the same limits: a request past them does not decode, and its connection is
// closed).
TEST(KafkaSim, JoinGroupLimitsAreInclusive) {
  using core::broker::GroupCoordinator;
  static_assert(GroupCoordinator::kProtocolsMax == core::kafka::kGroupProtocolsMax);
  static_assert(GroupCoordinator::kProtocolMetadataBytesMax == core::kafka::kGroupBytesMax);
  KafkaCluster cluster(53);
  cluster.OnClient([&](io::Runtime& rt) {
    ASSERT_EQ(CreateTopicOnceNodesAreUp(rt, "orders", 1), 0);
    int groups = 0;
    // The code of a join of a group of its own (so no join bears on the next).
    const auto join = [&](const JoinProtocols& offer) {
      const std::string group = "limits-" + std::to_string(groups++);
      const uint32_t coordinator = Coordinator(rt, group);
      return JoinOffering(rt, coordinator, group, offer);
    };
    JoinProtocols offer;
    for (size_t i = 0; i < GroupCoordinator::kProtocolsMax; i++) {
      offer.emplace_back("p" + std::to_string(i), kSubscription);
    }
    EXPECT_EQ(join(offer), 0) << "kProtocolsMax protocols";
    offer.emplace_back("one-more", kSubscription);
    EXPECT_EQ(join(offer), -100) << "does not decode";
    const size_t largest = GroupCoordinator::kProtocolMetadataBytesMax;
    EXPECT_EQ(join({{"range", SubscriptionOf({"orders"}, largest)}}), 0) << "the largest metadata";
    EXPECT_EQ(join({{"range", SubscriptionOf({"orders"}, largest + 1)}}), -100);
    std::vector<std::string> first, second;
    for (size_t i = 0; i < GroupCoordinator::kSubscribedTopicsMax; i++) {
      (i % 2 == 0 ? first : second).push_back("t" + std::to_string(i));
    }
    EXPECT_EQ(join({{"range", SubscriptionOf(first)}, {"roundrobin", SubscriptionOf(second)}}), 0)
        << "kSubscribedTopicsMax topics over two protocols";
    second.push_back("one-more");
    EXPECT_EQ(join({{"range", SubscriptionOf(first)}, {"roundrobin", SubscriptionOf(second)}}),
              core::kafka::error::kInvalidRequest);
  });
}

}  // namespace
}  // namespace meridian
