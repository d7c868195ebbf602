// sim::Nemesis: the fault schedule of one simulation run, generated from its seed (swarm
// testing: the seed also picks which fault kinds are on and how hard they hit), applied to a
// World, and healed at the end so liveness can be checked.
//
// A schedule is an explicit list of FaultEvents, so a failing run can be shrunk by replaying its
// seed with a subset of the list (delta debugging; see simulation.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_set.h"
#include "io/random.h"
#include "io/time.h"
#include "sim/fault_atlas.h"
#include "sim/world.h"

namespace meridian::sim {

enum class FaultKind {
  kDrop,              // Background: lose peer messages at a rate.
  kDuplicate,         // Background: deliver some peer messages twice.
  kDelaySpike,        // Background: add up to 400 ms to some messages.
  kPartition,         // Servers split in two halves, both directions blocked, for a while.
  kOneWayPartition,   // As above, one direction only.
  kRegionCut,         // One region cut off from the others, for a while.
  kClog,              // One link stalls, then delivers everything it held.
  kStreamReset,       // A live client connection is reset.
  kCrash,             // A server crashes (unsynced data lost or torn), restarts later.
  kPause,             // A server stops running for a while (GC pause, stopped VM).
  kClockSkew,         // Run-wide: nodes boot with clock offsets and drift.
  kDiskError,         // Background: EIO on some reads, writes and syncs of every server.
  kSlowFsync,         // Background: some fsyncs of every server take up to 1 s.
  kTornWrite,         // Run-wide: crashes tear unsynced writes per sector instead of dropping them.
  kBitFlip,           // A bit of synced data flips at rest on one server (atlas-checked).
  kMisdirectedWrite,  // One write of one server lands some sectors away (atlas-checked).
  kDiskFull,          // One server's disk is full for a while.
  kRegionLoss,        // Every server of a region crashes at once, back later or never.
  // Scripted only (region-loss-regional), never in a swarm: one region's servers are cut off
  // from the other regions' servers, while clients still reach every server.
  kRegionIsolation,
  // Scripted only (region-loss-regional), never in a swarm: one server is cut off from the
  // other servers of its region (a zone split inside a region); other regions' servers and the
  // clients still reach it, so a leader there keeps its observers and its producers.
  kZoneIsolation,
};
inline constexpr int kFaultKinds = 18;  // The swarm's kinds: every kind before kRegionIsolation.

const char* FaultKindName(FaultKind kind);

// The base set both workloads turn on: every network and process fault, clock skew, slow
// fsyncs, torn writes and region loss. Each adds more: the raft workload full disks
// (RaftSimFaultKinds), the broker workload full disks, disk errors and damage at rest
// (BrokerFaultKinds, drawn from streams of their own so older seeds keep their schedules).
const absl::btree_set<FaultKind>& ReplicatedLogFaultKinds();

struct FaultEvent {
  io::Duration at;  // From the start of the run.
  FaultKind kind;
  uint64_t target = 0;  // A node id, a region index, or a split seed, depending on kind.
  io::Duration length = io::Duration(0);  // How long it lasts (0: instant or until heal).
  uint32_t rate_ppm = 0;                  // For background kinds.
  std::string ToString() const;
};

// What the seed chose for this run.
struct SwarmConfig {
  absl::btree_set<FaultKind> enabled;
  io::Duration fault_phase = std::chrono::seconds(20);
  io::Duration heal_phase = std::chrono::seconds(20);
};

struct NemesisTargets {
  std::vector<io::NodeId> servers;
  std::vector<std::vector<io::NodeId>> regions;  // Servers by region.
  // Client nodes a partition may put on either side (empty: partitions split servers only and
  // clients reach every side, as the raft workload wants). A client stuck with a
  // minority side is what exposes a stale leader serving what it must not.
  std::vector<io::NodeId> clients;

