// DurableMarkTable: the node's durable marks (durable_mark.h), one per raft group it hosts, kept
// in ONE node-level table so that every group advancing in the same round shares one image write
// and one fsync (group commit), where per-group `durable_mark` files cost one fsync per group.
//
// A mark is the last log entry (term, index) a group knows it had made durable; a restart
// compares its recovered log with it to tell damage at rest from a torn tail (durable_mark.h).
//
// What stays true:
// - Advance never lowers a mark (raft::LogPosition::IsAtLeast, lexicographic (term, index)); only
//   Reset (the owner's decision after damage) and Forget (the group left the node) do.
// - Advance, Forget, Reset and ClearDamage return OK only once an image holding their change (for
//   Advance: a mark at least its position) has been synced. Get and groups() report the newest
//   synced image.
// - After a failed write or sync the table is failed: every later call returns that error. The
//   page cache after a failed fsync is unknowable (core/log's "fsyncgate" rule); reopen.
//
// Group commit, as core/log's Log::WaitDurable: a caller whose change is not yet synced either
// leads a round (no round running: it yields once so that every runnable fiber can add its change
// too, then writes every change so far in one image and syncs it) or waits for the round that
// carries its change (one that starts after the change; not the round already in flight, which
// encoded its image before the change). N groups advancing together cost one or two rounds.
//
// Format: two files, `<dir>/marks.0` and `<dir>/marks.1`. An image (little-endian) is: magic u32,
// format version u16, flags u16, image bytes u32 (all of it, CRC included), sequence u64 (>= 1,
// +1 per image), entry count u32 (<= kMarkTableGroupsMax), the entries sorted by group name and
// each named once (name bytes u16 in [1, kMarkTableGroupNameBytesMax], the name, term u64, index
// u64), then a CRC32C of everything before it. Flag bit 0, kUnlistedDamaged: the table was found
// damaged and a group without an entry has an unknown mark (until Reset or ClearDamage).
// Image s goes to marks.((s + 1) % 2): writes alternate, and a write always goes to the file NOT
// holding the newest image, so a crash tears at most the image being written and the other file
// still holds the previous one. A write is WriteAt(0, image), Truncate(image bytes) if the file
// was longer (or its length is not known yet), Sync, in place: unlike Truncate(0) first, a file
// once written is never empty again, whatever a crash tears (the image bytes field finds the image
// if the truncation was lost). Open takes the valid image with the highest sequence; one in the
// wrong file (wrong parity) is not valid. Bytes read from disk are validated, never asserted on.
//
// Damage at rest, precisely (mirroring DurableMark::Open: "slot 1 is first written by the second
// mark after slot 0 was synced"). The first image ever goes to marks.0; marks.1 is first written
// by image 2, only after image 1 was synced in marks.0; and no operation returns OK before marks.1
// holds a synced image (the first round writes its image twice, as image 1 into marks.0 and image
// 2 into marks.1, syncing each, before anyone is told; Open writes the copy if a crash came
// between the two). Neither file is ever truncated to empty.
// So, when NEITHER file holds a valid image:
// - marks.1 empty: no operation ever returned OK (whatever marks.0 holds is a first write a crash
//   tore, or nothing): a fresh table, no marks lost.
// - marks.1 not empty: image 1 was synced in marks.0, and each later image was written only after
//   the one before it was synced in the other file; an invalid marks.0 is then either damaged or
//   torn while being rewritten, in which case the newer image in marks.1 was synced and is damaged.
//   Either way a synced image is lost: the table is damaged at rest. Open succeeds; Get returns
//   DamagedAtRestError (storage.h) for every group until its owner Resets it (e.g. to its log end
//   when its log is intact), and Advance refuses such a group the same way. The damage is stored
//   in every later image (kUnlistedDamaged), so a crash does not turn "unknown" into "no mark".
//   (This is conservative once: a crash while image 2 of the very first round was being written,
//   followed by damage to marks.0, reports damage where nothing was yet acknowledged.)
// With the first round's second write, an image loss that this rule calls "fresh" is impossible
// unless the file system loses a file's length or name (not in io/disk.h's contract).
// Not detected: damage to the newest image alone. Open then takes the previous image, whose marks
// are lower for the groups the lost image raised (as with durable_mark.h's two slots); a restart
// that compares its log with a lowered mark can take a lost synced entry for a torn tail.
//
// Who calls it: the fibers of one node (io::Runtime), any number, for different groups. Each
// group's owner serialises its own calls; Reset and Forget refuse a group with any call in
// flight (FailedPrecondition). Advance, Forget, Reset, ClearDamage and Open suspend (fsync); Get,
// groups(), damaged() and image_writes() never do. The table must outlive its callers' waits.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/statusor.h"
#include "core/metrics/histogram.h"
#include "core/raft/types.h"
#include "io/disk.h"
#include "io/runtime.h"
#include "io/sync.h"

