// Fuzz target: raft peer messages as a replica receives them from another node: the raft codec
// (core/wire/raft_codec.h), its semantic validation (core/raft/message_check.h) and then
// Raft::Step on a live three-node group (core/raft/raft.h). The rule under test is DESIGN.md's
// "nothing that arrives from a socket can trip an assertion": a message that decodes may be
// dropped by Step, never asserted on, and Raft::Invariants (run after every Step and Tick)
// must hold whatever the messages were.
//
// Input: a script of actions, read with InputReader until the input or kActionsMax runs out.
// Each action starts with one byte; its value modulo 4 picks:
//   0 message: u16 length, then that many bytes of a PeerEnvelope. If it decodes, it must
//              re-encode to bytes that decode and re-encode identically, and it is stepped into
//              the node it is addressed to (or, if `to` is no node of the group, into node
//              1 + next byte % 3, which drops it as misaddressed); then the network delivers
//              everything the nodes sent.
//   1 tick:    every node ticks 1 + (next byte % 16) times, delivering messages in between.
//   2 propose: the leader, if any, proposes (next byte) bytes of the input as an entry.
//   3 network: next byte % 5: 0-2 isolate node 1-3, 3 heal, 4 node 2 campaigns.
// The group starts with node 1 leading term 1, its no-op committed everywhere (the state a
// forged message is most dangerous to). Seeds: fuzz/corpus/raft_message (make_corpus.cc).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/raft/testing/test_net.h"
#include "core/wire/raft_codec.h"
#include "fuzz/input_reader.h"
#include "io/assert.h"

namespace meridian::fuzz {
namespace {

using core::raft::Role;
using core::raft::testing::TestNet;

constexpr size_t kActionsMax = 256;
constexpr uint32_t kNodes = 3;

// Decodes, checks the codec's round trip, and steps the message into the group.
void StepBytes(TestNet& net, std::span<const uint8_t> bytes, InputReader& input) {
  absl::StatusOr<core::wire::PeerRaftMessage> decoded = core::wire::DecodePeerMessage(bytes);
  if (!decoded.ok()) return;
  const core::raft::Message& message = decoded->message;
  MERIDIAN_CHECK(core::wire::ValidateRaftMessage(message).ok(), "decoded but does not validate");
  const std::vector<uint8_t> encoded = core::wire::EncodePeerMessage(decoded->group, message);
  absl::StatusOr<core::wire::PeerRaftMessage> again = core::wire::DecodePeerMessage(encoded);
  MERIDIAN_CHECK(again.ok(), "re-encoded message does not decode: {}", again.status().ToString());
  MERIDIAN_CHECK(again->group == decoded->group);
  MERIDIAN_CHECK(core::wire::EncodePeerMessage(again->group, again->message) == encoded,
                 "re-encoding is not stable");
  const uint32_t to = message.to.value();
  const uint32_t target = to >= 1 && to <= kNodes ? to : 1 + input.Byte() % kNodes;
  net.node(target).Step(message);
  net.DeliverAll();
}

void Propose(TestNet& net, InputReader& input) {
  const std::span<const uint8_t> data = input.Bytes(input.Byte());
  for (uint32_t id = 1; id <= kNodes; id++) {
    if (net.node(id).role() != Role::kLeader) continue;
    (void)net.node(id).Propose(std::string(data.begin(), data.end()));
    net.DeliverAll();
    return;
  }
}

void Network(TestNet& net, InputReader& input) {
  const uint8_t choice = input.Byte() % 5;
  if (choice < 3) {
    net.Isolate(choice + 1);
  } else if (choice == 3) {
    net.Heal();
  } else {
    net.Campaign(2);
  }
}

void Run(std::span<const uint8_t> bytes) {
  TestNet net(kNodes);
  net.Campaign(1);
  MERIDIAN_CHECK(net.node(1).role() == Role::kLeader, "the harness's group did not elect n1");
  net.TickAll(net.node(1).options().heartbeat_interval_ticks);
  InputReader input(bytes);
  for (size_t actions = 0; actions < kActionsMax && !input.empty(); actions++) {
    switch (input.Byte() % 4) {
      case 0: {
        const uint16_t length = input.U16();
        StepBytes(net, input.Bytes(length), input);
        break;
      }
      case 1:
        net.TickAll(1 + input.Byte() % 16);
        break;
      case 2:
        Propose(net, input);
        break;
      default:
        Network(net, input);
        break;
    }
  }
  for (uint32_t id = 1; id <= kNodes; id++) net.node(id).Invariants();
}

}  // namespace
}  // namespace meridian::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  meridian::fuzz::Run(std::span<const uint8_t>(data, size));
  return 0;
}
