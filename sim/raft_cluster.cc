#include "sim/raft_cluster.h"

#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <tuple>

#include "core/raft/testing/safety_checker.h"
#include "core/replica/replica.h"
#include "core/wire/raft_codec.h"
#include "io/assert.h"
#include "io/frame.h"
#include "io/probe.h"
#include "sim/fault_atlas.h"
#include "sim/leader_faults.h"
#include "sim/raft_history.h"
#include "sim/sim_disk.h"
#include "sim/sim_network.h"
#include "sim/world.h"

namespace meridian::sim {
namespace {

using core::raft::Index;
using core::raft::Term;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr uint16_t kClientPort = 7000;
constexpr io::Duration kLivenessWindow = seconds(20);
constexpr io::Duration kAuditLimit = seconds(60);
// A transfer counts as won when its target is the next leader elected, within this long.
constexpr io::Duration kHandoverWindow = seconds(2);
const std::vector<std::string> kRegions = {"us-east", "eu-west", "ap-south"};
// The runner's one raft group (every replica keeps ReplicaOptions::group's default).
const uint64_t kRaftGroup = core::replica::ReplicaOptions().group;
// The membership runs' spare server has a region of its own, so that losing any one region
// takes at most one voter more than it would without the spare (RaftSimOptions::membership).
const std::string kSpareRegion = "sa-east";
constexpr io::Duration kConfigurationCheckInterval = milliseconds(10);
// Replication restored: every member that is up at the end of the heal phase has applied what
// was applied anywhere this long before it (checked only when the heal phase is at least twice
// as long, so the faults' last effects have had as long again to clear).
constexpr io::Duration kCatchUpWindow = seconds(10);
// Every replica's tick: an election timeout of 10 ticks (500 ms to 1 s randomized) stays above
// the 300 ms round trip between the farthest regions.
constexpr io::Duration kReplicaTick = milliseconds(50);
// Elections end within this long after the heal, and after the audit's restart of every server
// (issue 17 item 6): 16 base election timeouts. Honest runs took at most 4.3 s (seeds 1-1300 of 3
// replicas, 1-660 of 5); with every timeout exactly T (election-timeout-not-randomized),
// synchronized restarts split votes round after round, up to 12.5 s in seeds 1-100.
constexpr io::Duration kElectionBound = 16 * 10 * kReplicaTick;

// The servers of a run: `replicas` voters at the start, then the membership runs' spare.
struct GroupShape {
  uint32_t replicas = 0;
  uint32_t servers = 0;
};

using ClientOp = RaftClientOp;

const char* ConfChangeKindName(core::raft::ConfChangeKind kind) {
  switch (kind) {
    case core::raft::ConfChangeKind::kAddVoter:
      return "add-voter";
    case core::raft::ConfChangeKind::kAddLearner:
      return "add-learner";
    case core::raft::ConfChangeKind::kDemote:
      return "demote";
    case core::raft::ConfChangeKind::kRemove:
      return "remove";
  }
  return "?";
}

// Sees every node; checks Raft's safety properties as events happen, outside the protocol,
// with the checker the pure-raft property harness uses (core/raft/testing/safety_checker.h):
// election safety, leader completeness and log matching of every leader's log as its replica
// publishes the leadership, state machine safety at every apply. It cannot see a node's term
// when it applies, so leader completeness judges an entry only against leaders of terms past
// the newest leadership published when the entry was first applied (a leader publishes before
// it can commit anything; SafetyChecker::OnApply).
class RaftObserver final : public core::replica::ReplicaObserver {
 public:
  explicit RaftObserver(World& world)
      : world_(world), checker_([this](core::raft::testing::Property property, std::string what) {
          Violation(fmt::format("{}: {}", core::raft::testing::PropertyName(property), what));
        }) {}

  void OnLeader(io::NodeId node, Term term, const core::raft::RaftLog& log) override {
    leaders_elected_++;
    if (transfer_target_ == node && world_.Now() - transfer_requested_ <= kHandoverWindow) {
      transfers_won_++;
      transfers_won_deaf_ += transfer_deaf_ ? 1 : 0;
    }
    transfer_target_ = io::NodeId();
    transfer_deaf_ = false;
    world_.Trace(node, fmt::format("raft leader of {}, log to {} (term {})", term.ToString(),
                                   log.last_index().ToString(), log.last_term().ToString()));
    checker_.OnLeader(node, term, log);
    CheckStandingLeases(node);
  }
  void OnApply(io::NodeId node, const core::raft::Entry& entry) override {
    world_.Trace(node, fmt::format("raft applied {} of term {}", entry.index.ToString(),
                                   entry.term.ToString()));
    if (election_faults_ != nullptr) election_faults_->OnApply(node, entry);
    checker_.OnApply(node, entry);
    if (world_.Now() >= audit_after_) {
      uint64_t& latest = applied_since_audit_[node];
      latest = std::max(latest, entry.index.value());
    }
  }
  // A peer message `node` received, before its replica sees it (election faults watch votes).
  // False: a targeted fault holds it (LeaseRivals); `after` gets what `node` must receive right
  // after it.
  bool OnDeliver(io::NodeId node, const core::raft::Message& message,
                 std::vector<core::raft::Message>* after) {
    if (world_.tracing()) {
      world_.Trace(node,
                   fmt::format("raft {} from {} term {} log {}/{} entries {} commit {}{}",
                               core::raft::MessageTypeName(message.type), message.from.ToString(),
                               message.term.ToString(), message.log_index.ToString(),
                               message.log_term.ToString(), message.entries.size(),
                               message.commit.ToString(), message.reject ? " reject" : ""));
    }
    if (election_faults_ != nullptr) election_faults_->OnDeliver(node, message);
    if (transfer_faults_ != nullptr && transfer_faults_->OnDeliver(node, message)) {
      transfer_deaf_ = true;
    }
    return lease_rivals_ == nullptr || lease_rivals_->OnDeliver(node, message, after);
  }
  void set_election_faults(ElectionFaults* faults) { election_faults_ = faults; }
  void set_transfer_faults(TransferFaults* faults) { transfer_faults_ = faults; }
  void set_lease_rivals(LeaseRivals* faults) { lease_rivals_ = faults; }
  // An episode of LeaseRivals needs its leader to keep leading: transfers, configuration changes
  // and new episodes of the other targeted faults wait for it to end (seeds without it run as
  // before).
  bool TargetedFaultsPaused() const {
    return lease_rivals_ != nullptr && lease_rivals_->InEpisode();
  }
  void set_conf_change_faults(ConfChangeFaults* faults) { conf_change_faults_ = faults; }
  // `leader` is about to propose a configuration change (ConfChangeFaults may mute it first).
  void BeforeConfChange(io::NodeId leader) {
    if (conf_change_faults_ != nullptr) conf_change_faults_->BeforeConfChange(leader);
  }
  void OnConfChange(io::NodeId leader, const core::raft::ConfChange& change, Index index) {
    membership_changes_++;
    world_.Trace(leader, fmt::format("raft configuration change {} {} appended at {}",
                                     ConfChangeKindName(change.kind), change.node.ToString(),
                                     index.ToString()));
  }
  uint64_t membership_changes() const { return membership_changes_; }
  // The voters of `node`'s configuration as its replica last published it (0 if it is down).
  size_t VotersOf(io::NodeId node) const { return VoterIdsOf(node).size(); }
  // The voters of `node`'s configuration as its replica last published it (empty if it is down).
  std::vector<io::NodeId> VoterIdsOf(io::NodeId node) const {
    auto it = replicas_.find(node);
    if (it == replicas_.end() || !world_.IsUp(node)) return {};
    std::shared_ptr<core::replica::Replica> replica = it->second.lock();
    if (replica == nullptr) return {};
    const auto& voters = replica->membership().voters;
    return std::vector<io::NodeId>(voters.begin(), voters.end());
  }
  // §4.1: every replica that is up uses the configuration its log implies, the latest one in
  // it, committed or not (Raft::ConfigurationFollowsLog). Each node is reported once.
  void CheckConfigurations() {
    for (const auto& [node, weak] : replicas_) {
      std::shared_ptr<core::replica::Replica> replica = weak.lock();
      if (replica == nullptr || !world_.IsUp(node)) continue;
      const absl::Status follows = replica->ConfigurationFollowsLog();
      if (!follows.ok() && configuration_reports_.insert(node).second) {
        Violation(fmt::format("configuration-follows-log: {}", std::string(follows.message())));
      }
    }
  }
  void OnFailStop(io::NodeId node, const absl::Status& why) override {
    Violation(fmt::format("{} fail-stopped: {}", node.ToString(), why.ToString()));
  }
  void Violation(std::string what) {
    if (violations_.size() < 20)
      violations_.push_back(fmt::format("t={} {}", world_.Now().ToString(), what));
  }
  // What each replica that is up has applied now, and the most any has.
  struct AppliedNow {
    uint64_t most = 0;
    absl::btree_map<io::NodeId, uint64_t> by_node;
  };
  AppliedNow Applied() const {
    AppliedNow now{.most = max_applied_index()};
    for (const auto& [node, weak] : replicas_) {
      std::shared_ptr<core::replica::Replica> replica = weak.lock();
      if (replica != nullptr && world_.IsUp(node)) now.by_node[node] = replica->applied().value();
    }
    return now;
  }
  // Replication restored: no replica that is up and a member (voter or learner) of the leader's
  // configuration is both behind what the group had applied at `before` and stalled since then
  // (applied nothing more). A follower the leader keeps probing above its log (a match index it
  // no longer holds after damage at rest) stalls so, though the others commit without it; a
  // follower catching up slowly (one entry per append across regions) is not stalled.
  std::vector<std::string> MembersStalled(const AppliedNow& before) const {
    const io::NodeId leader = LeaderNow();
    auto found = replicas_.find(leader);
    if (found == replicas_.end()) return {};  // No leader now: the liveness check's concern.
    std::shared_ptr<core::replica::Replica> leading = found->second.lock();
    if (leading == nullptr) return {};
    std::vector<std::string> stalled;
    for (const auto& [node, weak] : replicas_) {
      std::shared_ptr<core::replica::Replica> replica = weak.lock();
      if (replica == nullptr || !world_.IsUp(node)) continue;
      if (!leading->membership().IsMember(node)) continue;
      const uint64_t applied = replica->applied().value();
      const auto then = before.by_node.find(node);
      const uint64_t applied_then = then == before.by_node.end() ? 0 : then->second;
      if (applied >= before.most || applied > applied_then) continue;
      stalled.push_back(fmt::format(
          "replication not restored: {}, a member of {}'s configuration, applied nothing in the "
          "last {} of the heal phase (at i{}) though the group had applied through i{} before",
          node.ToString(), leader.ToString(), io::FormatDuration(kCatchUpWindow), applied,
          before.most));
    }
    return stalled;
  }
  void StartAudit() { audit_after_ = world_.Now(); }
  uint64_t MaxAppliedSinceAudit() const {
    uint64_t best = 0;
    for (const auto& [node, index] : applied_since_audit_) best = std::max(best, index);
    return best;
  }

