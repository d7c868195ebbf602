// meridian-bench (issue 14): throughput and latency of a local 3-node Meridian cluster driven
// through core/client, optionally side by side with a 3-node NATS JetStream cluster driven by
// the bench's own NATS client, plus the disk's pwrite+fdatasync limit and CPU per record.
//
//   bazel run -c opt //node:meridian-bench -- [--peer=jetstream] [--cases=...] [--duration_ms=N]
//
// Every case writes a fresh topic (stream), then reads it back from the beginning: a side that
// does not find every acknowledged record exactly once is reported FAILED, without a rate, and
// the exit status is 1. The last lines are one JSON object per case (bench_case.h: JsonLine).
// Exit: 0 all cases read back; 1 a case failed or a cluster did not start; 2 bad flags.
#include <fmt/format.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "io/command_line.h"
#include "io/posix/allocator.h"
#include "io/posix/posix_runtime.h"
#include "node/bench/bench_case.h"
#include "node/bench/disk_probe.h"
#include "node/bench/jetstream_cluster.h"
#include "node/bench/jetstream_driver.h"
#include "node/bench/meridian_driver.h"
#include "node/local_cluster.h"

ABSL_FLAG(std::string, node_binary, "", "path of meridian-node (bazel run passes it)");
ABSL_FLAG(std::string, bootstrap, "",
          "ip:port,... of a running cluster to drive instead of starting one (no server CPU)");
ABSL_FLAG(std::string, peer, "none", "none | jetstream: also run every case against JetStream");
ABSL_FLAG(std::string, cases, "",
          "SIZE:INFLIGHT:ACKS:PRODUCERS,... (e.g. 1024:256:quorum:1); default: the standard set");
ABSL_FLAG(bool, quick, false, "a few tiny cases of 300 ms: the regression guard's mode");
ABSL_FLAG(int32_t, duration_ms, 3000, "timed produce phase of each case");
ABSL_FLAG(int32_t, warmup_ms, 1000,
          "untimed phase before it, same load (both systems): heaps, segments and TCP windows "
          "reach their steady state; its records are read back too (0: one record per producer)");
ABSL_FLAG(int32_t, e2e_ms, 1000, "produce-to-consume phase of each case (0: none)");
ABSL_FLAG(int32_t, linger_ms, 0, "producer linger (batches form while one is in flight anyway)");
ABSL_FLAG(int32_t, batch_kib, 0, "producer batch_bytes_max in KiB (0: the producer's default)");
ABSL_FLAG(int32_t, max_in_flight, 0,
          "producer batches in flight per partition, 1..5 (0: the producer's default, 5)");
ABSL_FLAG(int32_t, disk_probe_ms, 1000, "pwrite+fdatasync probe per write size (0: none)");
ABSL_FLAG(std::string, json_out, "", "also write the JSON lines to this file");
ABSL_FLAG(std::string, node_args, "",
          "extra flags for every meridian-node the bench starts, space-separated (e.g. "
          "--node_args=--node_wide_log)");

namespace meridian::node::bench {
namespace {

using std::chrono::milliseconds;

constexpr int kNodes = 3;
const char kJetStreamDurability[] =
    "ack after raft quorum in memory; files fsynced on a timer (2.9 default: 2 min)";

std::vector<io::Address> ParseBootstrap(const std::string& text) {
  std::vector<io::Address> addresses;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    std::vector<absl::string_view> parts = absl::StrSplit(item, ':');
    uint32_t port = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &port) || port == 0 || port > 65535) {
      return {};
    }
    addresses.push_back({std::string(parts[0]), static_cast<uint16_t>(port)});
  }
  return addresses;
}

// Whether the nodes this bench starts acknowledge before they sync (a test-only mode): its
// figures are then labelled so, never as durable ones.
bool NodesAckBeforeFsync() {
  bool unsafe = false;  // The last mention wins, as for any flag.
  for (absl::string_view arg :
       absl::StrSplit(absl::GetFlag(FLAGS_node_args), ' ', absl::SkipEmpty())) {
    if (arg == "--unsafe_ack_before_fsync_for_tests" ||
        arg == "--unsafe_ack_before_fsync_for_tests=true") {
      unsafe = true;
    } else if (arg == "--unsafe_ack_before_fsync_for_tests=false") {
      unsafe = false;
    }
  }
  return unsafe;
}

