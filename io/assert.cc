#include "io/assert.h"

#include <cstdio>
#include <cstdlib>

namespace meridian::io::internal {

void AssertFailed(const char* condition, const char* file, int line, const std::string& message) {
  std::fprintf(stderr, "assertion failed: %s at %s:%d%s%s\n", condition, file, line,
               message.empty() ? "" : ": ", message.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace meridian::io::internal
