// Consumer against the fake two-node broker (records written by the Producer), on the
// deterministic test runtime.
#include "core/client/consumer.h"

#include <gtest/gtest.h>

#include "core/client/partitioner.h"
#include "core/client/producer.h"
#include "core/client/testing/consume_helpers.h"
#include "core/client/testing/fake_broker.h"
#include "core/client/testing/test_runtime.h"
#include "io/assert.h"

namespace meridian::core::client {
namespace {

using namespace std::chrono_literals;

class ConsumerTest : public ::testing::Test {
 protected:
  ConsumerTest() : broker_(runtime_) {
    broker_.AddTopic("orders", 4);
    MERIDIAN_CHECK(broker_.Start().ok());
  }
  ~ConsumerTest() override { runtime_.scheduler().Shutdown(); }

  ClientOptions Options() {
    ClientOptions options;
    options.bootstrap = {{"broker2", 9092}};
    options.request_timeout = 2s;
    return options;
  }
  io::Instant In(io::Duration duration) { return runtime_.Now() + duration; }

  // Produces `count` records keyed "key-<i>" (value "v<i>") and waits for them.
  void Produce(Client& client, int count, int first = 0) {
    testing::ProduceKeyed(client, "orders", count, first);
  }

  // Polls until `count` records arrived (or 30 virtual seconds passed).
  std::vector<ConsumedRecord> PollAtLeast(Consumer& consumer, size_t count) {
    return testing::PollAtLeast(runtime_, consumer, count);
  }

  std::vector<TopicPartition> AllPartitions() {
    return {{"orders", 0}, {"orders", 1}, {"orders", 2}, {"orders", 3}};
  }

  testing::TestRuntime runtime_;
  testing::FakeBroker broker_;
};

// A throttled fetch is waited out (retry_after_ms) and retried; the consumer still reads all.
TEST_F(ConsumerTest, ThrottledFetchesAreWaitedOut) {
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    Produce(client, 8);
    broker_.ThrottleRequests(wire::Body::FetchRequest, 12, /*retry_after_ms=*/300);
    Consumer consumer(client, ConsumerOptions{});
    ASSERT_TRUE(consumer.Assign(AllPartitions()).ok());
    const io::Instant start = runtime_.Now();
    EXPECT_EQ(PollAtLeast(consumer, 8).size(), 8u);
    // Four partitions fetch in parallel: 12 throttles are at least three rounds of 300 ms.
    EXPECT_GE(runtime_.Now() - start, 900ms);
    EXPECT_EQ(client.throttled_total(), 12u);
    consumer.Close();
    client.Close();
  }));
}

TEST_F(ConsumerTest, ReadsEverythingInOrderAcrossPartitions) {
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    Produce(client, 60);
    ConsumerOptions options;
    options.fetch_max_bytes = 200;  // Several fetches per partition.
    Consumer consumer(client, options);
    ASSERT_TRUE(consumer.Assign(AllPartitions()).ok());
    std::vector<ConsumedRecord> records = PollAtLeast(consumer, 60);
    ASSERT_EQ(records.size(), 60u);
    std::vector<int64_t> next(4, 0);
    for (const ConsumedRecord& record : records) {
      ASSERT_TRUE(record.key.has_value());
      EXPECT_EQ(record.partition, PartitionForKey(*record.key, 4));
      EXPECT_EQ(static_cast<int64_t>(record.offset.value()), next[record.partition]++);
      const int i = std::stoi(record.key->substr(4));
      EXPECT_EQ(record.value, fmt::format("v{}", i));
      EXPECT_EQ(record.timestamp_ms, 5000 + i);
      ASSERT_EQ(record.headers.size(), 1u);
      EXPECT_EQ(record.headers[0].value, "x");
    }
    for (uint32_t p = 0; p < 4; ++p) {
      EXPECT_EQ(next[p], broker_.HighWatermark("orders", p));
      EXPECT_EQ(consumer.Position({"orders", p}, In(1s))->value(), uint64_t(next[p]));
    }
    consumer.Close();
  }));
}

TEST_F(ConsumerTest, LongPollDeliversRecordsProducedLater) {
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    Consumer consumer(client);
    ASSERT_TRUE(consumer.Assign(AllPartitions()).ok());
    auto empty = consumer.Poll(300ms);
    ASSERT_TRUE(empty.ok());
    EXPECT_TRUE(empty->empty());
    runtime_.Spawn("late-producer", [&] { Produce(client, 3); });
    std::vector<ConsumedRecord> records = PollAtLeast(consumer, 3);
    EXPECT_EQ(records.size(), 3u);
    consumer.Close();
  }));
}

