#include "core/log/tail_cache.h"

#include <algorithm>

#include "io/assert.h"

namespace meridian::core::log {

TailCache::TailCache(uint64_t bytes_max) : bytes_max_(bytes_max) {
  MERIDIAN_CHECK(bytes_max <= kBytesMaxLimit);
}

void TailCache::Append(BatchRef batch) {
  MERIDIAN_CHECK(batch.buffer != nullptr);
  if (!batches_.empty()) {
    MERIDIAN_CHECK(batch.header.base_offset == batches_.back().header.end_offset(),
                   "cache append at {} after {}", batch.header.base_offset.value(),
                   batches_.back().header.end_offset().value());
  }
  bytes_ += batch.header.length_bytes;
  batches_.push_back(std::move(batch));
  while (!batches_.empty() && (bytes_ > bytes_max_ || batches_.size() > kBatchesMax)) EvictFront();
  CheckInvariants();
}

bool TailCache::Read(Offset from, uint64_t bytes_max, ReadResult* out) const {
  if (batches_.empty() || from < first_offset() || from >= batches_.back().header.end_offset()) {
    return false;
  }
  // The last batch whose base offset is <= from.
  auto it = std::upper_bound(batches_.begin(), batches_.end(), from,
                             [](Offset o, const BatchRef& b) { return o < b.header.base_offset; });
  MERIDIAN_CHECK(it != batches_.begin());
  --it;
  MERIDIAN_CHECK(it->header.base_offset <= from);
  MERIDIAN_CHECK(from < it->header.end_offset());
  ReadResult result;
  result.from_cache = true;
  for (; it != batches_.end(); ++it) {
    if (!result.batches.empty() && result.bytes + it->header.length_bytes > bytes_max) break;
    result.batches.push_back(*it);
    result.bytes += it->header.length_bytes;
    result.next_offset = it->header.end_offset();
  }
  MERIDIAN_CHECK(!result.batches.empty());
  *out = std::move(result);
  return true;
}

void TailCache::TruncateSuffix(Offset new_end) {
  while (!batches_.empty() && batches_.back().header.end_offset() > new_end) {
    bytes_ -= batches_.back().header.length_bytes;
    batches_.pop_back();
  }
  CheckInvariants();
}

void TailCache::TruncatePrefix(Offset new_start) {
  while (!batches_.empty() && batches_.front().header.base_offset < new_start) {
    bytes_ -= batches_.front().header.length_bytes;
    batches_.pop_front();
  }
  CheckInvariants();
}

void TailCache::Clear() {
  batches_.clear();
  bytes_ = 0;
}

Offset TailCache::first_offset() const {
  MERIDIAN_CHECK(!batches_.empty());
  return batches_.front().header.base_offset;
}

void TailCache::EvictFront() {
  MERIDIAN_CHECK(!batches_.empty());
  MERIDIAN_CHECK(bytes_ >= batches_.front().header.length_bytes);
  bytes_ -= batches_.front().header.length_bytes;
  batches_.pop_front();
  evictions_++;
}

void TailCache::CheckInvariants() const {
  MERIDIAN_CHECK(bytes_ <= bytes_max_, "cache holds {} bytes, max {}", bytes_, bytes_max_);
  if (batches_.empty()) MERIDIAN_CHECK(bytes_ == 0);
  MERIDIAN_CHECK(batches_.size() <= kBatchesMax);
}

}  // namespace meridian::core::log
