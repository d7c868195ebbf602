// The broker on the deterministic simulator, driven with raw protocol frames: a 3-node cluster
// elects a controller, registers its nodes, creates a topic, and a produce/fetch round trip
// works on every partition — including through a leader crash. (The full workload with
// core/client, faults and the log checker is sim/workloads/broker.)
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <set>

#include "core/broker/broker.h"
#include "core/broker/broker_state.h"
#include "core/client/client.h"
#include "io/frame.h"
#include "io/probe.h"
#include "sim/sim_network.h"
#include "sim/world.h"
#include "tests/broker/sim_cluster.h"

namespace meridian {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// One request/response exchange on a fresh connection (hello first).
absl::StatusOr<std::unique_ptr<core::wire::ClientMessageT>> Call(
    io::Runtime& rt, uint32_t node, core::wire::ClientMessageT request) {
  const io::Instant deadline = rt.Now() + seconds(5);
  absl::StatusOr<std::unique_ptr<io::Stream>> stream =
      rt.network().Connect(AddressOf(node), deadline);
  if (!stream.ok()) return stream.status();
  io::FrameReader reader(**stream, core::wire::kClientMessageBytesMax);
  core::wire::HelloRequestT hello;
  hello.version_min = 1;
  hello.version_max = 1;
  std::unique_ptr<core::wire::ClientMessageT> response;
  for (core::wire::ClientMessageT message :
       {core::wire::Message(1, std::move(hello)), std::move(request)}) {
    if (absl::Status s =
            io::WriteFrame(**stream, core::wire::EncodeClientMessage(message), deadline);
        !s.ok()) {
      return s;
    }
    absl::StatusOr<std::vector<uint8_t>> frame = reader.Read(deadline);
    if (!frame.ok()) return frame.status();
    absl::StatusOr<std::unique_ptr<core::wire::ClientMessageT>> decoded =
        core::wire::DecodeClientMessage(*frame);
    if (!decoded.ok()) return decoded.status();
    response = std::move(*decoded);
  }
  (*stream)->Close();
  return response;
}

// Retries `make()` on every node until one answers with a body of the wanted type.
template <typename Body>
std::unique_ptr<core::wire::ClientMessageT> CallUntil(
    io::Runtime& rt, const std::function<core::wire::ClientMessageT()>& make) {
  for (int attempt = 0; attempt < 200; attempt++) {
    for (uint32_t node = 1; node <= 3; node++) {
      auto response = Call(rt, node, make());
      if (response.ok() &&
          (*response)->body.type == core::wire::BodyUnionTraits<Body>::enum_value) {
        return std::move(*response);
      }
    }
    (void)rt.Sleep(milliseconds(100));
  }
  return nullptr;
}

// Creates `name` (replication factor 3) through whichever node answers first.
bool CreateTopic(io::Runtime& rt, const std::string& name, uint32_t partitions) {
  core::wire::CreateTopicRequestT create;
  create.name = name;
  create.partitions = partitions;
  create.replication_factor = 3;
  return CallUntil<core::wire::CreateTopicResponseT>(
             rt, [&] { return core::wire::Message(2, create); }) != nullptr;
}

core::wire::ClientMessageT Produce(const std::string& topic, uint32_t partition, int value,
                                   size_t padding_bytes = 0) {
  core::wire::RecordBatchT batch;
  auto record = std::make_unique<core::wire::RecordT>();
  const std::string text = std::to_string(value);
  record->value.assign(text.begin(), text.end());
  record->value.resize(record->value.size() + padding_bytes, 'x');
  batch.records.push_back(std::move(record));
  core::wire::ProduceRequestT produce;
  produce.topic = topic;
  produce.partition = partition;
  produce.batch = core::wire::EncodeRecordBatch(batch);
  return core::wire::Message(2, std::move(produce));
}

core::wire::ClientMessageT Fetch(const std::string& topic, uint32_t partition, int64_t offset,
                                 uint32_t max_bytes = 1 << 20) {
  core::wire::FetchRequestT fetch;
  fetch.topic = topic;
  fetch.partition = partition;
  fetch.offset = offset;
  fetch.max_bytes = max_bytes;
  return core::wire::Message(3, std::move(fetch));
}

TEST(BrokerSim, CreateProduceFetchAcrossALeaderCrash) {
  BrokerCluster cluster(7);
  cluster.OnClient([&](io::Runtime& rt) {
    core::wire::CreateTopicRequestT create;
    create.name = "orders";
    create.partitions = 3;
    create.replication_factor = 3;
    auto created = CallUntil<core::wire::CreateTopicResponseT>(
        rt, [&] { return core::wire::Message(2, create); });
    ASSERT_NE(created, nullptr) << "no controller created the topic";
    ASSERT_EQ(created->body.AsCreateTopicResponse()->topic->partitions.size(), 3u);
    for (uint32_t p = 0; p < 3; p++) {
      for (int i = 0; i < 5; i++) {
        auto produced =
            CallUntil<core::wire::ProduceResponseT>(rt, [&] { return Produce("orders", p, i); });
        ASSERT_NE(produced, nullptr);
        EXPECT_EQ(produced->body.AsProduceResponse()->base_offset, i);
      }
    }
  });
  // Crash whoever leads partition 0's group, then keep producing there.
  cluster.world().Crash(io::NodeId(1));
  cluster.OnClient([&](io::Runtime& rt) {
    auto produced =
        CallUntil<core::wire::ProduceResponseT>(rt, [&] { return Produce("orders", 0, 5); });
    ASSERT_NE(produced, nullptr);
    EXPECT_EQ(produced->body.AsProduceResponse()->base_offset, 5);
    auto fetched = CallUntil<core::wire::FetchResponseT>(rt, [&] { return Fetch("orders", 0, 0); });
    ASSERT_NE(fetched, nullptr);
    const core::wire::FetchResponseT& response = *fetched->body.AsFetchResponse();
    EXPECT_EQ(response.high_watermark, 6);
    std::vector<std::string> values;
    for (const auto& batch : response.batches) {
      auto verified = core::wire::VerifyRecordBatch(batch->batch);
      ASSERT_TRUE(verified.ok());
      for (const core::wire::Record* record : *(*verified)->records()) {
        values.emplace_back(record->value()->begin(), record->value()->end());
      }
    }
    EXPECT_EQ(values, (std::vector<std::string>{"0", "1", "2", "3", "4", "5"}));
  });
  cluster.world().Restart(io::NodeId(1));
  cluster.world().RunFor(seconds(5));
}

// The node whose replica of `topic`/0 says it leads (ReplicaStatus), or 0.
uint32_t LeaderByStatus(io::Runtime& rt, const std::string& topic) {
  for (uint32_t node = 1; node <= 3; node++) {
    auto response = Call(rt, node, core::wire::Message(4, core::wire::ReplicaStatusRequestT{}));
    if (!response.ok()) continue;
    const core::wire::ReplicaStatusResponseT* status = (*response)->body.AsReplicaStatusResponse();
    if (status == nullptr) continue;
    for (const auto& replica : status->replicas) {
      if (replica->topic == topic && replica->role == "leader") return node;
    }
  }
  return 0;
}

// Reads near the client (issue 12): a follower serving an allow_follower fetch answers only
// what it knows is committed. The partition's leader L keeps replicating to follower F, but F's
// acknowledgements are cut and the third replica is down, so a record produced now reaches F's
// log and never commits. F must serve no batch at or past its high watermark: `served` gets
// the offsets of the batches it returned, `high_watermark` its own (ReplicaStatus). With the
// planted bug follower-fetch-above-hwm F serves that record too, and this test's check sees it.
void FollowerFetchScenario(bool planted, int64_t* high_watermark, std::vector<int64_t>* served) {
  BrokerCluster cluster(29, [planted](core::broker::BrokerOptions& options) {
    options.planted.follower_fetch_above_high_watermark = planted;
  });
  uint32_t leader = 0;
  cluster.OnClient([&](io::Runtime& rt) {
    core::wire::CreateTopicRequestT create;
    create.name = "near";
    create.partitions = 1;
    create.replication_factor = 3;
    ASSERT_NE(CallUntil<core::wire::CreateTopicResponseT>(
                  rt, [&] { return core::wire::Message(2, create); }),
              nullptr);
    for (int i = 0; i < 5; i++) {
      ASSERT_NE(CallUntil<core::wire::ProduceResponseT>(rt, [&] { return Produce("near", 0, i); }),
                nullptr);
    }
    (void)rt.Sleep(seconds(1));  // Every replica applies the committed records.
    leader = LeaderByStatus(rt, "near");
  });
  ASSERT_NE(leader, 0u);
  const uint32_t follower = leader % 3 + 1;
  const uint32_t down = follower % 3 + 1;
  cluster.world().Crash(io::NodeId(down));
  cluster.world().network().Block(io::NodeId(follower), io::NodeId(leader));
  cluster.OnClient([&](io::Runtime& rt) {
    // Never answered: the record cannot commit. Its fiber gives up after its deadline.
    rt.Spawn("uncommitted-produce",
             [&rt, leader] { (void)Call(rt, leader, Produce("near", 0, 1000)); });
    (void)rt.Sleep(milliseconds(300));  // The leader appends it and sends it to F.
    // What F knows is committed: its own high watermark (ReplicaStatus); then all it serves.
    *high_watermark = -1;
    auto status = Call(rt, follower, core::wire::Message(4, core::wire::ReplicaStatusRequestT{}));
    ASSERT_TRUE(status.ok()) << status.status();
    for (const auto& replica : (*status)->body.AsReplicaStatusResponse()->replicas) {
      if (replica->topic == "near") *high_watermark = replica->high_watermark;
    }
    core::wire::ClientMessageT fetch = Fetch("near", 0, 0);
    fetch.body.AsFetchRequest()->allow_follower = true;
    fetch.body.AsFetchRequest()->max_wait_ms = 100;
    auto response = Call(rt, follower, std::move(fetch));
    ASSERT_TRUE(response.ok()) << response.status();
    const core::wire::FetchResponseT* fetched = (*response)->body.AsFetchResponse();
    ASSERT_NE(fetched, nullptr) << core::wire::EnumNameBody((*response)->body.type);
    for (const auto& batch : fetched->batches) served->push_back(batch->base_offset);
    (void)rt.Sleep(seconds(6));  // The produce's fiber ends before the world does.
  });
}

// A node that is down when a topic is created gets none of its replicas: seeds 106 and 147 of
// the disk-error mix placed a topic on a region lost for good, whose partitions then never had
// a quorum. A topic that needs the node is refused, and the error names it.
TEST(BrokerSim, ATopicIsPlacedOnLiveNodesOnly) {
  BrokerCluster cluster(31);
  cluster.OnClient([&](io::Runtime& rt) {
    core::wire::CreateTopicRequestT create;
    create.name = "first";  // Once it exists, every node has registered with a controller.
    create.partitions = 1;
    create.replication_factor = 3;
    ASSERT_NE(CallUntil<core::wire::CreateTopicResponseT>(
                  rt, [&] { return core::wire::Message(2, create); }),
              nullptr);
  });
  cluster.world().Crash(io::NodeId(3));
  cluster.OnClient([&](io::Runtime& rt) {
    (void)rt.Sleep(seconds(5));  // Past the liveness window of whichever node leads the metadata.
    core::wire::CreateTopicRequestT pairs;
    pairs.name = "pairs";
    pairs.partitions = 6;
    pairs.replication_factor = 2;
    auto created = CallUntil<core::wire::CreateTopicResponseT>(
        rt, [&] { return core::wire::Message(2, pairs); });
    ASSERT_NE(created, nullptr);
    for (const auto& partition : created->body.AsCreateTopicResponse()->topic->partitions) {
      EXPECT_EQ(std::count(partition->replicas.begin(), partition->replicas.end(), 3u), 0)
          << "partition " << partition->partition << " placed on the crashed node";
      EXPECT_EQ(partition->replicas.size(), 2u);
    }
    core::wire::CreateTopicRequestT triples;
    triples.name = "triples";
    triples.partitions = 1;
    triples.replication_factor = 3;
    std::string refused;
    for (int attempt = 0; attempt < 50 && refused.empty(); attempt++) {
      for (uint32_t node : {1u, 2u}) {
        auto response = Call(rt, node, core::wire::Message(2, triples));
        const core::wire::ErrorResponseT* error =
            response.ok() ? (*response)->body.AsErrorResponse() : nullptr;
        if (error != nullptr && error->code == core::wire::ErrorCode::NotEnoughReplicas) {
          refused = error->message;
        }
      }
      (void)rt.Sleep(milliseconds(100));
    }
    EXPECT_NE(refused.find("left out: nodes 3"), std::string::npos) << refused;
  });
}

// Admin requests that race each other at the controller: those that pass its early checks
// before the first is applied are refused by the metadata log itself, and that refusal must
// reach the client as the code it acts on. Of four creates of one topic sent at once, one
// creates it and the others are told it exists (TopicAlreadyExists, not a generic failure); of
// two deletes sent at once, one deletes it and the other is told it is unknown.
TEST(BrokerSim, RacingCreatesAndDeletesAreAnsweredWithWhatTheLogDecided) {
  BrokerCluster cluster(37);
  cluster.OnClient([&](io::Runtime& rt) {
    ASSERT_TRUE(CreateTopic(rt, "first", 1));  // Every node has registered.
    uint32_t controller = 0;
    for (int attempt = 0; attempt < 50 && controller == 0; attempt++) {
      for (uint32_t node = 1; node <= 3 && controller == 0; node++) {
        auto response = Call(rt, node, core::wire::Message(2, core::wire::MetadataRequestT{}));
        if (response.ok() && (*response)->body.AsMetadataResponse() != nullptr) {
          controller = (*response)->body.AsMetadataResponse()->controller_leader;
        }
      }
      if (controller == 0) (void)rt.Sleep(milliseconds(100));
    }
    ASSERT_NE(controller, 0u);
    // Sends `make()` from `count` fibers at once to the controller: the answers' codes (0 for a
    // body of the wanted type).
    const auto race = [&](int count, const std::function<core::wire::ClientMessageT()>& make) {
      std::vector<std::optional<core::wire::ErrorCode>> codes;
      int answered = 0;
      for (int i = 0; i < count; i++) {
        rt.Spawn("racer", [&] {
          auto response = Call(rt, controller, make());
          const core::wire::ErrorResponseT* error =
              response.ok() ? (*response)->body.AsErrorResponse() : nullptr;
          codes.push_back(error == nullptr ? std::nullopt : std::optional(error->code));
          answered++;
        });
      }
      while (answered < count) (void)rt.Sleep(milliseconds(10));
      return codes;
    };
    core::wire::CreateTopicRequestT create;
    create.name = "raced";
    create.partitions = 1;
    create.replication_factor = 3;
    const auto created = race(4, [&] { return core::wire::Message(2, create); });
    EXPECT_EQ(std::count(created.begin(), created.end(), std::nullopt), 1);
    EXPECT_EQ(std::count(created.begin(), created.end(), core::wire::ErrorCode::TopicAlreadyExists),
              3);
    core::wire::DeleteTopicRequestT remove;
    remove.name = "raced";
    const auto deleted = race(2, [&] { return core::wire::Message(2, remove); });
    EXPECT_EQ(std::count(deleted.begin(), deleted.end(), std::nullopt), 1);
    EXPECT_EQ(
        std::count(deleted.begin(), deleted.end(), core::wire::ErrorCode::UnknownTopicOrPartition),
        1);
  });
}

TEST(BrokerSim, AFollowerNeverServesPastItsCommitIndex) {
  int64_t high_watermark = -1;
  std::vector<int64_t> served;
  FollowerFetchScenario(/*planted=*/false, &high_watermark, &served);
  EXPECT_EQ(high_watermark, 5);
  ASSERT_EQ(served.size(), 5u);
  EXPECT_LT(served.back(), high_watermark);
}

TEST(BrokerSim, PlantedFollowerFetchAboveHighWatermarkIsCaught) {
  int64_t high_watermark = -1;
  std::vector<int64_t> served;
  FollowerFetchScenario(/*planted=*/true, &high_watermark, &served);
  EXPECT_EQ(high_watermark, 5);
  ASSERT_FALSE(served.empty());
  EXPECT_GE(served.back(), high_watermark) << "the planted bug went unnoticed";
}

// The broker's own assertion on every fetch answer (CheckFetchServesCommitted): a batch at or
// past the high watermark the answer reports crashes the node rather than reach a client.
TEST(BrokerSimDeathTest, AFetchAnswerPastItsHighWatermarkIsAnAssertion) {
  core::wire::FetchResponseT response;
  response.high_watermark = 5;
  auto batch = std::make_unique<core::wire::FetchedBatchT>();
  batch->base_offset = 4;
  response.batches.push_back(std::move(batch));
  core::broker::CheckFetchServesCommitted(response);  // Below: fine.
  auto late = std::make_unique<core::wire::FetchedBatchT>();
  late->base_offset = 5;
  response.batches.push_back(std::move(late));
  EXPECT_DEATH(core::broker::CheckFetchServesCommitted(response), "past the high watermark");
}

// Hardening regressions (issue "Hardening", remote crashes (a) and (b), as they apply to the
// broker that replaced the old ReadRequest): a fetch over many 1 KiB records is built within its
// byte budget, and a committed batch of the maximum size can be read back — even by a fetch whose
// budget is smaller than the batch (a reader always gets at least one whole batch).
TEST(BrokerSim, FetchesStayWithinTheirBudgetAndTheLargestBatchIsReadable) {
  BrokerCluster cluster(11);
  cluster.OnClient([&](io::Runtime& rt) {
    core::wire::CreateTopicRequestT create;
    create.name = "big";
    create.partitions = 1;
    create.replication_factor = 3;
    ASSERT_NE(CallUntil<core::wire::CreateTopicResponseT>(
                  rt, [&] { return core::wire::Message(2, create); }),
              nullptr);
    constexpr int kSmallRecords = 1500;
    for (int i = 0; i < kSmallRecords; i++) {
      ASSERT_NE(
          CallUntil<core::wire::ProduceResponseT>(rt, [&] { return Produce("big", 0, i, 1024); }),
          nullptr);
    }
    // The largest batch a client may send: one record filling kBatchBytesMax.
    const size_t padding = core::wire::kBatchBytesMax - 256;
    auto largest =
        CallUntil<core::wire::ProduceResponseT>(rt, [&] { return Produce("big", 0, -1, padding); });
    ASSERT_NE(largest, nullptr);
    EXPECT_EQ(largest->body.AsProduceResponse()->base_offset, kSmallRecords);
    for (uint32_t budget :
         {10u << 10, 1u << 20, static_cast<uint32_t>(core::wire::kFetchBytesMax)}) {
      auto fetched =
          CallUntil<core::wire::FetchResponseT>(rt, [&] { return Fetch("big", 0, 0, budget); });
      ASSERT_NE(fetched, nullptr);
      size_t bytes = 0;
      for (const auto& batch : fetched->body.AsFetchResponse()->batches)
        bytes += batch->batch.size();
      EXPECT_LE(bytes, budget) << "a fetch of budget " << budget << " returned " << bytes;
      EXPECT_FALSE(fetched->body.AsFetchResponse()->batches.empty());
    }
    auto tail = CallUntil<core::wire::FetchResponseT>(
        rt, [&] { return Fetch("big", 0, kSmallRecords, 1); });
    ASSERT_NE(tail, nullptr);
    ASSERT_EQ(tail->body.AsFetchResponse()->batches.size(), 1u);
    auto verified = core::wire::VerifyRecordBatch(tail->body.AsFetchResponse()->batches[0]->batch);
    ASSERT_TRUE(verified.ok()) << verified.status();
    EXPECT_EQ((*verified)->records()->Get(0)->value()->size(), padding + 2);
  });
}

std::vector<std::pair<int64_t, int64_t>> Records(const core::wire::FetchResponseT& response);

// Add partitions: the controller places them, every replica's reconciler starts them, and they
// take produce and fetch like the first ones; a total that does not grow the topic is refused.
TEST(BrokerSim, AddedPartitionsServeProduceAndFetch) {
  BrokerCluster cluster(29);
  cluster.OnClient([&](io::Runtime& rt) {
    core::wire::CreateTopicRequestT create;
    create.name = "grow";
    create.partitions = 1;
    create.replication_factor = 3;
    ASSERT_NE(CallUntil<core::wire::CreateTopicResponseT>(
                  rt, [&] { return core::wire::Message(2, create); }),
              nullptr);
    core::wire::CreatePartitionsRequestT add;
    add.topic = "grow";
    add.total = 3;
    auto grown = CallUntil<core::wire::CreatePartitionsResponseT>(
        rt, [&] { return core::wire::Message(2, add); });
    ASSERT_NE(grown, nullptr);
    ASSERT_EQ(grown->body.AsCreatePartitionsResponse()->topic->partitions.size(), 3u);
    for (uint32_t p = 0; p < 3; p++) {
      auto produced =
          CallUntil<core::wire::ProduceResponseT>(rt, [&] { return Produce("grow", p, 7); });
      ASSERT_NE(produced, nullptr) << "partition " << p;
      EXPECT_EQ(produced->body.AsProduceResponse()->base_offset, 0);
      auto fetched = CallUntil<core::wire::FetchResponseT>(rt, [&] { return Fetch("grow", p, 0); });
      ASSERT_NE(fetched, nullptr);
      EXPECT_EQ(Records(*fetched->body.AsFetchResponse()),
                (std::vector<std::pair<int64_t, int64_t>>{{0, 7}}));
    }
    add.total = 3;  // Not more than it has.
    auto refused =
        CallUntil<core::wire::ErrorResponseT>(rt, [&] { return core::wire::Message(2, add); });
    ASSERT_NE(refused, nullptr);
    EXPECT_EQ(refused->body.AsErrorResponse()->code, core::wire::ErrorCode::InvalidConfig);
  });
}

// The records a fetch returned, as (offset, value) with the value's leading number.
std::vector<std::pair<int64_t, int64_t>> Records(const core::wire::FetchResponseT& response) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const auto& batch : response.batches) {
    auto verified = core::wire::VerifyRecordBatch(batch->batch);
    EXPECT_TRUE(verified.ok());
    if (!verified.ok()) continue;
    int64_t offset = batch->base_offset;
    for (const core::wire::Record* record : *(*verified)->records()) {
      const std::string value(record->value()->begin(), record->value()->end());
      out.emplace_back(offset++, std::stoll(value));
    }
  }
  return out;
}

