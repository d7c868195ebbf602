// Allocator settings for processes that move large messages (meridian-node, meridian-bench).
//
// glibc serves an allocation of 128 KiB or more with a fresh mmap and returns it with munmap on
// free, and it gives freed memory at the top of the heap back to the kernel once 128 KiB pile
// up. A node allocates and frees buffers of that size on every replication round (a peer
// frame, a produce batch, an encoded log batch: 64 KiB to 16 MiB), so each round paid page
// faults on every page of its new buffers and an munmap after; in a virtual machine a page
// fault is expensive. meridian-bench, 1 KiB records with 256 in flight, measured the three
// nodes' CPU per record at 24-29 us without these settings and 14-17 us with them, and its own
// client's records/s at 22-27k without and 49-61k with (docs/benchmarks.md, "The run of
// 2026-12-04").
//
// TuneAllocatorForLargeBuffers keeps allocations up to kMmapThresholdBytes in the heap and
// lets up to kTrimThresholdBytes of freed heap stay with the process, to be reused: a node's
// resident memory stays near its high-water mark instead of shrinking after each burst. It
// changes the whole process's malloc, so it is for programs' main(), never for a library.
#pragma once

#include <cstddef>

#include "absl/status/status.h"

namespace meridian::io::posix {

inline constexpr size_t kMmapThresholdBytes = size_t{32} << 20;  // glibc's largest allowed.
inline constexpr size_t kTrimThresholdBytes = size_t{128} << 20;

// Internal if glibc refuses a setting.
absl::Status TuneAllocatorForLargeBuffers();

}  // namespace meridian::io::posix
