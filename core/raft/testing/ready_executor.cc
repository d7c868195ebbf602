#include "core/raft/testing/ready_executor.h"

#include <algorithm>
#include <utility>

#include "io/assert.h"

namespace meridian::core::raft::testing {

std::optional<Term> MemoryStorage::DurableTermAt(Index index) const {
  if (index == snapshot_index()) return snapshot ? snapshot->meta.term : Term(0);
  if (index < snapshot_index() || index > durable_last()) return std::nullopt;
  return DurableAt(index).term;
}

const Entry& MemoryStorage::DurableAt(Index index) const {
  MERIDIAN_CHECK(index > snapshot_index(), "entry {} is inside the snapshot", index.ToString());
  MERIDIAN_CHECK(index <= durable_last(), "entry {} is not durable", index.ToString());
  const Entry& entry = entries[index.value() - snapshot_index().value() - 1];
  MERIDIAN_CHECK(entry.index == index, "stored entries are contiguous after the snapshot");
  return entry;
}

std::optional<LogPosition> MemoryStorage::Sync() {
  MERIDIAN_CHECK(synced <= entries.size());
  if (synced == entries.size()) return std::nullopt;
  synced = entries.size();
  MERIDIAN_CHECK(durable_last() == entries.back().index);
  return LogPosition{entries.back().term, entries.back().index};
}

uint64_t MemoryStorage::Crash() {
  MERIDIAN_CHECK(synced <= entries.size());
  const uint64_t lost = entries.size() - synced;
  entries.resize(synced);
  return lost;
}

RestartState MemoryStorage::ForRestart(uint64_t cache_bytes_max) const {
  MERIDIAN_CHECK(synced == entries.size(), "restart reads only what a crash kept");
  RestartState restart{hard_state, entries, snapshot};
  uint64_t newest_bytes = 0;
  for (auto it = restart.entries.rbegin(); it != restart.entries.rend(); ++it) {
    newest_bytes += it->data.size() + sizeof(Entry);
    if (newest_bytes <= cache_bytes_max || it->kind != EntryKind::kNormal) continue;
    it->elided = true;
    it->elided_bytes = static_cast<uint32_t>(it->data.size());
    it->data.clear();
  }
  return restart;
}

namespace {

// (3) Writes `written` over the stored log from its first index on: a follower's divergent
// suffix is cut, and with it any sync mark past the cut.
void Write(MemoryStorage& storage, const std::vector<Entry>& written, const ReadyEffects& effects) {
  const uint64_t first = written.front().index.value() - storage.snapshot_index().value();
  MERIDIAN_CHECK(first >= 1, "rewriting entries inside the snapshot");
  MERIDIAN_CHECK(first <= storage.entries.size() + 1, "a gap in the written log");
  storage.entries.resize(first - 1);
  storage.synced = std::min<uint64_t>(storage.synced, first - 1);
  for (const Entry& entry : written) {
    MERIDIAN_CHECK(
        entry.index.value() == storage.snapshot_index().value() + storage.entries.size() + 1,
        "a Ready's entries are contiguous");
    storage.entries.push_back(entry);
    if (effects.written) effects.written(entry);
  }
  MERIDIAN_CHECK(storage.synced < storage.entries.size(), "written entries are not synced yet");
}

// Reads the data of elided entries back from the durable log, as a driver must before it sends
// or applies them (Entry::elided).
void FillElided(const MemoryStorage& storage, std::vector<Entry>& entries) {
  for (Entry& entry : entries) {
    if (!entry.elided) continue;
    const Entry& durable = storage.DurableAt(entry.index);
    MERIDIAN_CHECK(durable.term == entry.term, "elided {} holds another term on disk",
                   entry.index.ToString());
    MERIDIAN_CHECK(durable.data.size() == entry.elided_bytes);
    entry = durable;
  }
}

}  // namespace

void ExecuteReady(Raft& raft, MemoryStorage& storage, const ReadyEffects& effects) {
  MERIDIAN_CHECK(raft.HasReady());
  Ready ready = raft.GetReady();
  if (ready.snapshot) {  // (0)
    storage.snapshot = *ready.snapshot;
    storage.entries.clear();
    storage.synced = 0;
    if (effects.installed) effects.installed(*ready.snapshot);
  }
  if (ready.hard_state) storage.hard_state = *ready.hard_state;  // (1) synced
  for (Message& message : ready.messages) {                      // (2) then sent
    MERIDIAN_CHECK(message.from == raft.id(), "a node sends only its own messages");
    FillElided(storage, message.entries);
    if (effects.send) effects.send(std::move(message));
  }
  if (!ready.entries.empty()) Write(storage, ready.entries, effects);  // (3)
  FillElided(storage, ready.committed_entries);
  Index applied_last;
  for (const Entry& entry : ready.committed_entries) {  // (4)
    if (applied_last.value() > 0) MERIDIAN_CHECK(entry.index == applied_last.next());
    applied_last = entry.index;
    if (effects.apply) effects.apply(entry);
  }
  raft.Advance(ready);
}

}  // namespace meridian::core::raft::testing