  // `node`, leader of `term`, serves a lease read at `index` (Replica::LeaseRead) now. Checked
  // at that instant against what the observer knows of the whole group, as the pure harness's
  // standing lease invariant (core/raft/design.md): a valid lease means no later term has had a
  // leader, and the read index covers every entry applied anywhere (applied means committed).
  void OnLeaseRead(io::NodeId node, Term term, Index index) {
    lease_reads_++;
    world_.Trace(node,
                 fmt::format("raft lease read at {} in {}", index.ToString(), term.ToString()));
    const Term newest = checker_.newest_led_term();
    // Each check reports a leader's term once (the reads after the first say nothing new).
    if (newest > term && lease_reports_.insert({LeaseCheck::kServedTerm, node, term}).second) {
      Violation(fmt::format("lease-outlives-promise: {} served a lease read in {} but {} led {}",
                            node.ToString(), term.ToString(),
                            checker_.leaders().at(newest).ToString(), newest.ToString()));
    }
    const uint64_t applied = max_applied_index();
    if (index.value() < applied &&
        lease_reports_.insert({LeaseCheck::kServedIndex, node, term}).second) {
      Violation(
          fmt::format("stale-lease-read: {} served a lease read at {} in {} but {} is "
                      "applied (so committed)",
                      node.ToString(), index.ToString(), term.ToString(), applied));
    }
  }
  uint64_t lease_reads() const { return lease_reads_; }
  // `leader` accepted a request to hand leadership to `transferee` (Replica::TransferLeadership).
  void OnTransfer(io::NodeId leader, io::NodeId transferee) {
    transfers_++;
    transfer_target_ = transferee;
    transfer_requested_ = world_.Now();
    transfer_deaf_ = false;
    world_.Trace(leader, fmt::format("raft transfer to {} requested", transferee.ToString()));
  }
  uint64_t transfers() const { return transfers_; }
  // Transfers whose target was the next leader elected, within kHandoverWindow of the request.
  uint64_t transfers_won() const { return transfers_won_; }
  uint64_t transfers_won_deaf() const { return transfers_won_deaf_; }  // Old leader deaf.

  // The replica `node` serves from now on (a restart opens a new one).
  void Serving(io::NodeId node, const std::shared_ptr<core::replica::Replica>& replica) {
    replicas_[node] = replica;
  }
  // The replica that leads now: up, and leader of the newest term any up replica leads in.
  io::NodeId LeaderNow() const { return LeaderAndTermNow().node; }
  // An election is over: a replica that is up leads in the newest term any replica that is up
  // knows (a leader cut off in an older term does not count, nor does a term still campaigning).
  bool LeaderOfNewestTermNow() const {
    Term newest;
    for (const auto& [node, weak] : replicas_) {
      std::shared_ptr<core::replica::Replica> replica = weak.lock();
      if (replica != nullptr && world_.IsUp(node)) newest = std::max(newest, replica->term());
    }
    const LeaseRivals::Leader leader = LeaderAndTermNow();
    return leader.node != io::NodeId() && leader.term == newest;
  }
  LeaseRivals::Leader LeaderAndTermNow() const {
    LeaseRivals::Leader leader;
    for (const auto& [node, weak] : replicas_) {
      std::shared_ptr<core::replica::Replica> replica = weak.lock();
      if (replica == nullptr || !world_.IsUp(node)) continue;
      if (replica->role() == core::raft::Role::kLeader && replica->term() > leader.term) {
        leader = {node, replica->term()};
      }
    }
    return leader;
  }
  // The standing lease invariant, whenever a leader is published: no other replica that is up
  // may hold a lease it could serve from now (Replica::LeaseRead, which counts the ticks a
  // paused or stalled driver owes). Its lease, if valid, rests on voters that promised not to
  // vote, so no later term could have elected `elected`.
  void CheckStandingLeases(io::NodeId elected) {
    for (const auto& [node, weak] : replicas_) {
      std::shared_ptr<core::replica::Replica> replica = weak.lock();
      if (node == elected || replica == nullptr || !world_.IsUp(node)) continue;
      Term term;
      if (!replica->LeaseRead(&term).ok()) continue;
      if (term < checker_.newest_led_term() &&
          lease_reports_.insert({LeaseCheck::kStanding, node, term}).second) {
        Violation(
            fmt::format("lease-outlives-promise: {} holds a lease in {} as {} is elected "
                        "for {}",
                        node.ToString(), term.ToString(), elected.ToString(),
                        checker_.newest_led_term().ToString()));
      }
    }
  }

