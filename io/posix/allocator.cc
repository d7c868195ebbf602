#include "io/posix/allocator.h"

#include <malloc.h>

namespace meridian::io::posix {

absl::Status TuneAllocatorForLargeBuffers() {
  // mallopt returns 1 on success. Setting either threshold also turns off glibc's dynamic
  // threshold (which raises the mmap threshold to the size of a freed mapped chunk).
  if (mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMmapThresholdBytes)) != 1) {
    return absl::InternalError("mallopt(M_MMAP_THRESHOLD) refused");
  }
  if (mallopt(M_TRIM_THRESHOLD, static_cast<int>(kTrimThresholdBytes)) != 1) {
    return absl::InternalError("mallopt(M_TRIM_THRESHOLD) refused");
  }
  return absl::OkStatus();
}

}  // namespace meridian::io::posix
