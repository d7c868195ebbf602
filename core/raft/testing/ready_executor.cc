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

RestartState MemoryStorage::ForRestart() const {
  MERIDIAN_CHECK(synced == entries.size(), "restart reads only what a crash kept");
  return RestartState{hard_state, entries, snapshot};
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
    if (effects.send) effects.send(std::move(message));
  }
  if (!ready.entries.empty()) Write(storage, ready.entries, effects);  // (3)
  Index applied_last;
  for (const Entry& entry : ready.committed_entries) {  // (4)
    if (applied_last.value() > 0) MERIDIAN_CHECK(entry.index == applied_last.next());
    applied_last = entry.index;
    if (effects.apply) effects.apply(entry);
  }
  raft.Advance(ready);
}

}  // namespace meridian::core::raft::testing
