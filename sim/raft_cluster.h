// A simulated raft group: core::replica::Replica on every server (the same code meridian-node
// runs), clients proposing unique values, the nemesis, and a global observer that sees every
// node and checks the Raft safety properties all the time (issue 6), with the checker the
// pure-raft property harness uses (core/raft/testing/safety_checker.h):
//   - election safety: at most one leader per term;
//   - leader completeness: every new leader's log holds every entry committed in an earlier
//     term (as far as the observer can bound that term), entry for entry;
//   - log matching: every leader's log agrees with every leader's log published before it, at
//     each index and term, on the entry and the term before it;
//   - state machine safety: no two nodes apply different entries at one index, ever — including
//     after crashes, when nodes re-apply their logs from index 1;
//   - no acknowledged (committed) entry lost: after the heal, every server restarts and the
//     group must apply every value a client was told was committed, at the index it was told;
//   - liveness: after the heal a leader exists and client proposals commit within a bound;
//   - elections end (a replica leads in the newest term any replica knows) within 8 s, 16 base
//     election timeouts, of the heal and of the audit's restart of every server.
// meridian-sim runs it as --workload=raft through the one runner every workload shares
// (sim/simulation.h RunSimulation: sweeps, shrinking, traces, the JSON line); it writes no
// checks/ history (its observer judges raft's own properties, with raft's indexes).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_set.h"
#include "core/raft/types.h"
#include "sim/election_faults.h"
#include "sim/nemesis.h"
#include "sim/simulation.h"

