// Consumer groups on the deterministic simulator, through core/client: members share a topic's
// partitions and consume every record once between them; committed offsets survive a crash of
// the coordinator; a zombie member is fenced; admin resets need an empty group. The planted
// zombie-commit bug is shown to break the fence. (The group workload under faults, with the
// group checker, is sim/workloads/broker.)
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <string>

#include "core/client/client.h"
#include "core/client/errors.h"
#include "core/client/group_consumer.h"
#include "core/client/producer.h"
#include "io/probe.h"
#include "sim/sim_network.h"
#include "tests/broker/sim_cluster.h"

namespace meridian {
namespace {

constexpr uint32_t kPartitions = 4;
constexpr int kRecords = 40;

core::client::ClientOptions Options(std::string id) {
  core::client::ClientOptions options;
  options.bootstrap = {AddressOf(1), AddressOf(2), AddressOf(3)};
  options.client_id = std::move(id);
  options.request_timeout = seconds(3);
  return options;
}

// Creates topic "t" and writes kRecords records ("v0".."v39") over its partitions.
void CreateAndFill(io::Runtime& rt, core::client::Client& client) {
  CreateTopicAndFill(rt, client, "t", kPartitions, kRecords);
}

core::client::GroupConsumerOptions GroupOptions() {
  core::client::GroupConsumerOptions options;
  options.group = "g";
  options.topics = {"t"};
  options.session_timeout = seconds(3);
  options.rebalance_timeout = seconds(5);
  options.heartbeat_interval = milliseconds(300);
  options.auto_commit = false;
  options.consumer.fetch_max_wait = milliseconds(100);
  return options;
}

// The node that coordinates group "g" now (the leader of its partition of the offsets topic,
// as fresh metadata says); 0 when the metadata names none.
uint32_t CoordinatorOfG(core::client::Client& client) {
  const std::string offsets(core::wire::kOffsetsTopic);
  if (!client.RefreshMetadata({offsets}).ok()) return 0;
  const core::wire::TopicInfoT* topic = client.CachedTopic(offsets);
  if (topic == nullptr || topic->partitions.empty()) return 0;
  return topic->partitions[core::wire::GroupPartition("g", topic->partitions.size())]->leader;
}

TEST(GroupSim, TwoMembersSplitThePartitionsAndCommitsSurviveACoordinatorCrash) {
  BrokerCluster cluster(7);
  cluster.OnClient([&](io::Runtime& rt) {
    core::client::Client client(rt, Options("admin"));
    CreateAndFill(rt, client);
    // Two members in two fibers; together they must read every record exactly once.
    std::set<std::string> seen;
    int duplicates = 0;
    int finished = 0;
    std::vector<std::unique_ptr<core::client::GroupConsumer>> members;
    for (int m = 0; m < 2; m++) {
      core::client::GroupConsumerOptions options = GroupOptions();
      options.auto_commit = true;  // Commits before rejoining: the next owner starts there.
      members.push_back(std::make_unique<core::client::GroupConsumer>(client, options));
    }
    for (int m = 0; m < 2; m++) {
      rt.Spawn("member", [&, m] {
        core::client::GroupConsumer& member = *members[m];
        const io::Instant until = rt.Now() + seconds(40);
        while (rt.Now() < until && !(seen.size() == kRecords && member.assignment().size() == 2)) {
          absl::StatusOr<std::vector<core::client::ConsumedRecord>> records =
              member.Poll(milliseconds(100));
          if (!records.ok()) continue;
          for (const auto& record : *records) duplicates += !seen.insert(record.value).second;
        }
        ASSERT_TRUE(member.Commit().ok());
        finished++;
      });
    }
    while (finished < 2) (void)rt.Sleep(milliseconds(100));
    EXPECT_EQ(seen.size(), static_cast<size_t>(kRecords));
    EXPECT_EQ(duplicates, 0);
    EXPECT_EQ(members[0]->generation(), members[1]->generation());
    EXPECT_EQ(members[0]->assignment().size() + members[1]->assignment().size(), kPartitions);

    // Crash the coordinator: the committed offsets are in the log, not in its memory.
    absl::StatusOr<std::vector<std::unique_ptr<core::wire::GroupInfoT>>> before =
        client.DescribeGroups("g");
    ASSERT_TRUE(before.ok()) << before.status();
    ASSERT_EQ(before->size(), 1u);
    EXPECT_EQ((*before)[0]->members.size(), 2u);
    const uint32_t coordinator = CoordinatorOfG(client);
    ASSERT_NE(coordinator, 0u);
    for (auto& member : members) member->Close();
    cluster.world().Crash(io::NodeId(coordinator));
    int64_t total = 0;
    for (int attempt = 0; attempt < 100 && total != kRecords; attempt++) {
      auto committed = client.CommittedOffsets("g", {"t"});
      total = 0;
      if (committed.ok()) {
        for (const auto& offset : *committed) total += offset->offset;
      }
      (void)rt.Sleep(milliseconds(200));
    }
    EXPECT_EQ(total, kRecords) << "the offsets committed before the crash, summed";
  });
}

// A new coordinator takes the group's members from the log, rebalance timeouts included: a
// rebalance it starts waits for the longest rebalance timeout of the members the log holds, not
// only of the member that asked. Two members (5 s) share the partitions; the coordinator crashes;
// then a third member joins with a rebalance timeout (100 ms) shorter than the others'
// heartbeat interval (300 ms). Its first generation must still include the two (it gets a
// share, not every partition). A generation record without the members' rebalance timeouts
// left the new coordinator waiting 1 ms, and the first two were dropped from the generation.
TEST(GroupSim, ARebalanceAfterACoordinatorCrashWaitsForTheMembersTheLogHolds) {
  BrokerCluster cluster(11);
  cluster.OnClient([&](io::Runtime& rt) {
    core::client::Client client(rt, Options("admin"));
    CreateAndFill(rt, client);
    std::vector<std::unique_ptr<core::client::GroupConsumer>> members;
    bool stop = false;
    int stopped = 0;
    for (int m = 0; m < 2; m++) {
      members.push_back(std::make_unique<core::client::GroupConsumer>(client, GroupOptions()));
      rt.Spawn("member", [&, m] {
        while (!stop) (void)members[m]->Poll(milliseconds(100));
        stopped++;
      });
    }
    const auto settled = [&] {
      return members[0]->assignment().size() == 2 && members[1]->assignment().size() == 2 &&
             members[0]->generation() == members[1]->generation();
    };
    for (int i = 0; i < 200 && !settled(); i++) (void)rt.Sleep(milliseconds(100));
    ASSERT_TRUE(settled()) << "the two members never shared the partitions";
    const int32_t generation = members[0]->generation();
    const uint32_t coordinator = CoordinatorOfG(client);
    ASSERT_NE(coordinator, 0u);
    cluster.world().Crash(io::NodeId(coordinator));
    uint32_t successor = 0;
    for (int i = 0; i < 100 && (successor == 0 || successor == coordinator); i++) {
      (void)rt.Sleep(milliseconds(100));
      successor = CoordinatorOfG(client);
    }
    ASSERT_TRUE(successor != 0 && successor != coordinator) << "no new coordinator";
    (void)rt.Sleep(seconds(2));  // The members' heartbeats find it.
    ASSERT_EQ(members[0]->generation(), generation) << "the premise: no rebalance at failover";
    core::client::GroupConsumerOptions hasty = GroupOptions();
    hasty.rebalance_timeout = milliseconds(100);
    core::client::GroupConsumer third(client, hasty);
    ASSERT_TRUE(third.EnsureJoined().ok());
    EXPECT_GT(third.generation(), generation);
    EXPECT_LT(third.assignment().size(), kPartitions)
        << "the third member's first generation left the other two out";
    stop = true;
    while (stopped < 2) (void)rt.Sleep(milliseconds(100));
    third.Close();
    for (auto& member : members) member->Close();
  });
}

// Close() from a fiber that was cancelled to stop it (an application's consume loop on Ctrl-C)
// still commits and leaves, even when the coordinator has just crashed: every wait of a
// cancelled fiber ends at once, so Close runs its way out in a fiber of its own. Before, the
// commit failed "cancelled" and the leave was never retried at the new coordinator: the group
// kept the member until its session timeout and the records read were not committed.
TEST(GroupSim, CloseFromACancelledFiberCommitsAndLeavesDespiteACoordinatorCrash) {
  BrokerCluster cluster(9);
  cluster.OnClient([&](io::Runtime& rt) {
    core::client::Client client(rt, Options("admin"));
    CreateAndFill(rt, client);
    core::client::GroupConsumerOptions options = GroupOptions();
    options.auto_commit = true;
    options.auto_commit_interval = seconds(600);  // Only Close commits.
    options.session_timeout = seconds(120);       // Only a leave empties the group in time.
    core::client::GroupConsumer member(client, options);
    size_t consumed = 0;
    bool closed = false;
    const io::FiberId loop = rt.Spawn("consume-loop", [&] {
      // Consume until cancelled, as an application does; then close on the way out.
      while (true) {
        absl::StatusOr<std::vector<core::client::ConsumedRecord>> records =
            member.Poll(milliseconds(100));
        if (records.ok()) consumed += records->size();
        if (!records.ok() && absl::IsCancelled(records.status())) break;
        if (records.ok() && records->empty() && !rt.Sleep(milliseconds(100)).ok()) break;
      }
      member.Close();
      closed = true;
    });
    const io::Instant until = rt.Now() + seconds(40);
    while (consumed < kRecords && rt.Now() < until) (void)rt.Sleep(milliseconds(100));
    ASSERT_EQ(consumed, static_cast<size_t>(kRecords));
    const uint32_t coordinator = CoordinatorOfG(client);
    ASSERT_NE(coordinator, 0u);
    cluster.world().Crash(io::NodeId(coordinator));
    rt.scheduler().Cancel(loop);
    rt.scheduler().Join(loop);
    ASSERT_TRUE(closed);
    // Well inside the session timeout: the group is empty and every record read is committed.
    absl::StatusOr<std::vector<std::unique_ptr<core::wire::GroupInfoT>>> groups;
    for (int attempt = 0; attempt < 50; attempt++) {
      groups = client.DescribeGroups("g");
      if (groups.ok()) break;
      (void)rt.Sleep(milliseconds(100));
    }
    ASSERT_TRUE(groups.ok()) << groups.status();
    ASSERT_EQ(groups->size(), 1u);
    EXPECT_TRUE((*groups)[0]->members.empty()) << "the leave did not reach the new coordinator";
    absl::StatusOr<std::vector<std::unique_ptr<core::wire::PartitionOffsetT>>> committed =
        client.CommittedOffsets("g", {"t"});
    ASSERT_TRUE(committed.ok()) << committed.status();
    int64_t total = 0;
    for (const auto& offset : *committed) total += offset->offset;
    EXPECT_EQ(total, kRecords) << "the offsets Close committed, summed";
  });
}

// Joins as a new member of "g" with raw requests; the response.
absl::StatusOr<core::wire::JoinGroupResponseT> RawJoin(core::client::Client& client,
                                                       io::Runtime& rt, std::string member_id) {
  core::wire::JoinGroupRequestT join;
  join.group = "g";
  join.member_id = std::move(member_id);
  join.topics = {"t"};
  join.session_timeout_ms = 2000;
  join.rebalance_timeout_ms = 2000;
  return core::client::TakeBody<core::wire::JoinGroupResponseT>(
      client.CallCoordinator("g", core::wire::Message(0, std::move(join)), rt.Now() + seconds(10)),
      [](core::wire::BodyUnion& body) { return body.AsJoinGroupResponse(); }, "JoinGroupResponse");
}

std::vector<std::unique_ptr<core::wire::PartitionOffsetT>> OffsetOf(uint32_t partition,
                                                                    int64_t value) {
  std::vector<std::unique_ptr<core::wire::PartitionOffsetT>> offsets;
  offsets.push_back(std::make_unique<core::wire::PartitionOffsetT>());
  offsets.back()->topic = "t";
  offsets.back()->partition = partition;
  offsets.back()->offset = value;
  return offsets;
}

// A member of generation 1 stops heartbeating; a new member's join makes generation 2 without
// it. Its late commit (generation 1) must be refused; the planted bug accepts it.
void ZombieScenario(bool planted, absl::Status* zombie_commit) {
  BrokerCluster cluster(11, [planted](core::broker::BrokerOptions& options) {
    options.planted.zombie_commit_accepted = planted;
  });
  cluster.OnClient([&](io::Runtime& rt) {
    core::client::Client client(rt, Options("raw"));
    CreateAndFill(rt, client);
    absl::StatusOr<core::wire::JoinGroupResponseT> zombie = RawJoin(client, rt, "");
    ASSERT_TRUE(zombie.ok()) << zombie.status();
    ASSERT_EQ(zombie->generation, 1);
    ASSERT_TRUE(
        client.CommitOffsets("g", zombie->member_id, 1, OffsetOf(0, 3), rt.Now() + seconds(5))
            .ok());
    // The zombie never rejoins: the rebalance drops it after its 2 s rebalance timeout.
    absl::StatusOr<core::wire::JoinGroupResponseT> successor = RawJoin(client, rt, "");
    ASSERT_TRUE(successor.ok()) << successor.status();
    EXPECT_EQ(successor->generation, 2);
    EXPECT_EQ(successor->members, 1u);
    *zombie_commit =
        client.CommitOffsets("g", zombie->member_id, 1, OffsetOf(0, 9), rt.Now() + seconds(5));
    // Admin resets need an empty group: refused now, accepted once the successor leaves.
    absl::Status reset = client.CommitOffsets("g", "", -1, OffsetOf(0, 0), rt.Now() + seconds(5));
    EXPECT_EQ(core::client::WireErrorCode(reset), core::wire::ErrorCode::GroupNotEmpty) << reset;
    core::wire::LeaveGroupRequestT leave;
    leave.group = "g";
    leave.member_id = successor->member_id;
    ASSERT_TRUE(
        client.CallCoordinator("g", core::wire::Message(0, leave), rt.Now() + seconds(5)).ok());
    absl::Status emptied;
    for (int attempt = 0; attempt < 50; attempt++) {
      emptied = client.CommitOffsets("g", "", -1, OffsetOf(0, 0), rt.Now() + seconds(5));
      if (emptied.ok()) break;
      (void)rt.Sleep(milliseconds(200));  // The coordinator may be moving.
    }
    EXPECT_TRUE(emptied.ok()) << emptied;
  });
}

TEST(GroupSim, AZombieCannotCommitOnceItsSuccessorGenerationIsWritten) {
  absl::Status zombie_commit;
  ZombieScenario(/*planted=*/false, &zombie_commit);
  EXPECT_FALSE(zombie_commit.ok());
  const std::optional<core::wire::ErrorCode> code = core::client::WireErrorCode(zombie_commit);
  EXPECT_TRUE(code == core::wire::ErrorCode::IllegalGeneration ||
              code == core::wire::ErrorCode::UnknownMemberId)
      << zombie_commit;
}

TEST(GroupSim, PlantedZombieCommitBugBreaksTheFence) {
  absl::Status zombie_commit;
  ZombieScenario(/*planted=*/true, &zombie_commit);
  EXPECT_TRUE(zombie_commit.ok()) << "the planted bug should let the zombie commit";
}

// The last member's leave is written before it is answered: crash the coordinator the moment
// the answer arrives, and its successor already holds the group empty (an admin reset is taken
// at once). Written on a later tick instead, the leave died with the coordinator, the successor
// presumed the member alive for its session timeout and refused the reset (GroupNotEmpty).
TEST(GroupSim, TheLastMembersLeaveSurvivesACoordinatorCrashRightAfterItsAnswer) {
  for (uint64_t seed : {13, 14, 15}) {
    SCOPED_TRACE(fmt::format("seed {}", seed));
    BrokerCluster cluster(seed);
    cluster.OnClient([&](io::Runtime& rt) {
      core::client::Client client(rt, Options("raw"));
      CreateAndFill(rt, client);
      absl::StatusOr<core::wire::JoinGroupResponseT> member = RawJoin(client, rt, "");
      ASSERT_TRUE(member.ok()) << member.status();
      ASSERT_EQ(member->generation, 1);
      ASSERT_TRUE(client.RefreshMetadata({std::string(core::wire::kOffsetsTopic)}).ok());
      const core::wire::TopicInfoT* offsets_topic =
          client.CachedTopic(std::string(core::wire::kOffsetsTopic));
      ASSERT_NE(offsets_topic, nullptr);
      const uint32_t partition = core::wire::GroupPartition("g", offsets_topic->partitions.size());
      core::wire::LeaveGroupRequestT leave;
      leave.group = "g";
      leave.member_id = member->member_id;
      io::NodeId coordinator(0);
      core::client::Client::Response left = client.CallPartitionLeader(
          std::string(core::wire::kOffsetsTopic), partition, core::wire::Message(0, leave),
          rt.Now() + seconds(10), nullptr, &coordinator);
      ASSERT_TRUE(left.ok()) << left.status();
      ASSERT_NE((*left)->body.AsLeaveGroupResponse(), nullptr);
      cluster.world().Crash(coordinator);
      // Ask until a coordinator answers (the election takes a while); the first answer counts.
      absl::Status reset;
      for (int attempt = 0; attempt < 100; attempt++) {
        reset = client.CommitOffsets("g", "", -1, OffsetOf(0, 0), rt.Now() + seconds(2));
        const std::optional<core::wire::ErrorCode> code = core::client::WireErrorCode(reset);
        if (reset.ok() || code == core::wire::ErrorCode::GroupNotEmpty) break;
        (void)rt.Sleep(milliseconds(100));
      }
      EXPECT_TRUE(reset.ok()) << reset;
    });
  }
}

// Whether the group "g", as its coordinator describes it, lists `member_id` (nullopt: no
// coordinator answered within the request timeout).
std::optional<bool> ListsMember(core::client::Client& client, const std::string& member_id) {
  absl::StatusOr<std::vector<std::unique_ptr<core::wire::GroupInfoT>>> groups =
      client.DescribeGroups("g");
  if (!groups.ok()) return std::nullopt;
  for (const auto& group : *groups) {
    for (const auto& member : group->members) {
      if (member->member_id == member_id) return true;
    }
  }
  return false;
}

// An answered leave of the last member is in the log even when it reached a coordinator handing
// leadership over: raft takes no proposals during a transfer, yet the coordinator is still the
// leader of its term. Answered OK with the empty generation unwritten, the leave died with the
// transfer, and the successor presumed the member alive for its session timeout (a CI run of
// cli_test waited 10 s for "g1 empty" while the leader balancer moved the coordinator, and
// failed). Here the coordinator's preferred leader is crashed and restarted in turns, so the
// balancer hands leadership back to it each time, and its links are slowed so that each transfer
// stays open for a while; a client joins and leaves meanwhile, and after every answered leave
// the group must no longer list the member.
TEST(GroupSim, AnAnsweredLeaveIsWrittenEvenWhileTheCoordinatorHandsOver) {
  for (uint64_t seed : {21, 22, 23}) {
    SCOPED_TRACE(fmt::format("seed {}", seed));
    io::probe::Reset();
    BrokerCluster cluster(seed, [](core::broker::BrokerOptions& options) {
      options.leader_balance_delay = seconds(1);
    });
    int answered = 0;
    int joined = 0;
    cluster.OnClient([&](io::Runtime& rt) {
      core::client::Client client(rt, Options("raw"));
      CreateAndFill(rt, client);
      ASSERT_TRUE(client.DescribeGroups("g").ok());  // Creates the offsets topic.
      const std::string offsets(core::wire::kOffsetsTopic);
      ASSERT_TRUE(client.RefreshMetadata({offsets}).ok());
      const core::wire::TopicInfoT* topic = client.CachedTopic(offsets);
      ASSERT_NE(topic, nullptr);
      const uint32_t partition = core::wire::GroupPartition("g", topic->partitions.size());
      const io::NodeId preferred(topic->partitions[partition]->replicas.front());
      for (uint32_t other = 1; other <= 3; other++) {
        if (other != preferred.value()) {
          cluster.world().network().Slow(preferred, io::NodeId(other), milliseconds(200));
        }
      }
      bool churned = false;
      rt.Spawn("churn", [&] {
        for (int cycle = 0; cycle < 6; cycle++) {
          (void)rt.Sleep(seconds(3));
          cluster.world().Crash(preferred);
          (void)rt.Sleep(seconds(2));
          cluster.world().Restart(preferred);
        }
        (void)rt.Sleep(seconds(4));
        churned = true;
      });
      while (!churned) {
        absl::StatusOr<core::wire::JoinGroupResponseT> member = RawJoin(client, rt, "");
        if (!member.ok()) continue;
        // Leaves at spread times after their joins (a join cannot complete during a transfer;
        // a leave must arrive in one).
        (void)rt.Sleep(milliseconds(37 * (++joined % 9)));
        core::wire::LeaveGroupRequestT leave;
        leave.group = "g";
        leave.member_id = member->member_id;
        core::client::Client::Response left = client.CallCoordinator(
            "g", core::wire::Message(0, std::move(leave)), rt.Now() + seconds(10));
        if (!left.ok() || (*left)->body.AsLeaveGroupResponse() == nullptr) continue;
        answered++;
        const std::optional<bool> listed = ListsMember(client, member->member_id);
        ASSERT_NE(listed, std::nullopt) << "no coordinator described the group";
        ASSERT_FALSE(*listed) << "the leave of " << member->member_id << " was answered at "
                              << rt.Now().ToString() << ", yet the group still lists the member";
      }
    });
    EXPECT_GE(answered, 10);
    // The race was run: some leave reached a coordinator that could not write it.
    EXPECT_TRUE(io::probe::Snapshot().contains(
        "group: the last member's leave was not written; the member asks again"));
  }
}

TEST(GroupSim, ClientsCannotWriteOrDeleteTheOffsetsTopic) {
  BrokerCluster cluster(3);
  cluster.OnClient([&](io::Runtime& rt) {
    core::client::Client client(rt, Options("hostile"));
    CreateAndFill(rt, client);
    ASSERT_TRUE(client.DescribeGroups("g").ok());  // Creates the offsets topic.
    const std::string offsets(core::wire::kOffsetsTopic);
    EXPECT_EQ(core::client::WireErrorCode(client.DeleteTopic(offsets)),
              core::wire::ErrorCode::InvalidConfig);
    EXPECT_EQ(core::client::WireErrorCode(client.CreateTopic("__mine", 1, 1).status()),
              core::wire::ErrorCode::InvalidConfig);
    core::wire::ProduceRequestT produce;
    produce.topic = offsets;
    auto response = client.CallPartitionLeader(offsets, 0, core::wire::Message(0, produce),
                                               rt.Now() + seconds(5));
    ASSERT_TRUE(response.ok());
    ASSERT_NE((*response)->body.AsErrorResponse(), nullptr);
    EXPECT_EQ((*response)->body.AsErrorResponse()->code, core::wire::ErrorCode::InvalidConfig);
  });
}

// The coordinator's view for /metrics (Broker::GroupStatuses): exactly one node, the leader of
// the group's offsets partition, reports the group with the offsets the log committed, and a
// scrape copies at most `committed_max` of them, counting the rest.
TEST(GroupSim, GroupStatusesComeFromTheCoordinatorAndHonourTheOffsetCap) {
  BrokerCluster cluster(5);
  cluster.OnClient([&](io::Runtime& rt) {
    core::client::Client client(rt, Options("admin"));
    CreateAndFill(rt, client);
    std::vector<std::unique_ptr<core::wire::PartitionOffsetT>> offsets;
    for (uint32_t p = 0; p < kPartitions; p++) {
      auto offset = std::make_unique<core::wire::PartitionOffsetT>();
      offset->topic = "t";
      offset->partition = p;
      offset->offset = 1 + p;
      offsets.push_back(std::move(offset));
    }
    // An admin commit into the empty group (as `meridian group reset-offsets` does).
    ASSERT_TRUE(client.CommitOffsets("g", "", -1, std::move(offsets), rt.Now() + seconds(10)).ok());
    const auto statuses_of_g = [&](uint32_t node, size_t cap, size_t* omitted) {
      std::vector<core::broker::GroupStatus> found;
      for (core::broker::GroupStatus& status : cluster.broker(node)->GroupStatuses(cap, omitted)) {
        if (status.group == "g") found.push_back(std::move(status));
      }
      return found;
    };
    int coordinators = 0;
    for (uint32_t node = 1; node <= 3; node++) {
      ASSERT_NE(cluster.broker(node), nullptr);
      size_t omitted = 0;
      const std::vector<core::broker::GroupStatus> all = statuses_of_g(node, 100, &omitted);
      if (all.empty()) continue;
      coordinators++;
      ASSERT_EQ(all.size(), 1u);
      EXPECT_EQ(omitted, 0u);
      ASSERT_EQ(all[0].committed.size(), kPartitions);
      for (const auto& [key, offset] : all[0].committed) {
        EXPECT_EQ(key.first, "t");
        EXPECT_EQ(offset, 1 + static_cast<int64_t>(key.second)) << "partition " << key.second;
      }
      const std::vector<core::broker::GroupStatus> capped = statuses_of_g(node, 3, &omitted);
      ASSERT_EQ(capped.size(), 1u);
      EXPECT_EQ(capped[0].committed.size(), 3u) << "a scrape must copy at most the cap";
      EXPECT_EQ(omitted, kPartitions - 3) << "what the cap leaves out is counted";
    }
    EXPECT_EQ(coordinators, 1) << "one coordinator reports the group";
  });
}

}  // namespace
}  // namespace meridian
