#include "core/raft/raft_log.h"

#include <algorithm>

#include "io/assert.h"

namespace meridian::core::raft {

RaftLog::RaftLog(SnapshotMeta snapshot, std::vector<Entry> entries, Index commit)
    : snapshot_index_(snapshot.index), snapshot_term_(snapshot.term), entries_(std::move(entries)) {
  if (snapshot_index_.value() == 0) MERIDIAN_CHECK(snapshot_term_.value() == 0);
  for (size_t i = 0; i < entries_.size(); i++) {
    MERIDIAN_CHECK(entries_[i].index.value() == snapshot_index_.value() + i + 1,
                   "durable log must be contiguous after the snapshot");
    const Term previous = i > 0 ? entries_[i - 1].term : snapshot_term_;
    MERIDIAN_CHECK(previous <= entries_[i].term, "terms never decrease");
  }
  MERIDIAN_CHECK(commit <= last_index(), "hard state commit beyond the durable log");
  commit_ = std::max(commit, snapshot_index_);
  stable_ = last_index();
  handed_ = last_index();
  // Entries after the snapshot may have been applied before the restart; the driver's state
  // machine is rebuilt from the snapshot by re-applying them, so applied starts at the snapshot.
  applied_ = snapshot_index_;
  CheckInvariants();
}

Term RaftLog::TermAt(Index index) const {
  MERIDIAN_CHECK(index >= snapshot_index_, "term of {} compacted into snapshot {}",
                 index.ToString(), snapshot_index_.ToString());
  MERIDIAN_CHECK(index <= last_index(), "term of {} beyond last {}", index.ToString(),
                 last_index().ToString());
  if (index == snapshot_index_) return snapshot_term_;
  return entries_[index.value() - snapshot_index_.value() - 1].term;
}

bool RaftLog::HasEntry(Index index, Term term) const {
  if (index > last_index()) return false;
  if (index < snapshot_index_) return true;  // Committed, so in every leader's log (§5.4).
  return TermAt(index) == term;
}

const Entry& RaftLog::At(Index index) const {
  MERIDIAN_CHECK(index > snapshot_index_, "entry {} compacted into snapshot {}", index.ToString(),
                 snapshot_index_.ToString());
  MERIDIAN_CHECK(index <= last_index());
  return entries_[index.value() - snapshot_index_.value() - 1];
}

bool RaftLog::IsUpToDate(Term term, Index index) const {
  if (term != last_term()) return term > last_term();
  return index >= last_index();
}

Index RaftLog::LastIndexWithTermAtMost(Index index, Term term) const {
  index = std::min(index, last_index());
  while (index > snapshot_index_ && TermAt(index) > term) index = Index(index.value() - 1);
  return index;
}

void RaftLog::AppendOwn(Entry entry) {
  MERIDIAN_CHECK(entry.index == last_index().next(), "leader appends at the end");
  MERIDIAN_CHECK(entry.term >= last_term());
  entries_.push_back(std::move(entry));
}

std::optional<Index> RaftLog::AppendFromLeader(Index prev, const std::vector<Entry>& entries) {
  MERIDIAN_CHECK(prev <= last_index(), "caller checks the prev match first");
  std::optional<Index> first_changed;
  for (size_t i = 0; i < entries.size(); i++) {
    const Entry& entry = entries[i];
    MERIDIAN_CHECK(entry.index.value() == prev.value() + i + 1, "appends are contiguous");
    if (HasEntry(entry.index, entry.term)) continue;  // Already have it (log matching, §5.3).
    if (entry.index <= last_index()) {
      // §5.3: "If an existing entry conflicts with a new one (same index but different terms),
      // delete the existing entry and all that follow it."
      MERIDIAN_CHECK(entry.index > commit_, "truncating committed entry {}",
                     entry.index.ToString());
      MERIDIAN_CHECK(entry.index > snapshot_index_);
      entries_.resize(entry.index.value() - snapshot_index_.value() - 1);
      stable_ = std::min(stable_, last_index());
      handed_ = std::min(handed_, last_index());
    }
    if (!first_changed) first_changed = entry.index;
    entries_.push_back(entry);
  }
  return first_changed;
}

std::optional<Index> RaftLog::FirstConflict(Index prev, const std::vector<Entry>& entries) const {
  for (size_t i = 0; i < entries.size(); i++) {
    MERIDIAN_CHECK(entries[i].index.value() == prev.value() + i + 1, "caller validated entries");
    if (entries[i].index > last_index()) return std::nullopt;
    if (TermAt(entries[i].index) != entries[i].term) return entries[i].index;
  }
  return std::nullopt;
}

std::vector<Entry> RaftLog::Slice(Index from, uint32_t count_max, size_t data_bytes_max) const {
  MERIDIAN_CHECK(from > snapshot_index_, "slice from {} inside snapshot {}", from.ToString(),
                 snapshot_index_.ToString());
  MERIDIAN_CHECK(count_max <= kBatchEntriesMax);
  MERIDIAN_CHECK(count_max >= 1);
  std::vector<Entry> out;
  size_t data_bytes = 0;
  for (uint64_t i = from.value(); i <= last_index().value() && out.size() < count_max; i++) {
    const Entry& entry = At(Index(i));
    if (!out.empty() && data_bytes + entry.data.size() > data_bytes_max) break;
    data_bytes += entry.data.size();
    out.push_back(entry);
  }
  if (out.size() > 1) MERIDIAN_CHECK(data_bytes <= data_bytes_max);
  return out;
}

void RaftLog::CommitTo(Index index) {
  if (index <= commit_) return;  // Commit never decreases.
  MERIDIAN_CHECK(index <= last_index(), "commit beyond the log");
  commit_ = index;
}

bool RaftLog::StableTo(Index index, Term term) {
  // A report about entries that were since truncated and replaced is stale; ignore it.
  if (!HasEntry(index, term)) return false;
  if (index > handed_) return false;  // Replaced and re-appended but not yet handed out again.
  if (index <= stable_) return false;
  stable_ = index;
  return true;
}

std::vector<Entry> RaftLog::TakeUnhanded() {
  MERIDIAN_CHECK(handed_ >= snapshot_index_);
  std::vector<Entry> out(
      entries_.begin() + static_cast<ptrdiff_t>(handed_.value() - snapshot_index_.value()),
      entries_.end());
  handed_ = last_index();
  return out;
}

std::vector<Entry> RaftLog::CommittedUnapplied(Index up_to) const {
  MERIDIAN_CHECK(up_to <= commit_);
  MERIDIAN_CHECK(up_to <= last_index());
  std::vector<Entry> out;
  for (uint64_t i = applied_.value() + 1; i <= up_to.value(); i++) out.push_back(At(Index(i)));
  return out;
}

void RaftLog::AppliedTo(Index index) {
  MERIDIAN_CHECK(index >= applied_, "applied never decreases");
  MERIDIAN_CHECK(index <= commit_);
  applied_ = index;
}

void RaftLog::CompactTo(const SnapshotMeta& snapshot) {
  MERIDIAN_CHECK(snapshot.index > snapshot_index_, "compaction to {} does not advance {}",
                 snapshot.index.ToString(), snapshot_index_.ToString());
  MERIDIAN_CHECK(snapshot.index <= applied_, "compacting unapplied entries");
  MERIDIAN_CHECK(snapshot.index <= stable_, "compacting entries not durable here");
  MERIDIAN_CHECK(snapshot.term == TermAt(snapshot.index), "snapshot term mismatch");
  entries_.erase(
      entries_.begin(),
      entries_.begin() + static_cast<ptrdiff_t>(snapshot.index.value() - snapshot_index_.value()));
  snapshot_index_ = snapshot.index;
  snapshot_term_ = snapshot.term;
  CheckInvariants();
}

void RaftLog::RestoreTo(const SnapshotMeta& snapshot) {
  MERIDIAN_CHECK(snapshot.index > commit_, "a snapshot at or below commit is not installed");
  MERIDIAN_CHECK(snapshot.index > snapshot_index_);
  entries_.clear();
  snapshot_index_ = snapshot.index;
  snapshot_term_ = snapshot.term;
  commit_ = snapshot.index;
  applied_ = snapshot.index;
  // The driver stores the snapshot before anything of the same Ready leaves the node (Ready
  // step 0), so it counts as durable from the moment it is handed out.
  stable_ = snapshot.index;
  handed_ = snapshot.index;
  CheckInvariants();
}

void RaftLog::CheckInvariants() const {
  MERIDIAN_CHECK(snapshot_index_ <= applied_, "applied {} below snapshot {}", applied_.ToString(),
                 snapshot_index_.ToString());
  MERIDIAN_CHECK(snapshot_index_ <= stable_);
  MERIDIAN_CHECK(applied_ <= commit_);
  MERIDIAN_CHECK(commit_ <= last_index());
  MERIDIAN_CHECK(stable_ <= last_index());
  MERIDIAN_CHECK(stable_ <= handed_, "durable entries were handed out first");
  MERIDIAN_CHECK(handed_ <= last_index());
}

}  // namespace meridian::core::raft
