// Reads near the client (ConsumerOptions::client_region, issue 12) against the fake two-node
// broker: node 1 in region "eu", node 2 in "us"; partition 0 is led by node 1, partition 1 by
// node 2, and each node also holds the other partition as a follower.
#include <gtest/gtest.h>

#include "core/client/consumer.h"
#include "core/client/producer.h"
#include "core/client/testing/consume_helpers.h"
#include "core/client/testing/fake_broker.h"
#include "core/client/testing/test_runtime.h"
#include "io/assert.h"
#include "io/probe.h"

namespace meridian::core::client {
namespace {

using namespace std::chrono_literals;

class NearReadsTest : public ::testing::Test {
 protected:
  NearReadsTest() : broker_(runtime_, BrokerOptions()) {
    broker_.AddTopic("near", 2);
    MERIDIAN_CHECK(broker_.Start().ok());
  }
  ~NearReadsTest() override { runtime_.scheduler().Shutdown(); }

  static testing::FakeBrokerOptions BrokerOptions() {
    testing::FakeBrokerOptions options;
    options.node1_region = "eu";
    options.node2_region = "us";
    return options;
  }
  ClientOptions Options() {
    ClientOptions options;
    options.bootstrap = {{"broker1", 9092}};
    options.request_timeout = 2s;
    return options;
  }
  io::Instant In(io::Duration duration) { return runtime_.Now() + duration; }

  void Produce(Client& client, int count, int first = 0) {
    testing::ProduceKeyed(client, "near", count, first);
  }
  std::vector<ConsumedRecord> PollAtLeast(Consumer& consumer, size_t count) {
    return testing::PollAtLeast(runtime_, consumer, count);
  }
  // Two rounds of 20 records; partition 1's high watermark after the first (where a lagging
  // follower is held) and after both.
  std::pair<int64_t, int64_t> ProduceTwoRounds(Client& client) {
    Produce(client, 20);
    const int64_t lagged = broker_.HighWatermark("near", 1);
    Produce(client, 20, 20);
    return {lagged, broker_.HighWatermark("near", 1)};
  }

  // Every record of both partitions, in offset order per partition, as the leaders hold them.
  void ExpectEverythingInOrder(const std::vector<ConsumedRecord>& records) {
    std::vector<int64_t> next(2, 0);
    for (const ConsumedRecord& record : records) {
      ASSERT_LT(record.partition, 2u);
      EXPECT_EQ(static_cast<int64_t>(record.offset.value()), next[record.partition]++);
      ASSERT_TRUE(record.key.has_value());
      EXPECT_EQ(record.value, "v" + record.key->substr(4));
    }
    EXPECT_EQ(next[0], broker_.HighWatermark("near", 0));
    EXPECT_EQ(next[1], broker_.HighWatermark("near", 1));
  }

  std::vector<TopicPartition> Both() { return {{"near", 0}, {"near", 1}}; }

  testing::TestRuntime runtime_;
  testing::FakeBroker broker_;
};

// A consumer in "eu" reads both partitions from node 1: partition 0 from its leader, partition
// 1 from its follower. Node 2 serves no fetch at all.
TEST_F(NearReadsTest, EveryPartitionIsReadFromTheClientsRegion) {
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    Produce(client, 40);
    ConsumerOptions options;
    options.client_region = "eu";
    Consumer consumer(client, options);
    ASSERT_TRUE(consumer.Assign(Both()).ok());
    ExpectEverythingInOrder(PollAtLeast(consumer, 40));
    EXPECT_GT(broker_.fetches_served(1), 0u);
    EXPECT_EQ(broker_.fetches_served(2), 0u);
    EXPECT_EQ(consumer.fetched_bytes_by_node().size(), 1u);
    EXPECT_TRUE(consumer.fetched_bytes_by_node().contains(1));
    consumer.Close();
  }));
}

// Without a region, or with one no replica is in, each partition is read from its leader.
TEST_F(NearReadsTest, ARegionWithoutReplicasFallsBackToTheLeaders) {
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    Produce(client, 40);
    for (const std::string region : {"", "ap"}) {
      ConsumerOptions options;
      options.client_region = region;
      Consumer consumer(client, options);
      ASSERT_TRUE(consumer.Assign(Both()).ok());
      ExpectEverythingInOrder(PollAtLeast(consumer, 40));
      EXPECT_EQ(consumer.fetched_bytes_by_node().size(), 2u) << "region '" << region << "'";
      consumer.Close();
    }
  }));
}

