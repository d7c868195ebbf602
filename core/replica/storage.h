// How a replica keeps raft's state on an io::Disk (issue 6, "durability order").
//
// - Entries live in a core::log::Log, one record batch per entry: raft index i is log offset
//   i - 1, the batch header's term is the entry's term, the payload is EncodeEntry's bytes.
//   A suffix truncation of the log is a raft conflict truncation.
// - The hard state (term, vote, commit) lives in `<dir>/hard_state`: a 32-byte record with a
//   magic and a CRC32C, replaced atomically (write a temporary file, fsync it, rename it over,
//   fsync the directory). A missing file is a fresh node; a damaged one is an error the
//   operator must see (a lost vote could elect two leaders in one term), never a silent reset.
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

std::vector<uint8_t> EncodeEntry(const raft::Entry& entry);
// `term` and `index` come from the batch header and offset; the payload holds the rest.
absl::StatusOr<raft::Entry> DecodeEntry(std::span<const uint8_t> payload, raft::Term term,
                                        raft::Index index);

// Decodes every entry `log` holds after `after` (which the log must not start past) and hands
// each to `visit`, in order; stops at the first error, the log's or `visit`'s.
absl::Status VisitLogEntries(log::Log& log, raft::Index after,
                             const std::function<absl::Status(raft::Entry)>& visit);

inline constexpr size_t kHardStateBytes = 32;
std::vector<uint8_t> EncodeHardState(const raft::HardState& state);
absl::StatusOr<raft::HardState> DecodeHardState(std::span<const uint8_t> bytes);

// Reads `<dir>/hard_state`; a zero HardState if the file does not exist.
absl::StatusOr<raft::HardState> LoadHardState(io::Disk& disk, const std::string& dir);
// Replaces `<dir>/hard_state` durably; returns only when it is on disk.
absl::Status StoreHardState(io::Disk& disk, const std::string& dir, const raft::HardState& state);

inline constexpr size_t kSnapshotFileBytesMax = raft::kSnapshotDataBytesMax + 4096;
std::vector<uint8_t> EncodeSnapshot(const raft::Snapshot& snapshot);
// DataLoss for bytes that are not a snapshot this build wrote (damage), FailedPrecondition for a
// newer format version. Never crashes, whatever the bytes.
absl::StatusOr<raft::Snapshot> DecodeSnapshot(std::span<const uint8_t> bytes);
// Reads `<dir>/snapshot`; nullopt if there is none.
absl::StatusOr<std::optional<raft::Snapshot>> LoadSnapshot(io::Disk& disk, const std::string& dir);
// Replaces `<dir>/snapshot` durably; returns only when it is on disk.
absl::Status StoreSnapshot(io::Disk& disk, const std::string& dir, const raft::Snapshot& snapshot);

}  // namespace meridian::core::replica
