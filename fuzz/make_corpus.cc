// make_corpus: writes the seed corpora of every fuzz target (fuzz/corpus/<target>/seed-*), so
// the fuzzers start from valid inputs that reach deep into the code instead of rediscovering the
// formats byte by byte, plus the regression inputs that can be built rather than kept
// (regression-*). Deterministic: the same build writes the same files.
//
//   bazel run //fuzz:make_corpus -- "$PWD/fuzz/corpus"
//
// Seeds are built with the production encoders (core/wire, core/log) and real runs (a raft group
// on raft::testing::TestNet, a log written through Log::Append on the simulator), so they stay
// valid as the formats evolve: rerun this after a format change and commit the result. Other
// files (fuzzer-found regressions, checks/testdata copies) are never touched.
#include <fmt/format.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/broker/acl.h"
#include "core/broker/partition_state.h"
#include "core/cluster/metadata.h"
#include "core/log/log.h"
#include "core/raft/testing/test_net.h"
#include "core/replica/storage.h"
#include "core/wire/client_codec.h"
#include "core/wire/raft_codec.h"
#include "fuzz/one_sim_node.h"
#include "fuzz/simulation_input.h"
#include "io/assert.h"
#include "io/frame.h"
#include "sim/world.h"

namespace meridian::fuzz {
namespace {

using Bytes = std::vector<uint8_t>;

std::filesystem::path g_root;

void Write(const std::string& target, const std::string& name, const Bytes& bytes,
           const std::string& prefix = "seed-") {
  const std::filesystem::path dir = g_root / target;
  std::filesystem::create_directories(dir);
  std::ofstream out(dir / (prefix + name), std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  MERIDIAN_CHECK(out.good(), "cannot write {}/{}", target, name);
}

void Append(Bytes& out, const Bytes& more) { out.insert(out.end(), more.begin(), more.end()); }

// A script action carrying bytes (fuzz/input_reader.h encodings): action byte, u16 length, data.
void Action(Bytes& script, uint8_t action, const Bytes& data) {
  MERIDIAN_CHECK(data.size() <= 0xffff);
  script.push_back(action);
  script.push_back(static_cast<uint8_t>(data.size()));
  script.push_back(static_cast<uint8_t>(data.size() >> 8));
  Append(script, data);
}

// ------------------------------------------------------------------ client messages

core::wire::ClientMessageT Hello() {
  core::wire::HelloRequestT hello;
  hello.version_min = 1;
  hello.version_max = 1;
  hello.client_id = "fuzz-seed";
  return core::wire::Message(1, std::move(hello));
}

Bytes Batch(int records, uint64_t producer_id = 0, int32_t base_sequence = 0) {
  core::wire::RecordBatchT batch;
  batch.producer_id = producer_id;
  batch.producer_epoch = producer_id == 0 ? 0 : 1;
  batch.base_sequence = base_sequence;
  for (int i = 0; i < records; i++) {
    auto record = std::make_unique<core::wire::RecordT>();
    record->timestamp_ms = 1'700'000'000'000 + i;
    record->key = {'k', static_cast<uint8_t>('0' + i % 10)};
    record->value = {'v', 'a', 'l', static_cast<uint8_t>('0' + i % 10)};
    if (i % 2 == 1) {
      auto header = std::make_unique<core::wire::HeaderT>();
      header->key = "h";
      header->value = {1, 2, 3};
      record->headers.push_back(std::move(header));
    }
    batch.records.push_back(std::move(record));
  }
  return core::wire::EncodeRecordBatch(batch);
}

std::vector<std::pair<std::string, core::wire::ClientMessageT>> Requests() {
  std::vector<std::pair<std::string, core::wire::ClientMessageT>> out;
  out.emplace_back("hello", Hello());
  core::wire::CreateTopicRequestT create;
  create.name = "t";
  create.partitions = 2;
  create.replication_factor = 1;
  out.emplace_back("create-topic", core::wire::Message(2, create));
  core::wire::MetadataRequestT metadata;
  metadata.topics = {"t", "missing"};
  out.emplace_back("metadata", core::wire::Message(3, metadata));
  core::wire::InitProducerIdRequestT init;
  out.emplace_back("init-producer-id", core::wire::Message(4, init));
  core::wire::ProduceRequestT produce;
  produce.topic = "t";
  produce.partition = 0;
  produce.timeout_ms = 1000;
  produce.batch = Batch(3);
  out.emplace_back("produce", core::wire::Message(5, produce));
  produce.batch = Batch(2, /*producer_id=*/1, /*base_sequence=*/0);
  produce.acks = core::wire::Acks::Leader;
  out.emplace_back("produce-idempotent", core::wire::Message(6, produce));
  core::wire::FetchRequestT fetch;
  fetch.topic = "t";
  fetch.partition = 0;
  fetch.offset = 0;
  fetch.max_bytes = 1 << 16;
  fetch.max_wait_ms = 100;
  out.emplace_back("fetch", core::wire::Message(7, fetch));
  core::wire::ListOffsetsRequestT list;
  list.topic = "t";
  list.spec = core::wire::OffsetSpec::Timestamp;
  list.timestamp_ms = 1'700'000'000'001;
  out.emplace_back("list-offsets", core::wire::Message(8, list));
  out.emplace_back("replica-status", core::wire::Message(9, core::wire::ReplicaStatusRequestT{}));
  core::wire::RegisterNodeRequestT reg;
  reg.node = std::make_unique<core::wire::NodeInfoT>();
  reg.node->id = 2;
  reg.node->region = "r";
  reg.node->host = "node2";
  reg.node->port = 9092;
  out.emplace_back("register-node", core::wire::Message(10, reg));
  core::wire::DeleteTopicRequestT del;
  del.name = "t";
  out.emplace_back("delete-topic", core::wire::Message(11, del));
  return out;
}

std::vector<std::pair<std::string, core::wire::ClientMessageT>> Responses() {
  std::vector<std::pair<std::string, core::wire::ClientMessageT>> out;
  out.emplace_back("error",
                   core::wire::ErrorMessage(1, core::wire::ErrorCode::NotLeader, "ask n2", 2));
  core::wire::FetchResponseT fetch;
  fetch.high_watermark = 5;
  for (int64_t base : {0, 3}) {
    auto batch = std::make_unique<core::wire::FetchedBatchT>();
    batch->base_offset = base;
    batch->batch = Batch(3);
    fetch.batches.push_back(std::move(batch));
  }
  out.emplace_back("fetch-response", core::wire::Message(2, std::move(fetch)));
  core::wire::MetadataResponseT metadata;
  auto node = std::make_unique<core::wire::NodeInfoT>();
  node->id = 1;
  node->host = "node1";
  metadata.nodes.push_back(std::move(node));
  auto topic = std::make_unique<core::wire::TopicInfoT>();
  topic->name = "t";
  auto partition = std::make_unique<core::wire::PartitionInfoT>();
  partition->replicas = {1, 2, 3};
  partition->leader = 1;
  topic->partitions.push_back(std::move(partition));
  metadata.topics.push_back(std::move(topic));
  metadata.missing_topics = {"gone"};
  out.emplace_back("metadata-response", core::wire::Message(3, std::move(metadata)));
  return out;
}

void ClientSeeds() {
  Bytes stream;
  for (auto& [name, message] : Requests()) {
    const Bytes encoded = core::wire::EncodeClientMessage(message);
    Write("client_codec", name, encoded);
    Append(stream, io::EncodeFrame(encoded));
  }
  for (auto& [name, message] : Responses()) {
    Write("client_codec", name, core::wire::EncodeClientMessage(message));
  }
  Write("client_codec", "framed-stream", stream);
  // Regression: 64 offsets to one 4 KiB topic name. Before the unpack budget in
  // DecodeClientMessage this 4 KiB message decoded into 256 KiB (at 1 MiB x 4000, into 4 GiB).
  flatbuffers::FlatBufferBuilder builder;
  const auto name = builder.CreateString(std::string(4096, 'a'));
  const std::vector<flatbuffers::Offset<flatbuffers::String>> names(64, name);
  const auto request = core::wire::CreateMetadataRequest(builder, builder.CreateVector(names));
  builder.Finish(core::wire::CreateClientMessage(builder, 1, core::wire::Body::MetadataRequest,
                                                 request.Union()));
  Write("client_codec", "shared-strings",
        Bytes(builder.GetBufferPointer(), builder.GetBufferPointer() + builder.GetSize()),
        "regression-");
}

// ------------------------------------------------------------------ broker sessions

void BrokerSeeds() {
  std::vector<std::pair<std::string, core::wire::ClientMessageT>> requests = Requests();
  const auto frame = [&](Bytes& script, const std::string& name) {
    for (auto& [n, message] : requests) {
      if (n == name) return Action(script, 0, core::wire::EncodeClientMessage(message));
    }
    MERIDIAN_UNREACHABLE("no request {}", name);
  };
  const auto wait = [](Bytes& script, uint8_t ticks) {
    script.push_back(2);
    script.push_back(ticks);
  };
  // The whole life of a topic on one connection.
  Bytes full;
  frame(full, "hello");
  frame(full, "create-topic");
  wait(full, 50);
  for (const char* name : {"metadata", "init-producer-id", "produce", "produce-idempotent", "fetch",
                           "list-offsets", "replica-status", "register-node"}) {
    frame(full, name);
    wait(full, 5);
  }
  frame(full, "delete-topic");
  Write("broker_session", "topic-life", full);
  // Each request alone after a hello (and a topic where it needs one).
  for (auto& [name, message] : requests) {
    if (name == "hello") continue;
    Bytes script;
    frame(script, "hello");
    if (name != "create-topic") {
      frame(script, "create-topic");
      wait(script, 50);
    }
    frame(script, name);
    Write("broker_session", "alone-" + name, script);
  }
  // Protocol errors: a request before the hello; garbage raw bytes; a reconnect mid-stream.
  Bytes early;
  frame(early, "metadata");
  Write("broker_session", "no-hello", early);
  Bytes raw;
  frame(raw, "hello");
  Action(raw, 1, Bytes{0xff, 0xff, 0xff, 0x00, 1, 2, 3, 4, 5});
  raw.push_back(3);  // reconnect
  frame(raw, "hello");
  frame(raw, "metadata");
  Write("broker_session", "raw-and-reconnect", raw);
}

// ------------------------------------------------------------------ raft messages

using core::Term;
using core::raft::Entry;
using core::raft::EntryKind;
using core::raft::Index;
using core::raft::Message;
using core::raft::MessageType;
using io::NodeId;

Message Msg(MessageType type, uint32_t from, uint32_t to, uint64_t term) {
  return Message{.type = type, .from = NodeId(from), .to = NodeId(to), .term = Term(term)};
}

void RaftMessage(Bytes& script, const Message& message) {
  Action(script, 0, core::wire::EncodePeerMessage(7, message));
}

// Messages a live group really sends, captured from a TestNet run: an election, proposals, a
// second election and a membership change.
Bytes CapturedTraffic() {
  core::raft::testing::TestNet net(3);
  std::vector<Message> sent;
  net.OnSend([&](const Message& m) { sent.push_back(m); });
  net.Campaign(1);
  net.TickAll(2);
  (void)net.node(1).Propose("one");
  (void)net.node(1).Propose("two");
  net.DeliverAll();
  net.TickAll(3);
  net.Isolate(1);
  net.Campaign(2);
  net.Heal();
  net.TickAll(3);
  Bytes script;
  for (const Message& m : sent) {
    if (script.size() > 60'000) break;
    RaftMessage(script, m);
  }
  return script;
}

void RaftSeeds() {
  Write("raft_message", "captured-traffic", CapturedTraffic());
  // Forged but well formed: what a confused or malicious peer might send the group of the
  // harness (n1 leads term 1 with its no-op at index 1 committed).
  Bytes forged;
  Message append = Msg(MessageType::kAppend, 2, 3, 2);
  append.log_index = Index(1);
  append.log_term = Term(1);
  append.commit = Index(2);
  append.entries = {Entry{.term = Term(2), .index = Index(2), .data = "x"}};
  Entry config{.term = Term(2), .index = Index(3), .kind = EntryKind::kConfig};
  config.membership.voters = {NodeId(1), NodeId(2)};
  config.membership.learners = {NodeId(3)};
  append.entries.push_back(config);
  RaftMessage(forged, append);
  Message vote = Msg(MessageType::kVote, 3, 1, 5);
  vote.log_index = Index(9);
  vote.log_term = Term(4);
  RaftMessage(forged, vote);
  Message ack = Msg(MessageType::kAppendResponse, 2, 1, 1);
  ack.log_index = Index(1);
  RaftMessage(forged, ack);
  Message reject = ack;
  reject.reject = true;
  reject.hint_index = Index(1);
  reject.hint_term = Term(1);
  RaftMessage(forged, reject);
  Message beat = Msg(MessageType::kHeartbeatResponse, 3, 1, 1);
  beat.context_ticks = 3;
  RaftMessage(forged, beat);
  RaftMessage(forged, Msg(MessageType::kTimeoutNow, 1, 2, 1));
  Message prevote = Msg(MessageType::kPreVote, 2, 3, 2);
  prevote.log_index = Index(1);
  prevote.log_term = Term(1);
  RaftMessage(forged, prevote);
  forged.push_back(1);  // tick
  forged.push_back(15);
  forged.push_back(2);  // propose 3 bytes
  forged.push_back(3);
  Append(forged, Bytes{'a', 'b', 'c'});
  forged.push_back(3);  // campaign n2
  forged.push_back(4);
  Write("raft_message", "forged", forged);
}

// ------------------------------------------------------------------ logs on disk

// Writes a log through Log::Append on a simulated disk and returns its directory as one fuzz
// input (segments concatenated; each starts with the segment magic, which is how the target
// splits them again).
Bytes WrittenLog(int batches, uint32_t payload_bytes, bool with_loss_record) {
  Bytes out;
  RunOnOneSimNode([&](io::Runtime& rt) {
    core::log::LogOptions options;
    options.dir = "log";
    options.segment_bytes_max = core::log::Log::kSegmentBytesMin;
    options.index_interval_bytes = core::log::SparseIndex::kIntervalBytesMin;
    auto log = core::log::Log::Open(rt, rt.disk(), options);
    MERIDIAN_CHECK(log.ok());
    for (int i = 0; i < batches; i++) {
      const Bytes payload(payload_bytes, static_cast<uint8_t>(i));
      core::log::BatchMeta meta{.record_count = static_cast<uint32_t>(1 + i % 3),
                                .term = Term(1 + i / 4),
                                .first_timestamp_ms = 1000 + i,
                                .max_timestamp_ms = 1000 + i + 1};
      MERIDIAN_CHECK((*log)->Append(meta, payload).ok());
    }
    MERIDIAN_CHECK((*log)->Sync().ok());
    auto names = rt.disk().ListDir("log");
    MERIDIAN_CHECK(names.ok());
    for (const std::string& name : *names) {
      auto file = rt.disk().Open("log/" + name, io::OpenMode::kOpenExisting);
      MERIDIAN_CHECK(file.ok());
      Bytes contents(*(*file)->Size());
      MERIDIAN_CHECK((*file)->ReadAt(0, contents).ok());
      Append(out, contents);
    }
  });
  if (with_loss_record) {
    const std::string tag = "LOST";
    out.insert(out.end(), tag.begin(), tag.end());
    Append(out, core::log::EncodeLossRecord(core::log::LossRecord{
                    .lost_from = core::Offset(3), .lost_end_hint = core::Offset(9)}));
  }
  return out;
}

void LogSeeds() {
  Write("log_recovery", "empty-log", WrittenLog(0, 0, false));
  Write("log_recovery", "one-segment", WrittenLog(6, 40, false));
  Write("log_recovery", "three-segments", WrittenLog(24, 400, false));
  Write("log_recovery", "with-loss-record", WrittenLog(5, 100, true));
  Bytes torn = WrittenLog(6, 40, false);
  torn.resize(torn.size() - 17);  // A last write that never fully reached the disk.
  Write("log_recovery", "torn-tail", torn);
  Bytes rotten = WrittenLog(6, 40, false);
  rotten[core::log::kSegmentHeaderBytes + 70] ^= 0x10;  // A bit flip in the first batch.
  Write("log_recovery", "bit-rot", rotten);
}

// The WAL file a Log over the node-wide WAL leaves behind: `batches` appends to "g/log", a
// truncation, a reset and a base when asked (wal_recovery_fuzzer.cc reads it as its one file).
Bytes WrittenWal(int batches, bool truncate_and_reset) {
  Bytes out;
  RunOnOneSimNode([&](io::Runtime& rt) {
    auto wal = core::log::Wal::Open(rt, rt.disk(), core::log::WalOptions{});
    MERIDIAN_CHECK(wal.ok());
    auto log =
        core::log::Log::Open(rt, rt.disk(), core::log::LogOptions{.dir = "g/log", .wal = *wal});
    MERIDIAN_CHECK(log.ok());
    for (int i = 0; i < batches; i++) {
      const Bytes payload(40, static_cast<uint8_t>(i));
      MERIDIAN_CHECK((*log)->Append(core::log::BatchMeta{.term = Term(1)}, payload).ok());
    }
    if (truncate_and_reset && batches > 2) {
      MERIDIAN_CHECK((*log)->TruncateSuffix(core::Offset(2)).ok());
      MERIDIAN_CHECK((*log)->Append(core::log::BatchMeta{.term = Term(2)}, Bytes(9, 7)).ok());
      MERIDIAN_CHECK((*log)->Reset(core::Offset(10)).ok());
      MERIDIAN_CHECK((*log)->Append(core::log::BatchMeta{.term = Term(3)}, Bytes(5, 9)).ok());
    }
    MERIDIAN_CHECK((*log)->Sync().ok());
    auto names = rt.disk().ListDir("wal");
    MERIDIAN_CHECK(names.ok() && !names->empty());
    auto file = rt.disk().Open("wal/" + names->back(), io::OpenMode::kOpenExisting);
    MERIDIAN_CHECK(file.ok());
    Bytes contents(*(*file)->Size());
    MERIDIAN_CHECK((*file)->ReadAt(0, contents).ok());
    Append(out, contents);
  });
  return out;
}

void WalSeeds() {
  Write("wal_recovery", "appends", WrittenWal(6, false));
  Write("wal_recovery", "truncate-and-reset", WrittenWal(6, true));
  Bytes torn = WrittenWal(6, false);
  torn.resize(torn.size() - 11);
  Write("wal_recovery", "torn-tail", torn);
}

// ------------------------------------------------------------------ histories

// One JSON line per element; written with a newline after each.
Bytes Lines(const std::vector<std::string>& lines) {
  Bytes out;
  for (const std::string& line : lines) {
    out.insert(out.end(), line.begin(), line.end());
    out.push_back('\n');
  }
  return out;
}

void HistorySeeds() {
  // The example of docs/history-format.md (both workloads, every event type).
  Write("history", "doc-example",
        Lines({
            R"({"process":0,"type":"invoke","f":"send","time_ns":10,"partition":0,"values":[1,2]})",
            R"({"process":1,"type":"invoke","f":"assign","time_ns":11,"partitions":[0]})",
            R"({"process":1,"type":"ok","f":"assign","time_ns":12})",
            R"({"process":0,"type":"ok","f":"send","time_ns":20,"offsets":[0,1]})",
            R"({"process":2,"type":"invoke","f":"send","time_ns":21,"partition":0,"values":[3]})",
            R"({"process":1,"type":"invoke","f":"poll","time_ns":22})",
            R"({"process":2,"type":"info","f":"send","time_ns":30,"error":"timeout"})",
            R"({"process":1,"type":"ok","f":"poll","time_ns":40,"reads":[[0,0,1],[0,1,2]]})",
            R"({"process":3,"type":"invoke","f":"write","time_ns":50,"key":"x","value":7})",
            R"({"process":3,"type":"ok","f":"write","time_ns":55})",
            R"({"process":3,"type":"invoke","f":"cas","time_ns":60,"key":"x","expected":7,)"
            R"("value":8})",
            R"({"process":3,"type":"fail","f":"cas","time_ns":65,"error":"value changed"})",
        }));
  Write(
      "history", "registers",
      Lines({
          R"({"process":0,"type":"invoke","f":"write","time_ns":1,"value":1})",
          R"({"process":1,"type":"invoke","f":"read","time_ns":2})",
          R"({"process":0,"type":"ok","f":"write","time_ns":3})",
          R"({"process":1,"type":"ok","f":"read","time_ns":4,"value":null})",
          R"({"process":2,"type":"invoke","f":"cas","time_ns":5,"key":"k","expected":null,)"
          R"("value":-3})",
          R"({"process":2,"type":"ok","f":"cas","time_ns":6,"key":"k","expected":null,"value":-3})",
          R"({"process":3,"type":"invoke","f":"commit","time_ns":7,"commits":[[0,4]]})",
          R"({"process":3,"type":"info","f":"commit","time_ns":8,)"
          R"("error":"a \"quoted\" \u00e9 \\ reason"})",
      }));
}

// ------------------------------------------------------------------ snapshots

Bytes AsBytes(const std::string& text) { return Bytes(text.begin(), text.end()); }

// A controller with three registered nodes and one topic of two partitions.
core::cluster::ClusterMetadata SmallCluster() {
  core::cluster::ClusterMetadata metadata;
  for (uint32_t id = 1; id <= 3; id++) {
    core::wire::MetadataCommandT command;
    core::wire::NodeRegisterT registration;
    registration.node = std::make_unique<core::wire::NodeInfoT>();
    registration.node->id = id;
    registration.node->region = fmt::format("r{}", id);
    registration.node->zone = "z";
    registration.node->host = "127.0.0.1";
    registration.node->port = static_cast<uint16_t>(9000 + id);
    command.body.Set(std::move(registration));
    MERIDIAN_CHECK(metadata.Apply(core::cluster::EncodeCommand(command)).status.ok());
  }
  core::wire::MetadataCommandT command;
  core::wire::TopicCreateT create;
  create.name = "clicks";
  create.replication_factor = 3;
  for (int p = 0; p < 2; p++) {
    auto assignment = std::make_unique<core::wire::PartitionAssignmentT>();
    assignment->replicas = {1, 2, 3};
    create.partitions.push_back(std::move(assignment));
  }
  command.body.Set(std::move(create));
  MERIDIAN_CHECK(metadata.Apply(core::cluster::EncodeCommand(command)).status.ok());
  return metadata;
}

void SnapshotSeeds() {
  const std::string cluster = SmallCluster().EncodeSnapshot();
  const std::string partition = core::broker::PartitionState().EncodeSnapshot();
  Write("snapshot", "metadata-data", AsBytes(cluster));
  Write("snapshot", "partition-data", AsBytes(partition));
  core::raft::Snapshot snapshot;
  snapshot.meta.index = core::raft::Index(42);
  snapshot.meta.term = core::Term(3);
  snapshot.meta.membership.voters = {io::NodeId(1), io::NodeId(2), io::NodeId(3)};
  snapshot.meta.membership.learners = {io::NodeId(4)};
  snapshot.data = cluster;
  Write("snapshot", "file-metadata", core::replica::EncodeSnapshot(snapshot));
  snapshot.data = partition;
  Write("snapshot", "file-partition", core::replica::EncodeSnapshot(snapshot));
}

// ------------------------------------------------------------------ peer port of a broker

// A forged-message action of broker_peer_fuzzer.cc (see Forge there): target node (0: node 1,
// 1: node 3), group pick (0 liveness, 1 metadata, 2-4 the topic's partitions), then the fields.
Bytes ForgedPeerAction(uint8_t target, uint8_t group, MessageType type, uint8_t term,
                       uint8_t log_index, uint8_t commit, const Bytes& tail = {}) {
  Bytes action = {1,
                  target,
                  group,
                  static_cast<uint8_t>(type),
                  /*to=*/0,
                  term,
                  log_index,
                  /*log_term=*/term,
                  commit,
                  /*flags=*/0,
                  /*hint_index=*/0,
                  /*hint_term=*/0,
                  /*context_ticks=*/1};
  Append(action, tail);
  return action;
}

void BrokerPeerSeeds() {
  const Bytes produce_each = {3, 0, 3, 1, 3, 2};
  Bytes heartbeats = produce_each;
  for (uint8_t group = 0; group <= 4; group++) {
    for (uint8_t term = 1; term <= 3; term++) {
      Append(heartbeats, ForgedPeerAction(0, group, MessageType::kHeartbeat, term, 0, 2));
    }
  }
  Write("broker_peer", "heartbeats", heartbeats);
  // Appends in the current terms carrying one data entry and one configuration entry
  // (entries: count, then per entry term, kind byte, data length and data / voters bits).
  Bytes appends;
  for (uint8_t group = 1; group <= 4; group++) {
    Append(appends, ForgedPeerAction(group % 2, group, MessageType::kAppend, 2, 1, 3,
                                     Bytes{2, 2, 1, 3, 'a', 'b', 'c', 2, 0, 0x07}));
  }
  Append(appends, produce_each);
  Write("broker_peer", "appends", appends);
  Bytes elections;
  for (uint8_t group = 1; group <= 4; group++) {
    Append(elections, ForgedPeerAction(0, group, MessageType::kPreVote, 4, 9, 0));
    Append(elections, ForgedPeerAction(0, group, MessageType::kVote, 4, 9, 0));
    Append(elections, ForgedPeerAction(1, group, MessageType::kTimeoutNow, 2, 0, 0));
    Append(elections, ForgedPeerAction(0, group, MessageType::kVoteResponse, 4, 0, 0));
    Append(elections, ForgedPeerAction(0, group, MessageType::kTermQuery, 2, 0, 0));
  }
  Append(elections, Bytes{2, 100});
  Append(elections, produce_each);
  Write("broker_peer", "elections", elections);
  Bytes acks;
  for (uint8_t group = 1; group <= 4; group++) {
    Append(acks, ForgedPeerAction(0, group, MessageType::kAppendResponse, 2, 200, 0));
    Append(acks, ForgedPeerAction(0, group, MessageType::kHeartbeatResponse, 2, 0, 0));
    Append(acks, ForgedPeerAction(0, group, MessageType::kSnapshot, 2, 0, 0,
                                  Bytes{50, 2, 4, 0, 'j', 'u', 'n', 'k'}));
  }
  Append(acks, produce_each);
  Write("broker_peer", "acks-and-snapshots", acks);
  Message beat = Msg(MessageType::kHeartbeat, 2, 1, 2);
  beat.commit = Index(1);
  Bytes raw;
  for (uint64_t group = 0; group <= 4; group++) {
    Bytes action = {0, 0};
    const Bytes encoded = core::wire::EncodePeerMessage(group, beat);
    action.push_back(static_cast<uint8_t>(encoded.size()));
    action.push_back(static_cast<uint8_t>(encoded.size() >> 8));
    Append(action, encoded);
    Append(raw, action);
  }
  Write("broker_peer", "raw-heartbeats", raw);
}

// ------------------------------------------------------------------ ACL rules files

void AclSeeds() {
  const auto text = [](const std::string& name, std::string_view body) {
    Write("acl", name, Bytes(body.begin(), body.end()));
  };
  text("example",
       "# PRINCIPAL TOPIC OPERATIONS\n"
       "alice      orders     produce,consume\n"
       "analytics  logs-*     consume\n"
       "ops        *          admin\n"
       "*          public     consume\n");
  text("crlf-tabs-comments",
       "alice\torders\tall # trailing\r\n\r\n  # only a comment\r\nbob x* produce,,admin\r\n");
  text("empty", "");
  text("bad-operation", "alice orders read\n");
  text("two-words", "alice orders\n");
  text("long-name", std::string(core::broker::AccessControl::kNameBytesMax + 1, 'n') + " t all\n");
}

// ------------------------------------------------------------------ simulated runs

// One event of a simulation input (fuzz/simulation_input.h): fractions are of 65535.
struct SimEvent {
  sim::FaultKind kind;
  uint16_t at = 0;
  uint32_t target = 0;
  uint16_t length = 0;
  uint16_t rate = 0;
};

void PutU16(Bytes& out, uint16_t value) {
  out.push_back(static_cast<uint8_t>(value));
  out.push_back(static_cast<uint8_t>(value >> 8));
}

// A simulation input: the five workload bytes, the seed, the fault phase, the events.
Bytes SimulationInput(const Bytes& workload, uint64_t seed, uint8_t fault_phase_s,
                      const std::vector<SimEvent>& events) {
  MERIDIAN_CHECK(workload.size() == 5 && fault_phase_s >= 4);
  Bytes input = workload;
  for (int i = 0; i < 4; i++) PutU16(input, static_cast<uint16_t>(seed >> (16 * i)));
  input.push_back(fault_phase_s - 4);
  for (const SimEvent& event : events) {
    input.push_back(static_cast<uint8_t>(event.kind));
    PutU16(input, event.at);
    PutU16(input, static_cast<uint16_t>(event.target));
    PutU16(input, static_cast<uint16_t>(event.target >> 16));
    PutU16(input, event.length);
    PutU16(input, event.rate);
  }
  MERIDIAN_CHECK(input.size() == kSimulationHeaderBytes + events.size() * kSimulationEventBytes);
  return input;
}

// Seeds kept because they catch a planted bug (fuzz/simulation_oracle_test.sh), and the empty
// input.
void SimulationSeedsThatCatchBugs() {
  using K = sim::FaultKind;
  // Partitions and crashes on geo-3x3 that lose an acknowledged write when the leader acks
  // before a quorum has it (--bug=ack-before-quorum): a meridian-sim seed that caught it
  // (--seed=3 --kinds=crash,partition), its schedule encoded here, partition splits adjusted.
  Write("simulation", "acks-before-quorum-lost",
        SimulationInput({0, 1, 1, 2, 0}, 3, 5,
                        {{K::kPartition, 16'504, 2'049'758'729, 36'687},
                         {K::kCrash, 41'121, 5, 40'228},
                         {K::kCrash, 47'881, 5, 27'728},
                         {K::kPartition, 58'758, 1'079'747'498, 626},
                         {K::kCrash, 64'172, 1, 61'395},
                         {K::kCrash, 65'335, 4, 24'543}}));
  Write("simulation", "empty", Bytes{});
}

void SimulationSeeds() {
  using K = sim::FaultKind;
  // Broker, geo-3x3, 2 partitions, 2 producers, the scenario's consistency, per-partition logs.
  Write("simulation", "geo-crash-partition-drop",
        SimulationInput({0, 1, 1, 1, 0}, 1, 10,
                        {{K::kDrop, 0, 0, 0, 20'000},
                         {K::kCrash, 20'000, 4, 10'000},
                         {K::kPartition, 33'000, 77, 30'000},
                         {K::kCrash, 50'000, 7, 60'000}}));
  // Strong topic, node-wide log, buggify, three group members, near reads; a region comes back.
  Write("simulation", "strong-group-near-reads",
        SimulationInput({0, 1, 2, 2, 1 | 4 | 8 | 16 | (3 << 5)}, 2, 20,
                        {{K::kClockSkew},
                         {K::kTornWrite},
                         {K::kSlowFsync, 0, 0, 0, 9'000},
                         {K::kDiskError, 0, 0, 0, 5'000},
                         {K::kRegionLoss, 10'000, 1, 30'001},
                         {K::kPause, 25'000, 5, 40'000},
                         {K::kClog, 40'000, 3, 20'000},
                         {K::kBitFlip, 55'000, 2, 1'000}}));
  // A region lost for good, then crashes and a misdirected write among the survivors.
  Write("simulation", "region-lost-for-good",
        SimulationInput({0, 1, 3, 0, 4}, 3, 16,
                        {{K::kRegionLoss, 15'000, 2, 0},
                         {K::kCrash, 30'000, 1, 20'000},
                         {K::kMisdirectedWrite, 35'000, 8, 5'000},
                         {K::kStreamReset, 45'000, 9, 1'000}}));
  // One region, a regional topic of 4 partitions: crashes, a full disk, a one-way partition.
  Write("simulation", "single-region-regional",
        SimulationInput({0, 0, 3, 3, 2}, 4, 12,
                        {{K::kCrash, 5'000, 0, 10'000},
                         {K::kCrash, 8'000, 1, 10'000},
                         {K::kDiskFull, 20'000, 2, 50'000},
                         {K::kOneWayPartition, 30'000, 1234, 20'000},
                         {K::kCrash, 60'000, 2, 65'535}}));
  // Five regions of one server each: cuts, duplicates, delay spikes, a partition.
  Write("simulation", "geo-5x1-cuts",
        SimulationInput({0, 2, 0, 1, 0}, 5, 8,
                        {{K::kDuplicate, 0, 0, 0, 30'000},
                         {K::kDelaySpike, 0, 0, 0, 40'000},
                         {K::kRegionCut, 10'000, 3, 40'000},
                         {K::kPartition, 30'000, 99, 10'000},
                         {K::kRegionCut, 50'000, 1, 20'000}}));
  // Raft, three replicas with transfers and membership changes: crashes, pauses, a partition,
  // a region lost for good.
  Write("simulation", "raft-membership",
        SimulationInput({1, 2, 1 | 4, 0, 0}, 6, 15,
                        {{K::kCrash, 10'000, 1, 20'000},
                         {K::kPause, 20'000, 2, 30'000},
                         {K::kPartition, 30'000, 5, 40'000},
                         {K::kRegionLoss, 45'000, 0, 0}}));
  // Raft, five replicas, slow acks and damage at rest: slow fsyncs, torn writes, crashes, a
  // full disk.
  Write("simulation", "raft-damage",
        SimulationInput({1, 4, 2 | 8, 0, 0}, 7, 12,
                        {{K::kTornWrite},
                         {K::kSlowFsync, 0, 0, 0, 15'000},
                         {K::kCrash, 12'000, 0, 30'000},
                         {K::kDiskFull, 25'000, 3, 1'000},
                         {K::kCrash, 40'000, 3, 30'000}}));
  SimulationSeedsThatCatchBugs();
}

}  // namespace
}  // namespace meridian::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    fmt::print(stderr, "usage: make_corpus <corpus dir>  (e.g. \"$PWD/fuzz/corpus\")\n");
    return 2;
  }
  meridian::fuzz::g_root = argv[1];
  meridian::fuzz::ClientSeeds();
  meridian::fuzz::BrokerSeeds();
  meridian::fuzz::RaftSeeds();
  meridian::fuzz::LogSeeds();
  meridian::fuzz::WalSeeds();
  meridian::fuzz::HistorySeeds();
  meridian::fuzz::SnapshotSeeds();
  meridian::fuzz::AclSeeds();
  meridian::fuzz::BrokerPeerSeeds();
  meridian::fuzz::SimulationSeeds();
  fmt::print("seed corpora written under {}\n", argv[1]);
  return 0;
}
