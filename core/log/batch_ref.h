// BatchRef: a verified record batch handed to readers without copying it. It shares ownership of
// the buffer the batch lives in (a cache entry, or one disk read shared by every batch it holds).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/log/format.h"
#include "io/assert.h"

namespace meridian::core::log {

struct BatchRef {
  std::shared_ptr<const std::vector<uint8_t>> buffer;
  uint32_t position = 0;  // Where the batch starts in `buffer`.
  BatchHeader header;

  // The whole encoded batch, header first: what a fetch sends on the wire as is.
  std::span<const uint8_t> bytes() const {
    MERIDIAN_CHECK(buffer != nullptr);
    MERIDIAN_CHECK(position + uint64_t{header.length_bytes} <= buffer->size());
    return std::span<const uint8_t>(*buffer).subspan(position, header.length_bytes);
  }
  std::span<const uint8_t> payload() const { return bytes().subspan(kBatchHeaderBytes); }
};

// What one Log::Read returns: whole batches, contiguous in offsets, starting with the batch that
// holds the offset asked for.
struct ReadResult {
  std::vector<BatchRef> batches;
  Offset next_offset;  // Where the next read continues.
  uint64_t bytes = 0;  // Sum of the batches' lengths.
  bool from_cache = false;
};

}  // namespace meridian::core::log
