// Node liveness for quiescent partition groups (core/raft/design.md "Quiescence").
//
// A quiesced group sends nothing, so its followers cannot tell a leader that has nothing to say
// from one that died. Instead, every node sends every node it shares a partition group with one
// small liveness message per heartbeat interval (a raft heartbeat under kLivenessGroup, which no
// raft group has), and any verified peer message counts as being heard from. A node not heard from
// for an election timeout is not live. Each change is handed to every hosted partition replica that
// has the node as a member: a quiesced leader wakes (and its check-quorum decides whether it
// still leads), a quiesced follower whose leader died wakes and campaigns. The cost is per node
// pair, not per group: what an idle partition costs is nothing but its memory.
//
// A node that restarts within the window never looks down, yet it lost every leadership it
// had: a group it led while quiesced would sleep on, its followers waiting for a leader that no
// longer leads (and, if its log was cut at damage, cannot win the election back). So the
// liveness message carries the sender's incarnation (in the term field: the message is no raft
// group's), and a changed incarnation is handed to the replicas as a restart.
#include <fmt/format.h>

#include "core/broker/broker_state.h"
#include "core/wire/raft_codec.h"
#include "io/probe.h"

namespace meridian::core::broker {
namespace {

io::Duration LivenessWindow(const Broker::State& state) {
  return state.options.tick * state.options.raft.election_timeout_ticks;
}

// To every node that shares a hosted partition group with this one: the nodes whose liveness
// some replica here needs (not every registered node: a registration names a node, it does not
// make it reachable).
void SendLivenessMessages(Broker::State& state) {
  const io::NodeId me(state.options.node_id);
  absl::btree_set<io::NodeId> peers;
  for (const auto& [group, hosted] : state.partitions) {
    const raft::Membership& members = hosted.replica->membership();
    peers.insert(members.voters.begin(), members.voters.end());
    peers.insert(members.learners.begin(), members.learners.end());
  }
  peers.erase(me);
  for (io::NodeId node : peers) {
    const raft::Message message{.type = raft::MessageType::kHeartbeat,
                                .from = me,
                                .to = node,
                                .term = raft::Term(state.incarnation)};
    state.runtime.network().Send(node, wire::EncodePeerMessage(kLivenessGroup, message));
  }
}

// Hands `node`'s new liveness to every hosted partition replica it is a member of.
void Announce(Broker::State& state, uint32_t node, bool live) {
  MERIDIAN_PROBE(live ? "broker: a node became live" : "broker: a node is no longer live");
  for (const auto& [group, hosted] : state.partitions) {
    if (hosted.replica->membership().IsMember(io::NodeId(node))) {
      hosted.replica->NodeLivenessChanged(io::NodeId(node), live);
    }
  }
}

void CheckLiveness(Broker::State& state) {
  const io::Instant now = state.runtime.Now();
  for (const auto& [node, heard] : state.node_heard_at) {
    const bool live = now - heard < LivenessWindow(state);
    if (live == state.nodes_live.contains(node)) continue;
    if (live) {
      state.nodes_live.insert(node);
    } else {
      state.nodes_live.erase(node);
    }
    Announce(state, node, live);
  }
}

}  // namespace

void NoteNodeHeard(Broker::State& state, uint32_t node) {
  // Only registered nodes: what a peer link can name is bounded by the metadata.
  if (!state.controller_machine->metadata.nodes().contains(node)) return;
  state.node_heard_at[node] = state.runtime.Now();
}

void NoteLivenessMessage(Broker::State& state, uint32_t node, uint64_t incarnation) {
  if (!state.controller_machine->metadata.nodes().contains(node)) return;
  auto [known, first] = state.node_incarnation.try_emplace(node, incarnation);
  if (first || known->second == incarnation) return;
  known->second = incarnation;
  // Not live: its replicas were told it went down, and will be told when it is back.
  if (!state.nodes_live.contains(node)) return;
  MERIDIAN_PROBE("broker: a live peer node restarted");
  for (const auto& [group, hosted] : state.partitions) {
    if (hosted.replica->membership().IsMember(io::NodeId(node))) {
      hosted.replica->NodeRestarted(io::NodeId(node));
    }
  }
}

void TellDownMembers(const Broker::State& state, replica::Replica& replica) {
  const raft::Membership& members = replica.membership();
  for (const auto* nodes : {&members.voters, &members.learners}) {
    for (io::NodeId member : *nodes) {
      if (member.value() == state.options.node_id) continue;
      if (!state.nodes_live.contains(member.value())) replica.NodeLivenessChanged(member, false);
    }
  }
}

absl::btree_set<uint32_t> NodesNotLive(const Broker::State& state) {
  absl::btree_set<uint32_t> not_live;
  const io::Instant now = state.runtime.Now();
  // Meant for after the leader's first window (AwaitNodeLivenessKnown); called before it, it
  // leaves out more nodes than it should, never fewer.
  // The metadata group never quiesces: its leader hears every live member each heartbeat.
  for (const auto& [id, record] : state.controller_machine->metadata.nodes()) {
    if (id == state.options.node_id) continue;
    auto heard = state.node_heard_at.find(id);
    if (heard == state.node_heard_at.end() || now - heard->second >= LivenessWindow(state)) {
      not_live.insert(id);
    }
  }
  return not_live;
}

void AwaitNodeLivenessKnown(Broker::State& state) {
  // A loop: leadership may be lost and won again in a later term while it sleeps.
  while (state.controller->role() == raft::Role::kLeader) {
    NoteControllerLeadership(state);
    const io::Instant known = state.leading_since + LivenessWindow(state);
    if (state.runtime.Now() >= known) return;
    MERIDIAN_PROBE("broker: placement waits for the new controller leader to hear every node");
    if (!state.runtime.Sleep(known - state.runtime.Now()).ok()) return;  // Shutting down.
  }
}

void RunNodeLiveness(std::shared_ptr<Broker::State> state) {
  const io::Duration interval = state->options.tick * state->options.raft.heartbeat_interval_ticks;
  MERIDIAN_CHECK(interval < LivenessWindow(*state), "liveness messages within the window");
  while (!state->stopped) {
    SendLivenessMessages(*state);
    CheckLiveness(*state);
    if (!state->runtime.Sleep(interval).ok()) return;
  }
}

}  // namespace meridian::core::broker
