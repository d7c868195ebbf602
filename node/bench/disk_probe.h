// bench::ProbeDisk: the physical limit under both systems: appending pwrite + fdatasync of one
// write size to a fresh file in `dir` (the filesystem the nodes write to), repeated for about
// `budget` or `writes_max` writes, whichever comes first. What a log that fsyncs before every
// ack can do at best per fsync on this disk, before replication and any software.
// Threading: the main thread; blocking syscalls.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace meridian::node::bench {

struct DiskProbeResult {
  uint32_t write_bytes = 0;
  uint32_t writes = 0;
  double p50_ms = 0, p99_ms = 0;
  double mb_per_s = 0;  // Bytes written / elapsed, one write + fdatasync at a time.
  double syncs_per_s = 0;
  std::string error;  // Non-empty when the probe could not run.
};

// Append sizes the log writes: a one-record batch of 100 B or 1 KiB up to a full 64 KiB
// producer batch, and the 1 MiB raft entry limit.
inline const std::vector<uint32_t> kDiskProbeBytes = {4096, 16384, 65536, 262144, 1 << 20};

std::vector<DiskProbeResult> ProbeDisk(const std::string& dir, std::chrono::milliseconds budget,
                                       uint32_t writes_max = 2000);

}  // namespace meridian::node::bench
