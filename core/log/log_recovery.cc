// Opening a log: scan every segment, decide where the valid log ends, cut everything after the
// first bad byte, rebuild the sparse indexes. See README.md, "Recovery", for why the log is cut
// at the first bad batch rather than keeping what follows it.
#include <fmt/format.h>

#include <algorithm>

#include "core/log/log.h"
#include "core/log/segment.h"
#include "core/log/segment_scan.h"
#include "io/assert.h"
#include "io/probe.h"

namespace meridian::core::log {

absl::Status EnsureDir(io::Disk& disk, const std::string& dir) {
  std::string prefix;
  size_t from = 0;
  while (from <= dir.size()) {
    const size_t slash = std::min(dir.find('/', from), dir.size());
    const std::string parent = prefix;
    prefix = dir.substr(0, slash);
    absl::StatusOr<bool> exists = disk.Exists(prefix);
    if (!exists.ok()) return exists.status();
    if (!*exists) {
      if (absl::Status s = disk.CreateDir(prefix); !s.ok()) return s;
      if (absl::Status s = disk.SyncDir(parent); !s.ok()) return s;
    }
    from = slash + 1;
  }
  return absl::OkStatus();
}

// Recovery's working state (forward-declared in log.h for Log::CutAtFirstBadByte).
// A segment file as the recovery scan found it.
struct FoundSegment {
  Offset base;
  std::string path;
  std::unique_ptr<io::File> file;
  SegmentScan scan;
};

// Where the valid log stops: segment `segment` is the first not kept whole; `whole` says whether
// it goes entirely (bad header, gap) or is truncated to its valid prefix (bad batch).
struct RecoveryCut {
  size_t segment = 0;
  bool whole = false;
  std::string reason;
};

namespace {

std::optional<RecoveryCut> FindCut(const std::vector<FoundSegment>& found) {
  for (size_t i = 0; i < found.size(); i++) {
    const SegmentScan& scan = found[i].scan;
    if (i > 0 && found[i].base != found[i - 1].scan.end_offset) {
      return RecoveryCut{
          i, true,
          fmt::format("segment {} starts at {} but its predecessor ends at {}", found[i].path,
                      found[i].base.value(), found[i - 1].scan.end_offset.value())};
    }
    if (scan.stop == ScanStop::kBadSegmentHeader) {
      return RecoveryCut{i, true, fmt::format("segment {}: {}", found[i].path, scan.Describe())};
    }
    if (scan.stop == ScanStop::kBadBatch) {
      return RecoveryCut{i, false, fmt::format("segment {}: {}", found[i].path, scan.Describe())};
    }
    MERIDIAN_CHECK(scan.stop == ScanStop::kCleanEnd);
  }
  return std::nullopt;
}

// What the cut will lose: from the end of the valid log to the furthest offset the discarded
// files claimed.
LossRecord LossOf(const std::vector<FoundSegment>& found, const RecoveryCut& cut) {
  const size_t i = cut.segment;
  MERIDIAN_CHECK(i < found.size());
  LossRecord record;
  record.lost_from = !cut.whole ? found[i].scan.end_offset
                     : i == 0   ? found[0].base
                                : found[i - 1].scan.end_offset;
  record.lost_end_hint = record.lost_from;
  for (size_t j = i; j < found.size(); j++) {
    record.lost_end_hint =
        std::max({record.lost_end_hint, found[j].base, found[j].scan.end_offset});
  }
  MERIDIAN_CHECK(record.lost_from <= record.lost_end_hint);
  return record;
}

// Applies the cut to the files (durably) and fills the report's byte counts. The first segment
// is never removed, only emptied back to its header: removing it would leave a directory with
// no segment, and a crash then would restart the log at offset 0, reusing offsets.
absl::Status ApplyCut(io::Disk& disk, const std::string& dir, std::vector<FoundSegment>& found,
                      const RecoveryCut& cut, uint32_t index_interval_bytes,
                      RecoveryReport& report) {
  MERIDIAN_CHECK(cut.segment < found.size());
  bool removed_any = false;
  for (size_t i = cut.segment; i < found.size(); i++) {
    FoundSegment& f = found[i];
    if (i == cut.segment && (!cut.whole || i == 0)) {
      const uint64_t keep_bytes = cut.whole ? 0 : f.scan.valid_bytes;
      report.bytes_discarded += f.scan.file_bytes - keep_bytes;
      if (absl::Status s = f.file->Truncate(keep_bytes); !s.ok()) return s;
      if (cut.whole) {
        const std::vector<uint8_t> header =
            EncodeSegmentHeader(SegmentHeader{.base_offset = f.base});
        if (absl::Status s = f.file->WriteAt(0, header); !s.ok()) return s;
        f.scan = SegmentScan{.header = SegmentHeader{.base_offset = f.base},
                             .file_bytes = header.size(),
                             .valid_bytes = header.size(),
                             .end_offset = f.base,
                             .index = SparseIndex(index_interval_bytes)};
      }
      if (absl::Status s = f.file->Sync(); !s.ok()) return s;
      continue;
    }
    report.bytes_discarded += f.scan.file_bytes;
    report.segments_removed++;
    if (absl::Status s = disk.Remove(f.path); !s.ok()) return s;
    removed_any = true;
  }
  if (removed_any) return disk.SyncDir(dir);
  return absl::OkStatus();
}

// Lists and scans every segment, changing nothing. A newer-version segment or an I/O error
// ends the open here, with the disk exactly as it was.
absl::StatusOr<std::vector<FoundSegment>> ScanDirectory(io::Disk& disk, const LogOptions& options,
                                                        RecoveryReport& report) {
  absl::StatusOr<std::vector<std::string>> names = disk.ListDir(options.dir);
  if (!names.ok()) return names.status();
  std::vector<FoundSegment> found;
  for (const std::string& name : *names) {  // Sorted names are sorted base offsets.
    Offset base;
    if (name == kLossRecordFileName || name == std::string(kLossRecordFileName) + ".tmp") continue;
    if (!ParseSegmentFileName(name, &base)) {
      report.ignored_files.push_back(name);
      continue;
    }
    if (found.size() >= Log::kSegmentsMax) return absl::ResourceExhaustedError("too many segments");
    const std::string path = options.dir + "/" + name;
    absl::StatusOr<std::unique_ptr<io::File>> file = disk.Open(path, io::OpenMode::kOpenExisting);
    if (!file.ok()) return file.status();
    SegmentScan scan = ScanSegment(**file, base, options.index_interval_bytes, nullptr,
                                   options.testing.skip_crc_check_on_recovery);
    if (scan.stop == ScanStop::kNewerVersion) {
      return absl::FailedPreconditionError(fmt::format(
          "{} was written by a newer format version than {} (this build); refusing to open, "
          "nothing was changed",
          path, kFormatVersion));
    }
    if (scan.stop == ScanStop::kIoError) return scan.io_status;
    found.push_back(FoundSegment{base, path, std::move(*file), std::move(scan)});
  }
  report.segments_found = static_cast<uint32_t>(found.size());
  return found;
}

}  // namespace

std::string RecoveryReport::ToString() const {
  std::string text = fmt::format("{} segments, {} batches, log [{}, {})", segments_found,
                                 batches_recovered, start_offset.value(), end_offset.value());
  if (cut) {
    text +=
        fmt::format("; cut {} bytes ({} segments removed), lost [{}, >= {}){}: {}", bytes_discarded,
                    segments_removed, lost_from.value(), lost_end_offset_hint.value(),
                    looks_torn ? " (torn last write)" : "", lost_reason);
  }
  if (wal_ops > 0) {
    text +=
        fmt::format("; wal: {} operations redone, {} batches written back{}", wal_ops,
                    wal_batches_restored, healed_by_wal ? ", healing what recovery had cut" : "");
  }
  for (const std::string& name : ignored_files) text += "; ignored " + name;
  return text;
}

absl::StatusOr<std::unique_ptr<Log>> Log::Open(io::Runtime& runtime, io::Disk& disk,
                                               LogOptions options, RecoveryReport* report_out) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  std::unique_ptr<Log> log(new Log(runtime, disk, std::move(options)));
  RecoveryReport report;
  if (absl::Status s = log->Recover(report); !s.ok()) return s;
  if (log->uses_wal()) {
    if (absl::Status s = log->OpenOverWal(report); !s.ok()) return s;
  }
  log->Invariants();
  MERIDIAN_CHECK(log->durable_end_ == log->end_offset_);
  if (report_out != nullptr) *report_out = std::move(report);
  return log;
}

