// The on-disk format: round trips, every single-bit flip is caught, newer versions are told
// apart from damage, and recovery from arbitrary bytes keeps exactly a valid prefix.
#include "core/log/format.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <numeric>

#include "core/log/segment_scan.h"
#include "io/crc32c.h"

namespace meridian::core::log {
namespace {

BatchMeta Meta(uint32_t records) {
  return BatchMeta{.record_count = records,
                   .term = Term(3),
                   .producer_id = 77,
                   .producer_epoch = 2,
                   .base_sequence = 10,
                   .first_timestamp_ms = 1000,
                   .max_timestamp_ms = 1005};
}

std::vector<uint8_t> Payload(size_t bytes, uint8_t seed) {
  std::vector<uint8_t> payload(bytes);
  std::iota(payload.begin(), payload.end(), seed);
  return payload;
}

// A segment file with `batches` batches of `records` records each.
std::vector<uint8_t> SegmentBytes(Offset base, int batches, size_t payload_bytes) {
  std::vector<uint8_t> file = EncodeSegmentHeader(SegmentHeader{.base_offset = base});
  Offset next = base;
  for (int i = 0; i < batches; i++) {
    std::vector<uint8_t> batch = EncodeBatch(next, Meta(2), Payload(payload_bytes, uint8_t(i)));
    file.insert(file.end(), batch.begin(), batch.end());
    next = Offset(next.value() + 2);
  }
  return file;
}

TEST(Format, BatchRoundTripsEveryField) {
  const std::vector<uint8_t> payload = Payload(100, 1);
  const std::vector<uint8_t> batch = EncodeBatch(Offset(42), Meta(5), payload);
  ASSERT_EQ(batch.size(), kBatchHeaderBytes + payload.size());
  BatchHeader h;
  ASSERT_EQ(DecodeBatch(batch, &h), DecodeVerdict::kOk);
  EXPECT_EQ(h.base_offset, Offset(42));
  EXPECT_EQ(h.end_offset(), Offset(47));
  EXPECT_EQ(h.record_count, 5u);
  EXPECT_EQ(h.term, Term(3));
  EXPECT_EQ(h.producer_id, 77u);
  EXPECT_EQ(h.producer_epoch, 2u);
  EXPECT_EQ(h.base_sequence, 10u);
  EXPECT_EQ(h.first_timestamp_ms, 1000);
  EXPECT_EQ(h.max_timestamp_ms, 1005);
  EXPECT_EQ(h.length_bytes, batch.size());
  EXPECT_EQ(h.format_version, kFormatVersion);
}

// A payload given in parts encodes exactly as the joined payload (empty parts included).
TEST(Format, APayloadInPartsEncodesAsTheJoinedPayload) {
  const std::vector<uint8_t> head = {1, 2, 3};
  const std::vector<uint8_t> body = Payload(300, 7);
  std::vector<uint8_t> joined = head;
  joined.insert(joined.end(), body.begin(), body.end());
  const std::span<const uint8_t> parts[] = {head, {}, body};
  EXPECT_EQ(EncodeBatch(Offset(9), Meta(4), parts), EncodeBatch(Offset(9), Meta(4), joined));
  const std::span<const uint8_t> reversed[] = {body, head};
  EXPECT_NE(EncodeBatch(Offset(9), Meta(4), reversed), EncodeBatch(Offset(9), Meta(4), joined))
      << "the parts are joined in order";
}

TEST(Format, EverySingleBitFlipIsDetected) {
  const std::vector<uint8_t> good = EncodeBatch(Offset(7), Meta(1), Payload(40, 9));
  for (size_t bit = 0; bit < good.size() * 8; bit++) {
    std::vector<uint8_t> bad = good;
    bad[bit / 8] ^= uint8_t(1u << (bit % 8));
    BatchHeader h;
    EXPECT_NE(DecodeBatch(bad, &h), DecodeVerdict::kOk) << "bit " << bit;
  }
}

TEST(Format, SegmentHeaderRoundTripsAndRejectsDamage) {
  std::vector<uint8_t> bytes = EncodeSegmentHeader(SegmentHeader{.base_offset = Offset(1234)});
  SegmentHeader h;
  ASSERT_EQ(DecodeSegmentHeader(bytes, &h), DecodeVerdict::kOk);
  EXPECT_EQ(h.base_offset, Offset(1234));
  EXPECT_EQ(DecodeSegmentHeader(std::span(bytes).first(10), &h), DecodeVerdict::kTooShort);
  bytes[20] ^= 1;
  EXPECT_EQ(DecodeSegmentHeader(bytes, &h), DecodeVerdict::kBadCrc);
  bytes[0] = 'X';
  EXPECT_EQ(DecodeSegmentHeader(bytes, &h), DecodeVerdict::kBadMagic);
}

// A future version keeps the magic and the CRC where they are, so "newer" is recognisable, while
// a flipped version byte (CRC no longer matching) is damage.
TEST(Format, NewerVersionIsNotCorruption) {
  std::vector<uint8_t> bytes = EncodeSegmentHeader(SegmentHeader{.base_offset = Offset(0)});
  std::vector<uint8_t> flipped = bytes;
  flipped[8] = kFormatVersion + 1;
  SegmentHeader h;
  EXPECT_EQ(DecodeSegmentHeader(flipped, &h), DecodeVerdict::kBadCrc);
  const uint32_t crc = io::Crc32c(std::span(flipped).first(28));
  for (int i = 0; i < 4; i++) flipped[28 + i] = uint8_t(crc >> (8 * i));
  EXPECT_EQ(DecodeSegmentHeader(flipped, &h), DecodeVerdict::kNewerVersion);
}

TEST(Format, SegmentNamesSortAsOffsets) {
  EXPECT_EQ(SegmentFileName(Offset(42)), "00000000000000000042.seg");
  Offset parsed;
  EXPECT_TRUE(ParseSegmentFileName("00000000000000000042.seg", &parsed));
  EXPECT_EQ(parsed, Offset(42));
  EXPECT_FALSE(ParseSegmentFileName("0000000000000000042.seg", &parsed));
  EXPECT_FALSE(ParseSegmentFileName("0000000000000000004x.seg", &parsed));
  EXPECT_FALSE(ParseSegmentFileName("00000000000000000042.idx", &parsed));
  EXPECT_FALSE(ParseSegmentFileName("99999999999999999999.seg", &parsed));  // > 2^64.
}

TEST(SegmentScan, CleanSegmentIsReadWholeAndIndexed) {
  const std::vector<uint8_t> file = SegmentBytes(Offset(100), 50, 300);
  const SegmentScan scan = RecoverFromBytes(file);
  EXPECT_EQ(scan.stop, ScanStop::kCleanEnd) << scan.Describe();
  EXPECT_EQ(scan.batches, 50u);
  EXPECT_EQ(scan.end_offset, Offset(200));
  EXPECT_EQ(scan.valid_bytes, file.size());
  EXPECT_GT(scan.index.size(), 1u);
}

TEST(SegmentScan, EmptyOrShortFileIsABadHeaderThatLooksTorn) {
  const SegmentScan empty = RecoverFromBytes({});
  EXPECT_EQ(empty.stop, ScanStop::kBadSegmentHeader);
  EXPECT_TRUE(empty.looks_torn);
  EXPECT_EQ(empty.valid_bytes, 0u);
}

RC_GTEST_PROP(SegmentScan, ArbitraryBytesNeverCrashAndKeepAValidPrefix,
              (const std::vector<uint8_t>& garbage)) {
  const SegmentScan scan = RecoverFromBytes(garbage);  // Asserts its own invariants inside.
  RC_ASSERT(scan.valid_bytes <= garbage.size());
  // Garbage after a valid header must stop the scan right at the header.
  std::vector<uint8_t> file = EncodeSegmentHeader(SegmentHeader{.base_offset = Offset(5)});
  file.insert(file.end(), garbage.begin(), garbage.end());
  const SegmentScan after_header = RecoverFromBytes(file);
  RC_ASSERT(after_header.stop != ScanStop::kBadSegmentHeader);
  RC_ASSERT(after_header.valid_bytes >= kSegmentHeaderBytes);
}

// A torn write (any prefix of the file) recovers exactly the batches wholly inside the prefix.
RC_GTEST_PROP(SegmentScan, TornSegmentRecoversTheWholeBatchesBeforeTheTear, ()) {
  const int batches = *rc::gen::inRange(1, 20);
  const size_t payload = *rc::gen::inRange<size_t>(0, 500);
  const std::vector<uint8_t> file = SegmentBytes(Offset(0), batches, payload);
  const size_t keep = *rc::gen::inRange<size_t>(kSegmentHeaderBytes, file.size() + 1);
  const SegmentScan scan = RecoverFromBytes(std::span(file).first(keep));
  const size_t batch_bytes = kBatchHeaderBytes + payload;
  const size_t whole = (keep - kSegmentHeaderBytes) / batch_bytes;
  RC_ASSERT(scan.batches == whole);
  RC_ASSERT(scan.valid_bytes == kSegmentHeaderBytes + whole * batch_bytes);
  RC_ASSERT(scan.end_offset == Offset(2 * whole));
  if (keep != scan.valid_bytes) RC_ASSERT(scan.looks_torn);
}

// A bit flip anywhere stops the scan at or before the damaged batch: never past it.
RC_GTEST_PROP(SegmentScan, FlippedBitStopsTheScanAtTheDamagedBatch, ()) {
  const int batches = *rc::gen::inRange(1, 20);
  const size_t payload = *rc::gen::inRange<size_t>(0, 300);
  std::vector<uint8_t> file = SegmentBytes(Offset(0), batches, payload);
  const size_t bit = *rc::gen::inRange<size_t>(0, file.size() * 8);
  file[bit / 8] ^= uint8_t(1u << (bit % 8));
  const SegmentScan scan = RecoverFromBytes(file);
  RC_ASSERT(scan.stop != ScanStop::kCleanEnd);
  if (bit / 8 >= kSegmentHeaderBytes) {
    const size_t damaged = (bit / 8 - kSegmentHeaderBytes) / (kBatchHeaderBytes + payload);
    RC_ASSERT(scan.batches == damaged);
  }
}

}  // namespace
}  // namespace meridian::core::log
