// How a replica keeps raft's state on an io::Disk (issue 6, "durability order").
//
// - Entries live in a core::log::Log, one record batch per entry: raft index i is log offset
//   i - 1, the batch header's term is the entry's term, the payload is EncodeEntry's bytes.
//   A suffix truncation of the log is a raft conflict truncation.
// - The hard state (term, vote, commit) lives in `<dir>/hard_state`: two copies, each a 48-byte
//   record (magic, version, sequence, term, vote, commit, CRC32C) at the start of its own 4 KiB
//   block, in the manner of TigerBeetle's redundant superblock. A store writes copy 0, then copy
//   1 (two writes), then fsyncs once; a load takes the valid copy with the highest sequence. A
//   bit flip at rest or a misdirected write damages or misplaces one copy and the other still
//   holds the newest state; a crash during the fsync leaves each copy old or new (both truthful:
//   nothing depended on a store that did not finish), or both torn. Only when no copy is valid
//   is the hard state lost: LoadHardState says so (DataLoss) and the replica restarts without a
//   vote until it has learned a term bound from its peers (core/raft design.md "Damaged
//   replicas", RestartState::hard_state_lost). A missing file is a fresh node. The first store
//   (and a store over a missing file) replaces the file atomically with both copies (write,
//   fsync, rename, fsync the directory).
// - The latest snapshot (raft §7) lives in `<dir>/snapshot`, replaced the same way: a magic, a
//   format version, the last included index and term, the configuration there, the state
//   machine's data (at most raft::kSnapshotDataBytesMax), and a CRC32C over all of it. The log
//   then holds the entries after it (and possibly some before it, not yet deleted: ignored).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/raft/types.h"
#include "io/disk.h"

namespace meridian::core::log {
class Log;
}

namespace meridian::core::replica {

// Damage at rest: bytes on disk that are not what this build wrote (every copy of the hard
// state, a snapshot or a durable mark that fails its checks), as opposed to an I/O error, which
// is DataLoss too (EIO). Replica::Open repairs damage from its peers; an I/O error it returns
// (the node exits and its restart reads again). A DataLoss status with a payload.
absl::Status DamagedAtRestError(const std::string& message);
bool IsDamagedAtRest(const absl::Status& status);

std::vector<uint8_t> EncodeEntry(const raft::Entry& entry);
// EncodeEntry's bytes in two parts, head (kind, and a config's members) then EntryData (the
// entry's data, not copied): what the log appends without first joining them.
std::vector<uint8_t> EncodeEntryHead(const raft::Entry& entry);
std::span<const uint8_t> EntryData(const raft::Entry& entry);
// `term` and `index` come from the batch header and offset; the payload holds the rest.
absl::StatusOr<raft::Entry> DecodeEntry(std::span<const uint8_t> payload, raft::Term term,
                                        raft::Index index);

// Decodes every entry `log` holds after `after` (which the log must not start past) and hands
// each to `visit`, in order; stops at the first error, the log's or `visit`'s.
absl::Status VisitLogEntries(log::Log& log, raft::Index after,
                             const std::function<absl::Status(raft::Entry)>& visit);
// Every entry after `after`, in order (VisitLogEntries). Only the newest `cache_bytes_max`
// bytes of them (data plus sizeof(raft::Entry) each) come with their data: older kNormal entries
// come elided (raft::Entry::elided), so a restart never holds a partition's whole retained log in
// memory; raft hands them back elided and the replica reads them again when it needs them.
absl::StatusOr<std::vector<raft::Entry>> ReadEntriesAfter(log::Log& log, raft::Index after,
                                                          uint64_t cache_bytes_max);

inline constexpr size_t kHardStateBytes = 48;        // One copy.
inline constexpr size_t kHardStateCopyBytes = 4096;  // Each copy in a 4 KiB block of its own.
inline constexpr size_t kHardStateCopies = 2;
static_assert(kHardStateBytes <= kHardStateCopyBytes);

// A hard state as stored: `sequence` orders the stores (0: never stored, a fresh replica).
struct StoredHardState {
  raft::HardState state;
  uint64_t sequence = 0;
  bool operator==(const StoredHardState&) const = default;
};
std::vector<uint8_t> EncodeHardState(const StoredHardState& stored);
// DataLoss for bytes that are not a copy this build wrote. Never crashes, whatever the bytes.
absl::StatusOr<StoredHardState> DecodeHardState(std::span<const uint8_t> bytes);

// What LoadHardState found: the newest valid copy, and how many copies were valid and agreed
// with it (fewer than kHardStateCopies: one was damaged or stale, worth rewriting).
struct LoadedHardState {
  StoredHardState stored;
  size_t copies_current = 0;
};
// Reads `<dir>/hard_state`: a zero StoredHardState if the file does not exist; DamagedAtRest if
// it exists and no copy is valid (every copy damaged: the term and vote are lost).
absl::StatusOr<LoadedHardState> LoadHardState(io::Disk& disk, const std::string& dir);
// Stores `stored` (its sequence above every sequence on disk) over every copy; returns only
// when every copy is on disk.
absl::Status StoreHardState(io::Disk& disk, const std::string& dir, const StoredHardState& stored);

inline constexpr size_t kSnapshotFileBytesMax = raft::kSnapshotDataBytesMax + 4096;
std::vector<uint8_t> EncodeSnapshot(const raft::Snapshot& snapshot);
// DataLoss for bytes that are not a snapshot this build wrote (damage), FailedPrecondition for a
// newer format version. Never crashes, whatever the bytes.
absl::StatusOr<raft::Snapshot> DecodeSnapshot(std::span<const uint8_t> bytes);
// Reads `<dir>/snapshot`; nullopt if there is none; DamagedAtRest if it does not decode.
absl::StatusOr<std::optional<raft::Snapshot>> LoadSnapshot(io::Disk& disk, const std::string& dir);
// Replaces `<dir>/snapshot` durably; returns only when it is on disk.
absl::Status StoreSnapshot(io::Disk& disk, const std::string& dir, const raft::Snapshot& snapshot);

}  // namespace meridian::core::replica
