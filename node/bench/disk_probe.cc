// bench::ProbeDisk (disk_probe.h): pwrite + fdatasync at the log's write sizes.
#include "node/bench/disk_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstring>

#include "node/bench/bench_case.h"

namespace meridian::node::bench {

std::vector<DiskProbeResult> ProbeDisk(const std::string& dir, std::chrono::milliseconds budget,
                                       uint32_t writes_max) {
  std::vector<DiskProbeResult> results;
  for (uint32_t bytes : kDiskProbeBytes) {
    DiskProbeResult result{.write_bytes = bytes};
    const std::string path = fmt::format("{}/fsync-probe-{}", dir, bytes);
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      result.error = fmt::format("open {}: {}", path, strerror(errno));
      results.push_back(result);
      continue;
    }
    const std::string block(bytes, 'm');
    LatencySamples latencies;
    const double start = MonotonicSeconds();
    uint64_t offset = 0;
    while (result.writes < writes_max && MonotonicSeconds() - start < budget.count() / 1e3) {
      const double before = MonotonicSeconds();
      if (pwrite(fd, block.data(), bytes, static_cast<off_t>(offset)) !=
              static_cast<ssize_t>(bytes) ||
          fdatasync(fd) != 0) {
        result.error = fmt::format("pwrite/fdatasync: {}", strerror(errno));
        break;
      }
      latencies.nanos.push_back(static_cast<int64_t>((MonotonicSeconds() - before) * 1e9));
      offset += bytes;
      result.writes++;
    }
    const double elapsed = MonotonicSeconds() - start;
    close(fd);
    unlink(path.c_str());
    result.p50_ms = latencies.PercentileMs(0.5);
    result.p99_ms = latencies.PercentileMs(0.99);
    if (elapsed > 0) {
      result.syncs_per_s = result.writes / elapsed;
      result.mb_per_s = static_cast<double>(offset) / elapsed / 1e6;
    }
    results.push_back(result);
  }
  return results;
}

}  // namespace meridian::node::bench
