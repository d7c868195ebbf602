// A node's copy of the raft log (Raft paper §5.3) with its durability and commit cursors.
//
// Holds every entry in memory (no snapshots or compaction yet). Cursors, always ordered:
//   applied <= commit <= last,  stable <= handed <= last
// (Raft decides how far past `stable` it may apply: only durable entries, see ApplyLimit.)
// `stable` is the durable prefix the driver reported via StableTo; `handed` is the last index
// already given to the driver to persist. Truncation of a divergent suffix never goes at or below
// `commit` (committed entries are never overwritten, §5.4) and pulls `stable` and `handed` back.
// Owned by one Raft object; not thread-safe.
#pragma once

#include <optional>
#include <vector>

#include "core/raft/types.h"

namespace meridian::core::raft {

class RaftLog {
 public:
  // Recovers from the durable log: all of `entries` are stable and handed.
  RaftLog(std::vector<Entry> entries, Index commit);

  Index last_index() const { return Index(entries_.size()); }
  Term last_term() const { return TermAt(last_index()); }
  Index commit() const { return commit_; }
  Index stable() const { return stable_; }
  Index applied() const { return applied_; }
  Index handed() const { return handed_; }

  // Term of the entry at `index`; Term(0) for index 0. index <= last_index().
  Term TermAt(Index index) const;
  bool HasEntry(Index index, Term term) const;
  const Entry& At(Index index) const;
  // §5.4.1: is a log ending at (last_term, last_index) at least as up to date as ours?
  bool IsUpToDate(Term last_term, Index last_index) const;
  // The largest index <= `index` whose term is <= `term` (conflict-hint search).
  Index LastIndexWithTermAtMost(Index index, Term term) const;

  // Leader append at last_index()+1.
  void AppendOwn(Entry entry);
  // Follower append after a successful prev match; truncates at the first conflicting entry.
  // Returns the first index that was replaced or appended, if any.
  std::optional<Index> AppendFromLeader(Index prev, const std::vector<Entry>& entries);
  // The index of the first of `entries` (which follow `prev`) that we hold with another term.
  std::optional<Index> FirstConflict(Index prev, const std::vector<Entry>& entries) const;
  // Entries from `from` on, clipped at last_index(), at most `count_max` of them and at most
  // `data_bytes_max` bytes of data in all, except that the first entry is always included.
  std::vector<Entry> Slice(Index from, uint32_t count_max, size_t data_bytes_max) const;

  void CommitTo(Index index);
  // The driver made entries up to `index` durable; ignored if `term` no longer matches.
  bool StableTo(Index index, Term term);
  // Ready bookkeeping.
  std::vector<Entry> TakeUnhanded();
  std::vector<Entry> CommittedUnapplied(Index up_to) const;
  void AppliedTo(Index index);
  void CheckInvariants() const;

 private:
  std::vector<Entry> entries_;  // entries_[i].index == i + 1
  Index commit_;
  Index stable_;
  Index applied_;
  Index handed_;
};

}  // namespace meridian::core::raft