// Retention and snapshots (raft §7) end to end: with a small size limit the partition deletes
// its oldest segments behind a snapshot of its state; a replica that was down meanwhile comes
// back behind the leader's log start, installs the snapshot, and then holds exactly the same
// records at the same offsets, and the same high watermark, as everyone (value i was produced
// as the i-th record, offset i): `offsets_agree` says whether every replica does.
// The metadata group is compacted too (every 2 entries), so restarts restore it from a snapshot.
// With the planted bug (snapshots without the partition state) the lagging replica counts
// offsets from 0 again: SnapshotWithoutStateIsCaught shows this test fails then.
void RetentionScenario(core::broker::PartitionPlantedBug bug, bool* offsets_agree) {
  BrokerCluster cluster(23, [bug](core::broker::BrokerOptions& options) {
    options.segment_bytes = 16 << 10;
    options.retention_check_interval = milliseconds(200);
    options.metadata_snapshot_entries = 2;
    options.planted.partition = bug;
  });
  constexpr int kRecords = 300;
  constexpr size_t kPadding = 1000;
  cluster.OnClient([&](io::Runtime& rt) {
    core::wire::CreateTopicRequestT create;
    create.name = "logs";
    create.partitions = 1;
    create.replication_factor = 3;
    create.retention_bytes = 48 << 10;
    ASSERT_NE(CallUntil<core::wire::CreateTopicResponseT>(
                  rt, [&] { return core::wire::Message(2, create); }),
              nullptr);
    (void)rt.Sleep(seconds(1));
  });
  cluster.world().Crash(io::NodeId(3));
  cluster.OnClient([&](io::Runtime& rt) {
    for (int i = 0; i < kRecords; i++) {
      ASSERT_NE(CallUntil<core::wire::ProduceResponseT>(
                    rt, [&] { return Produce("logs", 0, i, kPadding); }),
                nullptr);
    }
    (void)rt.Sleep(seconds(2));  // Several retention checks.
  });
  cluster.world().Restart(io::NodeId(3));
  cluster.OnClient([&](io::Runtime& rt) {
    for (int i = kRecords; i < kRecords + 20; i++) {
      ASSERT_NE(CallUntil<core::wire::ProduceResponseT>(
                    rt, [&] { return Produce("logs", 0, i, kPadding); }),
                nullptr);
    }
    (void)rt.Sleep(seconds(3));  // Node 3 catches up.
    *offsets_agree = true;
    int64_t earliest_anywhere = kRecords;
    for (uint32_t node = 1; node <= 3; node++) {
      core::wire::FetchRequestT fetch;
      fetch.topic = "logs";
      fetch.max_bytes = 4 << 20;
      fetch.allow_follower = true;
      // Whatever this replica holds: ask from 0 and follow the out-of-range answer.
      absl::StatusOr<std::unique_ptr<core::wire::ClientMessageT>> response =
          Call(rt, node, core::wire::Message(3, fetch));
      ASSERT_TRUE(response.ok()) << response.status();
      if (const auto* error = (*response)->body.AsErrorResponse()) {
        ASSERT_EQ(error->code, core::wire::ErrorCode::OffsetOutOfRange) << error->message;
        earliest_anywhere = std::min(earliest_anywhere, error->earliest_offset);
        fetch.offset = error->earliest_offset;
        response = Call(rt, node, core::wire::Message(3, fetch));
        ASSERT_TRUE(response.ok()) << response.status();
      } else {
        earliest_anywhere = 0;
      }
      const core::wire::FetchResponseT* fetched = (*response)->body.AsFetchResponse();
      ASSERT_NE(fetched, nullptr) << "node " << node;
      const auto records = Records(*fetched);
      ASSERT_FALSE(records.empty()) << "node " << node;
      for (const auto& [offset, value] : records) {
        if (offset != value) *offsets_agree = false;
      }
      if (fetched->high_watermark != kRecords + 20) *offsets_agree = false;
    }
    EXPECT_GT(earliest_anywhere, 0) << "retention deleted nothing on any replica";
  });
}