// Scans everything before changing anything, so that a newer-version segment or an I/O error
// leaves the disk exactly as it was.
absl::Status Log::Recover(RecoveryReport& report) {
  if (absl::Status s = EnsureDir(disk_, options_.dir); !s.ok()) return s;
  absl::StatusOr<std::vector<FoundSegment>> found = ScanDirectory(disk_, options_, report);
  if (!found.ok()) return found.status();
  absl::StatusOr<std::optional<LossRecord>> loss = ReadLossRecord(report);
  if (!loss.ok()) return loss.status();
  size_t kept = found->size();
  if (std::optional<RecoveryCut> cut = FindCut(*found)) {
    absl::StatusOr<size_t> cut_kept = CutAtFirstBadByte(*found, *cut, *loss, report);
    if (!cut_kept.ok()) return cut_kept.status();
    kept = *cut_kept;
  } else if (*loss) {
    MERIDIAN_PROBE("log: recovery reports an earlier loss not yet acknowledged");
    report.lost_reason = "reported by an earlier recovery, not yet acknowledged";
  }
  if (*loss) {
    report.cut = true;
    report.lost_from = (*loss)->lost_from;
    report.lost_end_offset_hint = (*loss)->lost_end_hint;
  }
  MERIDIAN_CHECK(kept <= found->size());
  for (size_t i = 0; i < kept; i++) {
    FoundSegment& f = (*found)[i];
    MERIDIAN_CHECK(f.scan.valid_bytes >= kSegmentHeaderBytes, "kept {} has no header", f.path);
    auto segment =
        std::make_shared<Segment>(f.base, f.path, std::move(f.file), options_.index_interval_bytes);
    segment->end_offset = f.scan.end_offset;
    segment->size_bytes = f.scan.valid_bytes;
    segment->max_timestamp_ms = f.scan.max_timestamp_ms;
    segment->first_timestamp_ms = f.scan.first_timestamp_ms;
    segment->index = std::move(f.scan.index);
    segment->dirty = true;  // What a restarted process reads may sit only in the page cache.
    report.batches_recovered += f.scan.batches;
    segments_.push_back(std::move(segment));
  }
  if (segments_.empty()) {  // A new log (recovery never removes the first segment).
    MERIDIAN_CHECK(found->empty());
    if (absl::Status s = CreateSegment(*loss ? (*loss)->lost_from : Offset(0)); !s.ok()) return s;
  }
  start_offset_ = segments_.front()->base_offset;
  end_offset_ = segments_.back()->end_offset;
  durable_end_ = start_offset_;
  dir_dirty_ = true;
  io_busy_ = true;
  absl::Status synced = GroupSync();  // Everything recovered is durable from here on.
  io_busy_ = false;
  if (!synced.ok()) return synced;
  report.start_offset = start_offset_;
  report.end_offset = end_offset_;
  if (!report.cut) report.lost_from = report.lost_end_offset_hint = end_offset_;
  return absl::OkStatus();
}

