#include "core/replica/seed.h"

#include <fmt/format.h>

#include "core/log/log.h"
#include "core/replica/storage.h"
#include "io/assert.h"

namespace meridian::core::replica {
namespace {

absl::Status WriteSeedLog(io::Runtime& runtime, const std::string& dir, const GroupSeed& seed,
                          uint64_t log_segment_bytes) {
  absl::StatusOr<std::unique_ptr<log::Log>> log =
      log::Log::Open(runtime, runtime.disk(),
                     log::LogOptions{.dir = dir + "/log", .segment_bytes_max = log_segment_bytes});
  if (!log.ok()) return log.status();
  const raft::Index after = seed.base.has_value() ? seed.base->meta.index : raft::Index(0);
  if (after.value() > 0) {
    if (absl::Status s = (*log)->Reset(core::Offset(after.value())); !s.ok()) return s;
  }
  raft::Index expected = after.next();
  for (const raft::Entry& entry : seed.entries) {
    MERIDIAN_CHECK(entry.index == expected, "seed entry {} where {} was expected",
                   entry.index.ToString(), expected.ToString());
    MERIDIAN_CHECK(entry.kind != raft::EntryKind::kConfig, "a config entry in a seed");
    absl::StatusOr<core::Offset> offset =
        (*log)->Append(log::BatchMeta{.term = entry.term}, EncodeEntry(entry));
    if (!offset.ok()) return offset.status();
    expected = expected.next();
  }
  // The log ends right after the last seed entry (offset = index - 1).
  MERIDIAN_CHECK((*log)->end_offset() == core::Offset(expected.value() - 1));
  return (*log)->Sync();
}

}  // namespace

absl::StatusOr<std::optional<raft::Snapshot>> ReadGroupAtRest(
    io::Runtime& runtime, const std::string& dir, std::shared_ptr<log::Wal> wal, raft::Index after,
    const std::function<absl::Status(raft::Entry)>& visit) {
  absl::StatusOr<std::optional<raft::Snapshot>> snapshot = LoadSnapshot(runtime.disk(), dir);
  if (!snapshot.ok()) return snapshot.status();
  absl::StatusOr<std::unique_ptr<log::Log>> log = log::Log::Open(
      runtime, runtime.disk(), log::LogOptions{.dir = dir + "/log", .wal = std::move(wal)});
  if (!log.ok()) return log.status();
  uint64_t from = std::max(after.value(), (*log)->start_offset().value());
  if (snapshot->has_value()) from = std::max(from, (*snapshot)->meta.index.value());
  if (absl::Status s = VisitLogEntries(**log, raft::Index(from), visit); !s.ok()) return s;
  return *snapshot;
}

absl::Status RemoveTree(io::Disk& disk, const std::string& path) {
  absl::StatusOr<std::vector<std::string>> names = disk.ListDir(path);
  if (!names.ok()) return absl::IsNotFound(names.status()) ? absl::OkStatus() : names.status();
  for (const std::string& name : *names) {
    const std::string child = path + "/" + name;
    absl::Status removed = disk.Remove(child);
    if (!removed.ok()) removed = RemoveTree(disk, child);
    if (!removed.ok()) return removed;
  }
  return disk.Remove(path);
}

absl::StatusOr<bool> SeededGroupComplete(io::Disk& disk, const std::string& dir) {
  absl::StatusOr<bool> exists = disk.Exists(dir);
  if (!exists.ok() || !*exists) return exists;
  return disk.Exists(dir + "/" + kSeededMarker);
}

absl::Status WriteSeededGroup(io::Runtime& runtime, const std::string& dir, const GroupSeed& seed,
                              uint64_t log_segment_bytes) {
  io::Disk& disk = runtime.disk();
  absl::StatusOr<bool> complete = SeededGroupComplete(disk, dir);
  if (!complete.ok()) return complete.status();
  if (*complete) return absl::FailedPreconditionError(fmt::format("{} is seeded already", dir));
  // A seed a crash interrupted: start over.
  if (absl::Status s = RemoveTree(disk, dir); !s.ok()) return s;
  if (absl::Status s = disk.CreateDir(dir); !s.ok()) return s;
  if (absl::Status s = disk.SyncDir(io::ParentDir(dir)); !s.ok()) return s;
  raft::HardState hard_state;
  if (seed.base.has_value()) {
    raft::Snapshot base = *seed.base;
    base.meta.membership = seed.membership;
    if (absl::Status s = StoreSnapshot(disk, dir, base); !s.ok()) return s;
    hard_state.term = base.meta.term;
    hard_state.commit = base.meta.index;
  }
  if (absl::Status s = WriteSeedLog(runtime, dir, seed, log_segment_bytes); !s.ok()) return s;
  if (!seed.entries.empty()) {
    hard_state.term = std::max(hard_state.term, seed.entries.back().term);
    hard_state.commit = seed.entries.back().index;
  }
  if (absl::Status s = StoreHardState(disk, dir, {hard_state, 1}); !s.ok()) return s;
  // The marker goes last, durably: without it the directory is an interrupted seed.
  absl::StatusOr<std::unique_ptr<io::File>> marker =
      disk.Open(dir + "/" + kSeededMarker, io::OpenMode::kCreate);
  if (!marker.ok()) return marker.status();
  if (absl::Status s = (*marker)->Sync(); !s.ok()) return s;
  return disk.SyncDir(dir);
}

}  // namespace meridian::core::replica
