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
//
// A DurableMark opened with OpenInTable keeps its mark in the node's DurableMarkTable
// (mark_table.h) instead: the same rules, but its writes share the table's group commit with
// every other group of the node (one fsync per round, not one per group).
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

class DurableMarkTable;

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
  // Opens `group`'s mark in `table` (which must outlive the mark). Its position is the table's
  // mark for the group, or, if a legacy per-group `<dir>/durable_mark` exists (a node switched
  // from per-group marks to the table), the higher (IsAtLeast) of the two, so the switch never
  // forgets a claim. The legacy file is read, never created or written. DamagedAtRest if the
  // table lost the group's mark (until DurableMarkTable::Reset) or both legacy slots are damaged
  // (as Open). Always synced (the table has no kUnsyncedForTests).
  static absl::StatusOr<std::unique_ptr<DurableMark>> OpenInTable(DurableMarkTable& table,
                                                                  std::string group, io::Disk& disk,
                                                                  const std::string& dir);

  const raft::LogPosition& position() const { return position_; }
  // Records that the log is durable through `synced` if that is past the mark (lexicographic,
  // as raft compares logs), and `now` is at least kDurableMarkInterval after the last write
  // (or `force`). Returns only when the record is on disk (in the table: synced in an image).
  enum class When : uint8_t { kRateLimited, kNow };
  absl::Status Advance(const raft::LogPosition& synced, io::Instant now, When when);

 private:
  DurableMark(std::unique_ptr<io::File> file, DurableMarkSlot newest, Sync sync)
      : file_(std::move(file)),
        sync_(sync),
        sequence_(newest.sequence),
        position_(newest.position) {}
  DurableMark(DurableMarkTable& table, std::string group, const raft::LogPosition& position)
      : table_(&table), group_(std::move(group)), sync_(Sync::kSynced), position_(position) {}

  // Writes `synced` into the next slot of file_, synced unless kUnsyncedForTests.
  absl::Status WriteSlot(const raft::LogPosition& synced);

  std::unique_ptr<io::File> file_;  // Null for a mark in a table.
  DurableMarkTable* table_ = nullptr;
  std::string group_;  // The mark's group in table_.
  Sync sync_;
  uint64_t sequence_ = 0;  // Of file_'s newest slot.
  raft::LogPosition position_;
  std::optional<io::Instant> written_at_;  // nullopt: not written since Open.
};

}  // namespace meridian::core::replica
