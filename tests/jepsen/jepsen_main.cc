// meridian-jepsen: one Jepsen-style run against real meridian-node processes (README.md).
// Starts the cluster (in the network namespaces jepsen.sh made, or on loopback behind a
// fault-injecting proxy), creates a topic, runs producers and consumers while the nemesis
// injects faults for --time_limit seconds, heals, drains every partition and judges the history
// with checks/' log checker. Everything lands in one folder (--out), whose path it prints.
// Exit 0 when the run met --expect (valid: no anomaly, nothing lost; lost-write: the checker
// found an acknowledged record lost, as lost-write or unseen), 1 when not, 2 for bad flags.
#include <fmt/format.h>
#include <signal.h>

#include <filesystem>
#include <fstream>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_split.h"
#include "checks/report.h"
#include "io/command_line.h"
#include "io/posix/posix_runtime.h"
#include "tests/jepsen/cluster.h"
#include "tests/jepsen/nemesis.h"
#include "tests/jepsen/workload.h"

ABSL_FLAG(std::string, node_binary, "", "meridian-node to run. Required.");
ABSL_FLAG(std::string, powercut_shim, "", "libpowercut_shim.so (needed by powercut faults).");
ABSL_FLAG(std::string, faketime_lib, "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
          "libfaketime (needed by the clock fault).");
ABSL_FLAG(std::string, out, "", "Run folder (default /tmp/meridian-jepsen/<time>-<pid>).");
ABSL_FLAG(std::string, net, "namespaces", "namespaces (jepsen.sh made them) or loopback.");
ABSL_FLAG(std::string, netns_prefix, "", "With --net=namespaces: the namespaces' prefix.");
ABSL_FLAG(int, nodes, 5, "Nodes (1..9).");
ABSL_FLAG(int, regions, 3, "Regions: node i is in region 1 + (i-1) % regions.");
ABSL_FLAG(int, partitions, 4, "Partitions of the topic (replication factor 3).");
ABSL_FLAG(int, producers, 4, "Producers (every other one without idempotence).");
ABSL_FLAG(int, consumers, 2, "Consumers during the run.");
ABSL_FLAG(int, time_limit, 20, "Seconds of faults.");
ABSL_FLAG(std::string, nemesis, "kill", "Comma-separated fault classes, or 'all' (nemesis.h).");
ABSL_FLAG(uint64_t, seed, 1, "Nemesis seed.");
ABSL_FLAG(bool, unsafe_ack_before_fsync_for_tests, false,
          "Run the nodes with this flag (loses data on a power cut: the test of the test).");
ABSL_FLAG(std::string, expect, "valid",
          "valid, or lost-write (the unsafe power-cut run: the checker must report an "
          "acknowledged record lost, as lost-write or, at a partition's tail, unseen).");
ABSL_FLAG(bool, disk_heal_restart, true,
          "Restart a node after its full disk was freed (without it, the partitions it leads "
          "stay unavailable: README.md, Findings).");
ABSL_FLAG(int64_t, powercut_sync_delay_us, 20000,
          "A slow disk: each fsync/fdatasync of a node under the shim first sleeps this long.");

