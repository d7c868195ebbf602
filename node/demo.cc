// The README's main job, `bazel run //node:demo`: a local cluster of three real meridian-node
// processes (one raft group, data on disk) that survives a kill -9 of its leader.
//
//  1. start three nodes on loopback; wait for a leader; check Ping, a bad request and /metrics;
//  2. commit a stream of entries through the leader;
//  3. kill -9 the leader; measure how long until a new leader is elected; keep committing;
//  4. restart the killed node from its data directory; measure how long it takes to catch up;
//  5. verify that every acknowledged entry is on every node at the index it was acknowledged
//     at, and judge the run's history with checks/' log checker;
//  6. stop all nodes with SIGTERM and check they exit cleanly.
// Exits 0 only if every step worked; //node:demo_test runs exactly this.
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "checks/history.h"
#include "checks/log_checker.h"
#include "core/wire/client_codec.h"
#include "io/frame.h"
#include "io/assert.h"
#include "io/posix/ports.h"
#include "io/posix/posix_runtime.h"

namespace meridian::node {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
constexpr int kNodes = 3;
constexpr int kEntriesPerPhase = 100;

uint16_t FreeLoopbackPort() {
  absl::StatusOr<uint16_t> port = io::posix::PickFreeLoopbackPort();
  MERIDIAN_CHECK(port.ok(), "{}", port.status().ToString());
  return *port;
}

struct NodeProcess {
  int id = 0;
  io::Address client, peer, metrics;
  std::string data_dir;
  pid_t pid = -1;
};

void Start(const std::string& binary, NodeProcess& node, const std::vector<NodeProcess>& all) {
  std::vector<std::string> args = {
      "--node_id=" + std::to_string(node.id), "--data_dir=" + node.data_dir,
      "--listen=" + node.client.ToString(), "--peer_listen=" + node.peer.ToString(),
      "--metrics_listen=" + node.metrics.ToString()};
  std::string peers;
  for (const NodeProcess& other : all) {
    if (other.id != node.id) peers += fmt::format("{}{}={}", peers.empty() ? "" : ",", other.id, other.peer.ToString());
  }
  args.push_back("--peers=" + peers);
  node.pid = fork();
  if (node.pid != 0) return;
  // If the demo dies (a failed assertion, a timeout), its nodes must not outlive it.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  std::vector<char*> argv = {const_cast<char*>(binary.c_str())};
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  execv(binary.c_str(), argv.data());
  _exit(127);
}

// One request on a fresh connection (simple and robust across node restarts).
absl::StatusOr<wire::ClientBody> Call(io::Runtime& rt, const io::Address& address,
                                      const wire::ClientBody& request, io::Duration timeout) {
  const io::Instant deadline = rt.Now() + timeout;
  absl::StatusOr<std::unique_ptr<io::Stream>> stream = rt.network().Connect(address, deadline);
  if (!stream.ok()) return stream.status();
  if (absl::Status s = io::WriteFrame(**stream, wire::EncodeClientMessage(request), deadline); !s.ok()) {
    return s;
  }
  io::FrameReader reader(**stream, wire::kClientMessageBytesMax);
  absl::StatusOr<std::vector<uint8_t>> frame = reader.Read(deadline);
  if (!frame.ok()) return frame.status();
  return wire::DecodeClientMessage(*frame);
}

class Demo {
 public:
  Demo(io::Runtime& rt, std::vector<NodeProcess>& nodes, std::string binary)
      : rt_(rt), nodes_(nodes), binary_(std::move(binary)) {}
  bool Run();

 private:
  int FindLeader(int excluded, io::Duration timeout);
  bool CommitEntries(int count);
  bool WaitApplied(int node, uint64_t index, io::Duration timeout);
  bool Verify();
  bool CheckBasics();

