// Targeted faults aimed at the leader's lease, for the raft runner (issue 17 items 1 and 2).
//
// A leader serves lease reads without a round trip because its followers promised, by
// acknowledging its heartbeats, not to vote for anyone for an election timeout. The swarm's
// faults rarely strike where that promise and the lease come apart; these do:
//   - TransferFaults (RaftSimOptions::transfers): when a handover's TimeoutNow reaches its
//     target, half of the time the old leader goes deaf (every other server's messages to it
//     blocked for 0.2-1 s). The target wins while the old leader still believes it leads, inside
//     the lease its followers' last acknowledgements gave it: only the lease it revoked when it
//     sent TimeoutNow keeps it from serving reads of its old term.
//   - SlowAcks (RaftSimOptions::slow_acks): every 2-6 s of the fault phase, the leader's
//     followers' messages to it slow down by 0.4-1.5 s (a slow link in one direction), and soon
//     after the leader goes mute (its messages to the followers blocked for 1-2.5 s). Its last
//     heartbeats' acknowledgements arrive long after they were sent; the followers stop hearing
//     it, time out and elect someone else, whose vote requests reach the old leader late too.
//     A lease dated from when an acknowledgement arrived, not from when its heartbeat left
//     (planted bug lease-from-ack-receipt), outlasts the followers' promises by the delay.
//   - ConfChangeFaults (RaftSimOptions::membership): the moment a leader is asked to append a
//     configuration change, a third of the time it goes mute (its messages to every other
//     server blocked for 0.3-1.5 s) before it appends: the entry, in force on the leader at
//     once, most likely reaches nobody, the others elect a new leader, and the old one's
//     configuration entry is overwritten when it hears from it (the configuration must revert).
//   - LeaseRivals (RaftSimOptions::lease_rivals): issue 17's stale lease read, as a schedule. A
//     leader A keeps one follower C (the swing) and, with 5 voters, enough others for a majority
//     with C; the rest (the rivals) are cut off from A, and A's messages to C are blocked too,
//     while C's acknowledgements to A, held for a moment beforehand, reach A one at a time and
//     carry it past its check-quorum (late messages, as a slow link delivers them). A rival times
//     out, wins C's pre-vote and campaigns; C times out and its pre-vote crosses the rival's
//     campaign. The schedule holds the rival's vote request to C and its rejection of C's pre-vote
//     (both of the rival's newer term), then lets A's messages reach C again. Right after the first
//     of them, which gives A a lease resting on C's promise, C receives the rejection and then the
//     vote request. Correct raft ignores both inside the lease; a raft in which any higher term
//     ends a follower's lease (planted bug lease-ends-on-any-higher-term) adopts the newer term,
//     grants the vote, and the rival is elected while A still holds its lease
//     (lease-outlives-promise).
//
// Single-threaded like the rest of the world: the hooks run on node fibers, so they only block
// or slow links, hold or resend messages, and schedule world events. Every choice comes from the
// seed.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "core/raft/types.h"
#include "io/random.h"
#include "sim/nemesis.h"
#include "sim/world.h"

namespace meridian::sim {

class TransferFaults {
 public:
  TransferFaults(World& world, std::vector<io::NodeId> servers, io::Random random,
                 io::Instant fault_end);
  // A peer message as `to` receives it; true when it made an old leader deaf.
  bool OnDeliver(io::NodeId to, const core::raft::Message& message);
  uint64_t episodes() const { return episodes_; }

 private:
  World& world_;
  const std::vector<io::NodeId> servers_;
  io::Random random_;
  const io::Instant fault_end_;
  uint64_t episodes_ = 0;
};

class ConfChangeFaults {
 public:
  ConfChangeFaults(World& world, std::vector<io::NodeId> servers, io::Random random,
                   io::Instant fault_end);
  // `leader` is about to propose a configuration change.
  void BeforeConfChange(io::NodeId leader);
  uint64_t episodes() const { return episodes_; }

