// Kafka record batches (message format v2, "magic 2"), the bytes of a Produce request's records
// and of a Fetch response's record set:
//
//   baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 | magic int8 (2)
//   | crc uint32 (CRC32C of everything after it) | attributes int16 | lastOffsetDelta int32
//   | baseTimestamp int64 | maxTimestamp int64 | producerId int64 | producerEpoch int16
//   | baseSequence int32 | records count int32 | records...
//   record: length varint | attributes int8 | timestampDelta varlong | offsetDelta varint
//           | key varbytes | value varbytes | headers count varint | (key varstring, value
//           varbytes)*
//
// DecodeRecordBatch checks everything a broker must before it believes a batch: the lengths
// (never trusted: each against the bytes left and the batch length), magic 2, the CRC32C
// (io/crc32c.h: the same Castagnoli polynomial), offset deltas 0..n-1 in order, counts and
// sizes within Meridian's limits. Compressed batches (attributes bits 0-2) are refused with
// kUnsupportedCompression, transactional and control batches with kUnsupported.
//
// Pure and deterministic: no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace meridian::core::kafka {

inline constexpr size_t kBatchHeaderBytes = 61;         // baseOffset .. records count.
inline constexpr size_t kBatchCrcCoveredFrom = 21;      // attributes: the CRC covers from here.
inline constexpr size_t kRecordsPerBatchMax = 1 << 16;  // = wire::kBatchRecordsMax.
inline constexpr size_t kHeadersPerRecordMax = 1024;

struct KafkaHeader {
  std::string key;
  std::optional<std::vector<uint8_t>> value;
  bool operator==(const KafkaHeader&) const = default;
};

struct KafkaRecord {
  int64_t timestamp_ms = 0;
  std::optional<std::vector<uint8_t>> key;    // nullopt: a null key.
  std::optional<std::vector<uint8_t>> value;  // nullopt: a null value.
  std::vector<KafkaHeader> headers;
  bool operator==(const KafkaRecord&) const = default;
};

struct KafkaBatch {
  int64_t base_offset = 0;
  int32_t partition_leader_epoch = -1;
  int16_t attributes = 0;
  int64_t producer_id = -1;  // -1: not idempotent.
  int16_t producer_epoch = -1;
  int32_t base_sequence = -1;
  std::vector<KafkaRecord> records;
  bool operator==(const KafkaBatch&) const = default;
};

// Why a batch was refused (the Kafka error a Produce answers with follows from it).
enum class BatchError : uint8_t {
  kCorrupt,                 // Bad lengths, magic, CRC, deltas: CORRUPT_MESSAGE.
  kUnsupportedCompression,  // UNSUPPORTED_COMPRESSION_TYPE.
  kUnsupported,             // Transactional or control batches: INVALID_REQUEST.
  kTooLarge,                // Over Meridian's record limits: MESSAGE_TOO_LARGE.
};

struct BatchDecodeError {
  BatchError error = BatchError::kCorrupt;
  std::string reason;
};

// Decodes exactly one batch that spans all of `bytes` (a Produce request's records field, as
// librdkafka and the Java client send it).
std::optional<KafkaBatch> DecodeRecordBatch(std::span<const uint8_t> bytes,
                                            BatchDecodeError* error);
// Appends the encoding of `batch` (at least one record) to `out`, CRC and lengths included.
void EncodeRecordBatch(const KafkaBatch& batch, std::vector<uint8_t>& out);

}  // namespace meridian::core::kafka