// The near follower refuses (as one without a data lease would): the consumer refreshes its
// metadata, reads from the leader meanwhile, and misses nothing.
TEST_F(NearReadsTest, ARefusingFollowerIsReplacedByTheLeader) {
  io::probe::Reset();
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    Produce(client, 40);
    broker_.RefuseFollowerFetches(1);
    ConsumerOptions options;
    options.client_region = "eu";
    Consumer consumer(client, options);
    ASSERT_TRUE(consumer.Assign({{"near", 1}}).ok());
    const std::vector<ConsumedRecord> records =
        PollAtLeast(consumer, static_cast<size_t>(broker_.HighWatermark("near", 1)));
    ASSERT_EQ(records.size(), static_cast<size_t>(broker_.HighWatermark("near", 1)));
    for (size_t i = 0; i < records.size(); i++) EXPECT_EQ(records[i].offset.value(), i);
    EXPECT_GT(broker_.fetches_served(2), 0u) << "the leader never served";
    consumer.Close();
  }));
  EXPECT_TRUE(io::probe::Snapshot().contains("consumer: near replica failed, the leader serves"));
}

// A lagging follower delays what the consumer sees, never changes it: with the follower held
// at the end of the first round of records the consumer gets those, then the rest once it
// catches up — the same records the leader has, in order.
TEST_F(NearReadsTest, ALaggingFollowerDelaysRecordsButNeverChangesThem) {
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    const auto [lagged, end] = ProduceTwoRounds(client);
    ASSERT_GT(lagged, 0);
    ASSERT_GT(end, lagged);
    broker_.LagFollower("near", 1, lagged);
    ConsumerOptions options;
    options.client_region = "eu";
    Consumer consumer(client, options);
    ASSERT_TRUE(consumer.Assign({{"near", 1}}).ok());
    std::vector<ConsumedRecord> records = PollAtLeast(consumer, static_cast<size_t>(end));
    ASSERT_EQ(records.size(), static_cast<size_t>(lagged))
        << "a lagging follower served what it did not have";
    broker_.LagFollower("near", 1, -1);
    for (ConsumedRecord& record : PollAtLeast(consumer, static_cast<size_t>(end - lagged))) {
      records.push_back(std::move(record));
    }
    ASSERT_EQ(records.size(), static_cast<size_t>(end));
    for (size_t i = 0; i < records.size(); i++) {
      EXPECT_EQ(records[i].offset.value(), i);
      EXPECT_EQ(records[i].value, "v" + records[i].key->substr(4));
    }
    EXPECT_EQ(broker_.fetches_served(2), 0u);
    consumer.Close();
  }));
}

// A follower behind the consumer's position (it sought past what the follower has) is passed
// over for Consumer::kNearReplicaAvoid: the leader serves the records past it.
TEST_F(NearReadsTest, AFollowerBehindThePositionIsPassedOver) {
  io::probe::Reset();
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    const auto [lagged, end] = ProduceTwoRounds(client);
    ASSERT_GT(end, lagged + 1);
    broker_.LagFollower("near", 1, lagged);
    ConsumerOptions options;
    options.client_region = "eu";
    Consumer consumer(client, options);
    ASSERT_TRUE(consumer.Assign({{"near", 1}}).ok());
    ASSERT_TRUE(consumer.Seek({"near", 1}, core::Offset(lagged + 1)).ok());
    const std::vector<ConsumedRecord> records =
        PollAtLeast(consumer, static_cast<size_t>(end - lagged - 1));
    ASSERT_EQ(records.size(), static_cast<size_t>(end - lagged - 1));
    EXPECT_EQ(records.front().offset.value(), static_cast<uint64_t>(lagged + 1));
    EXPECT_GT(broker_.fetches_served(2), 0u);
    consumer.Close();
  }));
  EXPECT_TRUE(io::probe::Snapshot().contains(
      "consumer: near replica lags the fetch position, passed over"));
}

}  // namespace
}  // namespace meridian::core::client
