// TailCache: the most recent batches of the log, in memory, bounded in bytes. Most consumers and
// every follower read the tail, so a read at or after the cache's first offset never touches the
// disk. Batches enter when they are appended (the log's own encoded buffer, no copy) and leave
// from the front when the byte budget is exceeded.
//
// What stays true: the cached batches are contiguous in offsets and end at the log's end offset;
// bytes() <= bytes_max. Single fiber use (the log's).
#pragma once

#include <cstdint>
#include <deque>

#include "core/log/batch_ref.h"

namespace meridian::core::log {

class TailCache {
 public:
  static constexpr uint64_t kBytesMaxLimit = uint64_t{1} << 32;
  static constexpr size_t kBatchesMax = size_t{1} << 20;

  explicit TailCache(uint64_t bytes_max);

  // Adds the batch that was just appended. It must follow the last cached batch.
  void Append(BatchRef batch);
  // Fills `out` with the cached batches from the one holding `from`, up to `bytes_max` (always at
  // least one batch). False, and `out` untouched, if `from` is not cached.
  bool Read(Offset from, uint64_t bytes_max, ReadResult* out) const;
  // Forgets batches at or after `new_end` / wholly before `new_start`.
  void TruncateSuffix(Offset new_end);
  void TruncatePrefix(Offset new_start);
  void Clear();

  bool empty() const { return batches_.empty(); }
  Offset first_offset() const;
  uint64_t bytes() const { return bytes_; }
  uint64_t bytes_max() const { return bytes_max_; }
  uint64_t evictions() const { return evictions_; }

 private:
  void EvictFront();
  void CheckInvariants() const;

  const uint64_t bytes_max_;
  std::deque<BatchRef> batches_;
  uint64_t bytes_ = 0;
  uint64_t evictions_ = 0;
};

}  // namespace meridian::core::log
