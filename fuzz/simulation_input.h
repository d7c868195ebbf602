// The simulation fuzz target's input: bytes that choose a whole simulated run — the workload and
// its topology, the seed, the fault phase, and the exact fault schedule (sim::SimulationOptions::
// schedule) — decoded so that every byte string is a run inside the envelope the simulator's own
// schedule generator draws from (sim/nemesis.h ExplicitScheduleError). A run that then fails is
// the system's fault, never the input's.
//
// Layout (reads past the end give zeros, as everywhere in fuzz/):
//   byte 0        workload: even → broker, odd → raft
//   broker: byte 1  scenario: single-region-3, geo-3x3, geo-5x1 (b % 3)
//           byte 2  partitions 1 + b % 4
//           byte 3  producer clients 1 + b % 4
//           byte 4  bits 0-1 consistency (1 strong, 2 regional, else the scenario's default),
//                   bit 2 node-wide storage (else per partition), bit 3 buggify,
//                   bit 4 near reads, bits 5-6 consumer group members (0-3)
//   raft:   byte 1  replicas 1 + b % 5
//           byte 2  bit 0 leadership transfers, bit 1 slow acks, bit 2 membership changes,
//                   bit 3 damage at rest (with 3 replicas or more), bit 4 lease rivals
//           bytes 3-4 unused
//   bytes 5-12    seed (what the schedule leaves to chance: latencies, the workload's choices)
//   byte 13       fault phase, 4 + b % 17 virtual seconds (the heal phase is always 20 s)
//   then up to kExplicitScheduleMaxEvents events of 11 bytes each:
//     kind byte (one of the 18 swarm kinds, b % 18; skipped unless the workload's swarm draws it:
//     the raft workload has no disk errors, bit flips or misdirected writes, and judges a
//     fail-stop a violation), at U16, target U32, length U16, rate U16.
//     Run-wide kinds start at 0. Background kinds start at at/65535 of the fault phase with rate
//     1 + rate % (the kind's maximum). Discrete kinds start at at/65535 of the first 9/10 of the
//     fault phase and last 200 ms + length/65535 of 3.8 s; a region loss whose length is a
//     multiple of 4 is for good (where another region remains); region losses after the first
//     are skipped. Events are then ordered by time (stable).
// An explicit consistency mode is dropped when a region is lost for good: a strong or regional
// topic cannot be placed once its regions are gone, and the run would fail for that.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "fuzz/input_reader.h"
#include "sim/nemesis.h"
#include "sim/raft_cluster.h"
#include "sim/simulation.h"
#include "sim/workloads/broker.h"

