// sim::SimRuntime: one incarnation of one simulated node, implementing io::Runtime over the World.
//
// Created by World::Start, destroyed by World::Crash. Destruction unwinds every fiber first
// (while the network endpoint and disk view they may use are still alive), then the rest.
#pragma once

#include <memory>
#include <string_view>

#include "io/runtime.h"
#include "io/scheduler.h"

namespace meridian::sim {

class World;
class SimDisk;
class SimEndpoint;

class SimRuntime final : public io::Runtime {
 public:
  SimRuntime(World& world, io::NodeId node, uint64_t incarnation, SimDisk& disk);
  ~SimRuntime() override;

  io::Instant Now() const override;
  int64_t WallClockMillis() const override;
  io::Random& random() override { return random_; }
  bool ShouldInjectFault(std::string_view site) override;
  io::Network& network() override;
  io::Disk& disk() override;
  io::Scheduler& scheduler() override { return *scheduler_; }
  io::TimerId ArmTimer(io::Instant deadline, io::FiberId fiber) override;
  void DisarmTimer(io::TimerId timer) override;

  World& world() { return world_; }
  uint64_t incarnation() const { return incarnation_; }
  SimEndpoint& endpoint() { return *endpoint_; }
  // True while the node is being torn down by a crash: streams reset instead of closing cleanly.
  bool crashing() const { return crashing_; }

 private:
  World& world_;
  const uint64_t incarnation_;
  io::Random random_;
  SimDisk& disk_;
  // Declared before the endpoint so it is destroyed after it: the destructor shuts the
  // scheduler down first, and late wakes (a listener closing) must find it alive.
  std::unique_ptr<io::Scheduler> scheduler_;
  std::unique_ptr<SimEndpoint> endpoint_;
  bool crashing_ = false;
};

}  // namespace meridian::sim
