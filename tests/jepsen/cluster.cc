// jepsen::Cluster (cluster.h): node processes, namespaces, iptables, signals, clocks, disks.
#include "tests/jepsen/cluster.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "io/assert.h"
#include "io/posix/certificates.h"
#include "io/posix/ports.h"
#include "tests/jepsen/link_proxy.h"

extern char** environ;

namespace meridian::tests::jepsen {
namespace {

constexpr uint16_t kClientPort = 9092;
constexpr uint16_t kPeerPort = 9093;
constexpr int kStopGraceMs = 5000;

int64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

io::Address FreeLoopbackAddress() {
  absl::StatusOr<uint16_t> port = io::posix::PickFreeLoopbackPort();
  MERIDIAN_CHECK(port.ok(), "{}", port.status().ToString());
  return {"127.0.0.1", *port};
}

std::string WaitStatusText(int status) {
  if (WIFEXITED(status)) return fmt::format("exit {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("signal {}", WTERMSIG(status));
  return fmt::format("status {}", status);
}

}  // namespace

int RunCommand(const std::vector<std::string>& command, bool quiet) {
  std::vector<char*> argv;
  for (const std::string& arg : command) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (quiet) posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int spawned = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Cluster::Cluster(ClusterOptions options) : options_(std::move(options)) {
  MERIDIAN_CHECK(options_.nodes >= 1 && options_.nodes <= 9);
  MERIDIAN_CHECK(options_.regions >= 1 && options_.regions <= options_.nodes);
  for (int id = 1; id <= options_.nodes; id++) {
    Node node;
    node.id = id;
    node.region = 1 + (id - 1) % options_.regions;
    node.dir = fmt::format("{}/n{}", options_.run_dir, id);
    if (options_.net == NetMode::kNamespaces) {
      node.ip = fmt::format("10.77.0.{}", 10 + id);
      node.client = {node.ip, kClientPort};
      node.peer = {node.ip, kPeerPort};
    } else {
      node.ip = "127.0.0.1";
      node.client = FreeLoopbackAddress();
      node.peer = FreeLoopbackAddress();
    }
    nodes_.push_back(node);
  }
  started_ns_ = MonotonicNs();
}

Cluster::~Cluster() {
  for (Node& node : nodes_) {
    if (node.pid > 0) Kill(node.id);
  }
  proxy_.reset();
  if (options_.disk_bytes > 0) {
    for (Node& node : nodes_) umount2((node.dir + "/disk").c_str(), MNT_DETACH);
  }
}

void Cluster::Event(const std::string& text) {
  const double at_s = static_cast<double>(MonotonicNs() - started_ns_) / 1e9;
  events_.push_back(fmt::format("{:8.3f}s {}", at_s, text));
  fmt::print("jepsen: {:8.3f}s {}\n", at_s, text);
  fflush(stdout);
}

absl::Status Cluster::Prepare() {
  for (Node& node : nodes_) {
    std::filesystem::create_directories(node.dir + "/disk");
    if (options_.disk_bytes > 0) {
      const std::string size = fmt::format("size={}", options_.disk_bytes);
      if (mount("tmpfs", (node.dir + "/disk").c_str(), "tmpfs", 0, size.c_str()) != 0) {
        return absl::FailedPreconditionError(
            fmt::format("cannot mount a tmpfs at {}/disk: {}", node.dir, strerror(errno)));
      }
    }
    std::filesystem::create_directories(node.dir + "/disk/data");
    std::ofstream(node.dir + "/faketime") << "+0\n";
  }
  if (!options_.faketime_lib.empty()) {
    if (absl::Status s = CheckFaketime(); !s.ok()) return s;
  }
  // Peer links run mutual TLS, as in production; the client port stays plaintext (the
  // workload's clients are what is tested, not the transport).
  std::vector<io::NodeId> ids;
  for (const Node& node : nodes_) ids.push_back(io::NodeId(node.id));
  if (absl::Status s =
          io::posix::MakeClusterCertificates(options_.run_dir + "/certs", "jepsen", ids, {});
      !s.ok()) {
    return s;
  }
  if (options_.net == NetMode::kLoopback) {
    std::vector<io::Address> peers;
    for (const Node& node : nodes_) peers.push_back(node.peer);
    proxy_ = std::make_unique<LinkProxy>(peers);
    if (absl::Status s = proxy_->Start(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// The clock fault is only real if libfaketime moves a process's wall clock here: check once.
absl::Status Cluster::CheckFaketime() {
  const std::string file = options_.run_dir + "/faketime-check";
  std::ofstream(file) << "+86400\n";
  const std::string command = fmt::format(
      "LD_PRELOAD={} FAKETIME_TIMESTAMP_FILE={} FAKETIME_DONT_FAKE_MONOTONIC=1 date +%s",
      options_.faketime_lib, file);
  FILE* out = popen(command.c_str(), "r");
  long long faked = 0;
  const bool read = out != nullptr && fscanf(out, "%lld", &faked) == 1;
  if (out != nullptr) pclose(out);
  const long long skew = faked - static_cast<long long>(time(nullptr));
  if (!read || skew < 86400 - 60 || skew > 86400 + 60) {
    return absl::FailedPreconditionError(fmt::format(
        "libfaketime ({}) does not skew the clock here (got {} s): the clock fault would be a "
        "no-op; install Debian's faketime",
        options_.faketime_lib, skew));
  }
  return absl::OkStatus();
}

// In the forked child: enter the node's namespace, set the environment, exec the node.
void Cluster::Exec(Node& node) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (options_.net == NetMode::kNamespaces) {
    const std::string path = fmt::format("/var/run/netns/{}n{}", options_.netns_prefix, node.id);
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) _exit(126);
  }
  const int log = open((node.dir + "/node.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (log < 0) _exit(125);
  dup2(log, 1);
  dup2(log, 2);
  std::string preload;
  if (!options_.powercut_shim.empty()) {
    preload = options_.powercut_shim;
    setenv("MERIDIAN_POWERCUT_JOURNAL", (node.dir + "/journal").c_str(), 1);
    setenv("MERIDIAN_POWERCUT_ROOT", (node.dir + "/disk/data").c_str(), 1);
    setenv("MERIDIAN_POWERCUT_SYNC_DELAY_US",
           std::to_string(options_.powercut_sync_delay_us).c_str(), 1);
  }
  if (!options_.faketime_lib.empty()) {
    preload += (preload.empty() ? "" : ":") + options_.faketime_lib;
    setenv("FAKETIME_TIMESTAMP_FILE", (node.dir + "/faketime").c_str(), 1);
    setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1", 1);
    setenv("FAKETIME_CACHE_DURATION", "1", 1);
  }
  if (!preload.empty()) setenv("LD_PRELOAD", preload.c_str(), 1);
  std::vector<std::string> args = {options_.node_binary,
                                   fmt::format("--node_id={}", node.id),
                                   fmt::format("--data_dir={}/disk/data", node.dir),
                                   "--listen=" + node.client.ToString(),
                                   "--peer_listen=" + node.peer.ToString(),
                                   fmt::format("--region=r{}", node.region),
                                   fmt::format("--zone=z{}", node.id)};
  std::string peers;
  for (const Node& other : nodes_) {
    if (other.id == node.id) continue;
    const io::Address address =
        proxy_ ? proxy_->LinkAddress(node.id - 1, other.id - 1) : other.peer;
    peers += fmt::format("{}{}={}", peers.empty() ? "" : ",", other.id, address.ToString());
  }
  args.push_back("--peers=" + peers);
  const std::string certs = options_.run_dir + "/certs";
  args.insert(
      args.end(),
      {"--tls_ca=" + certs + "/ca.pem", fmt::format("--tls_cert={}/node-{}.pem", certs, node.id),
       fmt::format("--tls_key={}/node-{}.key", certs, node.id), "--cluster_id=jepsen"});
  args.insert(args.end(), options_.extra_node_args.begin(), options_.extra_node_args.end());
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  execv(argv[0], argv.data());
  _exit(127);
}

void Cluster::Start(int id) {
  Node& n = node(id);
  MERIDIAN_CHECK(n.pid <= 0, "n{} is already running", id);
  const pid_t pid = fork();
  MERIDIAN_CHECK(pid >= 0, "fork failed");
  if (pid == 0) Exec(n);
  n.pid = pid;
  n.paused = false;
  n.starts++;
  if (n.starts > 1) Event(fmt::format("n{} restarted (pid {})", id, pid));
}

void Cluster::StartAll() {
  for (Node& n : nodes_) Start(n.id);
}

void Cluster::Kill(int id) {
  Node& n = node(id);
  if (n.pid <= 0) return;
  kill(n.pid, SIGKILL);
  int status = 0;
  waitpid(n.pid, &status, 0);
  n.pid = -1;
  n.paused = false;
}

void Cluster::Pause(int id) {
  Node& n = node(id);
  if (n.pid <= 0 || n.paused) return;
  kill(n.pid, SIGSTOP);
  n.paused = true;
}

void Cluster::Resume(int id) {
  Node& n = node(id);
  if (n.pid <= 0 || !n.paused) return;
  kill(n.pid, SIGCONT);
  n.paused = false;
}

bool Cluster::Running(int id) {
  Node& n = node(id);
  if (n.pid <= 0) return false;
  int status = 0;
  if (waitpid(n.pid, &status, WNOHANG) != n.pid) return true;
  Event(fmt::format("n{} EXITED ON ITS OWN ({}); see {}/node.log", id, WaitStatusText(status),
                    n.dir));
  n.pid = -1;
  n.paused = false;
  return false;
}

void Cluster::StopAll() {
  for (Node& n : nodes_) {
    Resume(n.id);
    if (n.pid > 0) kill(n.pid, SIGTERM);
  }
  for (Node& n : nodes_) {
    if (n.pid <= 0) continue;
    int status = 0;
    for (int waited_ms = 0; waited_ms < kStopGraceMs; waited_ms += 10) {
      if (waitpid(n.pid, &status, WNOHANG) == n.pid) {
        n.pid = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (n.pid > 0) {
      Event(fmt::format("n{} ignored SIGTERM for {} ms: SIGKILL", n.id, kStopGraceMs));
      Kill(n.id);
    }
  }
}

void Cluster::RunIn(const Node& n, const std::vector<std::string>& command) {
  std::vector<std::string> full = {"ip", "netns", "exec",
                                   fmt::format("{}n{}", options_.netns_prefix, n.id)};
  full.insert(full.end(), command.begin(), command.end());
  const int status = RunCommand(full);
  MERIDIAN_CHECK(status == 0, "command failed ({}): {}", status, fmt::join(full, " "));
}

void Cluster::Block(int from, int to) {
  if (from == to || !blocked_.insert({from, to}).second) return;
  if (proxy_) {
    proxy_->Block(from - 1, to - 1, true);
    return;
  }
  // Only `from`'s own link into `to` (destination: to's peer port): to's link to `from` lives.
  RunIn(node(to), {"iptables", "-A", "INPUT", "-s", node(from).ip, "-p", "tcp", "--dport",
                   std::to_string(kPeerPort), "-j", "DROP"});
}

void Cluster::Partition(const std::set<int>& side) {
  for (const Node& a : nodes_) {
    for (const Node& b : nodes_) {
      if (side.contains(a.id) != side.contains(b.id)) Block(a.id, b.id);
    }
  }
}

// Packets the DROP rules in `n`'s namespace matched (evidence that a partition bit).
uint64_t Cluster::DroppedPackets(const Node& n) {
  const std::string command =
      fmt::format("ip netns exec {}n{} iptables -L INPUT -v -n -x", options_.netns_prefix, n.id);
  FILE* out = popen(command.c_str(), "r");
  if (out == nullptr) return 0;
  uint64_t dropped = 0;
  char line[512];
  while (fgets(line, sizeof(line), out) != nullptr) {
    unsigned long long packets = 0;
    char target[32] = {};
    unsigned long long bytes = 0;
    if (sscanf(line, " %llu %llu %31s", &packets, &bytes, target) == 3 &&
        strcmp(target, "DROP") == 0) {
      dropped += packets;
    }
  }
  pclose(out);
  return dropped;
}

void Cluster::HealNetwork() {
  if (blocked_.empty()) return;
  uint64_t dropped = 0;
  if (proxy_) {
    for (const auto& [from, to] : blocked_) proxy_->Block(from - 1, to - 1, false);
    dropped = proxy_->cut_connections();
  } else {
    for (const Node& n : nodes_) {
      dropped += DroppedPackets(n);
      RunIn(n, {"iptables", "-F", "INPUT"});
    }
  }
  Event(fmt::format("network healed ({} {} while it was partitioned)", dropped,
                    proxy_ ? "peer connections cut or refused in all" : "packets dropped"));
  blocked_.clear();
}

void Cluster::SetClockOffset(int id, int64_t offset_s) {
  std::ofstream(node(id).dir + "/faketime.tmp") << fmt::format("{:+d}\n", offset_s);
  std::filesystem::rename(node(id).dir + "/faketime.tmp", node(id).dir + "/faketime");
}

absl::Status Cluster::FillDisk(int id) {
  if (options_.disk_bytes == 0) return absl::FailedPreconditionError("no tmpfs data directories");
  const std::string path = node(id).dir + "/disk/ballast";
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) return absl::InternalError("cannot create the ballast file");
  std::vector<char> chunk(64 << 10, 'x');
  for (size_t size = chunk.size(); size >= 512;) {
    if (write(fd, chunk.data(), size) < static_cast<ssize_t>(size)) size /= 2;
  }
  close(fd);
  return absl::OkStatus();
}

void Cluster::FreeDisk(int id) { std::filesystem::remove(node(id).dir + "/disk/ballast"); }

absl::StatusOr<RollbackStats> Cluster::PowerCut(int id, PowerCutMode mode, uint64_t seed) {
  Kill(id);
  absl::StatusOr<RollbackStats> stats = RollBackJournal(node(id).dir + "/journal", mode, seed);
  if (absl::IsNotFound(stats.status())) return RollbackStats{};  // nothing written since
  return stats;
}

std::vector<io::Address> Cluster::ClientAddresses() const {
  std::vector<io::Address> addresses;
  for (const Node& n : nodes_) addresses.push_back(n.client);
  return addresses;
}

std::string Cluster::Describe() const {
  std::string text =
      fmt::format("network mode: {}\n", options_.net == NetMode::kNamespaces
                                            ? "namespaces (veth + bridge, iptables partitions)"
                                            : "loopback (fault-injecting TCP proxy on peer links)");
  for (const Node& n : nodes_) {
    text += fmt::format("  n{}: region r{}, client {}, peer {}, dir {}\n", n.id, n.region,
                        n.client.ToString(), n.peer.ToString(), n.dir);
  }
  return text;
}

}  // namespace meridian::tests::jepsen
