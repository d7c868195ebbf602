// The log's running state: append, group commit, reads and the tail cache. Opening and recovery
// are in log_recovery.cc, truncation and retention in log_truncate.cc.
#include "core/log/log.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/log/segment.h"
#include "io/assert.h"
#include "io/probe.h"

namespace meridian::core::log {

Log::Log(io::Runtime& runtime, io::Disk& disk, LogOptions options)
    : runtime_(runtime),
      disk_(disk),
      options_(std::move(options)),
      io_waiters_(runtime),
      cache_(options_.cache_bytes_max) {}

// A crash may destroy the log while fibers wait in it: they are unwound first (io/scheduler.h).
Log::~Log() {
  if (wal_registered_) options_.wal->Unregister(options_.dir, CollectCheckpointSync());
}

absl::Status Log::ValidateOptions(const LogOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("log dir is empty");
  if (absl::Status s = io::ValidatePath(options.dir); !s.ok()) return s;
  if (options.segment_bytes_max < kSegmentBytesMin ||
      options.segment_bytes_max > kSegmentBytesMax) {
    return absl::InvalidArgumentError(fmt::format("segment_bytes_max {} outside [{}, {}]",
                                                  options.segment_bytes_max, kSegmentBytesMin,
                                                  kSegmentBytesMax));
  }
  if (options.index_interval_bytes < SparseIndex::kIntervalBytesMin) {
    return absl::InvalidArgumentError("index_interval_bytes too small");
  }
  if (options.cache_bytes_max > TailCache::kBytesMaxLimit) {
    return absl::InvalidArgumentError("cache_bytes_max too large");
  }
  if (options.retention_ms_max < 0) return absl::InvalidArgumentError("retention_ms_max < 0");
  if (options.segment_ms_max < 0) return absl::InvalidArgumentError("segment_ms_max < 0");
  return absl::OkStatus();
}

std::string Log::SegmentPath(Offset base_offset) const {
  return options_.dir + "/" + SegmentFileName(base_offset);
}

uint64_t Log::size_bytes() const {
  uint64_t total = 0;
  for (const SegmentPtr& segment : segments_) total += segment->size_bytes;
  return total;
}

LogMetrics Log::metrics() const {
  LogMetrics metrics = metrics_;
  metrics.cache_bytes = cache_.bytes();
  metrics.cache_evictions = cache_.evictions();
  return metrics;
}

absl::Status Log::Fail(absl::Status status) {
  MERIDIAN_CHECK(!status.ok());
  MERIDIAN_PROBE("log: failed until reopened");
  if (failed_.ok()) {
    failed_ = absl::Status(status.code(),
                           fmt::format("log {} failed: {}", options_.dir, status.ToString()));
  }
  io_waiters_.NotifyAll();
  return status;
}

void Log::Invariants() const {
  MERIDIAN_CHECK(!segments_.empty());
  MERIDIAN_CHECK(segments_.size() <= kSegmentsMax);
  MERIDIAN_CHECK(start_offset_ == segments_.front()->base_offset);
  MERIDIAN_CHECK(end_offset_ == segments_.back()->end_offset);
  MERIDIAN_CHECK(start_offset_ <= durable_end_, "start {} durable {}", start_offset_.value(),
                 durable_end_.value());
  MERIDIAN_CHECK(durable_end_ <= end_offset_, "durable {} end {}", durable_end_.value(),
                 end_offset_.value());
  for (size_t i = 1; i < segments_.size(); i++) {
    MERIDIAN_CHECK(segments_[i]->base_offset == segments_[i - 1]->end_offset);
  }
  if (!cache_.empty()) MERIDIAN_CHECK(cache_.first_offset() >= start_offset_);
}

// --- Append ---

absl::Status Log::CreateSegment(Offset base_offset) {
  if (segments_.size() >= kSegmentsMax) {
    return absl::ResourceExhaustedError(
        fmt::format("log {} has {} segments", options_.dir, segments_.size()));
  }
  const std::string path = SegmentPath(base_offset);
  // kCreate, not kCreateNew: a file already at this name can only be the leftover of a roll
  // that failed (its removal failed too); no valid data can sit at or after the log's end.
  absl::StatusOr<std::unique_ptr<io::File>> file = disk_.Open(path, io::OpenMode::kCreate);
  if (!file.ok()) return file.status();
  const std::vector<uint8_t> header =
      EncodeSegmentHeader(SegmentHeader{.base_offset = base_offset});
  if (absl::Status s = (*file)->Truncate(0); !s.ok()) return s;
  if (absl::Status s = (*file)->WriteAt(0, header); !s.ok()) {
    (void)disk_.Remove(path);  // Best effort: an unsynced name with a partial header is harmless.
    return s;
  }
  auto segment =
      std::make_shared<Segment>(base_offset, path, std::move(*file), options_.index_interval_bytes);
  segment->dirty = true;
  segments_.push_back(std::move(segment));
  dir_dirty_ = true;
  return absl::OkStatus();
}

// Roll when the next batch would overflow the segment, or when the segment spans more than
// segment_ms_max of batch time (so age retention can remove data of a slow partition).
bool Log::NeedsRoll(const Segment& active, uint32_t batch_bytes, int64_t max_timestamp_ms) const {
  if (active.empty()) return false;  // A segment holds at least one batch, however large.
  if (active.size_bytes + batch_bytes > options_.segment_bytes_max) return true;
  if (options_.segment_ms_max == 0) return false;
  MERIDIAN_CHECK(active.first_timestamp_ms != INT64_MAX);
  // Compared without overflow: timestamps come from producers and may be anything.
  return max_timestamp_ms > active.first_timestamp_ms &&
         static_cast<uint64_t>(max_timestamp_ms) -
                 static_cast<uint64_t>(active.first_timestamp_ms) >=
             static_cast<uint64_t>(options_.segment_ms_max);
}

absl::Status Log::Roll() {
  MERIDIAN_CHECK(!segments_.back()->empty());
  if (absl::Status s = CreateSegment(end_offset_); !s.ok()) return s;
  metrics_.segments_rolled++;
  return absl::OkStatus();
}

absl::StatusOr<Offset> Log::Append(const BatchMeta& meta, std::span<const uint8_t> payload) {
  const std::span<const uint8_t> parts[] = {payload};
  return Append(meta, parts);
}

absl::StatusOr<Offset> Log::Append(const BatchMeta& meta,
                                   std::span<const std::span<const uint8_t>> payload_parts) {
  if (!failed_.ok()) return failed_;
  size_t payload_bytes = 0;
  for (std::span<const uint8_t> part : payload_parts) payload_bytes += part.size();
  if (payload_bytes > kBatchPayloadBytesMax || meta.record_count == 0 ||
      meta.record_count > kRecordsPerBatchMax || meta.first_timestamp_ms > meta.max_timestamp_ms) {
    return absl::InvalidArgumentError(fmt::format(
        "batch of {} records, {} bytes, timestamps [{}, {}] is outside the limits",
        meta.record_count, payload_bytes, meta.first_timestamp_ms, meta.max_timestamp_ms));
  }
  if (wal_truncation_pending_) {
    return absl::UnavailableError("the log is being truncated (waiting for the node-wide log)");
  }
  if (end_offset_.value() > kBaseOffsetMax) {
    // Only a disk can put the end here (a segment whose header claims such a base offset, found
    // by fuzz/log_recovery): the batch would not decode, so refuse it rather than write it.
    return absl::ResourceExhaustedError(fmt::format(
        "the log's offsets are exhausted: its end {} is past the largest base offset {}",
        end_offset_.value(), kBaseOffsetMax));
  }
  return AppendEncoded(
      std::make_shared<const std::vector<uint8_t>>(EncodeBatch(end_offset_, meta, payload_parts)),
      meta.max_timestamp_ms);
}

// Writes a batch encoded at end_offset_ into the active segment (and, with a WAL, its record:
// after the segment write, so a failed WAL write can still take the batch back).
absl::StatusOr<Offset> Log::AppendEncoded(std::shared_ptr<const std::vector<uint8_t>> encoded,
                                          int64_t max_timestamp_ms) {
  const uint32_t length = static_cast<uint32_t>(encoded->size());
  if (NeedsRoll(*segments_.back(), length, max_timestamp_ms)) {
    if (absl::Status s = Roll(); !s.ok()) return s;
  }
  Segment& active = *segments_.back();
  const uint64_t position = active.size_bytes;
  absl::Status written = active.file->WriteAt(position, *encoded);
  absl::StatusOr<uint64_t> wal_sequence = kDirectAppend;
  const bool over_wal = uses_wal() && !replaying_;
  if (over_wal && !direct_ && options_.wal_direct_round_bytes > 0 &&
      round_bytes_ + length > options_.wal_direct_round_bytes) {
    // A direct run begins; its first round's sync writes the kDirect record (LogOptions).
    MERIDIAN_PROBE("log: a large round's batches skip the wal");
    direct_ = true;
    direct_marker_written_ = false;
  }
  if (written.ok() && over_wal && !direct_) {
    wal_sequence = options_.wal->Append(options_.dir, WalOp::Kind::kAppend, end_offset_, *encoded);
    written = wal_sequence.status();
  }
  if (!written.ok()) {
    // A failed write may have left part of the batch behind; cut it so the next batch follows
    // the last good one. If even that fails, the file's tail is unknown: fail the log.
    MERIDIAN_PROBE("log: a failed write's partial batch cut");
    if (absl::Status cut = active.file->Truncate(position); !cut.ok()) return Fail(cut);
    if (uses_wal() && !options_.wal->failure().ok()) return Fail(written);
    return written;
  }
  // Paired with the reads' check: the header we wrote must decode. (The CRC itself is checked
  // by every read from disk; checking it here too cost a second pass over every payload.)
  BatchHeader header;
  MERIDIAN_CHECK(DecodeBatchHeader(*encoded, &header) == DecodeVerdict::kOk);
  MERIDIAN_CHECK(header.base_offset == end_offset_);
  active.index.OnBatch(header.base_offset, position, length);
  active.size_bytes += length;
  active.end_offset = header.end_offset();
  active.max_timestamp_ms = std::max(active.max_timestamp_ms, header.max_timestamp_ms);
  if (position == kSegmentHeaderBytes) active.first_timestamp_ms = header.first_timestamp_ms;
  active.dirty = true;
  end_offset_ = header.end_offset();
  if (over_wal) {
    wal_pending_.emplace_back(end_offset_, *wal_sequence);
    round_bytes_ += length;
  }
  cache_.Append(BatchRef{.buffer = std::move(encoded), .position = 0, .header = header});
  metrics_.appends++;
  metrics_.append_bytes += length;
  Invariants();
  return header.base_offset;
}

// --- Group commit ---

absl::Status Log::AcquireIo(io::Instant deadline) {
  absl::Status waited =
      io_waiters_.WaitUntil([this] { return !io_busy_ || !failed_.ok(); }, deadline, "log io");
  if (!waited.ok()) return waited;
  if (!failed_.ok()) return failed_;
  MERIDIAN_CHECK(!io_busy_);
  io_busy_ = true;
  return absl::OkStatus();
}

void Log::ReleaseIo() {
  MERIDIAN_CHECK(io_busy_);
  io_busy_ = false;
  io_waiters_.NotifyAll();
}

absl::Status Log::GroupSync() {
  MERIDIAN_CHECK(io_busy_);
  const Offset target = end_offset_;
  std::vector<SegmentPtr> dirty;
  for (const SegmentPtr& segment : segments_) {
    if (segment->dirty) dirty.push_back(segment);
    segment->dirty = false;  // Writes from now on need the next sync.
  }
  const bool sync_dir = dir_dirty_;
  dir_dirty_ = false;
  if (options_.testing.report_durable_before_sync) {  // Planted bug (LogTestingKnobs).
    durable_end_ = std::max(durable_end_, target);
    io_waiters_.NotifyAll();
  }
  absl::Status status;
  for (const SegmentPtr& segment : dirty) {
    const io::Instant sync_start = runtime_.Now();
    status = segment->file->Sync();  // Suspends: appends go on meanwhile.
    if (!status.ok()) break;
    metrics_.file_syncs++;
    metrics_.file_sync_latency_ns.Observe((runtime_.Now() - sync_start).count());
  }
  if (status.ok() && sync_dir) {
    status = disk_.SyncDir(options_.dir);
    if (status.ok()) metrics_.dir_syncs++;
  }
  if (absl::IsCancelled(status)) {
    // The waiting fiber was cancelled, the disk did not fail: leave the work to the next sync.
    for (const SegmentPtr& segment : dirty) segment->dirty = true;
    dir_dirty_ = dir_dirty_ || sync_dir;
    return status;
  }
  if (!status.ok()) return Fail(status);
  // Truncations need the io lock we hold, so nothing we synced was cut meanwhile.
  MERIDIAN_CHECK(target <= end_offset_);
  metrics_.batches_per_sync_max = std::max(metrics_.batches_per_sync_max,
                                           target.value() - std::min(target, durable_end_).value());
  durable_end_ = std::max(durable_end_, target);
  metrics_.group_syncs++;
  return absl::OkStatus();
}

absl::Status Log::CheckNotTruncated(Offset offset, uint64_t generation) const {
  if (generation == truncation_generation_) return absl::OkStatus();
  if (truncations_.empty() || truncations_.front().first > generation + 1) {
    return absl::AbortedError("the log was truncated while waiting (history too old)");
  }
  for (const auto& [truncation, new_end] : truncations_) {
    if (truncation > generation && offset >= new_end) {
      return absl::AbortedError(
          fmt::format("offset {} was truncated while waiting for it", offset.value()));
    }
  }
  return absl::OkStatus();
}

absl::Status Log::WaitDurable(Offset offset, io::Instant deadline) {
  // Below the start: removed by a prefix truncation, which removes only durable data.
  if (offset < start_offset_) return absl::OkStatus();
  if (offset >= end_offset_) {
    return absl::OutOfRangeError(fmt::format("offset {} is not in the log [{}, {})", offset.value(),
                                             start_offset_.value(), end_offset_.value()));
  }
  if (durability_waiters_ >= kDurabilityWaitersMax) {
    return absl::ResourceExhaustedError("too many durability waiters");
  }
  if (uses_wal()) return WaitDurableInWal(offset, deadline);
  durability_waiters_++;
  const uint64_t generation = truncation_generation_;
  absl::Status result;
  bool yielded = false;
  while (true) {
    result = CheckNotTruncated(offset, generation);
    if (!result.ok()) break;
    if (durable_end_ > offset || offset < start_offset_) break;
    if (!failed_.ok()) {
      result = failed_;
      break;
    }
    if (!io_busy_ && !yielded) {
      // Before leading, let every runnable fiber run once: writers just woken by the last sync
      // append their next batch now and ride on this sync instead of forcing another one.
      yielded = true;
      runtime_.scheduler().Yield();
      continue;
    }
    if (!io_busy_) {  // Lead: one sync for every append so far.
      io_busy_ = true;
      if (options_.testing.report_durable_before_sync) {
        // Planted bug, for the leader of the sync too: it runs behind this waiter's back (on its
        // own fiber), so the caller hears "durable" when it starts, like every other waiter.
        runtime_.Spawn("log-planted-sync", [this] {
          (void)GroupSync();
          ReleaseIo();
        });
        continue;
      }
      result = GroupSync();
      ReleaseIo();
      if (!result.ok()) break;
      continue;
    }
    result =
        io_waiters_.WaitUntil([&] { return !io_busy_ || durable_end_ > offset || !failed_.ok(); },
                              deadline, "durability wait");
    if (!result.ok()) break;
  }
  MERIDIAN_CHECK(durability_waiters_ > 0);
  durability_waiters_--;
  if (result.ok())
    MERIDIAN_CHECK(durable_end_ > offset || options_.testing.report_durable_before_sync);
  return result;
}

absl::Status Log::Sync() {
  if (!failed_.ok()) return failed_;
  if (uses_wal()) {
    if (end_offset_ == durable_end_) return absl::OkStatus();
    return WaitDurable(Offset(end_offset_.value() - 1));
  }
  if (end_offset_ == durable_end_ && !dir_dirty_) return absl::OkStatus();
  if (end_offset_ == durable_end_) {
    if (absl::Status s = AcquireIo(io::Instant::Infinite()); !s.ok()) return s;
    absl::Status status = GroupSync();
    ReleaseIo();
    return status;
  }
  return WaitDurable(Offset(end_offset_.value() - 1));
}

}  // namespace meridian::core::log