 private:
  World& world_;
  const std::vector<io::NodeId> servers_;
  io::Random random_;
  const io::Instant fault_end_;
  uint64_t episodes_ = 0;
};

class SlowAcks {
 public:
  // The server that leads now (up, in the newest term that has a leader), or NodeId(0).
  using LeaderNow = std::function<io::NodeId()>;
  // Schedules its episodes over [now, fault_end).
  SlowAcks(World& world, std::vector<io::NodeId> servers, io::Random random, io::Instant fault_end,
           LeaderNow leader_now);
  // While it says true, an episode due waits (LeaseRivals needs the group as it is).
  void set_paused(std::function<bool()> paused) { paused_ = std::move(paused); }

 private:
  void Strike();

  World& world_;
  const std::vector<io::NodeId> servers_;
  io::Random random_;
  const io::Instant fault_end_;
  const LeaderNow leader_now_;
  std::function<bool()> paused_;
};

class LeaseRivals {
 public:
  struct Leader {
    io::NodeId node;  // NodeId(0): none.
    core::raft::Term term;
  };
  using LeaderNow = std::function<Leader()>;
  // The voters of `node`'s configuration (empty: unknown; every server is then a voter).
  using VotersOf = std::function<std::vector<io::NodeId>(io::NodeId)>;
  // Sends a peer message again, from its sender to its addressee, through the network.
  using Resend = std::function<void(const core::raft::Message&)>;
  // Schedules its first episode in [now + 0.5 s, now + 2 s]; one episode at a time after that,
  // only in the fault phase.
  LeaseRivals(World& world, const Nemesis& nemesis, std::vector<io::NodeId> servers,
              io::Random random, io::Instant fault_end, LeaderNow leader_now, VotersOf voters_of,
              Resend resend);
  // A peer message as `to` receives it. False: the schedule holds it (delivered later through
  // `after`, or lost when the episode ends). Messages `to` must receive right after this one
  // are appended to `after`.
  bool OnDeliver(io::NodeId to, const core::raft::Message& message,
                 std::vector<core::raft::Message>* after);
  // The run's counts are the world's faults: lease_rivals (episodes) and lease_rivals_strike
  // (episodes that delivered the held messages to the swing inside A's renewed lease).
  bool InEpisode() const { return stage_ != Stage::kIdle; }

 private:
  enum class Stage : uint8_t { kIdle, kPrelude, kCut, kHealed, kReleased };

  bool Active() const;
  void ScheduleStrike(io::Duration after);
  void Strike();
  void Cut(uint64_t episode);
  void Drip(uint64_t episode);  // One held acknowledgement on to A, and the next one later.
  void Hold(const core::raft::Message& message);
  bool IsRival(io::NodeId node) const;
  // An acknowledgement from the swing to A in A's term.
  bool IsSwingAckToLeader(io::NodeId to, const core::raft::Message& message) const;
  void End(uint64_t episode);
  void BlockOurs(io::NodeId from, io::NodeId to);
  // The swarm's partitions end by healing every link, ours too: every kReassertEvery of an
  // episode, its blocks are put back.
  void Reassert(uint64_t episode);

  World& world_;
  const Nemesis& nemesis_;
  const std::vector<io::NodeId> servers_;
  io::Random random_;
  const io::Instant fault_end_;
  const LeaderNow leader_now_;
  const VotersOf voters_of_;
  const Resend resend_;
  Leader seen_;  // The leader Strike last saw, and since when.
  io::Instant seen_since_;

  // The episode in progress (stage_ kIdle: none); scheduled events of an ended one do nothing.
  Stage stage_ = Stage::kIdle;
  uint64_t episode_ = 0;
  io::NodeId leader_;
  core::raft::Term term_;
  io::NodeId swing_;
  std::vector<io::NodeId> rivals_;
  std::deque<core::raft::Message> held_acks_;               // The swing's, to A, from the prelude.
  std::vector<std::pair<io::NodeId, io::NodeId>> cut_;      // The links the episode blocks.
  std::vector<std::pair<io::NodeId, io::NodeId>> blocked_;  // Of those, blocked by it.
  std::optional<core::raft::Message> held_vote_;
  std::optional<core::raft::Message> held_rejection_;
  std::optional<core::raft::Message> held_grant_;  // The swing's vote, until A's lease renews.
  bool lease_renewed_ = false;
};

}  // namespace meridian::sim
