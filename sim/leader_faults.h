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
//
// Single-threaded like the rest of the world: the hooks run on node fibers, so they only block
// or slow links and schedule world events. Every choice comes from the seed.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/raft/types.h"
#include "io/random.h"
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

 private:
  void Strike();

  World& world_;
  const std::vector<io::NodeId> servers_;
  io::Random random_;
  const io::Instant fault_end_;
  const LeaderNow leader_now_;
};

}  // namespace meridian::sim