namespace meridian::fuzz {

inline constexpr size_t kSimulationHeaderBytes = 14;
inline constexpr size_t kSimulationEventBytes = 11;
inline constexpr const char* kSimulationScenarios[] = {"single-region-3", "geo-3x3", "geo-5x1"};
inline constexpr io::Duration kSimulationHealPhase = std::chrono::seconds(20);

namespace simulation_input_internal {

inline size_t Regions(const sim::SimulationOptions& options) {
  if (options.workload == "raft") return std::min<size_t>(options.raft_replicas, 3);
  if (options.scenario == "single-region-3") return 1;
  return options.scenario == "geo-3x3" ? 3 : 5;
}

inline void DecodeBroker(InputReader& in, sim::SimulationOptions* options) {
  options->workload = "broker";
  options->scenario = kSimulationScenarios[in.Byte() % 3];
  options->partitions = 1 + in.Byte() % 4;
  options->clients = 1 + in.Byte() % 4;
  const uint8_t bits = in.Byte();
  const uint8_t consistency = bits & 3;
  if (consistency == 1 && options->scenario != "single-region-3") options->consistency = "strong";
  if (consistency == 2) options->consistency = "regional";
  options->storage = (bits & 4) != 0 ? sim::SimulationOptions::Storage::kNodeWide
                                     : sim::SimulationOptions::Storage::kPerPartition;
  options->buggify = (bits & 8) != 0 ? sim::SimulationOptions::Buggify::kOn
                                     : sim::SimulationOptions::Buggify::kOff;
  options->near_reads = (bits & 16) != 0;
  options->group_members = (bits >> 5) & 3;
}

inline void DecodeRaft(InputReader& in, sim::SimulationOptions* options) {
  options->workload = "raft";
  options->raft_replicas = 1 + in.Byte() % 5;
  const uint8_t bits = in.Byte();
  options->raft_transfers = (bits & 1) != 0;
  options->raft_slow_acks = (bits & 2) != 0;
  options->raft_membership = (bits & 4) != 0;
  options->raft_lease_rivals = (bits & 16) != 0;
  // Damage at rest needs peers to repair from: a single replica's flipped bit is data lost by
  // design (sim/README.md "Damage at rest in the raft runner" sweeps 3 and 5 replicas).
  options->raft_damage_at_rest =
      (bits & 8) != 0 && options->raft_replicas >= sim::kDamageAtRestReplicasMin;
  in.Byte();
  in.Byte();
}

// `fraction` of 65535 of `span`.
inline io::Duration Scaled(io::Duration span, uint16_t fraction) {
  return io::Duration(span.count() / 65535 * fraction);
}

// One event from its 11 bytes; false when it is skipped: a kind the workload's swarm never
// draws, or a region loss after the first.
inline bool DecodeEvent(InputReader& in, const sim::SimulationOptions& options, bool* region_lost,
                        sim::FaultEvent* event) {
  using sim::FaultKind;
  event->kind = static_cast<FaultKind>(in.Byte() % sim::kFaultKinds);
  const uint16_t at = in.U16();
  event->target = in.U32();
  const uint16_t length = in.U16();
  const uint16_t rate = in.U16();
  const FaultKind kind = event->kind;
  const bool raft = options.workload == "raft";
  if (!(raft ? sim::RaftSimFaultKinds() : sim::BrokerFaultKinds()).contains(kind)) return false;
  if (kind == FaultKind::kClockSkew || kind == FaultKind::kTornWrite) {
    *event = {io::Duration(0), kind};
    return true;
  }
  if (kind == FaultKind::kDrop || kind == FaultKind::kDuplicate || kind == FaultKind::kDelaySpike ||
      kind == FaultKind::kDiskError || kind == FaultKind::kSlowFsync) {
    const bool disk = kind == FaultKind::kDiskError || kind == FaultKind::kSlowFsync;
    const uint32_t max = kind == FaultKind::kSlowFsync && raft
                             ? sim::kDiskRatePpmMax * sim::kRaftSlowFsyncScale
                         : disk ? sim::kDiskRatePpmMax
                                : sim::kNetworkRatePpmMax;
    event->at = Scaled(options.fault_phase, at);
    event->length = options.fault_phase;
    event->rate_ppm = 1 + rate % max;
    return true;
  }
  event->at = Scaled(options.fault_phase * 9 / 10, at);
  event->length =
      sim::kDiscreteLengthMin + Scaled(sim::kDiscreteLengthMax - sim::kDiscreteLengthMin, length);
  if (kind != FaultKind::kRegionLoss) return true;
  if (*region_lost) return false;
  *region_lost = true;
  if (length % 4 == 0 && Regions(options) > 1) event->length = io::Duration(0);
  return true;
}

}  // namespace simulation_input_internal

inline sim::SimulationOptions DecodeSimulationInput(std::span<const uint8_t> bytes) {
  namespace internal = simulation_input_internal;
  InputReader in(bytes);
  sim::SimulationOptions options;
  if (in.Byte() % 2 == 0) {
    internal::DecodeBroker(in, &options);
  } else {
    internal::DecodeRaft(in, &options);
  }
  options.seed = in.U32();
  options.seed |= uint64_t{in.U32()} << 32;
  options.fault_phase = std::chrono::seconds(4 + in.Byte() % 17);
  options.heal_phase = kSimulationHealPhase;
  std::vector<sim::FaultEvent> schedule;
  bool region_lost = false;
  while (!in.empty() && schedule.size() < sim::kExplicitScheduleMaxEvents) {
    sim::FaultEvent event;
    if (internal::DecodeEvent(in, options, &region_lost, &event)) schedule.push_back(event);
  }
  sim::SortByTime(schedule);
  for (const sim::FaultEvent& event : schedule) {
    if (event.kind == sim::FaultKind::kRegionLoss && event.length.count() == 0) {
      options.consistency.clear();
    }
  }
  options.schedule = std::move(schedule);
  return options;
}

}  // namespace meridian::fuzz