  size_t Invoke(std::string value) {
    ops_.push_back({std::move(value), ClientOp::Outcome::kPending, world_.Now()});
    return ops_.size() - 1;
  }
  void Complete(size_t op, ClientOp::Outcome outcome, uint64_t index = 0) {
    MERIDIAN_CHECK(ops_[op].outcome == ClientOp::Outcome::kPending);
    ops_[op].outcome = outcome;
    ops_[op].completed = world_.Now();
    ops_[op].index = index;
  }

  std::vector<std::string> Verdict(io::Instant healed_at) const {
    std::vector<std::string> problems = violations_;
    CheckReadsAreLinearizable(problems);
    bool progressed = false;
    for (const ClientOp& op : ops_) {
      if (op.outcome != ClientOp::Outcome::kOk || op.value.empty()) continue;
      progressed |= op.completed >= healed_at && op.completed <= healed_at + kLivenessWindow;
      const auto& applied = checker_.committed();
      auto it = applied.find(Index(op.index));
      if (it == applied.end() || it->second.entry.data != op.value) {
        problems.push_back(fmt::format(
            "acknowledged value {} at index {} is not what the group "
            "applied there after the audit ('{}')",
            op.value, op.index, it == applied.end() ? "nothing" : it->second.entry.data));
      }
    }
    if (!progressed) {
      problems.push_back(fmt::format("no proposal committed within {} after the heal",
                                     io::FormatDuration(kLivenessWindow)));
    }
    return problems;
  }

  // A read's index must cover every write acknowledged before the read was invoked (real time).
  void CheckReadsAreLinearizable(std::vector<std::string>& problems) const {
    if (std::optional<std::string> stale = FindStaleLeaseRead(ops_)) problems.push_back(*stale);
  }

  uint64_t leaders_elected() const { return leaders_elected_; }
  // Proposals only (the run's ops counts); lease reads are counted by lease_reads().
  uint64_t count(ClientOp::Outcome outcome) const {
    return static_cast<uint64_t>(std::count_if(ops_.begin(), ops_.end(), [&](const ClientOp& op) {
      return op.outcome == outcome && !op.value.empty();
    }));
  }
  uint64_t max_acknowledged_index() const {
    uint64_t best = 0;
    for (const ClientOp& op : ops_) {
      if (op.outcome == ClientOp::Outcome::kOk && !op.value.empty())
        best = std::max(best, op.index);
    }
    return best;
  }
  uint64_t max_applied_index() const {
    const auto& applied = checker_.committed();
    return applied.empty() ? 0 : applied.rbegin()->first.value();
  }
  std::vector<int64_t> commit_latencies_ns() const {
    std::vector<int64_t> latencies;
    for (const ClientOp& op : ops_) {
      if (op.outcome == ClientOp::Outcome::kOk && !op.value.empty())
        latencies.push_back((op.completed - op.invoked).count());
    }
    return latencies;
  }

