// The README's main job, part two, `bazel run //node:region_demo`: a local cluster of nine real
// meridian-node processes on loopback, three regions of three zones each, survives the loss of
// a whole region — used the way an application would use it, through core/client.
//
//  1. start nodes n1-n3 (region r1), n4-n6 (r2), n7-n9 (r3), mutual TLS everywhere; create a
//     strong topic "payments" (a voter in every region) and a regional topic "clicks" (every
//     voter in r1, one observer in r2 and one in r3); produce to both;
//  2. while records to both are in flight, kill -9 all three nodes of r1 (a region lost);
//     keep producing: "payments" keeps taking writes (a quorum of its voters survives), "clicks"
//     cannot until the controller promotes an observer (after --promotion_delay_ms without a
//     data-lease renewal from any voter): measure both recovery times;
//  3. print each promotion (epoch, new voter, the offset the new epoch begins at) and the
//     acknowledged records the promotion discarded (the RPO), counted from the run's history;
//  4. bring r1 back: its nodes restart from their data directories, catch up on "payments",
//     discard their old-epoch "clicks" replicas and report what they discarded on /metrics;
//  5. consume both topics from the beginning: checks/' log checker must find every acknowledged
//     "payments" record exactly once, in order (RPO 0), and every acknowledged "clicks" record
//     except those the promotion reported discarding;
//  6. stop all nodes with SIGTERM and check they exit cleanly.
// Exits 0 only if every step worked; //node:region_demo_test runs exactly this.
#include <fmt/format.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "checks/log_checker.h"
#include "core/client/client.h"
#include "core/client/producer.h"
#include "io/posix/posix_runtime.h"
#include "node/demo_recorder.h"
#include "node/local_cluster.h"

namespace meridian::node {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
constexpr int kRegions = 3;
constexpr int kNodesPerRegion = 3;
constexpr uint32_t kPartitions = 3;
constexpr int kRecordsPerPhase = 1000;
constexpr char kStrong[] = "payments";
constexpr char kRegional[] = "clicks";
constexpr char kLostRegion[] = "r1";
// Short so that the demo is short; the defaults are 10 s and 30 s (docs/design.md).
constexpr io::Duration kRegionalLease = seconds(2);
constexpr io::Duration kPromotionDelay = seconds(5);
// How long the observers are held behind before the loss (well inside the lease, so r1 keeps
// serving "clicks" meanwhile).
constexpr io::Duration kObserverLag = milliseconds(1200);

class RegionDemo {
 public:
  RegionDemo(io::posix::PosixRuntime& rt, LocalCluster& cluster)
      : rt_(rt),
        cluster_(cluster),
        nodes_(cluster.nodes()),
        strong_(rt, kStrong, kPartitions),
        regional_(rt, kRegional, kPartitions) {
    core::client::ClientOptions options;
    for (const NodeProcess& node : nodes_) options.bootstrap.push_back(node.client);
    options.client_id = "region-demo";
    options.request_timeout = seconds(3);
    client_ = std::make_unique<core::client::Client>(rt_, options);
  }

  bool Run();

 private:
  bool CreateTopics();
  bool CreateTopic(core::wire::CreateTopicRequestT request);
  bool StartProducers();
  bool SendBoth(int records, const char* phase);
  bool LoseRegion();
  bool AwaitPromotions();
  bool ProduceAfterPromotion();
  bool ReturnRegion();
  bool StrongCaughtUp(const NodeProcess& node);
  bool OldEpochGone(const NodeProcess& node);
  std::vector<std::string> DiscardReports();
  bool ConsumeAndJudge();
  void PrintFigures();

