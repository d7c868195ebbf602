// The Kafka codec: primitive types, record batches v2 (CRC32C, varints, every bounds check),
// request decoders (round trips and every truncation refused), response layouts, translation.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <zstd.h>

#include <string>

#include "core/kafka/bytes.h"
#include "core/kafka/compression.h"
#include "core/kafka/messages.h"
#include "core/kafka/record_batch.h"
#include "core/kafka/translate.h"
#include "io/crc32c.h"

namespace meridian::core::kafka {
namespace {

std::vector<uint8_t> Bytes(std::string_view text) { return {text.begin(), text.end()}; }

KafkaBatch SampleBatch() {
  KafkaBatch batch;
  batch.base_offset = 0;
  batch.producer_id = 7;
  batch.producer_epoch = 1;
  batch.base_sequence = 42;
  for (int i = 0; i < 4; i++) {
    KafkaRecord record;
    record.timestamp_ms = 1'700'000'000'000 + i * 3;
    if (i != 1) record.key = Bytes("key-" + std::to_string(i));
    record.value = Bytes(std::string(static_cast<size_t>(i) * 100 + 1, static_cast<char>('a' + i)));
    if (i == 2) {
      record.headers.push_back({"trace", Bytes("abc")});
      record.headers.push_back({"empty", std::vector<uint8_t>{}});
    }
    batch.records.push_back(std::move(record));
  }
  return batch;
}

std::vector<uint8_t> Encode(const KafkaBatch& batch) {
  std::vector<uint8_t> out;
  EncodeRecordBatch(batch, out);
  return out;
}

// Rewrites the CRC of an encoded batch after a test edited it.
void FixCrc(std::vector<uint8_t>& bytes) {
  Writer patch;
  patch.bytes() = bytes;
  patch.PatchInt32(17, static_cast<int32_t>(io::Crc32c(
                           std::span<const uint8_t>(bytes).subspan(kBatchCrcCoveredFrom))));
  bytes = patch.Take();
}

TEST(Crc32c, KafkaUsesCastagnoliWithTheRfc3720Vectors) {
  const std::vector<uint8_t> zeros(32, 0x00), ones(32, 0xff);
  EXPECT_EQ(io::Crc32c(zeros), 0x8a9136aau);
  EXPECT_EQ(io::Crc32c(ones), 0x62a8ab43u);
  EXPECT_EQ(io::Crc32c(Bytes("123456789")), 0xe3069283u);
}

TEST(Varint, ZigZagEncodingMatchesTheProtocolGuide) {
  const std::vector<std::pair<int64_t, std::vector<uint8_t>>> cases = {
      {0, {0x00}},
      {-1, {0x01}},
      {1, {0x02}},
      {-64, {0x7f}},
      {64, {0x80, 0x01}},
      {300, {0xd8, 0x04}},
      {INT32_MIN, {0xff, 0xff, 0xff, 0xff, 0x0f}}};
  for (const auto& [value, bytes] : cases) {
    Writer writer;
    writer.VarLong(value);
    EXPECT_EQ(writer.bytes(), bytes) << value;
    Reader reader(bytes);
    EXPECT_EQ(reader.VarLong(), value);
    EXPECT_TRUE(reader.ok());
  }
  const std::vector<uint8_t> too_long = {0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
  Reader reader(too_long);
  (void)reader.VarInt();
  EXPECT_FALSE(reader.ok());
}

TEST(Reader, NeverReadsPastItsInputAndKeepsTheFirstError) {
  const std::vector<uint8_t> bytes = {0x00, 0x05, 'a', 'b'};  // A 5-byte string in 2 bytes.
  Reader reader(bytes);
  EXPECT_EQ(reader.String(), "");
  EXPECT_FALSE(reader.ok());
  const std::string first(reader.status().message());
  EXPECT_EQ(reader.Int64(), 0);
  EXPECT_EQ(std::string(reader.status().message()), first);
  const std::vector<uint8_t> negative = {0xff, 0xfe};  // String length -2.
  Reader bad(negative);
  (void)bad.String();
  EXPECT_FALSE(bad.ok());
  const std::vector<uint8_t> huge_array = {0x7f, 0xff, 0xff, 0xff, 0x00};
  Reader array(huge_array);
  EXPECT_EQ(array.ArrayCount(kArrayElementsMax), 0u);
  EXPECT_FALSE(array.ok());
}

TEST(RecordBatch, RoundTripsKeysNullKeysValuesHeadersAndTimestamps) {
  const KafkaBatch batch = SampleBatch();
  const std::vector<uint8_t> bytes = Encode(batch);
  BatchDecodeError error;
  std::optional<KafkaBatch> decoded = DecodeRecordBatch(bytes, &error);
  ASSERT_TRUE(decoded.has_value()) << error.reason;
  EXPECT_EQ(*decoded, batch);
  // The header fields a Kafka client reads.
  Reader reader(bytes);
  EXPECT_EQ(reader.Int64(), 0);
  EXPECT_EQ(reader.Int32(), static_cast<int32_t>(bytes.size() - 12));
  (void)reader.Int32();
  EXPECT_EQ(reader.Int8(), 2);
}

// Timestamps are any int64 a client sends: deltas past the int64 range wrap, as in Kafka's Java
// code, and the batch re-encodes to the same timestamps (the kafka_record_batch fuzzer found
// base INT64_MAX + delta 1 overflowing, undefined behaviour, once it could get past the CRC).
TEST(RecordBatch, TimestampsAtTheEndsOfInt64RoundTrip) {
  KafkaBatch batch = SampleBatch();
  batch.records[0].timestamp_ms = -5'000'000'000'000'000'000;
  batch.records[1].timestamp_ms = INT64_MAX;
  batch.records[2].timestamp_ms = INT64_MIN;
  const std::vector<uint8_t> bytes = Encode(batch);
  BatchDecodeError error;
  std::optional<KafkaBatch> decoded = DecodeRecordBatch(bytes, &error);
  ASSERT_TRUE(decoded.has_value()) << error.reason;
  EXPECT_EQ(*decoded, batch);
}

TEST(RecordBatch, RefusesABadCrcAndEveryTruncationAndTrailingBytes) {
  const std::vector<uint8_t> bytes = Encode(SampleBatch());
  for (size_t size = 0; size < bytes.size(); size++) {
    BatchDecodeError error;
    EXPECT_FALSE(DecodeRecordBatch(std::span(bytes).first(size), &error).has_value()) << size;
    EXPECT_EQ(error.error, BatchError::kCorrupt) << size;
  }
  std::vector<uint8_t> longer = bytes;
  longer.push_back(0);
  BatchDecodeError error;
  EXPECT_FALSE(DecodeRecordBatch(longer, &error).has_value());
  for (size_t i = kBatchCrcCoveredFrom; i < bytes.size(); i += 7) {
    std::vector<uint8_t> flipped = bytes;
    flipped[i] ^= 0x40;
    EXPECT_FALSE(DecodeRecordBatch(flipped, &error).has_value()) << i;
    EXPECT_NE(error.reason.find("CRC32C"), std::string::npos) << error.reason;
  }
}

TEST(RecordBatch, RefusesLengthsThatLieEvenWithAValidCrc) {
  const std::vector<uint8_t> good = Encode(SampleBatch());
  const auto refused = [](std::vector<uint8_t> bytes, BatchError want) {
    FixCrc(bytes);
    BatchDecodeError error;
    const bool ok = DecodeRecordBatch(bytes, &error).has_value();
    return !ok && error.error == want;
  };
  std::vector<uint8_t> bytes = good;
  bytes[60] = 5;  // records count 4 -> 5 (with lastOffsetDelta 3).
  EXPECT_TRUE(refused(bytes, BatchError::kCorrupt));
  bytes = good;
  bytes[57] = 0x7f;  // records count 0x7f000004: over the limit.
  EXPECT_TRUE(refused(bytes, BatchError::kTooLarge));
  bytes = good;
  bytes[61] = 0x7e;  // The first record's length varint: 63 bytes, not what follows.
  EXPECT_TRUE(refused(bytes, BatchError::kCorrupt));
  bytes = good;
  bytes[16] = 1;  // magic 1.
  EXPECT_TRUE(refused(bytes, BatchError::kCorrupt));
  bytes = good;
  for (uint8_t codec : {5, 6, 7}) {  // attributes: no codec Kafka defines.
    bytes[22] = codec;
    EXPECT_TRUE(refused(bytes, BatchError::kUnsupportedCompression)) << int{codec};
  }
  bytes = good;
  bytes[22] = 0x10;  // attributes: transactional.
  EXPECT_TRUE(refused(bytes, BatchError::kUnsupported));
  bytes = good;
  bytes[26] = 2;  // lastOffsetDelta 3 -> 2.
  EXPECT_TRUE(refused(bytes, BatchError::kCorrupt));
}

struct CodecCase {
  Codec codec;
  bool raw_snappy;
};
constexpr CodecCase kCodecCases[] = {{Codec::kGzip, false},
                                     {Codec::kSnappy, false},
                                     {Codec::kSnappy, true},
                                     {Codec::kLz4, false},
                                     {Codec::kZstd, false}};

TEST(RecordBatch, DecodesEveryKafkaCodecToTheSameRecords) {
  const KafkaBatch batch = SampleBatch();
  for (const CodecCase& c : kCodecCases) {
    SCOPED_TRACE(fmt::format("{}{}", CodecName(c.codec), c.raw_snappy ? " (raw)" : ""));
    const std::vector<uint8_t> bytes = CompressRecordBatch(Encode(batch), c.codec, c.raw_snappy);
    BatchDecodeError error;
    std::optional<KafkaBatch> decoded = DecodeRecordBatch(bytes, &error);
    ASSERT_TRUE(decoded.has_value()) << error.reason;
    EXPECT_EQ(decoded->records, batch.records);
    EXPECT_EQ(decoded->producer_id, batch.producer_id);
    EXPECT_EQ(decoded->base_sequence, batch.base_sequence);
    EXPECT_EQ(decoded->attributes, 0) << "decoded plain: no codec";
  }
}

TEST(RecordBatch, RefusesEveryTruncationOfCompressedRecords) {
  const std::vector<uint8_t> uncompressed = Encode(SampleBatch());
  for (const CodecCase& c : kCodecCases) {
    SCOPED_TRACE(fmt::format("{}{}", CodecName(c.codec), c.raw_snappy ? " (raw)" : ""));
    const std::vector<uint8_t> whole = CompressRecordBatch(uncompressed, c.codec, c.raw_snappy);
    for (size_t size = kBatchHeaderBytes; size < whole.size(); size++) {
      // A batch whose compressed records end early, its lengths and CRC made consistent.
      std::vector<uint8_t> bytes(whole.begin(), whole.begin() + static_cast<ptrdiff_t>(size));
      Writer patch;
      patch.bytes() = bytes;
      patch.PatchInt32(8, static_cast<int32_t>(bytes.size() - 12));
      bytes = patch.Take();
      FixCrc(bytes);
      BatchDecodeError error;
      EXPECT_FALSE(DecodeRecordBatch(bytes, &error).has_value()) << size;
      EXPECT_EQ(error.error, BatchError::kCorrupt) << size << ": " << error.reason;
    }
  }
}

// A decompression bomb stops at the cap: 64 MiB of zeros compress to little, and decoding stops
// past kDecompressedRecordsBytesMax with kTooLarge (MESSAGE_TOO_LARGE), not out of memory.
TEST(RecordBatch, ADecompressionBombStopsAtTheCap) {
  const std::vector<uint8_t> zeros(64 << 20, 0);
  std::vector<uint8_t> header = Encode(SampleBatch());
  header.resize(kBatchHeaderBytes);
  for (const CodecCase& c : kCodecCases) {
    SCOPED_TRACE(fmt::format("{}{}", CodecName(c.codec), c.raw_snappy ? " (raw)" : ""));
    std::vector<uint8_t> bomb = header;
    bomb.resize(kBatchHeaderBytes + zeros.size());  // Zero "records" after the header.
    bomb = CompressRecordBatch(bomb, c.codec, c.raw_snappy);
    EXPECT_LT(bomb.size(), 8u << 20) << "fits a Kafka request";
    BatchDecodeError error;
    EXPECT_FALSE(DecodeRecordBatch(bomb, &error).has_value());
    EXPECT_EQ(error.error, BatchError::kTooLarge) << error.reason;
  }
}

TEST(Compression, TheCapIsExactAndGarbageIsRefused) {
  const std::vector<uint8_t> data(100'000, 'x');
  for (const CodecCase& c : kCodecCases) {
    SCOPED_TRACE(fmt::format("{}{}", CodecName(c.codec), c.raw_snappy ? " (raw)" : ""));
    const std::vector<uint8_t> compressed = Compress(c.codec, data, c.raw_snappy);
    absl::StatusOr<std::vector<uint8_t>> exact = Decompress(c.codec, compressed, data.size());
    ASSERT_TRUE(exact.ok()) << exact.status();
    EXPECT_EQ(*exact, data);
    EXPECT_TRUE(
        absl::IsResourceExhausted(Decompress(c.codec, compressed, data.size() - 1).status()));
    const std::vector<uint8_t> garbage = Bytes("this is not compressed data at all, not at all");
    EXPECT_TRUE(absl::IsInvalidArgument(Decompress(c.codec, garbage, 1 << 20).status()));
    EXPECT_TRUE(absl::IsInvalidArgument(Decompress(c.codec, {}, 1 << 20).status()));
  }
}

// A zstd frame that asks for a window past kZstdWindowLogMax is refused, not allocated.
TEST(Compression, ZstdRefusesAWindowLargerThanTheCap) {
  const std::vector<uint8_t> data(1 << 20, 'z');
  ZSTD_CCtx* context = ZSTD_createCCtx();
  ASSERT_NE(context, nullptr);
  ASSERT_FALSE(
      ZSTD_isError(ZSTD_CCtx_setParameter(context, ZSTD_c_windowLog, kZstdWindowLogMax + 2)));
  std::vector<uint8_t> frame(ZSTD_compressBound(data.size()));
  ZSTD_outBuffer out{frame.data(), frame.size(), 0};
  // Streamed in two parts without a pledged size, so the header declares the whole window (given
  // everything in one call, zstd would size the window to the data).
  ZSTD_inBuffer first{data.data(), data.size() / 2, 0};
  ASSERT_FALSE(ZSTD_isError(ZSTD_compressStream2(context, &out, &first, ZSTD_e_continue)));
  ASSERT_EQ(first.pos, first.size);
  ZSTD_inBuffer in{data.data() + first.size, data.size() - first.size, 0};
  ASSERT_EQ(ZSTD_compressStream2(context, &out, &in, ZSTD_e_end), 0u);
  ZSTD_freeCCtx(context);
  frame.resize(out.pos);
  const absl::StatusOr<std::vector<uint8_t>> decoded = Decompress(Codec::kZstd, frame, 4 << 20);
  EXPECT_TRUE(absl::IsInvalidArgument(decoded.status())) << decoded.status();
}

TEST(Translate, KafkaToMeridianAndBackKeepsEveryField) {
  KafkaBatch batch = SampleBatch();
  std::string why;
  std::optional<wire::RecordBatchT> meridian = ToMeridianBatch(batch, &why);
  ASSERT_TRUE(meridian.has_value()) << why;
  EXPECT_EQ(meridian->producer_id, 7u);
  EXPECT_EQ(meridian->base_sequence, 42);
  const std::vector<uint8_t> encoded = wire::EncodeRecordBatch(*meridian);
  absl::StatusOr<const wire::RecordBatch*> verified = wire::VerifyRecordBatch(encoded);
  ASSERT_TRUE(verified.ok()) << verified.status();
  std::vector<uint8_t> kafka;
  AppendKafkaBatch(**verified, 1000, kafka);
  BatchDecodeError error;
  std::optional<KafkaBatch> back = DecodeRecordBatch(kafka, &error);
  ASSERT_TRUE(back.has_value()) << error.reason;
  batch.base_offset = 1000;
  EXPECT_EQ(*back, batch);
}

TEST(Translate, NonIdempotentBatchesAndForgedProducerIds) {
  KafkaBatch batch = SampleBatch();
  batch.producer_id = -1;
  batch.producer_epoch = -1;
  batch.base_sequence = -1;
  std::string why;
  std::optional<wire::RecordBatchT> meridian = ToMeridianBatch(batch, &why);
  ASSERT_TRUE(meridian.has_value());
  EXPECT_EQ(meridian->producer_id, 0u);
  batch.producer_id = 0;  // Never handed out by InitProducerId.
  EXPECT_FALSE(ToMeridianBatch(batch, &why).has_value());
  batch.producer_id = 5;
  batch.base_sequence = -3;
  EXPECT_FALSE(ToMeridianBatch(batch, &why).has_value());
}

TEST(Translate, ErrorCodesClientsActOn) {
  using wire::ErrorCode;
  EXPECT_EQ(KafkaErrorCode(ErrorCode::NotLeader, RequestKind::kPartition), 6);
  EXPECT_EQ(KafkaErrorCode(ErrorCode::NotLeader, RequestKind::kController), 41);
  EXPECT_EQ(KafkaErrorCode(ErrorCode::NotLeader, RequestKind::kProducerId), 15);
  EXPECT_EQ(KafkaErrorCode(ErrorCode::UnknownTopicOrPartition, RequestKind::kPartition), 3);
  EXPECT_EQ(KafkaErrorCode(ErrorCode::OutOfOrderSequence, RequestKind::kPartition), 45);
  EXPECT_EQ(KafkaErrorCode(ErrorCode::FencedProducerEpoch, RequestKind::kPartition), 47);
  EXPECT_EQ(KafkaErrorCode(ErrorCode::RecordTooLarge, RequestKind::kPartition), 10);
  EXPECT_EQ(KafkaErrorCode(ErrorCode::NotEnoughReplicas, RequestKind::kPartition), 19);
  EXPECT_EQ(KafkaErrorCode(ErrorCode::OffsetOutOfRange, RequestKind::kPartition), 1);
  EXPECT_EQ(KafkaErrorCode(ErrorCode::Unknown, RequestKind::kPartition), 7);
  EXPECT_EQ(KafkaErrorCode(ErrorCode::BadRequest, RequestKind::kPartition), 42);
  EXPECT_EQ(KafkaErrorCode(BatchError::kUnsupportedCompression), 76);
}

// A request frame: header v1 + body.
std::vector<uint8_t> Frame(ApiKey key, int16_t version, const std::vector<uint8_t>& body) {
  Writer writer;
  writer.Int16(static_cast<int16_t>(key));
  writer.Int16(version);
  writer.Int32(1234);
  writer.NullableString("test-client");
  writer.Raw(body);
  return writer.Take();
}

std::vector<uint8_t> ProduceBody(int16_t v, const std::vector<uint8_t>& records) {
  Writer writer;
  writer.NullableString(std::nullopt);
  writer.Int16(-1);
  writer.Int32(30000);
  writer.ArrayCount(1);
  writer.String("orders");
  writer.ArrayCount(1);
  writer.Int32(2);
  writer.Bytes(records);
  return writer.Take();
}

TEST(Requests, ProduceDecodesAndEveryTruncationIsRefused) {
  const std::vector<uint8_t> records = Encode(SampleBatch());
  const std::vector<uint8_t> payload = Frame(ApiKey::kProduce, 7, ProduceBody(7, records));
  absl::StatusOr<RequestFrame> frame = DecodeRequestFrame(payload);
  ASSERT_TRUE(frame.ok());
  EXPECT_EQ(frame->header.correlation_id, 1234);
  EXPECT_EQ(frame->header.client_id, "test-client");
  absl::StatusOr<ProduceRequest> request = DecodeProduceRequest(frame->body, 7);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->acks, -1);
  ASSERT_EQ(request->topics.size(), 1u);
  EXPECT_EQ(request->topics[0].name, "orders");
  EXPECT_EQ(request->topics[0].partitions[0].partition, 2);
  EXPECT_TRUE(std::ranges::equal(request->topics[0].partitions[0].records, records));
  for (size_t size = 0; size < frame->body.size(); size++) {
    EXPECT_FALSE(DecodeProduceRequest(frame->body.first(size), 7).ok()) << size;
  }
  std::vector<uint8_t> longer(frame->body.begin(), frame->body.end());
  longer.push_back(0);
  EXPECT_FALSE(DecodeProduceRequest(longer, 7).ok());
}

TEST(Requests, FetchV4AndV11) {
  for (int16_t v : {4, 11}) {
    Writer writer;
    writer.Int32(-1);
    writer.Int32(500);
    writer.Int32(1);
    writer.Int32(52428800);
    writer.Int8(0);
    if (v >= 7) {
      writer.Int32(0);
      writer.Int32(-1);
    }
    writer.ArrayCount(1);
    writer.String("orders");
    writer.ArrayCount(1);
    writer.Int32(1);
    if (v >= 9) writer.Int32(-1);
    writer.Int64(77);
    if (v >= 5) writer.Int64(-1);
    writer.Int32(1048576);
    if (v >= 7) writer.ArrayCount(0);
    if (v >= 11) writer.String("r1");
    const std::vector<uint8_t> body = writer.Take();
    absl::StatusOr<FetchRequest> request = DecodeFetchRequest(body, v);
    ASSERT_TRUE(request.ok()) << request.status();
    EXPECT_EQ(request->max_wait_ms, 500);
    EXPECT_EQ(request->topics[0].partitions[0].fetch_offset, 77);
    EXPECT_EQ(request->topics[0].partitions[0].partition_max_bytes, 1048576);
    if (v >= 11) {
      EXPECT_EQ(request->rack_id, "r1");
    }
    for (size_t size = 0; size < body.size(); size++) {
      EXPECT_FALSE(DecodeFetchRequest(std::span(body).first(size), v).ok()) << v << " " << size;
    }
  }
}

TEST(Requests, MetadataNullMeansEveryTopicAndEmptyMeansNone) {
  Writer all;
  all.Int32(-1);
  all.Bool(true);
  absl::StatusOr<MetadataRequest> every = DecodeMetadataRequest(all.bytes(), 4);
  ASSERT_TRUE(every.ok());
  EXPECT_FALSE(every->topics.has_value());
  Writer none;
  none.Int32(0);
  absl::StatusOr<MetadataRequest> empty = DecodeMetadataRequest(none.bytes(), 1);
  ASSERT_TRUE(empty.ok());
  ASSERT_TRUE(empty->topics.has_value());
  EXPECT_TRUE(empty->topics->empty());
  Writer one;
  one.Int32(1);
  one.String("orders");
  one.Bool(false);
  one.Bool(false);
  one.Bool(false);
  absl::StatusOr<MetadataRequest> named = DecodeMetadataRequest(one.bytes(), 8);
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_EQ(*named->topics, std::vector<std::string>{"orders"});
  EXPECT_FALSE(DecodeMetadataRequest(one.bytes(), 1).ok());  // v1 has no booleans: 3 extra bytes.
  absl::StatusOr<MetadataRequest> v0_all = DecodeMetadataRequest(none.bytes(), 0);
  ASSERT_TRUE(v0_all.ok());
  EXPECT_FALSE(v0_all->topics.has_value());  // v0: an empty array is every topic.
}

TEST(Requests, AdminRequestsDecode) {
  Writer create;
  create.ArrayCount(1);
  create.String("t");
  create.Int32(3);
  create.Int16(-1);
  create.ArrayCount(0);
  create.ArrayCount(1);
  create.String("retention.ms");
  create.NullableString("1000");
  create.Int32(5000);
  create.Bool(false);
  absl::StatusOr<CreateTopicsRequest> topics = DecodeCreateTopicsRequest(create.bytes(), 3);
  ASSERT_TRUE(topics.ok()) << topics.status();
  EXPECT_EQ(topics->topics[0].num_partitions, 3);
  EXPECT_EQ(topics->topics[0].configs[0].second, "1000");
  Writer remove;
  remove.ArrayCount(2);
  remove.String("a");
  remove.String("b");
  remove.Int32(100);
  absl::StatusOr<DeleteTopicsRequest> deleted = DecodeDeleteTopicsRequest(remove.bytes(), 1);
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(deleted->names, (std::vector<std::string>{"a", "b"}));
  Writer init;
  init.NullableString(std::nullopt);
  init.Int32(60000);
  absl::StatusOr<InitProducerIdRequest> pid = DecodeInitProducerIdRequest(init.bytes(), 1);
  ASSERT_TRUE(pid.ok());
  EXPECT_FALSE(pid->transactional_id.has_value());
  Writer list;
  list.Int32(-1);
  list.Int8(0);
  list.ArrayCount(1);
  list.String("t");
  list.ArrayCount(1);
  list.Int32(0);
  list.Int32(-1);
  list.Int64(-2);
  absl::StatusOr<ListOffsetsRequest> offsets = DecodeListOffsetsRequest(list.bytes(), 5);
  ASSERT_TRUE(offsets.ok()) << offsets.status();
  EXPECT_EQ(offsets->topics[0].partitions[0].timestamp, -2);
}

TEST(Requests, DescribeConfigsNullNamesMeanEveryConfigAndTruncationsAreRefused) {
  Writer describe;
  describe.ArrayCount(2);
  describe.Int8(kResourceTopic);
  describe.String("orders");
  describe.Int32(-1);  // Every config.
  describe.Int8(kResourceBroker);
  describe.String("1");
  describe.ArrayCount(1);
  describe.String("broker.rack");
  describe.Bool(false);  // v1+: include_synonyms.
  absl::StatusOr<DescribeConfigsRequest> request =
      DecodeDescribeConfigsRequest(describe.bytes(), 1);
  ASSERT_TRUE(request.ok()) << request.status();
  ASSERT_EQ(request->resources.size(), 2u);
  EXPECT_EQ(request->resources[0].type, kResourceTopic);
  EXPECT_FALSE(request->resources[0].config_names.has_value());
  EXPECT_EQ(request->resources[1].config_names, (std::vector<std::string>{"broker.rack"}));
  EXPECT_FALSE(DecodeDescribeConfigsRequest(describe.bytes(), 0).ok())
      << "v0 has no include_synonyms: a trailing byte";
  for (size_t size = 0; size < describe.size(); size++) {
    EXPECT_FALSE(
        DecodeDescribeConfigsRequest(std::span<const uint8_t>(describe.bytes()).first(size), 1)
            .ok())
        << "truncated to " << size;
  }
}

TEST(Responses, DescribeConfigsV0CarriesIsDefaultAndV1TheSource) {
  const std::vector<DescribeConfigsResult> results = {
      {.type = kResourceTopic,
       .name = "orders",
       .configs = {{.name = "retention.ms", .value = "1000", .source = kConfigSourceTopic}}}};
  for (int16_t v : {0, 1}) {
    const std::vector<uint8_t> body = EncodeDescribeConfigsResponse(results, v);
    Reader reader(body);
    EXPECT_EQ(reader.Int32(), 0);  // throttle.
    ASSERT_EQ(reader.ArrayCount(10), 1u);
    EXPECT_EQ(reader.Int16(), 0);
    EXPECT_EQ(reader.NullableString(), std::nullopt);
    EXPECT_EQ(reader.Int8(), kResourceTopic);
    EXPECT_EQ(reader.String(), "orders");
    ASSERT_EQ(reader.ArrayCount(10), 1u);
    EXPECT_EQ(reader.String(), "retention.ms");
    EXPECT_EQ(reader.NullableString(), "1000");
    EXPECT_TRUE(reader.Bool()) << "read-only";
    if (v == 0) {
      EXPECT_FALSE(reader.Bool()) << "set on the topic: not a default";
    } else {
      EXPECT_EQ(reader.Int8(), kConfigSourceTopic);
    }
    EXPECT_FALSE(reader.Bool());  // is_sensitive.
    if (v >= 1) {
      EXPECT_EQ(reader.ArrayCount(10), 0u);  // synonyms.
    }
    EXPECT_TRUE(reader.ok());
    EXPECT_EQ(reader.remaining(), 0u) << "v" << v;
  }
}

// CreatePartitions v0-1 (the same layout): a null assignment array lets the broker place the
// new partitions; any other array, even an empty one, is a manual assignment.
std::vector<uint8_t> CreatePartitionsBody() {
  Writer w;
  w.ArrayCount(3);
  w.String("orders");
  w.Int32(6);
  w.Int32(-1);  // assignments: null.
  w.String("manual");
  w.Int32(2);
  w.ArrayCount(1);
  w.ArrayCount(2);  // broker_ids of the one new partition.
  w.Int32(1);
  w.Int32(2);
  w.String("empty");
  w.Int32(2);
  w.ArrayCount(0);
  w.Int32(30000);  // timeout_ms.
  w.Bool(true);    // validate_only.
  return w.Take();
}

TEST(Requests, CreatePartitionsDecodesAssignmentsAsManualAndEveryTruncationIsRefused) {
  const std::vector<uint8_t> body = CreatePartitionsBody();
  for (int16_t v : {0, 1}) {
    absl::StatusOr<CreatePartitionsRequest> request = DecodeCreatePartitionsRequest(body, v);
    ASSERT_TRUE(request.ok()) << request.status();
    ASSERT_EQ(request->topics.size(), 3u);
    EXPECT_EQ(request->topics[0].name, "orders");
    EXPECT_EQ(request->topics[0].count, 6);
    EXPECT_FALSE(request->topics[0].has_assignments);
    EXPECT_TRUE(request->topics[1].has_assignments);
    EXPECT_TRUE(request->topics[2].has_assignments) << "an empty array is not a null one";
    EXPECT_EQ(request->timeout_ms, 30000);
    EXPECT_TRUE(request->validate_only);
  }
  for (size_t size = 0; size < body.size(); size++) {
    EXPECT_FALSE(DecodeCreatePartitionsRequest(std::span<const uint8_t>(body).first(size), 1).ok())
        << "truncated to " << size;
  }
  std::vector<uint8_t> longer = body;
  longer.push_back(0);
  EXPECT_FALSE(DecodeCreatePartitionsRequest(longer, 1).ok()) << "a byte left over";
}

TEST(Responses, CreatePartitionsCarriesEachTopicsErrorAndMessage) {
  const std::vector<TopicResult> results = {{"orders", error::kNone, std::nullopt},
                                            {"t", error::kInvalidPartitions, "must grow"}};
  for (int16_t v : {0, 1}) {
    const std::vector<uint8_t> body = EncodeCreatePartitionsResponse(results, v);
    Reader reader(body);
    EXPECT_EQ(reader.Int32(), 0);  // throttle.
    ASSERT_EQ(reader.ArrayCount(10), 2u);
    EXPECT_EQ(reader.String(), "orders");
    EXPECT_EQ(reader.Int16(), error::kNone);
    EXPECT_EQ(reader.NullableString(), std::nullopt);
    EXPECT_EQ(reader.String(), "t");
    EXPECT_EQ(reader.Int16(), error::kInvalidPartitions);
    EXPECT_EQ(reader.NullableString(), "must grow");
    EXPECT_TRUE(reader.ok());
    EXPECT_EQ(reader.remaining(), 0u) << "v" << v;
  }
}

TEST(Requests, ApiVersionsV3HeaderIsReadOnlyToItsCorrelationId) {
  Writer writer;  // Header v2 (flexible): a client id then tagged fields; body compact strings.
  writer.Int16(static_cast<int16_t>(ApiKey::kApiVersions));
  writer.Int16(3);
  writer.Int32(99);
  writer.NullableString("rdkafka");
  writer.Int8(0);
  absl::StatusOr<RequestFrame> frame = DecodeRequestFrame(writer.bytes());
  ASSERT_TRUE(frame.ok());
  EXPECT_EQ(frame->header.api_version, 3);
  EXPECT_EQ(frame->header.correlation_id, 99);
  EXPECT_FALSE(frame->header.client_id.has_value());
  EXPECT_FALSE(DecodeRequestFrame(std::span(writer.bytes()).first(7)).ok());
}

TEST(Responses, ApiVersionsFallbackIsAV0BodyWithOurRanges) {
  const std::vector<uint8_t> body = EncodeApiVersionsResponse(error::kUnsupportedVersion, 0);
  Reader reader(body);
  EXPECT_EQ(reader.Int16(), 35);
  const size_t count = reader.ArrayCount(100);
  EXPECT_EQ(count, std::size(kSupportedApis));
  for (size_t i = 0; i < count; i++) {
    const int16_t key = reader.Int16();
    const int16_t min = reader.Int16();
    const int16_t max = reader.Int16();
    EXPECT_EQ(key, static_cast<int16_t>(kSupportedApis[i].key));
    EXPECT_LE(min, max);
  }
  EXPECT_TRUE(reader.ok());
  EXPECT_EQ(reader.remaining(), 0u);  // v0: no throttle time.
}

TEST(Responses, MetadataV8Layout) {
  MetadataResponse response;
  response.brokers.push_back({1, "127.0.0.1", 9092, "eu"});
  response.controller_id = 1;
  response.topics.push_back({0, "t", {{0, 0, 1, {1, 2, 3}, {1, 2, 3}}}});
  const std::vector<uint8_t> body = EncodeMetadataResponse(response, 8);
  Reader reader(body);
  EXPECT_EQ(reader.Int32(), 0);  // throttle.
  EXPECT_EQ(reader.ArrayCount(10), 1u);
  EXPECT_EQ(reader.Int32(), 1);
  EXPECT_EQ(reader.String(), "127.0.0.1");
  EXPECT_EQ(reader.Int32(), 9092);
  EXPECT_EQ(reader.NullableString(), "eu");
  EXPECT_FALSE(reader.NullableString().has_value());  // cluster id (none set here).
  EXPECT_EQ(reader.Int32(), 1);                       // controller.
  EXPECT_EQ(reader.ArrayCount(10), 1u);
  EXPECT_EQ(reader.Int16(), 0);
  EXPECT_EQ(reader.String(), "t");
  EXPECT_FALSE(reader.Bool());
  EXPECT_EQ(reader.ArrayCount(10), 1u);
  EXPECT_EQ(reader.Int16(), 0);
  EXPECT_EQ(reader.Int32(), 0);   // partition.
  EXPECT_EQ(reader.Int32(), 1);   // leader.
  EXPECT_EQ(reader.Int32(), -1);  // leader epoch.
  EXPECT_EQ(reader.ArrayCount(10), 3u);
}

}  // namespace
}  // namespace meridian::core::kafka
