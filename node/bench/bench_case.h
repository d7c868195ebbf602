// meridian-bench's vocabulary: a Case (what is driven), a SideResult (what one system did in it),
// latency samples and their percentiles, the CPU time of processes, and the report (the table
// and one JSON line per case). Shared by the Meridian and JetStream drivers so both measure the
// same cases the same way.
//
// What stays true: a SideResult with `ok == false` carries a reason and no rate is reported for
// it (a case that loses an acknowledged record is a failure, never a figure); `in_flight` is the
// total window over all producers of the case, split evenly (each producer >= 1).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace meridian::node::bench {

enum class Acks { kQuorum, kLeader };
const char* AcksName(Acks acks);

struct Case {
  uint32_t record_bytes = 1024;
  uint32_t in_flight = 1;  // Records in flight, summed over the producers.
  Acks acks = Acks::kQuorum;
  uint32_t producers = 1;  // Each writes its own partition (Meridian) or stream (JetStream).
  std::string Name() const;
};

// "SIZE:INFLIGHT:ACKS:PRODUCERS,..." (e.g. "1024:256:quorum:1"); empty on a malformed spec.
std::vector<Case> ParseCases(const std::string& spec);
std::vector<Case> DefaultCases();
std::vector<Case> QuickCases();

// Latencies in nanoseconds; percentiles in milliseconds (0 when empty).
struct LatencySamples {
  std::vector<int64_t> nanos;
  double PercentileMs(double q) const;  // Sorts a copy.
};

struct SideResult {
  bool ran = false;
  bool ok = false;
  std::string failure;        // Why not ok.
  std::string durability;     // The fsync policy that stood behind each ack.
  uint64_t acknowledged = 0;  // Records acked in the timed phase (and the warm-up).
  uint64_t read_back = 0;     // Distinct acknowledged records found by the read-back.
  uint64_t duplicates = 0;    // Records read back more than once.
  double produce_seconds = 0;
  double records_per_s = 0;
  double mb_per_s = 0;
  double p50_ms = 0, p99_ms = 0, p999_ms = 0;
  double consume_records_per_s = 0;  // Read-back from the beginning to the end.
  double consume_mb_per_s = 0;
  double server_cpu_us_per_record = 0;           // User + system CPU of the server processes.
  double client_cpu_us_per_record = 0;           // Of this process, during the timed phase.
  std::optional<double> e2e_p50_ms, e2e_p99_ms;  // Produce-to-consume, when measured.
};

struct CaseResult {
  Case what;
  SideResult meridian;
  SideResult jetstream;
};

// Seconds of user + system CPU of `pid` so far (from /proc/PID/stat); 0 if unreadable.
double ProcessCpuSeconds(pid_t pid);
double SelfCpuSeconds();
double MonotonicSeconds();

// CPU of the server processes and of this process from construction to Finish, per record.
class CpuMeter {
 public:
  explicit CpuMeter(std::vector<pid_t> server_pids);
  void Finish(uint64_t records, SideResult& side) const;

 private:
  const std::vector<pid_t> server_pids_;
  std::vector<double> server_before_;
  double self_before_ = 0;
};

// Fills the rates and percentiles of `side` from what the driver counted.
void Summarize(const Case& what, const LatencySamples& latencies, SideResult& side);

void PrintTable(const std::vector<CaseResult>& results, bool peer_ran);
// One JSON line per case, with at least the keys issue 14 names (jetstream keys null when no
// peer ran or the case does not apply to it).
std::string JsonLine(const CaseResult& result);

}  // namespace meridian::node::bench
