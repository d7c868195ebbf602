// io::posix::TuneAllocatorForLargeBuffers: large buffers come from the heap and freed ones stay
// with the process (io/posix/allocator.h says why). Observed in /proc/self/maps: glibc's brk heap
// is the "[heap]" mapping; a buffer glibc maps on its own lies outside it.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "io/posix/allocator.h"

namespace meridian::io::posix {
namespace {

struct Range {
  uintptr_t begin = 0;
  uintptr_t end = 0;
};

// The brk heap's current extent (empty if the process has none yet).
Range Heap() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find("[heap]") == std::string::npos) continue;
    Range range;
    range.begin = std::stoull(line.substr(0, line.find('-')), nullptr, 16);
    range.end = std::stoull(line.substr(line.find('-') + 1), nullptr, 16);
    return range;
  }
  return {};
}

bool InHeap(const void* buffer, size_t bytes) {
  const Range heap = Heap();
  const auto at = reinterpret_cast<uintptr_t>(buffer);
  return at >= heap.begin && at + bytes <= heap.end;
}

// One test per process: the settings are process-wide, and the first half needs glibc's defaults.
// (glibc adapts its defaults when a mapped buffer is freed, raising the mapping threshold to its
// size and the trim threshold to twice that: the untuned buffer is freed only at the end, so the
// second half sees the settings alone.)
TEST(TuneAllocatorForLargeBuffers, LargeBuffersComeFromTheHeapAndStayThere) {
  constexpr size_t kBytes = size_t{8} << 20;  // Within the 16 MiB a message may carry.
  void* untuned = std::malloc(kBytes);
  ASSERT_NE(untuned, nullptr);
  std::memset(untuned, 1, kBytes);
  EXPECT_FALSE(InHeap(untuned, kBytes)) << "glibc's default maps 8 MiB on its own: the test "
                                           "could not tell the settings apart";

  ASSERT_TRUE(TuneAllocatorForLargeBuffers().ok());
  void* tuned = std::malloc(kBytes);
  ASSERT_NE(tuned, nullptr);
  std::memset(tuned, 1, kBytes);
  EXPECT_TRUE(InHeap(tuned, kBytes)) << "an 8 MiB buffer comes from the heap";
  const auto at = reinterpret_cast<uintptr_t>(tuned);
  std::free(tuned);
  EXPECT_GE(Heap().end, at + kBytes) << "freeing it did not give the heap's top back";
  void* again = std::malloc(kBytes);
  EXPECT_TRUE(InHeap(again, kBytes)) << "the next buffer reuses the kept memory";
  std::free(again);
  std::free(untuned);
}

}  // namespace
}  // namespace meridian::io::posix