// Runs every case against Meridian: a cluster of its own unless --bootstrap names one.
bool RunMeridian(const std::string& root, const std::vector<Case>& cases,
                 std::vector<CaseResult>& results) {
  std::unique_ptr<LocalCluster> cluster;
  MeridianOptions options{.warmup = milliseconds(absl::GetFlag(FLAGS_warmup_ms)),
                          .duration = milliseconds(absl::GetFlag(FLAGS_duration_ms)),
                          .e2e_duration = milliseconds(absl::GetFlag(FLAGS_e2e_ms)),
                          .linger = milliseconds(absl::GetFlag(FLAGS_linger_ms))};
  if (absl::GetFlag(FLAGS_max_in_flight) > 0) {
    options.max_in_flight_per_partition = static_cast<uint32_t>(absl::GetFlag(FLAGS_max_in_flight));
  }
  if (absl::GetFlag(FLAGS_batch_kib) > 0) {
    options.batch_bytes_max = static_cast<size_t>(absl::GetFlag(FLAGS_batch_kib)) << 10;
  }
  if (!absl::GetFlag(FLAGS_bootstrap).empty()) {
    options.bootstrap = ParseBootstrap(absl::GetFlag(FLAGS_bootstrap));
  } else {
    // Plaintext, explicitly: the bench's numbers are compared with runs from before TLS.
    std::vector<std::string> node_args =
        absl::StrSplit(absl::GetFlag(FLAGS_node_args), ' ', absl::SkipEmpty());
    cluster = std::make_unique<LocalCluster>(absl::GetFlag(FLAGS_node_binary), root + "/meridian",
                                             kNodes, std::move(node_args), Transport::kPlaintext);
    if (!absl::GetFlag(FLAGS_node_args).empty()) {
      fmt::print("bench: nodes run with {}\n", absl::GetFlag(FLAGS_node_args));
    }
    options.acks_before_fsync = NodesAckBeforeFsync();
    cluster->StartAll();
    options.bootstrap = cluster->ClientAddresses();
    for (const NodeProcess& node : cluster->nodes()) options.server_pids.push_back(node.pid);
    fmt::print("bench: started {} meridian-node processes (data under {}/meridian)\n", kNodes,
               root);
  }
  absl::StatusOr<std::unique_ptr<io::posix::PosixRuntime>> runtime =
      io::posix::PosixRuntime::Create({.node = io::NodeId(100), .data_dir = root + "/client"});
  if (!runtime.ok()) {
    fmt::print("bench: no runtime: {}\n", runtime.status().ToString());
    return false;
  }
  io::posix::PosixRuntime& rt = **runtime;
  rt.Spawn("bench", [&] {
    auto driver = std::make_unique<MeridianDriver>(rt, options);
    for (size_t i = 0; i < cases.size(); i++) {
      results[i].meridian = driver->Run(cases[i], static_cast<int>(i));
      const SideResult& side = results[i].meridian;
      fmt::print(
          "bench: meridian  {:<24} {}\n", cases[i].Name(),
          side.ok ? fmt::format("{:.0f} records/s, p99 {:.2f} ms, read back {}/{}",
                                side.records_per_s, side.p99_ms, side.read_back, side.acknowledged)
                  : "FAILED: " + side.failure);
      std::fflush(stdout);
    }
    driver.reset();
    rt.Stop();
  });
  rt.Run();
  if (cluster != nullptr) {
    const bool clean = cluster->StopAll();
    fmt::print("bench: meridian nodes stopped on SIGTERM, {}\n", clean ? "exit 0" : "NOT cleanly");
    return clean;
  }
  return true;
}

