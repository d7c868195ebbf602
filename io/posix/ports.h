// Picks a free TCP port on 127.0.0.1 for tools and tests that start servers (the demo, the
// conformance harness): binds it, and closes. The port is then unused until the caller's
// server binds it, so another process could take it first; tools retry or fail loudly, they
// never guess. Two things keep that window harmless in practice:
//  - ports come from below the kernel's ephemeral range (net.ipv4.ip_local_port_range), so
//    no outgoing connection's local port, from this process or any other, can land on one;
//  - a process is never handed the same port twice. Binding port 0 and closing does not
//    reserve anything: the kernel may return the same port to the next bind(0), and a
//    9-node demo with 36 ports once gave two nodes the same Kafka port (CI, 2026-12-03).
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"

namespace meridian::io::posix {

absl::StatusOr<uint16_t> PickFreeLoopbackPort();

}  // namespace meridian::io::posix
