// log_bench: the log's append and read throughput on the real disk, next to the raw
// pwrite+fdatasync rate of the same machine with the same sizes, measured in the same run.
//
//   bazel run -c opt //tests/log:log_bench -- [dir] [megabytes_per_case]
//
// dir defaults to /var/tmp/meridian-log-bench (must be a real disk: on tmpfs fdatasync is free).
// Cases, for each batch size:
//   raw             pwrite(batch) + fdatasync, one after the other: the disk's honest rate.
//   log, 1 writer   Append + WaitDurable one batch at a time: one fsync per batch, like raw.
//   log, N writers  N fibers each Append + WaitDurable: group commit shares fsyncs.
// Then reads: from the tail cache, and from the files after reopening with the page cache
// dropped (posix_fadvise DONTNEED) for the segment files.
#include <fcntl.h>
#include <fmt/format.h>
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

Rate RawWriteSync(io::Runtime& rt, const std::string& path, size_t batch_bytes,
                  uint64_t total_bytes) {
  const int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
  if (fd < 0) return {};
  std::vector<uint8_t> buffer(batch_bytes, 0x5a);
  Rate rate;
  const io::Instant start = rt.Now();
  for (uint64_t offset = 0; offset < total_bytes; offset += batch_bytes) {
    if (pwrite(fd, buffer.data(), buffer.size(), static_cast<off_t>(offset)) !=
        ssize_t(batch_bytes))
      break;
    if (fdatasync(fd) != 0) break;
    rate.bytes += batch_bytes;
    rate.batches++;
    rate.fsyncs++;
  }
  rate.seconds = Seconds(start, rt.Now());
  close(fd);
  unlink(path.c_str());
  return rate;
}

core::log::LogOptions BenchOptions(const std::string& dir) {
  return core::log::LogOptions{
      .dir = dir, .segment_bytes_max = 256ull << 20, .cache_bytes_max = 1ull << 30};
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

Rate ReadAllOf(io::Runtime& rt, Log& log, uint64_t bytes_max) {
  Rate rate;
  const io::Instant start = rt.Now();
  Offset next = log.start_offset();
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

// The mean of two raw runs, one before and one after the log's runs, so that drift in the
// disk's speed (a VM's virtual disk drifts a lot) does not flatter either side.
Rate MeanOf(const Rate& a, const Rate& b) {
  return Rate{a.seconds + b.seconds, a.bytes + b.bytes, a.batches + b.batches, a.fsyncs + b.fsyncs};
}

void Bench(io::Runtime& rt, const std::string& root, uint64_t megabytes) {
  int case_number = 0;
  for (size_t batch_bytes : {size_t{4} << 10, size_t{64} << 10, size_t{1} << 20}) {
    // 4 KiB batches are fsync-bound at a few hundred per second: a quarter of the bytes.
    const uint64_t total_bytes = (megabytes << 20) / (batch_bytes < (size_t{64} << 10) ? 4 : 1);
    fmt::print("batch {} KiB, {} MiB per case\n", batch_bytes >> 10, total_bytes >> 20);
    const Rate raw_before = RawWriteSync(rt, root + "/raw.bin", batch_bytes, total_bytes);
    Rate raw = raw_before;
    std::vector<std::pair<std::string, Rate>> log_rates;
    for (int writers : {1, 16}) {
      const std::string dir = fmt::format("log{}", case_number++);
      absl::StatusOr<std::unique_ptr<Log>> log = Log::Open(rt, rt.disk(), BenchOptions(dir));
      if (!log.ok()) {
        fmt::print(stderr, "open: {}\n", log.status().ToString());
        return;
      }
      const Rate rate = LogAppend(rt, **log, writers, batch_bytes, total_bytes);
      log_rates.emplace_back(fmt::format("log append, {} writer(s)", writers), rate);
      if (writers == 16 && batch_bytes == (size_t{64} << 10)) {
        // Cache reads hand out references to the appended buffers: no byte is copied.
        PrintRate("read, tail cache (no copy)", ReadAllOf(rt, **log, 1 << 20), nullptr);
        log->reset();
        DropPageCache(root + "/" + dir);
        absl::StatusOr<std::unique_ptr<Log>> reopened = Log::Open(rt, rt.disk(), BenchOptions(dir));
        DropPageCache(root + "/" + dir);
        if (reopened.ok())
          PrintRate("read, disk (cold)", ReadAllOf(rt, **reopened, 1 << 20), nullptr);
        if (reopened.ok())
          PrintRate("read, disk (page cache)", ReadAllOf(rt, **reopened, 1 << 20), nullptr);
      }
      log->reset();
      std::filesystem::remove_all(root + "/" + dir);
    }
    const Rate raw_after = RawWriteSync(rt, root + "/raw.bin", batch_bytes, total_bytes);
    PrintRate("raw, before the log runs", raw_before, nullptr);
    PrintRate("raw, after the log runs", raw_after, nullptr);
    raw = MeanOf(raw_before, raw_after);
    PrintRate("raw, both (the ratio's base)", raw, nullptr);
    for (const auto& [what, rate] : log_rates) PrintRate(what.c_str(), rate, &raw);
  }
}

}  // namespace
}  // namespace meridian::tests::log

int main(int argc, char** argv) {
  using namespace meridian;
  const std::string root = argc > 1 ? argv[1] : "/var/tmp/meridian-log-bench";
  const uint64_t megabytes = argc > 2 ? std::stoull(argv[2]) : 64;
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root);
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
