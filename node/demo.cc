// The README's main job, `bazel run //node:demo`: a local cluster of three real meridian-node
// processes (regions r1, r2, r3 on loopback) used the way an application would use it, through
// core/client, across a kill -9 of a partition leader.
//
//  1. start three nodes; create topic "orders" (3 partitions, replication factor 3) through
//     the admin API; check that garbage is refused with BadRequest and /metrics is served;
//  2. produce keyed records with an idempotent producer (acks=quorum: fsynced on a quorum);
//  3. kill -9 the leader of partition 0 mid-stream and keep producing; measure how long
//     partition 0 was unavailable to the producer;
//  4. restart the killed node from its data directory; produce more; wait until it caught up;
//  5. consume every partition from the beginning and check that every acknowledged record was
//     read exactly once, in per-partition offset order — judged by checks/' log checker on the
//     run's history (send / assign / poll);
//  6. stop all nodes with SIGTERM and check they exit cleanly.
// Exits 0 only if every step worked; //node:demo_test runs exactly this.
#include <fmt/format.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "checks/history.h"
#include "checks/log_checker.h"
#include "core/client/client.h"
#include "core/client/consumer.h"
#include "core/client/errors.h"
#include "core/client/partitioner.h"
#include "core/client/producer.h"
#include "io/assert.h"
#include "io/frame.h"
#include "io/posix/posix_network.h"
#include "io/posix/posix_runtime.h"
#include "node/local_cluster.h"

namespace meridian::node {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
constexpr int kNodes = 3;
constexpr uint32_t kPartitions = 3;
constexpr int kRecordsPerPhase = 2000;
constexpr char kTopic[] = "orders";

double Millis(io::Duration duration) {
  return std::chrono::duration<double, std::milli>(duration).count();
}

class Demo {
 public:
  Demo(io::posix::PosixRuntime& rt, LocalCluster& cluster)
      : rt_(rt), cluster_(cluster), nodes_(cluster.nodes()) {
    client::ClientOptions options;
    for (const NodeProcess& node : nodes_) options.bootstrap.push_back(node.client);
    options.client_id = "demo";
    options.request_timeout = seconds(3);
    client_ = std::make_unique<client::Client>(rt_, options);
  }

  bool Run();

 private:
  bool CreateTopic();
  bool CheckBasics();
  bool Produce(int records, const char* phase);
  int LeaderOf(uint32_t partition);
  bool Consume();
  bool Judge();
  void Finish();