namespace meridian::sim {

inline constexpr uint64_t kRaftSimEventsMax = 2'000'000;

struct RaftSimOptions {
  uint64_t seed = 1;
  uint32_t replicas = 3;  // Spread round-robin over regions us-east, eu-west, ap-south.
  uint32_t clients = 2;
  io::Duration fault_phase = std::chrono::seconds(30);
  io::Duration heal_phase = std::chrono::seconds(30);
  core::raft::PlantedBug bug = core::raft::PlantedBug::kNone;
  bool faults = true;  // false: a steady run with no faults at all (benchmarks).
  // Damage at rest (issue 15): half of the seeds stop 1-3 replicas in turn, flip a bit of the
  // synced log segment on disk, and restart them; voters crashed by vote_restart may lose their
  // hard state. The atlas lets one replica's store be damaged in a run (sim/fault_atlas.h):
  // core/log's cut discards the valid batches after a flip, so two cut replicas could leave the
  // only full copy of committed entries out of reach of the lagging third (~2% of honest seeds
  // ended unavailable when the atlas counted sectors; none in seeds 1-500 since it counts
  // stores). Unset: on with kDamageAtRestReplicasMin replicas or more (RaftDamageAtRestOn), so
  // the default sweeps run it; true with fewer is a programming error.
  std::optional<bool> damage_at_rest;
  // Targeted election faults (sim/election_faults.h) on top of the swarm's; empty: the seed
  // picks vote_restart or figure8. Off with `faults`.
  std::optional<ElectionSchedule> election_schedule;
  // Leadership transfers under the nemesis (issue 17): an operator on the first client node
  // asks the leader, every 0.2-2 s of the fault phase, to hand leadership to another server.
  // Transfer elections skip the voters' leases (the old leader revoked its own when it sent
  // TimeoutNow), so these runs test that a leader stops serving lease reads once it starts a
  // handover. Unset: half of the seeds, from their own fork. Off with `faults`, and for one
  // replica.
  std::optional<bool> transfers;
  // Slow acknowledgements, then a mute leader (sim/leader_faults.h SlowAcks): the attack on a
  // lease dated from when acknowledgements arrive. Unset: half of the seeds, from their own
  // fork. Off with `faults`, and for one replica.
  std::optional<bool> slow_acks;
  // Rival campaigns whose replies reach a follower inside the lease it just renewed
  // (sim/leader_faults.h LeaseRivals). Unset: half of the seeds, from their own fork. Off with
  // `faults`, and for fewer than three replicas.
  std::optional<bool> lease_rivals;
  // Membership changes under the nemesis (issue 17 item 3): one more server, a spare in a
  // region of its own (sa-east), starts outside the configuration, and an operator on the
  // second client node asks the leader every 0.1-1 s of the fault phase for the next
  // single-server change: add a non-member as a learner, promote a learner (or, one time in
  // four, remove it), remove a voter once the voters outnumber `replicas`. The voters stay
  // between `replicas` and one more, so losing a region never takes a quorum. A third of the
  // requests a leader serves mute it before it appends (sim/leader_faults.h ConfChangeFaults), so
  // configuration entries get overwritten; the observer checks every 10 ms that each replica's
  // configuration is the one its log implies. Unset: half of the seeds, from their own fork.
  // Off with `faults`, and for one replica.
  std::optional<bool> membership;
  // Empty: the seed turns each kind of RaftSimFaultKinds() on with probability 1/2. Otherwise
  // exactly these kinds (meridian-sim --kinds).
  absl::btree_set<FaultKind> only_kinds;
  // When set, this exact schedule instead of a generated one (SimulationOptions::schedule).
  std::optional<std::vector<FaultEvent>> schedule;
  // When set, keep only these indices of the schedule (replaying a shrunk run).
  std::optional<std::vector<size_t>> keep_faults;
  // Receives the world's trace plus, per peer message delivered, its raft fields, and every
  // leadership and apply (meridian-sim --workload=raft --trace=FILE). Unset: no trace.
  std::function<void(std::string_view)> trace;
  // Simulation events one seed may execute; a run that needs more is reported as a livelock
  // (a violation carrying the seed) instead of hanging the sweep. An honest seed of
  // raft_cluster_test runs at most 34k events (measured over seeds 1-500, 3 and 5 replicas).
  uint64_t events_max = kRaftSimEventsMax;
  // Raft's append_entries_max and inflight_messages_max for every replica (0: raft's defaults;
  // meridian-sim --election_window). Unset: the seed draws it (RunRaftSimulation).
  std::optional<uint32_t> replication_window;
};

struct RaftSimResult {
  std::vector<std::string> violations;
  uint64_t trace_hash = 0;
  uint64_t events = 0;
  uint64_t leaders_elected = 0;
  // Virtual time from the end of the fault phase, and from the audit's restart of every server,
  // until a replica that is up led in the newest term any up replica knew (0: one already did);
  // unset when none did within the runner's election bound, 8 s (or the heal phase, if shorter).
  std::optional<io::Duration> elected_after_heal;
  std::optional<io::Duration> elected_after_audit;
  // The replication window the seed drew (RaftOptions::append_entries_max and
  // inflight_messages_max, equal): 0 for the defaults.
  uint32_t replication_window = 0;
  uint64_t ops_ok = 0;
  uint64_t ops_fail = 0;
  uint64_t ops_info = 0;
  uint64_t lease_reads = 0;         // Served (Replica::LeaseRead succeeded); each checked at once.
  bool transfers_on = false;        // What RaftSimOptions::transfers resolved to.
  bool slow_acks_on = false;        // What RaftSimOptions::slow_acks resolved to.
  bool lease_rivals_on = false;     // What RaftSimOptions::lease_rivals resolved to.
  uint64_t transfers = 0;           // Transfers a leader accepted (Replica::TransferLeadership ok).
  uint64_t transfers_won = 0;       // Of those, the target was the next leader, within 2 s.
  uint64_t transfer_episodes = 0;   // Old leaders made deaf at a handover (TransferFaults).
  uint64_t transfers_won_deaf = 0;  // Transfers won with the old leader deaf.
  bool membership_on = false;       // What RaftSimOptions::membership resolved to.
  uint64_t membership_changes = 0;  // Configuration changes a leader appended.
  uint64_t max_applied_index = 0;
  std::vector<int64_t> commit_latencies_ns;  // Of every acknowledged proposal, virtual time.
  absl::btree_map<std::string, uint64_t> faults;
  std::vector<FaultEvent> schedule;  // After keep_faults.
  size_t schedule_generated = 0;     // Before keep_faults.
  double virtual_s = 0;
  ElectionSchedule election_schedule = ElectionSchedule::kNone;  // What ran.
  uint32_t election_episodes = 0;  // Episodes of it started in the fault phase.
  bool ok() const { return violations.empty(); }
};

// Fault kinds the raft scenario turns on (each with probability 1/2 per seed): every network
// and process fault, clock skew, slow fsyncs, torn writes, region loss and full disks (the
// replica waits ENOSPC out). Not yet: disk errors. At-rest damage: damage_at_rest below.
const absl::btree_set<FaultKind>& RaftSimFaultKinds();

// A damaged replica repairs from its peers, so damage at rest needs three replicas or more.
inline constexpr uint32_t kDamageAtRestReplicasMin = 3;
// Whether a run with this option and this many replicas damages at rest.
inline bool RaftDamageAtRestOn(const std::optional<bool>& damage_at_rest, uint32_t replicas) {
  return damage_at_rest.value_or(replicas >= kDamageAtRestReplicasMin);
}
RaftSimResult RunRaftSimulation(const RaftSimOptions& options);
// True when every violation says only that the group was unavailable after the heal (nothing
// committed, or not every acknowledged entry re-applied after the audit restart). With damage at
// rest a few honest seeds end so (the known gap in sim/README.md), so such a run shows no
// safety bug; every harness that judges damage-at-rest runs tolerates exactly these.
bool OnlyUnavailable(const std::vector<std::string>& violations);
// The same run as SimulationOptions (workload "raft"), and the meridian-sim command that
// replays it. `faults` = false and `events_max` have no command-line form.
SimulationOptions RaftAsSimulationOptions(const RaftSimOptions& options);
std::string RaftReproCommand(const RaftSimOptions& options);
// RunSimulation's raft workload: SimulationOptions' raft fields in, the common result out.
SimulationResult RunRaftWorkload(const SimulationOptions& options,
                                 const std::function<void(std::string_view)>& trace_sink);

}  // namespace meridian::sim
