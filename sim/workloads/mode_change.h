// --change_consistency (SimulationOptions::change_consistency): an operator moves the workload
// topic to another consistency mode during the fault phase (`meridian topic alter
// --consistency`; core/cluster/mode_change.h), and the run's end judges that the change
// completed with every partition placed by the new mode's rules. Every other check of the run
// (the log checker: no acknowledged record lost while partitions move) judges the moves too.
#pragma once

#include "sim/simulation.h"
#include "sim/workloads/broker_run.h"
#include "sim/workloads/spike.h"
#include "sim/world.h"

namespace meridian::sim {

// The operator, a fiber of the admin node: at run.mode_change_at asks the controller for the
// change (retrying through faults and restarts of its node), then watches the topic's metadata
// until it shows the new mode. Returns at once when the plan has no change.
void RunModeChangeOperator(io::Runtime& rt, Run& run);

// After the durability audit: waits (at most a minute of virtual time) for the change to
// complete, then checks each partition against the new mode's placement rules. Violations:
// mode-change-not-accepted, mode-change-not-completed, mode-change-misplaced.
void JudgeModeChange(World& world, const BrokerRegistry& registry, const Run& run,
                     SimulationResult& result);

}  // namespace meridian::sim