namespace meridian::core::replica {

inline constexpr size_t kMarkTableGroupNameBytesMax = 255;
inline constexpr size_t kMarkTableGroupsMax = size_t{1} << 16;
// Fibers waiting in the table at once: a leak of waiters is a bug, and we want it loud.
inline constexpr size_t kMarkTableWaitersMax = size_t{1} << 16;
inline constexpr size_t kMarkTableHeaderBytes = 24;  // Magic to entry count.
inline constexpr size_t kMarkTableCrcBytes = 4;
inline constexpr size_t kMarkTableEntryBytesMax = 2 + kMarkTableGroupNameBytesMax + 8 + 8;
inline constexpr size_t kMarkTableImageBytesMax =
    kMarkTableHeaderBytes + kMarkTableGroupsMax * kMarkTableEntryBytesMax + kMarkTableCrcBytes;
static_assert(kMarkTableGroupNameBytesMax <= UINT16_MAX, "a name's length is a u16");
static_assert(kMarkTableGroupsMax <= UINT32_MAX, "the entry count is a u32");
static_assert(kMarkTableImageBytesMax <= UINT32_MAX, "the image bytes field is a u32");
static_assert(kMarkTableImageBytesMax <= (size_t{32} << 20), "a round writes at most 32 MiB");

// One image's content. `sequence` orders images (0: none written yet).
struct MarkTableImage {
  uint64_t sequence = 0;
  // The table was found damaged: a group without an entry in `marks` has an unknown mark.
  bool unlisted_damaged = false;
  absl::btree_map<std::string, raft::LogPosition> marks;
};
std::vector<uint8_t> EncodeMarkTableImage(const MarkTableImage& image);
// DataLoss for bytes that are not an image this build wrote, FailedPrecondition for a newer
// format version. Never crashes, whatever the bytes. `bytes` must be exactly one image.
absl::StatusOr<MarkTableImage> DecodeMarkTableImage(std::span<const uint8_t> bytes);

class DurableMarkTable {
 public:
  // Opens or creates the table in `dir` on `disk` (the directory is created if missing, with a
  // SyncDir of its parent; the two files are created, then SyncDir(dir), before any image counts).
  // Syncs the files it reads, so that what it read (maybe still in the page cache after a restart
  // without a power cut) is durable before Advance relies on it. A damaged table opens (damaged()).
  // `unsynced_for_tests` goes with a node whose replicas acknowledge before their fsync
  // (replica::ReplicaOptions::unsafe_ack_before_fsync_for_tests), as DurableMark's
  // kUnsyncedForTests: images are written but never synced, so a 50 ms sync per round under
  // tests/jepsen's power cuts neither holds that planted bug back nor survives the cut.
  static absl::StatusOr<std::unique_ptr<DurableMarkTable>> Open(io::Runtime& runtime,
                                                                io::Disk& disk, std::string dir,
                                                                bool unsynced_for_tests = false);
  ~DurableMarkTable();
  DurableMarkTable(const DurableMarkTable&) = delete;
  DurableMarkTable& operator=(const DurableMarkTable&) = delete;

