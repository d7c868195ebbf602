// A tiny deterministic network of Raft nodes for scripted tests (paper-sentence tests). It plays
// the driver through the shared executor (ready_executor.h): syncs hard state before sending,
// writes entries, and (unless a node's disk is held) syncs them at once and reports StableTo.
// Messages wait in one FIFO queue until delivered.
#pragma once

#include <absl/container/btree_map.h>
#include <absl/container/btree_set.h>

#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "core/raft/raft.h"
#include "core/raft/testing/ready_executor.h"
#include "io/assert.h"

namespace meridian::core::raft::testing {

class TestNet {
 public:
  explicit TestNet(uint32_t voters, RaftOptions base = DefaultOptions()) : base_(base) {
    for (uint32_t i = 1; i <= voters; i++) base_.bootstrap.voters.insert(NodeId(i));
    for (uint32_t i = 1; i <= voters; i++) Add(NodeId(i));
  }

  static RaftOptions DefaultOptions() {
    RaftOptions options;
    options.pre_vote = PreVote::kOff;  // Plain Raft, as in the paper, unless a test turns it on.
    options.check_quorum = CheckQuorum::kOff;
    return options;
  }

  void Add(NodeId id, Membership bootstrap = {}) {
    RaftOptions options = base_;
    options.id = id;
    if (!bootstrap.voters.empty()) options.bootstrap = bootstrap;
    nodes_[id] = std::make_unique<Raft>(options, RestartState{}, io::Random(id.value()));
  }
  // A new copy of `id` with nothing stored, started with `options` (its id set here): a
  // reassignment deleted the node's copy and later added the node back.
  void Wipe(NodeId id, RaftOptions options) {
    options.id = id;
    storage_.erase(id);
    applied_.erase(id);
    nodes_[id] = std::make_unique<Raft>(options, RestartState{}, io::Random(id.value() + 400));
  }
  // Restart from what is durable: the hard state and the synced log.
  void Restart(NodeId id) {
    RaftOptions options = nodes_.at(id)->options();
    storage_[id].Crash();
    nodes_[id] =
        std::make_unique<Raft>(options, storage_[id].ForRestart(options.entry_cache_bytes_max),
                               io::Random(id.value() + 100));
  }

  // Restart with the commit index core/replica may have stored: only with the last term or
  // vote change, so possibly far behind (here: none at all).
  void RestartForgettingCommit(uint32_t node_id) {
    storage_[NodeId(node_id)].hard_state.commit = Index(0);
    Restart(NodeId(node_id));
  }

  // Damage at rest: the node restarts with only its first `keep` synced entries (core/log cut
  // the rest at a bad batch). Like core/replica's durable mark, the driver tells raft the last
  // entry it had synced before the damage (RestartState::durable_before).
  void RestartDamaged(uint32_t node_id, uint64_t keep) {
    MemoryStorage& storage = storage_[NodeId(node_id)];
    MERIDIAN_CHECK(keep <= storage.synced);
    RestartWithRecoveredLog(
        node_id, std::vector<Entry>(storage.entries.begin(),
                                    storage.entries.begin() + static_cast<ptrdiff_t>(keep)));
  }
  // Damage at rest that recovery answered with `recovered`, which need not be a prefix of the
  // synced log: a node-wide log replays history, so a cut after a truncation brings back a past
  // version of the log, entries the truncation replaced included.
  void RestartWithRecoveredLog(uint32_t node_id, std::vector<Entry> recovered) {
    const NodeId id(node_id);
    MemoryStorage& storage = storage_[id];
    MERIDIAN_CHECK(storage.snapshot_index() == Index(0), "scripted tests do not compact");
    LogPosition durable_before;
    if (storage.synced > 0) {
      const Entry& last_synced = storage.DurableAt(storage.durable_last());
      durable_before = {last_synced.term, last_synced.index};
    }
    storage.Crash();
    storage.entries = std::move(recovered);
    storage.synced = storage.entries.size();
    // As core/replica does below its durable mark: only the snapshot is known committed
    // (ReconcileWithDurableMark), none here.
    storage.hard_state.commit = Index(0);
    RaftOptions options = nodes_.at(id)->options();
    RestartState restart = storage.ForRestart(options.entry_cache_bytes_max);
    restart.durable_before = durable_before;
    nodes_[id] = std::make_unique<Raft>(options, std::move(restart), io::Random(node_id + 200));
  }
  // Every copy of the hard state damaged at rest: the node restarts as core/replica restarts
  // it, at the highest term its synced log shows, with no vote and no commit index
  // (RestartState::hard_state_lost).
  void RestartLosingHardState(uint32_t node_id) {
    const NodeId id(node_id);
    MemoryStorage& storage = storage_[id];
    storage.Crash();
    const Term known = storage.entries.empty() ? Term(0) : storage.entries.back().term;
    storage.hard_state = HardState{known, kNoNode, Index(0)};
    RaftOptions options = nodes_.at(id)->options();
    RestartState restart = storage.ForRestart(options.entry_cache_bytes_max);
    restart.hard_state_lost = true;
    nodes_[id] = std::make_unique<Raft>(options, std::move(restart), io::Random(node_id + 300));
  }
  Raft& node(uint32_t id) { return *nodes_.at(NodeId(id)); }

