#include "core/log/segment_scan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "io/assert.h"

namespace meridian::core::log {
namespace {

// A window of file bytes [begin, begin + bytes.size()) read with one ReadAt.
struct Window {
  uint64_t begin = 0;
  std::vector<uint8_t> bytes;

  bool Holds(uint64_t position, uint64_t length) const {
    return position >= begin && position + length <= begin + bytes.size();
  }
  std::span<const uint8_t> At(uint64_t position) const {
    MERIDIAN_CHECK(position >= begin);
    MERIDIAN_CHECK(position <= begin + bytes.size());
    return std::span<const uint8_t>(bytes).subspan(position - begin);
  }
};

absl::Status Fill(io::File& file, Window& window, uint64_t position, uint64_t length) {
  window.begin = position;
  window.bytes.resize(length);
  absl::StatusOr<size_t> got = file.ReadAt(position, window.bytes);
  if (!got.ok()) return got.status();
  MERIDIAN_CHECK(*got <= length);
  window.bytes.resize(*got);
  return absl::OkStatus();
}

bool ReadHeader(io::File& file, uint64_t file_bytes, Offset expected_base, SegmentScan& scan) {
  if (file_bytes < kSegmentHeaderBytes) {
    scan.stop = ScanStop::kBadSegmentHeader;
    scan.verdict = DecodeVerdict::kTooShort;
    scan.looks_torn = true;  // An empty or half-written header: a segment created, never synced.
    return false;
  }
  Window window;
  if (absl::Status s = Fill(file, window, 0, kSegmentHeaderBytes); !s.ok()) {
    scan.stop = ScanStop::kIoError;
    scan.io_status = s;
    return false;
  }
  scan.verdict = DecodeSegmentHeader(window.bytes, &scan.header);
  if (scan.verdict == DecodeVerdict::kOk && scan.header.base_offset != expected_base) {
    scan.verdict = DecodeVerdict::kBadFields;
  }
  if (scan.verdict != DecodeVerdict::kOk) {
    scan.stop = scan.verdict == DecodeVerdict::kNewerVersion ? ScanStop::kNewerVersion
                                                             : ScanStop::kBadSegmentHeader;
    return false;
  }
  scan.valid_bytes = kSegmentHeaderBytes;
  scan.end_offset = scan.header.base_offset;
  return true;
}

// Checks one batch at `position` (its header is in `window`). Returns kOk and fills `header`, or
// the reason it is not a valid continuation of the segment.
DecodeVerdict CheckBatch(io::File& file, Window& window, const SegmentScan& scan, uint64_t position,
                         bool skip_crc_for_tests, BatchHeader* header, absl::Status* io_status) {
  BatchHeader peek;
  // A batch claiming a newer version inside an older segment is damage: only the segment header
  // decides what version a file is.
  const DecodeVerdict peeked = DecodeBatchHeader(window.At(position), &peek);
  if (peeked != DecodeVerdict::kOk) return peeked;
  if (position + peek.length_bytes > scan.file_bytes) return DecodeVerdict::kTooShort;
  if (!window.Holds(position, peek.length_bytes)) {
    const uint64_t length = std::max<uint64_t>(peek.length_bytes, kScanChunkBytes);
    *io_status = Fill(file, window, position, std::min(length, scan.file_bytes - position));
    if (!io_status->ok()) return DecodeVerdict::kTooShort;
    if (!window.Holds(position, peek.length_bytes)) return DecodeVerdict::kTooShort;
  }
  *header = peek;  // Planted bug (skip_crc_for_tests): the header alone decides.
  const DecodeVerdict verdict =
      skip_crc_for_tests ? DecodeVerdict::kOk : DecodeBatch(window.At(position), header);
  if (verdict != DecodeVerdict::kOk) return verdict;
  // Inside a segment the segment's version rules; offsets follow on without gaps.
  if (header->format_version != scan.header.format_version) return DecodeVerdict::kBadVersion;
  if (header->base_offset != scan.end_offset) return DecodeVerdict::kBadFields;
  return DecodeVerdict::kOk;
}

}  // namespace

const char* ScanStopName(ScanStop stop) {
  switch (stop) {
    case ScanStop::kCleanEnd:
      return "clean end";
    case ScanStop::kBadBatch:
      return "bad batch";
    case ScanStop::kBadSegmentHeader:
      return "bad segment header";
    case ScanStop::kNewerVersion:
      return "newer format version";
    case ScanStop::kIoError:
      return "I/O error";
  }
  MERIDIAN_UNREACHABLE("stop {}", static_cast<int>(stop));
}

std::string SegmentScan::Describe() const {
  return fmt::format("{} ({}) after {} batches, valid bytes {} of {}, end offset {}{}",
                     ScanStopName(stop), VerdictName(verdict), batches, valid_bytes, file_bytes,
                     end_offset.value(), looks_torn ? ", looks like a torn write" : "");
}

SegmentScan ScanSegment(io::File& file, Offset expected_base, uint32_t index_interval_bytes,
                        const BatchVisitor& visit, bool skip_crc_for_tests) {
  SegmentScan scan;
  scan.index = SparseIndex(index_interval_bytes);
  scan.end_offset = expected_base;
  absl::StatusOr<uint64_t> size = file.Size();
  if (!size.ok()) {
    scan.stop = ScanStop::kIoError;
    scan.io_status = size.status();
    return scan;
  }
  scan.file_bytes = *size;
  if (!ReadHeader(file, scan.file_bytes, expected_base, scan)) return scan;
  Window window;
  uint64_t position = kSegmentHeaderBytes;
  while (position < scan.file_bytes) {
    const uint64_t remaining = scan.file_bytes - position;
    if (remaining < kBatchHeaderBytes) {
      scan.stop = ScanStop::kBadBatch;
      scan.verdict = DecodeVerdict::kTooShort;
      break;
    }
    if (!window.Holds(position, kBatchHeaderBytes)) {
      scan.io_status = Fill(file, window, position, std::min<uint64_t>(remaining, kScanChunkBytes));
      if (!scan.io_status.ok()) {
        scan.stop = ScanStop::kIoError;
        break;
      }
    }
    BatchHeader header;
    scan.verdict =
        CheckBatch(file, window, scan, position, skip_crc_for_tests, &header, &scan.io_status);
    if (!scan.io_status.ok()) {
      scan.stop = ScanStop::kIoError;
      break;
    }
    if (scan.verdict != DecodeVerdict::kOk) {
      scan.stop = ScanStop::kBadBatch;
      break;
    }
    scan.index.OnBatch(header.base_offset, position, header.length_bytes);
    if (visit) visit(header, position);
    scan.batches++;
    scan.end_offset = header.end_offset();
    scan.max_timestamp_ms = std::max(scan.max_timestamp_ms, header.max_timestamp_ms);
    if (scan.batches == 1) scan.first_timestamp_ms = header.first_timestamp_ms;
    position += header.length_bytes;
    scan.valid_bytes = position;
  }
  if (scan.stop == ScanStop::kBadBatch) {
    // Torn: the bad batch is incomplete and runs into the end of the file.
    scan.looks_torn = scan.verdict == DecodeVerdict::kTooShort;
  }
  MERIDIAN_CHECK(scan.valid_bytes <= scan.file_bytes);
  if (scan.stop == ScanStop::kCleanEnd) MERIDIAN_CHECK(scan.valid_bytes == scan.file_bytes);
  return scan;
}

SegmentScan RecoverFromBytes(std::span<const uint8_t> bytes) {
  SegmentHeader claimed;
  Offset base;
  if (DecodeSegmentHeader(bytes, &claimed) == DecodeVerdict::kOk) base = claimed.base_offset;
  SpanFile file(bytes);
  std::vector<std::pair<BatchHeader, uint64_t>> kept;
  SegmentScan scan =
      ScanSegment(file, base, SparseIndex::kIntervalBytesMin,
                  [&](const BatchHeader& h, uint64_t at) { kept.emplace_back(h, at); });
  // Paired assertions: what the scan kept must verify again, contiguously, inside the bytes.
  MERIDIAN_CHECK(scan.valid_bytes <= bytes.size());
  MERIDIAN_CHECK(kept.size() == scan.batches);
  Offset expected = base;
  for (const auto& [header, at] : kept) {
    BatchHeader again;
    MERIDIAN_CHECK(DecodeBatch(bytes.subspan(at), &again) == DecodeVerdict::kOk);
    MERIDIAN_CHECK(again.base_offset == expected);
    MERIDIAN_CHECK(at + again.length_bytes <= scan.valid_bytes);
    expected = again.end_offset();
  }
  if (scan.batches > 0) MERIDIAN_CHECK(expected == scan.end_offset);
  return scan;
}

absl::Status SpanFile::WriteAt(uint64_t, std::span<const uint8_t>) {
  return absl::PermissionDeniedError("SpanFile is read-only");
}
absl::StatusOr<uint64_t> SpanFile::Append(std::span<const uint8_t>) {
  return absl::PermissionDeniedError("SpanFile is read-only");
}
absl::Status SpanFile::Truncate(uint64_t) {
  return absl::PermissionDeniedError("SpanFile is read-only");
}
absl::StatusOr<size_t> SpanFile::ReadAt(uint64_t offset, std::span<uint8_t> buffer) {
  if (offset >= bytes_.size()) return 0;
  const size_t n = std::min<uint64_t>(buffer.size(), bytes_.size() - offset);
  std::memcpy(buffer.data(), bytes_.data() + offset, n);
  return n;
}

}  // namespace meridian::core::log
