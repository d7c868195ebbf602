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
// sizes within Meridian's limits. A compressed batch (attributes bits 0-2: gzip, snappy, lz4,
// zstd; compression.h) is decompressed, to at most kDecompressedRecordsBytesMax (kTooLarge
// beyond), and its records decoded from that; codecs 5-7 are refused with
// kUnsupportedCompression, transactional and control batches with kUnsupported. The records
// decoded are the same either way, and the decoded batch's attributes name no codec: a
// compressed produce is stored, and served, uncompressed.
//
// Pure and deterministic: no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/kafka/compression.h"

namespace meridian::core::kafka {

inline constexpr size_t kBatchHeaderBytes = 61;         // baseOffset .. records count.
inline constexpr size_t kBatchCrcCoveredFrom = 21;      // attributes: the CRC covers from here.
inline constexpr size_t kRecordsPerBatchMax = 1 << 16;  // = wire::kBatchRecordsMax.
inline constexpr size_t kHeadersPerRecordMax = 1024;
// What a compressed batch's records may decompress to: twice a native batch (wire::
// kBatchBytesMax; a batch whose records need more could not be produced anyway).
inline constexpr size_t kDecompressedRecordsBytesMax = 2 << 20;

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
  kUnsupportedCompression,  // Codecs 5-7: UNSUPPORTED_COMPRESSION_TYPE.
  kUnsupported,             // Transactional or control batches: INVALID_REQUEST.
  kTooLarge,                // Over Meridian's record or decompression limits: MESSAGE_TOO_LARGE.
};

struct BatchDecodeError {
  BatchError error = BatchError::kCorrupt;
  std::string reason;
};

// Decodes exactly one batch that spans all of `bytes` (a Produce request's records field, as
// librdkafka and the Java client send it).
std::optional<KafkaBatch> DecodeRecordBatch(std::span<const uint8_t> bytes,
                                            BatchDecodeError* error);
// An encoded plain batch with its records compressed by `codec` as a Kafka client sends it
// (attributes, batch length and CRC rewritten). The broker never compresses: the tests and the
// fuzz corpus build compressed batches with it.
std::vector<uint8_t> CompressRecordBatch(std::span<const uint8_t> plain, Codec codec,
                                         bool raw_snappy = false);
// Appends the encoding of `batch` (at least one record, no codec in its attributes: the records
// are written plain) to `out`, CRC and lengths included.
void EncodeRecordBatch(const KafkaBatch& batch, std::vector<uint8_t>& out);

}  // namespace meridian::core::kafka
