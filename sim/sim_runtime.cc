#include "sim/sim_runtime.h"

#include "io/assert.h"
#include "sim/sim_disk.h"
#include "sim/sim_network.h"
#include "sim/world.h"

namespace meridian::sim {

SimRuntime::SimRuntime(World& world, io::NodeId node, uint64_t incarnation, SimDisk& disk)
    : io::Runtime(node),
      world_(world),
      incarnation_(incarnation),
      random_(world.random().Fork(io::Mix64(node.value()) ^ incarnation)),
      disk_(disk),
      scheduler_(std::make_unique<io::Scheduler>()),
      endpoint_(std::make_unique<SimEndpoint>(world, *this)) {
  MERIDIAN_CHECK(incarnation > 0);
  disk_.Attach(this);
}

SimRuntime::~SimRuntime() {
  crashing_ = true;
  scheduler_->Shutdown();  // Unwind fibers while everything they may touch still exists.
  endpoint_.reset();
  disk_.Detach(this);
}

io::Instant SimRuntime::Now() const { return world_.LocalTime(node(), world_.Now()); }

int64_t SimRuntime::WallClockMillis() const {
  constexpr int64_t kEpochMillis = 1'790'000'000'000;  // 2026-09-21, a fixed calendar start.
  return kEpochMillis + Now().nanos() / 1'000'000;
}

bool SimRuntime::ShouldInjectFault(std::string_view site) { return world_.ShouldInjectFault(site); }

io::Network& SimRuntime::network() { return *endpoint_; }

io::Disk& SimRuntime::disk() { return disk_; }

io::TimerId SimRuntime::ArmTimer(io::Instant deadline, io::FiberId fiber) {
  // The deadline is on this node's clock; the event queue runs on world time.
  const io::Instant at = std::max(world_.Now(), world_.WorldTimeFor(node(), deadline));
  return world_.Schedule(
      at, node(), "timer", [this, fiber] { scheduler_->Wake(fiber); }, incarnation_);
}

void SimRuntime::DisarmTimer(io::TimerId timer) { world_.Cancel(timer); }

}  // namespace meridian::sim
