// Truncation: of a suffix (raft replaces a follower's conflicting entries) and of a prefix
// (retention, or a snapshot covering the start). Both are durable when they return, so removed
// batches never come back after a crash, and both take the io lock so no group sync runs on a
// file being cut.
#include <fmt/format.h>

#include <algorithm>

#include "core/log/log.h"
#include "core/log/segment.h"
#include "io/assert.h"

namespace meridian::core::log {

// The byte position of the batch whose base offset is `offset` (or of the segment's end when
// `offset` is its end offset). InvalidArgument if `offset` falls inside a batch.
absl::StatusOr<uint64_t> Log::PositionOf(const Segment& segment, Offset offset) {
  MERIDIAN_CHECK(offset >= segment.base_offset);
  MERIDIAN_CHECK(offset <= segment.end_offset);
  if (offset == segment.end_offset) return segment.size_bytes;
  const IndexEntry* entry = segment.index.Floor(offset);
  uint64_t position = entry != nullptr ? entry->position : kSegmentHeaderBytes;
  Offset at = entry != nullptr ? entry->offset : segment.base_offset;
  // Every batch passed is verified whole (CRC included): a corrupted record count or length
  // must read as damage, not as "inside a batch". At most an index interval plus one batch.
  std::vector<uint8_t> bytes;
  while (at < offset) {
    bytes.resize(kBatchHeaderBytes);
    absl::StatusOr<size_t> got = segment.file->ReadAt(position, bytes);
    if (!got.ok()) return got.status();
    BatchHeader header;
    if (*got != bytes.size() || DecodeBatchHeader(bytes, &header) != DecodeVerdict::kOk ||
        header.base_offset != at || position + header.length_bytes > segment.size_bytes) {
      return ReportCorruption(segment, position, "bad batch header while seeking");
    }
    bytes.resize(header.length_bytes);
    got = segment.file->ReadAt(position, bytes);
    if (!got.ok()) return got.status();
    if (*got != bytes.size() || DecodeBatch(bytes, &header) != DecodeVerdict::kOk) {
      return ReportCorruption(segment, position, "batch failed its CRC32C check while seeking");
    }
    position += header.length_bytes;
    at = header.end_offset();
  }
  MERIDIAN_CHECK(position <= segment.size_bytes);
  if (at != offset) {
    return absl::InvalidArgumentError(fmt::format("offset {} is inside a batch", offset.value()));
  }
  return position;
}

absl::Status Log::TruncateSuffix(Offset new_end) {
  if (!failed_.ok()) return failed_;
  if (absl::Status s = AcquireIo(io::Instant::Infinite()); !s.ok()) return s;
  // Checked after taking the lock: the log may have changed while we waited.
  if (new_end < start_offset_ || new_end > end_offset_) {
    ReleaseIo();
    return absl::OutOfRangeError(fmt::format("truncate to {} outside [{}, {}]", new_end.value(),
                                             start_offset_.value(), end_offset_.value()));
  }
  if (new_end == end_offset_) {
    ReleaseIo();
    return absl::OkStatus();
  }
  // The segment that keeps the new end: the last one starting before it (or the first).
  size_t keep = segments_.size() - 1;
  while (keep > 0 && segments_[keep]->base_offset >= new_end) keep--;
  const SegmentPtr kept = segments_[keep];
  absl::StatusOr<uint64_t> position = PositionOf(*kept, new_end);
  if (!position.ok()) {
    ReleaseIo();
    return position.status();
  }
  // Only once the cut is known possible (PositionOf reads through damage as DataLoss). From here
  // on the batches count as removed (their waiters are aborted), though the files change only
  // once the WAL holds the truncation.
  if (absl::Status s = WriteWalRecordFirst(WalOp::Kind::kTruncate, new_end); !s.ok()) {
    ReleaseIo();
    return s;  // Failed the log already, unless the disk is full (then nothing changed).
  }
  MERIDIAN_CHECK(new_end >= start_offset_ && new_end < end_offset_, "appends wait (Append)");
  MERIDIAN_CHECK(keep < segments_.size() && segments_[keep] == kept, "nothing moved meanwhile");
  MERIDIAN_CHECK(kept->base_offset <= new_end);
  MERIDIAN_CHECK(new_end <= kept->end_offset);
  MERIDIAN_CHECK(*position >= kSegmentHeaderBytes);
  MERIDIAN_CHECK(*position <= kept->size_bytes);
  // Memory first (appends after this point go to the new end), then the files.
  std::vector<SegmentPtr> removed(segments_.begin() + keep + 1, segments_.end());
  segments_.resize(keep + 1);
  kept->size_bytes = *position;
  kept->end_offset = new_end;
  kept->index.TruncateAtPosition(*position);
  kept->dirty = true;
  end_offset_ = new_end;
  segments_synced_end_ = std::min(segments_synced_end_, new_end);
  cache_.TruncateSuffix(new_end);
  if (!uses_wal() || replaying_) RecordTruncation(new_end);  // Over a WAL: done already.
  MERIDIAN_CHECK(durable_end_ <= new_end);
  metrics_.suffix_truncations++;
  Invariants();

  absl::Status status = kept->file->Truncate(*position);
  for (const SegmentPtr& segment : removed) {
    if (status.ok()) status = disk_.Remove(segment->path);
    metrics_.segments_removed++;
  }
  if (status.ok()) status = kept->file->Sync();
  if (status.ok() && !removed.empty()) status = disk_.SyncDir(options_.dir);
  ReleaseIo();
  if (!status.ok()) return Fail(status);
  return absl::OkStatus();
}

// Waiters on offsets at or past `new_end` are aborted from now on (CheckNotTruncated).
void Log::RecordTruncation(Offset new_end) {
  durable_end_ = std::min(durable_end_, std::max(new_end, start_offset_));
  std::erase_if(wal_pending_, [&](const auto& pending) { return pending.first > new_end; });
  truncation_generation_++;
  truncations_.emplace_back(truncation_generation_, new_end);
  if (truncations_.size() > kTruncationHistoryMax) truncations_.pop_front();
}

absl::StatusOr<Offset> Log::TruncatePrefix(Offset up_to) {
  if (!failed_.ok()) return failed_;
  if (absl::Status s = AcquireIo(io::Instant::Infinite()); !s.ok()) return s;
  absl::Status status;
  // One segment at a time, each removal made durable before the next: a crash leaves a
  // contiguous log, never one with a hole where a middle segment went first.
  while (segments_.size() > 1 && segments_.front()->end_offset <= up_to) {
    const SegmentPtr oldest = segments_.front();
    if (oldest->end_offset > durable_end_) break;  // Retention removes only durable data.
    MERIDIAN_CHECK(oldest != segments_.back(), "never the active segment");
    segments_.erase(segments_.begin());
    start_offset_ = segments_.front()->base_offset;
    MERIDIAN_CHECK(start_offset_ <= up_to);
    cache_.TruncatePrefix(start_offset_);
    metrics_.segments_removed++;
    Invariants();
    status = disk_.Remove(oldest->path);
    if (status.ok()) status = disk_.SyncDir(options_.dir);
    if (!status.ok()) break;
    metrics_.dir_syncs++;
  }
  ReleaseIo();
  if (!status.ok()) return Fail(status);
  return start_offset_;
}

absl::Status Log::Reset(Offset new_start) {
  if (!failed_.ok()) return failed_;
  if (absl::Status s = AcquireIo(io::Instant::Infinite()); !s.ok()) return s;
  if (absl::Status s = WriteWalRecordFirst(WalOp::Kind::kReset, new_start); !s.ok()) {
    ReleaseIo();
    return s;  // Failed the log already, unless the disk is full (then nothing changed).
  }
  std::vector<SegmentPtr> old = std::move(segments_);
  segments_.clear();
  // The new segment exists before the old ones go, so readers always see a whole log. An old
  // segment named for new_start is rewritten in place by CreateSegment (and not removed below).
  if (absl::Status s = CreateSegment(new_start); !s.ok()) {
    segments_ = std::move(old);
    ReleaseIo();
    return Fail(s);
  }
  std::erase_if(old, [&](const SegmentPtr& segment) { return segment->base_offset == new_start; });
  start_offset_ = new_start;
  end_offset_ = new_start;
  durable_end_ = new_start;
  direct_ = false;  // The reset record begins the WAL's history of the log again.
  round_bytes_ = 0;
  segments_synced_end_ = new_start;  // Synced below (the new segment is, just after).
  cache_.Clear();
  if (!uses_wal() || replaying_) RecordTruncation(Offset(0));  // Every old offset is gone.
  metrics_.suffix_truncations++;
  Invariants();
  absl::Status status = segments_.back()->file->Sync();
  if (status.ok()) status = disk_.SyncDir(options_.dir);
  if (status.ok()) {
    segments_.back()->dirty = false;
    dir_dirty_ = false;
  }
  // Newest first, each removal durable before the next: a crash leaves a contiguous prefix.
  for (auto it = old.rbegin(); it != old.rend() && status.ok(); ++it) {
    status = disk_.Remove((*it)->path);
    if (status.ok()) status = disk_.SyncDir(options_.dir);
    metrics_.segments_removed++;
  }
  ReleaseIo();
  if (!status.ok()) return Fail(status);
  return absl::OkStatus();
}

Offset Log::RetentionPoint(int64_t now_ms, uint64_t retention_bytes_max,
                           int64_t retention_ms_max) const {
  uint64_t total_bytes = size_bytes();
  Offset up_to = start_offset_;
  for (size_t i = 0; i + 1 < segments_.size(); i++) {  // Never the active segment.
    const Segment& segment = *segments_[i];
    const bool over_size = retention_bytes_max > 0 && total_bytes > retention_bytes_max;
    // now_ms - retention_ms_max, saturating instead of overflowing for extreme clocks.
    const int64_t oldest_kept_ms =
        now_ms < INT64_MIN + retention_ms_max ? INT64_MIN : now_ms - retention_ms_max;
    const bool too_old = retention_ms_max > 0 && segment.max_timestamp_ms < oldest_kept_ms;
    if (!over_size && !too_old) break;
    total_bytes -= segment.size_bytes;
    up_to = segment.end_offset;
  }
  return up_to;
}

absl::StatusOr<Offset> Log::EnforceRetention(int64_t now_ms) {
  const Offset up_to =
      RetentionPoint(now_ms, options_.retention_bytes_max, options_.retention_ms_max);
  if (up_to == start_offset_) return start_offset_;
  MERIDIAN_CHECK(up_to < end_offset_ || segments_.back()->empty());
  return TruncatePrefix(up_to);
}

}  // namespace meridian::core::log
