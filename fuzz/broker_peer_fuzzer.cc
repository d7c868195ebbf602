// Fuzz target: the peer port of a node, as a broker receives it (core/broker/broker.cc
// RunPeerDispatcher): envelopes decoded, checked against the link they came on, routed by group
// (the liveness group, the metadata group, a partition group, or none hosted) into the replicas,
// whose committed entries reach the metadata and partition state machines. Three real brokers
// run in the simulator (one sim::World per input, so every run is deterministic) with a topic
// of three partitions; node 2 is compromised: besides its own traffic, it sends what the input
// says to nodes 1 and 3. An authenticated member can lie about the log (mutual TLS decides who
// is a member, not what a member says), so what is checked is DESIGN.md's rule that nothing
// arriving from a socket trips an assertion — in the envelope check, raft, the replica, the
// state machines, the reconciler — nor fail-stops a replica (that is for damage at rest), and
// that raft's invariants (checked after every step) hold throughout.
//
// Input: a script of actions, read with InputReader until the input or kActionsMax runs out.
// Each action starts with one byte; its value modulo 4 picks:
//   0 raw:     next byte picks the target (odd: node 3, else node 1), then u16 length and that
//              many bytes, sent as one peer message from node 2 (reaches the decoder as is);
//   1 forged:  a message built from the following bytes (see Forge) and encoded with the
//              production encoder, so mutations reach routing, raft and the state machines;
//   2 wait:    (next byte) * 20 ms of virtual time pass;
//   3 produce: a client produces one record to partition (next byte) % 3 (5 s budget).
// After the script, 3 more virtual seconds pass. Seeds: fuzz/corpus/broker_peer (make_corpus.cc).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/broker/broker.h"
#include "core/broker/broker_state.h"
#include "core/client/client.h"
#include "core/wire/raft_codec.h"
#include "fuzz/input_reader.h"
#include "fuzz/serve_broker.h"
#include "io/assert.h"
#include "sim/world.h"

