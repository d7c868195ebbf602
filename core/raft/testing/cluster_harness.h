// A test-only world for Raft state machines: N nodes with simulated disks (a synced prefix that
// survives crashes, an unsynced tail that does not), a network that drops, duplicates, reorders
// and partitions, and a global observer that checks the safety properties after every step
// (Raft paper Figure 3): election safety, log matching, leader completeness and state machine
// safety through the checker the simulator shares (safety_checker.h), and its own checks on
// what only this world can see: no committed entry lost, leader completeness over possible
// futures, configurations that follow the log, linearizable lease reads; plus liveness after
// healing.
//
// The harness plays the replica driver through the shared executor (ready_executor.h) and
// honours its contract: a Ready's hard state is synced before its messages go out; entries are
// written, synced later by a kSync step, and only then reported with StableTo. A kCompact step
// makes a node snapshot its applied state (§7): the snapshot's data is a hash chain of the entries
// applied through its index, and every snapshot a follower installs is checked against the hash of
// what the cluster committed (state machine safety through snapshots). Everything is deterministic
// given the schedule and the seed.
#pragma once

#include <absl/container/btree_map.h>
#include <absl/container/btree_set.h>

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/raft/raft.h"
#include "core/raft/testing/ready_executor.h"
#include "core/raft/testing/safety_checker.h"
#include "io/random.h"

namespace meridian::core::raft::testing {

enum class OpKind : uint8_t {
  kDeliver,
  kDrop,
  kDuplicate,
  kTick,
  kSync,
  kCrash,
  kRestart,
  kPartition,
  kHeal,
  kPropose,
  kLeaseRead,
  kConfChange,
  kTransfer,
  kCompact,
  kSlowLink,  // One direction of one link delays every message by `b` ticks (0: back to normal).
};
inline constexpr uint32_t kOpKinds = 15;
// The kinds the swarm mix draws (kSlowLink came later; leaving it out keeps old seeds' schedules).
inline constexpr uint32_t kSwarmOpKinds = 14;

// Fault mixes for RandomSchedule.
enum class Mix : uint8_t {
  kSwarm,        // The default: every fault, weights scaled per schedule (swarm testing).
  kLeaseAttack,  // The swarm mix plus slow links (one direction delayed up to two election
                 // timeouts: acks that arrive long after the heartbeat they answer) and more
                 // partitions, without membership changes and compaction.
};

struct Op {
  OpKind kind = OpKind::kTick;
  uint32_t a = 0;
  uint32_t b = 0;
};

struct ClusterOptions {
  uint32_t voters = 3;
  uint32_t spares = 0;  // Extra nodes outside the bootstrap configuration (for conf changes).
  uint64_t seed = 1;
  PlantedBug planted_bug = PlantedBug::kNone;
  uint32_t election_timeout_ticks = 6;
  // Bit (1 << Property) switches that checker off, so tests can show each one fires on its own.
  uint32_t disabled_checks = 0;
  // kCompact steps compact (false: they are no-ops, the schedule is otherwise the same).
  bool compaction = true;
  // RaftOptions::entry_cache_bytes_max, and how much of its log a restarting node reads back
  // with data (MemoryStorage::ForRestart). 0: every entry applied and durable is elided, so
  // sends to lagging followers and applies after restarts read the stored log.
  uint64_t entry_cache_bytes_max = kEntryCacheBytesMaxDefault;
};

class Cluster {
 public:
  explicit Cluster(const ClusterOptions& options);
  ~Cluster();

  // Runs one step of a schedule, then the safety checks. No-op after a violation.
  void Apply(const Op& op);
  // Heals every fault, restarts every node, and runs fair rounds until a new proposal commits.
  // Returns the ticks it took, or records a kLiveness violation after `ticks_max`.
  std::optional<uint32_t> Stabilize(uint32_t ticks_max);

  const std::optional<Violation>& violation() const { return violation_; }
  std::string Trace() const;
  uint32_t node_count() const { return static_cast<uint32_t>(nodes_.size()); }
  const Raft* raft(NodeId id) const;
  uint64_t committed_count() const { return checker_.committed().size(); }
  uint64_t lease_reads_served() const { return lease_reads_served_; }
  uint64_t elections() const { return checker_.leaders().size(); }

 private:
  struct Node;
  Node& node(uint32_t pick);
  Node* PickLeader(uint32_t pick);
  void Restart(Node& node);
  void Crash(Node& node);
  void Sync(Node& node);
  void Compact(Node& node);
  void Install(Node& node, const Snapshot& snapshot);
  uint64_t CommittedHash(Index through) const;
  void ProcessReadies();
  ReadyEffects Effects(Node& node);
  void Apply(Node& node, const Entry& entry);
  void Deliver(size_t pick, bool duplicate);
  void Step(Node& to, const Message& message);
  void TickAll();
  void Partition(const Op& op);
  void SlowLink(const Op& op);
  uint64_t DelayTicks(NodeId from, NodeId to) const;
  void Propose(uint32_t pick);
  void LeaseRead(uint32_t pick);
  void ConfChange(uint32_t a, uint32_t b);
  Raft* Leader();
  bool Cut(NodeId from, NodeId to) const;
  void Check();
  void CheckCommittedDurable();
  void CheckLeases();
  void CheckConfigurationFollowsLog();
  Index KnownCommitted() const;
  void CheckNoElectableNodeLacksACommittedEntry();
  void Fail(Property property, std::string detail);
  void Note(std::string event);

  ClusterOptions options_;
  io::Random random_;
  std::vector<std::unique_ptr<Node>> nodes_;
  struct Sent {
    Message message;
    uint64_t sent_ticks = 0;
  };
  std::vector<Sent> network_;
  uint64_t now_ticks_ = 0;
  absl::btree_set<std::pair<NodeId, NodeId>> cut_;
  absl::btree_map<std::pair<NodeId, NodeId>, uint64_t> delay_ticks_;  // Slow links.
  // Election safety, leader completeness, log matching, state machine safety; it also keeps
  // what any node applied and who led each term, for the harness's own checks.
  SafetyChecker checker_;
  uint32_t required_copies_ = 0;
  bool config_changed_ = false;  // Quorum arithmetic below assumes the bootstrap voters. // Min
                                 // quorum of any configuration seen.
  uint64_t proposals_ = 0;
  uint64_t lease_reads_served_ = 0;
  std::optional<Violation> violation_;
  std::deque<std::string> trace_;
};

// A random schedule with the harness's fault mix, for seed sweeps outside rapidcheck.
// `compaction` false gives kCompact weight 0 (same random draws otherwise).
std::vector<Op> RandomSchedule(io::Random& random, uint32_t length, bool compaction = true);
std::vector<Op> RandomSchedule(io::Random& random, uint32_t length, Mix mix);
const char* MixName(Mix mix);

// The command that replays sweep seed options.seed (schedule: RandomSchedule(io::Random(seed),
// steps, mix), compaction as in options) through planted_bugs_test's ReplayOneSeed.
std::string ReplayCommand(const ClusterOptions& options, uint32_t steps, Mix mix);

// Runs a schedule on a fresh cluster followed by a liveness check; returns the first violation.
inline constexpr uint32_t CheckBit(Property property) {
  return 1u << static_cast<uint32_t>(property);
}

std::optional<Violation> RunSchedule(const ClusterOptions& options, const std::vector<Op>& ops,
                                     std::string* trace);

}  // namespace meridian::core::raft::testing
