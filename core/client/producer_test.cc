// Producer against the fake two-node broker on the deterministic test runtime.
#include "core/client/producer.h"

#include <gtest/gtest.h>

#include "core/client/partitioner.h"
#include "core/client/testing/fake_broker.h"
#include "core/client/testing/test_runtime.h"
#include "io/assert.h"

namespace meridian::core::client {
namespace {

using namespace std::chrono_literals;

// What became of a dozen records whose first batch the node refused once (Failed: certainly not
// applied) while the three batches behind it were already on their way.
struct OldestRefusedRun {
  std::vector<std::string> stored;
  std::vector<std::optional<core::Offset>> offsets;  // Per record, in Send order.
  uint64_t out_of_order_answers = 0;
  uint32_t epoch_bumps = 0;
};

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

  // Sends `count` records "value-<first>".. with key `key` (or unkeyed); returns their promises.
  std::vector<std::shared_ptr<DeliveryPromise>> SendMany(Producer& producer, int count,
                                                         std::optional<std::string> key,
                                                         int first = 0) {
    std::vector<std::shared_ptr<DeliveryPromise>> promises;
    for (int i = first; i < first + count; ++i) {
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

  // Every promise resolved ok, and record i landed at offset first_offset + i: the log holds
  // them in the order of Send, once each.
  void ExpectDeliveredInSendOrder(const std::vector<std::shared_ptr<DeliveryPromise>>& promises,
                                  uint64_t first_offset) {
    for (size_t i = 0; i < promises.size(); ++i) {
      ASSERT_TRUE(promises[i]->ready()) << "record " << i;
      const absl::StatusOr<Delivery>& delivery = **promises[i]->Wait();
      ASSERT_TRUE(delivery.ok()) << "record " << i << ": " << delivery.status();
      EXPECT_EQ(delivery->offset, core::Offset(first_offset + i)) << "record " << i;
    }
  }

  // "value-<first>" .. "value-<last>".
  static std::vector<std::string> Values(int first, int last) {
    std::vector<std::string> values;
    for (int i = first; i <= last; ++i) values.push_back(fmt::format("value-{}", i));
    return values;
  }

  // Options whose batches hold 3 records of SendMany (~73 bytes each by the producer's estimate),
  // so a dozen records make several batches of one partition.
  static ProducerOptions SmallBatches() {
    ProducerOptions options;
    options.batch_bytes_max = 256;
    return options;
  }

  OldestRefusedRun RunOldestRefusedOnce(ProducerPlantedBug planted) {
    OldestRefusedRun run;
    MERIDIAN_CHECK(runtime_.RunFiber([&] {
      Client client(runtime_, Options());
      ProducerOptions options = SmallBatches();
      options.planted = planted;
      auto producer = Producer::Create(client, options);
      MERIDIAN_CHECK(producer.ok());
      const uint32_t epoch = (*producer)->producer_epoch();
      broker_.RefuseBatch(epoch, /*base_sequence=*/0, 1, wire::ErrorCode::Failed);
      auto promises = SendMany(**producer, 12, "k");  // 4 batches, all sent at once.
      MERIDIAN_CHECK((*producer)->Flush(In(10s)).ok());
      for (const auto& promise : promises) {
        const absl::StatusOr<Delivery>& delivery = **promise->Wait();
        run.offsets.push_back(delivery.ok() ? delivery->offset : std::nullopt);
      }
      run.epoch_bumps = (*producer)->producer_epoch() - epoch;
      MERIDIAN_CHECK((*producer)->Close(In(1s)).ok());
    }));
    run.stored = StoredValues(PartitionForKey("k", 4));
    run.out_of_order_answers = broker_.out_of_order_answers();
    return run;
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
    options.batch_bytes_max = 256;  // Several batches.
    options.max_in_flight_per_partition = 1;
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

// The same gap with a window of three batches out: the oldest is refused as a gap (every batch
// before it was acknowledged), the two behind it as out of order behind it; one epoch bump, and
// the three land in order in the new epoch.
TEST_F(ProducerTest, SequenceGapRestampsTheWholeWindowInOrder) {
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    auto producer = Producer::Create(client, SmallBatches());
    ASSERT_TRUE(producer.ok());
    const uint32_t epoch = (*producer)->producer_epoch();
    const uint32_t partition = PartitionForKey("k", 4);
    auto first = SendMany(**producer, 3, "k");
    ASSERT_TRUE((*producer)->Flush(In(10s)).ok());
    broker_.ForgetProducerSequences("orders", partition);
    auto after = SendMany(**producer, 9, "k", /*first=*/3);  // 3 batches, out together.
    ASSERT_TRUE((*producer)->Flush(In(10s)).ok());
    ExpectDeliveredInSendOrder(after, 3);
    EXPECT_EQ((*producer)->producer_epoch(), epoch + 1) << "one bump for the whole window";
    EXPECT_EQ(StoredValues(partition), Values(0, 11));
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

// ---- Several batches of one partition in flight (the window) ----

// With every produce held 200 ms by the node, a partition's batches go out together, up to the
// window, instead of one round trip each; the log still holds them in the order of Send.
TEST_F(ProducerTest, SeveralBatchesOfOnePartitionAreInFlightAtOnce) {
  broker_.DelayRequests(wire::Body::ProduceRequest, 1000, 200ms);
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    auto producer = Producer::Create(client, SmallBatches());
    ASSERT_TRUE(producer.ok()) << producer.status();
    EXPECT_EQ((*producer)->in_flight_per_partition_max(), 5u);
    auto promises = SendMany(**producer, 24, "k");  // 8 batches.
    ASSERT_TRUE((*producer)->Flush(In(10s)).ok());
    ExpectDeliveredInSendOrder(promises, 0);
    const uint32_t partition = PartitionForKey("k", 4);
    EXPECT_EQ(broker_.produces_held_max("orders", partition), 5u) << "the whole window at once";
    EXPECT_EQ(StoredValues(partition), Values(0, 23));
    EXPECT_EQ(broker_.Log("orders", partition).size(), 8u);
    ASSERT_TRUE((*producer)->Close(In(1s)).ok());
  }));
}

// max_in_flight_per_partition = 1 is the old rule; a producer that is not idempotent, or asks
// acks=Leader, keeps one batch of a partition in flight whatever the option says.
TEST_F(ProducerTest, OneInFlightWhenAskedOrWhenOrderCannotBeKeptOtherwise) {
  broker_.DelayRequests(wire::Body::ProduceRequest, 1000, 200ms);
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    ProducerOptions one = SmallBatches();
    one.max_in_flight_per_partition = 1;
    ProducerOptions plain = SmallBatches();
    plain.idempotent = false;
    ProducerOptions leader = SmallBatches();
    leader.acks = wire::Acks::Leader;
    const std::vector<std::pair<std::string, ProducerOptions>> cases = {
        {"k-one", one}, {"k-plain", plain}, {"k-leader", leader}};
    for (const auto& [key, options] : cases) {
      auto producer = Producer::Create(client, options);
      ASSERT_TRUE(producer.ok()) << producer.status();
      EXPECT_EQ((*producer)->in_flight_per_partition_max(), 1u) << key;
      auto promises = SendMany(**producer, 9, key);
      ASSERT_TRUE((*producer)->Flush(In(10s)).ok()) << key;
      for (const auto& promise : promises) ASSERT_TRUE((**promise->Wait()).ok()) << key;
      EXPECT_EQ(broker_.produces_held_max("orders", PartitionForKey(key, 4)), 1u) << key;
      ASSERT_TRUE((*producer)->Close(In(1s)).ok());
    }
  }));
}

