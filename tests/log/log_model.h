// A model-based check of core/log: random sequences of append / wait-durable / sync / read /
// truncate / corrupt / crash run on a simulated node against a dumb in-memory model.
//
// The invariants checked after every step and every recovery:
//   - nothing reported durable is ever lost (except from a batch the test itself corrupted,
//     which recovery must then report and cut at exactly);
//   - nothing never written is ever read: every batch a read returns equals the model's;
//   - a corrupted batch is never served;
//   - offsets are assigned densely, truncations remove exactly what they say, durably.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/log/log.h"
#include "io/random.h"

namespace meridian::tests::log {

enum class CommandKind : uint8_t {
  kAppend,          // a: records (1..4), b: payload bytes
  kWaitDurable,     // a fiber waits for the current last offset to be durable
  kSync,            // the main fiber syncs everything appended so far
  kRead,            // a: which offset (scaled into [start, end]), b: bytes_max
  kTruncateSuffix,  // a: which batch boundary
  kTruncatePrefix,  // a: which batch boundary
  kRetention,       // by size (b: bytes kept, scaled)
  kSleep,           // a: microseconds
  kCorrupt,         // a: which durable batch, b: which byte of it
  kDiskFull,        // the disk fills after a more bytes (ENOSPC, the failing write lands partly)
  kDiskFreed,       // space is back
  kFailSyncs,       // every fsync from now on fails (EIO): the log must fail, and lose nothing
  kTornTail,        // a partial next batch reaches the disk and the phase stops, awaiting its
                    // crash (a: how many bytes, b: 0 = real batch bytes, else garbage)
  kCrash,           // a: microseconds the phase may run before the power cut
};

struct Command {
  CommandKind kind = CommandKind::kAppend;
  uint32_t a = 0;
  uint32_t b = 0;
};

// Maps three raw numbers onto a command with a fixed weighting (so rapidcheck can shrink the
// raw numbers and io::Random can produce the same distribution).
Command MakeCommand(uint32_t roll, uint32_t a, uint32_t b);
std::vector<Command> RandomCommands(io::Random& random, size_t count);

struct ModelRunResult {
  std::string failure;  // Empty when every invariant held.
  uint64_t steps = 0;
  uint64_t crashes = 0;
  uint64_t reads_checked = 0;
  uint64_t corruptions_caught = 0;  // Reads refused with DataLoss, or recoveries that cut.
  uint64_t disk_full_errors = 0;    // Appends refused with ResourceExhausted.
  uint64_t logs_failed = 0;         // Phases ended by an injected fsync failure.
  uint64_t torn_tails = 0;          // Partial batches left on disk before a crash.
  uint64_t trace_hash = 0;          // The world's: equal for equal seeds and commands.
};

// How the log under test is set up. With `wal`, it writes through a node-wide WAL (core/log/
// wal.h) with small files, so checkpoints and file removals happen within a run.
struct ModelConfig {
  core::log::LogTestingKnobs knobs;  // Planted bugs.
  bool wal = false;
  bool wal_truncate_before_sync = false;  // Planted bug: WalOptions::testing_...
  // LogOptions::wal_direct_round_bytes: small, so rounds go both ways within a run.
  uint64_t wal_direct_round_bytes = 2048;
};

// Runs `commands` on a fresh simulated world seeded with `seed`. `knobs` plants bugs.
ModelRunResult RunModel(uint64_t seed, const std::vector<Command>& commands,
                        core::log::LogTestingKnobs knobs = {});
ModelRunResult RunModel(uint64_t seed, const std::vector<Command>& commands,
                        const ModelConfig& config);

std::string Describe(const std::vector<Command>& commands);

}  // namespace meridian::tests::log