namespace meridian::tests::jepsen {
namespace {

using std::chrono::seconds;

struct Run {
  std::string out;
  std::vector<std::string> faults;
  Verdict verdict;
  std::string failure;  // set when the run could not get as far as a verdict
  std::map<std::string, int> counts;
  uint64_t unexpected_exits = 0;
  std::vector<int> down_at_end;            // nodes that would not stay up after the final heal
  std::vector<std::string> behind_at_end;  // replicas that never caught up
  // The nodes' log lines reporting damage a replica found at rest and recovered from, and the
  // segment files the nemesis damaged.
  std::vector<std::string> damage_reported;
  size_t damage_injected = 0;
};

absl::StatusOr<std::vector<std::string>> Faults() {
  const std::string flag = absl::GetFlag(FLAGS_nemesis);
  if (flag == "all") {
    std::vector<std::string> all = NemesisNames();
    all.pop_back();  // powercut-all is powercut's coordinated half
    return all;
  }
  std::vector<std::string> faults = absl::StrSplit(flag, ',', absl::SkipEmpty());
  for (const std::string& fault : faults) {
    const auto& names = NemesisNames();
    if (std::find(names.begin(), names.end(), fault) == names.end()) {
      return absl::InvalidArgumentError(
          fmt::format("--nemesis: unknown fault '{}' (known: {})", fault, fmt::join(names, ",")));
    }
  }
  if (faults.empty()) return absl::InvalidArgumentError("--nemesis is empty");
  return faults;
}

bool Uses(const std::vector<std::string>& faults, std::string_view prefix) {
  for (const std::string& fault : faults) {
    if (fault.starts_with(prefix)) return true;
  }
  return false;
}

ClusterOptions MakeClusterOptions(const Run& run) {
  ClusterOptions options;
  options.node_binary = std::filesystem::absolute(absl::GetFlag(FLAGS_node_binary));
  options.run_dir = run.out;
  options.net = absl::GetFlag(FLAGS_net) == "loopback" ? NetMode::kLoopback : NetMode::kNamespaces;
  options.netns_prefix = absl::GetFlag(FLAGS_netns_prefix);
  options.nodes = absl::GetFlag(FLAGS_nodes);
  options.regions = absl::GetFlag(FLAGS_regions);
  options.extra_node_args = {"--segment_bytes=262144"};
  if (absl::GetFlag(FLAGS_unsafe_ack_before_fsync_for_tests)) {
    options.extra_node_args.push_back("--unsafe_ack_before_fsync_for_tests");
  }
  if (Uses(run.faults, "powercut")) {
    options.powercut_shim = std::filesystem::absolute(absl::GetFlag(FLAGS_powercut_shim));
    options.powercut_sync_delay_us = absl::GetFlag(FLAGS_powercut_sync_delay_us);
  }
  if (Uses(run.faults, "clock")) options.faketime_lib = absl::GetFlag(FLAGS_faketime_lib);
  if (Uses(run.faults, "disk")) options.disk_bytes = 256ull << 20;
  return options;
}

// Every replica of the topic as its node reports it (role, term, commit index, high watermark),
// and which replicas are behind their group's highest commit index.
std::string ReplicaTable(core::client::Client& client, Cluster& cluster,
                         std::vector<std::string>* behind) {
  std::map<uint64_t, uint64_t> commit_max;  // group -> highest commit index reported
  std::vector<std::pair<int, core::wire::ReplicaStatusT>> rows;
  std::string text;
  for (const Node& n : cluster.nodes()) {
    absl::StatusOr<core::wire::ReplicaStatusResponseT> status =
        client.ReplicaStatus(io::NodeId(n.id));
    if (!status.ok()) {
      text += fmt::format("n{}: no answer: {}\n", n.id, status.status().ToString());
      continue;
    }
    for (const auto& replica : status->replicas) {
      rows.push_back({n.id, *replica});
      commit_max[replica->group] = std::max(commit_max[replica->group], replica->commit_index);
    }
  }
  behind->clear();
  for (const auto& [id, r] : rows) {
    text += fmt::format("n{} group {} {}/{}: {} term {} leader n{} commit {} high watermark {}\n",
                        id, r.group, r.topic, r.partition, r.role, r.term, r.leader, r.commit_index,
                        r.high_watermark);
    if (r.commit_index < commit_max[r.group]) {
      behind->push_back(fmt::format("n{}/group {} (commit {} of {})", id, r.group, r.commit_index,
                                    commit_max[r.group]));
    }
  }
  return text;
}

// Waits (up to 10 s) for every replica to reach its group's commit index: a replica that lost
// data (power cut, bit flip) must have repaired it from its peers by then.
void AwaitConvergence(io::Runtime& rt, core::client::Client& client, Cluster& cluster, Run& run) {
  const io::Instant deadline = rt.Now() + seconds(10);
  std::string table;
  do {
    table = ReplicaTable(client, cluster, &run.behind_at_end);
    if (run.behind_at_end.empty()) break;
    (void)rt.Sleep(std::chrono::milliseconds(500));
  } while (rt.Now() < deadline);
  std::ofstream(run.out + "/replicas.txt") << table;
  cluster.Event(fmt::format(
      "replicas behind their group's commit index 10 s after the drain: {}",
      run.behind_at_end.empty() ? "none" : fmt::format("{}", fmt::join(run.behind_at_end, ", "))));
}

// The run itself, on the harness's reactor: topic, workload under faults, heal, drain, judge.
void Drive(io::posix::PosixRuntime& rt, Cluster& cluster, Run& run) {
  core::client::ClientOptions client_options;
  client_options.bootstrap = cluster.ClientAddresses();
  client_options.client_id = "jepsen";
  client_options.request_timeout = seconds(3);
  core::client::Client client(rt, client_options);
  WorkloadOptions workload_options;
  workload_options.partitions = static_cast<uint32_t>(absl::GetFlag(FLAGS_partitions));
  workload_options.producers = absl::GetFlag(FLAGS_producers);
  workload_options.consumers = absl::GetFlag(FLAGS_consumers);
  Workload workload(rt, client, workload_options);
  if (absl::Status s = workload.CreateTopic(seconds(60)); !s.ok()) {
    run.failure = s.ToString();
    client.Close();
    return;
  }
  cluster.Event(fmt::format("topic '{}' created: {} partitions, replication factor 3",
                            workload_options.topic, workload_options.partitions));
  workload.Start();
  (void)rt.Sleep(seconds(1));
  Nemesis nemesis(rt, client, cluster,
                  {.faults = run.faults,
                   .seed = absl::GetFlag(FLAGS_seed),
                   .disk_heal_restart = absl::GetFlag(FLAGS_disk_heal_restart),
                   .topic = workload_options.topic,
                   .groups = workload.groups(),
                   .replicas = workload.replicas()});
  nemesis.Run(rt.Now() + seconds(absl::GetFlag(FLAGS_time_limit)));
  nemesis.HealAll();
  (void)rt.Sleep(seconds(1));  // the workload keeps going on the healed cluster for a moment
  cluster.Event("stopping the workload");
  workload.Stop();
  cluster.Event("final drain: every partition from its start to its end");
  const bool drained = workload.FinalDrain();
  cluster.Event(fmt::format("final drain {}", drained ? "complete" : "INCOMPLETE"));
  nemesis.HealAll();  // counts nodes that died during the drain too
  (void)rt.Sleep(seconds(1));
  for (const Node& n : cluster.nodes()) {
    if (!cluster.Running(n.id)) run.down_at_end.push_back(n.id);
  }
  AwaitConvergence(rt, client, cluster, run);
  run.counts = nemesis.counts();
  run.unexpected_exits = nemesis.unexpected_exits();
  run.verdict = workload.Judge();
  const std::vector<checks::CheckReport> reports = {run.verdict.report};
  std::ofstream(run.out + "/history.jsonl") << checks::FormatHistory(workload.history());
  std::ofstream(run.out + "/checker.txt")
      << checks::TextSummary("history.jsonl", workload.history(), reports);
  std::ofstream(run.out + "/report.html")
      << checks::HtmlReport("history.jsonl", workload.history(), reports);
  client.Close();
}

// The nodes' log lines reporting damage at rest a replica recovered from (the broker logs
// Replica::restart_findings): how detection shows on real processes.
std::vector<std::string> DamageReported(Cluster& cluster) {
  std::vector<std::string> lines;
  for (const Node& n : cluster.nodes()) {
    std::ifstream log(n.dir + "/node.log");
    for (std::string line; std::getline(log, line);) {
      if (line.find("restarted with damage at rest") != std::string::npos) {
        lines.push_back(fmt::format("n{}: {}", n.id, line));
      }
    }
  }
  return lines;
}

// With bit flips in the mix, every damaged replica must have repaired from its peers by the end
// (issue 15): one still behind its group's commit index fails the run; and damage injected
// must show in the nodes' logs (one silent repair is possible, a truncation that ends exactly
// at a batch boundary with the node-wide log holding the rest; all of a run's being silent is
// a detection bug).
bool DamageRepaired(const Run& run) {
  const std::string nemesis = absl::GetFlag(FLAGS_nemesis);
  const bool bitflips = nemesis == "all" || nemesis.find("bitflip") != std::string::npos;
  if (!bitflips) return true;
  return run.behind_at_end.empty() && (run.damage_injected == 0 || !run.damage_reported.empty());
}

std::string Summary(const Run& run, const Cluster& cluster, bool passed) {
  std::string text = cluster.Describe();
  text += fmt::format("nemesis: {} (seed {}, {} s)\n", fmt::join(run.faults, ","),
                      absl::GetFlag(FLAGS_seed), absl::GetFlag(FLAGS_time_limit));
  for (const auto& [fault, count] : run.counts)
    text += fmt::format("  {}: {} times\n", fault, count);
  text += fmt::format("nodes that exited on their own: {}; down at the end: {{{}}}\n",
                      run.unexpected_exits, fmt::join(run.down_at_end, ","));
  text += fmt::format(
      "damage at rest: {} segment file(s) damaged; reported by the nodes at restart: {} line(s)\n",
      run.damage_injected, run.damage_reported.size());
  for (size_t i = 0; i < run.damage_reported.size() && i < 3; i++) {
    text += "  " + run.damage_reported[i].substr(0, 300) + "\n";
  }
  text += fmt::format(
      "replicas behind at the end: {}\n",
      run.behind_at_end.empty() ? "none" : fmt::format("{}", fmt::join(run.behind_at_end, ", ")));
  if (!run.failure.empty()) text += "run failed before a verdict: " + run.failure + "\n";
  text += run.verdict.text;
  text += fmt::format("expected: {}; result: {}\n", absl::GetFlag(FLAGS_expect),
                      passed ? "PASS" : "FAIL");
  return text;
}

int Main() {
  Run run;
  absl::StatusOr<std::vector<std::string>> faults = Faults();
  if (!faults.ok() || absl::GetFlag(FLAGS_node_binary).empty()) {
    fmt::print(stderr, "meridian-jepsen: {}\n",
               faults.ok() ? "--node_binary is required" : faults.status().ToString());
    return 2;
  }
  run.faults = *faults;
  run.out = absl::GetFlag(FLAGS_out);
  if (run.out.empty()) {
    run.out = fmt::format("/tmp/meridian-jepsen/{}-{}", time(nullptr), getpid());
  }
  std::filesystem::create_directories(run.out);
  run.out = std::filesystem::canonical(run.out);
  Cluster cluster(MakeClusterOptions(run));
  fmt::print("meridian-jepsen: run folder {}\n{}", run.out, cluster.Describe());
  if (absl::Status s = cluster.Prepare(); !s.ok()) {
    fmt::print(stderr, "meridian-jepsen: {}\n", s.ToString());
    return 1;
  }
  cluster.StartAll();
  {
    absl::StatusOr<std::unique_ptr<io::posix::PosixRuntime>> runtime =
        io::posix::PosixRuntime::Create(
            {.node = io::NodeId(1000), .data_dir = run.out + "/client"});
    if (!runtime.ok()) {
      fmt::print(stderr, "meridian-jepsen: {}\n", runtime.status().ToString());
      return 1;
    }
    io::posix::PosixRuntime& rt = **runtime;
    rt.Spawn("jepsen", [&] {
      Drive(rt, cluster, run);
      rt.Stop();
    });
    rt.Run();
  }
  cluster.StopAll();
  run.damage_reported = DamageReported(cluster);
  for (const std::string& event : cluster.events()) {
    if (event.find("bits flipped at byte") != std::string::npos ||
        event.find(" truncated from ") != std::string::npos) {
      run.damage_injected++;
    }
  }
  const bool lost_expected = absl::GetFlag(FLAGS_expect) == "lost-write";
  const bool passed = run.failure.empty() && DamageRepaired(run) &&
                      (lost_expected ? run.verdict.reports_acked_loss : run.verdict.valid);
  std::ofstream events(run.out + "/events.txt");
  for (const std::string& event : cluster.events()) events << event << "\n";
  const std::string summary = Summary(run, cluster, passed);
  std::ofstream(run.out + "/summary.txt") << summary;
  fmt::print("{}meridian-jepsen: {}: everything is in {}\n", summary, passed ? "PASS" : "FAIL",
             run.out);
  return passed ? 0 : 1;
}

}  // namespace
}  // namespace meridian::tests::jepsen

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "one Jepsen-style run against real meridian-node processes; see tests/jepsen/README.md.\n"
      "  meridian-jepsen --node_binary=PATH [--net=namespaces --netns_prefix=P | --net=loopback]"
      " [--nemesis=kill,pause,...|all] [--time_limit=S] [--seed=N]");
  meridian::io::ParseCommandLineOrExit(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  return meridian::tests::jepsen::Main();
}
