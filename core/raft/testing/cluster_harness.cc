#include "core/raft/testing/cluster_harness.h"

#include <fmt/format.h>

#include <algorithm>

#include "io/assert.h"

namespace meridian::core::raft::testing {
namespace {

inline constexpr size_t kTraceEventsMax = 300;
inline constexpr size_t kNetworkMessagesMax = 4096;  // Beyond this the network drops (a limit).

// FNV-1a over an entry, chained: the harness's "state machine" is the hash of what it applied.
uint64_t ChainHash(uint64_t hash, const Entry& entry) {
  auto mix = [&](std::string_view bytes) {
    for (unsigned char c : bytes) hash = (hash ^ c) * 1099511628211ull;
  };
  mix(fmt::format("{}:{}:{}:", entry.index.value(), entry.term.value(),
                  static_cast<int>(entry.kind)));
  mix(entry.data);
  return hash;
}
constexpr uint64_t kEmptyHash = 14695981039346656037ull;

std::string Describe(const Message& m) {
  return fmt::format("{} {}->{} {} idx={} lt={} n={} c={}{}", MessageTypeName(m.type),
                     m.from.ToString(), m.to.ToString(), m.term.ToString(), m.log_index.value(),
                     m.log_term.value(), m.entries.size(), m.commit.value(),
                     m.reject ? " reject" : "");
}

}  // namespace

struct Cluster::Node {
  NodeId id;
  std::unique_ptr<Raft> raft;          // Null while crashed.
  MemoryStorage storage;               // The disk: a durable snapshot, written and synced entries.
  uint64_t applied_hash = kEmptyHash;  // The state machine: a hash chain of applied entries.
  Index snapshot_index() const { return storage.snapshot_index(); }
  Index durable_last() const { return storage.durable_last(); }
  uint64_t incarnation = 0;
  Term led_term;  // The term this node was last seen leading (0: not leading).
};

Cluster::Cluster(const ClusterOptions& options)
    : options_(options),
      random_(io::Random(options.seed).Fork("cluster")),
      checker_(
          [this](Property property, std::string detail) { Fail(property, std::move(detail)); }) {
  MERIDIAN_CHECK(options_.voters >= 1);
  MERIDIAN_CHECK(options_.voters + options_.spares <= kMembersMax);
  for (uint32_t i = 1; i <= options_.voters + options_.spares; i++) {
    auto node = std::make_unique<Node>();
    node->id = NodeId(i);
    nodes_.push_back(std::move(node));
  }
  required_copies_ = options_.voters / 2 + 1;
  for (auto& node : nodes_) Restart(*node);
  ProcessReadies();
}

Cluster::~Cluster() = default;

Cluster::Node& Cluster::node(uint32_t pick) { return *nodes_[pick % nodes_.size()]; }

const Raft* Cluster::raft(NodeId id) const {
  MERIDIAN_CHECK(id.value() >= 1 && id.value() <= nodes_.size());
  return nodes_[id.value() - 1]->raft.get();
}

void Cluster::Restart(Node& node) {
  MERIDIAN_CHECK(node.raft == nullptr);
  RaftOptions raft_options;
  raft_options.id = node.id;
  for (uint32_t i = 1; i <= options_.voters; i++) raft_options.bootstrap.voters.insert(NodeId(i));
  raft_options.election_timeout_ticks = options_.election_timeout_ticks;
  raft_options.planted_bug = options_.planted_bug;
  raft_options.entry_cache_bytes_max = options_.entry_cache_bytes_max;
  RestartState restart = node.storage.ForRestart(options_.entry_cache_bytes_max);
  node.applied_hash = node.storage.snapshot ? std::stoull(node.storage.snapshot->data)
                                            : kEmptyHash;  // Restore, then replay.
  node.incarnation++;
  node.led_term = Term(0);
  node.raft = std::make_unique<Raft>(raft_options, std::move(restart),
                                     random_.Fork(node.id.value() * 1000 + node.incarnation));
  Note(fmt::format("restart {}", node.id.ToString()));
}

void Cluster::Crash(Node& node) {
  if (node.raft == nullptr) return;
  node.raft.reset();
  node.storage.Crash();  // The unsynced tail is lost.
  Note(fmt::format("crash {} (durable {})", node.id.ToString(), node.storage.synced));
}

void Cluster::Compact(Node& node) {
  if (node.raft == nullptr) return;
  const Index applied = node.raft->log().applied();
  if (applied <= node.snapshot_index()) return;
  absl::StatusOr<SnapshotMeta> meta =
      node.raft->Compact(applied, fmt::format("{}", node.applied_hash));
  MERIDIAN_CHECK(meta.ok(), "{}", std::string(meta.status().message()));
  const uint64_t dropped = applied.value() - node.snapshot_index().value();
  MemoryStorage& storage = node.storage;
  MERIDIAN_CHECK(dropped <= storage.synced, "compacted entries are durable");
  storage.snapshot = Snapshot{.meta = *meta, .data = fmt::format("{}", node.applied_hash)};
  storage.entries.erase(storage.entries.begin(),
                        storage.entries.begin() + static_cast<ptrdiff_t>(dropped));
  storage.synced -= dropped;
  Note(fmt::format("compact {} to {}", node.id.ToString(), applied.value()));
}

uint64_t Cluster::CommittedHash(Index through) const {
  uint64_t hash = kEmptyHash;
  for (uint64_t i = 1; i <= through.value(); i++) {
    auto it = checker_.committed().find(Index(i));
    MERIDIAN_CHECK(it != checker_.committed().end(), "committed entry {} never applied anywhere",
                   i);
    hash = ChainHash(hash, it->second.entry);
  }
  return hash;
}

void Cluster::Install(Node& node, const Snapshot& snapshot) {
  // Ready step (0): stored durably (by ExecuteReady), the whole log replaced by it, the state
  // machine restored.
  Note(fmt::format("install {} snapshot {}:{}", node.id.ToString(), snapshot.meta.index.value(),
                   snapshot.meta.term.value()));
  node.applied_hash = std::stoull(snapshot.data);
  if (node.applied_hash != CommittedHash(snapshot.meta.index)) {
    Fail(Property::kStateMachineSafety,
         fmt::format("{} installed a snapshot at {} whose state differs from what was committed",
                     node.id.ToString(), snapshot.meta.index.ToString()));
  }
}

void Cluster::Sync(Node& node) {
  if (node.raft == nullptr) return;
  const std::optional<LogPosition> last = node.storage.Sync();
  if (!last) return;
  node.raft->StableTo(last->index, last->term);
  Note(fmt::format("sync {} to {}", node.id.ToString(), node.storage.synced));
}

bool Cluster::Cut(NodeId from, NodeId to) const { return cut_.contains({from, to}); }

void Cluster::ProcessReadies() {
  // One Ready per node per pass, the safety checks after every pass, until no node has one.
  for (bool progress = true; progress && !violation_;) {
    progress = false;
    for (auto& node_ptr : nodes_) {
      Node& node = *node_ptr;
      if (node.raft == nullptr || !node.raft->HasReady()) continue;
      progress = true;
      ExecuteReady(*node.raft, node.storage, Effects(node));
    }
    Check();
  }
}

ReadyEffects Cluster::Effects(Node& node) {
  return ReadyEffects{
      .installed = [this, &node](const Snapshot& snapshot) { Install(node, snapshot); },
      .send =
          [this](Message m) {
            // Into the network unless the link is cut; past the limit the network drops.
            if (!Cut(m.from, m.to) && network_.size() < kNetworkMessagesMax) {
              network_.push_back(Sent{std::move(m), now_ticks_});
            }
          },
      .written =
          [this](const Entry& e) {
            if (e.kind != EntryKind::kConfig) return;
            config_changed_ = true;
            required_copies_ = std::min(required_copies_, e.membership.QuorumSize());
          },
      .apply = [this, &node](const Entry& e) { Apply(node, e); },
  };
}

void Cluster::Apply(Node& node, const Entry& entry) {
  node.applied_hash = ChainHash(node.applied_hash, entry);
  checker_.OnApply(node.id, entry, node.raft->term());
}

uint64_t Cluster::DelayTicks(NodeId from, NodeId to) const {
  auto it = delay_ticks_.find({from, to});
  return it == delay_ticks_.end() ? 0 : it->second;
}

void Cluster::SlowLink(const Op& op) {
  const NodeId from = node(op.a).id;
  const NodeId to = node(op.a / static_cast<uint32_t>(nodes_.size())).id;
  if (from == to) return;
  // Below the network's two-election-timeout expiry, so a slow message still arrives.
  const uint64_t delay = op.b % (2 * options_.election_timeout_ticks);
  delay_ticks_[{from, to}] = delay;
  Note(fmt::format("slow link {}->{} by {} ticks", from.ToString(), to.ToString(), delay));
}

void Cluster::Deliver(size_t pick, bool duplicate) {
  // Messages on a slow link wait out its delay.
  std::vector<size_t> ready;
  for (size_t k = 0; k < network_.size(); k++) {
    const Sent& sent = network_[k];
    if (sent.sent_ticks + DelayTicks(sent.message.from, sent.message.to) <= now_ticks_) {
      ready.push_back(k);
    }
  }
  if (ready.empty()) return;
  // Mostly near-FIFO (a network that usually works), sometimes any message (reordering).
  const size_t window = pick % 8 == 0 ? ready.size() : std::min<size_t>(ready.size(), 3);
  const size_t i = ready[(pick / 8) % window];
  Message m = network_[i].message;
  if (!duplicate) network_.erase(network_.begin() + static_cast<ptrdiff_t>(i));
  Node& to = *nodes_[m.to.value() - 1];
  if (to.raft == nullptr || Cut(m.from, m.to)) return;
  Note(fmt::format("deliver {}{}", Describe(m), duplicate ? " (dup)" : ""));
  Step(to, m);
}

void Cluster::Step(Node& to, const Message& m) {
  // A leader's message reaching another leader of the same term proves two leaders in one term;
  // report it here rather than let the receiving node's assertion abort the sweep.
  const bool from_leader = m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat ||
                           m.type == MessageType::kSnapshot;
  if (from_leader && to.raft->role() == Role::kLeader && to.raft->term() == m.term) {
    // (With this check disabled the message is dropped: the receiver would assert.)
    return Fail(Property::kElectionSafety, fmt::format("{} and {} both lead {}", m.from.ToString(),
                                                       to.id.ToString(), m.term.ToString()));
  }
  to.raft->Step(m);
}

Raft* Cluster::Leader() {
  Raft* best = nullptr;
  for (auto& node : nodes_) {
    Raft* raft = node->raft.get();
    if (raft == nullptr || raft->role() != Role::kLeader) continue;
    if (best == nullptr || raft->term() > best->term()) best = raft;
  }
  return best;
}

Cluster::Node* Cluster::PickLeader(uint32_t pick) {
  // Any node that believes it leads, stale leaders included: they are the interesting ones.
  std::vector<Node*> leaders;
  for (auto& n : nodes_) {
    if (n->raft != nullptr && n->raft->role() == Role::kLeader) leaders.push_back(n.get());
  }
  if (leaders.empty()) return nullptr;
  return leaders[pick % leaders.size()];
}

void Cluster::Propose(uint32_t pick) {
  Node* picked = pick % 4 == 0 ? &node(pick / 4) : PickLeader(pick / 4);
  if (picked == nullptr || picked->raft == nullptr) return;
  Node& n = *picked;
  const std::string data = fmt::format("v{}", ++proposals_);
  const absl::StatusOr<Index> index = n.raft->Propose(data);
  if (index.ok())
    Note(fmt::format("propose {} at {} -> {}", data, n.id.ToString(), index->value()));
}

void Cluster::LeaseRead(uint32_t pick) {
  Node& n = node(pick);
  if (n.raft == nullptr || n.raft->role() != Role::kLeader) return;
  const absl::StatusOr<Index> index = n.raft->LeaseRead();
  if (!index.ok()) return;
  lease_reads_served_++;
  // Linearizability: a read must observe every entry committed anywhere before it is served.
  const Index known = KnownCommitted();
  Note(fmt::format("lease read at {} -> {} (known committed {})", n.id.ToString(), index->value(),
                   known.value()));
  if (*index < known) {
    Fail(Property::kStaleLeaseRead,
         fmt::format("{} (term {}) served a lease read at {} but {} was already committed",
                     n.id.ToString(), n.raft->term().ToString(), index->ToString(),
                     known.ToString()));
  }
}

Index Cluster::KnownCommitted() const {
  const auto& committed = checker_.committed();
  Index known = committed.empty() ? Index(0) : committed.rbegin()->first;
  for (auto& other : nodes_) {
    if (other->raft != nullptr) known = std::max(known, other->raft->log().commit());
  }
  return known;
}

void Cluster::ConfChange(uint32_t a, uint32_t b) {
  Raft* leader = Leader();
  if (leader == nullptr) return;
  raft::ConfChange change{.kind = static_cast<ConfChangeKind>(b % 4),
                          .node = NodeId(a % nodes_.size() + 1)};
  const absl::StatusOr<Index> index = leader->ProposeConfChange(change);
  if (index.ok()) {
    Note(fmt::format("conf change kind {} {} at {} -> {}", b % 4, change.node.ToString(),
                     leader->id().ToString(), index->value()));
  }
}

void Cluster::TickAll() {
  now_ticks_++;
  // Messages older than two election timeouts are lost: delays are bounded.
  std::erase_if(network_, [&](const Sent& sent) {
    return sent.sent_ticks + 2 * options_.election_timeout_ticks < now_ticks_;
  });
  std::string states;
  for (auto& n : nodes_) {
    if (n->raft == nullptr) continue;
    n->raft->Tick();
    const Raft& r = *n->raft;
    states += fmt::format(" {}:{}{} c{} s{} l{}", n->id.ToString(), RoleName(r.role())[0],
                          r.term().value(), r.log().commit().value(), r.log().stable().value(),
                          r.log().last_index().value());
  }
  Note("tick" + states);
  // Clients read continuously: every node that believes it leads is asked each tick.
  for (uint32_t i = 0; i < nodes_.size() && !violation_; i++) LeaseRead(i);
}

void Cluster::Partition(const Op& op) {
  cut_.clear();
  if (Node* leader = op.a % 2 == 0 ? PickLeader(op.a / 2) : nullptr) {
    // Isolate a leader from everyone (the stale-leader scenarios).
    for (auto& x : nodes_) {
      if (x->id == leader->id) continue;
      cut_.insert({x->id, leader->id});
      cut_.insert({leader->id, x->id});
    }
    Note(fmt::format("isolate leader {}", leader->id.ToString()));
    return;
  }
  for (auto& x : nodes_) {
    for (auto& y : nodes_) {
      const bool side_x = (op.b >> (x->id.value() - 1)) & 1;
      const bool side_y = (op.b >> (y->id.value() - 1)) & 1;
      if (side_x != side_y) cut_.insert({x->id, y->id});
    }
  }
  Note(fmt::format("partition mask {:#x}", op.b));
}

void Cluster::Apply(const Op& op) {
  if (violation_) return;
  switch (op.kind) {
    case OpKind::kDeliver:
      // A burst of 1-4 deliveries, so the network keeps up with what the nodes send.
      for (uint32_t k = 0; k <= op.b % 4; k++) Deliver(op.a + k * 8, false);
      break;
    case OpKind::kDuplicate:
      Deliver(op.a, true);
      break;
    case OpKind::kDrop:
      if (!network_.empty()) network_.erase(network_.begin() + op.a % network_.size());
      break;
    case OpKind::kTick:
      TickAll();
      break;
    case OpKind::kSync:
      Sync(node(op.a));
      break;
    case OpKind::kCrash: {
      // Half the crashes hit a leader: the interesting moments are right after it appended.
      Node* leader = op.b % 2 == 0 ? PickLeader(op.a) : nullptr;
      Crash(leader != nullptr ? *leader : node(op.a));
      break;
    }
    case OpKind::kRestart: {
      std::vector<Node*> down;
      for (auto& n : nodes_) {
        if (n->raft == nullptr) down.push_back(n.get());
      }
      if (!down.empty()) Restart(*down[op.a % down.size()]);
      break;
    }
    case OpKind::kPartition:
      Partition(op);
      break;
    case OpKind::kHeal:
      cut_.clear();
      break;
    case OpKind::kPropose:
      Propose(op.a);
      break;
    case OpKind::kLeaseRead:
      LeaseRead(op.a);
      break;
    case OpKind::kConfChange:
      ConfChange(op.a, op.b);
      break;
    case OpKind::kTransfer:
      if (Raft* leader = Leader()) {
        (void)leader->TransferLeadership(NodeId(op.a % nodes_.size() + 1));
      }
      break;
    case OpKind::kCompact:
      if (options_.compaction) Compact(node(op.a));
      break;
    case OpKind::kSlowLink:
      SlowLink(op);
      break;
  }
  ProcessReadies();
}

// ---------------------------------------------------------------- the observer

void Cluster::Check() {
  if (violation_) return;
  for (auto& node : nodes_) {
    Raft* raft = node->raft.get();
    if (raft == nullptr) continue;
    if (raft->role() == Role::kLeader && node->led_term != raft->term()) {
      checker_.OnLeader(node->id, raft->term(), raft->log());
    }
    node->led_term = raft->role() == Role::kLeader ? raft->term() : Term(0);
  }
  for (size_t i = 0; i < nodes_.size() && !violation_; i++) {
    for (size_t j = i + 1; j < nodes_.size() && !violation_; j++) {
      const Raft* a = nodes_[i]->raft.get();
      const Raft* b = nodes_[j]->raft.get();
      if (a && b) checker_.CheckLogMatching(a->id(), a->log(), b->id(), b->log());
    }
  }
  if (!violation_) CheckCommittedDurable();
  if (!violation_) CheckLeases();
  if (!violation_) CheckConfigurationFollowsLog();
  if (!violation_ && !config_changed_) CheckNoElectableNodeLacksACommittedEntry();
}

void Cluster::CheckLeases() {
  // The standing lease invariant, after every step (not only when a client happens to read). A
  // leader whose lease is valid now (LeaseRead() would succeed) rests it on voters that promised
  // not to vote for an election timeout (§6.4.1). So: (1) the voters that would grant a vote now
  // must be too few to elect anyone (a crashed voter refuses votes for its first election
  // timeout after restarting, so it counts as refusing); (2) no later term can have had a
  // leader; (3) a read now observes every entry committed anywhere.
  const Term newest_led = checker_.newest_led_term();
  const Index known = KnownCommitted();
  for (const auto& node : nodes_) {
    const Raft* raft = node->raft.get();
    if (raft == nullptr || raft->role() != Role::kLeader) continue;
    const absl::StatusOr<Index> read = raft->LeaseRead();
    if (!read.ok()) continue;
    const std::string lease =
        fmt::format("{} leads {} with a lease until tick {} (now {})", node->id.ToString(),
                    raft->term().ToString(), raft->lease_end_ticks(), raft->ticks());
    std::string would_vote;
    uint32_t would_vote_count = 0;
    for (NodeId voter : raft->membership().voters) {
      const Raft* v = nodes_[voter.value() - 1]->raft.get();
      if (v == nullptr || v->RefusesVotes()) continue;
      would_vote_count++;
      would_vote +=
          fmt::format(" {}({}{})", voter.ToString(), RoleName(v->role())[0], v->term().value());
    }
    if (would_vote_count >= raft->membership().QuorumSize()) {
      return Fail(Property::kLeaseOutlivesPromise,
                  fmt::format("{}, but a quorum would vote:{}", lease, would_vote));
    }
    if (newest_led > raft->term()) {
      return Fail(Property::kLeaseOutlivesPromise,
                  fmt::format("{}, but {} led {}", lease,
                              checker_.leaders().at(newest_led).ToString(), newest_led.ToString()));
    }
    if (*read < known) {
      return Fail(Property::kStaleLeaseRead,
                  fmt::format("{} would serve a lease read at {} but {} is committed", lease,
                              read->ToString(), known.ToString()));
    }
  }
}

void Cluster::CheckConfigurationFollowsLog() {
  // §4.1: a server uses the latest configuration in its log, committed or not, and reverts to
  // the previous one when that entry is truncated (Raft::ConfigurationFollowsLog).
  for (const auto& node : nodes_) {
    if (node->raft == nullptr) continue;
    const absl::Status follows = node->raft->ConfigurationFollowsLog();
    if (!follows.ok()) {
      return Fail(Property::kConfigurationNotFromLog, std::string(follows.message()));
    }
  }
}

void Cluster::CheckNoElectableNodeLacksACommittedEntry() {
  // Leader completeness, checked as an invariant over possible futures: no node lacking a
  // committed entry may have a log that a quorum of voters would accept as up to date (§5.4.1),
  // judging each voter by its durable log (what it keeps if it crashes now). In correct Raft
  // every node of the committing quorum holds a later-or-equal last term and index, so this
  // never fires; Figure 8 makes it fire before the old entry is overwritten.
  for (const auto& candidate : nodes_) {
    const Raft* c = candidate->raft.get();
    const Index last = c != nullptr ? c->log().last_index() : candidate->durable_last();
    const Index floor = c != nullptr ? c->log().snapshot_index() : candidate->snapshot_index();
    // Entries at or below a snapshot are committed and held (in the snapshot's state).
    auto holds = [&](Index index, Term term) {
      if (index < floor) return true;
      if (index > last) return false;
      if (c != nullptr) return c->log().TermAt(index) == term;
      return candidate->storage.DurableTermAt(index) == term;
    };
    const Term last_term =
        c != nullptr ? c->log().last_term() : *candidate->storage.DurableTermAt(last);
    for (const auto& [index, committed] : checker_.committed()) {
      const Entry& entry = committed.entry;
      if (holds(index, entry.term)) continue;
      uint32_t grants = 0;
      for (const auto& voter : nodes_) {
        if (voter->id.value() > options_.voters) continue;  // Bootstrap voters only.
        const Index voter_last = voter->durable_last();
        const Term voter_term = *voter->storage.DurableTermAt(voter_last);
        const bool up_to_date =
            last_term != voter_term ? last_term > voter_term : last >= voter_last;
        if (up_to_date || voter->id == candidate->id) grants++;
      }
      if (grants >= options_.voters / 2 + 1) {
        return Fail(
            Property::kLeaderCompleteness,
            fmt::format("{} lacks committed {}:{} yet {} voters would elect it",
                        candidate->id.ToString(), index.ToString(), entry.term.ToString(), grants));
      }
      break;  // Checking the first missing committed entry is enough.
    }
  }
}

void Cluster::CheckCommittedDurable() {
  // A committed entry is durable on at least a quorum (of the smallest configuration ever used,
  // so the check stays sound across membership changes) and stays so forever.
  for (const auto& [index, committed] : checker_.committed()) {
    const Entry& entry = committed.entry;
    uint32_t copies = 0;
    for (const auto& node : nodes_) {
      const Index snap = node->snapshot_index();
      // A durable snapshot covering the entry holds it (its state includes it: checked at
      // install against the committed hash chain, and made from applied entries otherwise).
      if (index <= snap ||
          (index <= node->durable_last() && node->storage.DurableAt(index) == entry)) {
        copies++;
      }
    }
    if (copies < required_copies_) {
      return Fail(Property::kCommittedEntryLost,
                  fmt::format("committed {}:{} is durable on {} nodes, quorum {}", index.ToString(),
                              entry.term.ToString(), copies, required_copies_));
    }
  }
}

void Cluster::Fail(Property property, std::string detail) {
  if (violation_) return;
  if (options_.disabled_checks & (1u << static_cast<uint32_t>(property))) return;
  Note(fmt::format("VIOLATION {}: {}", PropertyName(property), detail));
  violation_ = Violation{property, std::move(detail)};
}

void Cluster::Note(std::string event) {
  trace_.push_back(std::move(event));
  if (trace_.size() > kTraceEventsMax) trace_.pop_front();
}

std::string Cluster::Trace() const {
  std::string out;
  for (const std::string& line : trace_) out += "  " + line + "\n";
  return out;
}

// ---------------------------------------------------------------- liveness

std::optional<uint32_t> Cluster::Stabilize(uint32_t ticks_max) {
  if (violation_) return std::nullopt;
  cut_.clear();
  delay_ticks_.clear();
  for (auto& n : nodes_) {
    if (n->raft == nullptr) Restart(*n);
  }
  ProcessReadies();
  std::optional<Index> target;
  Term target_term;
  uint32_t attempt = 0;
  for (uint32_t tick = 0; tick <= ticks_max && !violation_; tick++) {
    // A fair round: deliver everything in order, sync every disk, then let time pass.
    for (size_t round = 0; round < 8 && !network_.empty(); round++) {
      std::vector<Sent> batch = std::move(network_);
      network_.clear();
      for (Sent& sent : batch) {
        Node& to = *nodes_[sent.message.to.value() - 1];
        Note("deliver " + Describe(sent.message));
        Step(to, sent.message);
        if (violation_) return std::nullopt;
      }
      ProcessReadies();
      for (auto& n : nodes_) Sync(*n);
      ProcessReadies();
    }
    for (auto& n : nodes_) Sync(*n);
    ProcessReadies();
    const auto& committed = checker_.committed();
    if (target && committed.contains(*target) &&
        committed.at(*target).entry.data == fmt::format("liveness{}", attempt)) {
      return tick;
    }
    if (Raft* leader = Leader(); leader != nullptr && leader->term() > target_term) {
      // A new leader: the earlier attempt may have been overwritten, so propose again.
      absl::StatusOr<Index> index = leader->Propose(fmt::format("liveness{}", ++attempt));
      if (index.ok()) {
        target = *index;
        target_term = leader->term();
      }
    }
    Apply(Op{.kind = OpKind::kTick});
  }
  if (!violation_) {
    Fail(Property::kLiveness, fmt::format("no proposal committed within {} ticks", ticks_max));
  }
  return std::nullopt;
}

// ---------------------------------------------------------------- schedules

namespace {

std::vector<Op> Schedule(io::Random& random, uint32_t length, Mix mix, bool compaction) {
  // Weights of the fault mix, in the order of OpKind.
  static constexpr uint32_t kWeights[kOpKinds] = {40, 3, 2, 15, 12, 1, 3, 1, 2, 10, 6, 3, 1, 2, 0};
  static constexpr uint32_t kLeaseAttackWeights[kOpKinds] = {40, 3,  2, 15, 12, 1, 3, 3,
                                                             3,  10, 6, 0,  1,  0, 6};
  const uint32_t* base = mix == Mix::kSwarm ? kWeights : kLeaseAttackWeights;
  const uint32_t kinds = mix == Mix::kSwarm ? kSwarmOpKinds : kOpKinds;
  // Swarm testing: each schedule scales each fault's weight by 0, 1, 2 or 4, so some
  // schedules are crash storms, some never sync, some never partition.
  uint32_t weights[kOpKinds] = {};
  uint32_t total = 0;
  for (uint32_t k = 0; k < kinds; k++) {
    const bool essential =
        k == static_cast<uint32_t>(OpKind::kDeliver) || k == static_cast<uint32_t>(OpKind::kTick);
    const uint32_t scale = essential ? 2 : (1u << random.Below(4)) >> 1;  // 0, 1, 2, 4
    weights[k] = base[k] * scale;
    if (k == static_cast<uint32_t>(OpKind::kCompact) && !compaction) weights[k] = 0;
    total += weights[k];
  }
  std::vector<Op> ops;
  ops.reserve(length);
  for (uint32_t i = 0; i < length; i++) {
    uint32_t roll = static_cast<uint32_t>(random.Below(total));
    uint32_t kind = 0;
    while (roll >= weights[kind]) roll -= weights[kind++];
    MERIDIAN_CHECK(kind < kinds);
    ops.push_back(Op{.kind = static_cast<OpKind>(kind),
                     .a = static_cast<uint32_t>(random.Below(1u << 16)),
                     .b = static_cast<uint32_t>(random.Below(1u << 16))});
  }
  return ops;
}

}  // namespace

std::vector<Op> RandomSchedule(io::Random& random, uint32_t length, bool compaction) {
  return Schedule(random, length, Mix::kSwarm, compaction);
}

std::vector<Op> RandomSchedule(io::Random& random, uint32_t length, Mix mix) {
  return Schedule(random, length, mix, /*compaction=*/mix == Mix::kSwarm);
}

const char* MixName(Mix mix) { return mix == Mix::kSwarm ? "swarm" : "lease-attack"; }

std::string ReplayCommand(const ClusterOptions& options, uint32_t steps, Mix mix) {
  return fmt::format(
      "bazel test //core/raft:planted_bugs_test --test_env=RAFT_HARNESS_SEED={} "
      "--test_env=RAFT_HARNESS_BUG={} --test_env=RAFT_HARNESS_VOTERS={} "
      "--test_env=RAFT_HARNESS_SPARES={} --test_env=RAFT_HARNESS_STEPS={} "
      "--test_env=RAFT_HARNESS_MIX={} --test_env=RAFT_HARNESS_COMPACTION={} "
      "--test_env=RAFT_HARNESS_ENTRY_CACHE_BYTES={} --test_filter='*ReplayOneSeed*' "
      "--test_output=all",
      options.seed, PlantedBugName(options.planted_bug), options.voters, options.spares, steps,
      MixName(mix), options.compaction ? 1 : 0, options.entry_cache_bytes_max);
}

std::optional<Violation> RunSchedule(const ClusterOptions& options, const std::vector<Op>& ops,
                                     std::string* trace) {
  Cluster cluster(options);
  for (const Op& op : ops) cluster.Apply(op);
  cluster.Stabilize(options.election_timeout_ticks * 20);
  if (trace != nullptr) *trace = cluster.Trace();
  return cluster.violation();
}

}  // namespace meridian::core::raft::testing
