#include "core/log/format.h"

#include <fmt/format.h>

#include <cstring>

#include "io/assert.h"
#include "io/crc32c.h"

namespace meridian::core::log {
namespace {

// Little-endian fixed-width stores and loads; the format is little-endian on every host.
template <typename T>
void Store(std::span<uint8_t> out, size_t at, T value) {
  MERIDIAN_CHECK(at + sizeof(T) <= out.size());
  for (size_t i = 0; i < sizeof(T); i++) {
    out[at + i] = static_cast<uint8_t>(static_cast<uint64_t>(value) >> (8 * i));
  }
}

template <typename T>
T Load(std::span<const uint8_t> in, size_t at) {
  MERIDIAN_CHECK(at + sizeof(T) <= in.size());
  uint64_t value = 0;
  for (size_t i = 0; i < sizeof(T); i++) value |= uint64_t{in[at + i]} << (8 * i);
  return static_cast<T>(value);
}

// Byte positions of the batch header fields (FORMAT.md, "Record batch").
constexpr size_t kAtCrc = 0;
constexpr size_t kAtLength = 4;
constexpr size_t kAtMagic = 8;
constexpr size_t kAtVersion = 10;
constexpr size_t kAtAttributes = 11;
constexpr size_t kAtRecordCount = 12;
constexpr size_t kAtBaseOffset = 16;
constexpr size_t kAtTerm = 24;
constexpr size_t kAtProducerId = 32;
constexpr size_t kAtProducerEpoch = 40;
constexpr size_t kAtBaseSequence = 44;
constexpr size_t kAtFirstTimestamp = 48;
constexpr size_t kAtMaxTimestamp = 56;
static_assert(kAtMaxTimestamp + 8 == kBatchHeaderBytes);

// Segment header fields.
constexpr size_t kSegAtVersion = 8;
constexpr size_t kSegAtBaseOffset = 16;
constexpr size_t kSegAtCrc = 28;
static_assert(kSegAtCrc + 4 == kSegmentHeaderBytes);

uint32_t BatchCrc(std::span<const uint8_t> batch) {
  MERIDIAN_CHECK(batch.size() >= kBatchHeaderBytes);
  return io::Crc32c(batch.subspan(kAtLength));
}

}  // namespace

const char* VerdictName(DecodeVerdict verdict) {
  switch (verdict) {
    case DecodeVerdict::kOk:
      return "ok";
    case DecodeVerdict::kTooShort:
      return "too short";
    case DecodeVerdict::kBadMagic:
      return "bad magic";
    case DecodeVerdict::kNewerVersion:
      return "newer format version";
    case DecodeVerdict::kBadVersion:
      return "bad format version";
    case DecodeVerdict::kBadLength:
      return "bad length";
    case DecodeVerdict::kBadFields:
      return "bad header fields";
    case DecodeVerdict::kBadCrc:
      return "CRC mismatch";
  }
  MERIDIAN_UNREACHABLE("verdict {}", static_cast<int>(verdict));
}

std::vector<uint8_t> EncodeSegmentHeader(const SegmentHeader& header) {
  MERIDIAN_CHECK(header.format_version == kFormatVersion);
  std::vector<uint8_t> bytes(kSegmentHeaderBytes, 0);
  std::memcpy(bytes.data(), kSegmentMagic, sizeof(kSegmentMagic));
  Store<uint8_t>(bytes, kSegAtVersion, header.format_version);
  Store<uint64_t>(bytes, kSegAtBaseOffset, header.base_offset.value());
  Store<uint32_t>(bytes, kSegAtCrc, io::Crc32c(std::span(bytes).first(kSegAtCrc)));
  return bytes;
}

DecodeVerdict DecodeSegmentHeader(std::span<const uint8_t> bytes, SegmentHeader* header) {
  if (bytes.size() < kSegmentHeaderBytes) return DecodeVerdict::kTooShort;
  if (std::memcmp(bytes.data(), kSegmentMagic, sizeof(kSegmentMagic)) != 0) {
    return DecodeVerdict::kBadMagic;
  }
  // Every version keeps the magic, the version byte and this CRC where they are, so a flipped
  // version byte reads as corruption and only a real newer header reads as newer.
  if (Load<uint32_t>(bytes, kSegAtCrc) != io::Crc32c(bytes.first(kSegAtCrc))) {
    return DecodeVerdict::kBadCrc;
  }
  const uint8_t version = Load<uint8_t>(bytes, kSegAtVersion);
  if (version > kFormatVersion) return DecodeVerdict::kNewerVersion;
  if (version == 0) return DecodeVerdict::kBadVersion;
  header->format_version = version;
  header->base_offset = Offset(Load<uint64_t>(bytes, kSegAtBaseOffset));
  return DecodeVerdict::kOk;
}

std::vector<uint8_t> EncodeBatch(Offset base_offset, const BatchMeta& meta,
                                 std::span<const uint8_t> payload) {
  const std::span<const uint8_t> parts[] = {payload};
  return EncodeBatch(base_offset, meta, parts);
}

std::vector<uint8_t> EncodeBatch(Offset base_offset, const BatchMeta& meta,
                                 std::span<const std::span<const uint8_t>> payload_parts) {
  size_t payload_bytes = 0;
  for (std::span<const uint8_t> part : payload_parts) payload_bytes += part.size();
  MERIDIAN_CHECK(payload_bytes <= kBatchPayloadBytesMax, "payload of {} bytes", payload_bytes);
  MERIDIAN_CHECK(meta.record_count > 0);
  MERIDIAN_CHECK(meta.record_count <= kRecordsPerBatchMax);
  MERIDIAN_CHECK(meta.first_timestamp_ms <= meta.max_timestamp_ms);
  const uint32_t length = static_cast<uint32_t>(kBatchHeaderBytes + payload_bytes);
  // Header zeroed, payload copied once (no zero-fill of a buffer about to be overwritten: at
  // 1 MiB batches that fill showed in the benchmark).
  std::vector<uint8_t> bytes;
  bytes.reserve(length);
  bytes.resize(kBatchHeaderBytes);
  for (std::span<const uint8_t> part : payload_parts) {
    bytes.insert(bytes.end(), part.begin(), part.end());
  }
  MERIDIAN_CHECK(bytes.size() == length);
  std::span<uint8_t> out(bytes);
  Store<uint32_t>(out, kAtLength, length);
  Store<uint16_t>(out, kAtMagic, kBatchMagic);
  Store<uint8_t>(out, kAtVersion, kFormatVersion);
  Store<uint8_t>(out, kAtAttributes, 0);
  Store<uint32_t>(out, kAtRecordCount, meta.record_count);
  Store<uint64_t>(out, kAtBaseOffset, base_offset.value());
  Store<uint64_t>(out, kAtTerm, meta.term.value());
  Store<uint64_t>(out, kAtProducerId, meta.producer_id);
  Store<uint32_t>(out, kAtProducerEpoch, meta.producer_epoch);
  Store<uint32_t>(out, kAtBaseSequence, meta.base_sequence);
  Store<int64_t>(out, kAtFirstTimestamp, meta.first_timestamp_ms);
  Store<int64_t>(out, kAtMaxTimestamp, meta.max_timestamp_ms);
  Store<uint32_t>(out, kAtCrc, BatchCrc(bytes));
  return bytes;
}

DecodeVerdict DecodeBatchHeader(std::span<const uint8_t> bytes, BatchHeader* header) {
  if (bytes.size() < kBatchHeaderBytes) return DecodeVerdict::kTooShort;
  if (Load<uint16_t>(bytes, kAtMagic) != kBatchMagic) return DecodeVerdict::kBadMagic;
  BatchHeader h;
  h.crc32c = Load<uint32_t>(bytes, kAtCrc);
  h.length_bytes = Load<uint32_t>(bytes, kAtLength);
  h.format_version = Load<uint8_t>(bytes, kAtVersion);
  h.attributes = Load<uint8_t>(bytes, kAtAttributes);
  h.record_count = Load<uint32_t>(bytes, kAtRecordCount);
  h.base_offset = Offset(Load<uint64_t>(bytes, kAtBaseOffset));
  h.term = Term(Load<uint64_t>(bytes, kAtTerm));
  h.producer_id = Load<uint64_t>(bytes, kAtProducerId);
  h.producer_epoch = Load<uint32_t>(bytes, kAtProducerEpoch);
  h.base_sequence = Load<uint32_t>(bytes, kAtBaseSequence);
  h.first_timestamp_ms = Load<int64_t>(bytes, kAtFirstTimestamp);
  h.max_timestamp_ms = Load<int64_t>(bytes, kAtMaxTimestamp);
  if (h.length_bytes < kBatchHeaderBytes || h.length_bytes > kBatchBytesMax) {
    return DecodeVerdict::kBadLength;
  }
  if (h.format_version > kFormatVersion) return DecodeVerdict::kNewerVersion;
  if (h.format_version == 0) return DecodeVerdict::kBadVersion;
  if (h.record_count == 0 || h.record_count > kRecordsPerBatchMax) return DecodeVerdict::kBadFields;
  if (h.first_timestamp_ms > h.max_timestamp_ms) return DecodeVerdict::kBadFields;
  if (h.base_offset.value() > kBaseOffsetMax) return DecodeVerdict::kBadFields;  // No wrap.
  *header = h;
  return DecodeVerdict::kOk;
}

DecodeVerdict DecodeBatch(std::span<const uint8_t> bytes, BatchHeader* header) {
  if (bytes.size() < kBatchHeaderBytes) return DecodeVerdict::kTooShort;
  if (Load<uint16_t>(bytes, kAtMagic) != kBatchMagic) return DecodeVerdict::kBadMagic;
  const uint32_t length = Load<uint32_t>(bytes, kAtLength);
  if (length < kBatchHeaderBytes || length > kBatchBytesMax) return DecodeVerdict::kBadLength;
  if (bytes.size() < length) return DecodeVerdict::kTooShort;
  // The CRC and length sit at the same place in every version, so the CRC is checked before the
  // version: a flipped version byte is corruption, not a "newer" batch.
  if (BatchCrc(bytes.first(length)) != Load<uint32_t>(bytes, kAtCrc)) return DecodeVerdict::kBadCrc;
  BatchHeader h;
  const DecodeVerdict verdict = DecodeBatchHeader(bytes, &h);
  if (verdict != DecodeVerdict::kOk) return verdict;
  MERIDIAN_CHECK(h.length_bytes == length);
  *header = h;
  return DecodeVerdict::kOk;
}

std::vector<uint8_t> EncodeLossRecord(const LossRecord& record) {
  MERIDIAN_CHECK(record.lost_from <= record.lost_end_hint);
  std::vector<uint8_t> bytes(kLossRecordBytes, 0);
  Store<uint32_t>(bytes, 4, kLossRecordMagic);
  Store<uint64_t>(bytes, 8, record.lost_from.value());
  Store<uint64_t>(bytes, 16, record.lost_end_hint.value());
  Store<uint64_t>(bytes, 24, record.recoveries);
  Store<uint32_t>(bytes, 0, io::Crc32c(std::span(bytes).subspan(4)));
  return bytes;
}

DecodeVerdict DecodeLossRecord(std::span<const uint8_t> bytes, LossRecord* record) {
  if (bytes.size() != kLossRecordBytes) return DecodeVerdict::kBadLength;
  if (Load<uint32_t>(bytes, 4) != kLossRecordMagic) return DecodeVerdict::kBadMagic;
  if (Load<uint32_t>(bytes, 0) != io::Crc32c(bytes.subspan(4))) return DecodeVerdict::kBadCrc;
  LossRecord r{Offset(Load<uint64_t>(bytes, 8)), Offset(Load<uint64_t>(bytes, 16)),
               Load<uint64_t>(bytes, 24)};
  if (r.lost_from > r.lost_end_hint) return DecodeVerdict::kBadFields;
  *record = r;
  return DecodeVerdict::kOk;
}

std::string SegmentFileName(Offset base_offset) {
  return fmt::format("{:020}.seg", base_offset.value());
}

bool ParseSegmentFileName(const std::string& name, Offset* base_offset) {
  constexpr size_t kDigits = 20;
  if (name.size() != kDigits + 4 || name.compare(kDigits, 4, ".seg") != 0) return false;
  uint64_t value = 0;
  for (size_t i = 0; i < kDigits; i++) {
    const char c = name[i];
    if (c < '0' || c > '9') return false;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return false;
    value = value * 10 + digit;
  }
  *base_offset = Offset(value);
  MERIDIAN_CHECK(SegmentFileName(*base_offset) == name);
  return true;
}

}  // namespace meridian::core::log
