// The on-disk format of the log: segment file headers and record batches, byte by byte as
// FORMAT.md describes them. Pure functions over bytes: nothing here touches a file.
//
// What stays true:
// - Encode then Decode gives back the same header and payload (format_test checks it).
// - Decode never trusts a byte: every length is bounded before use, and a batch is accepted only
//   if its CRC32C (over everything after the CRC field) matches. A newer format version is a
//   distinct verdict from corruption, so a newer segment is refused rather than "repaired".
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/strong_id.h"

namespace meridian::core::log {

// --- Limits (house style rule 7) ---
inline constexpr uint8_t kFormatVersion = 1;
inline constexpr size_t kSegmentHeaderBytes = 32;
inline constexpr size_t kBatchHeaderBytes = 64;
inline constexpr uint32_t kBatchPayloadBytesMax = 8u << 20;
inline constexpr uint32_t kBatchBytesMax = kBatchHeaderBytes + kBatchPayloadBytesMax;
inline constexpr uint32_t kRecordsPerBatchMax = 1u << 20;
// The largest base offset a batch may have (DecodeBatchHeader refuses more, so offsets never
// wrap). A log whose end is past it is full: Append refuses with a status. Only reachable through
// a disk that claims such offsets (a segment header or name), never by appending from 0.
inline constexpr uint64_t kBaseOffsetMax = UINT64_MAX / 2;
// Positions inside a segment are u32 in the sparse index; a segment never outgrows that.
inline constexpr uint64_t kSegmentBytesLimit = uint64_t{1} << 30;
static_assert(kBatchBytesMax < kSegmentBytesLimit / 4, "a segment holds several largest batches");
static_assert(kSegmentHeaderBytes + kBatchBytesMax <= kSegmentBytesLimit);

// 8 bytes at the start of every segment file: "MRDNSEG" and a NUL.
inline constexpr uint8_t kSegmentMagic[8] = {'M', 'R', 'D', 'N', 'S', 'E', 'G', 0};
// u16 at byte 8 of every batch: "MB" little-endian.
inline constexpr uint16_t kBatchMagic = 0x424d;

struct SegmentHeader {
  uint8_t format_version = kFormatVersion;
  Offset base_offset;
};

// Everything about a batch except its payload. `length_bytes` covers header and payload.
struct BatchHeader {
  uint32_t crc32c = 0;
  uint32_t length_bytes = 0;
  uint8_t format_version = kFormatVersion;
  uint8_t attributes = 0;
  uint32_t record_count = 0;
  Offset base_offset;
  Term term;  // Raft term (leader epoch) of the leader that appended the batch.
  uint64_t producer_id = 0;
  uint32_t producer_epoch = 0;
  uint32_t base_sequence = 0;
  int64_t first_timestamp_ms = 0;
  int64_t max_timestamp_ms = 0;

  uint32_t payload_bytes() const { return length_bytes - kBatchHeaderBytes; }
  // One past the last offset of the batch.
  Offset end_offset() const { return Offset(base_offset.value() + record_count); }
};

// What the caller of Log::Append says about a batch; the log assigns the offsets.
struct BatchMeta {
  uint32_t record_count = 1;
  Term term;
  uint64_t producer_id = 0;
  uint32_t producer_epoch = 0;
  uint32_t base_sequence = 0;
  int64_t first_timestamp_ms = 0;
  int64_t max_timestamp_ms = 0;
};

// Why bytes are not a valid header or batch.
enum class DecodeVerdict {
  kOk,
  kTooShort,  // Fewer bytes than the header (or than the length the header claims).
  kBadMagic,
  kNewerVersion,  // A version this build cannot read: refuse, never truncate.
  kBadVersion,    // Version 0 or a batch whose version differs from its segment's.
  kBadLength,     // Length field out of bounds.
  kBadFields,     // Record count 0 or too large, timestamps inverted, offsets overflowing.
  kBadCrc,
};
const char* VerdictName(DecodeVerdict verdict);

// Segment header: 32 bytes.
std::vector<uint8_t> EncodeSegmentHeader(const SegmentHeader& header);
DecodeVerdict DecodeSegmentHeader(std::span<const uint8_t> bytes, SegmentHeader* header);

// Builds one encoded batch (header with CRC, then payload). Checks the meta against the limits.
std::vector<uint8_t> EncodeBatch(Offset base_offset, const BatchMeta& meta,
                                 std::span<const uint8_t> payload);
// The same, with the payload given in parts (concatenated), so a caller holding a small head and
// a large body does not first copy them together.
std::vector<uint8_t> EncodeBatch(Offset base_offset, const BatchMeta& meta,
                                 std::span<const std::span<const uint8_t>> payload_parts);

// Decodes the fixed header only, checking magic, version and field bounds but not the CRC (the
// payload may not have been read yet). `bytes` must hold at least kBatchHeaderBytes.
DecodeVerdict DecodeBatchHeader(std::span<const uint8_t> bytes, BatchHeader* header);
// Decodes and verifies a whole batch: `bytes` must start at the batch and hold at least its
// length. On kOk, `header` is filled and the CRC matched.
DecodeVerdict DecodeBatch(std::span<const uint8_t> bytes, BatchHeader* header);

// The loss record: written (and synced) before recovery cuts anything, so a crash in the middle
// of recovery cannot make the loss silent. It stays until the owner acknowledges the loss
// (Log::AcknowledgeLoss) after repairing from a peer. FORMAT.md, "Loss record".
inline constexpr char kLossRecordFileName[] = "LOST";
inline constexpr size_t kLossRecordBytes = 32;
inline constexpr uint32_t kLossRecordMagic = 0x54534f4c;  // "LOST"

struct LossRecord {
  Offset lost_from;      // First offset the log no longer has.
  Offset lost_end_hint;  // Best known end of what was discarded (>= lost_from).
  uint64_t recoveries =
      1;  // How many recoveries cut (or re-reported) since the last acknowledgement.
};
std::vector<uint8_t> EncodeLossRecord(const LossRecord& record);
DecodeVerdict DecodeLossRecord(std::span<const uint8_t> bytes, LossRecord* record);

// The file name of the segment whose first offset is `base_offset`: 20 digits + ".seg", so that
// sorted names are sorted offsets.
std::string SegmentFileName(Offset base_offset);
// Parses a segment file name; false for anything else.
bool ParseSegmentFileName(const std::string& name, Offset* base_offset);

}  // namespace meridian::core::log
