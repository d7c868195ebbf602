// The other half of tests/jepsen/powercut_shim.c: reads a process's undo journal after the
// process was SIGKILLed and rolls its files back to what a power cut would have left — only
// what was fsynced (files) or directory-fsynced (creates, renames) survives.
//
// Mode kDropUnsynced undoes every unsynced operation, newest first. Mode kTornPrefix keeps a
// random prefix of the unsynced operations (in the order they happened, which a journaling file
// system with ordered data may persist) and tears the last kept write at a 512-byte sector: the
// classic "torn write" crash state.
//
// What stays true: an operation the journal marks durable is never undone; the journal is
// consumed (removed) by a successful rollback, so a second power cut starts from a clean slate.
// Threading: the harness's main thread, while the journaling process is dead.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace meridian::tests::jepsen {

enum class PowerCutMode { kDropUnsynced, kTornPrefix };

struct RollbackStats {
  uint64_t records = 0;         // journal records read
  uint64_t undone = 0;          // operations rolled back
  uint64_t bytes_restored = 0;  // pre-image bytes written back
  uint64_t kept_unsynced = 0;   // unsynced operations kept by kTornPrefix (the last torn)
  std::string ToString() const;
};

absl::StatusOr<RollbackStats> RollBackJournal(const std::string& journal_path, PowerCutMode mode,
                                              uint64_t seed);

}  // namespace meridian::tests::jepsen
