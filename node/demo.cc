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

#include <filesystem>
#include <string>
#include <vector>

#include "checks/log_checker.h"
#include "core/client/client.h"
#include "core/client/producer.h"
#include "core/wire/client_codec.h"
#include "io/frame.h"
#include "io/posix/posix_runtime.h"
#include "node/demo_recorder.h"
#include "node/local_cluster.h"

namespace meridian::node {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
constexpr int kNodes = 3;
constexpr uint32_t kPartitions = 3;
constexpr int kRecordsPerPhase = 2000;
constexpr char kTopic[] = "orders";

class Demo {
 public:
  Demo(io::posix::PosixRuntime& rt, LocalCluster& cluster)
      : rt_(rt), cluster_(cluster), nodes_(cluster.nodes()), orders_(rt, kTopic, kPartitions) {
    core::client::ClientOptions options;
    for (const NodeProcess& node : nodes_) options.bootstrap.push_back(node.client);
    options.client_id = "demo";
    options.request_timeout = seconds(3);
    client_ = std::make_unique<core::client::Client>(rt_, options);
  }

  bool Run();

 private:
  bool CreateTopic();
  bool CheckBasics();
  bool Produce(int records, const char* phase);
  bool WaitCaughtUp(int victim);

  io::posix::PosixRuntime& rt_;
  LocalCluster& cluster_;
  std::vector<NodeProcess>& nodes_;
  std::unique_ptr<core::client::Client> client_;
  std::unique_ptr<core::client::Producer> producer_;
  RecordedTopic orders_;
  io::Duration produce_busy_{0};
};

bool Demo::CreateTopic() {
  const io::Instant start = rt_.Now();
  while (rt_.Now() < start + seconds(30)) {
    absl::StatusOr<core::wire::TopicInfoT> created =
        client_->CreateTopic(kTopic, kPartitions, kNodes);
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
  auto refusal = frame.ok() ? core::wire::DecodeClientMessage(*frame) : frame.status();
  if (!refusal.ok() || (*refusal)->body.AsErrorResponse() == nullptr ||
      (*refusal)->body.AsErrorResponse()->code != core::wire::ErrorCode::BadRequest) {
    fmt::print("demo: garbage was not refused with BadRequest\n");
    return false;
  }
  const std::string response = HttpGet(rt_, nodes_[0].metrics, "/metrics");
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

// Sends `records` keyed records, all in flight at once (the producer batches them).
bool Demo::Produce(int records, const char* phase) {
  const io::Instant start = rt_.Now();
  if (absl::Status sent = orders_.Send(*producer_, records, rt_.Now() + seconds(30)); !sent.ok()) {
    fmt::print("demo: send failed at once: {}\n", sent.ToString());
    return false;
  }
  const RecordedTopic::Resolved resolved = orders_.Wait(rt_.Now() + seconds(60));
  produce_busy_ += rt_.Now() - start;
  fmt::print("demo: {}: {} of {} records acknowledged in {:.0f} ms\n", phase, resolved.acknowledged,
             records, Millis(rt_.Now() - start));
  return resolved.acknowledged == static_cast<uint64_t>(records);
}

// Caught up: each of its replicas has the high watermark of that partition's leader.
bool Demo::WaitCaughtUp(int victim) {
  const io::Instant restarted_at = rt_.Now();
  bool caught_up = false;
  while (!caught_up && rt_.Now() < restarted_at + seconds(30)) {
    absl::StatusOr<core::wire::ReplicaStatusResponseT> mine =
        client_->ReplicaStatus(io::NodeId(victim));
    caught_up = mine.ok() && mine->replicas.size() == kPartitions;
    for (size_t i = 0; caught_up && i < mine->replicas.size(); i++) {
      const int leader = LeaderOf(*client_, nodes_, kTopic, mine->replicas[i]->partition);
      absl::StatusOr<core::wire::ReplicaStatusResponseT> theirs =
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
  return true;
}

bool Demo::Run() {
  if (!CreateTopic() || !CheckBasics()) return false;
  absl::StatusOr<std::unique_ptr<core::client::Producer>> producer =
      core::client::Producer::Create(*client_);
  if (!producer.ok()) {
    fmt::print("demo: no producer: {}\n", producer.status().ToString());
    return false;
  }
  producer_ = std::move(*producer);
  fmt::print("demo: idempotent producer id {} (acks=quorum: fsynced on a quorum before the ack)\n",
             producer_->producer_id());
  if (!Produce(kRecordsPerPhase, "phase 1, all nodes up")) return false;

  const int victim = LeaderOf(*client_, nodes_, kTopic, 0);
  if (victim == 0) {
    fmt::print("demo: no leader found for partition 0\n");
    return false;
  }
  cluster_.Kill(nodes_[victim - 1]);
  const io::Instant killed_at = rt_.Now();
  fmt::print("demo: kill -9 n{} (the leader of partition 0)\n", victim);
  if (!Produce(kRecordsPerPhase, "phase 2, one node killed")) return false;
  fmt::print("demo: partition 0 took writes again {:.0f} ms after the kill (new leader: n{})\n",
             Millis(orders_.FirstAckOfSendAfter(0, killed_at) - killed_at),
             LeaderOf(*client_, nodes_, kTopic, 0));

  cluster_.Start(nodes_[victim - 1]);
  if (!Produce(kRecordsPerPhase, "phase 3, the killed node restarted")) return false;
  if (!WaitCaughtUp(victim)) return false;
  (void)producer_->Close(rt_.Now() + seconds(5));
  absl::StatusOr<uint64_t> read = orders_.ConsumeAll(*client_, seconds(60));
  if (!read.ok()) {
    fmt::print("demo: consuming failed: {}\n", read.status().ToString());
    return false;
  }
  fmt::print("demo: consumed {} records from the beginning of {} partitions\n", *read, kPartitions);
  absl::StatusOr<checks::CheckReport> report = orders_.Judge("demo");
  if (*read != orders_.acknowledged() || !report.ok() ||
      report->verdict != checks::Verdict::kValid) {
    return false;
  }
  fmt::print(
      "demo: figures: acknowledged={} produce_latency_ms_p50={:.1f} p99={:.1f} "
      "records_per_s={:.0f} (one producer, {} records in flight per phase, each acked "
      "after fsync on 2 of 3 nodes; latencies include queueing behind the batch)\n",
      orders_.acknowledged(), Quantile(orders_.latencies_ms(), 0.5),
      Quantile(orders_.latencies_ms(), 0.99),
      static_cast<double>(orders_.acknowledged()) /
          std::chrono::duration<double>(produce_busy_).count(),
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
  const bool passed = RunDemo("demo", cluster, [&](io::posix::PosixRuntime& rt) {
    return std::make_unique<Demo>(rt, cluster)->Run();
  });
  fmt::print("demo: {}\n", passed ? "PASSED: every acknowledged record was consumed exactly once, "
                                    "in order, across a kill -9 of a partition leader"
                                  : "FAILED");
  return passed ? 0 : 1;
}

}  // namespace
}  // namespace meridian::node

int main(int argc, char** argv) { return meridian::node::Main(argc, argv); }