bool RunJetStream(const std::string& root, const std::vector<Case>& cases,
                  std::vector<CaseResult>& results) {
  const std::string server = JetStreamCluster::FindServer();
  if (server.empty()) {
    fmt::print(
        "bench: --peer=jetstream but nats-server is not installed (bazel/setup.sh "
        "installs Debian's)\n");
    return false;
  }
  JetStreamCluster cluster(server, root + "/jetstream");
  if (absl::Status started = cluster.Start(); !started.ok()) {
    fmt::print("bench: {}\n", started.ToString());
    return false;
  }
  fmt::print(
      "bench: started {} as a {}-node JetStream cluster (config and data under "
      "{}/jetstream)\n",
      cluster.Version(), JetStreamCluster::kNodes, root);
  JetStreamDriver driver({.client_ports = cluster.client_ports(),
                          .server_pids = cluster.pids(),
                          .warmup = milliseconds(absl::GetFlag(FLAGS_warmup_ms)),
                          .duration = milliseconds(absl::GetFlag(FLAGS_duration_ms)),
                          .durability = kJetStreamDurability});
  for (size_t i = 0; i < cases.size(); i++) {
    results[i].jetstream = driver.Run(cases[i], static_cast<int>(i));
    const SideResult& side = results[i].jetstream;
    if (!side.ran) continue;
    fmt::print("bench: jetstream {:<24} {}\n", cases[i].Name(),
               side.ok
                   ? fmt::format("{:.0f} records/s, p99 {:.2f} ms, read back {}/{}",
                                 side.records_per_s, side.p99_ms, side.read_back, side.acknowledged)
                   : "FAILED: " + side.failure);
    std::fflush(stdout);
  }
  const bool clean = cluster.Stop();
  fmt::print("bench: nats-server nodes stopped on SIGTERM, {}\n", clean ? "exit 0" : "NOT cleanly");
  return true;
}

void PrintDiskProbe(const std::vector<DiskProbeResult>& probe) {
  fmt::print(
      "\nphysical limit: one pwrite + fdatasync at a time, appending to a fresh file on "
      "the nodes' filesystem\n");
  fmt::print("{:>10} {:>8} {:>9} {:>9} {:>10} {:>9}\n", "write", "writes", "p50 ms", "p99 ms",
             "syncs/s", "MB/s");
  for (const DiskProbeResult& r : probe) {
    if (!r.error.empty()) {
      fmt::print("{:>10} {}\n", r.write_bytes, r.error);
      continue;
    }
    fmt::print("{:>10} {:>8} {:>9.3f} {:>9.3f} {:>10.0f} {:>9.1f}\n", r.write_bytes, r.writes,
               r.p50_ms, r.p99_ms, r.syncs_per_s, r.mb_per_s);
  }
}

