// Log::Segment: the in-memory state of one segment file. Private to log.cc and log_recovery.cc.
//
// What stays true: the file holds the segment header and then whole batches covering
// [base_offset, end_offset) in [0, size_bytes); bytes past size_bytes are garbage to be
// overwritten or truncated. `dirty` is set by every write and cleared only when a sync starts.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/log/log.h"
#include "core/log/sparse_index.h"
#include "io/disk.h"

namespace meridian::core::log {

struct Log::Segment {
  Segment(Offset base, std::string path_in, std::unique_ptr<io::File> file_in,
          uint32_t index_interval_bytes)
      : base_offset(base),
        end_offset(base),
        path(std::move(path_in)),
        file(std::move(file_in)),
        index(index_interval_bytes) {}

  const Offset base_offset;
  Offset end_offset;
  uint64_t size_bytes = kSegmentHeaderBytes;
  int64_t max_timestamp_ms = INT64_MIN;    // Of any batch ever in it (retention by age).
  int64_t first_timestamp_ms = INT64_MAX;  // Of its first batch (time-based roll).
  const std::string path;
  std::unique_ptr<io::File> file;
  SparseIndex index;
  bool dirty = false;

  bool empty() const { return end_offset == base_offset; }
};

}  // namespace meridian::core::log
