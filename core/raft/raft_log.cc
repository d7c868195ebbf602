#include "core/raft/raft_log.h"

#include <algorithm>

#include "io/assert.h"
#include "io/probe.h"

namespace meridian::core::raft {

RaftLog::RaftLog(SnapshotMeta snapshot, std::vector<Entry> entries, Index commit,
                 uint64_t cache_bytes_max)
    : cache_bytes_max_(cache_bytes_max),
      snapshot_index_(snapshot.index),
      snapshot_term_(snapshot.term) {
  if (snapshot_index_.value() == 0) MERIDIAN_CHECK(snapshot_term_.value() == 0);
  // Entries up to the last elided one stay out of the cache (configurations come whole there).
  size_t uncached = 0;
  for (size_t i = 0; i < entries.size(); i++) {
    if (entries[i].elided) uncached = i + 1;
  }
  slots_.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); i++) {
    Entry& entry = entries[i];
    MERIDIAN_CHECK(entry.index.value() == snapshot_index_.value() + i + 1,
                   "durable log must be contiguous after the snapshot");
    const Term previous = i > 0 ? entries[i - 1].term : snapshot_term_;
    MERIDIAN_CHECK(previous <= entry.term, "terms never decrease");
    if (i >= uncached) {
      Push(std::move(entry));
      continue;
    }
    MERIDIAN_CHECK(entry.elided == (entry.kind == EntryKind::kNormal),
                   "normal entries before the last elided one are elided too, configurations not");
    MERIDIAN_CHECK(entry.data.empty());
    if (entry.kind == EntryKind::kConfig) configs_[entry.index] = entry.membership;
    slots_.push_back(Slot{entry.term, entry.elided_bytes, entry.kind});
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

const RaftLog::Slot& RaftLog::SlotAt(Index index) const {
  MERIDIAN_CHECK(index > snapshot_index_, "entry {} compacted into snapshot {}", index.ToString(),
                 snapshot_index_.ToString());
  MERIDIAN_CHECK(index <= last_index(), "entry {} beyond last {}", index.ToString(),
                 last_index().ToString());
  return slots_[index.value() - snapshot_index_.value() - 1];
}

Term RaftLog::TermAt(Index index) const {
  MERIDIAN_CHECK(index >= snapshot_index_, "term of {} compacted into snapshot {}",
                 index.ToString(), snapshot_index_.ToString());
  if (index == snapshot_index_) return snapshot_term_;
  return SlotAt(index).term;
}

bool RaftLog::HasEntry(Index index, Term term) const {
  if (index > last_index()) return false;
  if (index < snapshot_index_) return true;  // Committed, so in every leader's log (§5.4).
  return TermAt(index) == term;
}

EntryKind RaftLog::KindAt(Index index) const { return SlotAt(index).kind; }

const Membership* RaftLog::ConfigAt(Index index) const {
  auto it = configs_.find(index);
  return it == configs_.end() ? nullptr : &it->second;
}

std::optional<std::pair<Index, Membership>> RaftLog::LatestConfigAtOrBelow(Index index) const {
  auto it = configs_.upper_bound(index);
  if (it == configs_.begin()) return std::nullopt;
  --it;
  return std::make_pair(it->first, it->second);
}

const Entry& RaftLog::At(Index index) const {
  MERIDIAN_CHECK(index >= cache_first(), "entry {} is not cached (cache starts at {})",
                 index.ToString(), cache_first().ToString());
  MERIDIAN_CHECK(index <= last_index());
  const Entry& entry = cache_[index.value() - cache_first().value()];
  MERIDIAN_CHECK(entry.index == index);
  return entry;
}

Entry RaftLog::EntryAt(Index index) const {
  if (index >= cache_first()) return At(index);
  const Slot& slot = SlotAt(index);
  Entry entry{.term = slot.term, .index = index, .kind = slot.kind};
  if (slot.kind == EntryKind::kConfig) {
    const Membership* membership = ConfigAt(index);
    MERIDIAN_CHECK(membership != nullptr, "config entry {} without its membership",
                   index.ToString());
    entry.membership = *membership;
    return entry;  // Configuration entries carry no data (message_check.cc).
  }
  MERIDIAN_PROBE("raft: an entry outside the cache handed out elided");
  entry.elided = true;
  entry.elided_bytes = slot.data_bytes;
  return entry;
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

uint64_t RaftLog::CachedBytes(const Entry& entry) { return entry.data.size() + sizeof(Entry); }

void RaftLog::Push(Entry entry) {
  MERIDIAN_CHECK(!entry.elided, "only a restart hands raft elided entries");
  MERIDIAN_CHECK(entry.index == last_index().next());
  MERIDIAN_CHECK(entry.data.size() <= UINT32_MAX);
  if (entry.kind == EntryKind::kConfig) {
    MERIDIAN_CHECK(entry.data.empty(), "configuration entries carry no data");
    configs_[entry.index] = entry.membership;
  }
  slots_.push_back(Slot{entry.term, static_cast<uint32_t>(entry.data.size()), entry.kind});
  cache_bytes_ += CachedBytes(entry);
  cache_.push_back(std::move(entry));
}

void RaftLog::TruncateAfter(Index last) {
  MERIDIAN_CHECK(last >= snapshot_index_ && last < last_index());
  MERIDIAN_CHECK(last >= commit_, "truncating committed entry {}", last.next().ToString());
  while (!cache_.empty() && cache_.back().index > last) {
    cache_bytes_ -= CachedBytes(cache_.back());
    cache_.pop_back();
  }
  slots_.resize(last.value() - snapshot_index_.value());
  configs_.erase(configs_.upper_bound(last), configs_.end());
  stable_ = std::min(stable_, last_index());
  handed_ = std::min(handed_, last_index());
}

void RaftLog::Evict() {
  const Index evictable = std::min(applied_, stable_);
  while (cache_bytes_ > cache_bytes_max_ && !cache_.empty() && cache_.front().index <= evictable) {
    cache_bytes_ -= CachedBytes(cache_.front());
    cache_.pop_front();
  }
}

void RaftLog::AppendOwn(Entry entry) {
  MERIDIAN_CHECK(entry.index == last_index().next(), "leader appends at the end");
  MERIDIAN_CHECK(entry.term >= last_term());
  Push(std::move(entry));
  Evict();
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
      TruncateAfter(Index(entry.index.value() - 1));
    }
    if (!first_changed) first_changed = entry.index;
    Push(entry);
  }
  Evict();
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
    const size_t entry_bytes = SlotAt(Index(i)).data_bytes;
    if (!out.empty() && data_bytes + entry_bytes > data_bytes_max) break;
    data_bytes += entry_bytes;
    out.push_back(EntryAt(Index(i)));
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
  Evict();
  return true;
}

