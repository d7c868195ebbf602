// DurableMark: `<dir>/durable_mark`, this replica's record of the last log entry (term, index)
// it knows it had made durable. It lets a restart tell damage at rest from a torn tail: core/log
// recovery cuts the log at the first bad batch either way, but entries up to the mark were
// synced and may have been acknowledged, so losing them is damage (raft then keeps the replica
// from voting with, or leading from, the shorter log: RestartState::durable_before), while
// entries past it may be an unsynced tail a power cut legitimately took.
//
// The mark only lags the durable log (it is written after the log's sync) but covers every
// entry this replica acknowledged: Replica advances it before an append response leaves and,
// on a leader, before raft counts the leader's own entries toward commit; otherwise (a learner)
// at most every kDurableMarkInterval. It never goes back: while a damaged log is repaired its
// synced position stays below the mark, and the mark moves only once that position passes it.
//
// Format: two 32-byte slots written alternately in place (magic, sequence, term, index,
// CRC32C), each write followed by an fsync, so a torn write damages at most the slot being
// written and the other one still holds the previous mark. Bytes from disk are validated,
// never asserted on.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "core/raft/types.h"
#include "io/disk.h"
#include "io/time.h"

namespace meridian::core::replica {

inline constexpr size_t kDurableMarkSlotBytes = 32;
inline constexpr io::Duration kDurableMarkInterval = std::chrono::milliseconds(100);

struct DurableMarkSlot {
  uint64_t sequence = 0;
  raft::LogPosition position;
};
std::vector<uint8_t> EncodeDurableMarkSlot(const DurableMarkSlot& slot);
// DataLoss for bytes that are not a slot this build wrote.
absl::StatusOr<DurableMarkSlot> DecodeDurableMarkSlot(std::span<const uint8_t> bytes);

class DurableMark {
 public:
  // Opens (creating, with a directory sync) `<dir>/durable_mark`. A missing file or one never
  // completely written marks nothing; DataLoss if both slots are damaged (the file was written
  // twice, so that is damage at rest, and what this replica had made durable is unknown).
  // kUnsyncedForTests goes with log::LogTestingKnobs::report_durable_before_sync (a replica that
  // acknowledges before its fsync): the mark is written but never synced, so it neither slows
  // that planted bug down (a 50 ms sync per mark under tests/jepsen's power cuts held a run to
  // ~70 acknowledgements) nor survives the power cut that shows it losing data.
  enum class Sync : uint8_t { kSynced, kUnsyncedForTests };
  static absl::StatusOr<std::unique_ptr<DurableMark>> Open(io::Disk& disk, const std::string& dir,
                                                           Sync sync = Sync::kSynced);

  const raft::LogPosition& position() const { return position_; }
  // Records that the log is durable through `synced` if that is past the mark (lexicographic,
  // as raft compares logs), and `now` is at least kDurableMarkInterval after the last write
  // (or `force`). Returns only when the record is on disk.
  enum class When : uint8_t { kRateLimited, kNow };
  absl::Status Advance(const raft::LogPosition& synced, io::Instant now, When when);

 private:
  DurableMark(std::unique_ptr<io::File> file, DurableMarkSlot newest, Sync sync)
      : file_(std::move(file)),
        sync_(sync),
        sequence_(newest.sequence),
        position_(newest.position) {}

  std::unique_ptr<io::File> file_;
  Sync sync_;
  uint64_t sequence_;
  raft::LogPosition position_;
  std::optional<io::Instant> written_at_;  // nullopt: not written since Open.
};

}  // namespace meridian::core::replica