  // The servers of the region a region fault (loss, cut, isolation) names by its target.
  const std::vector<io::NodeId>& RegionOf(const FaultEvent& event) const {
    return regions[event.target % regions.size()];
  }
};

// The envelope GenerateSchedule draws from, which an explicit schedule must stay inside too.
inline constexpr uint32_t kNetworkRatePpmMax = 50'000;  // drop, duplicate, delay_spike.
inline constexpr uint32_t kDiskRatePpmMax = 20'000;     // disk_error, slow_fsync.
inline constexpr io::Duration kDiscreteLengthMin = std::chrono::milliseconds(200);
inline constexpr io::Duration kDiscreteLengthMax = std::chrono::milliseconds(4000);
inline constexpr size_t kExplicitScheduleMaxEvents = 64;
inline constexpr uint32_t kRaftSlowFsyncScale = 10;  // The raft workload's slow fsyncs.

// Picks fault kinds (each on with probability 1/2 unless `only` is non-empty) and phases.
SwarmConfig ChooseSwarm(io::Random& random, const absl::btree_set<FaultKind>& only);
// Orders a schedule by time, keeping the order of events at the same instant.
void SortByTime(std::vector<FaultEvent>& schedule);
std::vector<FaultEvent> GenerateSchedule(io::Random& random, const SwarmConfig& swarm,
                                         const NemesisTargets& targets);

// FaultEvent::ToString's form, read back: "crash@1500ms(target=4,length=2s,rate_ppm=0)".
bool ParseFaultEvent(std::string_view text, FaultEvent* event);
// Events joined by ';' (meridian-sim --schedule), and read back; false on any bad event.
std::string FormatSchedule(const std::vector<FaultEvent>& schedule);
bool ParseSchedule(std::string_view text, std::vector<FaultEvent>* schedule);
// Whether an explicit schedule (written by hand, or chosen by the simulation fuzz target)
// stays inside the envelope GenerateSchedule draws from: the workload's swarm kinds only, in time
// order, discrete faults in the first 9/10 of the fault phase lasting kDiscreteLength{Min,Max},
// rates up to k{Network,Disk}RatePpmMax, at most one region loss (for good only where another
// region remains). A run that fails inside it is the system's fault, not the schedule's. "" when it
// does, else the first reason it does not.
struct ScheduleEnvelope {
  // The kinds the workload's swarm draws (BrokerFaultKinds, RaftSimFaultKinds): the raft
  // workload judges a replica's fail-stop a violation, so disk errors are not among its kinds.
  const absl::btree_set<FaultKind>* kinds = nullptr;
  io::Duration fault_phase;
  size_t regions = 0;
  // The raft workload makes slow fsyncs ten times as common (raft_cluster.cc).
  uint32_t slow_fsync_ppm_max = kDiskRatePpmMax;
};
std::string ExplicitScheduleError(const std::vector<FaultEvent>& schedule,
                                  const ScheduleEnvelope& envelope);

// Applies a schedule to a world: schedules every event, and at the end of the fault phase heals
// everything (network, disks, paused and crashed nodes, except regions lost for good).
class Nemesis {
 public:
  Nemesis(World& world, NemesisTargets targets, FaultAtlas& atlas);
  void Install(const std::vector<FaultEvent>& schedule, io::Duration heal_at);
  // Servers that are down for good (region lost, never restarted before the final audit).
  const absl::btree_set<io::NodeId>& lost_for_good() const { return lost_for_good_; }
  bool healed() const { return healed_; }
  // What a supervisor does for a node process that exited because a replica fail-stopped
  // (meridian-node's exit code 3): the node crashes now (unsynced data lost) and starts again
  // after kSupervisorRestartDelay, unless the nemesis lost it for good meanwhile. Safe to call
  // from the node's own fibers: the crash runs as a world event.
  void SupervisorRestart(io::NodeId node);
  static constexpr io::Duration kSupervisorRestartDelay = std::chrono::seconds(1);
  // The final audit restarts every server, those lost for good included (their disks are
  // still readable): from then on a supervisor restarts any node that exits, as for any other.
  void BeginAudit() { auditing_ = true; }

 private:
  void Apply(const FaultEvent& event);
  void Heal();
  void CrashFor(io::NodeId node, io::Duration length);
  void Block(const std::vector<io::NodeId>& from, const std::vector<io::NodeId>& to);

  World& world_;
  NemesisTargets targets_;
  FaultAtlas& atlas_;
  absl::btree_set<io::NodeId> lost_for_good_;
  absl::btree_set<io::NodeId> supervised_down_;  // Crashed by SupervisorRestart, not yet back.
  bool healed_ = false;
  bool auditing_ = false;
};

}  // namespace meridian::sim
