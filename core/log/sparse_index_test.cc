// The sparse index against a dumb reference: Floor must return the last entry at or before an
// offset, and entries appear at least every interval of bytes.
#include "core/log/sparse_index.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace meridian::core::log {
namespace {

RC_GTEST_PROP(SparseIndex, FloorIsTheLastEntryAtOrBefore, ()) {
  const uint32_t interval = *rc::gen::inRange<uint32_t>(SparseIndex::kIntervalBytesMin, 5000);
  const auto sizes =
      *rc::gen::container<std::vector<uint32_t>>(rc::gen::inRange<uint32_t>(64, 3000));
  SparseIndex index(interval);
  uint64_t position = 32;
  uint64_t offset = 0;
  std::vector<std::pair<uint64_t, uint64_t>> batches;  // (base offset, position)
  for (uint32_t size : sizes) {
    index.OnBatch(Offset(offset), position, size);
    batches.emplace_back(offset, position);
    offset += 1 + size % 5;
    position += size;
  }
  // Entries start at the first batch and are never more than interval + one batch apart.
  if (!batches.empty()) RC_ASSERT(index.entries().front().position == 32u);
  for (size_t i = 1; i < index.entries().size(); i++) {
    RC_ASSERT(index.entries()[i].position - index.entries()[i - 1].position < interval + 3000);
  }
  for (uint64_t probe = 0; probe < offset + 3; probe++) {
    const IndexEntry* floor = index.Floor(Offset(probe));
    const IndexEntry* want = nullptr;
    for (const IndexEntry& e : index.entries()) {
      if (e.offset.value() <= probe) want = &e;
    }
    RC_ASSERT(floor == want);
  }
}

TEST(SparseIndex, TruncationDropsEntriesAtOrAfterThePosition) {
  SparseIndex index(256);
  for (uint64_t i = 0; i < 10; i++) index.OnBatch(Offset(i), 32 + i * 300, 300);
  ASSERT_EQ(index.size(), 10u);
  index.TruncateAtPosition(32 + 5 * 300);
  EXPECT_EQ(index.size(), 5u);
  EXPECT_EQ(index.Floor(Offset(9))->offset, Offset(4));
  index.OnBatch(Offset(5), 32 + 5 * 300, 10);  // Appends continue; the next batch is indexed.
  EXPECT_EQ(index.size(), 6u);
}

}  // namespace
}  // namespace meridian::core::log