  io::posix::PosixRuntime& rt_;
  LocalCluster& cluster_;
  std::vector<NodeProcess>& nodes_;
  std::unique_ptr<core::client::Client> client_;
  std::unique_ptr<core::client::Producer> strong_producer_, regional_producer_;
  RecordedTopic strong_, regional_;
  io::Instant lost_at_ = io::Instant::Infinite();
  struct Promotion {
    uint32_t epoch = 0;
    int64_t promoted_offset = 0;
    uint64_t group = 0;
    io::Instant seen;
  };
  std::vector<Promotion> promotions_;  // Per "clicks" partition.
  std::vector<int64_t> phase1_end_;    // Per "clicks" partition: past its last phase-1 record.
  uint64_t rpo_records_ = 0;
  double strong_rto_ms_ = 0, regional_rto_ms_ = 0;  // Max over partitions.
  double reported_discarded_ = 0;
};

bool RegionDemo::CreateTopic(core::wire::CreateTopicRequestT request) {
  const io::Instant start = rt_.Now();
  while (rt_.Now() < start + seconds(30)) {
    absl::StatusOr<core::wire::TopicInfoT> created = client_->CreateTopic(request);
    if (created.ok()) {
      fmt::print("region-demo: topic '{}' ({}):", created->name,
                 created->consistency == core::wire::Consistency::Regional
                     ? fmt::format("regional, home {}", created->home_region)
                     : std::string("strong"));
      for (const auto& partition : created->partitions) {
        fmt::print(" p{} voters=[{}] observers=[{}]", partition->partition,
                   fmt::join(partition->replicas, ","), fmt::join(partition->observers, ","));
      }
      fmt::print("\n");
      return true;
    }
    (void)rt_.Sleep(milliseconds(200));  // The controller is electing and nodes registering.
  }
  fmt::print("region-demo: could not create topic '{}' within 30 s\n", request.name);
  return false;
}

bool RegionDemo::CreateTopics() {
  core::wire::CreateTopicRequestT strong;
  strong.name = kStrong;
  strong.partitions = kPartitions;
  strong.replication_factor = 3;
  strong.consistency = core::wire::Consistency::Strong;
  core::wire::CreateTopicRequestT regional = strong;
  regional.name = kRegional;
  regional.consistency = core::wire::Consistency::Regional;
  regional.home_region = kLostRegion;
  regional.observers_per_region = 1;
  return CreateTopic(strong) && CreateTopic(regional);
}

bool RegionDemo::StartProducers() {
  for (auto* producer : {&strong_producer_, &regional_producer_}) {
    absl::StatusOr<std::unique_ptr<core::client::Producer>> created =
        core::client::Producer::Create(*client_);
    if (!created.ok()) {
      fmt::print("region-demo: no producer: {}\n", created.status().ToString());
      return false;
    }
    *producer = std::move(*created);
  }
  fmt::print(
      "region-demo: two idempotent producers, acks=quorum (fsynced on a quorum of the "
      "partition's voters before the ack)\n");
  return true;
}

bool RegionDemo::SendBoth(int records, const char* phase) {
  const io::Instant deadline = rt_.Now() + seconds(60);
  absl::Status strong = strong_.Send(*strong_producer_, records, deadline);
  absl::Status regional = regional_.Send(*regional_producer_, records, deadline);
  if (!strong.ok() || !regional.ok()) {
    fmt::print("region-demo: {}: a send was refused at once: {} / {}\n", phase, strong.ToString(),
               regional.ToString());
    return false;
  }
  return true;
}

// Kills every node of the lost region while records to both topics are in flight, then sends
// more; every "payments" record must be acknowledged, and "clicks" must take writes again once
// promoted.
bool RegionDemo::LoseRegion() {
  // The observers fall behind first, as they would behind a slow cross-region link: with the
  // other regions down for a moment, r1 acknowledges "clicks" records no observer has yet.
  for (NodeProcess& node : nodes_) {
    if (node.region != kLostRegion) cluster_.Kill(node);
  }
  if (!SendBoth(kRecordsPerPhase, "phase 2")) return false;
  (void)rt_.Sleep(kObserverLag);
  const uint64_t acknowledged_by_r1 = regional_.AcknowledgedNotWaited();
  for (NodeProcess& node : nodes_) {
    if (node.region == kLostRegion) cluster_.Kill(node);
  }
  lost_at_ = rt_.Now();
  for (NodeProcess& node : nodes_) {
    if (node.region != kLostRegion) cluster_.Start(node);
  }
  fmt::print(
      "region-demo: r2 and r3 down (kill -9) for {} while records went to both topics ({} "
      "clicks acknowledged by r1 meanwhile), then kill -9 n1, n2, n3 (region {} lost) and r2, "
      "r3 restarted\n",
      io::FormatDuration(kObserverLag), acknowledged_by_r1, kLostRegion);
  if (!SendBoth(kRecordsPerPhase, "phase 2, region lost")) return false;
  const RecordedTopic::Resolved strong = strong_.Wait(rt_.Now() + seconds(60));
  const RecordedTopic::Resolved regional = regional_.Wait(rt_.Now() + seconds(60));
  fmt::print(
      "region-demo: phase 2, region lost: payments {} acknowledged, {} unconfirmed; clicks {} "
      "acknowledged, {} unconfirmed\n",
      strong.acknowledged, strong.unknown, regional.acknowledged, regional.unknown);
  for (const auto* resolved : {&strong, &regional}) {
    if (resolved->unknown > 0) fmt::print("region-demo:   first: {}\n", resolved->first_error);
  }
  // Records in flight across the promotion whose earlier attempt went unanswered (to a node of
  // the lost region) stay unconfirmed: they may or may not be in the log, and the history says
  // so. Strong topics must have none: their voters outside r1 kept a quorum.
  return strong.unknown == 0;
}

// Sends to both topics once the promotions are done: everything must be acknowledged. Prints
// the recovery times: from the loss to the first acknowledgement of a record sent after it,
// max over partitions.
bool RegionDemo::ProduceAfterPromotion() {
  if (!SendBoth(kRecordsPerPhase, "phase 3")) return false;
  const RecordedTopic::Resolved strong = strong_.Wait(rt_.Now() + seconds(60));
  const RecordedTopic::Resolved regional = regional_.Wait(rt_.Now() + seconds(60));
  fmt::print(
      "region-demo: phase 3, after the promotion: payments {} and clicks {} of {} "
      "acknowledged\n",
      strong.acknowledged, regional.acknowledged, kRecordsPerPhase);
  for (uint32_t p = 0; p < kPartitions; p++) {
    strong_rto_ms_ =
        std::max(strong_rto_ms_, Millis(strong_.FirstAckOfSendAfter(p, lost_at_) - lost_at_));
    regional_rto_ms_ =
        std::max(regional_rto_ms_, Millis(regional_.FirstAckOfSendAfter(p, lost_at_) - lost_at_));
  }
  fmt::print(
      "region-demo: writes after the loss: payments in every partition {:.0f} ms after it "
      "(strong: a quorum of voters survived), clicks {:.0f} ms after it (regional: after the "
      "promotion)\n",
      strong_rto_ms_, regional_rto_ms_);
  return strong.unknown == 0 && regional.unknown == 0;
}

bool RegionDemo::AwaitPromotions() {
  promotions_.assign(kPartitions, {});
  const io::Instant start = rt_.Now();
  size_t promoted = 0;
  while (promoted < kPartitions && rt_.Now() < start + seconds(60)) {
    absl::StatusOr<core::wire::TopicInfoT> topic = client_->DescribeTopic(kRegional);
    for (size_t i = 0; topic.ok() && i < topic->partitions.size() && i < kPartitions; i++) {
      const core::wire::PartitionInfoT& partition = *topic->partitions[i];
      if (promotions_[i].epoch != 0 || partition.epoch == 0) continue;
      promotions_[i] = {.epoch = partition.epoch,
                        .promoted_offset = partition.promoted_offset,
                        .group = partition.group,
                        .seen = rt_.Now()};
      promoted++;
      fmt::print(
          "region-demo: clicks p{} promoted: epoch {}, voters=[{}] (an observer outside {}), "
          "the new epoch begins at offset {}\n",
          i, partition.epoch, fmt::join(partition.replicas, ","), kLostRegion,
          partition.promoted_offset);
    }
    if (promoted < kPartitions) (void)rt_.Sleep(milliseconds(100));
  }
  // Phase 1 reached the observers before they went down (the demo waited for that): a
  // promotion that discards any of it lost what the observers held, e.g. an observer whose
  // commit index did not survive its restart (core/replica: LearnerCommitStoreDue).
  for (uint32_t p = 0; p < kPartitions && promoted == kPartitions; p++) {
    if (promotions_[p].promoted_offset < phase1_end_[p]) {
      fmt::print(
          "region-demo: clicks p{} was promoted at offset {}, below the {} records its "
          "observers held before the loss\n",
          p, promotions_[p].promoted_offset, phase1_end_[p]);
      return false;
    }
  }
  if (promoted < kPartitions) {
    fmt::print("region-demo: only {} of {} clicks partitions were promoted\n", promoted,
               kPartitions);
    return false;
  }
  // An acknowledgement by the old epoch came before the loss; the new epoch acknowledges only
  // after its promotion, at least the promotion delay later.
  const io::Instant old_epoch_acks_end = lost_at_ + kPromotionDelay / 2;
  for (uint32_t p = 0; p < kPartitions; p++) {
    rpo_records_ +=
        regional_.ExcuseDiscarded(p, promotions_[p].promoted_offset, old_epoch_acks_end);
  }
  fmt::print(
      "region-demo: RPO of the promotion: {} acknowledged clicks record(s) were past the "
      "promoted observers' logs and are discarded\n",
      rpo_records_);
  return true;
}

bool RegionDemo::StrongCaughtUp(const NodeProcess& node) {
  absl::StatusOr<core::wire::ReplicaStatusResponseT> mine =
      client_->ReplicaStatus(io::NodeId(node.id));
  if (!mine.ok()) return false;
  for (const auto& replica : mine->replicas) {
    if (replica->topic != kStrong) continue;
    const int leader = LeaderOf(*client_, nodes_, kStrong, replica->partition);
    if (leader == 0) return false;
    absl::StatusOr<core::wire::ReplicaStatusResponseT> theirs =
        client_->ReplicaStatus(io::NodeId(leader));
    if (!theirs.ok()) return false;
    for (const auto& other : theirs->replicas) {
      if (other->topic == kStrong && other->partition == replica->partition &&
          other->high_watermark != replica->high_watermark) {
        return false;
      }
    }
  }
  return true;
}

// The node no longer hosts a "clicks" replica of an epoch before the promotion.
bool RegionDemo::OldEpochGone(const NodeProcess& node) {
  absl::StatusOr<core::wire::ReplicaStatusResponseT> status =
      client_->ReplicaStatus(io::NodeId(node.id));
  if (!status.ok()) return false;
  for (const auto& replica : status->replicas) {
    if (replica->topic == kRegional && replica->partition < kPartitions &&
        replica->group != promotions_[replica->partition].group) {
      return false;
    }
  }
  return true;
}

bool RegionDemo::ReturnRegion() {
  for (NodeProcess& node : nodes_) {
    if (node.region == kLostRegion) cluster_.Start(node);
  }
  const io::Instant back_at = rt_.Now();
  fmt::print("region-demo: region {} back: n1, n2, n3 restarted from their data directories\n",
             kLostRegion);
  bool settled = false;
  while (!settled && rt_.Now() < back_at + seconds(60)) {
    settled = true;
    for (const NodeProcess& node : nodes_) {
      if (node.region == kLostRegion && (!StrongCaughtUp(node) || !OldEpochGone(node))) {
        settled = false;
      }
    }
    if (!settled) (void)rt_.Sleep(milliseconds(200));
  }
  if (!settled) {
    fmt::print("region-demo: region {} did not settle within 60 s\n", kLostRegion);
    return false;
  }
  // Each discarded acknowledged record was on at least one old voter, which reports it when it
  // drops its old replica: a running one, or its directory at rest if the node restarted
  // already knowing of the promotion. The reports land shortly after the old epoch is gone.
  std::vector<std::string> reports = DiscardReports();
  while (reported_discarded_ < static_cast<double>(rpo_records_) &&
         rt_.Now() < back_at + seconds(90)) {
    (void)rt_.Sleep(milliseconds(200));
    reports = DiscardReports();
  }
  fmt::print(
      "region-demo: {:.0f} ms later r1 caught up on payments and dropped its old clicks "
      "replicas; meridian_promotion_records_discarded_total: {}\n",
      Millis(rt_.Now() - back_at), fmt::join(reports, " "));
  if (reported_discarded_ < static_cast<double>(rpo_records_)) {
    fmt::print(
        "region-demo: FAIL: the returning nodes reported discarding {:.0f} record(s), fewer "
        "than the {} acknowledged ones the promotion discarded (RPO under-reported)\n",
        reported_discarded_, rpo_records_);
    return false;
  }
  return true;
}

// Reads meridian_promotion_records_discarded_total from each node of the lost region into
// reported_discarded_ (their sum); returns "n<id>=<count>" per node.
std::vector<std::string> RegionDemo::DiscardReports() {
  std::vector<std::string> reports;
  reported_discarded_ = 0;
  for (const NodeProcess& node : nodes_) {
    if (node.region != kLostRegion) continue;
    const double discarded = MetricValue(HttpGet(rt_, node.metrics, "/metrics"),
                                         "meridian_promotion_records_discarded_total");
    reported_discarded_ += std::max(discarded, 0.0);
    reports.push_back(fmt::format("n{}={:.0f}", node.id, discarded));
  }
  return reports;
}

bool RegionDemo::ConsumeAndJudge() {
  bool valid = true;
  for (RecordedTopic* topic : {&strong_, &regional_}) {
    absl::StatusOr<uint64_t> read = topic->ConsumeAll(*client_, seconds(60));
    if (!read.ok()) {
      fmt::print("region-demo: consuming {} failed: {}\n", topic->topic(),
                 read.status().ToString());
      return false;
    }
    fmt::print("region-demo: consumed {} records of '{}' from the beginning ({} acknowledged)\n",
               *read, topic->topic(), topic->acknowledged());
    absl::StatusOr<checks::CheckReport> report = topic->Judge("region-demo");
    valid &= report.ok() && report->verdict == checks::Verdict::kValid;
  }
  return valid;
}

void RegionDemo::PrintFigures() {
  fmt::print(
      "region-demo: figures: payments acknowledged={} rpo=0 rto_ms={:.0f}; clicks "
      "acknowledged={} rpo={} (the old replicas reported discarding {:.0f}) rto_ms={:.0f}; on "
      "loopback both modes commit within one round trip of loopback: the cross-region cost of "
      "strong is measured by the simulator (docs/design.md)\n",
      strong_.acknowledged(), strong_rto_ms_, regional_.acknowledged(), rpo_records_,
      reported_discarded_, regional_rto_ms_);
}

bool RegionDemo::Run() {
  if (!CreateTopics() || !StartProducers()) return false;
  if (!SendBoth(kRecordsPerPhase, "phase 1")) return false;
  const RecordedTopic::Resolved strong = strong_.Wait(rt_.Now() + seconds(60));
  const RecordedTopic::Resolved regional = regional_.Wait(rt_.Now() + seconds(60));
  fmt::print(
      "region-demo: phase 1, all regions up: payments {} and clicks {} of {} acknowledged "
      "(produce latency p50/p99: payments {:.1f}/{:.1f} ms, clicks {:.1f}/{:.1f} ms, {} in "
      "flight)\n",
      strong.acknowledged, regional.acknowledged, kRecordsPerPhase,
      Quantile(strong_.latencies_ms(), 0.5), Quantile(strong_.latencies_ms(), 0.99),
      Quantile(regional_.latencies_ms(), 0.5), Quantile(regional_.latencies_ms(), 0.99),
      kRecordsPerPhase);
  // The observers catch up (and store their commit index) before they go down.
  (void)rt_.Sleep(seconds(1));
  for (uint32_t p = 0; p < kPartitions; p++) phase1_end_.push_back(regional_.EndOffset(p));
  if (strong.unknown != 0 || regional.unknown != 0) return false;
  if (!LoseRegion() || !AwaitPromotions() || !ProduceAfterPromotion() || !ReturnRegion()) {
    return false;
  }
  (void)strong_producer_->Close(rt_.Now() + seconds(5));
  (void)regional_producer_->Close(rt_.Now() + seconds(5));
  if (!ConsumeAndJudge()) return false;
  PrintFigures();
  return true;
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: region_demo PATH_TO_MERIDIAN_NODE\n");
    return 2;
  }
  char pattern[] = "/tmp/meridian-region-demo-XXXXXX";
  const std::string root = mkdtemp(pattern);
  LocalCluster cluster(
      argv[1], root, kRegions * kNodesPerRegion,
      {fmt::format("--regional_lease_ms={}",
                   std::chrono::duration_cast<milliseconds>(kRegionalLease).count()),
       fmt::format("--promotion_delay_ms={}",
                   std::chrono::duration_cast<milliseconds>(kPromotionDelay).count())},
      Transport::kMutualTls, kNodesPerRegion);
  cluster.StartAll();
  fmt::print(
      "region-demo: started {} meridian-node processes: regions r1 (n1-n3), r2 (n4-n6), r3 "
      "(n7-n9), zones z1-z3 in each; regional lease {}, promotion delay {} (data under {})\n",
      kRegions * kNodesPerRegion, io::FormatDuration(kRegionalLease),
      io::FormatDuration(kPromotionDelay), root);
  const bool passed = RunDemo("region-demo", cluster, [&](io::posix::PosixRuntime& rt) {
    return std::make_unique<RegionDemo>(rt, cluster)->Run();
  });
  fmt::print("region-demo: {}\n",
             passed ? "PASSED: a region lost and back; payments lost nothing acknowledged and "
                      "kept taking writes, clicks failed over and lost only what it reported"
                    : "FAILED");
  return passed ? 0 : 1;
}

}  // namespace
}  // namespace meridian::node

int main(int argc, char** argv) { return meridian::node::Main(argc, argv); }