TEST_F(ProducerTest, MaxInFlightOutsideTheDedupWindowIsRefused) {
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    for (uint32_t refused : {0u, Producer::kInFlightPerPartitionMax + 1}) {
      ProducerOptions options;
      options.max_in_flight_per_partition = refused;
      auto producer = Producer::Create(client, options);
      EXPECT_TRUE(absl::IsInvalidArgument(producer.status())) << refused;
      EXPECT_NE(producer.status().message().find("max_in_flight_per_partition must be in 1..5"),
                std::string::npos)
          << producer.status();
    }
    for (uint32_t accepted : {1u, Producer::kInFlightPerPartitionMax}) {
      ProducerOptions options;
      options.max_in_flight_per_partition = accepted;
      auto producer = Producer::Create(client, options);
      ASSERT_TRUE(producer.ok()) << producer.status();
      EXPECT_EQ((*producer)->in_flight_per_partition_max(), accepted);
    }
  }));
}

// The batches behind the refused one are refused OutOfOrderSequence (the node wants the oldest
// first). That is no sequence gap: they go again, in order, once the oldest went again — no epoch
// bump, no loss, no reordering.
TEST_F(ProducerTest, OldestRefusedAndLaterOnesOutOfOrderAreResentInOrder) {
  const OldestRefusedRun run = RunOldestRefusedOnce(ProducerPlantedBug::kNone);
  EXPECT_GE(run.out_of_order_answers, 3u) << "the three later batches were refused";
  EXPECT_EQ(run.epoch_bumps, 0u) << "out of order behind an unresolved batch is not a gap";
  EXPECT_EQ(run.stored, Values(0, 11));
  for (size_t i = 0; i < run.offsets.size(); ++i) EXPECT_EQ(run.offsets[i], core::Offset(i));
}

