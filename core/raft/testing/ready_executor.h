// The one in-memory Ready executor of core/raft's test worlds: the scripted network (TestNet,
// test_net.h) and the property harness (Cluster, cluster_harness.h) both play the driver through
// it, so there is one copy of the driver contract in test code (core/raft/README.md "Persist
// before send"), not two that can drift apart.
//
// MemoryStorage is one node's disk: a durable snapshot, the entries written after it, and how
// many of those are synced. ExecuteReady runs one Ready in the contract's order:
//   (0) a snapshot to install replaces the whole log, durably;
//   (1) the hard state is saved (synced) before (2) any message leaves;
//   (3) entries are written, not synced: the world syncs them later (MemoryStorage::Sync) and
//       only then reports them with Raft::StableTo;
//   (4) committed entries are applied, in order; then Raft::Advance.
// What a world does besides storing (sending through its network, applying to its state
// machine, noting events) it passes as ReadyEffects. Deterministic: no clock, no RNG.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "core/raft/raft.h"

namespace meridian::core::raft::testing {

struct MemoryStorage {
  HardState hard_state;              // Synced: saved before the Ready's messages are sent.
  std::optional<Snapshot> snapshot;  // Durable; `entries` continue after it.
  std::vector<Entry> entries;        // Written; only entries[0, synced) survive a crash.
  uint64_t synced = 0;

  Index snapshot_index() const { return snapshot ? snapshot->meta.index : Index(0); }
  // The last index a crash now would keep.
  Index durable_last() const { return Index(snapshot_index().value() + synced); }
  // The term at `index` in the durable log; nullopt below the snapshot or past durable_last().
  std::optional<Term> DurableTermAt(Index index) const;
  // The durable entry at `index` (snapshot_index() < index <= durable_last()).
  const Entry& DurableAt(Index index) const;
  // Makes every written entry durable. Returns the last one, for Raft::StableTo, or nullopt if
  // nothing was waiting.
  std::optional<LogPosition> Sync();
  // Power loss: the unsynced tail is gone. Returns how many entries were lost.
  uint64_t Crash();
  // What a restarting node reads back (after a Crash, everything in it is durable): entries with
  // their data only as far back as `cache_bytes_max` allows, older kNormal ones elided, as a
  // driver with a bounded entry cache does (core/replica).
  RestartState ForRestart(uint64_t cache_bytes_max) const;
};

struct ReadyEffects {
  // (0) After `snapshot` replaced the stored log: restore the state machine from it.
  std::function<void(const Snapshot&)> installed;
  // (2) A message leaves, after the hard state was saved.
  std::function<void(Message)> send;
  // (3) An entry was written (not yet synced).
  std::function<void(const Entry&)> written;
  // (4) A committed entry, in index order.
  std::function<void(const Entry&)> apply;
};

// Takes `raft`'s pending Ready (raft.HasReady() must hold), executes it against `storage` in the
// order above, and advances `raft`. Unset effects are skipped.
void ExecuteReady(Raft& raft, MemoryStorage& storage, const ReadyEffects& effects);

}  // namespace meridian::core::raft::testing
