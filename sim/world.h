// sim::World: a whole cluster in one OS thread, driven by one event queue in virtual time.
//
// What stays true:
// - Events run in (virtual time, insertion sequence) order; nothing else decides what runs next.
// - Every random choice derives from the world's seed: the world's own Random (network latency,
//   fault decisions) and each node incarnation's Random, forked from it by (node, incarnation).
// - The trace hash folds in (time, node, event kind, random draws) of every event, so two runs
//   of one seed that diverge in anything observable end with different hashes.
// - A node's synced disk content survives Crash(); everything in memory is gone (its scheduler
//   is destroyed, unwinding every fiber).
//
// Single-threaded: call everything from the thread that owns the world, outside of fibers except
// where a method says otherwise.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/container/btree_map.h"
#include "io/node_id.h"
#include "io/random.h"
#include "io/runtime.h"
#include "io/time.h"
#include "sim/topology.h"

namespace meridian::sim {

class SimDisk;
class SimNetwork;
class SimRuntime;

struct WorldOptions {
  uint64_t seed = 1;
  // Where nodes sit and what links cost. A node added without a location goes to
  // region "local", zone "local-a".
  Topology topology;
  io::Duration fsync_latency_min = std::chrono::microseconds(50);
  io::Duration fsync_latency_max = std::chrono::milliseconds(2);
  // Per-node clocks: each incarnation gets an offset in [0, clock_offset_max] and a drift in
  // [-clock_drift_ppm_max, +clock_drift_ppm_max]. Zero means perfect clocks.
  io::Duration clock_offset_max = io::Duration(0);
  int32_t clock_drift_ppm_max = 0;
  // BUGGIFY: when on, each fault site is enabled with probability 1/4 at its first query, and an
  // enabled site fires with probability 1/4 per query.
  bool buggify = false;
};

// The body a node runs when it boots (and again after each restart).
using NodeMain = std::function<void(io::Runtime&)>;

class World {
 public:
  // A safety net against runaway runs: no run may execute more events than this.
  static constexpr uint64_t kEventsMax = uint64_t{1} << 34;
  // A livelock bound: broker runs average 1-3 thousand events per virtual second (spike-10x
  // included) and peak near 25 thousand. A run past this many within one virtual second is a
  // message storm (nodes answering each other at once, forever, with no time passing): the
  // world stops running events (see livelock()) instead of burning wall time, and the run
  // fails.
  static constexpr uint64_t kEventsPerVirtualSecondMax = uint64_t{1} << 18;
  static_assert(kEventsPerVirtualSecondMax < kEventsMax);
  // Node ids index an array (nodes_): a world has at most this many ids.
  static constexpr uint64_t kNodeIdsMax = 4096;

  explicit World(WorldOptions options);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  io::Instant Now() const { return now_; }
  io::Random& random() { return random_; }
  const WorldOptions& options() const { return options_; }
  SimNetwork& network() { return *network_; }
  Topology& topology() { return options_.topology; }

  // --- Nodes ---
  void AddNode(io::NodeId node, std::string host, NodeMain main);
  void AddNode(io::NodeId node, std::string host, Location location, NodeMain main);
  void Start(io::NodeId node);
  // Crash: memory lost, unsynced disk data lost, synced data kept.
  void Crash(io::NodeId node);
  void Restart(io::NodeId node);
  bool IsUp(io::NodeId node) const;
  // Stops `node` from running anything (timers, deliveries, fibers) until `until`, like a long
  // GC pause or a stopped VM; events for it wait and then run in order.
  void Pause(io::NodeId node, io::Instant until);
  bool IsPaused(io::NodeId node) const;
  // The node's local monotonic clock at world time `world_time` (offset and drift applied), and
  // the inverse (the first world instant at which the local clock reads at least `local`).
  io::Instant LocalTime(io::NodeId node, io::Instant world_time) const;
  io::Instant WorldTimeFor(io::NodeId node, io::Instant local) const;
  uint64_t incarnation(io::NodeId node) const;
  SimRuntime* runtime(io::NodeId node);  // nullptr while down
  SimDisk& disk(io::NodeId node);
  const std::string& host(io::NodeId node) const;
  std::vector<io::NodeId> nodes() const;