void PrintNotes(const std::vector<CaseResult>& results, bool peer_ran) {
  if (NodesAckBeforeFsync()) {
    fmt::print("\nfsync policy behind each figure:\n  meridian  every case: {}\n", kAckBeforeFsync);
  } else {
    fmt::print(
        "\nfsync policy behind each figure:\n  meridian  acks=quorum: {}\n"
        "  meridian  acks=leader: ack after fdatasync on the leader only\n",
        "ack after fdatasync on 2 of 3 replicas (the default)");
  }
  if (peer_ran && NodesAckBeforeFsync()) {
    fmt::print("  jetstream: {}\n  => neither side syncs before its ack in this run\n",
               kJetStreamDurability);
  } else if (peer_ran) {
    fmt::print(
        "  jetstream: {}\n  => UNEQUAL DURABILITY: JetStream's ack promises less than "
        "Meridian's acks=quorum (nats-server 2.9.10 refuses sync_interval, so it cannot "
        "be made to fsync before acking here)\n",
        kJetStreamDurability);
  }
  fmt::print(
      "CPU per record: user+system seconds of the 3 server processes over the timed "
      "phase / records acked in it (cpu us columns); the bench's own CPU per record:");
  for (const CaseResult& r : results) {
    fmt::print(" {:.0f}", r.meridian.client_cpu_us_per_record);
    if (peer_ran && r.jetstream.ran) fmt::print("/{:.0f}", r.jetstream.client_cpu_us_per_record);
  }
  fmt::print(" us{}\n", peer_ran ? " (meridian/jetstream)" : "");
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage("meridian-bench [--peer=jetstream] [--cases=...] (see --help)");
  meridian::io::ParseCommandLineOrExit(argc, argv);
  const std::string peer = absl::GetFlag(FLAGS_peer);
  std::vector<Case> cases = absl::GetFlag(FLAGS_quick) ? QuickCases() : DefaultCases();
  if (!absl::GetFlag(FLAGS_cases).empty()) cases = ParseCases(absl::GetFlag(FLAGS_cases));
  if (absl::GetFlag(FLAGS_quick)) {
    absl::SetFlag(&FLAGS_duration_ms, std::min(absl::GetFlag(FLAGS_duration_ms), 300));
    absl::SetFlag(&FLAGS_warmup_ms, std::min(absl::GetFlag(FLAGS_warmup_ms), 100));
    absl::SetFlag(&FLAGS_e2e_ms, std::min(absl::GetFlag(FLAGS_e2e_ms), 200));
    absl::SetFlag(&FLAGS_disk_probe_ms, std::min(absl::GetFlag(FLAGS_disk_probe_ms), 100));
  }
  if (cases.empty() || (peer != "none" && peer != "jetstream") ||
      absl::GetFlag(FLAGS_duration_ms) <= 0 || absl::GetFlag(FLAGS_warmup_ms) < 0 ||
      (absl::GetFlag(FLAGS_bootstrap).empty() && absl::GetFlag(FLAGS_node_binary).empty()) ||
      (!absl::GetFlag(FLAGS_bootstrap).empty() &&
       ParseBootstrap(absl::GetFlag(FLAGS_bootstrap)).empty())) {
    fmt::print(
        stderr,
        "meridian-bench: bad flags (--cases, --peer, --duration_ms, --warmup_ms, --bootstrap "
        "or --node_binary); see --help\n");
    return 2;
  }
  const char* tmp = getenv("TMPDIR");
  std::string pattern =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/meridian-bench-XXXXXX";
  const std::string root = mkdtemp(pattern.data());
  std::vector<CaseResult> results(cases.size());
  for (size_t i = 0; i < cases.size(); i++) results[i].what = cases[i];
  bool ok = RunMeridian(root, cases, results);
  const bool peer_ran = peer == "jetstream";
  if (peer_ran) ok &= RunJetStream(root, cases, results);
  std::vector<DiskProbeResult> probe;
  if (absl::GetFlag(FLAGS_disk_probe_ms) > 0) {
    probe = ProbeDisk(root, milliseconds(absl::GetFlag(FLAGS_disk_probe_ms)));
  }
  std::filesystem::remove_all(root);
  PrintTable(results, peer_ran);
  PrintDiskProbe(probe);
  PrintNotes(results, peer_ran);
  std::ofstream json_file;
  if (!absl::GetFlag(FLAGS_json_out).empty()) json_file.open(absl::GetFlag(FLAGS_json_out));
  for (const CaseResult& result : results) {
    ok &= result.meridian.ok && (!result.jetstream.ran || result.jetstream.ok);
    fmt::print("{}\n", JsonLine(result));
    if (json_file.is_open()) json_file << JsonLine(result) << "\n";
  }
  fmt::print("bench: {}\n",
             ok ? "every acknowledged record was read back exactly once" : "FAILED (see above)");
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace meridian::node::bench

int main(int argc, char** argv) {
  // The bench's client builds and frees a large batch per request, as a node does per round.
  if (absl::Status s = meridian::io::posix::TuneAllocatorForLargeBuffers(); !s.ok()) {
    fmt::print(stderr, "meridian-bench: warning: {}\n", std::string(s.message()));
  }
  return meridian::node::bench::Main(argc, argv);
}