  // Runs every node's Ready; returns the messages that were sent (also queued).
  std::vector<Message> Flush() {
    std::vector<Message> sent;
    for (auto& [id, raft] : nodes_) {
      std::vector<Entry>& applied = applied_[id];
      const ReadyEffects effects{
          .send =
              [&](Message m) {
                if (on_send_) on_send_(m);
                sent.push_back(m);
                if (!isolated_.contains(m.from) && !isolated_.contains(m.to)) queue_.push_back(m);
              },
          .apply = [&](const Entry& e) { applied.push_back(e); },
      };
      while (raft->HasReady()) {
        ExecuteReady(*raft, storage_[id], effects);
        if (!held_.contains(id)) Sync(id);
      }
    }
    return sent;
  }
  void Sync(NodeId id) {
    const std::optional<LogPosition> last = storage_[id].Sync();
    if (last) nodes_.at(id)->StableTo(last->index, last->term);
  }
  // Delivers queued messages (and those they cause) until the network is quiet.
  void DeliverAll(uint32_t rounds_max = 1000) {
    Flush();
    for (uint32_t i = 0; i < rounds_max && !queue_.empty(); i++) {
      Message m = queue_.front();
      queue_.pop_front();
      // Replies to forged senders (hostile-input tests) go nowhere.
      if (!nodes_.contains(m.to)) continue;
      if (!isolated_.contains(m.to) && !isolated_.contains(m.from)) nodes_.at(m.to)->Step(m);
      Flush();
    }
  }
  void DropQueued() { queue_.clear(); }
  // Calls `observer` with every message any node sends from now on (isolated or not).
  void OnSend(std::function<void(const Message&)> observer) { on_send_ = std::move(observer); }
  // Ticks one node until it leaves the follower role (it campaigns), then lets the election run.
  void Campaign(uint32_t id) {
    Raft& raft = node(id);
    for (uint32_t i = 0; i < 3 * raft.options().election_timeout_ticks; i++) {
      if (raft.role() != Role::kFollower) break;
      raft.Tick();
    }
    DeliverAll();
  }
  void TickAll(uint32_t ticks) {
    for (uint32_t t = 0; t < ticks; t++) {
      for (auto& [id, raft] : nodes_) raft->Tick();
      DeliverAll();
    }
  }
  // Lets time pass on every node until some node leads; returns its id (0 if none).
  uint32_t ElectAny(uint32_t ticks_max = 200) {
    for (uint32_t t = 0; t < ticks_max; t++) {
      for (auto& [id, raft] : nodes_) {
        if (raft->role() == Role::kLeader) return id.value();
      }
      TickAll(1);
    }
    return 0;
  }
  void Isolate(uint32_t id) { isolated_.insert(NodeId(id)); }
  void Heal() { isolated_.clear(); }
  void HoldSync(uint32_t id) { held_.insert(NodeId(id)); }
  void ReleaseSync(uint32_t id) {
    held_.erase(NodeId(id));
    Sync(NodeId(id));
    Flush();
  }
  const std::vector<Entry>& applied(uint32_t id) { return applied_[NodeId(id)]; }
  const HardState& hard_state(uint32_t id) { return storage_[NodeId(id)].hard_state; }
  std::deque<Message>& queue() { return queue_; }

 private:
  RaftOptions base_;
  absl::btree_map<NodeId, std::unique_ptr<Raft>> nodes_;
  absl::btree_map<NodeId, MemoryStorage> storage_;
  absl::btree_map<NodeId, std::vector<Entry>> applied_;
  absl::btree_set<NodeId> isolated_;
  absl::btree_set<NodeId> held_;
  std::deque<Message> queue_;
  std::function<void(const Message&)> on_send_;
};

}  // namespace meridian::core::raft::testing
