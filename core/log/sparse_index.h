// The sparse offset index of one segment: every `interval_bytes` of batches, one entry mapping a
// batch's base offset to its byte position in the file. A lookup finds the last entry at or
// before an offset; the reader scans forward from there (at most about interval_bytes).
//
// Kept in memory and rebuilt by the recovery scan (FORMAT.md says why it is not persisted yet).
// What stays true: entries are strictly increasing in both offset and position.
#pragma once

#include <cstdint>
#include <vector>

#include "core/strong_id.h"
#include "io/assert.h"

namespace meridian::core::log {

struct IndexEntry {
  Offset offset;      // Base offset of the batch at `position`.
  uint32_t position;  // Byte position of that batch in the segment file.
};

class SparseIndex {
 public:
  // A segment of 1 GiB with 4 KiB intervals needs 256 Ki entries; the cap is far above that.
  static constexpr size_t kEntriesMax = size_t{1} << 22;
  static constexpr uint32_t kIntervalBytesMin = 256;

  explicit SparseIndex(uint32_t interval_bytes = 4096) : interval_bytes_(interval_bytes) {
    MERIDIAN_CHECK(interval_bytes >= kIntervalBytesMin);
  }

  // Records the batch at `position` (of `batch_bytes`) if an interval has passed since the last
  // entry. Batches must be added in file order.
  void OnBatch(Offset base_offset, uint64_t position, uint32_t batch_bytes) {
    MERIDIAN_CHECK(position <= UINT32_MAX);
    if (!entries_.empty()) {
      MERIDIAN_CHECK(base_offset > entries_.back().offset);
      MERIDIAN_CHECK(position > entries_.back().position);
    }
    if (entries_.empty() || bytes_since_entry_ >= interval_bytes_) {
      MERIDIAN_CHECK(entries_.size() < kEntriesMax, "index full");
      entries_.push_back(IndexEntry{base_offset, static_cast<uint32_t>(position)});
      bytes_since_entry_ = 0;
    }
    bytes_since_entry_ += batch_bytes;
  }

  // The last entry whose offset is <= `offset`, or nullptr if there is none.
  const IndexEntry* Floor(Offset offset) const {
    size_t low = 0, high = entries_.size();
    while (low < high) {
      const size_t mid = low + (high - low) / 2;
      if (entries_[mid].offset <= offset)
        low = mid + 1;
      else
        high = mid;
    }
    if (low == 0) return nullptr;
    MERIDIAN_CHECK(entries_[low - 1].offset <= offset);
    return &entries_[low - 1];
  }

  // Drops every entry at or after `position` (suffix truncation).
  void TruncateAtPosition(uint64_t position) {
    while (!entries_.empty() && entries_.back().position >= position) entries_.pop_back();
    bytes_since_entry_ = interval_bytes_;  // The next batch starts a fresh entry.
  }

  size_t size() const { return entries_.size(); }
  const std::vector<IndexEntry>& entries() const { return entries_; }

 private:
  uint32_t interval_bytes_;
  uint64_t bytes_since_entry_ = 0;
  std::vector<IndexEntry> entries_;
};

}  // namespace meridian::core::log
