// The README's main job, `bazel run //node:demo`: start a real meridian-node process on
// loopback, talk to it as a client, scrape its metrics, then stop it with SIGTERM and check it
// exits cleanly. Exits 0 only if every step worked; //node:demo_test runs exactly this.
//
// (Later issues grow this into a three-node raft group that survives kill -9 of its leader, and
// finally into the multi-region cluster that survives the loss of a region.)
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/wire/client_codec.h"
#include "io/frame.h"
#include "io/posix/posix_runtime.h"

namespace meridian::node {
namespace {

uint16_t FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

pid_t StartNode(const std::string& binary, const std::vector<std::string>& args) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(binary.c_str()));
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  execv(binary.c_str(), argv.data());
  fmt::print(stderr, "demo: cannot exec {}\n", binary);
  _exit(127);
}

std::vector<uint8_t> Bytes(std::string_view text) { return {text.begin(), text.end()}; }

// The client side, as fibers on a reactor of our own. Returns whether every check passed.
bool TalkToNode(io::Runtime& rt, const io::Address& client, const io::Address& metrics) {
  const io::Instant deadline = rt.Now() + std::chrono::seconds(20);
  absl::StatusOr<std::unique_ptr<io::Stream>> stream = absl::UnavailableError("not yet");
  while (!stream.ok() && rt.Now() < deadline) {
    stream = rt.network().Connect(client, deadline);
    if (!stream.ok()) (void)rt.Sleep(std::chrono::milliseconds(20));
  }
  if (!stream.ok()) {
    fmt::print("demo: node never came up on {}: {}\n", client.ToString(), stream.status().ToString());
    return false;
  }
  io::FrameReader reader(**stream);
  for (uint64_t i = 1; i <= 5; i++) {
    const io::Instant sent = rt.Now();
    if (!io::WriteFrame(**stream, wire::EncodeClientMessage(wire::Ping{i}), deadline).ok()) {
      return false;
    }
    absl::StatusOr<std::vector<uint8_t>> frame = reader.Read(deadline);
    if (!frame.ok()) return false;
    absl::StatusOr<wire::ClientBody> reply = wire::DecodeClientMessage(*frame);
    const auto* pong = reply.ok() ? std::get_if<wire::Pong>(&*reply) : nullptr;
    if (pong == nullptr || pong->sequence != i || pong->node_id != 1) return false;
    fmt::print("demo: Ping {} -> Pong {} from n{} in {} us\n", i, pong->sequence, pong->node_id,
               std::chrono::duration_cast<std::chrono::microseconds>(rt.Now() - sent).count());
  }
  // Bytes that are not a ClientMessage: the node answers BadRequest and closes the connection.
  if (!io::WriteFrame(**stream, Bytes("not a flatbuffer"), deadline).ok()) return false;
  absl::StatusOr<std::vector<uint8_t>> refusal = reader.Read(deadline);
  absl::StatusOr<wire::ClientBody> error =
      refusal.ok() ? wire::DecodeClientMessage(*refusal) : refusal.status();
  const auto* bad = error.ok() ? std::get_if<wire::Error>(&*error) : nullptr;
  if (bad == nullptr || bad->code != wire::ErrorCode::BadRequest) return false;
  fmt::print("demo: garbage refused: BadRequest '{}'\n", bad->message);
  if (!absl::IsOutOfRange(reader.Read(deadline).status())) return false;
  fmt::print("demo: and the node closed that connection\n");

  absl::StatusOr<std::unique_ptr<io::Stream>> http = rt.network().Connect(metrics, deadline);
  if (!http.ok()) return false;
  const std::string get = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
  if (!(*http)->Write(Bytes(get), deadline).ok()) return false;
  std::string response;
  std::vector<uint8_t> buffer(4096);
  while (true) {
    absl::StatusOr<size_t> n = (*http)->Read(buffer, deadline);
    if (!n.ok() || *n == 0) break;
    response.append(buffer.begin(), buffer.begin() + static_cast<ptrdiff_t>(*n));
  }
  fmt::print("demo: GET /metrics ->\n{}\n", response);
  return response.rfind("HTTP/1.0 200", 0) == 0 &&
         response.find("meridian_client_requests_total{node=\"1\"} 6") != std::string::npos;
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: demo PATH_TO_MERIDIAN_NODE\n");
    return 2;
  }
  char pattern[] = "/tmp/meridian-demo-XXXXXX";
  const std::string data_dir = mkdtemp(pattern);
  const io::Address client{"127.0.0.1", FreeLoopbackPort()};
  const io::Address metrics{"127.0.0.1", FreeLoopbackPort()};
  fmt::print("demo: starting meridian-node n1 (client {}, metrics {}, data {})\n",
             client.ToString(), metrics.ToString(), data_dir);
  const pid_t node = StartNode(argv[1], {"--node_id=1", "--data_dir=" + data_dir,
                                         "--listen=" + client.ToString(),
                                         "--metrics_listen=" + metrics.ToString()});
  bool ok = false;
  {
    absl::StatusOr<std::unique_ptr<io::posix::PosixRuntime>> runtime =
        io::posix::PosixRuntime::Create({.node = io::NodeId(100), .data_dir = data_dir + "/client"});
    if (runtime.ok()) {
      io::posix::PosixRuntime& rt = **runtime;
      rt.Spawn("client", [&] {
        ok = TalkToNode(rt, client, metrics);
        rt.Stop();
      });
      rt.Run();
    }
  }
  kill(node, SIGTERM);
  int status = 0;
  waitpid(node, &status, 0);
  const bool clean_exit = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  fmt::print("demo: node stopped on SIGTERM, {}\n",
             clean_exit ? "exit 0" : fmt::format("status {}", status));
  std::filesystem::remove_all(data_dir);
  const bool passed = ok && clean_exit;
  fmt::print("demo: {}\n", passed ? "PASSED: one node served clients and metrics, stopped cleanly"
                                  : "FAILED");
  return passed ? 0 : 1;
}

}  // namespace
}  // namespace meridian::node

int main(int argc, char** argv) { return meridian::node::Main(argc, argv); }
