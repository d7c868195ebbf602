// Runs the same io/ test body on either backend, so one conformance suite checks both.
//
// A test gives one body per node (node 1, optionally node 2); the harness runs both to completion
// on the backend: in the simulator as two nodes of one World, in production as two PosixRuntimes
// on two threads talking over loopback TCP, each with its own temporary data directory.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "io/network.h"
#include "io/runtime.h"

namespace meridian::tests {

using NodeBody = std::function<void(io::Runtime&)>;

class BackendHarness {
 public:
  virtual ~BackendHarness() = default;
  virtual std::string name() const = 0;
  // Runs the bodies until both return. Fails the test if they do not finish in time.
  virtual void Run(NodeBody node1, NodeBody node2 = nullptr) = 0;
  // An address node `runtime` can listen on (port 0: pick one).
  virtual io::Address AnyListenAddress(io::Runtime& runtime) = 0;
  // A fixed address that node 2 may listen on and node 1 may connect to, for stream tests.
  virtual io::Address Node2ServiceAddress() = 0;
  // Whether the backend can power-cut a node (simulator only) and Crash() for it.
  virtual bool can_crash() const = 0;
  // Simulator only: crash node 1 (losing unsynced state) and run `after` on its next incarnation.
  virtual void CrashNode1Then(NodeBody after) = 0;
};

std::unique_ptr<BackendHarness> MakeSimHarness(uint64_t seed);
std::unique_ptr<BackendHarness> MakePosixHarness();

}  // namespace meridian::tests
