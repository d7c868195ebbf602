// A Log over the node-wide WAL (wal.h): durability waits, truncations recorded in the WAL
// first, the redo of the WAL's records at Open, and the checkpoint's sync of the segment files.
#include <fmt/format.h>

#include <algorithm>

#include "core/log/log.h"
#include "core/log/segment.h"
#include "io/assert.h"
#include "io/probe.h"

namespace meridian::core::log {

void Log::AdvanceDurableFromWal() {
  MERIDIAN_CHECK(uses_wal());
  const uint64_t durable = options_.wal->durable_sequence();
  // A batch appended direct (no WAL record) is durable only through a direct round's sync.
  while (!wal_pending_.empty() && wal_pending_.front().second != kDirectAppend &&
         wal_pending_.front().second <= durable) {
    durable_end_ = std::max(durable_end_, wal_pending_.front().first);
    wal_pending_.pop_front();
  }
  if (durable_end_ == end_offset_) round_bytes_ = 0;
  MERIDIAN_CHECK(durable_end_ <= end_offset_);
}

absl::Status Log::WaitDurableInWal(Offset offset, io::Instant deadline) {
  MERIDIAN_CHECK(offset >= start_offset_ && offset < end_offset_);
  if (!failed_.ok()) return failed_;
  AdvanceDurableFromWal();
  if (durable_end_ > offset) return absl::OkStatus();
  // The record that made `offset` part of the log: the first pending append ending past it.
  auto it = std::find_if(wal_pending_.begin(), wal_pending_.end(),
                         [&](const auto& pending) { return pending.first > offset; });
  if (it == wal_pending_.end()) {
    // Neither durable nor pending: a truncation removing it waits for its WAL record.
    MERIDIAN_CHECK(wal_truncation_pending_ || options_.wal->testing_truncate_before_wal_sync(),
                   "offset {} neither durable (below {}) nor pending", offset.value(),
                   durable_end_.value());
    return absl::AbortedError(
        fmt::format("offset {} is being truncated (the WAL is syncing the cut)", offset.value()));
  }
  if (std::any_of(wal_pending_.begin(), std::next(it),
                  [](const auto& pending) { return pending.second == kDirectAppend; })) {
    return WaitDurableDirect(offset, deadline);
  }
  const uint64_t sequence = it->second;
  const uint64_t generation = truncation_generation_;
  if (options_.testing.report_durable_before_sync) {  // Planted bug (LogTestingKnobs).
    runtime_.Spawn("log-planted-wal-sync",
                   [wal = options_.wal, sequence] { (void)wal->WaitDurable(sequence); });
    durable_end_ = std::max(durable_end_, it->first);
    return absl::OkStatus();
  }
  durability_waiters_++;
  absl::Status result = options_.wal->WaitDurable(sequence, deadline);
  MERIDIAN_CHECK(durability_waiters_ > 0);
  durability_waiters_--;
  // The WAL failed (a failed fsync): so is every log over it, until the node reopens them.
  if (!result.ok() && !options_.wal->failure().ok()) return Fail(result);
  if (result.ok()) result = CheckNotTruncated(offset, generation);
  if (!result.ok()) return result;
  if (!failed_.ok()) return failed_;
  if (offset < start_offset_) return absl::OkStatus();
  AdvanceDurableFromWal();
  MERIDIAN_CHECK(durable_end_ > offset, "the WAL synced {} but offset {} is not durable", sequence,
                 offset.value());
  return absl::OkStatus();
}

// A direct run (LogOptions::wal_direct_round_bytes) makes a round durable without WAL records
// for its batches: the segment files holding it are synced, and the run's first round writes a
// kDirect record at the end they were synced to and waits for it (a replay starts from there
// and keeps what the segment files hold past it; without it, the replay removes what the WAL's
// history does not hold, which was never reported durable). Later rounds need no record.
absl::Status Log::WaitDurableDirect(Offset offset, io::Instant deadline) {
  if (options_.testing.report_durable_before_sync) return PlantedDirectDurability();
  const uint64_t generation = truncation_generation_;
  if (absl::Status s = AcquireIo(deadline); !s.ok()) return s;
  // While this waited for the lock, a truncation may have removed the offset, or a direct
  // round covered it (and the log may have gone back through the WAL since).
  absl::Status status = CheckNotTruncated(offset, generation);
  if (status.ok() && durable_end_ <= offset && direct_) status = SyncDirectRoundLocked(false);
  ReleaseIo();
  if (!status.ok()) return status;
  if (durable_end_ <= offset) return WaitDurableInWal(offset, deadline);
  MERIDIAN_CHECK(durable_end_ > offset, "offset {} not durable after a direct round",
                 offset.value());
  return absl::OkStatus();
}

// Planted bug (LogTestingKnobs::report_durable_before_sync), as GroupSync plants it: the
// direct round is reported durable now, and synced by a fiber of its own.
absl::Status Log::PlantedDirectDurability() {
  durable_end_ = std::max(durable_end_, end_offset_);
  std::erase_if(wal_pending_, [&](const auto& pending) { return pending.first <= durable_end_; });
  if (io_busy_ || !direct_) return absl::OkStatus();  // A sync runs already, or none is due.
  io_busy_ = true;
  runtime_.Spawn("log-planted-direct-sync", [this] {
    if (direct_) (void)SyncDirectRoundLocked(false);
    ReleaseIo();
  });
  return absl::OkStatus();
}

// Called with the io lock held. Syncs every segment from segments_synced_end_ on, whatever
// their dirty flags say (a checkpoint may have taken the flags and be syncing them still), and
// the directory if a segment was created since the log last synced it (checkpoints leave that
// flag set: theirs may not be done). The run ends (a base record) when `leave` asks (a truncation
// follows) or when the round was small enough for the WAL again.
absl::Status Log::SyncDirectRoundLocked(bool leave) {
  MERIDIAN_CHECK(io_busy_ && uses_wal() && !replaying_);
  MERIDIAN_CHECK(direct_, "only a direct run syncs its rounds itself");
  const Offset target = end_offset_;
  const uint64_t round_bytes = round_bytes_;
  std::vector<SegmentPtr> round;
  for (const SegmentPtr& segment : segments_) {
    if (segment->end_offset > segments_synced_end_ || segment == segments_.back()) {
      round.push_back(segment);
    }
  }
  for (const SegmentPtr& segment : round) {
    if (absl::Status s = segment->file->Sync(); !s.ok()) return Fail(s);
    metrics_.file_syncs++;
  }
  if (dir_dirty_) {
    dir_dirty_ = false;
    if (absl::Status s = disk_.SyncDir(options_.dir); !s.ok()) return Fail(s);
    metrics_.dir_syncs++;
  }
  metrics_.group_syncs++;
  MERIDIAN_CHECK(target <= end_offset_, "truncations wait for the io lock");
  const bool small_round = round_bytes < options_.wal_direct_round_bytes / 4;
  if (leave || (small_round && end_offset_ == target)) {
    if (absl::Status s = WriteDirectRecordLocked(WalOp::Kind::kBase, target); !s.ok()) return s;
    MERIDIAN_PROBE("log: a direct run ends; rounds go through the wal again");
    direct_ = false;
  } else if (!direct_marker_written_) {
    if (absl::Status s = WriteDirectRecordLocked(WalOp::Kind::kDirect, target); !s.ok()) return s;
    direct_marker_written_ = true;
  }
  segments_synced_end_ = target;
  durable_end_ = std::max(durable_end_, target);
  std::erase_if(wal_pending_, [&](const auto& pending) { return pending.first <= target; });
  if (end_offset_ == target) round_bytes_ = 0;
  return absl::OkStatus();
}

// A base or kDirect record saying the segment files are synced through `synced_end`, waited
// for unless the run's kDirect record is durable already (then whatever the WAL holds after
// this record is durable only if it is, and the round it ends is durable without it).
absl::Status Log::WriteDirectRecordLocked(WalOp::Kind kind, Offset synced_end) {
  MERIDIAN_CHECK(io_busy_ && direct_);
  MERIDIAN_CHECK(kind == WalOp::Kind::kBase || kind == WalOp::Kind::kDirect);
  absl::StatusOr<uint64_t> sequence = options_.wal->Append(options_.dir, kind, synced_end);
  // A full disk: the run goes on, and the round waits (the replica retries it).
  if (absl::IsResourceExhausted(sequence.status())) return sequence.status();
  if (!sequence.ok()) return Fail(sequence.status());
  if (direct_marker_written_) return absl::OkStatus();
  if (options_.testing.direct_round_before_its_record) return absl::OkStatus();  // Planted.
  if (absl::Status s = options_.wal->WaitDurable(*sequence); !s.ok()) return Fail(s);
  MERIDIAN_CHECK(direct_, "only a reset ends a direct run, and it waits for the io lock");
  return absl::OkStatus();
}

// A suffix truncation or a reset goes into the WAL, synced, before the segment files change:
// a crash after the cut then replays it, and one before replays the batches it would remove
// (which were never reported gone). Called with the io lock held.
absl::Status Log::WriteWalRecordFirst(WalOp::Kind kind, Offset offset) {
  MERIDIAN_CHECK(io_busy_);
  if (!uses_wal() || replaying_) return absl::OkStatus();
  // The WAL's history must reach the cut: a direct log syncs its files and writes a base
  // first (only a base or a reset may follow a kDirect record). Batches appended since the
  // sync lie past the cut (it is below the end the sync saw) and go with it.
  if (direct_ && kind == WalOp::Kind::kTruncate) {
    if (absl::Status s = SyncDirectRoundLocked(/*leave=*/true); !s.ok()) return s;
    MERIDIAN_CHECK(!direct_ && offset < segments_synced_end_);
  }
  absl::StatusOr<uint64_t> sequence = options_.wal->Append(options_.dir, kind, offset);
  if (absl::IsResourceExhausted(sequence.status())) return sequence.status();  // Nothing done.
  if (!sequence.ok()) return Fail(sequence.status());
  RecordTruncation(kind == WalOp::Kind::kReset ? Offset(0) : offset);
  if (options_.wal->testing_truncate_before_wal_sync()) return absl::OkStatus();  // Planted.
  // Appends are refused meanwhile: their records would follow this one in the WAL while their
  // bytes went into the file before the cut.
  wal_truncation_pending_ = true;
  absl::Status synced = options_.wal->WaitDurable(*sequence);
  wal_truncation_pending_ = false;
  // The truncation is in the WAL, perhaps durably, and the waiters past it were aborted: with
  // the cut not made, only a reopen (which replays it, or not) can say what the log holds.
  if (!synced.ok()) return Fail(synced);
  return absl::OkStatus();
}

WalGroupSync Log::CollectCheckpointSync() {
  MERIDIAN_CHECK(uses_wal());
  std::vector<SegmentPtr> dirty;
  for (const SegmentPtr& segment : segments_) {
    if (segment->dirty) dirty.push_back(segment);
    segment->dirty = false;  // Writes from now on are the next checkpoint's.
  }
  // The flag stays set: a direct round must not take this sync, maybe unfinished, for done.
  const bool sync_dir = dir_dirty_;
  // Holds the segments, not the log: the log may close while the checkpoint syncs.
  return [dirty = std::move(dirty), sync_dir, &disk = disk_, dir = options_.dir]() {
    for (const SegmentPtr& segment : dirty) {
      if (absl::Status s = segment->file->Sync(); !s.ok()) return s;
    }
    if (!sync_dir) return absl::OkStatus();
    absl::Status status = disk.SyncDir(dir);
    if (absl::IsNotFound(status)) {
      MERIDIAN_PROBE("log: checkpoint of a group removed meanwhile");
      return absl::OkStatus();
    }
    return status;
  };
}

// --- Replay at Open ---

// After the segment files are recovered: redo the WAL's records of this group, sync the result
// (the WAL's copy is then no longer needed) and register for checkpoints.
absl::Status Log::OpenOverWal(RecoveryReport& report) {
  MERIDIAN_CHECK(uses_wal() && !wal_registered_);
  absl::StatusOr<bool> covered = ReplayWal(options_.wal->Replay(options_.dir), report);
  if (!covered.ok()) return covered.status();
  io_busy_ = true;
  dir_dirty_ = true;
  absl::Status synced = GroupSync();
  io_busy_ = false;
  if (!synced.ok()) return synced;
  MERIDIAN_CHECK(durable_end_ == end_offset_, "the redone history is synced");
  segments_synced_end_ = end_offset_;
  if (report.cut && *covered) {
    MERIDIAN_PROBE("log: the wal wrote back everything recovery cut");
    if (absl::Status s = AcknowledgeLoss(); !s.ok()) return s;
    report.cut = false;
    report.healed_by_wal = true;
  }
  report.start_offset = start_offset_;
  report.end_offset = end_offset_;
  if (!report.cut) report.lost_from = report.lost_end_offset_hint = end_offset_;
  if (absl::Status s =
          options_.wal->Register(options_.dir, [this] { return CollectCheckpointSync(); });
      !s.ok()) {
    return s;
  }
  wal_registered_ = true;
  // Whatever the WAL still holds of this group is now history the segment files hold durably;
  // the base record says so, so a later replay starts from here (the redo above, or a cut by
  // recovery, made this state without records of its own).
  // It must be durable before anything new reaches the segment files: without it, a replay
  // would lay the old history over what this log writes from here.
  absl::StatusOr<uint64_t> base =
      options_.wal->Append(options_.dir, WalOp::Kind::kBase, end_offset_);
  if (!base.ok()) return base.status();
  return options_.wal->WaitDurable(*base);
}

// Redoes the group's history the WAL held. What it made of the log: everything below `low`
// untouched since the WAL's oldest record (and synced by the checkpoint that retired the files
// before it), then the batches of `tail` up to `model_end`. The segment files may be behind or
// ahead of any point of that history (they were unsynced), so the tail is compared and written
// where it differs, and whatever lies past model_end goes.
absl::StatusOr<bool> Log::ReplayWal(const std::vector<WalOp>& ops, RecoveryReport& report) {
  if (ops.empty()) return false;
  MERIDIAN_CHECK(!replaying_);
  report.wal_ops = ops.size();
  std::optional<Offset> reset_to;
  Offset low = ops.front().offset;
  Offset model_end = ops.front().offset;
  std::vector<const WalOp*> tail;
  bool direct = false;  // After a kDirect record, the segment files hold the history.
  for (const WalOp& op : ops) {
    if (op.kind == WalOp::Kind::kBase) {
      reset_to.reset();
      tail.clear();
      low = model_end = op.offset;
      direct = false;
      continue;
    }
    if (op.kind == WalOp::Kind::kReset) {
      reset_to = op.offset;
      tail.clear();
      low = model_end = op.offset;
      direct = false;
      continue;
    }
    if (direct) {
      return absl::InternalError(fmt::format(
          "wal: the history of {} is inconsistent: a direct run from {} meets an operation at {}",
          options_.dir, model_end.value(), op.offset.value()));
    }
    if (op.kind == WalOp::Kind::kDirect) {  // A base the segment files go on from.
      reset_to.reset();
      tail.clear();
      low = model_end = op.offset;
      direct = !options_.testing.replay_drops_direct_runs;  // The planted bug, for tests.
      continue;
    }
    if (op.offset > model_end) {
      return absl::InternalError(
          fmt::format("wal: the history of {} is inconsistent: an operation at {} past its end {}",
                      options_.dir, op.offset.value(), model_end.value()));
    }
    if (op.kind == WalOp::Kind::kTruncate) {
      while (!tail.empty() && tail.back()->offset >= op.offset) tail.pop_back();
      model_end = op.offset;
      low = std::min(low, op.offset);
      continue;
    }
    if (op.offset != model_end) {
      return absl::InternalError(fmt::format("wal: {} appends at {} while its end is {}",
                                             options_.dir, op.offset.value(), model_end.value()));
    }
    BatchHeader header;
    MERIDIAN_CHECK(DecodeBatchHeader(op.batch, &header) == DecodeVerdict::kOk, "wal checked it");
    model_end = header.end_offset();
    tail.push_back(&op);
  }
  // A direct run's batches are in the segment files only: what recovery cut of them, the WAL
  // cannot give back (the owner repairs it from its durable mark, as without a WAL).
  const bool covers_cut =
      !report.cut || (!direct && (reset_to.has_value() || low <= report.lost_from));
  replaying_ = true;
  absl::Status status;
  if (reset_to.has_value() && start_offset_ != *reset_to) status = Reset(*reset_to);
  const bool gap = end_offset_ < low;
  if (status.ok() && gap) status = ReportWalGap(model_end, report);
  if (status.ok() && !gap) status = ApplyReplayedTail(tail, model_end, direct, report);
  replaying_ = false;
  if (!status.ok()) return status;
  return covers_cut && !gap && !report.cut_by_wal_gap;
}

absl::Status Log::ApplyReplayedTail(const std::vector<const WalOp*>& tail, Offset model_end,
                                    bool direct, RecoveryReport& report) {
  for (const WalOp* op : tail) {
    if (op->offset < start_offset_) continue;  // Retention removed it since.
    if (op->offset < end_offset_) {
      absl::StatusOr<bool> held = HoldsBatch(*op);
      if (!held.ok()) return held.status();
      if (*held) continue;
      MERIDIAN_PROBE("log: wal replay rewrites a batch the segment holds differently");
      if (absl::Status s = TruncateSuffix(op->offset); !s.ok()) return s;
    }
    if (op->offset != end_offset_) return ReportWalGap(model_end, report);
    BatchHeader header;
    MERIDIAN_CHECK(DecodeBatchHeader(op->batch, &header) == DecodeVerdict::kOk);
    absl::StatusOr<Offset> appended = AppendEncoded(
        std::make_shared<const std::vector<uint8_t>>(op->batch), header.max_timestamp_ms);
    if (!appended.ok()) return appended.status();
    report.wal_batches_restored++;
  }
  if (direct) {
    // What the segment files recovered past the kDirect record is the direct run's (a torn
    // tail of it was cut by their own recovery, and reported).
    MERIDIAN_CHECK(tail.empty(), "a kDirect record begins the history again");
    if (end_offset_ > model_end) MERIDIAN_PROBE("log: wal replay keeps a direct run's batches");
    return absl::OkStatus();
  }
  if (end_offset_ > model_end && model_end >= start_offset_) {
    MERIDIAN_PROBE("log: wal replay removes batches its history had truncated");
    if (absl::Status s = TruncateSuffix(model_end); !s.ok()) return s;
  }
  MERIDIAN_CHECK(end_offset_ <= model_end || model_end < start_offset_, "end {} past {}",
                 end_offset_.value(), model_end.value());
  return absl::OkStatus();
}

absl::StatusOr<bool> Log::HoldsBatch(const WalOp& op) {
  MERIDIAN_CHECK(op.kind == WalOp::Kind::kAppend && op.offset < end_offset_);
  absl::StatusOr<ReadResult> read = Read(op.offset, 1);
  if (absl::IsDataLoss(read.status())) return false;  // Damaged here: the WAL's copy replaces it.
  if (!read.ok()) return read.status();
  if (read->batches.empty()) return false;
  const BatchRef& batch = read->batches.front();
  if (batch.header.base_offset != op.offset) return false;  // Inside another batch: rewrite.
  const std::span<const uint8_t> held = batch.bytes();
  return std::equal(held.begin(), held.end(), op.batch.begin(), op.batch.end());
}

// The segment files end before the WAL's history continues: batches synced by a checkpoint are
// gone (damage at rest). Reported like a recovery cut, so the owner repairs from its peers.
absl::Status Log::ReportWalGap(Offset model_end, RecoveryReport& report) {
  MERIDIAN_PROBE("log: the wal continues past a gap in the segment files");
  LossRecord loss{.lost_from = end_offset_, .lost_end_hint = std::max(model_end, end_offset_)};
  if (report.cut) {
    loss.lost_from = std::min(loss.lost_from, report.lost_from);
    loss.lost_end_hint = std::max(loss.lost_end_hint, report.lost_end_offset_hint);
  }
  if (absl::Status s = WriteLossRecord(loss); !s.ok()) return s;
  report.cut = true;
  report.cut_by_wal_gap = true;
  report.looks_torn = false;
  report.lost_from = loss.lost_from;
  report.lost_end_offset_hint = loss.lost_end_hint;
  report.lost_reason = "the segment files end before what the node-wide log continues from";
  MERIDIAN_CHECK(report.lost_from <= end_offset_);
  return absl::OkStatus();
}

}  // namespace meridian::core::log
