#include "sim/leader_faults.h"

#include <fmt/format.h>

#include <algorithm>

#include "io/assert.h"
#include "sim/sim_network.h"

namespace meridian::sim {
namespace {
using std::chrono::milliseconds;

constexpr io::Duration kReassertEvery = milliseconds(20);
constexpr io::Duration kLeaderSettled = milliseconds(600);

// Blocks the link from `from` to `to` for `length`, unless something else blocked it already:
// someone else's block is theirs to lift. `unblock` names the event (a literal).
void BlockFor(World& world, io::NodeId from, io::NodeId to, io::Duration length,
              const char* unblock) {
  if (world.network().IsBlocked(from, to)) return;
  world.network().Block(from, to);
  world.Schedule(world.Now() + length, io::NodeId(0), unblock,
                 [&world, from, to] { world.network().Unblock(from, to); });
}

}  // namespace

TransferFaults::TransferFaults(World& world, std::vector<io::NodeId> servers, io::Random random,
                               io::Instant fault_end)
    : world_(world), servers_(std::move(servers)), random_(random), fault_end_(fault_end) {}

bool TransferFaults::OnDeliver(io::NodeId to, const core::raft::Message& message) {
  if (message.type != core::raft::MessageType::kTimeoutNow || world_.Now() >= fault_end_) {
    return false;
  }
  if (!random_.Chance(1, 2)) return false;
  const io::NodeId old_leader = message.from;
  const io::Duration length = random_.Between(milliseconds(200), milliseconds(1000));
  world_.Trace(old_leader, fmt::format("transfer faults: deaf for {} as {} takes over",
                                       io::FormatDuration(length), to.ToString()));
  world_.RecordFault("transfer_deaf");
  episodes_++;
  for (io::NodeId other : servers_) {
    if (other != old_leader)
      BlockFor(world_, other, old_leader, length, "transfer faults: unblock");
  }
  return true;
}

ConfChangeFaults::ConfChangeFaults(World& world, std::vector<io::NodeId> servers, io::Random random,
                                   io::Instant fault_end)
    : world_(world), servers_(std::move(servers)), random_(random), fault_end_(fault_end) {}

void ConfChangeFaults::BeforeConfChange(io::NodeId leader) {
  if (world_.Now() >= fault_end_ || !random_.Chance(1, 3)) return;
  const io::Duration length = random_.Between(milliseconds(300), milliseconds(1500));
  world_.Trace(leader, fmt::format("conf change faults: mute for {} as it changes the "
                                   "configuration",
                                   io::FormatDuration(length)));
  world_.RecordFault("conf_change_mute");
  episodes_++;
  for (io::NodeId other : servers_) {
    if (other != leader) BlockFor(world_, leader, other, length, "conf change faults: unmute");
  }
}

SlowAcks::SlowAcks(World& world, std::vector<io::NodeId> servers, io::Random random,
                   io::Instant fault_end, LeaderNow leader_now)
    : world_(world),
      servers_(std::move(servers)),
      random_(random),
      fault_end_(fault_end),
      leader_now_(std::move(leader_now)) {
  MERIDIAN_CHECK(fault_end_ > world_.Now());
  for (io::Instant at = world_.Now() + random_.Between(milliseconds(2000), milliseconds(6000));
       at < fault_end_; at = at + random_.Between(milliseconds(2000), milliseconds(6000))) {
    world_.Schedule(at, io::NodeId(0), "slow acks", [this] { Strike(); });
  }
}

void SlowAcks::Strike() {
  if (world_.Now() >= fault_end_) return;
  const io::NodeId leader = leader_now_();
  if (leader.value() == 0 || (paused_ && paused_())) {  // Strike the next leader, or later.
    world_.Schedule(world_.Now() + milliseconds(200), io::NodeId(0), "slow acks",
                    [this] { Strike(); });
    return;
  }
  const io::Duration extra = random_.Between(milliseconds(400), milliseconds(1500));
  const io::Duration mute_after = random_.Between(milliseconds(0), milliseconds(300));
  const io::Duration mute = random_.Between(milliseconds(1000), milliseconds(2500));
  world_.Trace(leader, fmt::format("slow acks: answers to {} slowed by {}, mute after {} for {}",
                                   leader.ToString(), io::FormatDuration(extra),
                                   io::FormatDuration(mute_after), io::FormatDuration(mute)));
  world_.RecordFault("slow_acks");  // The run's count of episodes (the JSON line's faults).
  SimNetwork& network = world_.network();
  for (io::NodeId follower : servers_) {
    if (follower == leader) continue;
    network.Slow(follower, leader, extra);
    // The slow link outlives the silence, so the new leader's vote requests arrive late too.
    world_.Schedule(
        world_.Now() + mute_after + mute + extra, io::NodeId(0), "slow acks: end",
        [this, follower, leader] { world_.network().Slow(follower, leader, io::Duration(0)); });
    world_.Schedule(world_.Now() + mute_after, io::NodeId(0), "slow acks: mute",
                    [this, follower, leader, mute] {
                      SimNetwork& links = world_.network();
                      if (world_.Now() >= fault_end_ || links.IsBlocked(leader, follower)) return;
                      links.Block(leader, follower);
                      world_.Schedule(
                          world_.Now() + mute, io::NodeId(0), "slow acks: unmute",
                          [this, follower, leader] { world_.network().Unblock(leader, follower); });
                    });
  }
}

LeaseRivals::LeaseRivals(World& world, const Nemesis& nemesis, std::vector<io::NodeId> servers,
                         io::Random random, io::Instant fault_end, LeaderNow leader_now,
                         VotersOf voters_of, Resend resend)
    : world_(world),
      nemesis_(nemesis),
      servers_(std::move(servers)),
      random_(random),
      fault_end_(fault_end),
      leader_now_(std::move(leader_now)),
      voters_of_(std::move(voters_of)),
      resend_(std::move(resend)) {
  MERIDIAN_CHECK(fault_end_ > world_.Now());
  ScheduleStrike(random_.Between(milliseconds(500), milliseconds(2000)));
}

bool LeaseRivals::Active() const { return !nemesis_.healed() && world_.Now() < fault_end_; }

void LeaseRivals::ScheduleStrike(io::Duration after) {
  world_.Schedule(world_.Now() + after, io::NodeId(0), "lease rivals", [this] { Strike(); });
}

void LeaseRivals::Strike() {
  if (!Active() || stage_ != Stage::kIdle) return;
  const Leader leader = leader_now_();
  std::vector<io::NodeId> voters =
      leader.node.value() == 0 ? std::vector<io::NodeId>() : voters_of_(leader.node);
  if (voters.empty()) voters = servers_;
  // Between leaders, or a leader that is not a voter (handing over): strike the next one. With
  // an even number of voters no swing can complete a majority on both sides.
  if (leader.node.value() == 0 || voters.size() < 3 || voters.size() % 2 == 0 ||
      std::find(voters.begin(), voters.end(), leader.node) == voters.end()) {
    ScheduleStrike(milliseconds(200));
    return;
  }
  // A leader elected moments ago is what the election schedules strike; a leader that has
  // lasted a while is likelier to last through the prelude.
  if (leader.node != seen_.node || leader.term != seen_.term) {
    seen_ = leader;
    seen_since_ = world_.Now();
  }
  if (world_.Now() - seen_since_ < kLeaderSettled) {
    ScheduleStrike(milliseconds(200));
    return;
  }
  std::vector<io::NodeId> others;
  for (io::NodeId voter : voters) {
    if (voter != leader.node) others.push_back(voter);
  }
  for (size_t i = others.size(); i > 1; i--) std::swap(others[i - 1], others[random_.Below(i)]);
  // The swing, then the loyal followers that keep A's side one short of a majority without
  // the swing, then the rivals (every other server).
  const size_t loyal = voters.size() / 2 + 1 - 2;
  leader_ = leader.node;
  term_ = leader.term;
  swing_ = others[0];
  rivals_.assign(others.begin() + 1 + std::min(loyal, others.size() - 1), others.end());
  if (rivals_.empty()) {
    ScheduleStrike(milliseconds(1000));
    return;
  }
  // The swing's acknowledgements, held from now, reach A one at a time during the cut that
  // follows: A's check-quorum holds while neither rivals nor swing hear from it.
  const io::Duration prelude = random_.Between(milliseconds(300), milliseconds(600));
  stage_ = Stage::kPrelude;
  cut_.clear();
  world_.Trace(leader_, fmt::format("lease rivals: {} leads {}; swing {}, {} rivals, cut in {}",
                                    leader_.ToString(), term_.ToString(), swing_.ToString(),
                                    rivals_.size(), io::FormatDuration(prelude)));
  world_.RecordFault("lease_rivals");
  world_.Schedule(world_.Now() + prelude, io::NodeId(0), "lease rivals: cut",
                  [this, episode = episode_] { Cut(episode); });
  Reassert(episode_);
}

void LeaseRivals::Reassert(uint64_t episode) {
  if (episode != episode_ || stage_ == Stage::kIdle) return;
  SimNetwork& network = world_.network();
  for (const auto& [from, to] : cut_) {
    if (!network.IsBlocked(from, to)) BlockOurs(from, to);
  }
  world_.Schedule(world_.Now() + kReassertEvery, io::NodeId(0), "lease rivals: reassert",
                  [this, episode] { Reassert(episode); });
}

void LeaseRivals::BlockOurs(io::NodeId from, io::NodeId to) {
  SimNetwork& network = world_.network();
  if (std::find(cut_.begin(), cut_.end(), std::make_pair(from, to)) == cut_.end()) {
    cut_.push_back({from, to});
  }
  if (network.IsBlocked(from, to)) return;  // Someone else's block is theirs to lift.
  network.Block(from, to);
  if (std::find(blocked_.begin(), blocked_.end(), std::make_pair(from, to)) == blocked_.end()) {
    blocked_.push_back({from, to});
  }
}

void LeaseRivals::Cut(uint64_t episode) {
  if (episode != episode_ || stage_ != Stage::kPrelude) return;
  const Leader leader = leader_now_();
  if (!Active() || leader.node != leader_ || leader.term != term_) return End(episode);
  for (io::NodeId rival : rivals_) {
    BlockOurs(leader_, rival);
    BlockOurs(rival, leader_);
  }
  BlockOurs(leader_, swing_);
  stage_ = Stage::kCut;
  world_.Trace(leader_, fmt::format("lease rivals: cut, {} acknowledgements of {} held",
                                    held_acks_.size(), swing_.ToString()));
  Drip(episode);
  world_.Schedule(world_.Now() + milliseconds(2500), io::NodeId(0), "lease rivals: end",
                  [this, episode] { End(episode); });
}

void LeaseRivals::Drip(uint64_t episode) {
  if (episode != episode_ || stage_ != Stage::kCut || held_acks_.empty()) return;
  resend_(held_acks_.front());
  held_acks_.pop_front();
  world_.Schedule(world_.Now() + random_.Between(milliseconds(150), milliseconds(250)),
                  io::NodeId(0), "lease rivals: drip", [this, episode] { Drip(episode); });
}

void LeaseRivals::Hold(const core::raft::Message& message) {
  std::optional<core::raft::Message>& slot =
      message.type == core::raft::MessageType::kVote ? held_vote_ : held_rejection_;
  if (!slot.has_value() || message.term >= slot->term) slot = message;
  if (!held_vote_.has_value() || !held_rejection_.has_value() ||
      held_vote_->term != held_rejection_->term) {
    return;
  }
  // Both of one rival term are held: A's messages may reach the swing again.
  SimNetwork& network = world_.network();
  const auto link = std::make_pair(leader_, swing_);
  if (const auto ours = std::find(blocked_.begin(), blocked_.end(), link); ours != blocked_.end()) {
    network.Unblock(leader_, swing_);
    blocked_.erase(ours);
  }
  std::erase(cut_, link);
  stage_ = Stage::kHealed;
  world_.Trace(swing_, fmt::format("lease rivals: holding {}'s vote request and rejection of {}",
                                   held_vote_->from.ToString(), held_vote_->term.ToString()));
}

bool LeaseRivals::IsRival(io::NodeId node) const {
  return std::find(rivals_.begin(), rivals_.end(), node) != rivals_.end();
}

bool LeaseRivals::IsSwingAckToLeader(io::NodeId to, const core::raft::Message& message) const {
  return to == leader_ && message.from == swing_ && message.term == term_ &&
         (message.type == core::raft::MessageType::kHeartbeatResponse ||
          message.type == core::raft::MessageType::kAppendResponse);
}

bool LeaseRivals::OnDeliver(io::NodeId to, const core::raft::Message& message,
                            std::vector<core::raft::Message>* after) {
  using core::raft::MessageType;
  if (!Active()) return true;
  if (stage_ == Stage::kPrelude && IsSwingAckToLeader(to, message)) {
    held_acks_.push_back(message);
    return false;
  }
  if (stage_ == Stage::kReleased && message.from == swing_) {
    // The swing's vote for the rival waits until A has the acknowledgement that renewed its
    // lease: the rival is elected while A holds it.
    if (IsSwingAckToLeader(to, message)) {
      lease_renewed_ = true;
      if (held_grant_.has_value()) {
        resend_(*held_grant_);
        held_grant_.reset();
      }
    } else if (message.type == MessageType::kVoteResponse && !message.reject && !lease_renewed_ &&
               IsRival(to)) {
      if (!held_grant_.has_value()) held_grant_ = message;
      return false;  // A duplicate of the held grant (the swarm duplicates messages) waits too.
    }
  }
  if (to != swing_) return true;
  const bool from_rival = IsRival(message.from);
  if (stage_ == Stage::kHealed && from_rival && message.term > term_) {
    return false;  // The held pair stays the rival's latest word until it is delivered.
  }
  if (stage_ == Stage::kCut && message.term > term_ && message.type != MessageType::kPreVote &&
      from_rival) {
    // A rival's pre-vote goes through (the swing, no longer hearing A, grants it). Its vote
    // request and its rejection of the swing's pre-vote are held, the newest of each; its
    // grants to the swing are lost, so the swing does not win an election of its own.
    if (message.type == MessageType::kVote ||
        (message.type == MessageType::kPreVoteResponse && message.reject)) {
      Hold(message);
    }
    return false;
  }
  if (stage_ == Stage::kHealed && message.from == leader_ && message.term == term_ &&
      (message.type == MessageType::kHeartbeat || message.type == MessageType::kAppend)) {
    // The swing follows A again and acknowledges this message; at once after it, the rival's
    // newer term arrives on a message that is not from a leader, then its vote request.
    after->push_back(*held_rejection_);
    after->push_back(*held_vote_);
    held_rejection_.reset();
    held_vote_.reset();
    lease_renewed_ = false;
    stage_ = Stage::kReleased;
    world_.RecordFault("lease_rivals_strike");
    world_.Trace(swing_, "lease rivals: the rival's rejection and vote request follow");
    world_.Schedule(world_.Now() + milliseconds(1000), io::NodeId(0), "lease rivals: end",
                    [this, episode = episode_] { End(episode); });
  }
  return true;
}

void LeaseRivals::End(uint64_t episode) {
  if (episode != episode_ || stage_ == Stage::kIdle) return;
  SimNetwork& network = world_.network();
  for (const auto& [from, to] : blocked_) network.Unblock(from, to);
  blocked_.clear();
  cut_.clear();
  held_acks_.clear();
  held_grant_.reset();
  held_vote_.reset();
  held_rejection_.reset();
  stage_ = Stage::kIdle;
  episode_++;
  if (Active()) ScheduleStrike(random_.Between(milliseconds(500), milliseconds(2000)));
}

}  // namespace meridian::sim