  // The group's mark in the newest synced image (a zero raft::LogPosition if it has none).
  // DamagedAtRestError if the table was found damaged and the group has not been Reset since.
  absl::StatusOr<raft::LogPosition> Get(const std::string& group) const;
  // Raises `group`'s mark to `position` if that is past it; never lowers it. Returns only when an
  // image holding it (or a higher mark) is synced. InvalidArgument for a bad group name, or a new
  // group beyond kMarkTableGroupsMax; DamagedAtRest for a damaged group not Reset yet.
  absl::Status Advance(const std::string& group, const raft::LogPosition& position);
  // Forgets the group (its partition was deleted from the node), durably. On a damaged table a
  // forgotten group is unknown again (DamagedAtRest), like any group without an entry.
  absl::Status Forget(const std::string& group);
  // After damage: the group's owner decided its mark is `position` (e.g. its log end when its log
  // is intact). Sets it, even lower than before, and clears the group's damage, durably.
  absl::Status Reset(const std::string& group, const raft::LogPosition& position);
  // After damage: every group the node hosts has been Reset (or Forgotten), so a group without an
  // entry has no mark, as in a fresh table. Durably. Without it, a damaged table treats every
  // group it does not list (a partition created later, too) as damaged until Reset.
  absl::Status ClearDamage();

  size_t groups() const { return durable_.marks.size(); }
  bool damaged() const { return durable_.unlisted_damaged; }
  // Metric: images written and synced (each a write + an fsync; the first round writes two).
  uint64_t image_writes() const { return image_writes_; }
  // Metric: each image's write, truncation (if any) and fsync.
  const metrics::Histogram& image_write_latency_ns() const { return image_write_latency_ns_; }

 private:
  DurableMarkTable(io::Runtime& runtime, std::string dir,
                   std::array<std::unique_ptr<io::File>, 2> files, MarkTableImage newest,
                   bool marks1_written);

  // WaitForImage(every change so far), with `group` marked busy meanwhile.
  absl::Status WaitWhileBusy(const std::string& group);
  // Waits until an image holding every change up to `generation` is synced, leading rounds as
  // needed. Returns the table's failure, or a wait's (Cancelled).
  absl::Status WaitForImage(uint64_t generation);
  // One round: writes next_ (twice in the table's first round) and publishes it as durable_.
  void LeadRound();
  absl::Status WriteImage(MarkTableImage& image);
  // The group's damage (DamagedAtRest) in `image`, or OK.
  absl::Status CheckKnown(const MarkTableImage& image, const std::string& group) const;
  // A change to next_: the next image must hold it.
  void Changed() { generation_++; }

  io::Runtime& runtime_;
  const std::string dir_;
  std::array<std::unique_ptr<io::File>, 2> files_;
  // Each file's length after this table's last write to it (unknown before the first).
  std::array<std::optional<uint64_t>, 2> file_bytes_;
  // marks.1 holds bytes: no round still has to write the first image's second copy.
  bool marks1_written_;
  uint64_t written_sequence_;        // The newest valid image's sequence in the files (0: none).
  MarkTableImage durable_;           // The newest synced image (or the one Open read and synced).
  MarkTableImage next_;              // What the next image holds: durable_ plus the changes since.
  uint64_t generation_ = 0;          // Changes made to next_ so far.
  uint64_t synced_generation_ = 0;   // Changes held by durable_.
  bool writing_ = false;             // A round is in flight (one fiber leads it).
  bool unsynced_for_tests_ = false;  // Open's planted-bug mode: images are never synced.
  absl::Status failed_;
  uint64_t image_writes_ = 0;
  metrics::Histogram image_write_latency_ns_ = metrics::LatencyHistogram();
  size_t waiters_ = 0;
  // Calls in flight per group (Advance, Reset, Forget): Reset and Forget refuse a busy group.
  absl::btree_map<std::string, uint32_t> busy_;
  io::WaitList round_waiters_;
};

}  // namespace meridian::core::replica
