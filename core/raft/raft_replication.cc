// Log replication (Raft paper §5.3), commitment (§5.4.2), durability-gated acknowledgements and
// membership bookkeeping. Part of class Raft; see raft.h.
#include <fmt/format.h>

#include <algorithm>

#include "core/raft/quorum.h"
#include "core/raft/raft.h"
#include "io/assert.h"
#include "io/probe.h"

namespace meridian::core::raft {
namespace {

enum class SendEmpty : uint8_t { kNo, kYes };

}  // namespace

// ---------------------------------------------------------------- follower side

void Raft::HandleAppend(const Message& m) {
  MERIDIAN_CHECK(role_ == Role::kFollower);
  MERIDIAN_CHECK(m.term == term_);
  if (m.log_index < log_.commit()) {
    // Stale: everything up to our commit index already matches every leader's log (§5.4.3),
    // but only the durable part of it may be acknowledged.
    const Index durable_commit = CappedAtDurable(log_, log_.commit(), options_.planted_bug);
    Send(Message{.type = MessageType::kAppendResponse, .to = m.from, .log_index = durable_commit});
    return;
  }
  if (!log_.HasEntry(m.log_index, m.log_term)) {
    // §5.3: "If a follower's log is inconsistent with the leader's, the AppendEntries
    // consistency check will fail". The hint lets the leader skip a whole term at a time.
    const Index hint = log_.LastIndexWithTermAtMost(m.log_index, m.log_term);
    Send(Message{.type = MessageType::kAppendResponse,
                 .to = m.from,
                 .log_index = m.log_index,
                 .reject = true,
                 .hint_index = hint,
                 .hint_term = log_.TermAt(hint)});
    return;
  }
  if (const std::optional<Index> conflict = log_.FirstConflict(m.log_index, m.entries);
      conflict && *conflict <= verified_) {
    // Entries up to verified_ match this term's leader, whose log only grows within its term:
    // an append that would replace one of them cannot come from that leader.
    drops_.contradicting_append++;
    return;
  }
  const std::optional<Index> changed = log_.AppendFromLeader(m.log_index, m.entries);
  if (changed) {
    const bool config = std::any_of(m.entries.begin(), m.entries.end(),
                                    [](const Entry& e) { return e.kind == EntryKind::kConfig; });
    // A suffix replaced at or below the config entry in force took that entry with it: the
    // configuration reverts to the latest one left in the log (§4.1).
    const bool truncated_config = *changed <= membership_index_ &&
                                  options_.planted_bug != PlantedBug::kConfigKeptAfterTruncation;
    if (config || truncated_config) RefreshMembership();
  }
  const Index last_new(m.log_index.value() + m.entries.size());
  MERIDIAN_CHECK(last_new <= log_.last_index());
  verified_ = std::max(verified_, last_new);
  leader_commit_ = std::max(leader_commit_, m.commit);
  FollowerCommit();
  // Acknowledge now only what is already durable; the rest is acknowledged from StableTo.
  const Index ack = AckIndex();
  if (ack >= last_new) {
    Send(Message{.type = MessageType::kAppendResponse, .to = m.from, .log_index = ack});
    acked_ = std::max(acked_, ack);
  }
}

Index Raft::AckIndex() const { return CappedAtDurable(log_, verified_, options_.planted_bug); }

void Raft::HandleHeartbeat(const Message& m) {
  MERIDIAN_CHECK(role_ == Role::kFollower);
  MERIDIAN_CHECK(m.term == term_);
  // The leader caps a heartbeat's commit at our match index, which we acknowledged durable in
  // this term, so our log agrees with the leader's up to it — unless damage at rest took what we
  // acknowledged (LostDurableEntries). Then the log recovery left us need not be a prefix of the
  // one we acknowledged: a node-wide log replays history, and a cut there can bring back
  // entries a truncation had replaced (design.md "Damaged replicas"). Only appends, which check
  // log matching, verify entries until the loss is repaired.
  const bool lost = LostDurableEntries();
  if (!lost) verified_ = std::max(verified_, std::min(m.commit, log_.last_index()));
  leader_commit_ = std::max(leader_commit_, m.commit);
  FollowerCommit();
  if (m.quiesce && log_.commit() == m.commit) {
    // We hold and know committed the leader's whole log (the cap is its last index): sleep too,
    // silently, since an answer would wake it. A follower that cannot quiesce answers, and that
    // answer wakes the leader. (An entry past the cap, of an older term, is overwritten once the
    // leader appends again; it can never commit.)
    MERIDIAN_PROBE("raft: follower quiesced");
    quiesced_ = true;
    return;
  }
  Send(Message{
      .type = MessageType::kHeartbeatResponse, .to = m.from, .context_ticks = m.context_ticks});
  if (m.commit > log_.last_index() || (lost && m.commit > Index(0))) {
    // The cap says the leader's match index for us is past our log, or rests on entries we may
    // no longer hold: we lost entries we had acknowledged (damage at rest cut the log). An idle
    // leader would never probe and find out, so tell it as a rejection there, with our end as
    // the hint (design.md "Damaged replicas"); its probe then checks log matching.
    MERIDIAN_PROBE("raft: heartbeat credits us with entries we no longer hold");
    Send(Message{.type = MessageType::kAppendResponse,
                 .to = m.from,
                 .log_index = m.commit,
                 .reject = true,
                 .hint_index = log_.last_index(),
                 .hint_term = log_.last_term()});
  }
}

void Raft::HandleSnapshot(const Message& m) {
  MERIDIAN_CHECK(role_ == Role::kFollower);
  MERIDIAN_CHECK(m.term == term_);
  const SnapshotMeta& meta = m.snapshot.meta;
  if (meta.index <= log_.commit()) {
    // Everything it covers is committed here already (a resend, or it crossed an append):
    // acknowledge what we hold durably, as for a stale append.
    MERIDIAN_PROBE("raft: snapshot not past our commit index");
    Send(Message{.type = MessageType::kAppendResponse,
                 .to = m.from,
                 .log_index = std::min(log_.commit(), log_.stable())});
    return;
  }
  if (log_.HasEntry(meta.index, meta.term)) {
    // §7: "If existing log entry has same index and term as snapshot's last included entry,
    // retain log entries following it". Not an optimisation: entries after it may be durable
    // here and acknowledged, so counted toward a commit; discarding them would lose a copy.
    MERIDIAN_PROBE("raft: snapshot matches our log; entries after it kept");
    verified_ = std::max(verified_, meta.index);
    leader_commit_ = std::max(leader_commit_, m.commit);
    FollowerCommit();
    const Index ack = AckIndex();
    Send(Message{.type = MessageType::kAppendResponse, .to = m.from, .log_index = ack});
    acked_ = std::max(acked_, ack);
    return;
  }
  // Otherwise our entry at its index (if any) differs from a committed one, so by log matching
  // nothing after it was ever counted toward a commit: the whole log is replaced.
  MERIDIAN_PROBE("raft: follower installs a snapshot");
  snapshot_ = m.snapshot;
  snapshot_unhanded_ = true;
  log_.RestoreTo(meta);
  RefreshMembership();
  verified_ = meta.index;
  leader_commit_ = std::max(leader_commit_, meta.index);
  // The snapshot is stored before this Ready's messages leave (Ready step 0).
  Send(Message{.type = MessageType::kAppendResponse, .to = m.from, .log_index = meta.index});
  acked_ = std::max(acked_, meta.index);
}

absl::StatusOr<SnapshotMeta> Raft::Compact(Index index, std::string data) {
  MERIDIAN_CHECK(!ready_outstanding_, "Compact between Readys only");
  if (index <= log_.snapshot_index()) {
    return absl::InvalidArgumentError(fmt::format("compaction to {} does not pass snapshot {}",
                                                  index.ToString(),
                                                  log_.snapshot_index().ToString()));
  }
  if (index > log_.applied()) {
    return absl::InvalidArgumentError(fmt::format("compaction to {} past applied {}",
                                                  index.ToString(), log_.applied().ToString()));
  }
  if (data.size() > kSnapshotDataBytesMax) {
    return absl::InvalidArgumentError(fmt::format("snapshot of {} bytes exceeds the limit of {}",
                                                  data.size(), kSnapshotDataBytesMax));
  }
  MERIDIAN_CHECK(index <= log_.stable(), "applied implies durable here");
  SnapshotMeta meta{.index = index, .term = log_.TermAt(index), .membership = MembershipAt(index)};
  CheckMembership(meta.membership);
  log_.CompactTo(meta);
  snapshot_ = Snapshot{.meta = meta, .data = std::move(data)};
  Invariants();
  return meta;
}

void Raft::FollowerCommit() {
  // A follower commits what the leader committed, limited to entries it knows match the
  // leader's log (entries past `verified_` may still be a stale leader's divergent suffix).
  const Index limit = std::min(leader_commit_, verified_);
  MERIDIAN_CHECK(limit <= log_.last_index());
  log_.CommitTo(limit);
}

void Raft::StableTo(Index index, Term term) {
  if (log_.StableTo(index, term)) {
    if (role_ == Role::kLeader && MaybeCommit()) BroadcastAppend();
    if (role_ == Role::kFollower && leader_ != kNoNode) {
      FollowerCommit();
      const Index ack = AckIndex();
      if (ack > acked_) {
        // §5.3 with durability: the follower replies only once the entries are on its disk.
        Send(Message{.type = MessageType::kAppendResponse, .to = leader_, .log_index = ack});
        acked_ = ack;
      }
    }
  }
  Invariants();
}

// ---------------------------------------------------------------- leader side

Index Raft::OwnMatch() const {
  // The leader counts its own copy toward a quorum only once it is durable.
  return CappedAtDurable(log_, log_.last_index(), options_.planted_bug);
}

bool Raft::MaybeCommit() {
  MERIDIAN_CHECK(role_ == Role::kLeader);
  absl::btree_map<NodeId, uint64_t> match;
  match[options_.id] = OwnMatch().value();
  for (const auto& [id, progress] : progress_) match[id] = progress.match().value();
  Index index(MajorityValue(membership_.voters, match));
  if (options_.planted_bug == PlantedBug::kLearnersCountTowardCommit) {
    std::vector<uint64_t> members;  // PLANTED BUG: learners' acks stand in for voters'.
    for (const auto& [id, value] : match) {
      if (membership_.IsMember(id)) members.push_back(value);
    }
    std::sort(members.rbegin(), members.rend());
    const size_t quorum = membership_.voters.size() / 2 + 1;
    if (members.size() >= quorum) index = std::max(index, Index(members[quorum - 1]));
  }
  if (index <= log_.commit()) return false;
  // §5.4.2: "Raft never commits log entries from previous terms by counting replicas. Only log
  // entries from the leader's current term are committed by counting replicas".
  if (options_.planted_bug != PlantedBug::kCommitOlderTermByCounting &&
      log_.TermAt(index) != term_) {
    return false;
  }
  log_.CommitTo(index);
  return true;
}

void Raft::HandleAppendResponse(const Message& m) {
  if (m.log_index > log_.last_index()) {
    // Accepted: entries we never had. Rejected: a prevLogIndex we never sent. Either way not a
    // response to anything of ours (and index + 1 could wrap).
    drops_.ack_beyond_log++;
    return;
  }
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;  // Not a member (Admit dropped it); kept as a safety net.
  Progress& progress = it->second;
  if (m.reject) {
    // Below our snapshot, terms are unknown and LastIndexWithTermAtMost returns the hint as is;
    // SendAppend then sends the snapshot.
    // Translate the follower's hint into our log: skip every entry whose term is above the
    // follower's term at the hint index.
    const Index retry = log_.LastIndexWithTermAtMost(m.hint_index, m.hint_term).next();
    if (m.log_index <= progress.match() && m.log_index.value() >= 1 &&
        progress.state() != ProgressState::kSnapshot &&
        options_.planted_bug != PlantedBug::kMatchKeptAfterShorterLog) {
      // The follower no longer holds an entry it acknowledged (damage at rest cut its log; or
      // the rejection is stale): design.md "Damaged replicas". Textbook raft never lowers a
      // match index; keeping it would count entries the follower lacks toward commit and probe
      // above its log forever (next never goes below match + 1).
      MERIDIAN_PROBE("raft: follower log shorter than its match index");
      const Index holds = std::min(Index(m.log_index.value() - 1), m.hint_index);
      progress.LowerMatch(holds, std::min(retry, m.log_index));
      SendAppend(m.from);
      return;
    }
    if (progress.OnRejected(m.log_index, retry)) SendAppend(m.from);
    return;
  }
  if (!progress.OnAccepted(m.log_index)) return;
  if (progress.state() == ProgressState::kProbe ||
      (progress.state() == ProgressState::kSnapshot &&
       progress.match() >= progress.pending_snapshot())) {
    progress.BecomeReplicate();
  }
  if (MaybeCommit()) {
    BroadcastAppend();
  } else {
    while (progress.next() <= log_.last_index() && SendAppend(m.from)) {
    }
  }
  if (m.from == transferee_ && progress.match() == log_.last_index()) SendTimeoutNow(m.from);
}

void Raft::HandleHeartbeatResponse(const Message& m) {
  if (m.context_ticks > ticks_) {
    // Echoes a heartbeat we have not sent yet; believing it would stretch the lease.
    drops_.ack_beyond_log++;
    return;
  }
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& progress = it->second;
  progress.set_recent_active(true);
  progress.OnHeartbeatResponse();
  if (progress.state() == ProgressState::kReplicate && progress.window_full()) {
    // The follower is reachable but the window is full: appends were lost (the network drops).
    // Fall back to probing from its match index rather than waiting forever for their acks.
    // With a narrow window (RaftOptions::inflight_messages_max) the appends may only be in
    // flight: the probe then costs a round trip, never safety.
    progress.BecomeProbe();
    MERIDIAN_CHECK(progress.CanSend());
  }
  if (membership_.IsVoter(m.from)) {
    // The lease runs from when the heartbeat was *sent*: the follower's promise started when it
    // received it, somewhere between the send and now.
    const uint64_t sent =
        options_.planted_bug == PlantedBug::kLeaseFromAckReceipt ? ticks_ : m.context_ticks;
    uint64_t& acked = heartbeat_acked_ticks_[m.from];
    acked = std::max(acked, sent);
  }
  if (progress.match() < log_.last_index() && !SendAppend(m.from) &&
      progress.state() == ProgressState::kReplicate &&
      progress.next().value() - 1 >= log_.snapshot_index().value()) {
    // Appends in flight may have been lost, and with the window not full nothing else would
    // notice on an idle group: an empty append at next - 1 is accepted by a follower that has
    // everything (harmless) and rejected by one that lost some, which starts a probe.
    MERIDIAN_PROBE("raft: empty append after a heartbeat from a lagging follower");
    const Index prev(progress.next().value() - 1);
    Send(Message{.type = MessageType::kAppend,
                 .to = m.from,
                 .log_index = prev,
                 .log_term = log_.TermAt(prev),
                 .commit = log_.commit()});
  }
}

bool Raft::SendAppend(NodeId to) {
  Progress& progress = progress_.at(to);
  if (!progress.CanSend()) return false;
  if (progress.next() <= log_.snapshot_index()) {
    // §7: the entries this follower needs next were compacted away.
    SendSnapshot(to);
    return true;
  }
  const Index prev(progress.next().value() - 1);
  std::vector<Entry> entries =
      log_.Slice(progress.next(), options_.append_entries_max, kAppendBytesMax);
  if (progress.state() == ProgressState::kReplicate && entries.empty()) return false;
  const Index last(prev.value() + entries.size());
  MERIDIAN_CHECK(entries.size() <= options_.append_entries_max);
  if (entries.size() > 1) {
    size_t data_bytes = 0;
    for (const Entry& entry : entries) data_bytes += entry.data.size();
    MERIDIAN_CHECK(data_bytes <= kAppendBytesMax, "append of {} bytes", data_bytes);
  }
  progress.OnSent(last);
  Send(Message{.type = MessageType::kAppend,
               .to = to,
               .log_index = prev,
               .log_term = log_.TermAt(prev),
               .entries = std::move(entries),
               .commit = log_.commit()});
  return true;
}

void Raft::SendSnapshot(NodeId to) {
  Progress& progress = progress_.at(to);
  MERIDIAN_CHECK(snapshot_.meta.index == log_.snapshot_index());
  MERIDIAN_CHECK(snapshot_.meta.index >= progress.next());
  MERIDIAN_PROBE("raft: leader sends a snapshot");
  progress.BecomeSnapshot(snapshot_.meta.index);
  Send(Message{
      .type = MessageType::kSnapshot, .to = to, .commit = log_.commit(), .snapshot = snapshot_});
}

void Raft::BroadcastAppend() {
  MERIDIAN_CHECK(role_ == Role::kLeader);
  for (auto& [id, progress] : progress_) {
    bool sent = false;
    // Pipelining: in replicate state keep sending batches up to the in-flight limit.
    while (progress.next() <= log_.last_index() && SendAppend(id)) sent = true;
    if (!sent && progress.CanSend() && progress.state() == ProgressState::kReplicate &&
        progress.next() > log_.snapshot_index()) {
      // Nothing new: an empty append still carries the new commit index.
      Send(Message{.type = MessageType::kAppend,
                   .to = id,
                   .log_index = Index(progress.next().value() - 1),
                   .log_term = log_.TermAt(Index(progress.next().value() - 1)),
                   .commit = log_.commit()});
    }
  }
}

void Raft::BroadcastHeartbeat() {
  MERIDIAN_CHECK(role_ == Role::kLeader);
  for (const auto& [id, progress] : progress_) {
    Send(Message{.type = MessageType::kHeartbeat,
                 .to = id,
                 .commit = std::min(progress.match(), log_.commit()),
                 .context_ticks = ticks_});
  }
}

void Raft::AppendOwn(EntryKind kind, std::string data, Membership membership) {
  MERIDIAN_CHECK(role_ == Role::kLeader);
  Entry entry{.term = term_,
              .index = log_.last_index().next(),
              .kind = kind,
              .data = std::move(data),
              .membership = std::move(membership)};
  if (kind == EntryKind::kConfig) CheckMembership(entry.membership);
  log_.AppendOwn(std::move(entry));
  if (kind == EntryKind::kConfig) RefreshMembership();
}

// ---------------------------------------------------------------- membership

void Raft::RefreshMembership() {
  // The configuration in force is the latest one in the log, committed or not (§4.1); before
  // the log's first entry, the snapshot's (or, without one, the bootstrap configuration).
  const auto voters_before = membership_.voters;
  membership_ = log_.snapshot_index().value() > 0 ? snapshot_.meta.membership : options_.bootstrap;
  membership_index_ = log_.snapshot_index();
  if (auto latest = log_.LatestConfigAtOrBelow(log_.last_index()); latest.has_value()) {
    membership_index_ = latest->first;
    membership_ = std::move(latest->second);
    MERIDIAN_CHECK(log_.KindAt(membership_index_) == EntryKind::kConfig);
  }
  CheckMembership(membership_);
  if (role_ == Role::kLeader) {
    SyncProgressToMembership();
    // Another quorum: the step-down bound counts from its first window (StepDownBoundHolds).
    if (membership_.voters != voters_before) step_down_clock_start_ticks_ = ticks_;
  }
}

Membership Raft::MembershipAt(Index index) const {
  MERIDIAN_CHECK(index >= log_.snapshot_index() && index <= log_.last_index());
  if (auto latest = log_.LatestConfigAtOrBelow(index); latest.has_value()) return latest->second;
  return log_.snapshot_index().value() > 0 ? snapshot_.meta.membership : options_.bootstrap;
}

void Raft::SyncProgressToMembership() {
  MERIDIAN_CHECK(role_ == Role::kLeader);
  MERIDIAN_CHECK(membership_.IsVoter(options_.id), "a leader is a voter");
  for (auto it = progress_.begin(); it != progress_.end();) {
    if (membership_.IsMember(it->first)) {
      ++it;
    } else {
      heartbeat_acked_ticks_.erase(it->first);
      it = progress_.erase(it);
    }
  }
  auto add = [&](NodeId id) {
    if (id != options_.id && !progress_.contains(id)) {
      progress_.emplace(id, Progress(log_.last_index().next(), options_.inflight_messages_max));
    }
  };
  for (NodeId id : membership_.voters) add(id);
  for (NodeId id : membership_.learners) add(id);
  for (auto it = heartbeat_acked_ticks_.begin(); it != heartbeat_acked_ticks_.end();) {
    it = membership_.IsVoter(it->first) ? std::next(it) : heartbeat_acked_ticks_.erase(it);
  }
}

bool Raft::HasPendingConfChange() const { return membership_index_ > log_.commit(); }

bool Raft::CommittedInCurrentTerm() const { return log_.TermAt(log_.commit()) == term_; }

}  // namespace meridian::core::raft
