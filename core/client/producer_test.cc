// Producer against the fake two-node broker on the deterministic test runtime.
#include "core/client/producer.h"

#include <gtest/gtest.h>

#include "core/client/partitioner.h"
#include "core/client/testing/fake_broker.h"
#include "core/client/testing/test_runtime.h"
#include "io/assert.h"

namespace meridian::client {
namespace {

using namespace std::chrono_literals;

class ProducerTest : public ::testing::Test {
 protected:
  ProducerTest() : broker_(runtime_) {
    broker_.AddTopic("orders", 4);
    MERIDIAN_CHECK(broker_.Start().ok());
  }
  ~ProducerTest() override { runtime_.scheduler().Shutdown(); }

  ClientOptions Options() {
    ClientOptions options;
    options.bootstrap = {{"broker1", 9092}};
    options.request_timeout = 1s;
    return options;
  }
  io::Instant In(io::Duration duration) { return runtime_.Now() + duration; }

  // Sends `count` records with key `key` (or unkeyed) and returns their promises.
  std::vector<std::shared_ptr<DeliveryPromise>> SendMany(Producer& producer, int count,
                                                         std::optional<std::string> key) {
    std::vector<std::shared_ptr<DeliveryPromise>> promises;
    for (int i = 0; i < count; ++i) {
      auto sent = producer.Send("orders", key, fmt::format("value-{}", i), {}, 1000 + i, In(5s));
      MERIDIAN_CHECK(sent.ok(), "{}", sent.status().ToString());
      promises.push_back(*sent);
    }
    return promises;
  }

  // The values stored in a partition's log, in offset order.
  std::vector<std::string> StoredValues(uint32_t partition) {
    std::vector<std::string> values;
    for (const testing::StoredBatch& stored : broker_.Log("orders", partition)) {
      const wire::RecordBatch* batch = *wire::VerifyRecordBatch(stored.bytes);
      for (const wire::Record* record : *batch->records()) {
        values.emplace_back(record->value()->begin(), record->value()->end());
      }
    }
    return values;
  }

  testing::TestRuntime runtime_;
  testing::FakeBroker broker_;
};

TEST_F(ProducerTest, DeliversRecordsInOrderWithTheirOffsets) {
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    auto producer = Producer::Create(client);
    ASSERT_TRUE(producer.ok()) << producer.status();
    EXPECT_NE((*producer)->producer_id(), 0u);
    auto promises = SendMany(**producer, 10, "customer-7");
    ASSERT_TRUE((*producer)->Flush(In(5s)).ok());
    const uint32_t partition = PartitionForKey("customer-7", 4);
    for (size_t i = 0; i < promises.size(); ++i) {
      ASSERT_TRUE(promises[i]->ready());
      const absl::StatusOr<Delivery>& delivery = **promises[i]->Wait();
      ASSERT_TRUE(delivery.ok()) << delivery.status();
      EXPECT_EQ(delivery->partition, partition);
      EXPECT_EQ(delivery->offset, core::Offset(i));
    }
    EXPECT_EQ(broker_.HighWatermark("orders", partition), 10);
    EXPECT_EQ(broker_.Log("orders", partition).size(), 1u);  // Lingered into one batch.
    EXPECT_EQ(StoredValues(partition)[9], "value-9");
    EXPECT_EQ((*producer)->buffered_bytes(), 0u);
    ASSERT_TRUE((*producer)->Close(In(1s)).ok());
    client.Close();
  }));
}

// Throttled answers are waited out (retry_after_ms), not retried in a hot loop: the attempts
// in a window are counted, in virtual time.
TEST_F(ProducerTest, ThrottledProduceWaitsRetryAfterThenDelivers) {
  broker_.ThrottleRequests(wire::Body::ProduceRequest, 5, /*retry_after_ms=*/200);
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    auto producer = Producer::Create(client);
    ASSERT_TRUE(producer.ok()) << producer.status();
    const io::Instant start = runtime_.Now();
    auto promises = SendMany(**producer, 1, "k");
    ASSERT_TRUE((*producer)->Flush(In(10s)).ok());
    ASSERT_TRUE((**promises[0]->Wait()).ok());
    EXPECT_GE(runtime_.Now() - start, 5 * 200ms) << "five throttles of 200 ms each";
    EXPECT_EQ(broker_.requests(wire::Body::ProduceRequest), 6u) << "five throttled, one applied";
    EXPECT_EQ(client.throttled_total(), 5u);
    ASSERT_TRUE((*producer)->Close(In(1s)).ok());
    client.Close();
  }));
}

