// meridian-node: the production server process.
//
// This first version runs the io/posix reactor and serves what exists so far:
// - the client protocol on --listen: frames of FlatBuffers ClientMessages (core/wire/client.fbs),
//   verified before use; Ping is answered with Pong, anything else with an Unsupported error, a
//   message that does not verify with BadRequest and the connection closed (the broker's
//   produce and fetch arrive with the log and replication issues),
// - peer links on --peer_listen/--peers (the transport raft will use),
// - Prometheus text metrics over HTTP on --metrics_listen (GET /metrics),
// and stops cleanly on SIGTERM or SIGINT. It logs one line per event to stderr.
#include <fmt/format.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "core/wire/client_codec.h"
#include "io/frame.h"
#include "io/posix/posix_runtime.h"
#include "node/metrics_http.h"
#include "node/raft_service.h"

ABSL_FLAG(uint32_t, node_id, 1, "This node's id (>= 1).");
ABSL_FLAG(std::string, listen, "127.0.0.1:9092", "Client address host:port.");
ABSL_FLAG(std::string, peer_listen, "", "Peer link address host:port (empty: none).");
ABSL_FLAG(std::vector<std::string>, peers, {}, "Peers as id=host:port, comma-separated.");
ABSL_FLAG(std::string, data_dir, "", "Directory for this node's data (required).");
ABSL_FLAG(std::string, metrics_listen, "", "Metrics HTTP address host:port (empty: none).");
ABSL_FLAG(int64_t, raft_tick_ms, 50, "Raft tick (election timeout = 10 ticks, heartbeat = 2).");

namespace meridian::node {
namespace {

using io::posix::PosixRuntime;

void Log(const io::Runtime& rt, std::string_view text) {
  fmt::print(stderr, "n{} {}\n", rt.node().value(), text);
}

absl::StatusOr<io::posix::PosixOptions> OptionsFromFlags() {
  io::posix::PosixOptions options;
  if (absl::GetFlag(FLAGS_node_id) == 0) return absl::InvalidArgumentError("--node_id must be >= 1");
  options.node = io::NodeId(absl::GetFlag(FLAGS_node_id));
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  if (options.data_dir.empty()) return absl::InvalidArgumentError("--data_dir is required");
  if (!absl::GetFlag(FLAGS_peer_listen).empty()) {
    absl::StatusOr<io::Address> address = io::ParseAddress(absl::GetFlag(FLAGS_peer_listen));
    if (!address.ok()) return address.status();
    options.peer_listen = *address;
  }
  for (const std::string& peer : absl::GetFlag(FLAGS_peers)) {
    const size_t equals = peer.find('=');
    uint32_t id = 0;
    if (equals == std::string::npos || !absl::SimpleAtoi(peer.substr(0, equals), &id) || id == 0) {
      return absl::InvalidArgumentError(fmt::format("--peers entry '{}' is not id=host:port", peer));
    }
    absl::StatusOr<io::Address> address = io::ParseAddress(peer.substr(equals + 1));
    if (!address.ok()) return address.status();
    options.peers[io::NodeId(id)] = *address;
  }
  return options;
}

// Serves one client connection until it closes or sends a bad frame or message.
void ServeClient(PosixRuntime& rt, io::Stream& stream, NodeMetrics& metrics, RaftService* raft) {
  io::FrameReader reader(stream, wire::kClientMessageBytesMax);
  const auto reply = [&](const wire::ClientBody& body) {
    return io::WriteFrame(stream, wire::EncodeClientMessage(body),
                          rt.Now() + std::chrono::seconds(10)).ok();
  };
  while (true) {
    absl::StatusOr<std::vector<uint8_t>> frame = reader.Read(io::Instant::Infinite());
    if (!frame.ok()) {
      if (!absl::IsOutOfRange(frame.status()) && !absl::IsCancelled(frame.status())) {
        Log(rt, fmt::format("client {} closed: {}", stream.peer(), frame.status().ToString()));
      }
      return;
    }
    metrics.client_requests_total++;
    absl::StatusOr<wire::ClientBody> request = wire::DecodeClientMessage(*frame);
    if (!request.ok()) {
      metrics.client_errors_total++;
      Log(rt, fmt::format("client {} closed: {}", stream.peer(), request.status().ToString()));
      reply(wire::Error{wire::ErrorCode::BadRequest, request.status().ToString()});
      return;
    }
    if (const auto* ping = std::get_if<wire::Ping>(&*request)) {
      if (!reply(wire::Pong{ping->sequence, rt.node().value()})) return;
      continue;
    }
    if (raft != nullptr) {
      if (std::optional<wire::ClientBody> response = raft->Handle(*request)) {
        if (!reply(*response)) return;
        continue;
      }
    }
    metrics.client_errors_total++;
    if (!reply(wire::Error{wire::ErrorCode::Unsupported, "not a request this node serves"})) return;
  }
}

absl::Status ServeClients(PosixRuntime& rt, const io::Address& address, NodeMetrics& metrics,
                          RaftService* raft) {
  absl::StatusOr<std::unique_ptr<io::Listener>> listener = rt.network().Listen(address);
  if (!listener.ok()) return listener.status();
  std::shared_ptr<io::Listener> owned(std::move(*listener));
  Log(rt, fmt::format("serving clients on {}", owned->address().ToString()));
  rt.Spawn("client-accept", [&rt, owned, &metrics, raft] {
    while (true) {
      absl::StatusOr<std::unique_ptr<io::Stream>> stream = owned->Accept(io::Instant::Infinite());
      if (!stream.ok()) return;
      metrics.client_connections_total++;
      std::shared_ptr<io::Stream> connection(std::move(*stream));
      rt.Spawn("client", [&rt, connection, &metrics, raft] {
        ServeClient(rt, *connection, metrics, raft);
      });
    }
  });
  return absl::OkStatus();
}

sigset_t StopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  return signals;
}

// SIGTERM/SIGINT arrive on a signalfd watched by the reactor, so shutdown is an ordinary event.
// They must be blocked in every thread (see Main) or the default action would kill the process.
absl::Status StopOnSignals(PosixRuntime& rt) {
  const sigset_t signals = StopSignals();
  const int fd = signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) return absl::InternalError("signalfd");
  rt.Spawn("signals", [&rt, fd] {
    std::unique_ptr<io::posix::FdWatch> watch = rt.Watch(fd);
    while (true) {
      signalfd_siginfo info{};
      if (read(fd, &info, sizeof(info)) == sizeof(info)) {
        Log(rt, fmt::format("signal {}: stopping", info.ssi_signo));
        break;
      }
      watch->readable = false;
      if (!rt.WaitReady(*watch, io::posix::Readiness::kReadable, io::Instant::Infinite()).ok()) {
        break;
      }
    }
    rt.Unwatch(*watch);
    close(fd);
    rt.Stop();
  });
  return absl::OkStatus();
}

