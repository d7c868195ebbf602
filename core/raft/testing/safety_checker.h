// The one checker of Raft's safety properties (paper Figure 3) shared by both global observers:
// the property harness (cluster_harness.h: Raft objects in memory, checked after every step) and
// the simulator's (sim/raft_cluster.cc: core/replica on every simulated server, checked as each
// replica publishes a leadership or applies an entry). It sees what an observer outside the
// protocol can see — who leads which term with which log, what each node applies — and knows
// nothing of either world:
//   - election safety: at most one leader per term;
//   - leader completeness (§5.4): a new leader's log holds every entry committed in an earlier
//     term, entry for entry;
//   - log matching (§5.3): two logs holding an entry with the same index and term hold the same
//     entry and the same prefix (pairwise, for logs held now, and across time, against every
//     leader's log seen before);
//   - state machine safety: no two nodes apply different entries at one index, ever.
// Violations go to the caller's Report; each check reports at most one per call. The world
// decides what a report does (the harness keeps the first, the simulator a list). Deterministic;
// not thread-safe (one observer, one thread, as both worlds are).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/btree_map.h"
#include "core/raft/raft_log.h"
#include "core/raft/types.h"

namespace meridian::core::raft::testing {

enum class Property : uint8_t {
  kNone,
  kElectionSafety,           // At most one leader per term.
  kLogMatching,              // Same index and term => identical prefixes.
  kLeaderCompleteness,       // A new leader holds every entry committed before its election.
  kStateMachineSafety,       // No two nodes apply different entries at one index.
  kCommittedEntryLost,       // A committed entry is durable on fewer than a quorum of nodes.
  kStaleLeaseRead,           // A lease read returned an index below one already committed.
  kLeaseOutlivesPromise,     // A leader's lease is valid while a later term has had a leader.
  kConfigurationNotFromLog,  // A node's configuration is not the latest one its log holds.
  kLiveness,                 // After healing, no proposal committed within the bound.
};
const char* PropertyName(Property property);

struct Violation {
  Property property = Property::kNone;
  std::string detail;
};

// An entry some node applied, as the observer learned it.
struct CommittedEntry {
  Entry entry;
  // The entry was committed in this term or an earlier one: an upper bound the observer can
  // see, never the exact term (see SafetyChecker::OnApply).
  Term term_max;
};

class SafetyChecker {
 public:
  using Report = std::function<void(Property, std::string)>;
  explicit SafetyChecker(Report report);

  // `node` was first seen leading `term`, with `log` its log then. Election safety, leader
  // completeness against every entry committed in a term before `term`, log matching of `log`
  // against every leader's log seen before. Call once per leadership.
  void OnLeader(NodeId node, Term term, const RaftLog& log);
  // `node` applied `entry` (a committed entry). State machine safety. `node_term`, if the world
  // knows it, is the node's current term: the entry was committed in it or before (a node learns
  // a commit index from a leader of its term, or commits as leader of it). Without it the bound
  // is the newest term seen led, sound where a leader is seen before it can commit anything.
  // Either way never below entry.term.
  void OnApply(NodeId node, const Entry& entry, std::optional<Term> node_term = std::nullopt);
  // Log matching between two logs held now.
  void CheckLogMatching(NodeId a, const RaftLog& a_log, NodeId b, const RaftLog& b_log);

  // Every index some node applied, with what was applied there first.
  const absl::btree_map<Index, CommittedEntry>& committed() const { return committed_; }
  // Who led each term, as seen.
  const absl::btree_map<Term, NodeId>& leaders() const { return leaders_; }
  Term newest_led_term() const { return leaders_.empty() ? Term(0) : leaders_.rbegin()->first; }

 private:
  void CheckElectionSafety(NodeId node, Term term);
  void CheckLeaderCompleteness(NodeId node, Term term, const RaftLog& log);
  void CheckLogMatchesSeenLogs(NodeId node, const RaftLog& log);

  // What a log seen before held at one (index, term): the entry, and the term before it.
  struct SeenEntry {
    Entry entry;
    Term previous_term;
    NodeId node;
  };

  Report report_;
  absl::btree_map<Term, NodeId> leaders_;
  absl::btree_map<Index, CommittedEntry> committed_;
  absl::btree_map<std::pair<Index, Term>, SeenEntry> seen_;
};

}  // namespace meridian::core::raft::testing
