// Seeding a raft group's directory from another group's committed entries: how a regional
// partition's promoted observer starts the new epoch's group with everything the old one had
// committed (core/cluster/promotion.h). Also the removal of a group's directory.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/log/wal.h"
#include "core/raft/types.h"
#include "io/runtime.h"

namespace meridian::core::replica {

struct GroupSeed {
  // The old group's latest snapshot (if any); its configuration is replaced by `membership`.
  std::optional<raft::Snapshot> base;
  // Committed entries after base (from index 1 without one), contiguous. No config entries:
  // the new group's configuration is `membership` from its first index on.
  std::vector<raft::Entry> entries;
  raft::Membership membership;
};

inline constexpr char kSeededMarker[] = "seeded";

// Writes `dir` so that Replica::Open finds the seed's snapshot, entries and a hard state at
// the last entry's term with everything committed, then (durably, last) the kSeededMarker
// file: a directory without it is an interrupted seed, removed and written again.
// FailedPrecondition if `dir` is seeded already; the disk's status on I/O errors.
absl::Status WriteSeededGroup(io::Runtime& runtime, const std::string& dir, const GroupSeed& seed,
                              uint64_t log_segment_bytes);

// Whether `dir` holds a completed seed (its marker is there).
absl::StatusOr<bool> SeededGroupComplete(io::Disk& disk, const std::string& dir);

// Reads a group's directory at rest, with no raft running: for a replica that will never run
// again (an old epoch's replica a node finds on disk when it restarts already knowing of the
// promotion, which must still count what that replica held past the promotion point). Returns
// the snapshot, if any, and hands `visit` every entry the log holds after both `after` and the
// snapshot, in order. Opening the log recovers it (a torn tail is cut, as at any restart).
// `wal`: the node-wide log the group wrote through (nullptr: none). It must be given when there
// is one: the group's segment files were never synced on their own, so after a power cut what
// it held durably may be in the WAL alone (the log is opened over it and replays it).
absl::StatusOr<std::optional<raft::Snapshot>> ReadGroupAtRest(
    io::Runtime& runtime, const std::string& dir, std::shared_ptr<log::Wal> wal, raft::Index after,
    const std::function<absl::Status(raft::Entry)>& visit);

// Removes `path` and everything under it; OK if it does not exist.
absl::Status RemoveTree(io::Disk& disk, const std::string& path);

}  // namespace meridian::core::replica
