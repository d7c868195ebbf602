// make_kafka_corpus: writes the seed corpora of the Kafka fuzz targets (kafka_request,
// kafka_record_batch) under fuzz/corpus/, built with core/kafka's own encoders so they stay
// valid as the codec evolves. Deterministic. Kept apart from make_corpus.cc so the Kafka
// listener's seeds can change without touching the other targets' generator.
//
//   bazel run //fuzz:make_kafka_corpus -- "$PWD/fuzz/corpus"
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "core/kafka/bytes.h"
#include "core/kafka/messages.h"
#include "core/kafka/record_batch.h"
#include "io/assert.h"

namespace meridian::fuzz {
namespace {

using Bytes = std::vector<uint8_t>;
using core::kafka::ApiKey;
using core::kafka::Writer;

std::filesystem::path g_root;

// The kafka_request seeds, in the order written: kafka_session's scripts send them.
std::vector<std::pair<std::string, Bytes>> g_requests;

void Write(const std::string& target, const std::string& name, const Bytes& bytes) {
  if (target == "kafka_request") g_requests.emplace_back(name, bytes);
  const std::filesystem::path dir = g_root / target;
  std::filesystem::create_directories(dir);
  std::ofstream out(dir / ("seed-" + name), std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  MERIDIAN_CHECK(out.good(), "cannot write {}/{}", target, name);
}

Bytes Batch(int64_t producer_id, bool headers) {
  core::kafka::KafkaBatch batch;
  batch.producer_id = producer_id;
  if (producer_id != -1) {
    batch.producer_epoch = 0;
    batch.base_sequence = 10;
  }
  for (int i = 0; i < 3; i++) {
    core::kafka::KafkaRecord record;
    record.timestamp_ms = 1'700'000'000'000 + i;
    if (i != 0) record.key = Bytes{'k', static_cast<uint8_t>('0' + i)};
    record.value = Bytes(static_cast<size_t>(i) * 5, 'v');
    if (headers) record.headers.push_back({"h", Bytes{'x'}});
    batch.records.push_back(std::move(record));
  }
  Bytes out;
  core::kafka::EncodeRecordBatch(batch, out);
  return out;
}

Bytes Request(ApiKey key, int16_t version, const Bytes& body) {
  Writer writer;
  writer.Int16(static_cast<int16_t>(key));
  writer.Int16(version);
  writer.Int32(7);
  writer.NullableString("seed");
  writer.Raw(body);
  return writer.Take();
}

Bytes ProduceBody() {
  Writer w;
  w.NullableString(std::nullopt);
  w.Int16(-1);
  w.Int32(30000);
  w.ArrayCount(1);
  w.String("t");
  w.ArrayCount(1);
  w.Int32(0);
  w.Bytes(Batch(5, true));
  return w.Take();
}

Bytes FetchBody() {
  Writer w;
  for (int32_t v : {-1, 500, 1, 1 << 20}) w.Int32(v);
  w.Int8(0);
  w.Int32(0);
  w.Int32(-1);
  w.ArrayCount(1);
  w.String("t");
  w.ArrayCount(1);
  w.Int32(0);
  w.Int32(-1);
  w.Int64(0);
  w.Int64(-1);
  w.Int32(1 << 20);
  w.ArrayCount(0);
  w.String("r1");
  return w.Take();
}

void RequestSeeds() {
  Write("kafka_request", "produce-v8", Request(ApiKey::kProduce, 8, ProduceBody()));
  Write("kafka_request", "fetch-v11", Request(ApiKey::kFetch, 11, FetchBody()));
  Writer metadata;
  metadata.Int32(1);
  metadata.String("t");
  for (int i = 0; i < 3; i++) metadata.Bool(false);
  Write("kafka_request", "metadata-v8", Request(ApiKey::kMetadata, 8, metadata.Take()));
  Writer list;
  list.Int32(-1);
  list.Int8(0);
  list.ArrayCount(1);
  list.String("t");
  list.ArrayCount(1);
  list.Int32(0);
  list.Int32(-1);
  list.Int64(-2);
  Write("kafka_request", "list-offsets-v5", Request(ApiKey::kListOffsets, 5, list.Take()));
  Writer create;
  create.ArrayCount(1);
  create.String("t");
  create.Int32(3);
  create.Int16(3);
  create.ArrayCount(0);
  create.ArrayCount(1);
  create.String("retention.ms");
  create.NullableString("1000");
  create.Int32(1000);
  create.Bool(false);
  Write("kafka_request", "create-topics-v4", Request(ApiKey::kCreateTopics, 4, create.Take()));
  Writer commit;
  commit.String("g");
  commit.Int32(1);
  commit.String("m");
  commit.NullableString(std::nullopt);
  commit.ArrayCount(1);
  commit.String("t");
  commit.ArrayCount(1);
  commit.Int32(0);
  commit.Int64(5);
  commit.Int32(-1);
  commit.NullableString(std::nullopt);
  Write("kafka_request", "offset-commit-v7", Request(ApiKey::kOffsetCommit, 7, commit.Take()));
  Writer init;
  init.NullableString(std::nullopt);
  init.Int32(60000);
  Write("kafka_request", "init-producer-id-v1", Request(ApiKey::kInitProducerId, 1, init.Take()));
  Writer describe;
  describe.ArrayCount(2);
  describe.Int8(core::kafka::kResourceTopic);
  describe.String("orders");
  describe.Int32(-1);
  describe.Int8(core::kafka::kResourceBroker);
  describe.String("1");
  describe.ArrayCount(1);
  describe.String("broker.rack");
  describe.Bool(false);
  Write("kafka_request", "describe-configs-v1",
        Request(ApiKey::kDescribeConfigs, 1, describe.Take()));
  Writer versions;  // ApiVersions v3: header v2 with a tagged-field byte, compact body.
  versions.Int16(static_cast<int16_t>(ApiKey::kApiVersions));
  versions.Int16(3);
  versions.Int32(1);
  versions.NullableString("rdkafka");
  versions.Raw(Bytes{0, 3, 'r', 'd', 2, '2', 0});
  Write("kafka_request", "api-versions-v3", versions.Take());
}

// CreatePartitions v1 (one topic placed by the broker, one by hand; validate_only),
// DescribeGroups v4 (two groups, include_authorized_operations), DeleteGroups v1 (two groups),
// AlterConfigs v1 and IncrementalAlterConfigs v0 (a topic's retention, a null value), as admin
// clients send them.
void AdminSeeds() {
  Writer grow;
  grow.ArrayCount(2);
  grow.String("orders");
  grow.Int32(6);
  grow.Int32(-1);  // assignments: null.
  grow.String("t");
  grow.Int32(2);
  grow.ArrayCount(1);
  grow.ArrayCount(2);
  grow.Int32(1);
  grow.Int32(2);
  grow.Int32(30000);
  grow.Bool(true);
  Write("kafka_request", "create-partitions-v1",
        Request(ApiKey::kCreatePartitions, 1, grow.Take()));
  Writer describe;
  describe.ArrayCount(2);
  describe.String("g");
  describe.String("h");
  describe.Bool(true);
  Write("kafka_request", "describe-groups-v4",
        Request(ApiKey::kDescribeGroups, 4, describe.Take()));
  Writer remove;
  remove.ArrayCount(2);
  remove.String("g");
  remove.String("h");
  Write("kafka_request", "delete-groups-v1", Request(ApiKey::kDeleteGroups, 1, remove.Take()));
  for (const bool incremental : {false, true}) {
    Writer alter;
    alter.ArrayCount(1);
    alter.Int8(core::kafka::kResourceTopic);
    alter.String("orders");
    alter.ArrayCount(2);
    alter.String("retention.ms");
    if (incremental) alter.Int8(core::kafka::kConfigOpSet);
    alter.NullableString("86400000");
    alter.String("retention.bytes");
    if (incremental) alter.Int8(core::kafka::kConfigOpDelete);
    alter.NullableString(std::nullopt);
    alter.Bool(false);  // validate_only.
    Write("kafka_request", incremental ? "incremental-alter-configs-v0" : "alter-configs-v1",
          Request(incremental ? ApiKey::kIncrementalAlterConfigs : ApiKey::kAlterConfigs,
                  incremental ? 0 : 1, alter.Take()));
  }
}

// The consumer-group requests as librdkafka 2.0 sends them (JoinGroup v5, SyncGroup v3, ...).
void GroupSeeds() {
  Writer find;
  find.String("g");
  find.Int8(0);
  Write("kafka_request", "find-coordinator-v2", Request(ApiKey::kFindCoordinator, 2, find.Take()));
  Writer join;
  join.String("g");
  join.Int32(10000);
  join.Int32(300000);
  join.String("");
  join.NullableString(std::nullopt);
  join.String("consumer");
  join.ArrayCount(1);
  join.String("range");
  join.Bytes(Bytes{0, 0, 0, 0, 0, 1, 0, 1, 't', 0xff, 0xff, 0xff, 0xff});  // Subscription v0.
  Write("kafka_request", "join-group-v5", Request(ApiKey::kJoinGroup, 5, join.Take()));
  Writer sync;
  sync.String("g");
  sync.Int32(1);
  sync.String("m-1");
  sync.NullableString(std::nullopt);
  sync.ArrayCount(1);
  sync.String("m-1");
  sync.Bytes(Bytes{0, 0, 0, 0, 0, 1, 0, 1, 't', 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff});
  Write("kafka_request", "sync-group-v3", Request(ApiKey::kSyncGroup, 3, sync.Take()));
  Writer heartbeat;
  heartbeat.String("g");
  heartbeat.Int32(1);
  heartbeat.String("m-1");
  heartbeat.NullableString(std::nullopt);
  Write("kafka_request", "heartbeat-v3", Request(ApiKey::kHeartbeat, 3, heartbeat.Take()));
  Writer leave;
  leave.String("g");
  leave.ArrayCount(1);
  leave.String("m-1");
  leave.NullableString(std::nullopt);
  Write("kafka_request", "leave-group-v3", Request(ApiKey::kLeaveGroup, 3, leave.Take()));
  Writer fetch;
  fetch.String("g");
  fetch.ArrayCount(1);
  fetch.String("t");
  fetch.ArrayCount(1);
  fetch.Int32(0);
  Write("kafka_request", "offset-fetch-v5", Request(ApiKey::kOffsetFetch, 5, fetch.Take()));
}

void BatchSeeds() {
  Write("kafka_record_batch", "plain", Batch(-1, false));
  Write("kafka_record_batch", "idempotent-headers", Batch(5, true));
  const Bytes headers = Batch(5, true);
  using core::kafka::Codec;
  using core::kafka::CompressRecordBatch;
  Write("kafka_record_batch", "gzip", CompressRecordBatch(headers, Codec::kGzip));
  Write("kafka_record_batch", "snappy-xerial", CompressRecordBatch(headers, Codec::kSnappy));
  Write("kafka_record_batch", "snappy-raw", CompressRecordBatch(headers, Codec::kSnappy, true));
  Write("kafka_record_batch", "lz4", CompressRecordBatch(headers, Codec::kLz4));
  Write("kafka_record_batch", "zstd", CompressRecordBatch(headers, Codec::kZstd));
}

// kafka_session scripts (kafka_session_fuzzer.cc): action 0 (a frame), u16 length, payload.
void AppendFrameAction(Bytes& script, const Bytes& payload) {
  MERIDIAN_CHECK(payload.size() <= 0xffff);
  script.push_back(0);
  script.push_back(static_cast<uint8_t>(payload.size()));
  script.push_back(static_cast<uint8_t>(payload.size() >> 8));
  script.insert(script.end(), payload.begin(), payload.end());
}

// Every request seed alone, then all of them in one session with a pause before the fetch-like
// requests (a produce commits first), in the order a client would: versions, metadata, topics,
// producer id, produce, fetch, offsets, groups, configs.
void SessionSeeds() {
  Bytes all;
  for (const auto& [name, payload] : g_requests) {
    Bytes alone;
    AppendFrameAction(alone, payload);
    Write("kafka_session", name, alone);
  }
  const std::vector<std::string> order = {
      "api-versions-v3",     "metadata-v8",         "create-topics-v4",
      "init-producer-id-v1", "produce-v8",          "fetch-v11",
      "list-offsets-v5",     "find-coordinator-v2", "join-group-v5",
      "sync-group-v3",       "heartbeat-v3",        "offset-commit-v7",
      "offset-fetch-v5",     "leave-group-v3",      "describe-groups-v4",
      "delete-groups-v1",    "describe-configs-v1", "create-partitions-v1",
      "alter-configs-v1"};
  for (const std::string& name : order) {
    for (const auto& [seed, payload] : g_requests) {
      if (seed != name) continue;
      if (name == "fetch-v11") all.insert(all.end(), {2, 10});  // 200 ms.
      AppendFrameAction(all, payload);
    }
  }
  Write("kafka_session", "all-in-one-session", all);
}

}  // namespace
}  // namespace meridian::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    fmt::print(stderr, "usage: make_kafka_corpus <corpus dir>  (e.g. \"$PWD/fuzz/corpus\")\n");
    return 2;
  }
  meridian::fuzz::g_root = argv[1];
  meridian::fuzz::RequestSeeds();
  meridian::fuzz::GroupSeeds();
  meridian::fuzz::AdminSeeds();
  meridian::fuzz::BatchSeeds();
  meridian::fuzz::SessionSeeds();
  fmt::print("Kafka seed corpora written under {}\n", argv[1]);
  return 0;
}
