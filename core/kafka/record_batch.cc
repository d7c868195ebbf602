// Kafka record batch v2 decoding and encoding (record_batch.h).
#include "core/kafka/record_batch.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/kafka/bytes.h"
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
  record.timestamp_ms = base_timestamp + body.VarLong();
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
  if ((batch.attributes & kCompressionMask) != 0) {
    return Refuse(error, BatchError::kUnsupportedCompression,
                  fmt::format("compression codec {}: Meridian accepts uncompressed batches only",
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
  if (static_cast<size_t>(count) > reader.remaining()) {
    return Refuse(error, BatchError::kCorrupt, fmt::format("{} records in fewer bytes", count));
  }
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

void EncodeRecordBatch(const KafkaBatch& batch, std::vector<uint8_t>& out) {
  MERIDIAN_CHECK(!batch.records.empty());
  MERIDIAN_CHECK(batch.records.size() <= kRecordsPerBatchMax);
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
    record_writer.VarLong(record.timestamp_ms - base_timestamp);
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

}  // namespace meridian::core::kafka