std::vector<Entry> RaftLog::TakeUnhanded() {
  MERIDIAN_CHECK(handed_ >= snapshot_index_);
  // Unhanded entries are not durable yet, so never evicted: the driver gets their data.
  MERIDIAN_CHECK(handed_.value() + 1 >= cache_first().value(), "entries to persist are cached");
  std::vector<Entry> out;
  for (uint64_t i = handed_.value() + 1; i <= last_index().value(); i++) {
    out.push_back(At(Index(i)));
  }
  handed_ = last_index();
  return out;
}

std::vector<Entry> RaftLog::CommittedUnapplied(Index up_to, size_t data_bytes_max) const {
  MERIDIAN_CHECK(up_to <= commit_);
  MERIDIAN_CHECK(up_to <= last_index());
  std::vector<Entry> out;
  size_t data_bytes = 0;
  for (uint64_t i = applied_.value() + 1; i <= up_to.value(); i++) {
    const size_t entry_bytes = SlotAt(Index(i)).data_bytes;
    if (!out.empty() && data_bytes + entry_bytes > data_bytes_max) break;
    data_bytes += entry_bytes;
    out.push_back(EntryAt(Index(i)));
  }
  return out;
}

void RaftLog::AppliedTo(Index index) {
  MERIDIAN_CHECK(index >= applied_, "applied never decreases");
  MERIDIAN_CHECK(index <= commit_);
  applied_ = index;
  Evict();
}

void RaftLog::CompactTo(const SnapshotMeta& snapshot) {
  MERIDIAN_CHECK(snapshot.index > snapshot_index_, "compaction to {} does not advance {}",
                 snapshot.index.ToString(), snapshot_index_.ToString());
  MERIDIAN_CHECK(snapshot.index <= applied_, "compacting unapplied entries");
  MERIDIAN_CHECK(snapshot.index <= stable_, "compacting entries not durable here");
  MERIDIAN_CHECK(snapshot.term == TermAt(snapshot.index), "snapshot term mismatch");
  while (!cache_.empty() && cache_.front().index <= snapshot.index) {
    cache_bytes_ -= CachedBytes(cache_.front());
    cache_.pop_front();
  }
  slots_.erase(slots_.begin(), slots_.begin() + static_cast<ptrdiff_t>(snapshot.index.value() -
                                                                       snapshot_index_.value()));
  configs_.erase(configs_.begin(), configs_.upper_bound(snapshot.index));
  snapshot_index_ = snapshot.index;
  snapshot_term_ = snapshot.term;
  CheckInvariants();
}

void RaftLog::RestoreTo(const SnapshotMeta& snapshot) {
  MERIDIAN_CHECK(snapshot.index > commit_, "a snapshot at or below commit is not installed");
  MERIDIAN_CHECK(snapshot.index > snapshot_index_);
  slots_.clear();
  cache_.clear();
  cache_bytes_ = 0;
  configs_.clear();
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
  MERIDIAN_CHECK(cache_.size() <= slots_.size(), "the cache is a suffix of the log");
  // What is not cached is durable here: the driver can read it back.
  MERIDIAN_CHECK(cache_first().value() <= stable_.value() + 1,
                 "entry {} neither cached nor durable", cache_first().ToString());
  MERIDIAN_CHECK(cache_.empty() || cache_.front().index == cache_first());
  MERIDIAN_CHECK(configs_.empty() || configs_.begin()->first > snapshot_index_);
}

}  // namespace meridian::core::raft
