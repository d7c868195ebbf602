#include "io/assert.h"

#include <cstdio>
#include <cstdlib>

#include "io/fatal_context.h"

namespace meridian::io::internal {

void AssertFailed(const char* condition, const char* file, int line, const std::string& message) {
  std::fprintf(stderr, "assertion failed: %s at %s:%d%s%s\n", condition, file, line,
               message.empty() ? "" : ": ", message.c_str());
  std::fflush(stderr);
  WriteFatalContext();  // Which run this was (a seed's replay command), if one was named.
  std::abort();
}

}  // namespace meridian::io::internal
