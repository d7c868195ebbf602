// Picks a free TCP port on 127.0.0.1 for tools and tests that start servers (the demo, the
// conformance harness): binds port 0, reads the port the kernel chose, and closes. Another
// process could take it before it is used; tools retry or fail loudly, they never guess.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"

namespace meridian::io::posix {

absl::StatusOr<uint16_t> PickFreeLoopbackPort();

}  // namespace meridian::io::posix