// Records the loss (unless nothing durable can have been lost), then cuts. Returns how many of
// the found segments remain.
absl::StatusOr<size_t> Log::CutAtFirstBadByte(std::vector<FoundSegment>& found,
                                              const RecoveryCut& cut,
                                              std::optional<LossRecord>& loss,
                                              RecoveryReport& report) {
  MERIDIAN_CHECK(cut.segment < found.size());
  LossRecord now = LossOf(found, cut);
  report.looks_torn = cut.segment + 1 == found.size() && found[cut.segment].scan.looks_torn;
  report.lost_reason = cut.reason;
  // A last segment shorter than its header was created and never synced: it held no batch,
  // so nothing is lost. Anything else is recorded, even a tail that looks torn: a flipped
  // length field in the last batch looks exactly like a torn write, and a spurious report
  // costs a re-fetch while a silent loss costs acknowledged data.
  const bool never_synced_segment = cut.segment + 1 == found.size() && cut.whole &&
                                    found[cut.segment].scan.file_bytes < kSegmentHeaderBytes;
  if (never_synced_segment) {
    MERIDIAN_PROBE("log: recovery removed a segment created but never synced");
  } else if (report.looks_torn) {
    MERIDIAN_PROBE("log: recovery cut a tail that looks torn");
  } else {
    MERIDIAN_PROBE("log: recovery cut at damage before the tail");
  }
  if (!never_synced_segment) {
    // Record the loss durably first: a crash between the cut and the report must not hide it.
    if (loss) {
      now.lost_from = std::min(now.lost_from, loss->lost_from);
      now.lost_end_hint = std::max(now.lost_end_hint, loss->lost_end_hint);
      now.recoveries = loss->recoveries + 1;
    }
    if (absl::Status s = WriteLossRecord(now); !s.ok()) return s;
    loss = now;
  }
  absl::Status applied =
      ApplyCut(disk_, options_.dir, found, cut, options_.index_interval_bytes, report);
  if (!applied.ok()) return applied;
  return cut.whole ? std::max<size_t>(cut.segment, 1) : cut.segment + 1;
}

