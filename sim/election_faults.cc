#include "sim/election_faults.h"

#include <fmt/format.h>

#include <algorithm>

#include "io/assert.h"
#include "sim/sim_disk.h"
#include "sim/sim_network.h"

namespace meridian::sim {

using core::raft::MessageType;
using core::raft::Term;
using std::chrono::milliseconds;

namespace {}  // namespace

const char* ElectionScheduleName(ElectionSchedule schedule) {
  switch (schedule) {
    case ElectionSchedule::kNone:
      return "none";
    case ElectionSchedule::kVoteRestart:
      return "vote_restart";
    case ElectionSchedule::kFigure8:
      return "figure8";
  }
  MERIDIAN_UNREACHABLE("election schedule {}", static_cast<int>(schedule));
}

bool ParseElectionSchedule(std::string_view name, ElectionSchedule* schedule) {
  for (ElectionSchedule candidate :
       {ElectionSchedule::kNone, ElectionSchedule::kVoteRestart, ElectionSchedule::kFigure8}) {
    if (name == ElectionScheduleName(candidate)) {
      *schedule = candidate;
      return true;
    }
  }
  return false;
}

ElectionSchedule ChooseElectionSchedule(io::Random& random) {
  return random.Chance(1, 2) ? ElectionSchedule::kVoteRestart : ElectionSchedule::kFigure8;
}

ElectionFaults::ElectionFaults(World& world, const Nemesis& nemesis,
                               std::vector<io::NodeId> servers, ElectionSchedule schedule,
                               io::Random random, io::Instant fault_end)
    : world_(world),
      nemesis_(nemesis),
      servers_(std::move(servers)),
      schedule_(schedule),
      random_(random),
      fault_end_(fault_end) {
  MERIDIAN_CHECK(!servers_.empty());
  MERIDIAN_CHECK(fault_end_ > world_.Now());
}

bool ElectionFaults::Active() const {
  return schedule_ != ElectionSchedule::kNone && !nemesis_.healed() && world_.Now() < fault_end_;
}

void ElectionFaults::OnDeliver(io::NodeId to, const core::raft::Message& message) {
  if (!Active()) return;
  // Voters only: a learner that got L1's entries cannot elect L2 (the broker's controller
  // group has learners; the schedule keeps up the voter it reached least).
  if (message.type == MessageType::kAppend && stage_ == Figure8Stage::kFirstBack &&
      message.from == first_ && message.term == back_term_ && !message.entries.empty() &&
      std::find(servers_.begin(), servers_.end(), to) != servers_.end()) {
    core::raft::Index& furthest = reached_[to];
    furthest = std::max(furthest, message.entries.back().index);
  }
  if (message.type != MessageType::kVoteResponse || message.reject) return;
  MERIDIAN_CHECK(message.to == to);
  const auto election = std::make_pair(to, message.term);
  std::vector<io::NodeId>& voters = votes_[election];
  if (std::find(voters.begin(), voters.end(), message.from) != voters.end()) return;  // Dup.
  voters.push_back(message.from);
  // The candidate wins when this vote is processed (its own vote plus these make a majority of
  // the voters its replica last published; every server without membership changes).
  const size_t known = voters_of_ ? voters_of_(to) : 0;
  const size_t voter_count = known > 0 ? known : servers_.size();
  if (voters.size() + 1 < voter_count / 2 + 1 || won_.contains(election)) return;
  won_.insert(election);
  OnElectionWon(to, message.term, voters);
}

void ElectionFaults::OnApply(io::NodeId node, const core::raft::Entry& entry) {
  if (!Active() || stage_ != Figure8Stage::kFirstBack || node != first_) return;
  // L1's term-a entries exist nowhere else, so applying one means L1 committed it in term c.
  if (entry.term == first_term_) Figure8Strike();
}

void ElectionFaults::OnElectionWon(io::NodeId leader, Term term,
                                   const std::vector<io::NodeId>& voters) {
  world_.Trace(io::NodeId(0), fmt::format("election faults: {} won term {} ({} votes)",
                                          leader.ToString(), term.ToString(), voters.size()));
  const bool paused = paused_ && paused_();
  if (schedule_ == ElectionSchedule::kVoteRestart) {
    if (world_.Now() < quiet_until_ || episodes_ >= kEpisodesMax || paused) return;
    episodes_++;
    VoteRestart(leader, voters);
  } else if (!paused || stage_ != Figure8Stage::kIdle) {
    Figure8Won(leader, term, voters);
  }
}

void ElectionFaults::VoteRestart(io::NodeId leader, const std::vector<io::NodeId>& voters) {
  // Long enough for a server still in an earlier term to time out (election timeout 0.5-1 s)
  // and campaign for this very term, asking the restarted voters.
  const io::Duration cut_off = random_.Between(milliseconds(300), milliseconds(1500));
  CutOff(leader, cut_off);
  for (io::NodeId voter : voters) {
    // Back before a concurrent candidate's vote request, still in flight, arrives.
    CrashFor(voter, io::Duration(0), random_.Between(milliseconds(1), milliseconds(20)));
    if (on_vote_restart_crash_) {
      // After the crash (same instant, scheduled later), before the restart.
      world_.Schedule(world_.Now(), voter, "election faults: damage while down", [this, voter] {
        if (!world_.IsUp(voter)) on_vote_restart_crash_(voter);
      });
    }
  }
  world_.RecordFault("vote_restart");
  quiet_until_ = world_.Now() + cut_off + milliseconds(500);
}

void ElectionFaults::Figure8Won(io::NodeId leader, Term term,
                                const std::vector<io::NodeId>& voters) {
  // Long enough for the cut-off leader's no-op to be synced on its own disk.
  if (stage_ == Figure8Stage::kStruck) return;  // Its payoff: L2 winning. Left alone.
  if (stage_ == Figure8Stage::kIdle && episodes_ >= kEpisodesMax) return;
  const io::Duration hold = random_.Between(milliseconds(300), milliseconds(900));
  const uint64_t generation = ++generation_;  // Steps of an earlier stage are now stale.
  switch (stage_) {
    case Figure8Stage::kIdle:
      episodes_++;
      stage_ = Figure8Stage::kFirstCutOff;
      first_ = leader;
      first_term_ = term;
      CutOff(leader, hold);
      CrashFor(leader, hold, io::Duration(0), generation);  // Down until L2 is cut off.
      world_.RecordFault("figure8");
      break;
    case Figure8Stage::kFirstCutOff:
      if (leader == first_ || term <= first_term_) return Figure8Reset();
      stage_ = Figure8Stage::kSecondCutOff;
      second_ = leader;
      CutOff(leader, hold);
      CrashFor(leader, hold, io::Duration(0), generation);  // Down until L1 strikes.
      world_.Schedule(world_.Now() + hold, io::NodeId(0), "figure8: L1 back", [this, generation] {
        if (Active() && generation == generation_) Restart(first_);
      });
      break;
    case Figure8Stage::kSecondCutOff:
      if (leader != first_) return Figure8Reset();
      stage_ = Figure8Stage::kFirstBack;
      back_term_ = term;
      reached_.clear();
      // Keep the servers that did not vote for L1 out of reach (in 5 replicas, one besides L2)
      // so they lack the no-op and can elect L2 with L1 later.
      for (io::NodeId server : servers_) {
        if (server != first_ && std::find(voters.begin(), voters.end(), server) == voters.end())
          BlockFor(first_, server, milliseconds(3000));
      }
      break;
    case Figure8Stage::kFirstBack:  // Someone else won while L1 had not applied term a yet.
    case Figure8Stage::kStruck:
      return Figure8Reset();
  }
  // An episode that stalls (another server won, nobody won) is abandoned.
  world_.Schedule(world_.Now() + milliseconds(5000), io::NodeId(0), "figure8: give up",
                  [this, generation] {
                    if (Active() && generation == generation_) Figure8Reset();
                  });
}

void ElectionFaults::Figure8Strike() {
  world_.Trace(io::NodeId(0), fmt::format("election faults: figure8 strike, {} applied term {}",
                                          first_.ToString(), first_term_.ToString()));
  stage_ = Figure8Stage::kStruck;  // Elections while it plays out are left alone.
  world_.RecordFault("figure8_strike");
  // L1 goes down before its next append, which may carry its term-c no-op, reaches anyone. Of
  // the followers it reached, the one it sent the least stays up for L2 to ask (it is the
  // likeliest to hold term-a entries without the no-op); the others go down with L1, or with 5
  // replicas one of them could win first, and it holds what L1 applied.
  const io::Duration down = random_.Between(milliseconds(2000), milliseconds(4000));
  CrashFor(first_, io::Duration(0), down);
  io::NodeId keep;
  core::raft::Index least;
  for (const auto& [follower, furthest] : reached_) {
    if (keep == io::NodeId() || furthest < least) {
      keep = follower;
      least = furthest;
    }
  }
  for (const auto& [follower, furthest] : reached_) {
    if (follower != keep) CrashFor(follower, io::Duration(0), down);
  }
  Restart(second_);
  world_.Schedule(world_.Now() + milliseconds(4000), io::NodeId(0), "figure8: done",
                  [this, generation = ++generation_] {
                    if (generation == generation_) stage_ = Figure8Stage::kIdle;
                  });
}

void ElectionFaults::Figure8Reset() {
  generation_++;
  stage_ = Figure8Stage::kIdle;
  Restart(first_);
  Restart(second_);
}

void ElectionFaults::CutOff(io::NodeId node, io::Duration length) {
  for (io::NodeId other : servers_) {
    if (other == node) continue;
    BlockFor(node, other, length);
    BlockFor(other, node, length);
  }
}

void ElectionFaults::BlockFor(io::NodeId from, io::NodeId to, io::Duration length) {
  SimNetwork& network = world_.network();
  if (network.IsBlocked(from, to)) return;  // Someone else's block: theirs to lift.
  network.Block(from, to);
  world_.Schedule(world_.Now() + length, io::NodeId(0), "election faults: unblock",
                  [this, from, to] { world_.network().Unblock(from, to); });
}

void ElectionFaults::CrashFor(io::NodeId node, io::Duration after, io::Duration down,
                              uint64_t generation) {
  world_.Schedule(world_.Now() + after, node, "election faults: crash", [=, this] {
    if (!Active() || !world_.IsUp(node)) return;
    if (generation != 0 && generation != generation_) return;  // Its episode moved on.
    world_.Crash(node);
    if (down.count() == 0) return;
    world_.Schedule(world_.Now() + down, node, "election faults: restart",
                    [this, node] { Restart(node); });
  });
}

void ElectionFaults::Restart(io::NodeId node) {
  if (node.value() == 0) return;
  // In a world event of its own: the hooks run on node fibers, and starting a node runs fibers
  // (figure8's strike, on an apply, restarted L2 from inside L1's driver: an abort in
  // `meridian-sim --workload=raft --seed=94 --transfers=on`).
  world_.Schedule(world_.Now(), node, "election faults: restart", [this, node] {
    // After the heal the nemesis has restarted everyone already; a region lost for good stays.
    if (nemesis_.healed() || nemesis_.lost_for_good().contains(node)) return;
    if (!world_.IsUp(node)) world_.Start(node);
  });
}

}  // namespace meridian::sim
