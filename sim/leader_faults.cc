#include "sim/leader_faults.h"

#include <fmt/format.h>

#include "io/assert.h"
#include "sim/sim_network.h"

namespace meridian::sim {
namespace {
using std::chrono::milliseconds;

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
  if (leader.value() == 0) {  // Between leaders: strike the next one.
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

}  // namespace meridian::sim