TEST(BrokerSim, RetentionSnapshotsLetALaggingReplicaCatchUpWithTheSameOffsets) {
  io::probe::Reset();
  bool offsets_agree = false;
  RetentionScenario(core::broker::PartitionPlantedBug::kNone, &offsets_agree);
  EXPECT_TRUE(offsets_agree);
  const auto probes = io::probe::Snapshot();
  for (const char* probe :
       {"broker: retention compacts a partition", "raft: leader sends a snapshot",
        "raft: follower installs a snapshot"}) {
    EXPECT_TRUE(probes.contains(probe)) << probe;
  }
}

TEST(BrokerSim, SnapshotWithoutStateIsCaught) {
  bool offsets_agree = true;
  RetentionScenario(core::broker::PartitionPlantedBug::kSnapshotWithoutState, &offsets_agree);
  EXPECT_FALSE(offsets_agree) << "the planted bug went unnoticed";
}

}  // namespace
}  // namespace meridian

namespace meridian {
namespace {

// The first answer of any node that is not a routing error (NotLeader, UnknownTopicOrPartition):
// the partition leader's own answer, whatever it is.
std::unique_ptr<core::wire::ClientMessageT> LeaderAnswer(
    io::Runtime& rt, const std::function<core::wire::ClientMessageT()>& make) {
  for (int attempt = 0; attempt < 100; attempt++) {
    for (uint32_t node = 1; node <= 3; node++) {
      auto response = Call(rt, node, make());
      if (!response.ok()) continue;
      const core::wire::ErrorResponseT* error = (*response)->body.AsErrorResponse();
      if (error == nullptr || (error->code != core::wire::ErrorCode::NotLeader &&
                               error->code != core::wire::ErrorCode::UnknownTopicOrPartition)) {
        return std::move(*response);
      }
    }
    (void)rt.Sleep(milliseconds(50));
  }
  return nullptr;
}

// A topic of one partition on all three nodes; false if no controller answered.
bool CreateOnePartitionTopic(io::Runtime& rt, const std::string& name) {
  core::wire::CreateTopicRequestT create;
  create.name = name;
  create.partitions = 1;
  create.replication_factor = 3;
  return CallUntil<core::wire::CreateTopicResponseT>(
             rt, [&] { return core::wire::Message(2, create); }) != nullptr;
}

core::wire::ClientMessageT SetQuota(core::wire::QuotaSubject subject, std::string name,
                                    uint64_t requests_per_s, bool remove = false) {
  core::wire::SetQuotaRequestT set;
  set.quota = std::make_unique<core::wire::QuotaEntryT>();
  set.quota->subject = subject;
  set.quota->name = std::move(name);
  set.quota->requests_per_s = requests_per_s;
  set.remove = remove;
  return core::wire::Message(4, std::move(set));
}

// Produces `count` times back to back; how many were answered Throttled (each with a
// retry_after_ms in 1..1000 for a 1 request/s quota).
int ThrottledOf(io::Runtime& rt, const std::string& topic, int count) {
  int throttled = 0;
  for (int i = 0; i < count; i++) {
    auto answer = LeaderAnswer(rt, [&] { return Produce(topic, 0, i); });
    if (answer == nullptr) continue;
    if (const core::wire::ErrorResponseT* error = answer->body.AsErrorResponse()) {
      EXPECT_EQ(error->code, core::wire::ErrorCode::Throttled) << error->message;
      EXPECT_GE(error->retry_after_ms, 1u);
      EXPECT_LE(error->retry_after_ms, 1000u);
      throttled++;
    }
  }
  return throttled;
}

// A topic quota set through the controller is enforced on the partition leader (Throttled with
// retry_after_ms), listed by DescribeQuotas, and lifted when removed; a hostile subject enum is
// refused.
TEST(BrokerSim, TopicQuotaSetAtRunTimeThrottlesThenIsLifted) {
  BrokerCluster cluster(31);
  cluster.OnClient([&](io::Runtime& rt) {
    ASSERT_TRUE(CreateOnePartitionTopic(rt, "q"));
    EXPECT_EQ(ThrottledOf(rt, "q", 5), 0) << "no quota yet";
    ASSERT_NE(CallUntil<core::wire::SetQuotaResponseT>(
                  rt, [] { return SetQuota(core::wire::QuotaSubject::Topic, "q", 1); }),
              nullptr);
    (void)rt.Sleep(seconds(1));  // Every node applies the metadata entry.
    EXPECT_GE(ThrottledOf(rt, "q", 5), 3) << "1 request/s: at most two of five back to back";
    auto described = CallUntil<core::wire::DescribeQuotasResponseT>(
        rt, [] { return core::wire::Message(5, core::wire::DescribeQuotasRequestT{}); });
    ASSERT_NE(described, nullptr);
    ASSERT_EQ(described->body.AsDescribeQuotasResponse()->quotas.size(), 1u);
    auto hostile = CallUntil<core::wire::ErrorResponseT>(
        rt, [] { return SetQuota(static_cast<core::wire::QuotaSubject>(77), "q", 1); });
    ASSERT_NE(hostile, nullptr);
    EXPECT_EQ(hostile->body.AsErrorResponse()->code, core::wire::ErrorCode::InvalidConfig);
    ASSERT_NE(CallUntil<core::wire::SetQuotaResponseT>(
                  rt, [] { return SetQuota(core::wire::QuotaSubject::Topic, "q", 0, true); }),
              nullptr);
    (void)rt.Sleep(seconds(1));
    EXPECT_EQ(ThrottledOf(rt, "q", 5), 0) << "the quota was removed";
  });
}

// A fetch whose response would not fit in the node's buffered-bytes bound reads less instead of
// buffering it: eight 40 KiB batches (320 KiB) under a 256 KiB bound come back a few at a time.
TEST(BrokerSim, AFetchOverTheMemoryBoundReadsLess) {
  BrokerCluster cluster(37, [](core::broker::BrokerOptions& options) {
    options.limits.buffered_bytes_max = 256 << 10;
  });
  cluster.OnClient([&](io::Runtime& rt) {
    ASSERT_TRUE(CreateOnePartitionTopic(rt, "m"));
    for (int i = 0; i < 8; i++) {
      ASSERT_NE(
          CallUntil<core::wire::ProduceResponseT>(rt, [&] { return Produce("m", 0, i, 40 << 10); }),
          nullptr);
    }
    auto fetched = LeaderAnswer(rt, [] { return Fetch("m", 0, 0, 1 << 20); });
    ASSERT_NE(fetched, nullptr);
    ASSERT_NE(fetched->body.AsFetchResponse(), nullptr);
    const size_t batches = fetched->body.AsFetchResponse()->batches.size();
    EXPECT_GE(batches, 1u);
    EXPECT_LT(batches, 8u) << "the whole 320 KiB would not have fit in the bound twice over";
  });
}

// Past connections_max, a new connection's hello is answered Throttled (with retry_after_ms)
// and the connection closed; once one closes, a new one is served again.
// Sends a HelloRequest on `stream` and reads the answer (null if none came within 5 s).
std::unique_ptr<core::wire::ClientMessageT> Hello(io::Runtime& rt, io::Stream& stream) {
  core::wire::HelloRequestT request;
  request.version_min = 1;
  request.version_max = 1;
  request.client_id = "bound-test";
  const io::Instant deadline = rt.Now() + seconds(5);
  if (!io::WriteFrame(stream, core::wire::EncodeClientMessage(core::wire::Message(1, request)),
                      deadline)
           .ok()) {
    return nullptr;
  }
  io::FrameReader reader(stream, core::wire::kClientMessageBytesMax);
  absl::StatusOr<std::vector<uint8_t>> frame = reader.Read(deadline);
  if (!frame.ok()) return nullptr;
  absl::StatusOr<std::unique_ptr<core::wire::ClientMessageT>> decoded =
      core::wire::DecodeClientMessage(*frame);
  return decoded.ok() ? std::move(*decoded) : nullptr;
}

TEST(BrokerSim, ConnectionsPastTheBoundAreRefusedAtTheHello) {
  BrokerCluster cluster(
      41, [](core::broker::BrokerOptions& options) { options.limits.connections_max = 1; });
  cluster.OnClient([&](io::Runtime& rt) {
    const auto hello = [&](io::Stream& stream) { return Hello(rt, stream); };
    // Node 1 serves (one connection, opened and closed).
    ASSERT_NE(CallUntil<core::wire::MetadataResponseT>(
                  rt, [] { return core::wire::Message(2, core::wire::MetadataRequestT{}); }),
              nullptr);
    (void)rt.Sleep(milliseconds(100));
    auto first = rt.network().Connect(AddressOf(1), rt.Now() + seconds(5));
    ASSERT_TRUE(first.ok());
    auto accepted = hello(**first);
    ASSERT_NE(accepted, nullptr);
    EXPECT_NE(accepted->body.AsHelloResponse(), nullptr);
    auto second = rt.network().Connect(AddressOf(1), rt.Now() + seconds(5));
    ASSERT_TRUE(second.ok());
    auto refused = hello(**second);
    ASSERT_NE(refused, nullptr);
    ASSERT_NE(refused->body.AsErrorResponse(), nullptr);
    EXPECT_EQ(refused->body.AsErrorResponse()->code, core::wire::ErrorCode::Throttled);
    EXPECT_GT(refused->body.AsErrorResponse()->retry_after_ms, 0u);
    (*second)->Close();
    (*first)->Close();
    (void)rt.Sleep(milliseconds(100));  // The node sees both close.
    auto third = rt.network().Connect(AddressOf(1), rt.Now() + seconds(5));
    ASSERT_TRUE(third.ok());
    auto served = hello(**third);
    ASSERT_NE(served, nullptr);
    EXPECT_NE(served->body.AsHelloResponse(), nullptr);
    (*third)->Close();
  });
}

// One address may hold at most connections_per_address_max client connections, however many
// the node has free: the next hello is answered Throttled, naming the address; once one
// closes, a new one is served. Counted apart from the node-wide refusals.
TEST(BrokerSim, ConnectionsFromOneAddressPastTheirBoundAreRefusedAtTheHello) {
  BrokerCluster cluster(53, [](core::broker::BrokerOptions& options) {
    options.limits.connections_per_address_max = 2;
  });
  cluster.OnClient([&](io::Runtime& rt) {
    ASSERT_NE(CallUntil<core::wire::MetadataResponseT>(
                  rt, [] { return core::wire::Message(2, core::wire::MetadataRequestT{}); }),
              nullptr);
    (void)rt.Sleep(milliseconds(100));
    std::vector<std::unique_ptr<io::Stream>> held;
    for (int i = 0; i < 2; i++) {
      auto stream = rt.network().Connect(AddressOf(1), rt.Now() + seconds(5));
      ASSERT_TRUE(stream.ok());
      auto accepted = Hello(rt, **stream);
      ASSERT_NE(accepted, nullptr);
      ASSERT_NE(accepted->body.AsHelloResponse(), nullptr) << "connection " << i;
      held.push_back(*std::move(stream));
    }
    auto third = rt.network().Connect(AddressOf(1), rt.Now() + seconds(5));
    ASSERT_TRUE(third.ok());
    auto refused = Hello(rt, **third);
    ASSERT_NE(refused, nullptr);
    ASSERT_NE(refused->body.AsErrorResponse(), nullptr);
    EXPECT_EQ(refused->body.AsErrorResponse()->code, core::wire::ErrorCode::Throttled);
    EXPECT_EQ(refused->body.AsErrorResponse()->message,
              "2 client connections from client are open, the limit; retry after 100 ms");
    (*third)->Close();
    held.back()->Close();
    held.pop_back();
    (void)rt.Sleep(milliseconds(100));  // The node sees both close.
    auto next = rt.network().Connect(AddressOf(1), rt.Now() + seconds(5));
    ASSERT_TRUE(next.ok());
    auto served = Hello(rt, **next);
    ASSERT_NE(served, nullptr);
    EXPECT_NE(served->body.AsHelloResponse(), nullptr);
    (*next)->Close();
    held.front()->Close();
  });
  const core::broker::BrokerMetrics& metrics = cluster.broker(1)->metrics();
  EXPECT_EQ(metrics.connections_refused_per_address_total, 1u);
  EXPECT_EQ(metrics.connections_refused_total, 0u);
}

// On one connection, a long-polling fetch then a metadata request: the node reads the
// metadata request while the fetch waits, unless requests_in_flight_per_connection_max is 1,
// when it reads nothing more until the fetch is answered. Returns the request ids in the
// order their answers came.
std::vector<uint64_t> PipelinedAnswerOrder(uint64_t seed, uint32_t in_flight_max) {
  BrokerCluster cluster(seed, [in_flight_max](core::broker::BrokerOptions& options) {
    options.limits.requests_in_flight_per_connection_max = in_flight_max;
  });
  std::vector<uint64_t> order;
  cluster.OnClient([&](io::Runtime& rt) {
    ASSERT_TRUE(CreateTopic(rt, "quiet", 1));
    uint32_t leader = 0;
    for (int attempt = 0; attempt < 100 && leader == 0; attempt++) {
      for (uint32_t node = 1; node <= 3 && leader == 0; node++) {
        auto response = Call(rt, node, Fetch("quiet", 0, 0));
        if (response.ok() && (*response)->body.AsFetchResponse() != nullptr) leader = node;
      }
      (void)rt.Sleep(milliseconds(100));
    }
    ASSERT_NE(leader, 0u) << "no leader for quiet/0";
    auto stream = rt.network().Connect(AddressOf(leader), rt.Now() + seconds(5));
    ASSERT_TRUE(stream.ok());
    ASSERT_NE(Hello(rt, **stream), nullptr);
    core::wire::ClientMessageT fetch = Fetch("quiet", 0, 0);  // request_id 3
    fetch.body.AsFetchRequest()->max_wait_ms = 2000;
    const io::Instant deadline = rt.Now() + seconds(10);
    for (const core::wire::ClientMessageT& request :
         {fetch, core::wire::Message(4, core::wire::MetadataRequestT{})}) {
      ASSERT_TRUE(
          io::WriteFrame(**stream, core::wire::EncodeClientMessage(request), deadline).ok());
    }
    io::FrameReader reader(**stream, core::wire::kClientMessageBytesMax);
    for (int i = 0; i < 2; i++) {
      absl::StatusOr<std::vector<uint8_t>> frame = reader.Read(deadline);
      ASSERT_TRUE(frame.ok()) << frame.status();
      auto decoded = core::wire::DecodeClientMessage(*frame);
      ASSERT_TRUE(decoded.ok());
      order.push_back((*decoded)->request_id);
    }
    (*stream)->Close();
  });
  return order;
}

TEST(BrokerSim, RequestsPastTheInFlightBoundWaitForOneToBeAnswered) {
  EXPECT_EQ(PipelinedAnswerOrder(59, 256), (std::vector<uint64_t>{4, 3}))
      << "the metadata request was not answered while the fetch waited: the test proves nothing";
  EXPECT_EQ(PipelinedAnswerOrder(59, 1), (std::vector<uint64_t>{3, 4}));
}

// 64 produce requests pipelined on one connection are each answered once, all acknowledged,
// and the answers that complete together (one commit acknowledges many) share stream writes:
// the node coalesces queued responses rather than writing each alone.
TEST(BrokerSim, PipelinedResponsesAreEachAnsweredOnceAndShareWrites) {
  constexpr int kRequests = 64;
  BrokerCluster cluster(61);
  cluster.OnClient([&](io::Runtime& rt) {
    ASSERT_TRUE(CreateOnePartitionTopic(rt, "burst"));
    uint32_t leader = 0;
    for (int attempt = 0; attempt < 100 && leader == 0; attempt++) {
      for (uint32_t node = 1; node <= 3 && leader == 0; node++) {
        auto response = Call(rt, node, Produce("burst", 0, -1));
        if (response.ok() && (*response)->body.AsProduceResponse() != nullptr) leader = node;
      }
      (void)rt.Sleep(milliseconds(100));
    }
    ASSERT_NE(leader, 0u) << "no leader for burst/0";
    const uint64_t coalesced_before =
        io::probe::Snapshot()["broker: responses coalesced into one write"];
    auto stream = rt.network().Connect(AddressOf(leader), rt.Now() + seconds(5));
    ASSERT_TRUE(stream.ok());
    ASSERT_NE(Hello(rt, **stream), nullptr);
    const io::Instant deadline = rt.Now() + seconds(20);
    std::vector<uint8_t> requests;
    for (int i = 0; i < kRequests; i++) {
      core::wire::ClientMessageT produce = Produce("burst", 0, i);
      produce.request_id = 100 + i;
      io::AppendFrame(requests, core::wire::EncodeClientMessage(produce));
    }
    ASSERT_TRUE((*stream)->Write(requests, deadline).ok());
    io::FrameReader reader(**stream, core::wire::kClientMessageBytesMax);
    std::set<uint64_t> answered;
    for (int i = 0; i < kRequests; i++) {
      absl::StatusOr<std::vector<uint8_t>> frame = reader.Read(deadline);
      ASSERT_TRUE(frame.ok()) << frame.status() << " after " << i << " answers";
      auto decoded = core::wire::DecodeClientMessage(*frame);
      ASSERT_TRUE(decoded.ok()) << decoded.status();
      EXPECT_NE((*decoded)->body.AsProduceResponse(), nullptr)
          << "request " << (*decoded)->request_id << " was not acknowledged";
      EXPECT_TRUE(answered.insert((*decoded)->request_id).second)
          << "request " << (*decoded)->request_id << " answered twice";
    }
    EXPECT_EQ(answered.size(), static_cast<size_t>(kRequests));
    EXPECT_EQ(*answered.begin(), 100u);
    EXPECT_EQ(*answered.rbegin(), 100u + kRequests - 1);
    EXPECT_GT(io::probe::Snapshot()["broker: responses coalesced into one write"], coalesced_before)
        << "every answer went out in a write of its own";
    (*stream)->Close();
  });
}

// A connection waiting on its own long poll is not idle: a fetch that waits 4 s for records
// on a connection with a 2 s idle timeout is answered (empty), not cut off at 2 s.
TEST(BrokerSim, ALongPollLongerThanTheIdleTimeoutIsAnswered) {
  BrokerCluster cluster(47, [](core::broker::BrokerOptions& options) {
    options.limits.connection_idle_timeout = seconds(2);
  });
  cluster.OnClient([&](io::Runtime& rt) {
    ASSERT_TRUE(CreateTopic(rt, "quiet", 1));
    std::unique_ptr<core::wire::ClientMessageT> fetched;
    io::Duration waited{};
    for (int attempt = 0; attempt < 100 && fetched == nullptr; attempt++) {
      for (uint32_t node = 1; node <= 3 && fetched == nullptr; node++) {
        core::wire::ClientMessageT fetch = Fetch("quiet", 0, 0);
        fetch.body.AsFetchRequest()->max_wait_ms = 4000;
        const io::Instant sent = rt.Now();
        auto response = Call(rt, node, std::move(fetch));
        if (response.ok() && (*response)->body.AsFetchResponse() != nullptr) {
          fetched = std::move(*response);
          waited = rt.Now() - sent;
        }
      }
      (void)rt.Sleep(milliseconds(100));
    }
    ASSERT_NE(fetched, nullptr) << "no leader answered the long poll";
    EXPECT_TRUE(fetched->body.AsFetchResponse()->batches.empty());
    EXPECT_GE(waited, seconds(4)) << "the fetch did not wait: the test proves nothing";
  });
}

// A client that trickles a request (slowloris) or sends nothing is closed, so it cannot hold a
// connection slot for ever: with one slot, a stalled half-header first blocks a second client's
// hello, then is cut off after request_read_timeout and the slot serves again; an idle one is
// closed after connection_idle_timeout; both counted. A real client that idles past the timeout
// reconnects and is served.
TEST(BrokerSim, ConnectionsThatIdleOrTrickleARequestAreClosedAndFreeTheirSlot) {
  BrokerCluster cluster(43, [](core::broker::BrokerOptions& options) {
    options.limits.connections_max = 1;
    options.limits.connection_idle_timeout = seconds(6);
    options.limits.request_read_timeout = seconds(2);
  });
  cluster.OnClient([&](io::Runtime& rt) {
    ASSERT_NE(CallUntil<core::wire::MetadataResponseT>(
                  rt, [] { return core::wire::Message(2, core::wire::MetadataRequestT{}); }),
              nullptr);
    (void)rt.Sleep(milliseconds(100));
    auto trickler = rt.network().Connect(AddressOf(1), rt.Now() + seconds(5));
    ASSERT_TRUE(trickler.ok());
    auto accepted = Hello(rt, **trickler);
    ASSERT_NE(accepted, nullptr);
    ASSERT_NE(accepted->body.AsHelloResponse(), nullptr);
    const std::array<uint8_t, 4> half_header = {0x10, 0, 0, 0};
    ASSERT_TRUE((*trickler)->Write(half_header, rt.Now() + seconds(1)).ok());
    const io::Instant stalled_at = rt.Now();
    auto blocked = rt.network().Connect(AddressOf(1), rt.Now() + seconds(5));
    ASSERT_TRUE(blocked.ok());
    auto refused = Hello(rt, **blocked);
    ASSERT_NE(refused, nullptr);
    ASSERT_NE(refused->body.AsErrorResponse(), nullptr) << "the trickler holds the one slot";
    (*blocked)->Close();
    ExpectClosedByNodeAfter(rt, **trickler, stalled_at, seconds(2),
                            "a request not whole within request_read_timeout");
    (*trickler)->Close();
    (void)rt.Sleep(milliseconds(100));
    auto idler = rt.network().Connect(AddressOf(1), rt.Now() + seconds(5));
    ASSERT_TRUE(idler.ok());
    auto served = Hello(rt, **idler);
    ASSERT_NE(served, nullptr);
    ASSERT_NE(served->body.AsHelloResponse(), nullptr) << "the trickler's slot is free again";
    ExpectClosedByNodeAfter(rt, **idler, rt.Now(), seconds(6), "an idle connection");
    (*idler)->Close();
    EXPECT_EQ(cluster.broker(1)->metrics().connections_timed_out_total, 2u);

    // A real client idle past the timeout: its connection is closed under it, and its next
    // call reconnects and is answered.
    core::client::ClientOptions options;
    options.bootstrap = {AddressOf(1)};
    options.client_id = "idler";
    core::client::Client client(rt, options);
    ASSERT_TRUE(client.RefreshMetadata({}).ok());
    (void)rt.Sleep(seconds(10));
    absl::StatusOr<core::wire::MetadataResponseT> again = client.RefreshMetadata({});
    EXPECT_TRUE(again.ok()) << again.status();
  });
}

}  // namespace
}  // namespace meridian
