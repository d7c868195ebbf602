// fuzz::RunOnOneSimNode: runs `body` on the fiber of one simulated node (its own sim::World,
// seed 1, so each input runs deterministically) and asserts it finished within 600 virtual
// seconds. For the targets whose subject needs a disk or a runtime (log_recovery,
// wal_recovery).
#pragma once

#include <chrono>
#include <functional>

#include "io/assert.h"
#include "io/runtime.h"
#include "sim/world.h"

namespace meridian::fuzz {

inline void RunOnOneSimNode(const std::function<void(io::Runtime&)>& body) {
  constexpr io::NodeId kNode{1};
  sim::World world(sim::WorldOptions{.seed = 1});
  bool done = false;
  world.AddNode(kNode, "disk", [&](io::Runtime& rt) {
    body(rt);
    done = true;
  });
  world.Start(kNode);
  MERIDIAN_CHECK(world.RunUntil([&] { return done; }, world.Now() + std::chrono::seconds(600)),
                 "the input did not finish in 600 virtual seconds");
}

}  // namespace meridian::fuzz
