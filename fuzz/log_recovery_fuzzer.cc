// Fuzz target: recovering a log (core/log/log.h, Log::Open) from whatever bytes a disk holds —
// torn writes, bit rot, misdirected writes, files from another program. Recovery must answer
// with a log (cut at the first bad byte, the loss reported) or a status, never crash; and the
// log it opens must then behave: every offset it claims is readable, it takes an append, and a
// second Open of the same disk agrees with the first.
//
// Input: the contents of one log directory on a simulated disk (sim::SimDisk, one sim::World per
// input, so each run is deterministic):
//   - the input is split before every occurrence of the segment magic "MRDNSEG\0" (FORMAT.md);
//     each piece is one segment file, named after the base offset its header claims (bytes
//     16-23), or, if that name is taken or the piece is too short, after its predecessor's
//     base + 1; at most kSegmentsMax pieces, the rest is ignored;
//   - a piece that starts with "LOST" is written, without those 4 bytes, as the loss record
//     (FORMAT.md "Loss record") instead of as a segment.
// The first segment file also goes through core::log::RecoverFromBytes (the pure scan).
// Seeds: fuzz/corpus/log_recovery (make_corpus.cc: real logs, written through Log::Append).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "core/log/log.h"
#include "core/log/segment_scan.h"
#include "fuzz/one_sim_node.h"
#include "io/assert.h"
#include "sim/sim_disk.h"
#include "sim/world.h"

namespace meridian::fuzz {
namespace {

using core::Offset;
using core::log::Log;

constexpr size_t kSegmentsMax = 8;
constexpr char kDir[] = "log";

struct LogDirectory {
  absl::btree_map<std::string, std::vector<uint8_t>> files;  // name -> contents
};

uint64_t ClaimedBase(std::span<const uint8_t> piece, uint64_t fallback) {
  if (piece.size() < 24) return fallback;
  uint64_t base = 0;
  for (int i = 0; i < 8; i++) base |= uint64_t{piece[16 + i]} << (8 * i);
  return base;
}

LogDirectory Split(std::span<const uint8_t> input) {
  const std::span<const uint8_t> magic(core::log::kSegmentMagic);
  std::vector<std::span<const uint8_t>> pieces;
  size_t start = 0;
  for (size_t i = 1; i + magic.size() <= input.size(); i++) {
    if (std::memcmp(input.data() + i, magic.data(), magic.size()) != 0) continue;
    pieces.push_back(input.subspan(start, i - start));
    start = i;
  }
  pieces.push_back(input.subspan(start));
  LogDirectory dir;
  uint64_t previous = 0;
  for (size_t i = 0; i < pieces.size() && i < kSegmentsMax; i++) {
    std::span<const uint8_t> piece = pieces[i];
    if (piece.size() >= 4 && std::memcmp(piece.data(), "LOST", 4) == 0) {
      piece = piece.subspan(4);
      dir.files[core::log::kLossRecordFileName].assign(piece.begin(), piece.end());
      continue;
    }
    uint64_t base = ClaimedBase(piece, previous + 1);
    std::string name = core::log::SegmentFileName(Offset(base));
    if (dir.files.contains(name)) {
      base = previous + 1;
      name = core::log::SegmentFileName(Offset(base));
    }
    if (dir.files.contains(name)) continue;
    dir.files[name].assign(piece.begin(), piece.end());
    previous = base;
  }
  return dir;
}

absl::Status WriteDirectory(io::Disk& disk, const LogDirectory& dir) {
  if (absl::Status s = disk.CreateDir(kDir); !s.ok()) return s;
  if (absl::Status s = disk.SyncDir(""); !s.ok()) return s;
  for (const auto& [name, bytes] : dir.files) {
    auto file = disk.Open(std::string(kDir) + "/" + name, io::OpenMode::kCreateNew);
    if (!file.ok()) return file.status();
    if (absl::Status s = (*file)->WriteAt(0, bytes); !s.ok()) return s;
    if (absl::Status s = (*file)->Sync(); !s.ok()) return s;
  }
  return disk.SyncDir(kDir);
}

core::log::LogOptions Options() {
  core::log::LogOptions options;
  options.dir = kDir;
  options.segment_bytes_max = Log::kSegmentBytesMin;  // Rolls on small logs too.
  options.index_interval_bytes = core::log::SparseIndex::kIntervalBytesMin;  // Densest index.
  return options;
}

// Every offset the log claims is readable, batch by batch, contiguously.
void ReadEverything(Log& log) {
  Offset at = log.start_offset();
  while (at < log.end_offset()) {
    absl::StatusOr<core::log::ReadResult> read = log.Read(at, 64 << 10);
    MERIDIAN_CHECK(read.ok(), "recovered offset {} unreadable: {}", at.value(),
                   read.status().ToString());
    MERIDIAN_CHECK(!read->batches.empty());
    MERIDIAN_CHECK(read->batches.front().header.base_offset <= at);
    MERIDIAN_CHECK(read->next_offset > at);
    at = read->next_offset;
  }
  MERIDIAN_CHECK(at == log.end_offset());
}

// Runs on the node's fiber: write the directory, recover it, use it, recover it again.
void RecoverAndUse(io::Runtime& rt, const LogDirectory& dir) {
  MERIDIAN_CHECK(WriteDirectory(rt.disk(), dir).ok());
  core::log::RecoveryReport report;
  absl::StatusOr<std::unique_ptr<Log>> log = Log::Open(rt, rt.disk(), Options(), &report);
  if (!log.ok()) return;  // Refused with a status (a newer version, a bad name): fine.
  MERIDIAN_CHECK(report.start_offset == (*log)->start_offset());
  MERIDIAN_CHECK(report.end_offset == (*log)->end_offset());
  MERIDIAN_CHECK((*log)->durable_end_offset() == (*log)->end_offset());
  ReadEverything(**log);
  const Offset end = (*log)->end_offset();
  const std::vector<uint8_t> payload(16, 0x5a);
  absl::StatusOr<Offset> appended =
      (*log)->Append(core::log::BatchMeta{.record_count = 1}, payload);
  if (!appended.ok()) return;  // The offset space is exhausted: refused, not crashed.
  MERIDIAN_CHECK(*appended == end);
  MERIDIAN_CHECK((*log)->Sync().ok());
  ReadEverything(**log);
  log->reset();
  core::log::RecoveryReport second;
  absl::StatusOr<std::unique_ptr<Log>> reopened = Log::Open(rt, rt.disk(), Options(), &second);
  MERIDIAN_CHECK(reopened.ok(), "a log this build wrote does not reopen: {}",
                 reopened.status().ToString());
  MERIDIAN_CHECK((*reopened)->end_offset() == Offset(end.value() + 1));
  MERIDIAN_CHECK(second.cut == report.cut, "the second recovery found new damage: {}",
                 second.ToString());
  ReadEverything(**reopened);
}

void Run(std::span<const uint8_t> input) {
  const LogDirectory dir = Split(input);
  if (!dir.files.empty()) (void)core::log::RecoverFromBytes(dir.files.begin()->second);
  RunOnOneSimNode([&](io::Runtime& rt) { RecoverAndUse(rt, dir); });
}

}  // namespace
}  // namespace meridian::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  meridian::fuzz::Run(std::span<const uint8_t>(data, size));
  return 0;
}
