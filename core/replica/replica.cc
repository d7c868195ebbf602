#include "core/replica/replica.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include "core/replica/durable_mark.h"
#include "core/replica/storage.h"
#include "core/wire/raft_codec.h"
#include "io/assert.h"
#include "io/network.h"
#include "io/probe.h"

namespace meridian::core::replica {
namespace {

constexpr uint64_t kAppliedTermsKept = 1 << 16;
constexpr io::Duration kDiskFullBackoffMin = std::chrono::milliseconds(10);
constexpr io::Duration kDiskFullBackoffMax = std::chrono::seconds(1);
static_assert(kDiskFullBackoffMin < kDiskFullBackoffMax);

core::Offset OffsetOf(raft::Index index) {
  MERIDIAN_CHECK(index.value() >= 1);
  return core::Offset(index.value() - 1);
}

// Makes the log continue right after the snapshot: its entries up to the snapshot's index are
// ignored (compaction deletes whole segments only); if it does not hold the snapshot's last
// entry with the snapshot's term (a follower that installed the snapshot and crashed before
// resetting its log, or whose old entries diverged), it is reset to start after the snapshot.
absl::Status AlignLogWithSnapshot(log::Log& log, const raft::SnapshotMeta& meta) {
  const core::Offset after(meta.index.value());  // The offset of entry index + 1.
  if (log.start_offset() > after) {
    return absl::DataLossError(fmt::format(
        "raft log starts at index {} but the snapshot ends at {}: entries in between are gone",
        log.start_offset().value() + 1, meta.index.ToString()));
  }
  if (log.start_offset() == after) return absl::OkStatus();
  if (log.end_offset() >= after) {
    absl::StatusOr<log::ReadResult> read = log.Read(OffsetOf(meta.index), 1);
    if (!read.ok()) return read.status();
    MERIDIAN_CHECK(!read->batches.empty());
    const log::BatchRef& last = read->batches.front();
    if (last.header.base_offset == OffsetOf(meta.index) && last.header.term == meta.term) {
      return absl::OkStatus();
    }
  }
  MERIDIAN_PROBE("replica: log reset to continue after the snapshot at restart");
  absl::Status reset = log.Reset(after);
  if (reset.ok()) {
    MERIDIAN_CHECK(log.start_offset() == after && log.end_offset() == after, "empty after {}",
                   meta.index.ToString());
  }
  return reset;
}

// The last entry of the recovered log (the snapshot's if the log holds none after it).
raft::LogPosition RecoveredPosition(const std::optional<raft::Snapshot>& snapshot,
                                    const std::vector<raft::Entry>& entries) {
  // AlignLogWithSnapshot made the log continue right after the snapshot.
  const raft::Index base = snapshot.has_value() ? snapshot->meta.index : raft::Index(0);
  if (!entries.empty()) MERIDIAN_CHECK(entries.front().index == base.next());
  if (!entries.empty()) return {entries.back().term, entries.back().index};
  if (snapshot.has_value()) return {snapshot->meta.term, snapshot->meta.index};
  return {};
}

// Entries the log lost at a crash past the durable mark (a torn tail) were never reported
// durable before the mark was written, so raft may never have counted them. A log that ends
// before the mark lost entries this replica had synced and may have acknowledged: damage at
// rest. It restarts anyway, with its commit index cut to its snapshot's index, and raft keeps
// it from voting with or leading from the shorter log (RestartState::durable_before) until it
// has re-fetched them from its peers. Not cut to the recovered log's end: what recovery kept
// need not be a prefix of the log the stored commit counted. A node-wide log replays history,
// so a cut after a truncation brings back the entries the truncation removed (an old leader's
// uncommitted i13:t5 that a later leader's committed i13:t6 had replaced): applying them would
// break state machine safety (`meridian-sim --scenario=geo-3x3 --seed=30
// --election_faults=figure8`, 2026-12-04). Only the snapshot is known committed; the leader
// tells the rest again, once its appends have matched this log. A log that lost committed
// entries with no mark covering them (a mark lost with the rest) is still refused: nothing would
// tell raft what it lost.
absl::Status ReconcileWithDurableMark(const DurableMark& mark, const raft::LogPosition& recovered,
                                      raft::Index snapshot_index, const log::RecoveryReport& report,
                                      raft::HardState* hard_state,
                                      std::vector<std::string>& findings) {
  if (mark.position().term > hard_state->term) {
    return absl::DataLossError(fmt::format("durable mark term {} beyond the hard state's {}",
                                           mark.position().term.ToString(),
                                           hard_state->term.ToString()));
  }
  if (!recovered.IsAtLeast(mark.position())) {
    MERIDIAN_PROBE("replica: log lost entries it had made durable; repairing from peers");
    findings.push_back(fmt::format(
        "the log ends at {}, below the {} it had made durable (entries lost at rest): it "
        "fetches them again and votes with none of them meanwhile",
        recovered.index.ToString(), mark.position().index.ToString()));
    MERIDIAN_CHECK(snapshot_index <= recovered.index);
    hard_state->commit = std::min(hard_state->commit, snapshot_index);
    MERIDIAN_CHECK(hard_state->commit <= recovered.index);
    return absl::OkStatus();
  }
  if (hard_state->commit > recovered.index) {
    return absl::DataLossError(
        fmt::format("raft log ends at {} but the hard state says {} is committed: {}",
                    recovered.index.ToString(), hard_state->commit.ToString(), report.ToString()));
  }
  // Paired with Open's pre-condition: a hard state never claims entries the log lacks.
  MERIDIAN_CHECK(hard_state->commit <= recovered.index);
  return absl::OkStatus();
}

// A full disk (ResourceExhausted on a write) is waited out, not fail-stopped (tests/jepsen
// Findings: the partition stayed failed until a restart). Nothing of the failed write was
// reported durable and core/log cut its partial batch, so retrying the same Ready step once
// space is back is what a very slow disk would have looked like; meanwhile this driver neither
// ticks nor answers, so the group is unavailable here and elects elsewhere. Sync failures are
// not retried (PersistEntries reports them as Internal): after one the log is failed for good.
absl::Status RetryWhileDiskFull(io::Runtime& runtime, const std::function<absl::Status()>& write) {
  io::Duration backoff = kDiskFullBackoffMin;
  while (true) {
    absl::Status status = write();
    if (!absl::IsResourceExhausted(status)) return status;
    MERIDIAN_PROBE("replica: disk full; the write is retried after a back-off");
    if (!runtime.Sleep(backoff).ok()) return status;  // Shutting down.
    backoff = std::min(backoff * 2, kDiskFullBackoffMax);
  }
}

// A lost snapshot (damaged at rest: LoadSnapshot's DamagedAtRest) takes the state of every entry up
// to its index with it. A log that still starts at the beginning holds all of them, and is kept;
// one that starts later (compaction removed what the snapshot covered) is reset to empty: the
// entries after the snapshot cannot be applied without it. Raft then restarts from an empty log:
// below the durable mark, it neither campaigns nor votes below what it had (design.md "Damaged
// replicas"), counts nothing it does not hold, and the leader, whose log is compacted past it,
// sends it the snapshot again (InstallSnapshot).
absl::Status ForgetLogAfterLostSnapshot(log::Log& log) {
  MERIDIAN_PROBE("replica: the snapshot is damaged; repairing from the leader");
  if (log.start_offset() == core::Offset(0)) return absl::OkStatus();
  return log.Reset(core::Offset(0));
}

// Opens the durable mark. Both of its slots damaged is survivable when core/log's recovery cut
// nothing at this open: the log then holds everything it had synced, so its end is a true mark
// (at least the lost one). With a cut as well, what was synced is unknown: refused.
absl::StatusOr<std::unique_ptr<DurableMark>> OpenDurableMark(io::Disk& disk,
                                                             const ReplicaOptions& options,
                                                             const log::RecoveryReport& report,
                                                             const raft::LogPosition& position,
                                                             std::vector<std::string>& findings) {
  const DurableMark::Sync sync = options.unsafe_ack_before_fsync_for_tests
                                     ? DurableMark::Sync::kUnsyncedForTests
                                     : DurableMark::Sync::kSynced;
  DurableMarkTable* table = options.mark_table.get();
  const auto open = [&] {
    return table != nullptr ? DurableMark::OpenInTable(*table, options.dir, disk, options.dir)
                            : DurableMark::Open(disk, options.dir, sync);
  };
  absl::StatusOr<std::unique_ptr<DurableMark>> mark = open();
  if (!IsDamagedAtRest(mark.status()) || report.cut) return mark;
  MERIDIAN_PROBE("replica: durable mark damaged, log intact; the mark starts again at its end");
  findings.push_back(
      "the durable mark is damaged (the log is intact): it restarts at the log's end");
  absl::StatusOr<bool> legacy = disk.Exists(options.dir + "/durable_mark");
  if (!legacy.ok()) return legacy.status();
  if (*legacy) {
    if (absl::Status s = disk.Remove(options.dir + "/durable_mark"); !s.ok()) return s;
    if (absl::Status s = disk.SyncDir(options.dir); !s.ok()) return s;
  }
  if (table != nullptr) {
    if (absl::Status s = table->Reset(options.dir, position); !s.ok()) return s;
  }
  mark = open();
  if (!mark.ok()) return mark.status();
  if (absl::Status s =
          (*mark)->Advance(position, io::Instant::FromNanos(0), DurableMark::When::kNow);
      !s.ok()) {
    return s;
  }
  return mark;
}

// What Open reads back from disk before the replica starts: all of it but the state machine.
struct RecoveredStorage {
  raft::HardState hard_state;
  uint64_t hard_state_sequence = 0;  // 0: nothing stored yet, or lost.
  // Every copy of the hard state is damaged, or the newest valid one is stale (older than a term
  // the log, the snapshot or the durable mark shows this replica reached): RestartState::
  // hard_state_lost. `hard_state` then holds the highest term known here, no vote, commit 0.
  bool hard_state_lost = false;
  // A copy was damaged or stale, or the file is of version 1: Open stores it again at once.
  bool hard_state_repair = false;
  std::vector<std::string> findings;  // Replica::restart_findings.
  std::optional<raft::Snapshot> snapshot;
  std::unique_ptr<log::Log> log;
  log::RecoveryReport report;
  std::vector<raft::Entry> entries;  // The log's entries after the snapshot.
  std::unique_ptr<DurableMark> mark;
};

// The newest valid copy of the hard state can still be stale: a misdirected write leaves the old
// bytes where a newer store was aimed. A term the log or the durable mark shows this replica
// reached, above the hard state's, proves it (an entry's term is stored before the entry), and
// the hard state is then as good as lost. A lost hard state restarts at the highest term known
// here (the snapshot's too), with no vote and commit 0: raft does not vote, campaign or answer
// until it has learned a term bound from its peers (RestartState::hard_state_lost).
void CheckHardStateNotStale(RecoveredStorage& recovered, const raft::LogPosition& position) {
  const raft::Term reached = std::max(position.term, recovered.mark->position().term);
  if (!recovered.hard_state_lost && reached > recovered.hard_state.term) {
    MERIDIAN_PROBE("replica: the hard state is stale (a lost write); taken as lost");
    recovered.hard_state_lost = true;
    recovered.findings.push_back(fmt::format(
        "the hard state (term {}) is older than the term {} this replica reached (a lost write): "
        "taken as lost, no vote until the peers tell the term",
        recovered.hard_state.term.ToString(), reached.ToString()));
  }
  if (!recovered.hard_state_lost) return;
  raft::Term known = reached;
  if (recovered.snapshot.has_value()) known = std::max(known, recovered.snapshot->meta.term);
  recovered.hard_state = raft::HardState{known, raft::kNoNode, raft::Index(0)};
  recovered.hard_state_sequence = 0;
  recovered.hard_state_repair = false;  // Nothing to store until raft has learned its term.
}

// Every copy damaged is a lost hard state (hard_state_lost), not an error: see
// CheckHardStateNotStale. Other errors (EIO, DataLoss too) are returned.
absl::Status LoadHardStateInto(io::Disk& disk, const std::string& dir,
                               RecoveredStorage& recovered) {
  absl::StatusOr<LoadedHardState> hard_state = LoadHardState(disk, dir);
  if (IsDamagedAtRest(hard_state.status())) {
    MERIDIAN_PROBE("replica: every copy of the hard state is damaged");
    recovered.hard_state_lost = true;
    recovered.findings.push_back(
        "every copy of the hard state is damaged: no vote until the peers tell the term");
    return absl::OkStatus();
  }
  if (!hard_state.ok()) return hard_state.status();
  recovered.hard_state = hard_state->stored.state;
  recovered.hard_state_sequence = hard_state->stored.sequence;
  const StoredHardState& stored = hard_state->stored;
  const bool on_disk = stored.sequence > 0 || stored.state != raft::HardState{};
  recovered.hard_state_repair = on_disk && hard_state->copies_current < kHardStateCopies;
  return absl::OkStatus();
}

// Replica::restart_findings for what core/log's recovery did to the log at this open.
void NoteLogRecovery(const log::RecoveryReport& report, std::vector<std::string>& findings) {
  MERIDIAN_CHECK(!(report.cut && report.healed_by_wal), "a healed cut is no cut: {}",
                 report.ToString());
  if (report.cut) {
    findings.push_back(fmt::format(
        "recovery cut the log at {} ({}; what was cut is fetched again from the leader): {}",
        report.lost_from.ToString(),
        report.looks_torn ? "a tail that looks torn, as a crash mid-write leaves"
                          : "damage before the tail",
        report.ToString()));
  }
  if (report.healed_by_wal) {
    findings.push_back(fmt::format(
        "the log's segment files lost batches from {}, written back from the node-wide log "
        "(nothing lost): {}",
        report.lost_from.ToString(), report.ToString()));
  }
}

// Loads the hard state and the snapshot, recovers the log and reads the durable mark, and
// reconciles them. What it writes: the group's directory, the mark's empty file and a new
// log's first segment (each found as left by a later call); a log reset to continue after the
// snapshot (a reset cut short is recovered as the old log, and reset again); and core/log's
// recovery cut, which core/log records in its loss record before making it and reports on
// every Open until AcknowledgeLoss. So a call that failed part-way (a full disk: the loss
// record or a segment header needed space) can simply be made again: the next one reports the
// same loss.
absl::StatusOr<RecoveredStorage> RecoverStorage(io::Runtime& runtime,
                                                const ReplicaOptions& options) {
  io::Disk& disk = runtime.disk();
  absl::StatusOr<bool> exists = disk.Exists(options.dir);
  if (!exists.ok()) return exists.status();
  if (!*exists) {
    if (absl::Status s = disk.CreateDir(options.dir); !s.ok()) return s;
    if (absl::Status s = disk.SyncDir(io::ParentDir(options.dir)); !s.ok()) return s;
  }
  RecoveredStorage recovered;
  if (absl::Status s = LoadHardStateInto(disk, options.dir, recovered); !s.ok()) return s;
  absl::StatusOr<std::optional<raft::Snapshot>> snapshot = LoadSnapshot(disk, options.dir);
  const bool snapshot_lost = IsDamagedAtRest(snapshot.status());
  if (!snapshot.ok() && !snapshot_lost) return snapshot.status();
  if (snapshot.ok()) recovered.snapshot = std::move(*snapshot);
  absl::StatusOr<std::unique_ptr<log::Log>> log = log::Log::Open(
      runtime, disk,
      log::LogOptions{
          .dir = options.dir + "/log",
          .segment_bytes_max = options.log_segment_bytes,
          .wal = options.wal,
          .wal_direct_round_bytes = options.wal_direct_round_bytes,
          .testing = {.report_durable_before_sync = options.unsafe_ack_before_fsync_for_tests,
                      .skip_crc_check_on_read = options.unsafe_skip_crc_checks_for_tests,
                      .skip_crc_check_on_recovery = options.unsafe_skip_crc_checks_for_tests}},
      &recovered.report);
  if (!log.ok()) return log.status();
  recovered.log = std::move(*log);
  NoteLogRecovery(recovered.report, recovered.findings);
  const std::optional<raft::Snapshot>& base = recovered.snapshot;
  if (base.has_value()) {
    if (absl::Status s = AlignLogWithSnapshot(*recovered.log, base->meta); !s.ok()) return s;
  } else if (snapshot_lost) {
    if (absl::Status s = ForgetLogAfterLostSnapshot(*recovered.log); !s.ok()) return s;
    recovered.findings.push_back(
        "the snapshot is damaged: the log restarts empty and the leader sends the snapshot again");
  }
  absl::StatusOr<std::vector<raft::Entry>> entries =
      ReadEntriesAfter(*recovered.log, base.has_value() ? base->meta.index : raft::Index(0),
                       options.raft.entry_cache_bytes_max);
  if (!entries.ok()) return entries.status();
  recovered.entries = std::move(*entries);
  const raft::LogPosition position = RecoveredPosition(recovered.snapshot, recovered.entries);
  absl::StatusOr<std::unique_ptr<DurableMark>> mark =
      OpenDurableMark(disk, options, recovered.report, position, recovered.findings);
  if (!mark.ok()) return mark.status();
  recovered.mark = std::move(*mark);
  if (snapshot_lost) {
    // The entries the snapshot stood for are gone here: commit only what the log still holds
    // (the leader tells the rest again, with its snapshot).
    recovered.hard_state.commit = std::min(recovered.hard_state.commit, position.index);
  }
  CheckHardStateNotStale(recovered, position);
  const raft::Index snapshot_index = base.has_value() ? base->meta.index : raft::Index(0);
  if (absl::Status s =
          ReconcileWithDurableMark(*recovered.mark, position, snapshot_index, recovered.report,
                                   &recovered.hard_state, recovered.findings);
      !s.ok()) {
    return s;
  }
  return recovered;
}

// One copy of the hard state was damaged or stale: both hold the newest state again before
// anything runs.
absl::Status RepairHardStateCopies(io::Runtime& runtime, const std::string& dir,
                                   RecoveredStorage& recovered) {
  if (!recovered.hard_state_repair) return absl::OkStatus();
  MERIDIAN_PROBE("replica: a damaged copy of the hard state rewritten");
  MERIDIAN_CHECK(!recovered.hard_state_lost,
                 "a lost hard state is stored once raft knows its term");
  recovered.findings.push_back(
      "a copy of the hard state was damaged, stale or in the old format: rewritten");
  const StoredHardState repaired{recovered.hard_state, recovered.hard_state_sequence + 1};
  if (absl::Status s = RetryWhileDiskFull(
          runtime, [&] { return StoreHardState(runtime.disk(), dir, repaired); });
      !s.ok()) {
    return s;
  }
  recovered.hard_state_sequence = repaired.sequence;
  return absl::OkStatus();
}

}  // namespace

// A full disk is waited out here as on the running path (RetryWhileDiskFull): a restart after
// any cut (a torn tail included) writes core/log's loss record first, and a node restarted on
// a full disk used to fail to reopen the group instead of waiting (the raft runner's seed 26
// with damage at rest and the election schedules). Retrying the whole recovery is safe
// (RecoverStorage); the one step that forgets a loss, AcknowledgeLoss, comes after it, once
// everything is reconciled, and even then the durable mark, never lowered, not the loss
// record, is what keeps raft from voting with a log cut below what it had synced.
absl::StatusOr<std::shared_ptr<Replica>> Replica::Open(io::Runtime& runtime, ReplicaOptions options,
                                                       ReplicaObserver* observer) {
  absl::StatusOr<RecoveredStorage> storage;
  if (absl::Status s = RetryWhileDiskFull(runtime,
                                          [&] {
                                            storage = RecoverStorage(runtime, options);
                                            return storage.status();
                                          });
      !s.ok()) {
    return s;
  }
  RecoveredStorage& recovered = *storage;
  if (absl::Status s = RepairHardStateCopies(runtime, options.dir, recovered); !s.ok()) return s;
  MERIDIAN_CHECK(recovered.log != nullptr);
  MERIDIAN_CHECK(recovered.mark != nullptr);
  const raft::Index snapshot_index =
      recovered.snapshot.has_value() ? recovered.snapshot->meta.index : raft::Index(0);
  if (recovered.snapshot.has_value() && options.state_machine != nullptr) {
    if (absl::Status s =
            options.state_machine->Restore(recovered.snapshot->meta, recovered.snapshot->data);
        !s.ok()) {
      return absl::DataLossError(
          fmt::format("restoring the snapshot at {}: {}", snapshot_index.ToString(), s.ToString()));
    }
  }
  if (recovered.report.cut) {
    MERIDIAN_PROBE("replica: restarted after the log was cut");
    if (absl::Status s =
            RetryWhileDiskFull(runtime, [&] { return recovered.log->AcknowledgeLoss(); });
        !s.ok()) {
      return s;
    }
  }
  const raft::LogPosition synced = RecoveredPosition(recovered.snapshot, recovered.entries);
  MERIDIAN_CHECK(snapshot_index <= synced.index, "the log continues after the snapshot");
  MERIDIAN_CHECK(recovered.hard_state.commit <= synced.index, "reconciled: commit {} past log {}",
                 recovered.hard_state.commit.ToString(), synced.index.ToString());
  std::shared_ptr<Replica> replica(
      new Replica(runtime, std::move(options), observer, std::move(recovered.log)));
  replica->stored_hard_state_ = recovered.hard_state;
  replica->restart_findings_ = std::move(recovered.findings);
  replica->hard_state_sequence_ = recovered.hard_state_sequence;
  replica->synced_ = synced;
  const raft::LogPosition durable_before = recovered.mark->position();
  replica->durable_mark_ = std::move(recovered.mark);
  if (recovered.snapshot.has_value()) {
    replica->applied_ = snapshot_index;
    replica->applied_term_ = recovered.snapshot->meta.term;
    replica->snapshot_index_ = snapshot_index;
  }
  const ReplicaOptions& started = replica->options_;
  replica->raft_ = std::make_unique<raft::Raft>(
      started.raft,
      raft::RestartState{recovered.hard_state, std::move(recovered.entries),
                         std::move(recovered.snapshot), durable_before, recovered.hard_state_lost},
      runtime.random().Fork(fmt::format("raft-{}", started.group)));
  replica->PublishState();
  runtime.Spawn(fmt::format("raft-{}", started.group), [self = replica] { self->RunDriver(); });
  return replica;
}

Replica::Replica(io::Runtime& runtime, ReplicaOptions options, ReplicaObserver* observer,
                 std::unique_ptr<log::Log> log)
    : runtime_(runtime),
      options_(std::move(options)),
      observer_(observer),
      log_(std::move(log)),
      inputs_(runtime, kInputsMax),
      applied_waiters_(runtime),
      next_tick_(runtime.Now() + options_.tick) {
  MERIDIAN_CHECK(options_.tick.count() > 0);
  MERIDIAN_CHECK(log_ != nullptr);
  MERIDIAN_CHECK(options_.raft.id == runtime.node(), "replica of node {} on node {}",
                 options_.raft.id.value(), runtime.node().value());
}

void Replica::Deliver(raft::Message message) {
  // The peer dispatcher checked the envelope: the message is for this replica's node.
  MERIDIAN_CHECK(message.to == options_.raft.id, "message for node {} delivered to {}",
                 message.to.value(), options_.raft.id.value());
  if (!failure_.ok()) return;
  if (!inputs_.TrySend(std::move(message)))
    MERIDIAN_PROBE("replica: input queue full, message dropped");
}

void Replica::NodeLivenessChanged(io::NodeId node, bool live) {
  MERIDIAN_CHECK(node != options_.raft.id, "a node never reports its own liveness");
  if (!failure_.ok()) return;
  pending_liveness_[node] = live;
  // One wake-up in the queue is enough; if the queue is full the driver is busy anyway and
  // reads pending_liveness_ after those inputs.
  if (!liveness_wake_queued_) liveness_wake_queued_ = inputs_.TrySend(LivenessWake{});
}

void Replica::NodeRestarted(io::NodeId node) {
  MERIDIAN_CHECK(node != options_.raft.id, "a node never reports its own restart");
  if (!failure_.ok()) return;
  pending_restarts_.insert(node);
  if (!liveness_wake_queued_) liveness_wake_queued_ = inputs_.TrySend(LivenessWake{});
}

void Replica::RunDriver() {
  while (failure_.ok()) {
    // A quiesced group does not tick: it sleeps until a message, a proposal or a liveness
    // change, and owes no ticks for the time it slept.
    const bool asleep = raft_->quiesced();
    absl::StatusOr<Input> input = inputs_.Receive(asleep ? io::Instant::Infinite() : next_tick_);
    if (!input.ok() && !absl::IsDeadlineExceeded(input.status())) return;  // Shut down.
    if (asleep) next_tick_ = runtime_.Now() + options_.tick;
    TickUpTo(runtime_.Now());
    if (input.ok()) Handle(std::move(*input));
    while (std::optional<Input> more = inputs_.TryReceive()) Handle(std::move(*more));
    ApplyLivenessChanges();  // After the inputs queued before it (a leader's last message).
    while (failure_.ok() && raft_->HasReady()) {
      if (absl::Status s = HandleReady(); !s.ok()) FailStop(s);
    }
    // Raft counts and acknowledges what it was told is stable: exactly what this driver synced.
    MERIDIAN_CHECK(!failure_.ok() || raft_->log().stable() == synced_.index,
                   "raft's stable index {} against the synced log's {}",
                   raft_->log().stable().ToString(), synced_.index.ToString());
    if (failure_.ok()) {
      if (absl::Status s = StoreDeferredLearnerCommit(); !s.ok()) FailStop(s);
    }
    if (failure_.ok()) {
      if (absl::Status s = MarkBeforeSleep(); !s.ok()) FailStop(s);
    }
    PublishState();
  }
}

void Replica::TickUpTo(io::Instant now) {
  uint32_t ticks = 0;
  while (next_tick_ <= now) {
    // After a long pause deliver a bounded burst of the missed ticks, before any message.
    if (ticks < kMissedTicksMax) raft_->Tick();
    ticks++;
    next_tick_ = next_tick_ + options_.tick;
  }
  if (ticks > 1) MERIDIAN_PROBE("replica: caught up missed ticks");
  MERIDIAN_CHECK(next_tick_ > now, "every tick due by now was delivered or skipped");
}

void Replica::ApplyLivenessChanges() {
  liveness_wake_queued_ = false;
  for (io::NodeId node : pending_restarts_) {
    raft_->NodeLivenessChanged(node, false);
    if (!nodes_down_.contains(node)) raft_->NodeLivenessChanged(node, true);
  }
  pending_restarts_.clear();
  for (const auto& [node, live] : pending_liveness_) {
    if (live) {
      nodes_down_.erase(node);
    } else {
      nodes_down_.insert(node);
    }
    raft_->NodeLivenessChanged(node, live);
  }
  pending_liveness_.clear();
}

void Replica::Handle(Input input) {
  if (std::holds_alternative<LivenessWake>(input)) return;  // ApplyLivenessChanges reads it.
  if (auto* message = std::get_if<raft::Message>(&input)) {
    if (message->type == raft::MessageType::kSnapshot && options_.state_machine != nullptr &&
        !options_.state_machine->CheckSnapshot(message->snapshot.meta, message->snapshot.data)
             .ok()) {
      MERIDIAN_PROBE("replica: a leader's snapshot that would not restore, refused");
      snapshots_refused_++;
      return;
    }
    const uint64_t dropped_before = raft_->drops().total();
    raft_->Step(*message);
    if (raft_->drops().total() == dropped_before) NoteHeard(*message);  // Not a refused one.
    return;
  }
  if (auto* compaction = std::get_if<Compaction>(&input)) {
    compaction->result->Fulfil(HandleCompaction(*compaction));
    return;
  }
  if (auto* change = std::get_if<MembershipChange>(&input)) {
    HandleMembershipChange(*change);
    return;
  }
  Proposal& proposal = std::get<Proposal>(input);
  absl::StatusOr<raft::Index> index = raft_->Propose(std::move(proposal.data));
  if (!index.ok()) {
    proposal.result->Fulfil(index.status());
    return;
  }
  // Only a leader takes a proposal, and appends it at the end of its log.
  MERIDIAN_CHECK(raft_->role() == raft::Role::kLeader);
  MERIDIAN_CHECK(*index == raft_->log().last_index(), "proposal at {}, log ends at {}",
                 index->ToString(), raft_->log().last_index().ToString());
  proposal.result->Fulfil(std::make_pair(*index, raft_->term()));
}

// A learner (a regional topic's observer) may be promoted once its leader's whole region is
// gone, and then nobody is left to tell it again what was committed: restarted with a volatile
// commit index, it would offer nothing to the promotion, which would discard the whole log it
// holds (a restarted observer was promoted at index 0 in //node:region_demo). So a learner
// stores its commit index too, at most once per kLearnerCommitStoreInterval: learners are not
// on any acknowledgement's path, and a restart then costs at most that interval of commits.
bool Replica::LearnerCommitStoreDue(raft::Index commit) const {
  // A quiesced learner may sleep for hours: what it knows committed is stored before it does.
  return commit > stored_hard_state_.commit && !raft_->membership().IsVoter(options_.raft.id) &&
         (raft_->quiesced() || runtime_.Now() >= commit_stored_at_ + kLearnerCommitStoreInterval);
}

// Stores a learner's grown commit index once LearnerCommitStoreDue, after the Readies (not in
// one: a Ready's commit may cover entries that Ready has yet to persist). Only a commit whose
// entries are durable here (stable) is stored, or a crash could leave a hard state claiming
// entries the log lost, which recovery refuses.
absl::Status Replica::StoreDeferredLearnerCommit() {
  const raft::Index commit = std::min(raft_->log().commit(), raft_->log().stable());
  // A replica that lost its hard state stores none until raft has learned its term: one stored
  // now would hide the loss from the next restart.
  if (raft_->amnesiac() || !LearnerCommitStoreDue(commit)) return absl::OkStatus();
  return StoreHardStateCoveredByMark({stored_hard_state_.term, stored_hard_state_.vote, commit});
}

// A quiesced group may sleep for hours: the rate-limited durable mark would lag its last synced
// entries all that time, and damage to them would be taken for a torn tail.
absl::Status Replica::MarkBeforeSleep() {
  if (!raft_->quiesced() || durable_mark_->position().IsAtLeast(synced_)) return absl::OkStatus();
  absl::Status marked = RetryWhileDiskFull(runtime_, [&] {
    return durable_mark_->Advance(synced_, runtime_.Now(), DurableMark::When::kNow);
  });
  // (term, index) order is total: a mark not at least the log is below it and moves now.
  if (marked.ok()) MERIDIAN_CHECK(durable_mark_->position().IsAtLeast(synced_));
  return marked;
}

// Stores `state` (retrying while the disk is full). The durable mark first covers the commit
// stored: Open relies on mark >= stored commit.
absl::Status Replica::StoreHardStateCoveredByMark(const raft::HardState& state) {
  MERIDIAN_CHECK(state.term >= stored_hard_state_.term, "terms never go back on disk");
  MERIDIAN_CHECK(state.commit >= stored_hard_state_.commit, "nor does the stored commit");
  if (state.commit > durable_mark_->position().index) {
    if (absl::Status s = durable_mark_->Advance(synced_, runtime_.Now(), DurableMark::When::kNow);
        !s.ok()) {
      return s;
    }
  }
  const StoredHardState stored{state, hard_state_sequence_ + 1};
  if (absl::Status s = RetryWhileDiskFull(
          runtime_, [&] { return StoreHardState(runtime_.disk(), options_.dir, stored); });
      !s.ok()) {
    return s;
  }
  hard_state_sequence_ = stored.sequence;
  stored_hard_state_ = state;
  commit_stored_at_ = runtime_.Now();
  // What Open relies on: the mark covers the commit stored, unless the log is below the mark in
  // raft's order (being repaired, or a later term's uncommitted entries were replaced), and then
  // a restart cuts the commit to the snapshot's index (ReconcileWithDurableMark).
  MERIDIAN_CHECK(state.commit <= durable_mark_->position().index ||
                     !synced_.IsAtLeast(durable_mark_->position()),
                 "stored commit {} past the durable mark {}", state.commit.ToString(),
                 durable_mark_->position().index.ToString());
  return absl::OkStatus();
}

absl::Status Replica::HandleReady() {
  MERIDIAN_CHECK(failure_.ok(), "a failed replica persists nothing more");
  raft::Ready ready = raft_->GetReady();
  if (ready.snapshot.has_value()) {
    if (absl::Status s = InstallSnapshot(*ready.snapshot); !s.ok()) return s;
  }
  if (ready.hard_state.has_value() && (ready.hard_state->term != stored_hard_state_.term ||
                                       ready.hard_state->vote != stored_hard_state_.vote)) {
    // Term and vote must be on disk before any message of this Ready leaves (a vote response
    // must never outrun its vote). The commit index alone is volatile state (Raft §5, Figure
    // 2): a restart relearns it from the leader, so a change of commit alone is not worth the
    // three syncs of an atomic file replace on every replication round (meridian-bench saw
    // them triple the latency of an ack); it is stored with the next term or vote change.
    // Except on a learner: see LearnerCommitStoreDue. The commit stored is clipped to what is
    // durable already: this Ready's entries are persisted below, after the hard state, and a
    // crash in between must not leave a hard state claiming entries the log never got.
    raft::HardState state = *ready.hard_state;
    state.commit =
        std::max(stored_hard_state_.commit, std::min(state.commit, raft_->log().stable()));
    if (absl::Status s = StoreHardStateCoveredByMark(state); !s.ok()) return s;
  }
  if (ready.hard_state.has_value()) {
    // Paired with the store above: no message of this Ready leaves before its term and vote
    // are on disk (a vote response must never outrun its vote).
    MERIDIAN_CHECK(stored_hard_state_.term == ready.hard_state->term);
    MERIDIAN_CHECK(stored_hard_state_.vote == ready.hard_state->vote);
  }
  for (raft::Message& message : ready.messages) {
    if (absl::Status s = MarkCoversAcknowledgement(message); !s.ok()) return s;
    if (CompactedSinceMade(message)) continue;
    if (absl::Status s = ReadElided(message.entries); !s.ok()) return s;
    runtime_.network().Send(message.to, wire::EncodePeerMessage(options_.group, message));
  }
  if (!ready.entries.empty()) {
    if (absl::Status s =
            RetryWhileDiskFull(runtime_, [&] { return PersistEntries(ready.entries); });
        !s.ok()) {
      return s;
    }
    // A leader's own durable entries count toward commit once raft hears of them (Advance
    // below): like a follower's acknowledgement, the mark must cover them first.
    const DurableMark::When when = raft_->role() == raft::Role::kLeader
                                       ? DurableMark::When::kNow
                                       : DurableMark::When::kRateLimited;
    if (absl::Status s = RetryWhileDiskFull(
            runtime_, [&] { return durable_mark_->Advance(synced_, runtime_.Now(), when); });
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = ReadElided(ready.committed_entries); !s.ok()) return s;
  Apply(ready.committed_entries);
  raft_->Advance(ready);
  return absl::OkStatus();
}

// An append raft made before a compaction (Replica::Compact runs between Readys, and raft's
// outbox keeps what it made until the next Ready) may carry entries, elided, that the
// compaction has since deleted from the log. Such a message is dropped, as the network may drop
// any: the follower rejects the next append, and the leader, probing back below its snapshot,
// sends the snapshot instead. Reading them fail-stopped the leader (meridian-sim --seed=199
// --scenario=region-loss-regional: "offset 6520 is not in the log [6601, 6665]").
bool Replica::CompactedSinceMade(const raft::Message& message) const {
  for (const raft::Entry& entry : message.entries) {
    if (entry.elided && entry.index <= snapshot_index_) {
      MERIDIAN_PROBE("replica: an append made before a compaction dropped");
      return true;
    }
  }
  return false;
}

// Entries raft handed out elided (outside its entry cache) are durable in the log: read each
// run of them back, checking that the log holds them with the same term and size. Anything else
// is damage to entries this replica synced, and fail-stops it (HandleReady's caller).
absl::Status Replica::ReadElided(std::vector<raft::Entry>& entries) {
  size_t i = 0;
  while (i < entries.size()) {
    if (!entries[i].elided) {
      i++;
      continue;
    }
    MERIDIAN_PROBE("replica: entries outside raft's cache read back from the log");
    MERIDIAN_CHECK(entries[i].index <= synced_.index, "elided entry {} is not durable here",
                   entries[i].index.ToString());
    size_t run_end = i;
    uint64_t run_bytes = 0;
    while (run_end < entries.size() && entries[run_end].elided) {
      run_bytes += entries[run_end].elided_bytes;
      run_end++;
    }
    absl::StatusOr<std::vector<raft::Entry>> read =
        ReadEntries(entries[i].index, run_bytes, entries[run_end - 1].index);
    if (!read.ok()) return read.status();
    if (read->empty() || read->front().index != entries[i].index) {
      return absl::DataLossError(
          fmt::format("raft entry {} is missing from the log", entries[i].index.ToString()));
    }
    for (raft::Entry& from_log : *read) {
      raft::Entry& wanted = entries[i++];
      MERIDIAN_CHECK(wanted.elided && wanted.index == from_log.index);
      if (from_log.term != wanted.term || from_log.data.size() != wanted.elided_bytes) {
        return absl::DataLossError(
            fmt::format("raft entry {} of term {} ({} bytes) reads back as term {} ({} bytes)",
                        wanted.index.ToString(), wanted.term.ToString(), wanted.elided_bytes,
                        from_log.term.ToString(), from_log.data.size()));
      }
      wanted = std::move(from_log);
    }
  }
  return absl::OkStatus();
}

// An accepted append response tells the leader this replica holds entries through log_index:
// once counted toward commit, they are acknowledged records. The durable mark must cover them
// before the response leaves, or a restart after damage at rest in that window (a bit flip or a
// truncation of the log's tail) would find the log shorter than acknowledged yet not below the
// mark, take it for an unsynced tail, and vote for a candidate missing those entries
// (tests/jepsen bitflip lost 3 acknowledged records this way: the mark then lagged the log by up
// to kDurableMarkInterval). The response reports only synced entries, so the mark can move there.
absl::Status Replica::MarkCoversAcknowledgement(const raft::Message& message) {
  if (message.type != raft::MessageType::kAppendResponse || message.reject ||
      message.log_index <= durable_mark_->position().index) {
    return absl::OkStatus();
  }
  if (!synced_.IsAtLeast(durable_mark_->position())) {
    // The log is below its mark in raft's order (a damaged log being repaired, or uncommitted
    // entries of a later term replaced by a new leader's of an earlier one): the mark cannot move
    // until the log passes it, and a restart then votes only for candidates at least at the
    // mark. A legitimate state, so no assertion below.
    MERIDIAN_PROBE("replica: acknowledging while the log is below its durable mark");
    return absl::OkStatus();
  }
  MERIDIAN_CHECK(message.log_index <= synced_.index || options_.unsafe_ack_before_fsync_for_tests,
                 "acknowledging index {} beyond the synced log ({})", message.log_index.value(),
                 synced_.index.value());
  if (absl::Status s = RetryWhileDiskFull(
          runtime_,
          [&] { return durable_mark_->Advance(synced_, runtime_.Now(), DurableMark::When::kNow); });
      !s.ok()) {
    return s;
  }
  MERIDIAN_CHECK(message.log_index <= durable_mark_->position().index ||
                     options_.unsafe_ack_before_fsync_for_tests,
                 "acknowledging index {} beyond the durable mark ({})", message.log_index.value(),
                 durable_mark_->position().index.value());
  return absl::OkStatus();
}

absl::Status Replica::InstallSnapshot(const raft::Snapshot& snapshot) {
  // Ready step (0): durable before anything of this Ready (the acknowledgement included) leaves.
  MERIDIAN_CHECK(snapshot.meta.index > applied_, "a snapshot installed is past what we applied");
  // From our term's leader, whose log held the snapshot's last entry: no term from the future.
  MERIDIAN_CHECK(snapshot.meta.term <= raft_->term(), "snapshot of term {} in term {}",
                 snapshot.meta.term.ToString(), raft_->term().ToString());
  if (absl::Status s = StoreSnapshot(runtime_.disk(), options_.dir, snapshot); !s.ok()) return s;
  if (absl::Status s = log_->Reset(core::Offset(snapshot.meta.index.value())); !s.ok()) return s;
  if (options_.state_machine != nullptr) {
    if (absl::Status s = options_.state_machine->Restore(snapshot.meta, snapshot.data); !s.ok()) {
      return absl::DataLossError(fmt::format("restoring the leader's snapshot at {}: {}",
                                             snapshot.meta.index.ToString(), s.ToString()));
    }
  }
  applied_ = snapshot.meta.index;
  applied_term_ = snapshot.meta.term;
  snapshot_index_ = snapshot.meta.index;
  synced_ = {snapshot.meta.term, snapshot.meta.index};
  // The log continues right after the snapshot, as Open's AlignLogWithSnapshot expects.
  MERIDIAN_CHECK(log_->end_offset() == core::Offset(snapshot.meta.index.value()));
  MERIDIAN_CHECK(log_->start_offset() == log_->end_offset(), "nothing before the snapshot kept");
  applied_waiters_.NotifyAll();
  return absl::OkStatus();
}

absl::Status Replica::HandleCompaction(const Compaction& compaction) {
  absl::StatusOr<raft::SnapshotMeta> meta = raft_->Compact(compaction.index, compaction.data);
  if (!meta.ok()) return meta.status();  // Refused; nothing changed.
  MERIDIAN_CHECK(raft_->snapshot().meta == *meta);
  MERIDIAN_CHECK(meta->index <= applied_, "compacting only what was applied here");
  // Stored before any entry it covers is deleted: a crash in between keeps both.
  absl::Status status = StoreSnapshot(runtime_.disk(), options_.dir, raft_->snapshot());
  if (status.ok()) status = log_->TruncatePrefix(core::Offset(meta->index.value())).status();
  if (!status.ok()) {
    FailStop(status);
    return status;
  }
  snapshot_index_ = meta->index;
  return absl::OkStatus();
}

raft::Index Replica::RetentionIndex(uint64_t bytes_max) const {
  const core::Offset point =
      bytes_max == 0 ? core::Offset(0) : log_->RetentionPoint(0, bytes_max, 0);
  const raft::Index index = std::max(snapshot_index_, raft::Index(point.value()));
  MERIDIAN_CHECK(index.value() <= log_->end_offset().value(), "retention past the log's end");
  return index;
}

absl::Status Replica::Compact(raft::Index index, std::string data, io::Instant deadline) {
  if (!failure_.ok()) return failure_;
  auto result = std::make_shared<io::Promise<absl::Status>>(runtime_);
  if (!inputs_.TrySend(Compaction{index, std::move(data), result})) {
    return absl::UnavailableError("replica input queue full");
  }
  absl::StatusOr<const absl::Status*> done = result->Wait(deadline);
  if (!done.ok()) return done.status();
  return **done;
}

absl::Status Replica::PersistEntries(const std::vector<raft::Entry>& entries) {
  MERIDIAN_CHECK(!entries.empty());
  MERIDIAN_CHECK(entries.front().index > snapshot_index_, "never rewriting inside the snapshot");
  const raft::Entry& first = entries.front();
  const raft::Entry& last = entries.back();
  if (OffsetOf(first.index) < log_->end_offset()) {
    MERIDIAN_PROBE("replica: truncated a conflicting suffix");
    if (absl::Status s = log_->TruncateSuffix(OffsetOf(first.index)); !s.ok()) return s;
  }
  MERIDIAN_CHECK(OffsetOf(first.index) == log_->end_offset(), "entry {} after log end {}",
                 first.index.ToString(), log_->end_offset().ToString());
  for (const raft::Entry& entry : entries) {
    // The entry's data goes from raft's entry into the encoded batch in one copy.
    const std::vector<uint8_t> head = EncodeEntryHead(entry);
    const std::span<const uint8_t> payload[] = {head, EntryData(entry)};
    absl::StatusOr<core::Offset> offset = log_->Append(log::BatchMeta{.term = entry.term}, payload);
    if (!offset.ok()) return offset.status();
    MERIDIAN_CHECK(*offset == OffsetOf(entry.index));
  }
  if (absl::Status s = log_->WaitDurable(OffsetOf(last.index)); !s.ok()) {
    // Over the node-wide log a large round's base record may find the disk full: nothing was
    // made durable, and the retry (RetryWhileDiskFull) appends these entries again.
    if (absl::IsResourceExhausted(s) && log_->failure().ok()) return s;
    // Not a full disk to wait out: a failed sync fails the log until it is reopened.
    return absl::InternalError(fmt::format("syncing the raft log: {}", s.ToString()));
  }
  // StableTo only after the sync: raft counts and acknowledges what it is told is stable.
  MERIDIAN_CHECK(log_->durable_end_offset() > OffsetOf(last.index), "{} not durable",
                 last.index.ToString());
  raft_->StableTo(last.index, last.term);
  synced_ = {last.term, last.index};
  return absl::OkStatus();
}

void Replica::Apply(const std::vector<raft::Entry>& committed) {
  for (const raft::Entry& entry : committed) {
    MERIDIAN_CHECK(entry.index == applied_.next(), "apply {} after {}", entry.index.ToString(),
                   applied_.ToString());
    MERIDIAN_CHECK(entry.index <= raft_->log().commit(), "apply only below commit: {} past {}",
                   entry.index.ToString(), raft_->log().commit().ToString());
    MERIDIAN_CHECK(entry.index <= synced_.index, "apply only what is durable here: {} past {}",
                   entry.index.ToString(), synced_.index.ToString());
    applied_ = entry.index;
    applied_term_ = entry.term;
    applied_terms_[entry.index] = entry.term;
    if (options_.state_machine != nullptr) options_.state_machine->Apply(entry);
    if (observer_ != nullptr) observer_->OnApply(runtime_.node(), entry);
  }
  while (!applied_terms_.empty() &&
         applied_terms_.begin()->first.value() + kAppliedTermsKept < applied_.value()) {
    applied_terms_.erase(applied_terms_.begin());
  }
  MERIDIAN_CHECK(applied_ <= raft_->log().commit());
  if (!committed.empty()) applied_waiters_.NotifyAll();
}

void Replica::FailStop(absl::Status why) {
  MERIDIAN_CHECK(!why.ok());
  if (shut_down_) {
    // The broker stops a group and then deletes its directory: a compaction in flight then
    // finds its snapshot file gone (seed 159 of region-loss-regional took its node down).
    MERIDIAN_PROBE("replica: an error after shutdown is not a fail-stop");
    return;
  }
  failure_ = why;
  inputs_.Close();
  applied_waiters_.NotifyAll();
  if (observer_ != nullptr) observer_->OnFailStop(runtime_.node(), why);
  if (options_.on_fail_stop) options_.on_fail_stop(why);
}

void Replica::PublishState() {
  const bool new_leadership = raft_->role() == raft::Role::kLeader &&
                              (role_ != raft::Role::kLeader || term_ != raft_->term());
  MERIDIAN_CHECK(raft_->term() >= term_, "terms never go back");
  MERIDIAN_CHECK(raft_->log().commit() >= commit_, "nor does the commit index");
  role_ = raft_->role();
  term_ = raft_->term();
  leader_ = raft_->leader();
  MERIDIAN_CHECK(role_ != raft::Role::kLeader || leader_ == options_.raft.id);
  commit_ = raft_->log().commit();
  MERIDIAN_CHECK(applied_ <= commit_, "applied {} past commit {}", applied_.ToString(),
                 commit_.ToString());
  membership_ = raft_->membership();
  membership_index_ = raft_->membership_index();
  joining_ = raft_->joining();
  match_.clear();
  if (role_ == raft::Role::kLeader) {
    for (const auto& [id, progress] : raft_->progress()) {
      if (id != raft_->id()) match_[id] = progress.match();
    }
  }
  if (new_leadership && observer_ != nullptr)
    observer_->OnLeader(runtime_.node(), term_, raft_->log());
  // Health bookkeeping only (health()); nothing here feeds back into the protocol.
  const io::Instant now = runtime_.Now();
  if (leader_ != raft::kNoNode && leader_ != last_known_leader_) {
    leader_changes_total_++;
    last_known_leader_ = leader_;
  }
  const bool woke = quiesced_ && !raft_->quiesced();
  quiesced_ = raft_->quiesced();
  if (new_leadership || (woke && role_ == raft::Role::kLeader)) {
    if (new_leadership) leadership_won_total_++;
    commit_history_.clear();
    // A fresh leader gives each voter a window; so does one that wakes, for the voters whose
    // node stayed live: they held everything when it quiesced and nothing was written since.
    for (io::NodeId voter : raft_->membership().voters) {
      if (!new_leadership && nodes_down_.contains(voter)) continue;
      voter_caught_up_[voter] = now;
      voter_heard_[voter] = now;
    }
  }
  if (role_ != raft::Role::kLeader) return;
  NoteVotersCaughtUp(now);
}

// A voter is caught up as of the last moment it held everything committed: until the commit
// index first passed its match. Comparing match with the commit index of now instead would
// count a voter that keeps up, one round trip behind (the slower follower of a geo quorum under
// steady load: commit never waits for it), as out of sync for good.
void Replica::NoteVotersCaughtUp(io::Instant now) {
  // One sample per eighth of a tick at most, so the history is bounded by the window, not by the
  // commit rate: a later commit within that spacing raises the last sample's index and keeps its
  // time, which dates a voter's catching up a little earlier than it was (it looks out of sync a
  // little sooner, never later).
  const io::Duration spacing = options_.tick / 8;
  if (!commit_history_.empty() && commit_history_.back().second < commit_ &&
      now - commit_history_.back().first < spacing) {
    commit_history_.back().second = commit_;
  } else if (commit_history_.empty() || commit_history_.back().second < commit_) {
    commit_history_.emplace_back(now, commit_);
  }
  MERIDIAN_CHECK(commit_history_.back().second == commit_, "the newest sample is the commit");
  const io::Duration window = options_.tick * options_.raft.election_timeout_ticks;
  while (commit_history_.size() > 1 && now - commit_history_[1].first >= window) {
    commit_history_.pop_front();  // The one after it already reaches back a whole window.
  }
  MERIDIAN_CHECK(commit_history_.size() <= 8 * options_.raft.election_timeout_ticks + 2,
                 "commit history of {} samples", commit_history_.size());
  for (const auto& [id, progress] : raft_->progress()) {
    if (!raft_->membership().IsVoter(id)) continue;
    auto passed = std::upper_bound(
        commit_history_.begin(), commit_history_.end(), progress.match(),
        [](raft::Index match, const auto& sample) { return match < sample.second; });
    const io::Instant caught_up = passed == commit_history_.end() ? now : passed->first;
    io::Instant& noted = voter_caught_up_[id];
    noted = std::max(noted, caught_up);
  }
}

void Replica::HandleMembershipChange(MembershipChange& change) {
  if (!change.change.has_value()) {
    const absl::Status transfer = raft_->TransferLeadership(change.target);
    if (!transfer.ok()) return change.result->Fulfil(transfer);
    return change.result->Fulfil(raft_->log().last_index());
  }
  if (raft_->membership_index() != change.based_on) {
    MERIDIAN_PROBE("replica: a configuration change chosen from a stale configuration refused");
    return change.result->Fulfil(absl::AbortedError(fmt::format(
        "the configuration in force is the one at {}, not the one at {} the change was chosen "
        "from",
        raft_->membership_index().ToString(), change.based_on.ToString())));
  }
  absl::StatusOr<raft::Index> index = raft_->ProposeConfChange(*change.change);
  if (index.ok()) MERIDIAN_CHECK(raft_->role() == raft::Role::kLeader, "only a leader changes");
  change.result->Fulfil(index);
}

absl::StatusOr<raft::Index> Replica::SendMembershipChange(MembershipChange change,
                                                          io::Instant deadline) {
  if (!failure_.ok()) return failure_;
  auto result = std::make_shared<io::Promise<absl::StatusOr<raft::Index>>>(runtime_);
  change.result = result;
  if (!inputs_.TrySend(std::move(change))) {
    return absl::UnavailableError("replica input queue full");
  }
  absl::StatusOr<const absl::StatusOr<raft::Index>*> done = result->Wait(deadline);
  if (!done.ok()) return done.status();
  return **done;
}

absl::StatusOr<raft::Index> Replica::ProposeConfChange(raft::ConfChange change,
                                                       raft::Index based_on, io::Instant deadline) {
  MERIDIAN_CHECK(change.node != raft::kNoNode);
  return SendMembershipChange(MembershipChange{change, based_on, raft::kNoNode, nullptr}, deadline);
}

absl::Status Replica::TransferLeadership(io::NodeId target, io::Instant deadline) {
  MERIDIAN_CHECK(target != raft::kNoNode);
  return SendMembershipChange(MembershipChange{std::nullopt, raft::Index(), target, nullptr},
                              deadline)
      .status();
}

void Replica::NoteHeard(const raft::Message& message) {
  MERIDIAN_CHECK(message.from != options_.raft.id, "the dispatcher refuses messages from us");
  if (!raft_->membership().IsMember(message.from)) return;
  member_heard_[message.from] = runtime_.Now();
  if (!raft_->membership().IsVoter(message.from)) return;
  voter_heard_[message.from] = runtime_.Now();
  if (message.from == raft_->leader() && message.term == raft_->term()) {
    leader_commit_heard_ = std::max(leader_commit_heard_, message.commit);
    leader_heard_at_ = runtime_.Now();
  }
}

std::optional<io::Instant> Replica::LastHeardFrom(io::NodeId member) const {
  auto it = member_heard_.find(member);
  if (it == member_heard_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::vector<raft::Entry>> Replica::ReadLocalTail(raft::Index from,
                                                                uint64_t bytes_max) {
  return ReadEntries(from, bytes_max, raft::Index(log_->end_offset().value()));
}

absl::Status Replica::ConfigurationFollowsLog() const {
  return raft_ != nullptr ? raft_->ConfigurationFollowsLog() : absl::OkStatus();
}

bool Replica::VoterInSync(io::NodeId voter) const {
  if (role_ != raft::Role::kLeader || raft_ == nullptr) return false;
  if (voter == runtime_.node()) return true;
  if (!raft_->membership().IsVoter(voter)) return false;
  return Heard(voter) && CaughtUp(voter);
}

// A quiesced leader hears nothing from its followers by design: they held everything when it
// quiesced, nothing was written since (a write wakes it), so the node's liveness stands in.
bool Replica::Heard(io::NodeId voter) const {
  if (quiesced_) return !nodes_down_.contains(voter);
  return Recent(voter_heard_, voter);
}

bool Replica::CaughtUp(io::NodeId voter) const {
  return quiesced_ || Recent(voter_caught_up_, voter);
}

bool Replica::Recent(const absl::btree_map<io::NodeId, io::Instant>& seen, io::NodeId id) const {
  auto it = seen.find(id);
  return it != seen.end() &&
         runtime_.Now() - it->second <= options_.tick * options_.raft.election_timeout_ticks;
}

ReplicaHealth Replica::health() const {
  ReplicaHealth health;
  health.leader_commit_heard = role_ == raft::Role::kLeader ? commit_ : leader_commit_heard_;
  health.leadership_won_total = leadership_won_total_;
  health.leader_changes_total = leader_changes_total_;
  health.log_bytes = log_->size_bytes();
  health.log = log_->metrics();
  if (role_ != raft::Role::kLeader || raft_ == nullptr) return health;
  for (io::NodeId voter : raft_->membership().voters) {
    if (voter == runtime_.node()) continue;
    const bool heard = Heard(voter);
    if (!heard) health.voters_unheard.push_back(voter);
    if (!heard || !CaughtUp(voter)) health.voters_out_of_sync++;
  }
  MERIDIAN_CHECK(health.voters_out_of_sync < raft_->membership().voters.size());
  return health;
}

absl::StatusOr<raft::Index> Replica::LeaseRead(raft::Term* term) const {
  if (!failure_.ok()) return absl::FailedPreconditionError(failure_.ToString());
  absl::StatusOr<raft::Index> read = raft_->LeaseRead();
  if (!read.ok()) return read.status();
  const io::Instant now = runtime_.Now();
  const bool planted = options_.raft.planted_bug == raft::PlantedBug::kLeaseReadIgnoresOwedTicks;
  if (!planted && !raft_->quiesced() && now >= next_tick_) {
    // Ticks owed: the one due at next_tick_ and every whole tick since (as TickUpTo counts).
    const uint64_t owed = 1 + static_cast<uint64_t>((now - next_tick_) / options_.tick);
    if (raft_->ticks() + owed >= raft_->lease_end_ticks()) {
      MERIDIAN_PROBE("replica: lease read refused, the lease ends within the ticks owed");
      return absl::UnavailableError("lease expired (ticks owed after a pause)");
    }
  }
  MERIDIAN_CHECK(*read <= raft_->log().commit(), "a read index is committed");
  if (term != nullptr) *term = raft_->term();
  return read;
}

absl::StatusOr<raft::Index> Replica::ProposeAndWait(std::string data, io::Instant deadline,
                                                    WaitFor wait_for) {
  if (!failure_.ok()) return failure_;
  auto result =
      std::make_shared<io::Promise<absl::StatusOr<std::pair<raft::Index, raft::Term>>>>(runtime_);
  if (!inputs_.TrySend(Proposal{std::move(data), result})) {
    return absl::UnavailableError("replica input queue full");
  }
  absl::StatusOr<const absl::StatusOr<std::pair<raft::Index, raft::Term>>*> proposed =
      result->Wait(deadline);
  if (!proposed.ok()) return proposed.status();
  if (!(*proposed)->ok()) return (*proposed)->status();
  const auto [index, term] = ***proposed;
  if (wait_for == WaitFor::kLeaderDurable) {
    // Aborted if a suffix truncation (a new leader) removed the entry meanwhile.
    if (absl::Status s = log_->WaitDurable(OffsetOf(index), deadline); !s.ok()) return s;
    if (!failure_.ok()) return failure_;
    MERIDIAN_CHECK(log_->durable_end_offset() > OffsetOf(index), "acknowledged before durable");
    return index;
  }
  absl::Status waited =
      applied_waiters_.WaitUntil([&, index = index] { return applied_ >= index || !failure_.ok(); },
                                 deadline, "wait for apply");
  if (!waited.ok()) return waited;
  if (!failure_.ok()) return failure_;
  auto applied = applied_terms_.find(index);
  if (applied == applied_terms_.end()) {
    // Applied here only as part of a snapshot from a leader: which entry took the index is not
    // known here (our own may or may not have survived).
    MERIDIAN_CHECK(index <= snapshot_index_, "applied entry {} forgotten", index.ToString());
    // Unknown, never Unavailable: callers read Unavailable as "certainly not applied".
    return absl::UnknownError(
        fmt::format("entry {} was covered by a snapshot from the leader; its outcome is unknown",
                    index.ToString()));
  }
  if (applied->second != term) {
    return absl::AbortedError(fmt::format("entry {} was taken by term {}, not {}", index.ToString(),
                                          applied->second.ToString(), term.ToString()));
  }
  return index;
}

absl::StatusOr<std::vector<raft::Entry>> Replica::ReadCommitted(raft::Index from,
                                                                uint64_t bytes_max) {
  return ReadEntries(from, bytes_max, applied_);
}

absl::StatusOr<std::vector<raft::Entry>> Replica::ReadUncommittedForPlantedBug(raft::Index from,
                                                                               uint64_t bytes_max) {
  return ReadEntries(from, bytes_max, raft::Index(log_->end_offset().value()));
}

absl::StatusOr<std::vector<raft::Entry>> Replica::ReadEntries(raft::Index from, uint64_t bytes_max,
                                                              raft::Index last) {
  MERIDIAN_CHECK(from.value() >= 1);
  std::vector<raft::Entry> entries;
  if (!failure_.ok()) return failure_;
  if (from > last) return entries;
  absl::StatusOr<log::ReadResult> read = log_->Read(OffsetOf(from), bytes_max);
  if (!read.ok()) return read.status();
  for (const log::BatchRef& batch : read->batches) {
    const raft::Index index(batch.header.base_offset.value() + 1);
    if (index < from) continue;
    if (index > last) break;
    absl::StatusOr<raft::Entry> entry = DecodeEntry(batch.payload(), batch.header.term, index);
    if (!entry.ok()) return entry.status();
    MERIDIAN_CHECK(entries.empty() || entries.back().index.next() == index);
    entries.push_back(std::move(*entry));
  }
  MERIDIAN_CHECK(entries.empty() ||
                 (entries.front().index >= from && entries.back().index <= last));
  return entries;
}

void Replica::Shutdown() {
  if (!failure_.ok()) return;
  shut_down_ = true;
  failure_ = absl::CancelledError(fmt::format("raft group {} shut down", options_.group));
  inputs_.Close();
  applied_waiters_.NotifyAll();
}

}  // namespace meridian::core::replica