  io::Runtime& rt_;
  std::vector<NodeProcess>& nodes_;
  std::string binary_;
  int leader_ = 0;
  uint64_t next_value_ = 1;
  checks::History history_;
  std::vector<std::pair<uint64_t, std::string>> acknowledged_;  // (index, value)
  std::vector<int64_t> commit_latencies_ns_;  // Of acknowledged proposals (one in flight).
  int64_t commit_busy_ns_ = 0;                // Time spent waiting for those.
};

int Demo::FindLeader(int excluded, io::Duration timeout) {
  const io::Instant deadline = rt_.Now() + timeout;
  while (rt_.Now() < deadline) {
    for (const NodeProcess& node : nodes_) {
      if (node.id == excluded) continue;
      absl::StatusOr<wire::ClientBody> reply = Call(rt_, node.client, wire::StatusQuery{}, milliseconds(500));
      const auto* status = reply.ok() ? std::get_if<wire::Status>(&*reply) : nullptr;
      if (status != nullptr && status->role == "leader") return node.id;
    }
    (void)rt_.Sleep(milliseconds(20));
  }
  return 0;
}

bool Demo::CommitEntries(int count) {
  for (int committed = 0; committed < count;) {
    const std::string value = std::to_string(next_value_++);
    checks::Operation send;
    send.process = static_cast<int64_t>(history_.operations.size());  // One process per send.
    send.f = checks::Function::kSend;
    send.partition = 0;
    send.values = {std::stoll(value)};
    send.invoke_ns = rt_.Now().nanos();
    absl::StatusOr<wire::ClientBody> reply =
        Call(rt_, nodes_[leader_ - 1].client, wire::Propose{value}, seconds(6));
    send.complete_ns = rt_.Now().nanos();
    const auto* proposed = reply.ok() ? std::get_if<wire::Proposed>(&*reply) : nullptr;
    const auto* error = reply.ok() ? std::get_if<wire::Error>(&*reply) : nullptr;
    if (proposed != nullptr) {
      commit_latencies_ns_.push_back(send.complete_ns - send.invoke_ns);
      commit_busy_ns_ += send.complete_ns - send.invoke_ns;
      send.outcome = checks::Outcome::kOk;
      send.offsets = {static_cast<int64_t>(proposed->index) - 1};
      acknowledged_.push_back({proposed->index, value});
      committed++;
    } else if (error != nullptr && error->code != wire::ErrorCode::Unknown) {
      send.outcome = checks::Outcome::kFail;  // Certainly not applied (e.g. NotLeader).
      if (error->leader != 0) leader_ = static_cast<int>(error->leader);
    } else {
      send.outcome = checks::Outcome::kInfo;
      send.complete_ns = checks::kTimeNsInfinite;
      const int found = FindLeader(0, seconds(10));
      if (found == 0) return false;
      leader_ = found;
    }
    history_.operations.push_back(send);
  }
  return true;
}

bool Demo::WaitApplied(int node, uint64_t index, io::Duration timeout) {
  const io::Instant deadline = rt_.Now() + timeout;
  while (rt_.Now() < deadline) {
    absl::StatusOr<wire::ClientBody> reply =
        Call(rt_, nodes_[node - 1].client, wire::StatusQuery{}, milliseconds(500));
    const auto* status = reply.ok() ? std::get_if<wire::Status>(&*reply) : nullptr;
    if (status != nullptr && status->applied >= index) return true;
    (void)rt_.Sleep(milliseconds(10));
  }
  return false;
}

}  // namespace
}  // namespace meridian::node

