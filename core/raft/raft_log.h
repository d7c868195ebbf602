// A node's copy of the raft log (Raft paper §5.3) with its durability and commit cursors.
//
// Holds in memory every entry after the last snapshot (§7): entries up to snapshot_index() are
// compacted away, and only their last term is kept. Cursors, always ordered:
//   snapshot_index <= applied <= commit <= last,  snapshot_index <= stable <= handed <= last
// (Raft decides how far past `stable` it may apply: only durable entries, see ApplyLimit.)
// `stable` is the durable prefix the driver reported via StableTo; `handed` is the last index
// already given to the driver to persist. Truncation of a divergent suffix never goes at or below
// `commit` (committed entries are never overwritten, §5.4) and pulls `stable` and `handed` back.
// Owned by one Raft object; not thread-safe.
#pragma once

#include <algorithm>
#include <optional>
#include <vector>

#include "core/raft/types.h"

namespace meridian::core::raft {

class RaftLog {
 public:
  // Recovers from the durable log: all of `entries` (which follow `snapshot`: index
  // snapshot.index + 1 onwards) are stable and handed; everything up to the snapshot is applied.
  RaftLog(SnapshotMeta snapshot, std::vector<Entry> entries, Index commit);

  Index snapshot_index() const { return snapshot_index_; }
  Term snapshot_term() const { return snapshot_term_; }
  Index last_index() const { return Index(snapshot_index_.value() + entries_.size()); }
  Term last_term() const { return TermAt(last_index()); }
  Index commit() const { return commit_; }
  Index stable() const { return stable_; }
  Index applied() const { return applied_; }
  Index handed() const { return handed_; }

  // Term of the entry at `index`; Term(0) for index 0. snapshot_index() <= index <= last_index().
  Term TermAt(Index index) const;
  // Whether our log holds (index, term). Entries compacted into the snapshot are committed, so
  // they match every leader's log; an index below the snapshot answers true.
  bool HasEntry(Index index, Term term) const;
  // snapshot_index() < index <= last_index().
  const Entry& At(Index index) const;
  // §5.4.1: is a log ending at (last_term, last_index) at least as up to date as ours?
  bool IsUpToDate(Term last_term, Index last_index) const;
  // The largest index <= `index` whose term is <= `term` (conflict-hint search). At or below the
  // snapshot, terms are unknown: returns min(index, snapshot_index()).
  Index LastIndexWithTermAtMost(Index index, Term term) const;

  // Leader append at last_index()+1.
  void AppendOwn(Entry entry);
  // Follower append after a successful prev match; truncates at the first conflicting entry.
  // Returns the first index that was replaced or appended, if any.
  std::optional<Index> AppendFromLeader(Index prev, const std::vector<Entry>& entries);
  // The index of the first of `entries` (which follow `prev`) that we hold with another term.
  std::optional<Index> FirstConflict(Index prev, const std::vector<Entry>& entries) const;
  // Entries from `from` (> snapshot_index()) on, clipped at last_index(), at most `count_max` of
  // them and at most `data_bytes_max` bytes of data in all, except that the first entry is always
  // included.
  std::vector<Entry> Slice(Index from, uint32_t count_max, size_t data_bytes_max) const;

  void CommitTo(Index index);
  // The driver made entries up to `index` durable; ignored if `term` no longer matches.
  bool StableTo(Index index, Term term);
  // Ready bookkeeping.
  std::vector<Entry> TakeUnhanded();
  std::vector<Entry> CommittedUnapplied(Index up_to) const;
  void AppliedTo(Index index);
  // Compaction: forgets the entries up to `snapshot.index`, which must be applied and stable.
  void CompactTo(const SnapshotMeta& snapshot);
  // Installing a leader's snapshot that reaches past our commit: the whole log is replaced by it
  // (everything after it is discarded; the leader sends what follows). Cursors move to its index.
  void RestoreTo(const SnapshotMeta& snapshot);
  void CheckInvariants() const;

 private:
  Index snapshot_index_;
  Term snapshot_term_;
  std::vector<Entry> entries_;  // entries_[i].index == snapshot_index_ + i + 1
  Index commit_;
  Index stable_;
  Index applied_;
  Index handed_;
};

// The durability rule in one place: an index of this node's log counts (as the leader's own
// match toward a quorum, in an acknowledgement, as what is applied and saved as the commit index)
// only as far as the log is durable here (`stable`, what the driver reported synced). The
// ack-before-fsync planted bug (PlantedBug::kCountOwnEntriesBeforeDurable) lifts the rule here,
// and only here.
inline Index CappedAtDurable(const RaftLog& log, Index index, PlantedBug bug) {
  if (bug == PlantedBug::kCountOwnEntriesBeforeDurable) return index;
  return std::min(index, log.stable());
}

}  // namespace meridian::core::raft
