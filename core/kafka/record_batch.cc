// Kafka record batch v2 decoding and encoding (record_batch.h).
#include "core/kafka/record_batch.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/kafka/bytes.h"
#include "core/kafka/compression.h"
#include "io/assert.h"
#include "io/crc32c.h"

namespace meridian::core::kafka {
namespace {

constexpr int16_t kCompressionMask = 0x07;
constexpr int16_t kTransactionalBit = 0x10;
constexpr int16_t kControlBit = 0x20;

std::optional<std::vector<uint8_t>> Copy(const std::optional<std::span<const uint8_t>>& bytes) {
  if (!bytes.has_value()) return std::nullopt;
  return std::vector<uint8_t>(bytes->begin(), bytes->end());
}

// Timestamps and their deltas come from clients, any int64: their sums and differences wrap, as
// Kafka's Java code computes them (two's complement; signed overflow would be undefined
// behaviour here), so a batch re-encodes to the timestamps it was decoded with.
int64_t WrappingAdd(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
int64_t WrappingSubtract(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}

// One record of the batch; `expected_delta` is its index. False (and `reader` failed) if not.
bool DecodeRecord(Reader& reader, int64_t base_timestamp, int32_t expected_delta,
                  KafkaRecord& record) {
  const int32_t length = reader.VarInt();
  if (!reader.ok()) return false;
  if (length < 0 || static_cast<size_t>(length) > reader.remaining()) {
    reader.Fail(fmt::format("record length {}", length));
    return false;
  }
  Reader body(reader.Raw(static_cast<size_t>(length)));
  (void)body.Int8();  // Record attributes: unused by format v2.
  record.timestamp_ms = WrappingAdd(base_timestamp, body.VarLong());
  if (body.VarInt() != expected_delta && body.ok()) body.Fail("offset delta out of sequence");
  record.key = Copy(body.VarBytes());
  record.value = Copy(body.VarBytes());
  const int32_t headers = body.VarInt();
  if (body.ok() && (headers < 0 || static_cast<size_t>(headers) > kHeadersPerRecordMax ||
                    static_cast<size_t>(headers) > body.remaining())) {
    body.Fail(fmt::format("{} headers", headers));
  }
  for (int32_t i = 0; body.ok() && i < headers; i++) {
    std::optional<std::span<const uint8_t>> key = body.VarBytes();
    if (!key.has_value()) body.Fail("a null header key");
    KafkaHeader header;
    if (key.has_value()) header.key.assign(key->begin(), key->end());
    header.value = Copy(body.VarBytes());
    record.headers.push_back(std::move(header));
  }
  if (body.ok() && body.remaining() != 0) body.Fail("bytes after the record's headers");
  if (!body.ok()) {
    reader.Fail(fmt::format("record {}: {}", expected_delta, std::string(body.status().message())));
    return false;
  }
  return true;
}

std::optional<KafkaBatch> Refuse(BatchDecodeError* error, BatchError kind, std::string reason) {
  error->error = kind;
  error->reason = std::move(reason);
  return std::nullopt;
}

// The `count` records of `batch` from `records` (its bytes after the header), decompressed
// first if `codec` says so.
std::optional<KafkaBatch> DecodeRecords(KafkaBatch batch, Codec codec,
                                        std::span<const uint8_t> records, int64_t base_timestamp,
                                        int32_t count, BatchDecodeError* error) {
  std::vector<uint8_t> decompressed;
  if (codec != Codec::kNone) {
    absl::StatusOr<std::vector<uint8_t>> out =
        Decompress(codec, records, kDecompressedRecordsBytesMax);
    if (!out.ok()) {
      return Refuse(
          error,
          absl::IsResourceExhausted(out.status()) ? BatchError::kTooLarge : BatchError::kCorrupt,
          std::string(out.status().message()));
    }
    decompressed = std::move(*out);
    records = decompressed;
    // The batch decoded is a plain one: the same records, whatever the client's codec was.
    batch.attributes = static_cast<int16_t>(batch.attributes & ~kCompressionMask);
  }
  if (static_cast<size_t>(count) > records.size()) {
    return Refuse(error, BatchError::kCorrupt, fmt::format("{} records in fewer bytes", count));
  }
  Reader reader(records);
  batch.records.resize(static_cast<size_t>(count));
  for (int32_t i = 0; i < count; i++) {
    if (!DecodeRecord(reader, base_timestamp, i, batch.records[static_cast<size_t>(i)])) break;
  }
  if (reader.ok() && reader.remaining() != 0) reader.Fail("bytes after the last record");
  if (!reader.ok()) {
    return Refuse(error, BatchError::kCorrupt, std::string(reader.status().message()));
  }
  return batch;
}

}  // namespace

std::optional<KafkaBatch> DecodeRecordBatch(std::span<const uint8_t> bytes,
                                            BatchDecodeError* error) {
  MERIDIAN_CHECK(error != nullptr);
  if (bytes.size() < kBatchHeaderBytes) {
    return Refuse(error, BatchError::kCorrupt, fmt::format("a {} byte batch", bytes.size()));
  }
  Reader reader(bytes);
  KafkaBatch batch;
  batch.base_offset = reader.Int64();
  const int32_t batch_length = reader.Int32();
  if (batch_length < 0 || static_cast<size_t>(batch_length) != bytes.size() - 12) {
    return Refuse(error, BatchError::kCorrupt,
                  fmt::format("batch length {} in {} bytes", batch_length, bytes.size()));
  }
  batch.partition_leader_epoch = reader.Int32();
  if (const int8_t magic = reader.Int8(); magic != 2) {
    return Refuse(error, BatchError::kCorrupt, fmt::format("magic {} (only 2 is spoken)", magic));
  }
  const uint32_t crc = static_cast<uint32_t>(reader.Int32());
  if (const uint32_t actual = io::Crc32c(bytes.subspan(kBatchCrcCoveredFrom)); actual != crc) {
    return Refuse(error, BatchError::kCorrupt,
                  fmt::format("CRC32C {:08x}, the batch says {:08x}", actual, crc));
  }
  batch.attributes = reader.Int16();
  const std::optional<Codec> codec = CodecFromAttributes(batch.attributes);
  if (!codec.has_value()) {
    return Refuse(error, BatchError::kUnsupportedCompression,
                  fmt::format("compression codec {}: Kafka defines 0 (none) to 4 (zstd)",
                              batch.attributes & kCompressionMask));
  }
  if ((batch.attributes & (kTransactionalBit | kControlBit)) != 0) {
    return Refuse(error, BatchError::kUnsupported, "transactional and control batches");
  }
  const int32_t last_offset_delta = reader.Int32();
  const int64_t base_timestamp = reader.Int64();
  (void)reader.Int64();  // maxTimestamp: recomputed from the records when encoding.
  batch.producer_id = reader.Int64();
  batch.producer_epoch = reader.Int16();
  batch.base_sequence = reader.Int32();
  const int32_t count = reader.Int32();
  if (count <= 0 || static_cast<size_t>(count) > kRecordsPerBatchMax) {
    return Refuse(error, count <= 0 ? BatchError::kCorrupt : BatchError::kTooLarge,
                  fmt::format("{} records (1..{})", count, kRecordsPerBatchMax));
  }
  if (last_offset_delta != count - 1) {
    return Refuse(error, BatchError::kCorrupt,
                  fmt::format("last offset delta {} for {} records", last_offset_delta, count));
  }
  if (!reader.ok()) {
    return Refuse(error, BatchError::kCorrupt, std::string(reader.status().message()));
  }
  // The records: the rest of the batch, or what it decompresses to (a compressed batch's CRC
  // covers the compressed bytes, checked above).
  return DecodeRecords(std::move(batch), *codec, bytes.subspan(kBatchHeaderBytes), base_timestamp,
                       count, error);
}

void EncodeRecordBatch(const KafkaBatch& batch, std::vector<uint8_t>& out) {
  MERIDIAN_CHECK(!batch.records.empty());
  MERIDIAN_CHECK(batch.records.size() <= kRecordsPerBatchMax);
  MERIDIAN_CHECK((batch.attributes & kCompressionMask) == 0, "the encoder never compresses");
  const int64_t base_timestamp = batch.records.front().timestamp_ms;
  int64_t max_timestamp = base_timestamp;
  for (const KafkaRecord& record : batch.records) {
    max_timestamp = std::max(max_timestamp, record.timestamp_ms);
  }
  Writer writer;
  writer.Int64(batch.base_offset);
  writer.Int32(0);  // batchLength, patched below.
  writer.Int32(batch.partition_leader_epoch);
  writer.Int8(2);
  writer.Int32(0);  // crc, patched below.
  writer.Int16(batch.attributes);
  writer.Int32(static_cast<int32_t>(batch.records.size() - 1));
  writer.Int64(base_timestamp);
  writer.Int64(max_timestamp);
  writer.Int64(batch.producer_id);
  writer.Int16(batch.producer_epoch);
  writer.Int32(batch.base_sequence);
  writer.Int32(static_cast<int32_t>(batch.records.size()));
  MERIDIAN_CHECK(writer.size() == kBatchHeaderBytes);
  Writer record_writer;
  for (size_t i = 0; i < batch.records.size(); i++) {
    const KafkaRecord& record = batch.records[i];
    record_writer.bytes().clear();
    record_writer.Int8(0);
    record_writer.VarLong(WrappingSubtract(record.timestamp_ms, base_timestamp));
    record_writer.VarInt(static_cast<int32_t>(i));
    record_writer.VarBytes(record.key);
    record_writer.VarBytes(record.value);
    record_writer.VarInt(static_cast<int32_t>(record.headers.size()));
    for (const KafkaHeader& header : record.headers) {
      record_writer.VarBytes(std::span<const uint8_t>(
          reinterpret_cast<const uint8_t*>(header.key.data()), header.key.size()));
      record_writer.VarBytes(header.value);
    }
    writer.VarInt(static_cast<int32_t>(record_writer.size()));
    writer.Raw(record_writer.bytes());
  }
  std::vector<uint8_t>& bytes = writer.bytes();
  writer.PatchInt32(8, static_cast<int32_t>(bytes.size() - 12));
  writer.PatchInt32(17, static_cast<int32_t>(io::Crc32c(
                            std::span<const uint8_t>(bytes).subspan(kBatchCrcCoveredFrom))));
  out.insert(out.end(), bytes.begin(), bytes.end());
}

std::vector<uint8_t> CompressRecordBatch(std::span<const uint8_t> plain, Codec codec,
                                         bool raw_snappy) {
  MERIDIAN_CHECK(plain.size() >= kBatchHeaderBytes);
  MERIDIAN_CHECK((plain[22] & kCompressionMask) == 0, "the batch is compressed already");
  Writer writer;
  writer.Raw(plain.first(kBatchHeaderBytes));
  writer.Raw(Compress(codec, plain.subspan(kBatchHeaderBytes), raw_snappy));
  std::vector<uint8_t>& bytes = writer.bytes();
  bytes[22] = static_cast<uint8_t>(bytes[22] | static_cast<uint8_t>(codec));  // attributes.
  writer.PatchInt32(8, static_cast<int32_t>(bytes.size() - 12));
  writer.PatchInt32(17, static_cast<int32_t>(io::Crc32c(
                            std::span<const uint8_t>(bytes).subspan(kBatchCrcCoveredFrom))));
  return writer.Take();
}

}  // namespace meridian::core::kafka