// A node that says retry_after_ms 0 (a hostile or buggy node: remote bytes) still gets no hot
// loop: the client waits at least retry_backoff (50 ms) between attempts.
TEST_F(ProducerTest, ThrottledWithZeroRetryAfterStillBacksOff) {
  broker_.ThrottleRequests(wire::Body::ProduceRequest, 1'000'000, /*retry_after_ms=*/0);
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    ProducerOptions options;
    options.delivery_timeout = 1s;
    auto producer = Producer::Create(client, options);
    ASSERT_TRUE(producer.ok()) << producer.status();
    auto promises = SendMany(**producer, 1, "k");
    (void)(*producer)->Flush(In(3s));
    EXPECT_FALSE((**promises[0]->Wait()).ok()) << "throttled past its delivery timeout";
    // About 1 s / 50 ms attempts; a hot loop would make thousands.
    EXPECT_LE(broker_.requests(wire::Body::ProduceRequest), 25u);
    EXPECT_GE(broker_.requests(wire::Body::ProduceRequest), 5u);
    (void)(*producer)->Close(In(1s));
    client.Close();
  }));
}

TEST_F(ProducerTest, KeyedRecordsLandOnMurmur2Partitions) {
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    auto producer = Producer::Create(client);
    ASSERT_TRUE(producer.ok()) << producer.status();
    std::vector<std::shared_ptr<DeliveryPromise>> promises;
    for (int i = 0; i < 40; ++i) {
      auto sent = (*producer)->Send("orders", fmt::format("key-{}", i), fmt::format("v{}", i), {},
                                    0, In(5s));
      ASSERT_TRUE(sent.ok());
      promises.push_back(*sent);
    }
    ASSERT_TRUE((*producer)->Flush(In(5s)).ok());
    std::vector<int> per_partition(4, 0);
    for (int i = 0; i < 40; ++i) {
      const absl::StatusOr<Delivery>& delivery = **promises[i]->Wait();
      ASSERT_TRUE(delivery.ok());
      EXPECT_EQ(delivery->partition, PartitionForKey(fmt::format("key-{}", i), 4));
      per_partition[delivery->partition]++;
    }
    for (uint32_t p = 0; p < 4; ++p) {
      EXPECT_EQ(broker_.HighWatermark("orders", p), per_partition[p]);
      EXPECT_GT(per_partition[p], 0) << "40 keys should reach all 4 partitions";
    }
    ASSERT_TRUE((*producer)->Close(In(1s)).ok());
  }));
}

TEST_F(ProducerTest, RetriesAfterDroppedConnectionsDoNotDuplicate) {
  // The node appends the batch, then drops the connection instead of answering; twice.
  broker_.DropConnectionInsteadOfAnswering(wire::Body::ProduceRequest, 2);
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    ProducerOptions options;
    options.batch_bytes_max = 256;  // Several batches, one in flight at a time.
    auto producer = Producer::Create(client, options);
    ASSERT_TRUE(producer.ok());
    auto promises = SendMany(**producer, 12, "same-key");
    ASSERT_TRUE((*producer)->Flush(In(10s)).ok());
    for (size_t i = 0; i < promises.size(); ++i) {
      const absl::StatusOr<Delivery>& delivery = **promises[i]->Wait();
      ASSERT_TRUE(delivery.ok()) << delivery.status();
      EXPECT_EQ(delivery->offset, core::Offset(i));
    }
    const uint32_t partition = PartitionForKey("same-key", 4);
    EXPECT_EQ(broker_.HighWatermark("orders", partition), 12);
    std::vector<std::string> expected;
    for (int i = 0; i < 12; ++i) expected.push_back(fmt::format("value-{}", i));
    EXPECT_EQ(StoredValues(partition), expected);
    EXPECT_GE(broker_.duplicates(), 2u);
    ASSERT_TRUE((*producer)->Close(In(1s)).ok());
  }));
}

TEST_F(ProducerTest, TimedOutAttemptIsRetriedAndTheLateOriginalIsADuplicate) {
  broker_.DelayRequests(wire::Body::ProduceRequest, 1, 3s);  // Past the 1 s attempt timeout.
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    auto producer = Producer::Create(client);
    ASSERT_TRUE(producer.ok());
    auto promises = SendMany(**producer, 3, "k");
    ASSERT_TRUE((*producer)->Flush(In(10s)).ok());
    for (size_t i = 0; i < promises.size(); ++i) {
      EXPECT_EQ((**promises[i]->Wait())->offset, core::Offset(i));
    }
    ASSERT_TRUE(runtime_.Sleep(5s).ok());  // The delayed original arrives late.
    EXPECT_EQ(broker_.HighWatermark("orders", PartitionForKey("k", 4)), 3);
    EXPECT_EQ(broker_.duplicates(), 1u);
    ASSERT_TRUE((*producer)->Close(In(1s)).ok());
  }));
}

TEST_F(ProducerTest, IndeterminateBatchBumpsTheEpochAndLaterBatchesStillLand) {
  broker_.DelayRequests(wire::Body::ProduceRequest, 1000, 20s);
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    ProducerOptions options;
    options.delivery_timeout = 3s;
    auto producer = Producer::Create(client, options);
    ASSERT_TRUE(producer.ok());
    const uint32_t epoch = (*producer)->producer_epoch();
    auto lost = SendMany(**producer, 2, "k");
    (void)(*producer)->Flush(In(10s));
    const absl::StatusOr<Delivery>& failed = **lost[0]->Wait();
    EXPECT_TRUE(absl::IsDeadlineExceeded(failed.status())) << failed.status();
    EXPECT_NE(failed.status().message().find("may or may not"), std::string::npos);
    EXPECT_EQ((*producer)->producer_epoch(), epoch + 1);

    broker_.DelayRequests(wire::Body::ProduceRequest, 0, 0s);
    auto later = SendMany(**producer, 2, "k");
    ASSERT_TRUE((*producer)->Flush(In(10s)).ok());
    ASSERT_TRUE((**later[1]->Wait()).ok()) << (**later[1]->Wait()).status();
    ASSERT_TRUE(runtime_.Sleep(60s).ok());  // Every delayed old-epoch attempt is fenced.
    EXPECT_EQ(broker_.HighWatermark("orders", PartitionForKey("k", 4)), 2);
    ASSERT_TRUE((*producer)->Close(In(1s)).ok());
  }));
}

