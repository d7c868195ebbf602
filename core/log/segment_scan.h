// Scanning a segment file: the one routine recovery, the fuzz entry point and the tests share.
//
// ScanSegment reads a segment from its header to its end and stops at the first byte that is not
// a valid continuation of the log: a torn or corrupted batch, a batch whose offsets do not follow
// its predecessor's, a batch of another format version. It never writes. What it found valid is
// a prefix of the file; the caller decides what to do with the rest (log_recovery.cc truncates).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/log/format.h"
#include "core/log/sparse_index.h"
#include "core/strong_id.h"
#include "io/disk.h"

namespace meridian::core::log {

// Bytes read per ReadAt while scanning (a larger batch is read whole).
inline constexpr uint32_t kScanChunkBytes = 1u << 20;

enum class ScanStop {
  kCleanEnd,          // Every byte of the file belongs to a valid batch.
  kBadBatch,          // Stopped at `stop_position`: torn, corrupted or discontinuous.
  kBadSegmentHeader,  // The header is missing, short, or corrupted: nothing in the file is valid.
  kNewerVersion,      // Written by a newer build: refuse, do not touch.
  kIoError,           // Reading failed (`io_status`).
};
const char* ScanStopName(ScanStop stop);

struct SegmentScan {
  ScanStop stop = ScanStop::kCleanEnd;
  DecodeVerdict verdict = DecodeVerdict::kOk;  // Why a kBadBatch / kBadSegmentHeader stopped.
  absl::Status io_status;
  SegmentHeader header;
  uint64_t file_bytes = 0;
  // The valid prefix: [0, valid_bytes) holds the header and `batches` whole batches covering
  // offsets [header.base_offset, end_offset).
  uint64_t valid_bytes = 0;
  Offset end_offset;
  uint64_t batches = 0;
  int64_t max_timestamp_ms = INT64_MIN;
  int64_t first_timestamp_ms = INT64_MAX;  // Of the first valid batch.
  SparseIndex index;
  // Whether the invalid bytes look like a torn final write (an incomplete batch reaching the end
  // of the file) rather than damage in the middle. Only informs the report; both are truncated.
  bool looks_torn = false;

  std::string Describe() const;
};

// Called for every valid batch, in order, with its header and its position in the file.
using BatchVisitor = std::function<void(const BatchHeader&, uint64_t position)>;

// Scans `file`. `expected_base` is the base offset the segment's name promises; a header that
// disagrees is a bad header. Reads with ReadAt only: never suspends on either backend.
// `skip_crc_for_tests` is a planted bug (LogTestingKnobs::skip_crc_check_on_recovery).
SegmentScan ScanSegment(io::File& file, Offset expected_base, uint32_t index_interval_bytes,
                        const BatchVisitor& visit = nullptr, bool skip_crc_for_tests = false);

// The fuzz entry point: treats `bytes` as the contents of one segment file (whatever base offset
// its header claims) and recovers what a restart would keep. Never crashes for any input; the
// result's invariants are checked inside (valid_bytes <= size, offsets contiguous, every kept
// batch re-verifies).
SegmentScan RecoverFromBytes(std::span<const uint8_t> bytes);

// A read-only io::File over bytes in memory, for RecoverFromBytes and unit tests.
class SpanFile final : public io::File {
 public:
  explicit SpanFile(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  absl::Status WriteAt(uint64_t, std::span<const uint8_t>) override;
  absl::StatusOr<uint64_t> Append(std::span<const uint8_t>) override;
  absl::StatusOr<size_t> ReadAt(uint64_t offset, std::span<uint8_t> buffer) override;
  absl::Status Sync() override { return absl::OkStatus(); }
  absl::Status Truncate(uint64_t) override;
  absl::StatusOr<uint64_t> Size() override { return bytes_.size(); }
  const std::string& path() const override { return path_; }

 private:
  std::span<const uint8_t> bytes_;
  std::string path_ = "<memory>";
};

}  // namespace meridian::core::log