// The planted bug re-stamps each refused batch alone into a new epoch and sends it at once: the
// same checks see the records land out of Send order (the simulator's log checker sees it as
// producer-order, sim/broker_workload_test.cc).
TEST_F(ProducerTest, PlantedRestampAloneReordersAndTheOrderChecksSeeIt) {
  const OldestRefusedRun run = RunOldestRefusedOnce(ProducerPlantedBug::kRestampRefusedAlone);
  EXPECT_NE(run.stored, Values(0, 11)) << "the planted bug should break the order";
  EXPECT_EQ(run.stored.size(), 12u) << "reordered, not lost or duplicated";
  bool in_send_order = true;
  for (size_t i = 0; i < run.offsets.size(); ++i) {
    in_send_order = in_send_order && run.offsets[i] == core::Offset(i);
  }
  EXPECT_FALSE(in_send_order);
}

// The node applies the whole window, then the connection drops before any answer: every retry is
// a duplicate — the oldest one too, though four batches landed after it (the dedup window is the
// in-flight window) — and resolves with the offsets of the attempt that landed.
TEST_F(ProducerTest, DuplicateAnswersResolveWithTheOffsetsOfTheLandedAttempts) {
  broker_.DropConnectionInsteadOfAnswering(wire::Body::ProduceRequest, 1);
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    auto producer = Producer::Create(client, SmallBatches());
    ASSERT_TRUE(producer.ok());
    auto promises = SendMany(**producer, 15, "k");  // 5 batches: a full window.
    ASSERT_TRUE((*producer)->Flush(In(10s)).ok());
    ExpectDeliveredInSendOrder(promises, 0);
    const uint32_t partition = PartitionForKey("k", 4);
    EXPECT_EQ(StoredValues(partition), Values(0, 14)) << "each record once, in order";
    EXPECT_EQ(broker_.duplicates(), 5u) << "every batch landed before the drop";
    ASSERT_TRUE((*producer)->Close(In(1s)).ok());
  }));
}

// The oldest batch is never answered (its attempts vanish) and reaches its delivery timeout
// while three batches wait behind it, refused out of order. It fails as "may or may not be
// written"; the epoch is bumped and the three are re-stamped in order from sequence 0 of the new
// epoch, and land in order.
TEST_F(ProducerTest, DeliveryTimeoutBumpsTheEpochAndRestampsTheRestOfTheWindowInOrder) {
  ASSERT_TRUE(runtime_.RunFiber([&] {
    Client client(runtime_, Options());
    ProducerOptions options = SmallBatches();
    options.delivery_timeout = 3s;
    auto producer = Producer::Create(client, options);
    ASSERT_TRUE(producer.ok());
    const uint32_t epoch = (*producer)->producer_epoch();
    broker_.RefuseBatch(epoch, /*base_sequence=*/0, 1000, std::nullopt);
    auto lost = SendMany(**producer, 3, "k");  // The batch whose attempts vanish.
    ASSERT_TRUE(runtime_.Sleep(1s).ok());      // The later batches have a later delivery deadline.
    auto later = SendMany(**producer, 9, "k", /*first=*/3);
    ASSERT_TRUE((*producer)->Flush(In(20s)).ok());
    for (const auto& promise : lost) {
      const absl::StatusOr<Delivery>& failed = **promise->Wait();
      EXPECT_TRUE(absl::IsDeadlineExceeded(failed.status())) << failed.status();
      EXPECT_NE(failed.status().message().find("may or may not"), std::string::npos);
    }
    ExpectDeliveredInSendOrder(later, 0);
    EXPECT_EQ((*producer)->producer_epoch(), epoch + 1);
    const uint32_t partition = PartitionForKey("k", 4);
    EXPECT_GE(broker_.out_of_order_answers(), 3u);
    ASSERT_TRUE(runtime_.Sleep(60s).ok());  // Nothing of the old epoch lands late.
    EXPECT_EQ(StoredValues(partition), Values(3, 11));
    std::vector<int32_t> sequences;
    for (const testing::StoredBatch& stored : broker_.Log("orders", partition)) {
      const wire::RecordBatch* batch = *wire::VerifyRecordBatch(stored.bytes);
      EXPECT_EQ(batch->producer_epoch(), epoch + 1);
      sequences.push_back(batch->base_sequence());
    }
    EXPECT_EQ(sequences, (std::vector<int32_t>{0, 3, 6}));
    ASSERT_TRUE((*producer)->Close(In(1s)).ok());
  }));
}

}  // namespace
}  // namespace meridian::core::client