namespace meridian::fuzz {
namespace {

using core::raft::Entry;
using core::raft::EntryKind;
using core::raft::Index;
using core::raft::Message;
using core::raft::MessageType;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr size_t kActionsMax = 48;
constexpr uint16_t kPort = 9092;
constexpr io::NodeId kCompromised{2};
constexpr io::NodeId kClient{10};
constexpr char kTopic[] = "t";
constexpr uint32_t kPartitions = 3;
constexpr uint8_t kMessageTypes = static_cast<uint8_t>(MessageType::kTermQueryResponse) + 1;

io::Address AddressOf(uint32_t node) { return {"node" + std::to_string(node), kPort}; }

void Serve(io::Runtime& rt, uint32_t id) {
  core::broker::BrokerOptions options;
  options.node_id = id;
  options.region = "r" + std::to_string(id);
  options.advertised = AddressOf(id);
  options.controller_voters = {1, 2, 3};
  // A fail-stop is for damage at rest; a peer's message must never cause one (a leader
  // snapshot that would not restore is refused: ReplicaStateMachine::CheckSnapshot).
  options.on_replica_failed = [id](uint64_t group, const absl::Status& why) {
    MERIDIAN_CHECK(false, "node {}: the replica of group {} fail-stopped: {}", id, group,
                   why.ToString());
  };
  ServeBroker(rt, options);
}

// The group a forged message names: liveness, metadata, the topic's partitions, or any id.
uint64_t ForgedGroup(InputReader& input) {
  const uint8_t pick = input.Byte() % 6;
  if (pick == 0) return core::broker::kLivenessGroup;
  if (pick == 1) return core::cluster::kControllerGroup;
  if (pick <= 4) return core::cluster::kFirstPartitionGroup + (pick - 2);
  return (uint64_t{input.U32()} << 32) | input.U32();
}

Entry ForgedEntry(InputReader& input, Index index) {
  Entry entry;
  entry.term = core::Term(input.Byte());
  entry.index = index;
  if (input.Byte() % 4 == 0) {
    entry.kind = EntryKind::kConfig;
    const uint8_t voters = input.Byte();  // Bit i: node i + 1 is a voter; high bits learners.
    for (uint32_t node = 1; node <= 4; node++) {
      if ((voters >> (node - 1)) & 1) entry.membership.voters.insert(io::NodeId(node));
      if ((voters >> (node + 3)) & 1) entry.membership.learners.insert(io::NodeId(node));
    }
    return entry;
  }
  const std::span<const uint8_t> data = input.Bytes(input.Byte());
  entry.data.assign(data.begin(), data.end());
  return entry;
}

// A message "from node 2" whose every field comes from the input (terms and indexes small, as
// the cluster's own are after a few seconds; `to` usually the node it is sent to).
Message Forge(InputReader& input, io::NodeId target) {
  Message m;
  m.type = static_cast<MessageType>(input.Byte() % kMessageTypes);
  m.from = kCompromised;
  const uint8_t to = input.Byte();
  m.to = to < 224 ? target : io::NodeId(to % 5);
  m.term = core::Term(input.Byte() % 16);
  m.log_index = Index(input.Byte());
  m.log_term = core::Term(input.Byte() % 16);
  m.commit = Index(input.Byte());
  const uint8_t flags = input.Byte();
  m.reject = flags & 1;
  m.quiesce = (flags >> 1) & 1;
  m.campaign =
      ((flags >> 2) & 1) != 0 ? core::raft::Campaign::kTransfer : core::raft::Campaign::kNormal;
  m.hint_index = Index(input.Byte());
  m.hint_term = core::Term(input.Byte() % 16);
  m.context_ticks = input.Byte();
  if (m.type == MessageType::kAppend) {
    const uint8_t entries = input.Byte() % 5;
    for (uint8_t i = 0; i < entries; i++) {
      m.entries.push_back(ForgedEntry(input, Index(m.log_index.value() + 1 + i)));
    }
  }
  if (m.type == MessageType::kSnapshot) {
    m.snapshot.meta.index = Index(input.Byte());
    m.snapshot.meta.term = core::Term(input.Byte() % 16);
    m.snapshot.meta.membership.voters = {io::NodeId(1), io::NodeId(2), io::NodeId(3)};
    const std::span<const uint8_t> data = input.Bytes(input.U16());
    m.snapshot.data.assign(data.begin(), data.end());
  }
  return m;
}

void Produce(core::client::Client& client, uint32_t partition) {
  core::wire::ProduceRequestT request;
  request.topic = kTopic;
  request.partition = partition;
  core::wire::RecordBatchT batch;
  auto record = std::make_unique<core::wire::RecordT>();
  record->value = {'v'};
  batch.records.push_back(std::move(record));
  request.batch = core::wire::EncodeRecordBatch(batch);
  (void)client.CallPartitionLeader(kTopic, partition, core::wire::Message(0, std::move(request)),
                                   client.runtime().Now() + seconds(5));
}

void RunScript(io::Runtime& compromised, core::client::Client& client,
               std::span<const uint8_t> bytes) {
  InputReader input(bytes);
  for (size_t actions = 0; actions < kActionsMax && !input.empty(); actions++) {
    const uint8_t action = input.Byte() % 4;
    if (action == 2) {
      (void)client.runtime().Sleep(milliseconds(20) * input.Byte());
      continue;
    }
    if (action == 3) {
      Produce(client, input.Byte() % kPartitions);
      continue;
    }
    const io::NodeId target = input.Byte() % 2 == 1 ? io::NodeId(3) : io::NodeId(1);
    if (action == 0) {
      const std::span<const uint8_t> raw = input.Bytes(input.U16());
      compromised.network().Send(target, std::vector<uint8_t>(raw.begin(), raw.end()));
      continue;
    }
    const uint64_t group = ForgedGroup(input);
    const Message message = Forge(input, target);
    // A message that fails the codec's own checks is the raw action's business.
    if (!core::wire::ValidateRaftMessage(message).ok()) continue;
    compromised.network().Send(target, core::wire::EncodePeerMessage(group, message));
  }
  (void)client.runtime().Sleep(seconds(3));
}

void Run(std::span<const uint8_t> bytes) {
  sim::World world(sim::WorldOptions{.seed = 1});
  io::Runtime* runtimes[4] = {};
  for (uint32_t id = 1; id <= 3; id++) {
    world.AddNode(io::NodeId(id), AddressOf(id).host, [id, &runtimes](io::Runtime& rt) {
      runtimes[id] = &rt;
      Serve(rt, id);
    });
  }
  io::Runtime* client_rt = nullptr;
  world.AddNode(kClient, "client", [&](io::Runtime& rt) { client_rt = &rt; });
  for (io::NodeId node : world.nodes()) world.Start(node);
  bool done = false;
  world.RunFor(seconds(1));
  MERIDIAN_CHECK(client_rt != nullptr && runtimes[kCompromised.value()] != nullptr);
  client_rt->Spawn("script", [&] {
    core::client::ClientOptions options;
    options.bootstrap = {AddressOf(1), AddressOf(2), AddressOf(3)};
    core::client::Client client(*client_rt, options);
    absl::StatusOr<core::wire::TopicInfoT> topic = client.CreateTopic(kTopic, kPartitions, 3);
    MERIDIAN_CHECK(topic.ok(), "create topic: {}", topic.status().ToString());
    for (uint32_t p = 0; p < kPartitions; p++) Produce(client, p);
    RunScript(*runtimes[kCompromised.value()], client, bytes);
    client.Close();
    done = true;
  });
  MERIDIAN_CHECK(world.RunUntil([&] { return done; }, world.Now() + seconds(3600)),
                 "the script did not finish in an hour of virtual time");
}

}  // namespace
}  // namespace meridian::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  meridian::fuzz::Run(std::span<const uint8_t>(data, size));
  return 0;
}
