// meridian-bench's cases, percentiles, CPU accounting and report (bench_case.h).
#include "node/bench/bench_case.h"

#include <fmt/format.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "io/assert.h"

namespace meridian::node::bench {

const char* AcksName(Acks acks) { return acks == Acks::kQuorum ? "quorum" : "leader"; }

std::string Case::Name() const {
  return fmt::format("{}B x{} {} p{}", record_bytes, in_flight, AcksName(acks), producers);
}

std::vector<Case> ParseCases(const std::string& spec) {
  std::vector<Case> cases;
  for (absl::string_view item : absl::StrSplit(spec, ',', absl::SkipEmpty())) {
    std::vector<absl::string_view> parts = absl::StrSplit(item, ':');
    Case one;
    if (parts.size() != 4 || !absl::SimpleAtoi(parts[0], &one.record_bytes) ||
        !absl::SimpleAtoi(parts[1], &one.in_flight) ||
        !absl::SimpleAtoi(parts[3], &one.producers) ||
        (parts[2] != "quorum" && parts[2] != "leader") || one.record_bytes < 32 ||
        one.record_bytes > (512 << 10) || one.in_flight == 0 || one.in_flight > 65536 ||
        one.producers == 0 || one.producers > 64) {
      return {};
    }
    one.acks = parts[2] == "quorum" ? Acks::kQuorum : Acks::kLeader;
    cases.push_back(one);
  }
  return cases;
}

std::vector<Case> DefaultCases() {
  std::vector<Case> cases;
  for (uint32_t bytes : {100u, 1024u}) {
    for (uint32_t in_flight : {1u, 16u, 256u, 1024u}) {
      cases.push_back({bytes, in_flight, Acks::kQuorum, 1});
    }
  }
  for (uint32_t in_flight : {1u, 16u, 256u, 1024u}) {
    cases.push_back({1024, in_flight, Acks::kLeader, 1});
  }
  for (uint32_t in_flight : {16u, 256u, 1024u})
    cases.push_back({1024, in_flight, Acks::kQuorum, 4});
  return cases;
}

std::vector<Case> QuickCases() {
  return {{100, 1, Acks::kQuorum, 1}, {1024, 16, Acks::kQuorum, 2}, {1024, 16, Acks::kLeader, 1}};
}

double LatencySamples::PercentileMs(double q) const {
  if (nanos.empty()) return 0;
  std::vector<int64_t> sorted = nanos;
  const size_t rank = static_cast<size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<ptrdiff_t>(rank), sorted.end());
  return static_cast<double>(sorted[rank]) / 1e6;
}

