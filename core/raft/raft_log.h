// A node's copy of the raft log (Raft paper §5.3) with its durability and commit cursors.
//
// Knows every entry after the last snapshot (§7) by its term, kind and data size (16 bytes
// each), and every configuration entry whole; entries up to snapshot_index() are compacted
// away, and only their last term is kept. The data itself is kept only in the entry cache: a
// suffix of the log, from cache_first() to last_index(). Entries leave the cache from its front
// once they are both applied and durable here and the cache holds more than its budget (the
// driver's log has them); at a restart the driver may hand over entries already elided. An entry
// outside the cache is handed out elided (Entry::elided): Slice, CommittedUnapplied. The driver
// reads such an entry's data back from its durable log. Cursors, always ordered:
//   snapshot_index <= applied <= commit <= last,  snapshot_index <= stable <= handed <= last
// (Raft decides how far past `stable` it may apply: only durable entries, see ApplyLimit.)
// `stable` is the durable prefix the driver reported via StableTo; `handed` is the last index
// already given to the driver to persist. Truncation of a divergent suffix never goes at or below
// `commit` (committed entries are never overwritten, §5.4) and pulls `stable` and `handed` back.
// Owned by one Raft object; not thread-safe.
#pragma once

#include <algorithm>
#include <deque>
#include <optional>
#include <vector>

#include "absl/container/btree_map.h"
#include "core/raft/types.h"

namespace meridian::core::raft {

class RaftLog {
 public:
  // Recovers from the durable log: all of `entries` (which follow `snapshot`: index
  // snapshot.index + 1 onwards) are stable and handed; everything up to the snapshot is applied.
  // Elided entries (the driver left their data on disk) must all come before the others.
  RaftLog(SnapshotMeta snapshot, std::vector<Entry> entries, Index commit,
          uint64_t cache_bytes_max);

  Index snapshot_index() const { return snapshot_index_; }
  Term snapshot_term() const { return snapshot_term_; }
  Index last_index() const { return Index(snapshot_index_.value() + slots_.size()); }
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
  EntryKind KindAt(Index index) const;
  // The configuration entry at `index`, if the entry there is one (its membership is kept
  // whatever the cache holds).
  const Membership* ConfigAt(Index index) const;
  // The latest configuration entry at or below `index`, if any after the snapshot.
  std::optional<std::pair<Index, Membership>> LatestConfigAtOrBelow(Index index) const;
  // A cached entry: cache_first() <= index <= last_index().
  const Entry& At(Index index) const;
  // The entry at `index` as handed out (snapshot_index() < index <= last_index()): the cached
  // copy; a configuration entry rebuilt (it carries no data); else an elided kNormal entry.
  Entry EntryAt(Index index) const;
  // The first index whose data is in memory (last_index() + 1 if none is).
  Index cache_first() const { return Index(last_index().value() + 1 - cache_.size()); }
  uint64_t cache_bytes() const { return cache_bytes_; }
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
  // included. Entries before cache_first() come elided.
  std::vector<Entry> Slice(Index from, uint32_t count_max, size_t data_bytes_max) const;

  void CommitTo(Index index);
  // The driver made entries up to `index` durable; ignored if `term` no longer matches.
  bool StableTo(Index index, Term term);
  // Ready bookkeeping.
  std::vector<Entry> TakeUnhanded();
  // Entries applied_ + 1 .. up_to, stopping before `data_bytes_max` would be exceeded (at least
  // one entry if any); elided before cache_first().
  std::vector<Entry> CommittedUnapplied(Index up_to, size_t data_bytes_max) const;
  void AppliedTo(Index index);
  // Compaction: forgets the entries up to `snapshot.index`, which must be applied and stable.
  void CompactTo(const SnapshotMeta& snapshot);
  // Installing a leader's snapshot that reaches past our commit: the whole log is replaced by it
  // (everything after it is discarded; the leader sends what follows). Cursors move to its index.
  void RestoreTo(const SnapshotMeta& snapshot);
  void CheckInvariants() const;

 private:
  // What is known of every entry after the snapshot, cached or not.
  struct Slot {
    Term term;
    uint32_t data_bytes = 0;
    EntryKind kind = EntryKind::kNormal;
  };
  static_assert(sizeof(Slot) <= 16, "the per-entry cost of an uncached entry");

  const Slot& SlotAt(Index index) const;
  void Push(Entry entry);
  // Drops every entry after `last` (slots, cache, configurations).
  void TruncateAfter(Index last);
  // Lets go of cached data from the front while over budget, applied and durable entries only.
  void Evict();
  static uint64_t CachedBytes(const Entry& entry);

  const uint64_t cache_bytes_max_;
  Index snapshot_index_;
  Term snapshot_term_;
  std::vector<Slot> slots_;  // slots_[i] describes index snapshot_index_ + i + 1
  std::deque<Entry> cache_;  // A suffix of the log: cache_.back() is the last entry.
  uint64_t cache_bytes_ = 0;
  absl::btree_map<Index, Membership> configs_;  // Every kConfig entry after the snapshot.
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
