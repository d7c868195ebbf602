#include "core/raft/testing/safety_checker.h"

#include <fmt/format.h>

#include <algorithm>

#include "io/assert.h"

namespace meridian::core::raft::testing {
namespace {

inline constexpr size_t kDataShownBytesMax = 32;  // Of an entry's data in a violation's detail.

// Whether two copies of an entry agree. An elided copy (outside its log's entry cache,
// raft_log.h) is known by its term, kind and data size only, so against it only those are
// compared; the data itself is judged where both logs still hold it, and at every apply.
bool Agree(const Entry& a, const Entry& b) {
  if (!a.elided && !b.elided) return a == b;
  const auto size = [](const Entry& e) { return e.elided ? e.elided_bytes : e.data.size(); };
  return a.index == b.index && a.term == b.term && a.kind == b.kind &&
         a.membership == b.membership && size(a) == size(b);
}

std::string Show(const Entry& entry) {
  if (entry.elided) {
    return fmt::format("{}:{} (elided, {} bytes)", entry.index.ToString(), entry.term.ToString(),
                       entry.elided_bytes);
  }
  const std::string_view data = entry.data;
  return fmt::format("{}:{} ('{}{}')", entry.index.ToString(), entry.term.ToString(),
                     data.substr(0, kDataShownBytesMax),
                     data.size() > kDataShownBytesMax ? "..." : "");
}

}  // namespace

const char* PropertyName(Property property) {
  switch (property) {
    case Property::kNone:
      return "none";
    case Property::kElectionSafety:
      return "election-safety";
    case Property::kLogMatching:
      return "log-matching";
    case Property::kLeaderCompleteness:
      return "leader-completeness";
    case Property::kStateMachineSafety:
      return "state-machine-safety";
    case Property::kCommittedEntryLost:
      return "committed-entry-lost";
    case Property::kStaleLeaseRead:
      return "stale-lease-read";
    case Property::kLeaseOutlivesPromise:
      return "lease-outlives-promise";
    case Property::kConfigurationNotFromLog:
      return "configuration-not-from-log";
    case Property::kLiveness:
      return "liveness";
  }
  return "?";
}

SafetyChecker::SafetyChecker(Report report) : report_(std::move(report)) {
  MERIDIAN_CHECK(report_ != nullptr, "a checker whose reports go nowhere checks nothing");
}

void SafetyChecker::OnLeader(NodeId node, Term term, const RaftLog& log) {
  MERIDIAN_CHECK(node != NodeId(), "node 0 never leads");
  MERIDIAN_CHECK(term > Term(0), "term 0 has no leader");
  if (log.last_index().value() > 0) MERIDIAN_CHECK(log.last_term() <= term);
  CheckElectionSafety(node, term);
  CheckLeaderCompleteness(node, term, log);
  CheckLogMatchesSeenLogs(node, log);
}

void SafetyChecker::CheckElectionSafety(NodeId node, Term term) {
  const auto [it, inserted] = leaders_.try_emplace(term, node);
  if (inserted || it->second == node) return;
  report_(Property::kElectionSafety, fmt::format("{} and {} both led {}", it->second.ToString(),
                                                 node.ToString(), term.ToString()));
}

void SafetyChecker::CheckLeaderCompleteness(NodeId node, Term term, const RaftLog& log) {
  // §5.4: "if a log entry is committed in a given term, then that entry will be present in the
  // logs of the leaders for all higher-numbered terms". An observer sees when an entry is
  // applied, not the term it was committed in, only a bound (CommittedEntry::term_max), so only
  // leaders of terms past the bound are judged. Judging every new leader was wrong in the
  // simulator: a leader's driver can publish long after it won (its fsync waiting out a full
  // disk), by when a later term's leader has committed an entry the stale one never had to hold
  // (meridian-sim --workload=raft --seed=236).
  for (const auto& [index, committed] : committed_) {
    if (committed.term_max >= term) continue;
    // Entries compacted into the snapshot were committed, so they are held (RaftLog::HasEntry).
    bool holds = log.HasEntry(index, committed.entry.term);
    if (holds && index > log.snapshot_index()) holds = Agree(log.EntryAt(index), committed.entry);
    if (holds) continue;
    const std::string held = index > log.last_index()       ? "nothing"
                             : index > log.snapshot_index() ? Show(log.EntryAt(index))
                                                            : "its snapshot";
    report_(Property::kLeaderCompleteness,
            fmt::format("{} leads {} without committed {} (holds {} there)", node.ToString(),
                        term.ToString(), Show(committed.entry), held));
    return;
  }
}

void SafetyChecker::CheckLogMatchesSeenLogs(NodeId node, const RaftLog& log) {
  // §5.3 across time: a leader creates at most one entry per index in its term, and the
  // consistency check makes whoever holds it hold the entry before it too. So every log ever
  // seen agrees, at each (index, term), on the entry and on the term before it; by induction,
  // on the whole prefix down to either log's snapshot.
  for (uint64_t i = log.snapshot_index().value() + 1; i <= log.last_index().value(); i++) {
    const Entry entry = log.EntryAt(Index(i));
    const Term previous_term = log.TermAt(Index(i - 1));
    const auto [it, inserted] = seen_.try_emplace(std::pair(entry.index, entry.term),
                                                  SeenEntry{entry, previous_term, node});
    if (inserted) continue;
    SeenEntry& seen = it->second;
    if (Agree(seen.entry, entry) && seen.previous_term == previous_term) {
      if (seen.entry.elided && !entry.elided) seen.entry = entry;  // Keep the fullest copy.
      continue;
    }
    report_(Property::kLogMatching,
            fmt::format("{} holds {} after {}, but {} held {} after {}", node.ToString(),
                        Show(entry), previous_term.ToString(), seen.node.ToString(),
                        Show(seen.entry), seen.previous_term.ToString()));
    return;
  }
}

void SafetyChecker::OnApply(NodeId node, const Entry& entry, std::optional<Term> node_term) {
  MERIDIAN_CHECK(entry.index > Index(0), "index 0 holds no entry");
  MERIDIAN_CHECK(entry.term > Term(0), "entries carry the term of the leader that made them");
  // An entry of term t is committed in t or later, so no bound is below t.
  const Term term_max = std::max(entry.term, node_term ? *node_term : newest_led_term());
  const auto [it, inserted] = committed_.try_emplace(entry.index, CommittedEntry{entry, term_max});
  if (inserted) return;
  // Every apply bounds the commit term; keep the tightest.
  it->second.term_max = std::min(it->second.term_max, term_max);
  if (it->second.entry == entry) return;
  report_(Property::kStateMachineSafety,
          fmt::format("{} applied {} but {} was applied at that index before", node.ToString(),
                      Show(entry), Show(it->second.entry)));
}

void SafetyChecker::CheckLogMatching(NodeId a, const RaftLog& a_log, NodeId b,
                                     const RaftLog& b_log) {
  // §5.3 Log Matching: if two logs contain an entry with the same index and term, the logs are
  // identical in all entries up through that index. Below either node's snapshot the entries
  // are gone from memory (they were committed).
  const uint64_t floor = std::max(a_log.snapshot_index().value(), b_log.snapshot_index().value());
  uint64_t top = std::min(a_log.last_index().value(), b_log.last_index().value());
  while (top > floor && a_log.TermAt(Index(top)) != b_log.TermAt(Index(top))) top--;
  for (uint64_t i = floor + 1; i <= top; i++) {
    if (Agree(a_log.EntryAt(Index(i)), b_log.EntryAt(Index(i)))) continue;
    report_(Property::kLogMatching, fmt::format("{} and {} agree at {} but differ at {}",
                                                a.ToString(), b.ToString(), top, i));
    return;
  }
}

}  // namespace meridian::core::raft::testing
