// The broker workload: the real product under the simulator. Every server runs
// core::broker::Broker (the code meridian-node runs); client nodes run core::client producers
// and a consumer over the shipped FlatBuffers protocol; the nemesis attacks the servers; every
// client operation is recorded in the checks/ history format (send / poll / assign) and the run
// is judged by checks/' log checker after a final drain.
//
// Run shape: the first client node creates topic "events" (1-4 partitions, replication factor
// 3, chosen by the seed) through the admin API, retrying through the faults. Producer nodes run
// several history processes each, sharing one idempotent core::client::Producer per node (so
// batching and pipelining are real); each process sends one unique integer at a time, keyed so
// Kafka's partitioner picks the partition. One consumer process polls every partition. After
// the fault phase and the heal phase, every server restarts from its disk (the durability
// audit) and a fresh consumer drains every partition to its high watermark.
#pragma once

#include <functional>
#include <string_view>

#include "sim/simulation.h"

namespace meridian::sim {

// Fault kinds the broker workload turns on (each with probability 1/2 per seed, unless --kinds
// says otherwise): every network and process fault, clock skew, slow fsyncs, torn writes,
// region loss, full disks, disk errors (a replica fail-stops on EIO and its node restarts,
// Nemesis::SupervisorRestart) and damage at rest (bit flips, misdirected writes: a damaged
// replica is repaired from its peers), within the fault atlas's per-store damage budget.
const absl::btree_set<FaultKind>& BrokerFaultKinds();

SimulationResult RunBrokerWorkload(const SimulationOptions& options,
                                   const std::function<void(std::string_view)>& trace_sink);

}  // namespace meridian::sim
