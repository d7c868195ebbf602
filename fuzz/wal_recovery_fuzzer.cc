// Fuzz target: recovering the node-wide WAL (core/log/wal.h) and the durable-mark table
// (core/replica/mark_table.h) from whatever bytes a disk holds. The WAL must open (cut at its
// first bad record) or fail with a status, and a Log over it must redo whatever history the
// records describe (or refuse an inconsistent one with a status), never crash; the log it opens
// must then take an append, make it durable and read back. The same bytes decoded as a
// mark-table image must be an image or DataLoss / FailedPrecondition.
//
// Input: the contents of one WAL file, wal/wal-0000000000000001.log, on a simulated disk (one
// sim::World per input). The directory "g/log" exists, so records of group "g/log" are
// replayed into it (records of other groups are dropped as removed groups).
// Seeds: fuzz/corpus/wal_recovery (WAL files a Log over the WAL wrote: appends, truncations,
// resets and bases).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/log/log.h"
#include "core/log/wal.h"
#include "core/replica/mark_table.h"
#include "fuzz/one_sim_node.h"
#include "io/assert.h"
#include "sim/sim_disk.h"
#include "sim/world.h"

namespace meridian::fuzz {
namespace {

using core::Offset;
using core::log::Log;

constexpr char kGroup[] = "g/log";

void Write(io::Disk& disk, const std::string& path, std::span<const uint8_t> bytes) {
  absl::StatusOr<std::unique_ptr<io::File>> file = disk.Open(path, io::OpenMode::kCreate);
  MERIDIAN_CHECK(file.ok());
  MERIDIAN_CHECK((*file)->WriteAt(0, bytes).ok());
  MERIDIAN_CHECK((*file)->Sync().ok());
}

void RecoverAndUse(io::Runtime& rt, std::span<const uint8_t> input) {
  io::Disk& disk = rt.disk();
  for (const char* dir : {"wal", "g", "g/log"}) MERIDIAN_CHECK(disk.CreateDir(dir).ok());
  Write(disk, "wal/wal-0000000000000001.log", input);
  absl::StatusOr<std::shared_ptr<core::log::Wal>> wal =
      core::log::Wal::Open(rt, disk, core::log::WalOptions{});
  if (!wal.ok()) return;
  absl::StatusOr<std::unique_ptr<Log>> log =
      Log::Open(rt, disk, core::log::LogOptions{.dir = kGroup, .wal = *wal});
  if (!log.ok()) return;  // An inconsistent history is refused with a status.
  const Offset end = (*log)->end_offset();
  const std::vector<uint8_t> payload = {1, 2, 3};
  absl::StatusOr<Offset> appended = (*log)->Append(core::log::BatchMeta{}, payload);
  if (!appended.ok()) return;  // The offsets may be exhausted by what the records claimed.
  MERIDIAN_CHECK(*appended == end);
  MERIDIAN_CHECK((*log)->WaitDurable(end).ok());
  absl::StatusOr<core::log::ReadResult> read = (*log)->Read(end, 1 << 20);
  MERIDIAN_CHECK(read.ok() && !read->batches.empty(), "the batch just appended reads back");
}

void Run(std::span<const uint8_t> input) {
  (void)core::log::DecodeWalRecord(input);
  (void)core::replica::DecodeMarkTableImage(input);
  RunOnOneSimNode([&](io::Runtime& rt) { RecoverAndUse(rt, input); });
}

}  // namespace
}  // namespace meridian::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  meridian::fuzz::Run(std::span<const uint8_t>(data, size));
  return 0;
}