 private:
  World& world_;
  ElectionFaults* election_faults_ = nullptr;
  TransferFaults* transfer_faults_ = nullptr;
  LeaseRivals* lease_rivals_ = nullptr;
  ConfChangeFaults* conf_change_faults_ = nullptr;
  uint64_t membership_changes_ = 0;
  absl::btree_set<io::NodeId> configuration_reports_;
  // Also what the group applied at each index (the audit compares acknowledged values to it).
  core::raft::testing::SafetyChecker checker_;
  absl::btree_map<io::NodeId, uint64_t> applied_since_audit_;
  io::Instant audit_after_ = io::Instant::Infinite();
  std::vector<ClientOp> ops_;
  std::vector<std::string> violations_;
  uint64_t leaders_elected_ = 0;
  uint64_t lease_reads_ = 0;
  uint64_t transfers_ = 0;
  uint64_t transfers_won_ = 0;
  uint64_t transfers_won_deaf_ = 0;
  bool transfer_deaf_ = false;  // TransferFaults made the newest transfer's old leader deaf.
  io::NodeId transfer_target_;  // Of the newest transfer, until the next election.
  io::Instant transfer_requested_;
  // Each lease check reports a leader's term once: (check, leader, term) already reported.
  enum class LeaseCheck : uint8_t { kStanding, kServedTerm, kServedIndex };
  absl::btree_set<std::tuple<LeaseCheck, io::NodeId, Term>> lease_reports_;
  absl::btree_map<io::NodeId, std::weak_ptr<core::replica::Replica>> replicas_;
};

std::vector<uint8_t> Bytes(std::string_view text) { return {text.begin(), text.end()}; }

// The membership operator's next single-server change, drawn by `choice`: promote a learner
// (one time in four, remove it instead); with more voters than the run started with, remove
// one other than the leader (one time in two, demote it to a learner instead, which the next
// change promotes back or removes); else add a server from outside the configuration as a
// learner.
std::optional<core::raft::ConfChange> NextConfChange(const core::raft::Membership& membership,
                                                     io::NodeId leader, const GroupShape& shape,
                                                     uint64_t choice) {
  using core::raft::ConfChangeKind;
  const auto pick = [choice](const std::vector<io::NodeId>& from) {
    return from[choice % from.size()];
  };
  if (!membership.learners.empty()) {
    const bool remove = (choice / 16) % 4 == 0;
    return core::raft::ConfChange{
        .kind = remove ? ConfChangeKind::kRemove : ConfChangeKind::kAddVoter,
        .node = pick({membership.learners.begin(), membership.learners.end()})};
  }
  if (membership.voters.size() > shape.replicas) {
    std::vector<io::NodeId> others;
    for (io::NodeId voter : membership.voters) {
      if (voter != leader) others.push_back(voter);
    }
    const bool demote = (choice / 64) % 2 == 0;
    return core::raft::ConfChange{
        .kind = demote ? ConfChangeKind::kDemote : ConfChangeKind::kRemove, .node = pick(others)};
  }
  std::vector<io::NodeId> outside;
  for (uint32_t i = 1; i <= shape.servers; i++) {
    if (!membership.IsMember(io::NodeId(i))) outside.push_back(io::NodeId(i));
  }
  if (outside.empty()) return std::nullopt;
  return core::raft::ConfChange{.kind = ConfChangeKind::kAddLearner, .node = pick(outside)};
}

std::string ServeConfChange(core::replica::Replica& replica, io::Runtime& rt,
                            RaftObserver& observer, const GroupShape& shape, uint64_t choice) {
  const Index based_on = replica.membership_index();
  const std::optional<core::raft::ConfChange> change =
      NextConfChange(replica.membership(), rt.node(), shape, choice);
  if (!change.has_value()) return "FAIL no change to make";
  observer.BeforeConfChange(rt.node());
  absl::StatusOr<Index> index = replica.ProposeConfChange(*change, based_on, rt.Now() + seconds(1));
  if (!index.ok()) return "FAIL " + index.status().ToString();
  observer.OnConfChange(rt.node(), *change, *index);
  return fmt::format("OK {}", index->value());
}

std::string Serve(core::replica::Replica& replica, io::Runtime& rt, RaftObserver& observer,
                  const GroupShape& shape, const std::string& request) {
  uint64_t transferee = 0;
  const bool transfer = std::sscanf(request.c_str(), "T %lu", &transferee) == 1;
  if (transfer && (transferee == 0 || transferee > core::raft::kVotersMax)) {
    return "FAIL bad transfer target";
  }
  uint64_t choice = 0;
  const bool conf_change = std::sscanf(request.c_str(), "C %lu", &choice) == 1;
  if (request != "R" && request.rfind("P ", 0) != 0 && !transfer && !conf_change) {
    return "FAIL bad request";
  }
  if ((transfer || conf_change) && observer.TargetedFaultsPaused()) {
    return "FAIL the operator waits for a lease-rivals episode to end";
  }
  if (replica.role() != core::raft::Role::kLeader) {
    return fmt::format("NOTLEADER {}", replica.leader().value());
  }
  if (conf_change) return ServeConfChange(replica, rt, observer, shape, choice);
  if (transfer) {
    const absl::Status status = replica.TransferLeadership(
        io::NodeId(static_cast<uint32_t>(transferee)), rt.Now() + seconds(1));
    if (!status.ok()) return "FAIL " + status.ToString();
    observer.OnTransfer(rt.node(), io::NodeId(static_cast<uint32_t>(transferee)));
    return "OK 0";
  }
  if (request == "R") {
    Term term;
    absl::StatusOr<Index> read = replica.LeaseRead(&term);
    if (!read.ok()) return "FAIL " + read.status().ToString();
    observer.OnLeaseRead(rt.node(), term, *read);
    return fmt::format("READ {}", read->value());
  }
  absl::StatusOr<Index> index = replica.ProposeAndWait(request.substr(2), rt.Now() + seconds(3));
  if (index.ok()) return fmt::format("OK {}", index->value());
  if (absl::IsFailedPrecondition(index.status())) return "NOTLEADER 0";
  if (absl::IsAborted(index.status()) || absl::IsResourceExhausted(index.status()) ||
      absl::IsUnavailable(index.status())) {
    return "FAIL " + index.status().ToString();
  }
  return "INFO " + index.status().ToString();
}

void RunServer(io::Runtime& rt, RaftObserver& observer, core::replica::ReplicaOptions options,
               io::Address listen, GroupShape shape) {
  absl::StatusOr<std::shared_ptr<core::replica::Replica>> opened =
      core::replica::Replica::Open(rt, options, &observer);
  if (!opened.ok()) {
    observer.Violation(fmt::format("{} could not reopen its replica: {}", rt.node().ToString(),
                                   opened.status().ToString()));
    return;
  }
  std::shared_ptr<core::replica::Replica> replica = *opened;
  observer.Serving(rt.node(), replica);
  rt.Spawn("dispatch", [&rt, &observer, replica, group = options.group] {
    while (true) {
      absl::StatusOr<io::PeerMessage> message = rt.network().Receive(io::Instant::Infinite());
      if (!message.ok()) return;
      absl::StatusOr<core::wire::PeerRaftMessage> decoded =
          core::wire::DecodePeerMessage(message->payload);
      if (!decoded.ok() || decoded->group != group || decoded->message.from != message->from ||
          decoded->message.to != rt.node()) {
        MERIDIAN_PROBE("raft sim: rejected a peer message");
        continue;
      }
      std::vector<core::raft::Message> after;
      if (!observer.OnDeliver(rt.node(), decoded->message, &after)) continue;  // Held.
      replica->Deliver(std::move(decoded->message));
      for (core::raft::Message& next : after) replica->Deliver(std::move(next));
    }
  });
  absl::StatusOr<std::unique_ptr<io::Listener>> listener = rt.network().Listen(listen);
  MERIDIAN_CHECK(listener.ok(), "{}", listener.status().ToString());
  while (true) {
    absl::StatusOr<std::unique_ptr<io::Stream>> stream =
        (*listener)->Accept(io::Instant::Infinite());
    if (!stream.ok()) return;
    std::shared_ptr<io::Stream> connection(std::move(*stream));
    rt.Spawn("client-conn", [&rt, &observer, connection, replica, shape] {
      io::FrameReader reader(*connection);
      while (true) {
        absl::StatusOr<std::vector<uint8_t>> request = reader.Read(io::Instant::Infinite());
        if (!request.ok()) return;
        const std::string reply =
            Serve(*replica, rt, observer, shape, std::string(request->begin(), request->end()));
        if (!io::WriteFrame(*connection, Bytes(reply), rt.Now() + seconds(2)).ok()) return;
      }
    });
  }
}

// After a refusal: the server named in a NOTLEADER hint, else any server.
size_t NextTarget(io::Random& random, const std::string& reply, size_t servers) {
  uint64_t hint = 0;
  if (std::sscanf(reply.c_str(), "NOTLEADER %lu", &hint) == 1 && hint >= 1 && hint <= servers) {
    return hint - 1;
  }
  return random.Below(servers);
}

// A client's connection loop: connects to its target and runs `operation` on the connection
// until it returns the next target (a new connection), pausing 5-50 ms between connections.
// `operation` gets the current target and returns nullopt to go on with the same connection.
using ClientOperation =
    std::function<std::optional<size_t>(io::Stream&, io::FrameReader&, size_t target)>;
void ClientLoop(io::Runtime& rt, io::Random& random, const std::vector<io::Address>& servers,
                const ClientOperation& operation) {
  size_t target = random.Below(servers.size());
  while (true) {
    absl::StatusOr<std::unique_ptr<io::Stream>> stream =
        rt.network().Connect(servers[target], rt.Now() + seconds(1));
    if (stream.ok()) {
      io::FrameReader reader(**stream);
      std::optional<size_t> next;
      while (!next.has_value()) next = operation(**stream, reader, target);
      target = *next;
      (*stream)->Close();
    } else {
      target = random.Below(servers.size());
    }
    if (!rt.Sleep(milliseconds(random.Between(5, 50))).ok()) return;
  }
}

// Proposes unique values, one at a time.
void RunClient(io::Runtime& rt, RaftObserver& observer, uint32_t client,
               const std::vector<io::Address>& servers) {
  uint64_t sequence = 0;
  ClientLoop(
      rt, rt.random(), servers, [&](io::Stream& stream, io::FrameReader& reader, size_t target) {
        std::optional<size_t> next;
        const std::string value = std::to_string(uint64_t{client} * 1'000'000'000 + sequence++);
        const size_t op = observer.Invoke(value);
        if (!io::WriteFrame(stream, Bytes("P " + value), rt.Now() + seconds(2)).ok()) {
          observer.Complete(op, ClientOp::Outcome::kFail);
          return next = target;
        }
        absl::StatusOr<std::vector<uint8_t>> reply = reader.Read(rt.Now() + seconds(5));
        if (!reply.ok()) {
          observer.Complete(op, ClientOp::Outcome::kInfo);
          return next = target;
        }
        const std::string text(reply->begin(), reply->end());
        uint64_t index = 0;
        if (std::sscanf(text.c_str(), "OK %lu", &index) == 1) {
          observer.Complete(op, ClientOp::Outcome::kOk, index);
          return next;
        }
        if (text.rfind("INFO", 0) == 0) {
          observer.Complete(op, ClientOp::Outcome::kInfo);
          return next = target;
        }
        observer.Complete(op, ClientOp::Outcome::kFail);
        return next = NextTarget(rt.random(), text, servers.size());
      });
}

// Lease reads (Replica::LeaseRead) every 5-20 ms, each judged by the observer as it is served
// and against the writes acknowledged before it (RaftObserver::CheckReadsAreLinearizable).
void RunReader(io::Runtime& rt, RaftObserver& observer, const std::vector<io::Address>& servers) {
  io::Random random = rt.random().Fork("reader");  // The writer's draws stay what they were.
  ClientLoop(rt, random, servers, [&](io::Stream& stream, io::FrameReader& reader, size_t target) {
    std::optional<size_t> next;
    const size_t op = observer.Invoke("");
    if (!io::WriteFrame(stream, Bytes("R"), rt.Now() + seconds(2)).ok()) {
      observer.Complete(op, ClientOp::Outcome::kFail);
      return next = target;
    }
    absl::StatusOr<std::vector<uint8_t>> reply = reader.Read(rt.Now() + seconds(5));
    if (!reply.ok()) {
      observer.Complete(op, ClientOp::Outcome::kFail);  // A read has no effect to be unsure of.
      return next = target;
    }
    const std::string text(reply->begin(), reply->end());
    uint64_t index = 0;
    const bool served = std::sscanf(text.c_str(), "READ %lu", &index) == 1;
    observer.Complete(op, served ? ClientOp::Outcome::kOk : ClientOp::Outcome::kFail, index);
    if (text.rfind("NOTLEADER", 0) == 0) return next = NextTarget(random, text, servers.size());
    // Served, or refused by a leader without a lease now (new, expired, transferring).
    if (!rt.Sleep(milliseconds(random.Between(5, 20))).ok()) next = target;
    return next;
  });
}

// See RaftSimOptions::transfers. An operator on a client node asks the leader it knows to hand
// leadership to another server of its choice ("T n"), every 0.2-2 s until `until`.
void RunTransfers(io::Runtime& rt, const std::vector<io::Address>& servers, io::Instant until) {
  io::Random random = rt.random().Fork("transfers");  // The node's other draws stay the same.
  ClientLoop(rt, random, servers, [&](io::Stream& stream, io::FrameReader& reader, size_t target) {
    std::optional<size_t> next;
    if (rt.Now() >= until) {  // The fault phase is over: transfers end with it.
      if (!rt.Sleep(io::Duration(std::chrono::hours(24))).ok()) next = target;
      return next;
    }
    size_t transferee = random.Below(servers.size() - 1);
    if (transferee >= target) transferee++;  // Any server but the one asked.
    const std::string request = fmt::format("T {}", transferee + 1);
    if (!io::WriteFrame(stream, Bytes(request), rt.Now() + seconds(2)).ok()) return next = target;
    absl::StatusOr<std::vector<uint8_t>> reply = reader.Read(rt.Now() + seconds(5));
    if (!reply.ok()) return next = target;
    const std::string text(reply->begin(), reply->end());
    if (text.rfind("NOTLEADER", 0) == 0) return next = NextTarget(random, text, servers.size());
    // Done or refused (a transfer in progress, a target that is not a voter): wait either way.
    if (!rt.Sleep(milliseconds(random.Between(200, 2000))).ok()) next = target;
    return next;
  });
}

// See RaftSimOptions::membership. An operator on a client node asks the leader it knows for the
// next configuration change ("C choice"; the leader picks it, NextConfChange) until `until`.
void RunMembershipOperator(io::Runtime& rt, const std::vector<io::Address>& servers,
                           io::Instant until) {
  io::Random random = rt.random().Fork("membership");  // The node's other draws stay the same.
  ClientLoop(rt, random, servers, [&](io::Stream& stream, io::FrameReader& reader, size_t target) {
    std::optional<size_t> next;
    if (rt.Now() >= until) {  // The fault phase is over: changes end with it.
      if (!rt.Sleep(io::Duration(std::chrono::hours(24))).ok()) next = target;
      return next;
    }
    const std::string request = fmt::format("C {}", random.Next());
    if (!io::WriteFrame(stream, Bytes(request), rt.Now() + seconds(2)).ok()) return next = target;
    absl::StatusOr<std::vector<uint8_t>> reply = reader.Read(rt.Now() + seconds(5));
    if (!reply.ok()) return next = target;
    const std::string text(reply->begin(), reply->end());
    if (text.rfind("NOTLEADER", 0) == 0) return next = NextTarget(random, text, servers.size());
    // A third of the time the next change follows at once: a leader that lets changes overlap
    // (planted bug concurrent-config-changes) appends it before the first one commits.
    const io::Duration pause = random.Chance(1, 3)
                                   ? random.Between(milliseconds(0), milliseconds(20))
                                   : random.Between(milliseconds(100), milliseconds(1000));
    if (!rt.Sleep(pause).ok()) next = target;
    return next;
  });
}

// Crashes `node`, flips a bit of one of its synced log segments, and restarts it `down` later
// from the damaged disk (core/log's recovery cuts the log at the flip).
void DamageAtRest(World& world, FaultAtlas& atlas, io::NodeId node, io::Duration down,
                  uint64_t where_seed) {
  world.Crash(node);
  io::Random where(where_seed);
  world.disk(node).CorruptAtRest(atlas, where, ".seg");
  world.Schedule(world.Now() + down, node, "restart after damage", [&world, node] {
    if (!world.IsUp(node)) world.Start(node);
  });
}

// See RaftSimOptions::damage_at_rest. Each event runs only if its replica is up; the replica
// restarts 0.2-2 s later. The last event, late in the fault phase, aims at a follower of the
// leader of the moment: the leader that recorded what the follower held is then likely to lead
// on through the heal phase, where a follower it fails to repair stays behind for good (the
// replication-restored check), while the earlier events' leaders are mostly replaced by faults.
void ScheduleDamageAtRest(World& world, const std::vector<io::NodeId>& servers, io::Random random,
                          FaultAtlas& atlas, io::Duration fault_phase,
                          std::function<io::NodeId()> leader_now) {
  if (!random.Chance(1, 2)) return;
  const uint64_t events = random.Between(1, 3);
  for (uint64_t i = 0; i < events; i++) {
    const io::NodeId node = servers[random.Below(servers.size())];
    const io::Instant at = world.Now() + io::Duration(random.Between(fault_phase.count() / 10,
                                                                     fault_phase.count() * 8 / 10));
    const io::Duration down = milliseconds(random.Between(200, 2000));
    const uint64_t where_seed = random.Next();
    world.Schedule(at, node, "damage at rest", [&world, &atlas, node, down, where_seed] {
      if (world.IsUp(node)) DamageAtRest(world, atlas, node, down, where_seed);
    });
  }
  const io::Instant late =
      world.Now() +
      io::Duration(random.Between(fault_phase.count() * 92 / 100, fault_phase.count() * 98 / 100));
  const io::Instant fault_phase_ends = world.Now() + fault_phase;
  const io::Duration down = milliseconds(random.Between(100, 400));
  const uint64_t pick_seed = random.Next();
  const uint64_t where_seed = random.Next();
  // Until the fault phase ends, every 100 ms until there is a leader and a follower the atlas
  // lets it damage (the one node already damaged, if any).
  auto attempt = std::make_shared<std::function<void()>>();
  *attempt = [&world, &atlas, servers, leader_now = std::move(leader_now), down, pick_seed,
              where_seed, fault_phase_ends, weak = std::weak_ptr(attempt)] {
    const io::NodeId leader = leader_now();
    std::vector<io::NodeId> followers;
    for (io::NodeId node : servers) {
      if (node != leader && world.IsUp(node) &&
          (atlas.stores_damaged() == 0 || atlas.damaged_on(node))) {
        followers.push_back(node);
      }
    }
    if (leader != io::NodeId() && !followers.empty()) {
      io::Random pick(pick_seed);
      DamageAtRest(world, atlas, followers[pick.Below(followers.size())], down, where_seed);
      return;
    }
    const io::Instant next = world.Now() + milliseconds(100);
    if (std::shared_ptr<std::function<void()>> again = weak.lock();
        again && next < fault_phase_ends) {
      world.Schedule(next, io::NodeId(0), "damage at rest: a follower of the leader",
                     [again] { (*again)(); });
    }
  };
  // The scheduled events own the attempt; it holds itself only weakly.
  world.Schedule(late, io::NodeId(0), "damage at rest: a follower of the leader",
                 [attempt] { (*attempt)(); });
}

}  // namespace

const absl::btree_set<FaultKind>& RaftSimFaultKinds() {
  // Plus full disks: the replica waits ENOSPC out and resumes once space is back (issue 15).
  static const absl::btree_set<FaultKind>* const kinds = [] {
    auto* all = new absl::btree_set<FaultKind>(ReplicatedLogFaultKinds());
    all->insert(FaultKind::kDiskFull);
    return all;
  }();
  return *kinds;
}

SimulationOptions RaftAsSimulationOptions(const RaftSimOptions& options) {
  SimulationOptions simulation{.seed = options.seed,
                               .workload = "raft",
                               .fault_phase = options.fault_phase,
                               .heal_phase = options.heal_phase,
                               .clients = options.clients,
                               .only_kinds = options.only_kinds,
                               .schedule = options.schedule,
                               .keep_faults = options.keep_faults};
  simulation.raft_replicas = options.replicas;
  simulation.raft_bug = options.bug;
  simulation.election_schedule = options.election_schedule;
  simulation.raft_damage_at_rest = options.damage_at_rest;
  simulation.raft_transfers = options.transfers;
  simulation.raft_slow_acks = options.slow_acks;
  simulation.raft_lease_rivals = options.lease_rivals;
  simulation.raft_membership = options.membership;
  simulation.election_window = options.replication_window;
  return simulation;
}

std::string RaftReproCommand(const RaftSimOptions& options) {
  return ReproCommand(RaftAsSimulationOptions(options));
}

namespace {

// A duration in milliseconds, for the JSON report.
std::optional<double> Milliseconds(const std::optional<io::Duration>& duration) {
  if (!duration.has_value()) return std::nullopt;
  return static_cast<double>(
             std::chrono::duration_cast<std::chrono::microseconds>(*duration).count()) /
         1e3;
}

}  // namespace

SimulationResult RunRaftWorkload(const SimulationOptions& options,
                                 const std::function<void(std::string_view)>& trace_sink) {
  MERIDIAN_CHECK(options.history_path.empty(), "the raft workload writes no history");
  io::probe::Reset();
  RaftSimOptions raft{.seed = options.seed,
                      .replicas = options.raft_replicas,
                      .clients = options.clients != 0 ? options.clients : 2,
                      .fault_phase = options.fault_phase,
                      .heal_phase = options.heal_phase,
                      .bug = options.raft_bug,
                      .damage_at_rest = options.raft_damage_at_rest,
                      .election_schedule = options.election_schedule,
                      .transfers = options.raft_transfers,
                      .slow_acks = options.raft_slow_acks,
                      .lease_rivals = options.raft_lease_rivals,
                      .membership = options.raft_membership,
                      .only_kinds = options.only_kinds,
                      .schedule = options.schedule,
                      .keep_faults = options.keep_faults,
                      .trace = trace_sink,
                      .replication_window = options.election_window};
  const RaftSimResult run = RunRaftSimulation(raft);
  SimulationResult result;
  result.seed = options.seed;
  result.scenario = fmt::format("raft-{}", raft.replicas);
  result.workload = "raft";
  result.clients = raft.clients;
  result.virtual_s = run.virtual_s;
  result.events = run.events;
  result.trace_hash = run.trace_hash;
  result.faults = run.faults;
  result.ops_ok = run.ops_ok;
  result.ops_fail = run.ops_fail;
  result.ops_info = run.ops_info;
  result.violations = run.violations;
  result.schedule = run.schedule;
  result.schedule_generated = run.schedule_generated;
  result.probes = io::probe::Snapshot();
  result.raft =
      RaftReport{.replicas = raft.replicas,
                 .bug = core::raft::PlantedBugName(raft.bug),
                 .election_faults = ElectionScheduleName(run.election_schedule),
                 .election_episodes = run.election_episodes,
                 .leaders_elected = run.leaders_elected,
                 .elected_after_heal_ms = Milliseconds(run.elected_after_heal),
                 .elected_after_audit_ms = Milliseconds(run.elected_after_audit),
                 .replication_window = run.replication_window,
                 .transfers = run.transfers_on ? std::optional(run.transfers) : std::nullopt,
                 .membership_changes =
                     run.membership_on ? std::optional(run.membership_changes) : std::nullopt};
  return result;
}

bool OnlyUnavailable(const std::vector<std::string>& violations) {
  return std::all_of(violations.begin(), violations.end(), [](const std::string& v) {
    return v.starts_with("no proposal committed within") ||
           v.starts_with("election not over within") ||
           v.starts_with("after the audit restart the group re-applied only");
  });
}

namespace {

// Runs until an election is over (RaftObserver::LeaderOfNewestTermNow) or `deadline`; how long
// that took, or nothing if it did not end by then (or the event budget ran out).
std::optional<io::Duration> RunUntilElected(World& world, const RaftObserver& observer,
                                            const std::function<bool()>& over_budget,
                                            io::Instant deadline) {
  const io::Instant from = world.Now();
  const bool elected =
      world.RunUntil([&] { return over_budget() || observer.LeaderOfNewestTermNow(); }, deadline);
  if (!elected || over_budget()) return std::nullopt;
  return world.Now() - from;
}

// Whether a run has one of the targeted faults: the option if set, else one seed in two (from
// the fault's own fork, drawn only when the run has faults and at least `replicas_min`).
bool TargetedFaultOn(const RaftSimOptions& options, uint32_t replicas_min,
                     const std::optional<bool>& choice, io::Random& random) {
  return options.faults && options.replicas >= replicas_min &&
         (choice.has_value() ? *choice : random.Chance(1, 2));
}

}  // namespace

RaftSimResult RunRaftSimulation(const RaftSimOptions& options) {
  MERIDIAN_CHECK(options.replicas >= 1 && options.replicas <= core::raft::kVotersMax);
  MERIDIAN_CHECK(
      !options.damage_at_rest.value_or(false) || options.replicas >= kDamageAtRestReplicasMin,
      "damage at rest needs {} replicas or more (asked for {})", kDamageAtRestReplicasMin,
      options.replicas);
  const bool damage_at_rest = RaftDamageAtRestOn(options.damage_at_rest, options.replicas);
  const io::Random root(options.seed);
  io::Random swarm_random = root.Fork("raft-swarm");
  io::Random schedule_random = root.Fork("raft-schedule");
  SwarmConfig swarm{.fault_phase = options.fault_phase, .heal_phase = options.heal_phase};
  for (FaultKind kind : RaftSimFaultKinds()) {
    if (swarm_random.Chance(1, 2) && options.faults) swarm.enabled.insert(kind);
  }
  if (options.faults && !options.only_kinds.empty()) swarm.enabled = options.only_kinds;
  RaftSimResult result;
  // Its own fork: the seeds without the operator run as they did before it existed.
  io::Random membership_random = root.Fork("raft-membership");
  result.membership_on = TargetedFaultOn(options, 2, options.membership, membership_random);
  const GroupShape shape{.replicas = options.replicas,
                         .servers = options.replicas + (result.membership_on ? 1 : 0)};
  WorldOptions world_options{.seed = options.seed};
  NemesisTargets targets;
  targets.regions.resize(kRegions.size() + 1);
  std::vector<io::Address> addresses;
  core::raft::Membership membership;
  for (uint32_t i = 1; i <= shape.servers; i++) {
    const io::NodeId node(i);
    const bool spare = i > options.replicas;
    const size_t region_index = spare ? kRegions.size() : (i - 1) % kRegions.size();
    const std::string& region = spare ? kSpareRegion : kRegions[region_index];
    world_options.topology.Place(node, {region, region + "-" + std::to_string(i)});
    targets.servers.push_back(node);
    targets.regions[region_index].push_back(node);
    addresses.push_back({fmt::format("replica{}", i), kClientPort});
    if (!spare) membership.voters.insert(node);
  }
  std::erase_if(targets.regions, [](const auto& region) { return region.empty(); });
  std::vector<FaultEvent> generated;
  if (options.schedule.has_value()) {
    const std::string error = ExplicitScheduleError(
        *options.schedule,
        ScheduleEnvelope{.kinds = &RaftSimFaultKinds(),
                         .fault_phase = options.fault_phase,
                         .regions = targets.regions.size(),
                         .slow_fsync_ppm_max = kDiskRatePpmMax * kRaftSlowFsyncScale});
    MERIDIAN_CHECK(error.empty(), "explicit fault schedule: {}", error);
    generated = *options.schedule;
  } else {
    generated = GenerateSchedule(schedule_random, swarm, targets);
    for (FaultEvent& event : generated) {
      // Raft's durability bugs hide in the window between a write and its fsync: when slow
      // fsyncs are on, make them common enough that crashes land inside that window.
      if (event.kind == FaultKind::kSlowFsync) event.rate_ppm *= kRaftSlowFsyncScale;
      // A region lost for good must leave a quorum of voters, as the atlas never damages more
      // than the group survives: with 2 or 4 replicas over three regions one region holds half
      // of the voters, and losing it for good left every honest seed unavailable (2 replicas:
      // 34 of seeds 1-200). Such a loss comes back after the longest outage instead. Every
      // server of the region counts as a voter: the membership operator moves voters onto the
      // spare.
      if (event.kind == FaultKind::kRegionLoss && event.length.count() == 0) {
        const size_t lost = std::min<size_t>(targets.RegionOf(event).size(), options.replicas);
        if (options.replicas - lost < options.replicas / 2 + 1) event.length = kDiscreteLengthMax;
      }
    }
  }
  result.schedule_generated = generated.size();
  result.schedule = KeepScheduleEntries(generated, options.keep_faults);
  ApplyRunWideFaults(result.schedule, &world_options);
  World world(world_options);
  if (options.trace) world.SetTraceSink(options.trace);
  RaftObserver observer(world);
  // The replication window (RaftOptions::append_entries_max): a quarter of the seeds send one
  // entry per append with one append in flight (what exposes commit rules that batching hides),
  // a quarter four and four, the rest the defaults. Its own fork, like the election schedules.
  io::Random window_random = root.Fork("raft-window");
  const uint32_t drawn = window_random.Chance(1, 2) ? 0 : window_random.Chance(1, 2) ? 1 : 4;
  const uint32_t window = options.replication_window.value_or(drawn);
  result.replication_window = window;
  for (uint32_t i = 1; i <= shape.servers; i++) {
    core::replica::ReplicaOptions replica_options;
    if (window > 0) {
      replica_options.raft.append_entries_max = window;
      replica_options.raft.inflight_messages_max = window;
    }
    replica_options.raft.id = io::NodeId(i);
    replica_options.raft.bootstrap = membership;
    replica_options.raft.planted_bug = options.bug;
    // Even seeds keep no entry cache (raft_log.h): every entry a lagging follower needs, and
    // every entry re-applied after a restart, is read back from the log; odd seeds the default.
    replica_options.raft.entry_cache_bytes_max =
        options.seed % 2 == 0 ? 0 : core::raft::kEntryCacheBytesMaxDefault;
    replica_options.tick = kReplicaTick;
    MERIDIAN_CHECK(replica_options.raft.election_timeout_ticks == 10, "kElectionBound assumes 10");
    world.AddNode(io::NodeId(i), addresses[i - 1].host,
                  [&observer, replica_options, address = addresses[i - 1], shape](io::Runtime& rt) {
                    RunServer(rt, observer, replica_options, address, shape);
                  });
  }
  // Its own fork: the seeds without transfers run as they did before transfers existed.
  io::Random transfer_random = root.Fork("raft-transfer");
  result.transfers_on = TargetedFaultOn(options, 2, options.transfers, transfer_random);
  const io::Instant healed_at = world.Now() + options.fault_phase;
  for (uint32_t c = 0; c < options.clients; c++) {
    const io::NodeId node(shape.servers + 1 + c);
    const bool operator_here = c == 0 && result.transfers_on;
    const bool membership_here = c == std::min(1u, options.clients - 1) && result.membership_on;
    world.AddNode(
        node, fmt::format("client{}", c), {kRegions[0], kRegions[0] + "-client"},
        [&observer, &addresses, c, operator_here, membership_here, healed_at](io::Runtime& rt) {
          rt.Spawn("reader", [&rt, &observer, &addresses] { RunReader(rt, observer, addresses); });
          if (operator_here) {
            rt.Spawn("transfers",
                     [&rt, &addresses, healed_at] { RunTransfers(rt, addresses, healed_at); });
          }
          if (membership_here) {
            rt.Spawn("membership", [&rt, &addresses, healed_at] {
              RunMembershipOperator(rt, addresses, healed_at);
            });
          }
          RunClient(rt, observer, c, addresses);
        });
  }
  FaultAtlas atlas;
  Nemesis nemesis(world, targets, atlas);
  nemesis.Install(result.schedule, options.fault_phase);
  if (options.faults && damage_at_rest) {
    ScheduleDamageAtRest(world, targets.servers, root.Fork("raft-damage"), atlas,
                         options.fault_phase, [&observer] { return observer.LeaderNow(); });
  }
  // Its own fork: the swarm's choices and schedule stay what they were without it.
  io::Random election_random = root.Fork("raft-election");
  result.election_schedule = !options.faults ? ElectionSchedule::kNone
                             : options.election_schedule.has_value()
                                 ? *options.election_schedule
                                 : ChooseElectionSchedule(election_random);
  ElectionFaults election_faults(world, nemesis, targets.servers, result.election_schedule,
                                 election_random.Fork("episodes"), healed_at);
  observer.set_election_faults(&election_faults);
  election_faults.set_voters_of([&observer](io::NodeId node) { return observer.VotersOf(node); });
  std::optional<TransferFaults> transfer_faults;
  if (result.transfers_on) {
    transfer_faults.emplace(world, targets.servers, transfer_random.Fork("faults"), healed_at);
    observer.set_transfer_faults(&*transfer_faults);
  }
  std::optional<SlowAcks> slow_acks;
  io::Random slow_acks_random = root.Fork("raft-slow-acks");
  result.slow_acks_on = TargetedFaultOn(options, 2, options.slow_acks, slow_acks_random);
  if (result.slow_acks_on) {
    slow_acks.emplace(world, targets.servers, slow_acks_random.Fork("episodes"), healed_at,
                      [&observer] { return observer.LeaderNow(); });
  }
  std::optional<LeaseRivals> lease_rivals;
  io::Random lease_rivals_random = root.Fork("raft-lease-rivals");
  result.lease_rivals_on = TargetedFaultOn(options, 3, options.lease_rivals, lease_rivals_random);
  if (result.lease_rivals_on) {
    lease_rivals.emplace(
        world, nemesis, targets.servers, lease_rivals_random.Fork("episodes"), healed_at,
        [&observer] { return observer.LeaderAndTermNow(); },
        [&observer](io::NodeId node) { return observer.VoterIdsOf(node); },
        [&world](const core::raft::Message& message) {
          world.network().Deliver(message.from, message.to,
                                  core::wire::EncodePeerMessage(kRaftGroup, message));
        });
    observer.set_lease_rivals(&*lease_rivals);
    election_faults.set_paused([&observer] { return observer.TargetedFaultsPaused(); });
    if (slow_acks.has_value()) {
      slow_acks->set_paused([&observer] { return observer.TargetedFaultsPaused(); });
    }
  }
  std::optional<ConfChangeFaults> conf_change_faults;
  std::function<void()> check_configurations;
  if (result.membership_on) {
    conf_change_faults.emplace(world, targets.servers, membership_random.Fork("faults"), healed_at);
    observer.set_conf_change_faults(&*conf_change_faults);
    check_configurations = [&world, &observer, &check_configurations] {
      observer.CheckConfigurations();
      world.Schedule(world.Now() + kConfigurationCheckInterval, io::NodeId(0),
                     "configuration check", check_configurations);
    };
    world.Schedule(world.Now() + kConfigurationCheckInterval, io::NodeId(0), "configuration check",
                   check_configurations);
  }
  io::Random lose_random = root.Fork("raft-lose-hard-state");
  const bool region_lost_for_good =
      std::any_of(result.schedule.begin(), result.schedule.end(), [](const FaultEvent& event) {
        return event.kind == FaultKind::kRegionLoss && event.length.count() == 0;
      });
  if (options.faults && damage_at_rest && !region_lost_for_good) {
    // Half of the voters a vote_restart episode crashes lose every copy of their hard state
    // while down (the atlas lets one node per run lose it): they come back amnesiac. Not in runs
    // that lose a region for good: an amnesiac waits for every voter's term, so a voter gone for
    // good plus one that lost its hard state are two failures for three replicas, past what the
    // group is built to survive (it stays safe, and unavailable; core/raft design.md).
    election_faults.set_on_vote_restart_crash([&world, &atlas, &lose_random](io::NodeId node) {
      if (lose_random.Chance(1, 2)) world.disk(node).CorruptEverySector(atlas, "raft/hard_state");
    });
  }
  for (io::NodeId node : world.nodes()) world.Start(node);
  // A livelock (events forever without reaching the deadline) ends at the event budget.
  const auto over_budget = [&] { return world.events_executed() >= options.events_max; };
  const io::Instant heal_ends = healed_at + options.heal_phase;
  world.RunUntil(over_budget, healed_at);
  // Judged only when the heal phase is at least the bound (the audit starts at its end).
  const bool heal_judged = options.heal_phase >= kElectionBound;
  const std::optional<io::Duration> elected_after_heal = RunUntilElected(
      world, observer, over_budget, healed_at + std::min(kElectionBound, options.heal_phase));
  std::vector<std::string> behind;
  if (options.heal_phase >= 2 * kCatchUpWindow) {
    world.RunUntil(over_budget, healed_at + (options.heal_phase - kCatchUpWindow));
    const RaftObserver::AppliedNow applied_before = observer.Applied();
    world.RunUntil(over_budget, heal_ends);
    // Judged only while the group makes progress: an unavailable one is the liveness check's.
    if (!over_budget() && observer.max_applied_index() > applied_before.most) {
      behind = observer.MembersStalled(applied_before);
    }
  }
  world.RunUntil(over_budget, heal_ends);
  // Final audit: every replica restarts from its disk and the group must re-apply every
  // acknowledged value at its index.
  observer.StartAudit();
  const io::Instant audit_at = world.Now();
  for (io::NodeId server : targets.servers) world.Restart(server);
  const uint64_t acknowledged = observer.max_acknowledged_index();
  const std::optional<io::Duration> elected_after_audit =
      RunUntilElected(world, observer, over_budget, audit_at + kElectionBound);
  world.RunUntil([&] { return observer.MaxAppliedSinceAudit() >= acknowledged || over_budget(); },
                 audit_at + kAuditLimit);
  result.violations = observer.Verdict(healed_at);
  result.violations.insert(result.violations.end(), behind.begin(), behind.end());
  for (const auto& [elected, after, judged] :
       {std::tuple{elected_after_heal, "the heal", heal_judged},
        std::tuple{elected_after_audit, "the audit restart", true}}) {
    if (judged && !elected.has_value() && !over_budget()) {
      result.violations.push_back(fmt::format("election not over within {} after {}",
                                              io::FormatDuration(kElectionBound), after));
    }
  }
  if (over_budget()) {
    result.violations.insert(result.violations.begin(),
                             fmt::format("livelock: the event budget of {} events ran out at t={}",
                                         options.events_max, world.Now().ToString()));
  }
  if (observer.MaxAppliedSinceAudit() < acknowledged) {
    result.violations.push_back(
        fmt::format("after the audit restart the group re-applied only up "
                    "to {} of {} acknowledged",
                    observer.MaxAppliedSinceAudit(), acknowledged));
  }
  result.trace_hash = world.trace_hash();
  result.events = world.events_executed();
  result.virtual_s = static_cast<double>(world.Now().nanos()) / 1e9;
  result.leaders_elected = observer.leaders_elected();
  result.elected_after_heal = elected_after_heal;
  result.elected_after_audit = elected_after_audit;
  result.lease_reads = observer.lease_reads();
  result.transfers = observer.transfers();
  result.transfers_won = observer.transfers_won();
  result.transfers_won_deaf = observer.transfers_won_deaf();
  result.membership_changes = observer.membership_changes();
  result.ops_ok = observer.count(ClientOp::Outcome::kOk);
  result.ops_fail = observer.count(ClientOp::Outcome::kFail);
  result.ops_info =
      observer.count(ClientOp::Outcome::kInfo) + observer.count(ClientOp::Outcome::kPending);
  result.max_applied_index = observer.max_applied_index();
  result.commit_latencies_ns = observer.commit_latencies_ns();
  result.faults = world.faults_injected();
  result.election_episodes = election_faults.episodes();
  observer.set_election_faults(nullptr);
  observer.set_transfer_faults(nullptr);
  observer.set_lease_rivals(nullptr);
  observer.set_conf_change_faults(nullptr);
  result.transfer_episodes = transfer_faults.has_value() ? transfer_faults->episodes() : 0;
  return result;
}

}  // namespace meridian::sim