// After a regional promotion discarded the old epoch's tail, the partition no longer knows our
// sequences: the refused batch (certainly not applied) goes again under a new producer epoch
// and lands, instead of failing every record in flight across the promotion.
TEST_F(ProducerTest, SequenceGapBumpsTheEpochAndTheRefusedBatchLands) {
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    auto producer = Producer::Create(client);
    ASSERT_TRUE(producer.ok());
    const uint32_t epoch = (*producer)->producer_epoch();
    const uint32_t partition = PartitionForKey("k", 4);
    auto first = SendMany(**producer, 3, "k");
    ASSERT_TRUE((*producer)->Flush(In(10s)).ok());
    ASSERT_TRUE((**first[2]->Wait()).ok());
    broker_.ForgetProducerSequences("orders", partition);
    auto after = SendMany(**producer, 3, "k");
    ASSERT_TRUE((*producer)->Flush(In(10s)).ok());
    for (const auto& promise : after) {
      const absl::StatusOr<Delivery>& delivery = **promise->Wait();
      ASSERT_TRUE(delivery.ok()) << delivery.status();
    }
    EXPECT_EQ((*producer)->producer_epoch(), epoch + 1);
    EXPECT_EQ(broker_.HighWatermark("orders", partition), 6) << "each record once";
    ASSERT_TRUE((*producer)->Close(In(1s)).ok());
  }));
}

TEST_F(ProducerTest, AcksLeaderResolvesWithOffsetUnknown) {
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    ProducerOptions options;
    options.acks = wire::Acks::Leader;
    auto producer = Producer::Create(client, options);
    ASSERT_TRUE(producer.ok());
    auto promises = SendMany(**producer, 2, std::nullopt);
    ASSERT_TRUE((*producer)->Flush(In(5s)).ok());
    const absl::StatusOr<Delivery>& delivery = **promises[1]->Wait();
    ASSERT_TRUE(delivery.ok());
    EXPECT_EQ(delivery->offset, std::nullopt);
    // Unkeyed records stick to one partition until a batch is sealed.
    EXPECT_EQ((**promises[0]->Wait())->partition, delivery->partition);
    ASSERT_TRUE((*producer)->Close(In(1s)).ok());
  }));
}

TEST_F(ProducerTest, DefiniteErrorsComeBackAtOnce) {
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    auto producer = Producer::Create(client);
    ASSERT_TRUE(producer.ok());
    auto huge = (*producer)->Send("orders", std::nullopt, std::string(wire::kBatchBytesMax, 'x'),
                                  {}, 0, In(1s));
    EXPECT_EQ(WireErrorCode(huge.status()), wire::ErrorCode::RecordTooLarge) << huge.status();
    auto unknown = (*producer)->Send("no-such-topic", std::nullopt, "v", {}, 0, In(1s));
    EXPECT_TRUE(absl::IsNotFound(unknown.status())) << unknown.status();
    ASSERT_TRUE((*producer)->Close(In(1s)).ok());
    auto closed = (*producer)->Send("orders", std::nullopt, "v", {}, 0, In(1s));
    EXPECT_TRUE(absl::IsFailedPrecondition(closed.status()));
  }));
}

TEST_F(ProducerTest, SendWaitsForBufferRoomAndFailsOnItsDeadline) {
  broker_.DelayRequests(wire::Body::ProduceRequest, 1, 2s);
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    ProducerOptions options;
    options.buffer_bytes_max = wire::kBatchBytesMax;
    auto producer = Producer::Create(client, options);
    ASSERT_TRUE(producer.ok());
    const std::string value(100 << 10, 'v');
    absl::Status last;
    int sent = 0;
    for (; sent < 20; ++sent) {
      auto result = (*producer)->Send("orders", "k", value, {}, 0, In(100ms));
      if (!result.ok()) {
        last = result.status();
        break;
      }
    }
    EXPECT_LT(sent, 11);
    EXPECT_TRUE(absl::IsDeadlineExceeded(last)) << last;
    EXPECT_LE((*producer)->buffered_bytes(), options.buffer_bytes_max);
    ASSERT_TRUE((*producer)->Flush(In(20s)).ok());
    EXPECT_EQ((*producer)->buffered_bytes(), 0u);
    ASSERT_TRUE((*producer)->Close(In(1s)).ok());
  }));
}

}  // namespace
}  // namespace meridian::client