  io::posix::PosixRuntime& rt_;
  LocalCluster& cluster_;
  std::vector<NodeProcess>& nodes_;
  std::unique_ptr<client::Client> client_;
  std::unique_ptr<client::Producer> producer_;
  checks::History history_;
  int64_t next_value_ = 1;
  int64_t next_process_ = 0;
  uint64_t acknowledged_ = 0;
  std::vector<double> latencies_ms_;
  io::Duration produce_busy_{0};
  io::Instant killed_at_ = io::Instant::Infinite();
  io::Instant partition0_back_at_ = io::Instant::Infinite();
};

bool Demo::CreateTopic() {
  const io::Instant start = rt_.Now();
  while (rt_.Now() < start + seconds(30)) {
    absl::StatusOr<wire::TopicInfoT> created = client_->CreateTopic(kTopic, kPartitions, kNodes);
    if (created.ok()) {
      fmt::print(
          "demo: topic '{}' created ({} partitions, replication factor {}) {:.0f} ms "
          "after the nodes started; replicas:",
          kTopic, kPartitions, kNodes, Millis(rt_.Now() - start));
      for (const auto& partition : created->partitions) {
        fmt::print(" p{}=[{}]", partition->partition, fmt::join(partition->replicas, ","));
      }
      fmt::print("\n");
      return true;
    }
    (void)rt_.Sleep(milliseconds(200));  // The controller is electing and nodes registering.
  }
  fmt::print("demo: could not create the topic within 30 s\n");
  return false;
}

bool Demo::CheckBasics() {
  // Bytes that are not a protocol message get BadRequest, and the connection is closed.
  absl::StatusOr<std::unique_ptr<io::Stream>> stream =
      rt_.network().Connect(nodes_[0].client, rt_.Now() + seconds(2));
  if (!stream.ok()) return false;
  const std::string garbage = "not a flatbuffer";
  if (!io::WriteFrame(**stream, std::vector<uint8_t>(garbage.begin(), garbage.end()),
                      rt_.Now() + seconds(2))
           .ok()) {
    return false;
  }
  io::FrameReader reader(**stream);
  absl::StatusOr<std::vector<uint8_t>> frame = reader.Read(rt_.Now() + seconds(2));
  auto refusal = frame.ok() ? wire::DecodeClientMessage(*frame) : frame.status();
  if (!refusal.ok() || (*refusal)->body.AsErrorResponse() == nullptr ||
      (*refusal)->body.AsErrorResponse()->code != wire::ErrorCode::BadRequest) {
    fmt::print("demo: garbage was not refused with BadRequest\n");
    return false;
  }
  absl::StatusOr<std::unique_ptr<io::Stream>> http =
      static_cast<io::posix::PosixNetwork&>(rt_.network())
          .ConnectPlain(nodes_[0].metrics, rt_.Now() + seconds(2));
  if (!http.ok()) return false;
  const std::string get = "GET /metrics HTTP/1.0\r\n\r\n";
  if (!(*http)->Write(std::vector<uint8_t>(get.begin(), get.end()), rt_.Now() + seconds(2)).ok()) {
    return false;
  }
  std::string response;
  std::vector<uint8_t> buffer(4096);
  while (true) {
    absl::StatusOr<size_t> n = (*http)->Read(buffer, rt_.Now() + seconds(2));
    if (!n.ok() || *n == 0) break;
    response.append(buffer.begin(), buffer.begin() + static_cast<ptrdiff_t>(*n));
  }
  fmt::print("demo: garbage refused with BadRequest; /metrics served ({} bytes)\n",
             response.size());
  for (const char* metric : {"meridian_produce_requests_total", "meridian_partitions_hosted",
                             "meridian_raft_messages_dropped_total"}) {
    if (response.find(metric) == std::string::npos) {
      fmt::print("demo: /metrics lacks {}\n", metric);
      return false;
    }
  }
  return response.rfind("HTTP/1.0 200", 0) == 0;
}

// Sends `records` keyed records, all in flight at once (the producer batches them), and records
// each as one send in the history (one process per record: a process has one operation open).
bool Demo::Produce(int records, const char* phase) {
  struct Pending {
    size_t op;
    io::Instant sent;
    std::shared_ptr<client::DeliveryPromise> delivery;
  };
  std::vector<Pending> pending;
  const io::Instant start = rt_.Now();
  for (int i = 0; i < records; i++) {
    const int64_t value = next_value_++;
    const std::string key = fmt::format("customer-{}", value % 50);
    checks::Operation send{
        .process = next_process_++, .f = checks::Function::kSend, .invoke_ns = rt_.Now().nanos()};
    send.partition = client::PartitionForKey(key, kPartitions);
    send.values = {value};
    history_.operations.push_back(send);
    absl::StatusOr<std::shared_ptr<client::DeliveryPromise>> sent =
        producer_->Send(kTopic, key, std::to_string(value), {}, 0, rt_.Now() + seconds(30));
    if (!sent.ok()) {
      fmt::print("demo: send failed at once: {}\n", sent.status().ToString());
      return false;
    }
    pending.push_back({history_.operations.size() - 1, rt_.Now(), *sent});
  }
  uint64_t ok = 0;
  for (Pending& p : pending) {
    auto waited = p.delivery->Wait(rt_.Now() + seconds(60));
    checks::Operation& op = history_.operations[p.op];
    op.complete_ns = rt_.Now().nanos();
    if (waited.ok() && (*waited)->ok() && (**waited)->offset.has_value()) {
      op.outcome = checks::Outcome::kOk;
      op.offsets = {static_cast<int64_t>((**waited)->offset->value())};
      latencies_ms_.push_back(Millis(rt_.Now() - p.sent));
      if (op.partition == 0 && killed_at_ != io::Instant::Infinite() &&
          partition0_back_at_ == io::Instant::Infinite()) {
        partition0_back_at_ = rt_.Now();
      }
      ok++;
    } else {
      op.outcome = checks::Outcome::kInfo;  // Unknown: the checker allows either way.
      fmt::print("demo: record {} not acknowledged: {}\n", op.values[0],
                 waited.ok() ? (*waited)->status().ToString() : waited.status().ToString());
    }
  }
  produce_busy_ += rt_.Now() - start;
  acknowledged_ += ok;
  fmt::print("demo: {}: {} of {} records acknowledged in {:.0f} ms\n", phase, ok, records,
             Millis(rt_.Now() - start));
  return ok == static_cast<uint64_t>(records);
}

int Demo::LeaderOf(uint32_t partition) {
  for (const NodeProcess& node : nodes_) {
    absl::StatusOr<wire::ReplicaStatusResponseT> status =
        client_->ReplicaStatus(io::NodeId(node.id));
    if (!status.ok()) continue;
    for (const auto& replica : status->replicas) {
      if (replica->topic == kTopic && replica->partition == partition &&
          replica->role == "leader") {
        return node.id;
      }
    }
  }
  return 0;
}

bool Demo::Consume() {
  client::ConsumerOptions options;
  options.auto_offset_reset = client::OffsetReset::kNone;
  client::Consumer consumer(*client_, options);
  const int64_t process = next_process_++;
  checks::Operation assign{.process = process,
                           .f = checks::Function::kAssign,
                           .outcome = checks::Outcome::kOk,
                           .invoke_ns = rt_.Now().nanos()};
  std::vector<client::TopicPartition> all;
  for (uint32_t p = 0; p < kPartitions; p++) {
    all.push_back({kTopic, p});
    assign.partitions.push_back(p);
  }
  if (!consumer.Assign(all).ok()) return false;
  assign.complete_ns = rt_.Now().nanos();
  history_.operations.push_back(assign);
  const io::Instant start = rt_.Now();
  uint64_t read = 0;
  while (read < acknowledged_ && rt_.Now() < start + seconds(60)) {
    checks::Operation poll{.process = process,
                           .f = checks::Function::kPoll,
                           .outcome = checks::Outcome::kOk,
                           .invoke_ns = rt_.Now().nanos()};
    absl::StatusOr<std::vector<client::ConsumedRecord>> records = consumer.Poll(milliseconds(500));
    if (!records.ok()) {
      fmt::print("demo: poll failed: {}\n", records.status().ToString());
      return false;
    }
    for (const client::ConsumedRecord& record : *records) {
      int64_t value = 0;
      if (!absl::SimpleAtoi(record.value, &value)) return false;
      poll.reads.push_back({record.partition, static_cast<int64_t>(record.offset.value()), value});
    }
    read += records->size();
    poll.complete_ns = rt_.Now().nanos();
    if (!poll.reads.empty()) history_.operations.push_back(poll);
  }
  consumer.Close();
  fmt::print("demo: consumed {} records from the beginning of {} partitions in {:.0f} ms\n", read,
             kPartitions, Millis(rt_.Now() - start));
  return read == acknowledged_;
}

bool Demo::Judge() {
  std::sort(history_.operations.begin(), history_.operations.end(),
            [](const auto& a, const auto& b) { return a.invoke_ns < b.invoke_ns; });
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
  return report->verdict == checks::Verdict::kValid;
}

bool Demo::Run() {
  if (!CreateTopic() || !CheckBasics()) return false;
  absl::StatusOr<std::unique_ptr<client::Producer>> producer = client::Producer::Create(*client_);
  if (!producer.ok()) {
    fmt::print("demo: no producer: {}\n", producer.status().ToString());
    return false;
  }
  producer_ = std::move(*producer);
  fmt::print("demo: idempotent producer id {} (acks=quorum: fsynced on a quorum before the ack)\n",
             producer_->producer_id());
  if (!Produce(kRecordsPerPhase, "phase 1, all nodes up")) return false;

  const int victim = LeaderOf(0);
  if (victim == 0) {
    fmt::print("demo: no leader found for partition 0\n");
    return false;
  }
  cluster_.Kill(nodes_[victim - 1]);
  killed_at_ = rt_.Now();
  fmt::print("demo: kill -9 n{} (the leader of partition 0)\n", victim);
  if (!Produce(kRecordsPerPhase, "phase 2, one node killed")) return false;
  fmt::print("demo: partition 0 took writes again {:.0f} ms after the kill (new leader: n{})\n",
             Millis(partition0_back_at_ - killed_at_), LeaderOf(0));

  cluster_.Start(nodes_[victim - 1]);
  const io::Instant restarted_at = rt_.Now();
  if (!Produce(kRecordsPerPhase, "phase 3, the killed node restarted")) return false;
  // Caught up: each of its replicas has the high watermark of that partition's leader.
  bool caught_up = false;
  while (!caught_up && rt_.Now() < restarted_at + seconds(30)) {
    absl::StatusOr<wire::ReplicaStatusResponseT> mine = client_->ReplicaStatus(io::NodeId(victim));
    caught_up = mine.ok() && mine->replicas.size() == kPartitions;
    for (size_t i = 0; caught_up && i < mine->replicas.size(); i++) {
      const int leader = LeaderOf(mine->replicas[i]->partition);
      absl::StatusOr<wire::ReplicaStatusResponseT> theirs =
          leader == 0 ? absl::UnavailableError("no leader")
                      : client_->ReplicaStatus(io::NodeId(leader));
      if (!theirs.ok()) {
        caught_up = false;
        break;
      }
      for (const auto& replica : theirs->replicas) {
        if (replica->partition == mine->replicas[i]->partition &&
            replica->high_watermark != mine->replicas[i]->high_watermark) {
          caught_up = false;
        }
      }
    }
    if (!caught_up) (void)rt_.Sleep(milliseconds(100));
  }
  if (!caught_up) {
    fmt::print("demo: n{} did not catch up within 30 s\n", victim);
    return false;
  }
  fmt::print("demo: n{} restarted from its data directory and caught up {:.0f} ms later\n", victim,
             Millis(rt_.Now() - restarted_at));
  (void)producer_->Close(rt_.Now() + seconds(5));
  if (!Consume() || !Judge()) return false;
  std::vector<double> sorted = latencies_ms_;
  std::sort(sorted.begin(), sorted.end());
  const auto p = [&](double q) { return sorted[static_cast<size_t>(q * (sorted.size() - 1))]; };
  fmt::print(
      "demo: figures: acknowledged={} produce_latency_ms_p50={:.1f} p99={:.1f} "
      "records_per_s={:.0f} (one producer, {} records in flight per phase, each acked "
      "after fsync on 2 of 3 nodes; latencies include queueing behind the batch)\n",
      acknowledged_, p(0.5), p(0.99),
      static_cast<double>(acknowledged_) / std::chrono::duration<double>(produce_busy_).count(),
      kRecordsPerPhase);
  return true;
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: demo PATH_TO_MERIDIAN_NODE\n");
    return 2;
  }
  char pattern[] = "/tmp/meridian-demo-XXXXXX";
  const std::string root = mkdtemp(pattern);
  LocalCluster cluster(argv[1], root, kNodes);
  cluster.StartAll();
  fmt::print("demo: started {} meridian-node processes in regions r1..r{} (data under {})\n",
             kNodes, kNodes, root);
  fmt::print("demo: mutual TLS on peer links and client ports (CA and certificates in {}/certs)\n",
             root);
  std::vector<std::string> kafka;
  for (const NodeProcess& node : cluster.nodes()) kafka.push_back(node.kafka.ToString());
  fmt::print("demo: Kafka listeners on {} (docs/kafka.md: kcat -b {} -L)\n", fmt::join(kafka, ","),
             kafka.front());
  bool ok = false;
  {
    absl::StatusOr<std::unique_ptr<io::posix::PosixRuntime>> runtime =
        io::posix::PosixRuntime::Create({.node = io::NodeId(100),
                                         .data_dir = root + "/client",
                                         .security = cluster.ClientSecurity()});
    if (runtime.ok()) {
      io::posix::PosixRuntime& rt = **runtime;
      auto demo = std::make_unique<Demo>(rt, cluster);
      rt.Spawn("demo", [&] {
        ok = demo->Run();
        demo.reset();  // Close the client's fibers while the runtime still runs.
        rt.Stop();
      });
      rt.Run();
    }
  }
  const bool clean = cluster.StopAll();
  fmt::print("demo: all nodes stopped on SIGTERM, {}\n", clean ? "exit 0" : "NOT cleanly");
  std::filesystem::remove_all(root);
  const bool passed = ok && clean;
  fmt::print("demo: {}\n", passed ? "PASSED: every acknowledged record was consumed exactly once, "
                                    "in order, across a kill -9 of a partition leader"
                                  : "FAILED");
  return passed ? 0 : 1;
}

}  // namespace
}  // namespace meridian::node

int main(int argc, char** argv) { return meridian::node::Main(argc, argv); }