double ProcessCpuSeconds(pid_t pid) {
  std::ifstream file(fmt::format("/proc/{}/stat", pid));
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  // Fields after the command (which may hold spaces) start after the last ')'.
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int index = 3; rest >> field; index++) {
    if (index == 14 || index == 15) ticks += std::stod(field);  // utime, stime
    if (index == 15) break;
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double SelfCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

double MonotonicSeconds() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

CpuMeter::CpuMeter(std::vector<pid_t> server_pids) : server_pids_(std::move(server_pids)) {
  for (pid_t pid : server_pids_) server_before_.push_back(ProcessCpuSeconds(pid));
  self_before_ = SelfCpuSeconds();
}

void CpuMeter::Finish(uint64_t records, SideResult& side) const {
  MERIDIAN_CHECK(server_before_.size() == server_pids_.size());
  double server = 0;
  for (size_t i = 0; i < server_pids_.size(); i++) {
    server += ProcessCpuSeconds(server_pids_[i]) - server_before_[i];
  }
  const double count = std::max<double>(1, static_cast<double>(records));
  side.server_cpu_us_per_record = server * 1e6 / count;
  side.client_cpu_us_per_record = (SelfCpuSeconds() - self_before_) * 1e6 / count;
}

void Summarize(const Case& what, const LatencySamples& latencies, SideResult& side) {
  MERIDIAN_CHECK(side.ran);
  if (side.produce_seconds > 0) {
    side.records_per_s = static_cast<double>(latencies.nanos.size()) / side.produce_seconds;
    side.mb_per_s = side.records_per_s * what.record_bytes / 1e6;
  }
  side.p50_ms = latencies.PercentileMs(0.5);
  side.p99_ms = latencies.PercentileMs(0.99);
  side.p999_ms = latencies.PercentileMs(0.999);
  if (side.ok && side.read_back != side.acknowledged) {
    side.ok = false;
    side.failure =
        fmt::format("{} acknowledged records, {} read back", side.acknowledged, side.read_back);
  }
  if (side.ok && side.duplicates > 0) {
    side.ok = false;
    side.failure = fmt::format("{} records read back more than once", side.duplicates);
  }
}

namespace {

std::string Rate(const SideResult& side) {
  if (!side.ran) return "-";
  if (!side.ok) return "FAILED";
  return fmt::format("{:.0f}", side.records_per_s);
}

std::string Number(const SideResult& side, double value, int decimals) {
  if (!side.ran || !side.ok) return "null";
  return fmt::format("{:.{}f}", value, decimals);
}

}  // namespace

void PrintTable(const std::vector<CaseResult>& results, bool peer_ran) {
  fmt::print("\n{:<24} | {:>9} {:>7} {:>7} {:>7} {:>8} {:>9} {:>7} {:>6}",
             "case (bytes x in-flight)", "rec/s", "MB/s", "p50 ms", "p99 ms", "p999 ms",
             "read rec/s", "e2e p99", "cpu us");
  if (peer_ran)
    fmt::print(" || {:>9} {:>7} {:>7} {:>8} {:>6} | {:>6}", "JS rec/s", "p50 ms", "p99 ms",
               "p999 ms", "cpu us", "ratio");
  fmt::print("\n");
  for (const CaseResult& r : results) {
    const SideResult& m = r.meridian;
    fmt::print("{:<24} | {:>9} {:>7.1f} {:>7.2f} {:>7.2f} {:>8.2f} {:>9.0f} {:>7} {:>6.1f}",
               r.what.Name(), Rate(m), m.mb_per_s, m.p50_ms, m.p99_ms, m.p999_ms,
               m.consume_records_per_s, m.e2e_p99_ms ? fmt::format("{:.2f}", *m.e2e_p99_ms) : "-",
               m.server_cpu_us_per_record);
    if (peer_ran) {
      const SideResult& j = r.jetstream;
      const bool both = m.ok && j.ok && j.records_per_s > 0;
      fmt::print(" || {:>9} {:>7.2f} {:>7.2f} {:>8.2f} {:>6.1f} | {:>6}", Rate(j), j.p50_ms,
                 j.p99_ms, j.p999_ms, j.server_cpu_us_per_record,
                 both ? fmt::format("{:.2f}x", m.records_per_s / j.records_per_s) : "-");
    }
    fmt::print("\n");
    for (const SideResult* side : {&r.meridian, &r.jetstream}) {
      if (side->ran && !side->ok) {
        fmt::print("    {} FAILED: {}\n", side == &r.meridian ? "meridian" : "jetstream",
                   side->failure);
      }
    }
  }
}

std::string JsonLine(const CaseResult& r) {
  const SideResult& m = r.meridian;
  const SideResult& j = r.jetstream;
  const bool ratio = m.ran && m.ok && j.ran && j.ok && j.records_per_s > 0;
  return fmt::format(
      "{{\"record_bytes\":{},\"in_flight\":{},\"acks\":\"{}\",\"producers\":{},"
      "\"meridian_ok\":{},\"meridian_records_per_s\":{},\"jetstream_records_per_s\":{},"
      "\"ratio\":{},\"meridian_p50_ms\":{},\"meridian_p99_ms\":{},\"meridian_p999_ms\":{},"
      "\"jetstream_p50_ms\":{},\"jetstream_p99_ms\":{},\"jetstream_p999_ms\":{},"
      "\"meridian_mb_per_s\":{},\"meridian_consume_records_per_s\":{},"
      "\"meridian_e2e_p99_ms\":{},\"meridian_server_cpu_us_per_record\":{},"
      "\"jetstream_server_cpu_us_per_record\":{},\"jetstream_ok\":{},"
      "\"meridian_durability\":\"{}\",\"jetstream_durability\":{}}}",
      r.what.record_bytes, r.what.in_flight, AcksName(r.what.acks), r.what.producers, m.ran && m.ok,
      Number(m, m.records_per_s, 0), Number(j, j.records_per_s, 0),
      ratio ? fmt::format("{:.3f}", m.records_per_s / j.records_per_s) : "null",
      Number(m, m.p50_ms, 3), Number(m, m.p99_ms, 3), Number(m, m.p999_ms, 3),
      Number(j, j.p50_ms, 3), Number(j, j.p99_ms, 3), Number(j, j.p999_ms, 3),
      Number(m, m.mb_per_s, 2), Number(m, m.consume_records_per_s, 0),
      m.e2e_p99_ms && m.ok ? fmt::format("{:.3f}", *m.e2e_p99_ms) : "null",
      Number(m, m.server_cpu_us_per_record, 2), Number(j, j.server_cpu_us_per_record, 2),
      j.ran ? (j.ok ? "true" : "false") : "null", m.durability,
      j.ran ? "\"" + j.durability + "\"" : "null");
}

}  // namespace meridian::node::bench
