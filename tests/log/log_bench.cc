// log_bench: the log's append and read throughput on the real disk, next to the raw
// pwrite+fdatasync rate of the same machine with the same sizes, measured in the same run.
//
//   bazel run -c opt //tests/log:log_bench -- [dir] [megabytes_per_case]
//
// The bench works in a fresh run-XXXXXX directory inside dir (default /var/tmp/meridian-log-bench;
// it must be on a real disk: on tmpfs fdatasync is free) and removes only that directory.
// Cases, for each batch size:
//   raw             pwrite(batch) + fdatasync, one after the other: the disk's honest rate.
//   via io::File    the same through io/posix (fdatasync on its helper thread): the hand-off.
//   log, 1 writer   Append + WaitDurable one batch at a time: one fsync per batch, like raw.
//   log, N writers  N fibers each Append + WaitDurable: group commit shares fsyncs.
// Then reads: from the tail cache, and from the files after reopening with the page cache
// dropped (posix_fadvise DONTNEED) for the segment files.
#include <fcntl.h>
#include <fmt/format.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/log/log.h"
#include "io/posix/posix_runtime.h"

namespace meridian::tests::log {
namespace {

using core::Offset;
using core::log::Log;

struct Rate {
  double seconds = 0;
  uint64_t bytes = 0;
  uint64_t batches = 0;
  uint64_t fsyncs = 0;
  double mb_per_s() const { return bytes / seconds / 1e6; }
  double batches_per_s() const { return batches / seconds; }
};

double Seconds(io::Instant from, io::Instant to) { return (to - from).count() / 1e9; }

// Appends `total_bytes` to `fd` (from `*offset` on) in pwrite + fdatasync pairs.
Rate RawWriteSync(io::Runtime& rt, int fd, uint64_t* offset, size_t batch_bytes,
                  uint64_t total_bytes) {
  std::vector<uint8_t> buffer(batch_bytes, 0x5a);
  Rate rate;
  const io::Instant start = rt.Now();
  for (uint64_t written = 0; written < total_bytes; written += batch_bytes) {
    if (pwrite(fd, buffer.data(), buffer.size(), static_cast<off_t>(*offset)) !=
        ssize_t(batch_bytes)) {
      break;
    }
    if (fdatasync(fd) != 0) break;
    *offset += batch_bytes;
    rate.bytes += batch_bytes;
    rate.batches++;
    rate.fsyncs++;
  }
  rate.seconds = Seconds(start, rt.Now());
  return rate;
}

// The same pairs through io::File (pwrite inline, fdatasync on io/posix's helper thread): the
// difference to RawWriteSync is the runtime's fsync hand-off, which the log pays too.
Rate FileWriteSync(io::Runtime& rt, io::File& file, uint64_t* offset, size_t batch_bytes,
                   uint64_t total_bytes) {
  std::vector<uint8_t> buffer(batch_bytes, 0x5a);
  Rate rate;
  const io::Instant start = rt.Now();
  for (uint64_t written = 0; written < total_bytes; written += batch_bytes) {
    if (!file.WriteAt(*offset, buffer).ok() || !file.Sync().ok()) break;
    *offset += batch_bytes;
    rate.bytes += batch_bytes;
    rate.batches++;
    rate.fsyncs++;
  }
  rate.seconds = Seconds(start, rt.Now());
  return rate;
}

// The default 16 MiB tail cache: a larger one would keep every appended buffer alive and make
// each append fault in fresh memory, which is not what a running broker does.
core::log::LogOptions BenchOptions(const std::string& dir) {
  return core::log::LogOptions{.dir = dir, .segment_bytes_max = 256ull << 20};
}

// `writers` fibers append batches of `batch_bytes` and wait for each to be durable.
Rate LogAppend(io::Runtime& rt, Log& log, int writers, size_t batch_bytes, uint64_t total_bytes) {
  const std::vector<uint8_t> payload(batch_bytes - core::log::kBatchHeaderBytes, 0x5a);
  const uint64_t batches_total = total_bytes / batch_bytes;
  const uint64_t syncs_before = log.metrics().file_syncs;
  uint64_t appended = 0;
  std::vector<io::FiberId> fibers;
  const io::Instant start = rt.Now();
  for (int w = 0; w < writers; w++) {
    fibers.push_back(rt.Spawn("writer", [&] {
      while (appended < batches_total) {
        appended++;
        absl::StatusOr<Offset> offset =
            log.Append(core::log::BatchMeta{.record_count = 1}, payload);
        if (!offset.ok() || !log.WaitDurable(*offset).ok()) {
          fmt::print(stderr, "append failed\n");
          return;
        }
      }
    }));
  }
  for (io::FiberId fiber : fibers) rt.scheduler().Join(fiber);
  Rate rate;
  rate.seconds = Seconds(start, rt.Now());
  rate.batches = batches_total;
  rate.bytes = batches_total * batch_bytes;
  rate.fsyncs = log.metrics().file_syncs - syncs_before;
  return rate;
}

// Reads [from, end) `passes` times.
Rate ReadAllOf(io::Runtime& rt, Log& log, uint64_t bytes_max, Offset from, int passes = 1) {
  Rate rate;
  const io::Instant start = rt.Now();
  for (int pass = 0; pass < passes; pass++) {
    Offset next = from;
    while (next < log.end_offset()) {
      absl::StatusOr<core::log::ReadResult> read = log.Read(next, bytes_max);
      if (!read.ok()) {
        fmt::print(stderr, "read failed: {}\n", read.status().ToString());
        break;
      }
      rate.bytes += read->bytes;
      rate.batches += read->batches.size();
      next = read->next_offset;
    }
  }
  rate.seconds = Seconds(start, rt.Now());
  return rate;
}

void DropPageCache(const std::string& dir) {
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const int fd = open(entry.path().c_str(), O_RDONLY);
    if (fd < 0) continue;
    fdatasync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
  }
}

void PrintRate(const char* what, const Rate& rate, const Rate* raw) {
  fmt::print("  {:<30} {:10.1f} MB/s {:10.0f} batches/s {:8} fsyncs", what, rate.mb_per_s(),
             rate.batches_per_s(), rate.fsyncs);
  if (raw != nullptr) fmt::print("   {:5.2f}x raw", rate.mb_per_s() / raw->mb_per_s());
  fmt::print("\n");
}

void Add(Rate& sum, const Rate& part) {
  sum.seconds += part.seconds;
  sum.bytes += part.bytes;
  sum.batches += part.batches;
  sum.fsyncs += part.fsyncs;
}

void ReadBench(io::Runtime& rt, const std::string& root, const std::string& dir, Log& log) {
  // The last 12 MiB (in the 16 MiB cache), 100 times. Cache reads hand out references to the
  // appended buffers: no byte is copied, so MB/s here is "bytes made available".
  const uint64_t cached_batches = (12ull << 20) / (64 << 10);
  const Offset tail(log.end_offset().value() - cached_batches);
  const uint64_t hits_before = log.metrics().cache_hits;
  const Rate cached = ReadAllOf(rt, log, 1 << 20, tail, 100);
  PrintRate("read, tail cache (no copy)", cached, nullptr);
  if (log.metrics().cache_misses > 0) fmt::print(stderr, "cache missed in the cache bench\n");
  fmt::print("    ({} reads, all cache hits)\n", log.metrics().cache_hits - hits_before);
  DropPageCache(root + "/" + dir);
  const uint64_t log_bytes = log.size_bytes();
  const io::Instant open_start = rt.Now();
  absl::StatusOr<std::unique_ptr<Log>> reopened = Log::Open(rt, rt.disk(), BenchOptions(dir));
  if (!reopened.ok()) return;
  // Recovery reads and CRC-checks every segment (page cache cold): its cost per byte.
  const double open_s = Seconds(open_start, rt.Now());
  fmt::print("  {:<30} {:10.1f} MB/s  ({} MB in {:.3f} s)\n", "recovery scan at open (cold)",
             log_bytes / open_s / 1e6, log_bytes / 1000000, open_s);
  DropPageCache(root + "/" + dir);
  const Offset start = (*reopened)->start_offset();
  PrintRate("read, disk (cold)", ReadAllOf(rt, **reopened, 1 << 20, start), nullptr);
  PrintRate("read, disk (page cache)", ReadAllOf(rt, **reopened, 1 << 20, start), nullptr);
}

// The raw disk and the log take turns, in kRounds rounds, so that drift in the disk's speed (a
// VM's virtual disk drifts a lot, within seconds) hits all of them alike.
void Bench(io::Runtime& rt, const std::string& root, uint64_t megabytes) {
  constexpr int kRounds = 8;
  constexpr int kWritersMany = 16;
  for (size_t batch_bytes : {size_t{4} << 10, size_t{64} << 10, size_t{1} << 20}) {
    // 4 KiB batches are fsync-bound: a quarter of the bytes.
    const uint64_t total_bytes = (megabytes << 20) / (batch_bytes < (size_t{64} << 10) ? 4 : 1);
    const uint64_t round_bytes = total_bytes / kRounds;
    fmt::print("batch {} KiB, {} MiB per case in {} rounds\n", batch_bytes >> 10, total_bytes >> 20,
               kRounds);
    const std::string raw_path = root + "/raw.bin";
    const int fd = open(raw_path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
    uint64_t raw_offset = 0;
    absl::StatusOr<std::unique_ptr<Log>> one = Log::Open(rt, rt.disk(), BenchOptions("one"));
    absl::StatusOr<std::unique_ptr<Log>> many = Log::Open(rt, rt.disk(), BenchOptions("many"));
    if (fd < 0 || !one.ok() || !many.ok()) {
      fmt::print(stderr, "setup failed\n");
      return;
    }
    absl::StatusOr<std::unique_ptr<io::File>> file =
        rt.disk().Open("file.bin", io::OpenMode::kCreate);
    if (!file.ok()) return;
    uint64_t file_offset = 0;
    // The log's batches start after a 32-byte segment header, so they straddle pages; the same
    // raw pattern shifted by 32 bytes shows what that alone costs.
    const std::string shifted_path = root + "/raw-shifted.bin";
    const int shifted_fd = open(shifted_path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
    uint64_t shifted_offset = core::log::kSegmentHeaderBytes;
    Rate raw, raw_shifted, via_file, log_one, log_many;
    for (int round = 0; round < kRounds; round++) {
      Add(raw, RawWriteSync(rt, fd, &raw_offset, batch_bytes, round_bytes));
      Add(raw_shifted, RawWriteSync(rt, shifted_fd, &shifted_offset, batch_bytes, round_bytes));
      Add(via_file, FileWriteSync(rt, **file, &file_offset, batch_bytes, round_bytes));
      Add(log_one, LogAppend(rt, **one, 1, batch_bytes, round_bytes));
      Add(log_many, LogAppend(rt, **many, kWritersMany, batch_bytes, round_bytes));
    }
    close(fd);
    unlink(raw_path.c_str());
    close(shifted_fd);
    unlink(shifted_path.c_str());
    file->reset();
    (void)rt.disk().Remove("file.bin");
    PrintRate("raw pwrite+fdatasync", raw, nullptr);
    PrintRate("raw, shifted 32 B (unaligned)", raw_shifted, &raw);
    PrintRate("raw via io::File", via_file, &raw);
    PrintRate("log append, 1 writer", log_one, &raw);
    PrintRate(fmt::format("log append, {} writers", kWritersMany).c_str(), log_many, &raw);
    if (batch_bytes == (size_t{64} << 10)) ReadBench(rt, root, "many", **many);
    one->reset();
    many->reset();
    std::filesystem::remove_all(root + "/one");
    std::filesystem::remove_all(root + "/many");
  }
}

}  // namespace
}  // namespace meridian::tests::log

int main(int argc, char** argv) {
  using namespace meridian;
  const std::string parent = argc > 1 ? argv[1] : "/var/tmp/meridian-log-bench";
  const uint64_t megabytes = argc > 2 ? std::stoull(argv[2]) : 64;
  // Work in a fresh directory of our own inside `parent`, and remove only that one.
  std::filesystem::create_directories(parent);
  std::string pattern = parent + "/run-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    fmt::print(stderr, "cannot create a directory in {}\n", parent);
    return 1;
  }
  const std::string root = pattern;
  absl::StatusOr<std::unique_ptr<io::posix::PosixRuntime>> rt =
      io::posix::PosixRuntime::Create({.node = io::NodeId(1), .data_dir = root});
  if (!rt.ok()) {
    fmt::print(stderr, "runtime: {}\n", rt.status().ToString());
    return 1;
  }
  (*rt)->Spawn("bench", [&] {
    tests::log::Bench(**rt, root, megabytes);
    (*rt)->Stop();
  });
  (*rt)->Run();
  std::filesystem::remove_all(root);
  return 0;
}
