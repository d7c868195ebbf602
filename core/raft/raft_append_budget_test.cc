// Appends are built within a byte budget (kAppendBytesMax of entry data, always at least one
// entry) and Propose refuses entries over kEntryBytesMax, so every append raft emits fits in one
// network message. Issue scenario (c): stop a follower, commit 20 entries of ~1 MiB, restart it;
// batching by count alone put all 20 MiB in one catch-up append, over the 16 MiB frame limit,
// and the codec's size assertion aborted the leader (and every later leader).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "absl/container/btree_map.h"
#include "core/raft/testing/test_net.h"

namespace meridian::core::raft::testing {
namespace {

constexpr size_t kAlmostMiB = (size_t{1} << 20) - 100;

size_t DataBytes(const Message& m) {
  size_t total = 0;
  for (const Entry& entry : m.entries) total += entry.data.size();
  return total;
}

TEST(AppendBudget, AFollowerCatchingUpOnLargeEntriesGetsSeveralAppendsEachWithinBudget) {
  TestNet net(3);
  net.Campaign(1);
  net.TickAll(net.node(1).options().heartbeat_interval_ticks);
  net.Isolate(3);  // "Stop a follower".
  constexpr uint32_t kEntries = 24;
  for (uint32_t i = 0; i < kEntries; i++) {
    ASSERT_TRUE(net.node(1).Propose(std::string(kAlmostMiB, static_cast<char>('a' + i))).ok());
    net.DeliverAll();  // One at a time, so node 2 never receives a big batch either.
  }
  const Index last = net.node(1).log().last_index();
  ASSERT_EQ(net.node(1).log().commit(), last);
  ASSERT_LT(net.node(3).log().last_index(), last);

  uint32_t appends_to_3 = 0;
  size_t append_bytes_max = 0;
  net.OnSend([&](const Message& m) {
    if (m.type != MessageType::kAppend) return;
    EXPECT_LE(m.entries.size(), kBatchEntriesMax);
    EXPECT_LE(DataBytes(m), kAppendBytesMax) << "append of " << m.entries.size() << " entries";
    append_bytes_max = std::max(append_bytes_max, DataBytes(m));
    if (m.to == NodeId(3) && !m.entries.empty()) appends_to_3++;
  });
  net.Heal();  // "Restart it": it catches up from the leader.
  // The appends node 3 missed were lost in replicate state with the in-flight window not full;
  // the leader notices when node 3 rejects the next append (as with etcd), so write one more.
  ASSERT_TRUE(net.node(1).Propose("wake").ok());
  const Index wake = net.node(1).log().last_index();
  for (uint32_t t = 0; t < 200 && net.node(3).log().commit() < wake; t++) net.TickAll(1);
  ASSERT_EQ(net.node(3).log().last_index(), wake);
  EXPECT_EQ(net.node(3).log().commit(), wake);
  EXPECT_EQ(net.node(3).log().At(last).data, std::string(kAlmostMiB, 'a' + kEntries - 1));
  EXPECT_GE(appends_to_3, kEntries * kAlmostMiB / kAppendBytesMax) << "several appends";
  EXPECT_GT(append_bytes_max, kAppendBytesMax - kAlmostMiB) << "batches are filled, not 1 each";
}

TEST(AppendBudget, EntriesOfTheMaximumSizeFillAnAppendAndALargerOneIsRefused) {
  TestNet net(2);
  net.Campaign(1);
  ASSERT_EQ(net.node(1).role(), Role::kLeader);
  const absl::StatusOr<Index> too_big = net.node(1).Propose(std::string(kEntryBytesMax + 1, 'x'));
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_big.status().message().find("exceeds the limit"), std::string::npos)
      << too_big.status();
  // Two entries of the largest size fill an append exactly; a third, small one goes in the next.
  std::vector<size_t> sizes;
  net.OnSend([&](const Message& m) {
    if (m.type == MessageType::kAppend && !m.entries.empty()) sizes.push_back(DataBytes(m));
  });
  net.HoldSync(2);  // Node 2 does not acknowledge: the leader pipelines all three appends now.
  static_assert(2 * kEntryBytesMax == kAppendBytesMax, "adjust the test to the new limits");
  ASSERT_TRUE(net.node(1).Propose(std::string(kEntryBytesMax, 'x')).ok());
  ASSERT_TRUE(net.node(1).Propose(std::string(kEntryBytesMax, 'y')).ok());
  ASSERT_TRUE(net.node(1).Propose("small").ok());
  net.DeliverAll();
  net.ReleaseSync(2);
  net.TickAll(net.node(1).options().heartbeat_interval_ticks);
  EXPECT_EQ(net.node(2).log().last_index(), net.node(1).log().last_index());
  EXPECT_EQ(net.node(1).log().commit(), net.node(1).log().last_index());
  ASSERT_GE(sizes.size(), 2u);
  EXPECT_EQ(sizes[0], kAppendBytesMax);
  for (size_t bytes : sizes) EXPECT_LE(bytes, kAppendBytesMax);
}

// RaftOptions' replication window: no append carries more than append_entries_max entries, and
// no follower has more than inflight_messages_max appends unacknowledged; the log still commits.
TEST(AppendBudget, TheReplicationWindowBoundsEachAppendAndTheAppendsInFlight) {
  RaftOptions options = TestNet::DefaultOptions();
  options.append_entries_max = 2;
  options.inflight_messages_max = 3;
  TestNet net(3, options);
  net.Campaign(1);
  net.DeliverAll();
  absl::btree_map<NodeId, uint32_t> unacknowledged;
  uint32_t most_unacknowledged = 0;
  net.OnSend([&](const Message& m) {
    if (m.type == MessageType::kAppend && !m.entries.empty()) {
      EXPECT_LE(m.entries.size(), 2u);
      most_unacknowledged = std::max(most_unacknowledged, ++unacknowledged[m.to]);
    }
    if (m.type == MessageType::kAppendResponse && unacknowledged[m.from] > 0) {
      unacknowledged[m.from]--;
    }
  });
  // Proposed while the followers' answers wait in the queue: the leader fills its window.
  for (int i = 0; i < 20; i++) ASSERT_TRUE(net.node(1).Propose("x").ok());
  net.Flush();
  EXPECT_EQ(most_unacknowledged, 3u) << "the window of 3 filled, and no further";
  net.DeliverAll();
  EXPECT_EQ(net.node(1).log().commit(), net.node(1).log().last_index());
  EXPECT_EQ(net.node(3).log().commit(), net.node(1).log().last_index());
}

// Compaction moves forward only: to the snapshot's own index again, below it, or past what is
// applied is refused, and the snapshot stays what it was (mutation sample 12: a '<=' turned '<'
// let a second compaction to the same index through).
TEST(Snapshot, CompactionRefusesTheSnapshotsOwnIndexAndAnythingNotApplied) {
  TestNet net(3);
  net.Campaign(1);
  for (int i = 0; i < 5; i++) ASSERT_TRUE(net.node(1).Propose("a").ok());
  net.DeliverAll();
  const Index applied = net.node(1).log().applied();
  ASSERT_GE(applied, Index(4));
  const Index first(applied.value() - 2);
  ASSERT_TRUE(net.node(1).Compact(first, "state").ok());
  EXPECT_TRUE(absl::IsInvalidArgument(net.node(1).Compact(first, "again").status()));
  EXPECT_TRUE(
      absl::IsInvalidArgument(net.node(1).Compact(Index(first.value() - 1), "older").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(net.node(1).Compact(applied.next(), "ahead").status()));
  EXPECT_EQ(net.node(1).log().snapshot_index(), first);
  EXPECT_TRUE(net.node(1).Compact(applied, "latest").ok());
  EXPECT_EQ(net.node(1).log().snapshot_index(), applied);
}

// §7: a follower the leader's log no longer reaches gets the snapshot; its acknowledgement of
// exactly the snapshot's index ends the snapshot state, and the entries after the snapshot follow
// at once (not after kSnapshotRetryHeartbeats heartbeats, when the leader would give up on it).
TEST(Snapshot, AFollowerAcknowledgingTheSnapshotIsReplicatedToAtOnce) {
  TestNet net(3);
  net.Campaign(1);
  net.Isolate(3);
  for (int i = 0; i < 5; i++) ASSERT_TRUE(net.node(1).Propose("a").ok());
  net.DeliverAll();
  const Index snapshot_index = net.node(1).log().commit();
  ASSERT_TRUE(net.node(1).Compact(snapshot_index, "state").ok());
  for (int i = 0; i < 3; i++) ASSERT_TRUE(net.node(1).Propose("b").ok());
  net.DeliverAll();
  const Index last = net.node(1).log().last_index();
  ASSERT_GT(last, snapshot_index);
  net.Heal();
  const uint32_t heartbeat = net.node(1).options().heartbeat_interval_ticks;
  for (uint32_t t = 0; t < 3 * heartbeat && net.node(3).log().last_index() < last; t++) {
    net.TickAll(1);
  }
  EXPECT_EQ(net.node(3).log().snapshot_index(), snapshot_index) << "the snapshot was installed";
  EXPECT_EQ(net.node(3).log().last_index(), last) << "the entries after it followed";
  EXPECT_EQ(net.node(1).progress().at(NodeId(3)).state(), ProgressState::kReplicate);
}

// The appends to a follower in the replicate state were lost, and the leader then compacted
// its whole log: its next index is just past the snapshot. Its heartbeat answer still shows
// it behind, so the leader probes it at once (an empty append at the snapshot's index, which
// it rejects), and it gets the snapshot without waiting for another proposal.
TEST(Snapshot, AFollowerWhoseAppendsWereLostBeforeTheLeaderCompactedEverythingCatchesUp) {
  TestNet net(3);
  net.Campaign(1);
  ASSERT_TRUE(net.node(1).Propose("a").ok());
  net.DeliverAll();
  ASSERT_EQ(net.node(1).progress().at(NodeId(3)).state(), ProgressState::kReplicate);
  net.Isolate(3);
  for (int i = 0; i < 3; i++) ASSERT_TRUE(net.node(1).Propose("b").ok());
  net.DeliverAll();
  const Index last = net.node(1).log().last_index();
  ASSERT_EQ(net.node(1).log().commit(), last);
  ASSERT_EQ(net.node(1).progress().at(NodeId(3)).next().value(), last.value() + 1)
      << "the appends were sent (and lost)";
  ASSERT_TRUE(net.node(1).Compact(last, "state").ok());
  ASSERT_EQ(net.node(1).log().snapshot_index(), last);
  net.Heal();
  const uint32_t heartbeat = net.node(1).options().heartbeat_interval_ticks;
  for (uint32_t t = 0; t < 3 * heartbeat && net.node(3).log().commit() < last; t++) {
    net.TickAll(1);
  }
  EXPECT_EQ(net.node(3).log().snapshot_index(), last) << "the snapshot was installed";
  EXPECT_EQ(net.node(3).log().commit(), last);
}

// §7: a follower whose log already holds the snapshot's last entry keeps its log, and what the
// snapshot covers is verified as the leader's: it acknowledges and commits through the
// snapshot's index at once, even as the first message of a new leader's term (when nothing of
// the log was yet known to match that leader's).
TEST(Snapshot, AFollowerWhoseLogMatchesTheSnapshotAcknowledgesAndCommitsThroughIt) {
  TestNet net(3);
  net.Campaign(1);
  // Node 2 gets six entries but never hears they were committed.
  for (int i = 0; i < 6; i++) ASSERT_TRUE(net.node(1).Propose("a").ok());
  const std::vector<Message> appends = net.Flush();
  net.DropQueued();
  Raft& follower = net.node(2);
  for (const Message& m : appends) {
    if (m.to == NodeId(2)) follower.Step(m);
  }
  net.Flush();
  net.DropQueued();
  const Index last = follower.log().last_index();
  ASSERT_EQ(last, net.node(1).log().last_index());
  ASSERT_LT(follower.log().commit().value() + 1, last.value());
  // Node 3 leads the next term and sends node 2 a snapshot of everything but the last entry,
  // with its commit there; node 2 has heard nothing else of that term.
  const Index covered(last.value() - 1);
  const Term new_term(follower.term().value() + 1);
  std::vector<Message> sent;
  net.OnSend([&](const Message& m) { sent.push_back(m); });
  follower.Step(Message{.type = MessageType::kSnapshot,
                        .from = NodeId(3),
                        .to = NodeId(2),
                        .term = new_term,
                        .commit = covered,
                        .snapshot = {.meta = {.index = covered,
                                              .term = follower.log().TermAt(covered),
                                              .membership = follower.membership()},
                                     .data = "state"}});
  net.Flush();
  EXPECT_EQ(follower.log().last_index(), last) << "the entry after the snapshot is kept";
  EXPECT_EQ(follower.log().commit(), covered);
  ASSERT_FALSE(sent.empty());
  EXPECT_EQ(sent.back().type, MessageType::kAppendResponse);
  EXPECT_EQ(sent.back().to, NodeId(3));
  EXPECT_FALSE(sent.back().reject);
  EXPECT_GE(sent.back().log_index, covered) << "it holds everything the snapshot covers";
}

}  // namespace
}  // namespace meridian::core::raft::testing
