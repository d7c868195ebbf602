// bench::JetStreamCluster (jetstream_cluster.h): three nats-server processes on loopback.
#include "node/bench/jetstream_cluster.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "io/assert.h"
#include "io/posix/ports.h"
#include "node/bench/nats_client.h"

namespace meridian::node::bench {
namespace {

uint16_t FreePort() {
  absl::StatusOr<uint16_t> port = io::posix::PickFreeLoopbackPort();
  MERIDIAN_CHECK(port.ok(), "{}", port.status().ToString());
  return *port;
}

}  // namespace

std::string JetStreamCluster::FindServer() {
  for (const char* candidate :
       {"/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"}) {
    if (access(candidate, X_OK) == 0) return candidate;
  }
  return "";
}

JetStreamCluster::JetStreamCluster(std::string server_binary, std::string dir)
    : server_binary_(std::move(server_binary)), dir_(std::move(dir)) {
  for (int i = 0; i < kNodes; i++) {
    client_ports_.push_back(FreePort());
    route_ports_.push_back(FreePort());
  }
}

JetStreamCluster::~JetStreamCluster() {
  for (pid_t pid : pids_) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
}

absl::Status JetStreamCluster::Start() {
  MERIDIAN_CHECK(pids_.empty(), "already started");
  std::filesystem::create_directories(dir_);
  for (int i = 0; i < kNodes; i++) {
    std::string routes;
    for (int j = 0; j < kNodes; j++) {
      if (j != i) routes += fmt::format("    nats-route://127.0.0.1:{}\n", route_ports_[j]);
    }
    const std::string config = fmt::format(
        "# Written by meridian-bench: node {} of a {}-node JetStream cluster on loopback.\n"
        "server_name: n{}\nlisten: 127.0.0.1:{}\n"
        "jetstream {{\n  store_dir: \"{}/store-n{}\"\n  max_file_store: 64G\n}}\n"
        "cluster {{\n  name: meridian-bench\n  listen: 127.0.0.1:{}\n  routes: [\n{}  ]\n}}\n",
        i + 1, kNodes, i + 1, client_ports_[i], dir_, i + 1, route_ports_[i], routes);
    const std::string path = fmt::format("{}/n{}.conf", dir_, i + 1);
    std::ofstream(path) << config;
    const std::string log = fmt::format("{}/n{}.log", dir_, i + 1);
    const pid_t pid = fork();
    if (pid < 0) return absl::InternalError("fork failed");
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int out = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (out >= 0) {
        dup2(out, 1);
        dup2(out, 2);
      }
      execl(server_binary_.c_str(), server_binary_.c_str(), "-c", path.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    pids_.push_back(pid);
  }
  for (int i = 0; i < kNodes; i++) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    absl::Status last;
    while (true) {
      absl::StatusOr<std::unique_ptr<NatsConnection>> connection =
          NatsConnection::Connect("127.0.0.1", client_ports_[i], std::chrono::seconds(2));
      if (connection.ok()) break;
      last = connection.status();
      if (std::chrono::steady_clock::now() > deadline) {
        return absl::UnavailableError(
            fmt::format("nats-server n{} did not start (see {}/n{}.log)"
                        ": {}",
                        i + 1, dir_, i + 1, last.ToString()));
      }
      usleep(100'000);
    }
  }
  return absl::OkStatus();
}

bool JetStreamCluster::Stop() {
  bool clean = true;
  for (pid_t pid : pids_) {
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    // nats-server 2.9.10 shuts down on SIGTERM and then exits 1 (seen by hand: `nats-server &
    // kill -TERM $!; wait $!` gives 1); a crash or any other status is not clean.
    clean &= WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 1);
  }
  pids_.clear();
  return clean;
}

std::string JetStreamCluster::Version() const {
  std::string version = "nats-server";
  if (FILE* pipe = popen((server_binary_ + " --version 2>&1").c_str(), "r")) {
    char line[128] = {};
    if (fgets(line, sizeof(line), pipe) != nullptr) version = line;
    pclose(pipe);
  }
  while (!version.empty() && (version.back() == '\n' || version.back() == ' ')) version.pop_back();
  return version;
}

}  // namespace meridian::node::bench