int Main() {
  absl::StatusOr<io::posix::PosixOptions> options = OptionsFromFlags();
  if (!options.ok()) {
    fmt::print(stderr, "meridian-node: {}\n", options.status().ToString());
    return 2;
  }
  absl::StatusOr<io::Address> client_address = io::ParseAddress(absl::GetFlag(FLAGS_listen));
  if (!client_address.ok()) {
    fmt::print(stderr, "meridian-node: --listen: {}\n", client_address.status().ToString());
    return 2;
  }
  // Block the stop signals before the runtime starts its helper thread, which inherits the mask.
  const sigset_t stop_signals = StopSignals();
  if (pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr) != 0) {
    fmt::print(stderr, "meridian-node: cannot block signals\n");
    return 1;
  }
  absl::StatusOr<std::unique_ptr<PosixRuntime>> runtime = PosixRuntime::Create(*options);
  if (!runtime.ok()) {
    fmt::print(stderr, "meridian-node: cannot start: {}\n", runtime.status().ToString());
    return 1;
  }
  PosixRuntime& rt = **runtime;
  NodeMetrics metrics;
  metrics.started_at = rt.Now();
  absl::Status started = StopOnSignals(rt);
  // With peers, the node runs one raft group whose voters are itself and its peers.
  std::unique_ptr<RaftService> raft;
  if (started.ok() && !options->peers.empty()) {
    core::replica::ReplicaOptions replica_options;
    replica_options.raft.id = options->node;
    replica_options.raft.bootstrap.voters.insert(options->node);
    for (const auto& [peer, address] : options->peers) {
      replica_options.raft.bootstrap.voters.insert(peer);
    }
    if (absl::GetFlag(FLAGS_raft_tick_ms) <= 0) {
      fmt::print(stderr, "meridian-node: --raft_tick_ms must be positive\n");
      return 2;
    }
    replica_options.tick = std::chrono::milliseconds(absl::GetFlag(FLAGS_raft_tick_ms));
    // Raft starts from fibers (it recovers its log from disk), so open it on the reactor.
    rt.Spawn("raft-open", [&rt, &raft, replica_options, &metrics, client = *client_address] {
      absl::StatusOr<std::unique_ptr<RaftService>> service = RaftService::Start(rt, replica_options);
      if (!service.ok()) {
        fmt::print(stderr, "meridian-node: cannot start raft: {}\n", service.status().ToString());
        rt.Stop();
        return;
      }
      raft = std::move(*service);
      Log(rt, fmt::format("raft group of {} voters started", replica_options.raft.bootstrap.voters.size()));
      absl::Status serving = ServeClients(rt, client, metrics, raft.get());
      if (!serving.ok()) {
        fmt::print(stderr, "meridian-node: cannot serve clients: {}\n", serving.ToString());
        rt.Stop();
      }
    });
  } else if (started.ok()) {
    started = ServeClients(rt, *client_address, metrics, nullptr);
  }
  if (started.ok() && !absl::GetFlag(FLAGS_metrics_listen).empty()) {
    absl::StatusOr<io::Address> address = io::ParseAddress(absl::GetFlag(FLAGS_metrics_listen));
    started = address.ok() ? ServeMetrics(rt, *address, metrics) : address.status();
  }
  if (!started.ok()) {
    fmt::print(stderr, "meridian-node: cannot start: {}\n", started.ToString());
    return 1;
  }
  Log(rt, fmt::format("up, data in {}", options->data_dir));
  rt.Run();
  Log(rt, "stopped");
  runtime->reset();  // Unwind every fiber while the raft service and metrics they use still exist.
  return 0;
}

}  // namespace
}  // namespace meridian::node

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("meridian-node --node_id=N --data_dir=DIR [--listen=host:port] ...");
  absl::ParseCommandLine(argc, argv);
  return meridian::node::Main();
}