  // --- Events ---
  // Runs `action` at virtual time `at` (>= Now()). `node` is the node the event belongs to, for
  // the trace; `incarnation`, when non-zero, drops the event if that node has restarted since.
  // `kind` names the event in the trace and the trace hash; it must be a string with static
  // storage (a literal), so queuing an event allocates nothing for it.
  io::TimerId Schedule(io::Instant at, io::NodeId node, const char* kind,
                       std::function<void()> action, uint64_t incarnation = 0);
  void Cancel(io::TimerId event);

  // Runs one event. False when the queue is empty.
  bool Step();
  // Runs events until virtual time would pass `deadline` (then sets Now() to it).
  void RunUntil(io::Instant deadline);
  void RunFor(io::Duration duration) { RunUntil(now_ + duration); }
  // Runs until `done()` holds or virtual time passes `deadline`; returns done().
  bool RunUntil(const std::function<bool()>& done, io::Instant deadline);

  // --- Determinism and tracing ---
  uint64_t trace_hash() const { return trace_hash_; }
  uint64_t events_executed() const { return events_executed_; }
  // Why the world stopped running events (a livelock: kEventsPerVirtualSecondMax exceeded), or
  // empty. Once set, Step() runs nothing and RunUntil returns at once.
  const std::string& livelock() const { return livelock_; }
  // Receives one human-readable line per event ("t=... n1 deliver ..."), or nothing if unset.
  void SetTraceSink(std::function<void(std::string_view)> sink) { trace_sink_ = std::move(sink); }
  bool tracing() const { return static_cast<bool>(trace_sink_); }
  void Trace(io::NodeId node, std::string_view text);

  // BUGGIFY decision for `site` on `node` (called by SimRuntime::ShouldInjectFault).
  bool ShouldInjectFault(std::string_view site);
  const absl::btree_map<std::string, uint64_t>& faults_injected() const { return faults_injected_; }
  // Counts one fault of `kind` (for run summaries: every fault kind must be seen firing).
  void RecordFault(std::string_view kind) { faults_injected_[std::string(kind)]++; }

 private:
  struct Event {
    io::NodeId node;
    uint64_t incarnation;
    const char* kind;
    std::function<void()> action;
  };
  struct Node;
  using EventKey = std::pair<int64_t, uint64_t>;  // (virtual ns, sequence)

  Node& node_at(io::NodeId node);
  const Node& node_at(io::NodeId node) const;
  void RunRunnableFibers();
  void FoldIntoTraceHash(const EventKey& key, const Event& event);

  WorldOptions options_;
  io::Random random_;
  io::Instant now_;
  uint64_t next_sequence_ = 1;
  absl::btree_map<EventKey, Event> events_;
  // Indexed by node id (null where no node has that id), so a lookup per event is an array
  // access and iteration is in id order (a btree map here cost ~9% of a geo-3x3 run).
  std::vector<std::unique_ptr<Node>> nodes_;
  Node* FindNode(io::NodeId node) const;
  std::unique_ptr<SimNetwork> network_;
  uint64_t trace_hash_ = 0x6d6572696469616eULL;  // "meridian"
  uint64_t events_executed_ = 0;
  int64_t events_second_ = -1;  // The virtual second events_in_second_ counts.
  uint64_t events_in_second_ = 0;
  std::string livelock_;
  std::function<void(std::string_view)> trace_sink_;
  absl::btree_map<std::string, bool> buggify_sites_;
  absl::btree_map<std::string, uint64_t> faults_injected_;
};

}  // namespace meridian::sim