TEST_F(ConsumerTest, SeekSkipsEarlierRecordsOfTheFirstBatchAndSeekToEndWaitsForNewOnes) {
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    Produce(client, 40);
    const uint32_t p = PartitionForKey("key-0", 4);
    const int64_t end = broker_.HighWatermark("orders", p);
    ASSERT_GE(end, 4);
    Consumer consumer(client);
    ASSERT_TRUE(consumer.Assign({{"orders", p}}).ok());
    ASSERT_TRUE(consumer.Seek({"orders", p}, core::Offset(3)).ok());
    std::vector<ConsumedRecord> records = PollAtLeast(consumer, end - 3);
    ASSERT_EQ(records.size(), size_t(end - 3));
    EXPECT_EQ(records.front().offset, core::Offset(3));  // Mid-batch: 0..2 skipped.

    ASSERT_TRUE(consumer.SeekToEnd({"orders", p}).ok());
    EXPECT_EQ(consumer.Position({"orders", p}, In(1s))->value(), uint64_t(end));
    ASSERT_TRUE(consumer.SeekToBeginning({"orders", p}).ok());
    EXPECT_EQ(consumer.Position({"orders", p}, In(1s))->value(), 0u);
    records = PollAtLeast(consumer, end);
    EXPECT_EQ(records.front().offset, core::Offset(0));
    EXPECT_EQ(records.size(), size_t(end));
    consumer.Close();
  }));
}

TEST_F(ConsumerTest, OffsetOutOfRangeResetsToEarliest) {
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    Produce(client, 20);
    const uint32_t p = 1;
    const int64_t end = broker_.HighWatermark("orders", p);
    Consumer consumer(client);
    ASSERT_TRUE(consumer.Assign({{"orders", p}}).ok());
    ASSERT_TRUE(consumer.Seek({"orders", p}, core::Offset(1000)).ok());
    std::vector<ConsumedRecord> records = PollAtLeast(consumer, end);
    ASSERT_EQ(records.size(), size_t(end));
    EXPECT_EQ(records.front().offset, core::Offset(0));
    consumer.Close();
  }));
}

TEST_F(ConsumerTest, OffsetOutOfRangeWithResetNoneIsAnErrorFromPoll) {
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    Produce(client, 5);
    ConsumerOptions options;
    options.auto_offset_reset = OffsetReset::kNone;
    Consumer consumer(client, options);
    ASSERT_TRUE(consumer.Assign({{"orders", 0}}).ok());
    ASSERT_TRUE(consumer.Seek({"orders", 0}, core::Offset(1000)).ok());
    auto polled = consumer.Poll(2s);
    EXPECT_TRUE(absl::IsOutOfRange(polled.status())) << polled.status();
    EXPECT_EQ(WireErrorCode(polled.status()), wire::ErrorCode::OffsetOutOfRange);
    consumer.Close();
  }));
}

TEST_F(ConsumerTest, ABatchThatFailsVerificationIsAnErrorNotSkipped) {
  // Well-formed FlatBuffers (so the message verifies) but not a valid batch: no records.
  broker_.AppendRaw("orders", 2, wire::EncodeRecordBatch(wire::RecordBatchT{}), 1);
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    Consumer consumer(client);
    ASSERT_TRUE(consumer.Assign({{"orders", 2}}).ok());
    auto polled = consumer.Poll(2s);
    EXPECT_TRUE(absl::IsDataLoss(polled.status())) << polled.status();
    EXPECT_NE(polled.status().message().find("failed verification"), std::string::npos);
    EXPECT_EQ(consumer.Position({"orders", 2}, In(1s))->value(), 0u);  // Not skipped.
    consumer.Close();
  }));
}

TEST_F(ConsumerTest, CloseStopsEveryFetcher) {
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    // Connections to both nodes first: each is a reader fiber here and a session fiber there.
    ASSERT_TRUE(client.ReplicaStatus(io::NodeId(1)).ok());
    ASSERT_TRUE(client.ReplicaStatus(io::NodeId(2)).ok());
    const size_t before = runtime_.scheduler().live_fibers();
    Consumer consumer(client);
    ASSERT_TRUE(consumer.Assign(AllPartitions()).ok());
    ASSERT_TRUE(consumer.Poll(100ms).ok());
    EXPECT_GE(runtime_.scheduler().live_fibers(), before + 4);  // Fetchers and long polls.
    consumer.Close();
    ASSERT_TRUE(runtime_.Sleep(1s).ok());  // The broker's long polls end.
    EXPECT_EQ(runtime_.scheduler().live_fibers(), before);
    EXPECT_TRUE(absl::IsFailedPrecondition(consumer.Poll(1ms).status()));
    client.Close();
  }));
}

}  // namespace
}  // namespace meridian::core::client
