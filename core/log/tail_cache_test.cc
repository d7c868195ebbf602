#include "core/log/tail_cache.h"

#include <gtest/gtest.h>

namespace meridian::core::log {
namespace {

BatchRef Batch(uint64_t base, uint32_t records, size_t payload_bytes) {
  auto bytes = std::make_shared<const std::vector<uint8_t>>(EncodeBatch(
      Offset(base), BatchMeta{.record_count = records}, std::vector<uint8_t>(payload_bytes)));
  BatchHeader header;
  EXPECT_EQ(DecodeBatch(*bytes, &header), DecodeVerdict::kOk);
  return BatchRef{.buffer = bytes, .position = 0, .header = header};
}

TEST(TailCache, ServesFromTheBatchHoldingTheOffsetUpToTheByteLimit) {
  TailCache cache(10'000);
  for (uint64_t base = 0; base < 30; base += 3) cache.Append(Batch(base, 3, 36));  // 100 B each.
  ReadResult read;
  ASSERT_TRUE(cache.Read(Offset(7), 250, &read));
  ASSERT_EQ(read.batches.size(), 2u);
  EXPECT_EQ(read.batches[0].header.base_offset, Offset(6));
  EXPECT_EQ(read.next_offset, Offset(12));
  EXPECT_EQ(read.bytes, 200u);
  EXPECT_TRUE(read.from_cache);
  // A limit below one batch still returns one batch, so readers progress.
  ASSERT_TRUE(cache.Read(Offset(0), 1, &read));
  EXPECT_EQ(read.batches.size(), 1u);
  EXPECT_FALSE(cache.Read(Offset(30), 1000, &read));
}

TEST(TailCache, EvictsOldestPastItsBudget) {
  TailCache cache(350);
  for (uint64_t base = 0; base < 10; base++) cache.Append(Batch(base, 1, 36));
  EXPECT_LE(cache.bytes(), 350u);
  EXPECT_EQ(cache.first_offset(), Offset(7));
  EXPECT_EQ(cache.evictions(), 7u);
  ReadResult read;
  EXPECT_FALSE(cache.Read(Offset(6), 1000, &read));
  EXPECT_TRUE(cache.Read(Offset(7), 1000, &read));
  // A batch larger than the whole budget is not kept at all.
  cache.Append(Batch(10, 1, 1000));
  EXPECT_TRUE(cache.empty());
}

TEST(TailCache, TruncationsDropTheRightEnds) {
  TailCache cache(10'000);
  for (uint64_t base = 0; base < 10; base++) cache.Append(Batch(base, 1, 10));
  cache.TruncateSuffix(Offset(6));
  cache.TruncatePrefix(Offset(2));
  ReadResult read;
  ASSERT_TRUE(cache.Read(Offset(2), 10'000, &read));
  EXPECT_EQ(read.batches.size(), 4u);
  EXPECT_EQ(read.next_offset, Offset(6));
  cache.Append(Batch(6, 1, 10));  // Appends continue at the new end.
  EXPECT_EQ(cache.bytes(), 5u * (kBatchHeaderBytes + 10));
}

}  // namespace
}  // namespace meridian::core::log