namespace meridian::node {
namespace {

bool Demo::Verify() {
  uint64_t last = 0;
  for (const auto& [index, value] : acknowledged_) last = std::max(last, index);
  bool ok = true;
  for (const NodeProcess& node : nodes_) {
    if (!WaitApplied(node.id, last, seconds(20))) {
      fmt::print("demo: n{} never applied up to {}\n", node.id, last);
      return false;
    }
    absl::btree_map<uint64_t, std::string> applied;
    for (uint64_t from = 1; from <= last;) {
      absl::StatusOr<wire::ClientBody> reply =
          Call(rt_, node.client, wire::ReadApplied{from, wire::kReadEntriesMax}, seconds(2));
      const auto* entries = reply.ok() ? std::get_if<wire::AppliedEntries>(&*reply) : nullptr;
      if (entries == nullptr || entries->entries.empty()) {
        fmt::print("demo: reading n{}'s applied entries from {} failed: {}\n", node.id, from,
                   reply.ok() ? "no entries" : reply.status().ToString());
        return false;
      }
      for (const auto& entry : entries->entries) applied[entry.index] = entry.data;
      from = entries->entries.back().index + 1;
    }
    for (const auto& [index, value] : acknowledged_) {
      auto it = applied.find(index);
      if (it == applied.end() || it->second != value) {
        fmt::print("demo: n{} has '{}' at {}, acknowledged '{}'\n", node.id,
                   it == applied.end() ? "nothing" : it->second, index, value);
        ok = false;
      }
    }
    // A final drain per node for the log checker: every data entry it applied.
    checks::Operation assign{.process = 1'000'000 + node.id, .f = checks::Function::kAssign,
                             .outcome = checks::Outcome::kOk, .invoke_ns = rt_.Now().nanos(),
                             .complete_ns = rt_.Now().nanos()};
    assign.partitions = {0};
    checks::Operation poll = assign;
    poll.f = checks::Function::kPoll;
    poll.partitions.clear();
    poll.invoke_ns = assign.complete_ns;  // After the assign: one operation at a time.
    poll.complete_ns = std::max(assign.complete_ns, rt_.Now().nanos());
    for (const auto& [index, data] : applied) {
      if (!data.empty()) poll.reads.push_back({0, static_cast<int64_t>(index) - 1, std::stoll(data)});
    }
    history_.operations.push_back(assign);
    history_.operations.push_back(poll);
  }
  checks::FinishHistory(&history_);
  absl::StatusOr<checks::CheckReport> report = checks::CheckLog(history_, {});
  if (!report.ok()) {
    fmt::print("demo: the log checker rejected the history: {}\n", report.status().ToString());
    return false;
  }
  fmt::print("demo: checks/ log checker on the run's history ({} operations): {}\n",
             history_.operations.size(), checks::VerdictName(report->verdict));
  for (const checks::Finding& finding : report->findings) {
    fmt::print("demo:   {}: {}\n", finding.kind, finding.detail);
  }
  return ok && report->verdict == checks::Verdict::kValid;
}

bool Demo::CheckBasics() {
  absl::StatusOr<wire::ClientBody> pong = Call(rt_, nodes_[0].client, wire::Ping{7}, seconds(2));
  if (!pong.ok() || !std::holds_alternative<wire::Pong>(*pong)) return false;
  // Bytes that are not a ClientMessage get BadRequest (and the connection is closed).
  absl::StatusOr<std::unique_ptr<io::Stream>> stream = rt_.network().Connect(nodes_[0].client, rt_.Now() + seconds(2));
  if (!stream.ok()) return false;
  const std::string garbage = "not a flatbuffer";
  if (!io::WriteFrame(**stream, std::vector<uint8_t>(garbage.begin(), garbage.end()), rt_.Now() + seconds(2)).ok()) {
    return false;
  }
  io::FrameReader reader(**stream);
  absl::StatusOr<std::vector<uint8_t>> frame = reader.Read(rt_.Now() + seconds(2));
  absl::StatusOr<wire::ClientBody> refusal = frame.ok() ? wire::DecodeClientMessage(*frame) : frame.status();
  const auto* bad = refusal.ok() ? std::get_if<wire::Error>(&*refusal) : nullptr;
  if (bad == nullptr || bad->code != wire::ErrorCode::BadRequest) return false;
  absl::StatusOr<std::unique_ptr<io::Stream>> http = rt_.network().Connect(nodes_[0].metrics, rt_.Now() + seconds(2));
  if (!http.ok()) return false;
  const std::string get = "GET /metrics HTTP/1.0\r\n\r\n";
  if (!(*http)->Write(std::vector<uint8_t>(get.begin(), get.end()), rt_.Now() + seconds(2)).ok()) return false;
  std::string response;
  std::vector<uint8_t> buffer(4096);
  while (true) {
    absl::StatusOr<size_t> n = (*http)->Read(buffer, rt_.Now() + seconds(2));
    if (!n.ok() || *n == 0) break;
    response.append(buffer.begin(), buffer.begin() + static_cast<ptrdiff_t>(*n));
  }
  fmt::print("demo: Ping answered, garbage refused with BadRequest, /metrics served ({} bytes)\n",
             response.size());
  return response.rfind("HTTP/1.0 200", 0) == 0;
}

bool Demo::Run() {
  const io::Instant start = rt_.Now();
  leader_ = FindLeader(0, seconds(20));
  if (leader_ == 0) return false;
  fmt::print("demo: n{} elected leader {} ms after start\n", leader_,
             std::chrono::duration_cast<milliseconds>(rt_.Now() - start).count());
  if (!CheckBasics() || !CommitEntries(kEntriesPerPhase)) return false;
  fmt::print("demo: {} entries committed through n{}\n", kEntriesPerPhase, leader_);

  const int killed = leader_;
  kill(nodes_[killed - 1].pid, SIGKILL);
  waitpid(nodes_[killed - 1].pid, nullptr, 0);
  const io::Instant killed_at = rt_.Now();
  fmt::print("demo: kill -9 n{} (the leader)\n", killed);
  leader_ = FindLeader(killed, seconds(20));
  if (leader_ == 0) return false;
  const auto election_ms = std::chrono::duration_cast<milliseconds>(rt_.Now() - killed_at).count();
  fmt::print("demo: n{} is the new leader, {} ms after the kill\n", leader_, election_ms);
  if (!CommitEntries(kEntriesPerPhase)) return false;
  fmt::print("demo: {} more entries committed through n{} with n{} down\n", kEntriesPerPhase, leader_, killed);

  Start(binary_, nodes_[killed - 1], nodes_);
  const io::Instant restarted_at = rt_.Now();
  uint64_t last = 0;
  for (const auto& [index, value] : acknowledged_) last = std::max(last, index);
  if (!WaitApplied(killed, last, seconds(30))) return false;
  fmt::print("demo: n{} restarted from its data directory and caught up to index {} in {} ms\n",
             killed, last, std::chrono::duration_cast<milliseconds>(rt_.Now() - restarted_at).count());
  if (!Verify()) return false;
  fmt::print("demo: all {} acknowledged entries are on all {} nodes at their indexes\n",
             acknowledged_.size(), kNodes);
  std::vector<int64_t> sorted = commit_latencies_ns_;
  std::sort(sorted.begin(), sorted.end());
  const auto p = [&](double q) { return sorted[static_cast<size_t>(q * (sorted.size() - 1))] / 1e6; };
  fmt::print("demo: figures: committed={} election_ms={} catch_up_to_index={} "
             "commit_latency_ms_p50={:.2f} p99={:.2f} commits_per_s_one_client={:.0f} "
             "(each commit: a new TCP connection, a quorum round trip, fsyncs on 2 of 3 nodes)\n",
             acknowledged_.size(), election_ms, last, p(0.5), p(0.99),
             sorted.size() / (commit_busy_ns_ / 1e9));
  return true;
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: demo PATH_TO_MERIDIAN_NODE\n");
    return 2;
  }
  char pattern[] = "/tmp/meridian-demo-XXXXXX";
  const std::string root = mkdtemp(pattern);
  std::vector<NodeProcess> nodes(kNodes);
  for (int i = 0; i < kNodes; i++) {
    nodes[i] = {i + 1, {"127.0.0.1", FreeLoopbackPort()}, {"127.0.0.1", FreeLoopbackPort()},
                {"127.0.0.1", FreeLoopbackPort()}, fmt::format("{}/n{}", root, i + 1)};
  }
  for (NodeProcess& node : nodes) Start(argv[1], node, nodes);
  fmt::print("demo: started {} meridian-node processes (data under {})\n", kNodes, root);
  bool ok = false;
  {
    absl::StatusOr<std::unique_ptr<io::posix::PosixRuntime>> runtime =
        io::posix::PosixRuntime::Create({.node = io::NodeId(100), .data_dir = root + "/client"});
    if (runtime.ok()) {
      io::posix::PosixRuntime& rt = **runtime;
      Demo demo(rt, nodes, argv[1]);
      rt.Spawn("demo", [&] {
        ok = demo.Run();
        rt.Stop();
      });
      rt.Run();
    }
  }
  bool clean = true;
  for (NodeProcess& node : nodes) {
    kill(node.pid, SIGTERM);
    int status = 0;
    waitpid(node.pid, &status, 0);
    clean &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  fmt::print("demo: all nodes stopped on SIGTERM, {}\n", clean ? "exit 0" : "NOT cleanly");
  std::filesystem::remove_all(root);
  const bool passed = ok && clean;
  fmt::print("demo: {}\n", passed ? "PASSED: a 3-node raft cluster survived kill -9 of its leader"
                                  : "FAILED");
  return passed ? 0 : 1;
}

}  // namespace
}  // namespace meridian::node

int main(int argc, char** argv) { return meridian::node::Main(argc, argv); }
