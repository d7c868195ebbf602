// node::LocalCluster (local_cluster.h): fork/exec of meridian-node processes on loopback.
#include "node/local_cluster.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/assert.h"
#include "io/posix/certificates.h"
#include "io/posix/ports.h"
#include "io/posix/tls.h"

namespace meridian::node {
namespace {

io::Address FreeLoopbackAddress() {
  absl::StatusOr<uint16_t> port = io::posix::PickFreeLoopbackPort();
  MERIDIAN_CHECK(port.ok(), "{}", port.status().ToString());
  return {"127.0.0.1", *port};
}

}  // namespace

LocalCluster::LocalCluster(std::string binary, std::string root, int node_count,
                           std::vector<std::string> extra_args, Transport transport,
                           int nodes_per_region)
    : binary_(std::move(binary)),
      root_(std::move(root)),
      extra_args_(std::move(extra_args)),
      transport_(transport) {
  MERIDIAN_CHECK(node_count >= 1);
  MERIDIAN_CHECK(node_count <= kNodesMax);
  MERIDIAN_CHECK(nodes_per_region >= 1);
  if (transport_ == Transport::kMutualTls) {
    std::vector<io::NodeId> ids;
    for (int i = 1; i <= node_count; i++) ids.push_back(io::NodeId(i));
    absl::Status made =
        io::posix::MakeClusterCertificates(root_ + "/certs", kClusterId, ids, {kClientName});
    MERIDIAN_CHECK(made.ok(), "certificates: {}", made.ToString());
  }
  for (int i = 0; i < node_count; i++) {
    nodes_.push_back({.id = i + 1,
                      .client = FreeLoopbackAddress(),
                      .peer = FreeLoopbackAddress(),
                      .metrics = FreeLoopbackAddress(),
                      .kafka = FreeLoopbackAddress(),
                      .data_dir = fmt::format("{}/n{}", root_, i + 1),
                      .region = fmt::format("r{}", 1 + i / nodes_per_region),
                      .zone = nodes_per_region == 1
                                  ? std::string("local")
                                  : fmt::format("z{}", 1 + i % nodes_per_region)});
  }
}

LocalCluster::~LocalCluster() {
  for (NodeProcess& node : nodes_) {
    if (node.pid > 0) Kill(node);
  }
}

void LocalCluster::StartAll() {
  for (NodeProcess& node : nodes_) Start(node);
}

void LocalCluster::Start(NodeProcess& node) {
  MERIDIAN_CHECK(node.pid <= 0, "node {} is already running", node.id);
  std::vector<std::string> args = {"--node_id=" + std::to_string(node.id),
                                   "--data_dir=" + node.data_dir,
                                   "--listen=" + node.client.ToString(),
                                   "--peer_listen=" + node.peer.ToString(),
                                   "--metrics_listen=" + node.metrics.ToString(),
                                   "--region=" + node.region,
                                   "--zone=" + node.zone,
                                   "--kafka_listen=" + node.kafka.ToString()};
  std::string peers;
  for (const NodeProcess& other : nodes_) {
    if (other.id != node.id) {
      peers += fmt::format("{}{}={}", peers.empty() ? "" : ",", other.id, other.peer.ToString());
    }
  }
  args.push_back("--peers=" + peers);
  if (transport_ == Transport::kPlaintext) {
    args.push_back("--insecure_plaintext");
  } else {
    const std::string certs = root_ + "/certs";
    args.insert(args.end(), {"--tls_ca=" + certs + "/ca.pem",
                             fmt::format("--tls_cert={}/node-{}.pem", certs, node.id),
                             fmt::format("--tls_key={}/node-{}.key", certs, node.id),
                             fmt::format("--cluster_id={}", kClusterId), "--client_tls=mutual"});
  }
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  node.pid = fork();
  MERIDIAN_CHECK(node.pid >= 0, "fork failed");
  if (node.pid != 0) return;
  // If the tool dies (a failed assertion, a timeout), its nodes must not outlive it.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  std::vector<char*> argv = {const_cast<char*>(binary_.c_str())};
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  execv(binary_.c_str(), argv.data());
  _exit(127);
}

void LocalCluster::Kill(NodeProcess& node) {
  MERIDIAN_CHECK(node.pid > 0, "node {} is not running", node.id);
  kill(node.pid, SIGKILL);
  waitpid(node.pid, nullptr, 0);
  node.pid = -1;
}

void LocalCluster::Pause(NodeProcess& node) {
  MERIDIAN_CHECK(node.pid > 0, "node {} is not running", node.id);
  kill(node.pid, SIGSTOP);
}

void LocalCluster::Resume(NodeProcess& node) {
  MERIDIAN_CHECK(node.pid > 0, "node {} is not running", node.id);
  kill(node.pid, SIGCONT);
}

bool LocalCluster::StopAll() {
  bool clean = true;
  for (NodeProcess& node : nodes_) {
    if (node.pid <= 0) continue;
    kill(node.pid, SIGTERM);
    int status = 0;
    waitpid(node.pid, &status, 0);
    node.pid = -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      clean = false;
      fmt::print(stderr, "n{} did not exit 0 on SIGTERM: {}\n", node.id,
                 WIFEXITED(status) ? fmt::format("exit {}", WEXITSTATUS(status))
                                   : fmt::format("signal {}", WTERMSIG(status)));
    }
  }
  return clean;
}

std::vector<io::Address> LocalCluster::ClientAddresses() const {
  std::vector<io::Address> addresses;
  for (const NodeProcess& node : nodes_) addresses.push_back(node.client);
  return addresses;
}

io::posix::NetworkSecurity LocalCluster::ClientSecurity() const {
  if (transport_ == Transport::kPlaintext) return {};
  const std::string certs = root_ + "/certs";
  absl::StatusOr<std::shared_ptr<io::posix::TlsContext>> context =
      io::posix::TlsContext::Create({.ca_file = certs + "/ca.pem",
                                     .cert_file = fmt::format("{}/{}.pem", certs, kClientName),
                                     .key_file = fmt::format("{}/{}.key", certs, kClientName)});
  MERIDIAN_CHECK(context.ok(), "client TLS: {}", context.status().ToString());
  return {.client_tls = *context};
}

}  // namespace meridian::node
