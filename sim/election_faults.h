// sim::ElectionFaults: targeted election schedules for the raft runner (issue 17 item 4).
//
// The swarm's faults land at random times, so they seldom hit the few milliseconds around an
// election where two classic raft bugs live. These schedules watch the group (the runner hands
// over every peer message as it is delivered, and every applied entry) and strike when an
// election is won, the moment the winner's last vote arrives, before the new leader has sent
// anything:
//   - vote_restart: every voter that granted the winner its vote crashes and restarts at once,
//     and the winner is cut off from the other servers for a while, so its first append reaches
//     nobody. A voter that forgot its vote (it was never persisted) can then grant a second
//     candidate of the same term its vote: two leaders in one term (election safety).
//   - figure8: the raft paper's Figure 8. Leader L1 (term a) appends its no-op while cut off and
//     crashes; L2 (term b > a) does the same; L1 comes back and wins term c, with the servers
//     that did not vote for it out of reach, and replicates its term-a entries with its term-c
//     no-op. As soon as L1 applies a term-a entry it goes down (before its next append), and so
//     do the followers it reached except the one it sent least; L2 restarts. Correct raft
//     applied nothing of term a before its term-c no-op was on a majority, so that follower
//     refuses L2; a raft that committed the term-a entries by counting replicas sees them
//     overwritten when it elects L2 (leader completeness, then state machine safety).
// One episode at a time, only in the fault phase; the nemesis heal (which restarts every server
// and lifts every block) ends whatever is in progress. Every choice comes from the seed.
//
// Single-threaded like the rest of the world: the hooks are called from node fibers, so they
// only block links (a set insertion) and schedule world events; crashes run in those events.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "core/raft/types.h"
#include "io/random.h"
#include "sim/nemesis.h"
#include "sim/sim_disk.h"
#include "sim/world.h"

namespace meridian::sim {

enum class ElectionSchedule : uint8_t { kNone, kVoteRestart, kFigure8 };

const char* ElectionScheduleName(ElectionSchedule schedule);
bool ParseElectionSchedule(std::string_view name, ElectionSchedule* schedule);
// The seed's choice: vote_restart or figure8, one half each (runs that want neither say kNone).
ElectionSchedule ChooseElectionSchedule(io::Random& random);

class ElectionFaults {
 public:
  // Episodes a run may start, each schedule alike: a bound on the churn they add.
  static constexpr uint32_t kEpisodesMax = 8;

  ElectionFaults(World& world, const Nemesis& nemesis, std::vector<io::NodeId> servers,
                 ElectionSchedule schedule, io::Random random, io::Instant fault_end);

  // A peer message as `to` receives it, before its replica sees it.
  void OnDeliver(io::NodeId to, const core::raft::Message& message);
  // An entry `node` applied (its state machine saw it).
  void OnApply(io::NodeId node, const core::raft::Entry& entry);

  uint32_t episodes() const { return episodes_; }
  // Called for each voter a vote_restart episode crashes, while it is down (the raft runner's
  // damage at rest loses some of their hard states: RaftSimOptions::damage_at_rest).
  void set_on_vote_restart_crash(std::function<void(io::NodeId)> hook) {
    on_vote_restart_crash_ = std::move(hook);
  }
  // How many voters a candidate's configuration has (0: unknown). Without it every server counts
  // as a voter, which with membership changes (a spare server, voters between N and N + 1)
  // makes a win look like it needs more votes than it does, and the schedules strike late.
  void set_voters_of(std::function<size_t(io::NodeId)> voters_of) {
    voters_of_ = std::move(voters_of);
  }
  // While it says true, no new episode starts (another targeted fault needs the group as it is:
  // LeaseRivals); an episode under way plays out.
  void set_paused(std::function<bool()> paused) { paused_ = std::move(paused); }

 private:
  enum class Figure8Stage : uint8_t { kIdle, kFirstCutOff, kSecondCutOff, kFirstBack, kStruck };

  void OnElectionWon(io::NodeId leader, core::raft::Term term,
                     const std::vector<io::NodeId>& voters);
  void VoteRestart(io::NodeId leader, const std::vector<io::NodeId>& voters);
  void Figure8Won(io::NodeId leader, core::raft::Term term, const std::vector<io::NodeId>& voters);
  void Figure8Strike();
  void Figure8Reset();
  bool Active() const;
  // Blocks `node` <-> every other server now and lifts those blocks (only those) after `length`.
  void CutOff(io::NodeId node, io::Duration length);
  void BlockFor(io::NodeId from, io::NodeId to, io::Duration length);
  // Crashes `node` after `after` (in a world event; at once for 0) and restarts it after `down`
  // (0: kept down until Restart or the heal). A non-zero `generation` cancels it if the figure8
  // episode has moved on by then.
  void CrashFor(io::NodeId node, io::Duration after, io::Duration down, uint64_t generation = 0);
  // Starts `node` again (in a world event, now) unless it is up, the nemesis has healed, or it
  // is lost for good.
  void Restart(io::NodeId node);
  std::function<void(io::NodeId)> on_vote_restart_crash_;
  std::function<size_t(io::NodeId)> voters_of_;
  std::function<bool()> paused_;

  World& world_;
  const Nemesis& nemesis_;
  const std::vector<io::NodeId> servers_;
  const ElectionSchedule schedule_;
  io::Random random_;
  const io::Instant fault_end_;
  // Granted votes delivered to each (candidate, term), and the elections already reported.
  absl::btree_map<std::pair<io::NodeId, core::raft::Term>, std::vector<io::NodeId>> votes_;
  absl::btree_set<std::pair<io::NodeId, core::raft::Term>> won_;
  io::Instant quiet_until_ = io::Instant();  // vote_restart: no new episode before this.
  uint32_t episodes_ = 0;
  uint64_t generation_ = 0;  // Bumped by every figure8 stage change; stale timeouts see it.

  Figure8Stage stage_ = Figure8Stage::kIdle;
  io::NodeId first_;
  io::NodeId second_;
  core::raft::Term first_term_;
  core::raft::Term back_term_;  // L1's term when it won again.
  // Followers that got L1's entries in back_term_, with the furthest index sent to each.
  absl::btree_map<io::NodeId, core::raft::Index> reached_;
};

}  // namespace meridian::sim