absl::StatusOr<std::optional<LossRecord>> Log::ReadLossRecord(RecoveryReport& report) {
  const std::string path = options_.dir + "/" + kLossRecordFileName;
  absl::StatusOr<bool> exists = disk_.Exists(path);
  if (!exists.ok()) return exists.status();
  if (!*exists) return std::optional<LossRecord>();
  absl::StatusOr<std::unique_ptr<io::File>> file = disk_.Open(path, io::OpenMode::kOpenExisting);
  if (!file.ok()) return file.status();
  std::vector<uint8_t> bytes(kLossRecordBytes + 1);
  absl::StatusOr<size_t> got = (*file)->ReadAt(0, bytes);
  if (!got.ok()) return got.status();
  bytes.resize(*got);
  LossRecord record;
  if (DecodeLossRecord(bytes, &record) != DecodeVerdict::kOk) {
    // The record itself is damaged: something was lost, we no longer know what. Say so loudly
    // and assume the worst (everything from the start may need a re-fetch).
    MERIDIAN_PROBE("log: loss record unreadable; assuming everything may be lost");
    report.ignored_files.push_back(std::string(kLossRecordFileName) + " (unreadable)");
    return std::optional<LossRecord>(LossRecord{});
  }
  return std::optional<LossRecord>(record);
}

absl::Status Log::WriteLossRecord(const LossRecord& record) {
  const std::string path = options_.dir + "/" + kLossRecordFileName;
  const std::string temp = path + ".tmp";
  absl::StatusOr<std::unique_ptr<io::File>> file = disk_.Open(temp, io::OpenMode::kCreate);
  if (!file.ok()) return file.status();
  if (absl::Status s = (*file)->Truncate(0); !s.ok()) return s;
  if (absl::Status s = (*file)->WriteAt(0, EncodeLossRecord(record)); !s.ok()) return s;
  if (absl::Status s = (*file)->Sync(); !s.ok()) return s;
  if (absl::Status s = disk_.Rename(temp, path); !s.ok()) return s;  // Atomic replace.
  return disk_.SyncDir(options_.dir);
}

absl::Status Log::AcknowledgeLoss() {
  if (!failed_.ok()) return failed_;
  const std::string path = options_.dir + "/" + kLossRecordFileName;
  absl::StatusOr<bool> exists = disk_.Exists(path);
  if (!exists.ok()) return exists.status();
  if (!*exists) return absl::OkStatus();
  if (absl::Status s = AcquireIo(io::Instant::Infinite()); !s.ok()) return s;
  absl::Status status = disk_.Remove(path);
  if (status.ok()) status = disk_.SyncDir(options_.dir);
  ReleaseIo();
  return status;
}

}  // namespace meridian::core::log
