// core/replica's Open on a full disk (issue 17, "Harness power"): a restarted replica whose log
// must be cut (a torn tail, or damage at rest) first records the cut in core/log's loss record,
// which needs space. Open waits the full disk out, as the running replica does, instead of
// failing to reopen the group (the raft runner's seed 26, damage at rest with the election
// schedules on: "could not reopen its replica: RESOURCE_EXHAUSTED: ENOSPC").
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "core/log/format.h"
#include "core/replica/replica.h"
#include "sim/sim_disk.h"
#include "tests/log/log_test_support.h"

namespace meridian::tests::log {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kEntries = 20;

core::replica::ReplicaOptions SingleVoter() {
  core::replica::ReplicaOptions options;
  options.raft.id = SimNode::kNode;
  options.raft.bootstrap.voters.insert(SimNode::kNode);
  return options;
}

// Waits until the replica leads (a single voter elects itself), within 5 virtual seconds.
bool AwaitLeadership(io::Runtime& rt, core::replica::Replica& replica) {
  for (int i = 0; i < 100 && replica.role() != core::raft::Role::kLeader; i++) {
    (void)rt.Sleep(milliseconds(50));
  }
  return replica.role() == core::raft::Role::kLeader;
}

// First incarnation: commits kEntries proposals; returns the last one's index (0 on failure).
uint64_t WriteEntries(SimNode& node) {
  uint64_t last = 0;
  EXPECT_TRUE(node.Run([&](io::Runtime& rt) {
    absl::StatusOr<std::shared_ptr<core::replica::Replica>> opened =
        core::replica::Replica::Open(rt, SingleVoter(), nullptr);
    ASSERT_TRUE(opened.ok()) << opened.status();
    ASSERT_TRUE(AwaitLeadership(rt, **opened));
    for (int i = 0; i < kEntries; i++) {
      absl::StatusOr<core::raft::Index> index =
          (*opened)->ProposeAndWait(fmt::format("entry {}", i), rt.Now() + seconds(5));
      ASSERT_TRUE(index.ok()) << index.status();
      last = index->value();
    }
    (void)rt.Sleep(milliseconds(500));  // The durable mark catches up (kDurableMarkInterval).
    (*opened)->Shutdown();
  }));
  return last;
}

// The replica's last log segment, opened for writing.
std::unique_ptr<io::File> LastSegment(io::Runtime& rt) {
  const std::string dir = SingleVoter().dir + "/log";
  absl::StatusOr<std::vector<std::string>> names = rt.disk().ListDir(dir);
  EXPECT_TRUE(names.ok()) << names.status();
  std::vector<std::string> segments;
  for (const std::string& name : *names) {
    if (name.ends_with(".seg")) segments.push_back(name);
  }
  EXPECT_FALSE(segments.empty());
  std::sort(segments.begin(), segments.end());
  absl::StatusOr<std::unique_ptr<io::File>> file =
      rt.disk().Open(dir + "/" + segments.back(), io::OpenMode::kOpenExisting);
  EXPECT_TRUE(file.ok()) << file.status();
  return std::move(*file);
}

enum class Damage { kTornTail, kFlippedBit };

// Damages the log at rest (synced, so it survives the crash before the next incarnation).
void DamageLog(SimNode& node, Damage damage) {
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    std::unique_ptr<io::File> segment = LastSegment(rt);
    absl::StatusOr<uint64_t> size = segment->Size();
    ASSERT_TRUE(size.ok()) << size.status();
    ASSERT_GT(*size, core::log::kSegmentHeaderBytes + 8);
    if (damage == Damage::kTornTail) {
      const std::vector<uint8_t> junk(40, 0x5a);  // The start of a batch that never finished.
      ASSERT_TRUE(segment->WriteAt(*size, junk).ok());
    } else {
      // Inside the first batch: the log is cut below everything the durable mark covers.
      std::vector<uint8_t> byte(1);
      const uint64_t at = core::log::kSegmentHeaderBytes + 8;
      ASSERT_TRUE(segment->ReadAt(at, byte).ok());
      byte[0] ^= 0x10;
      ASSERT_TRUE(segment->WriteAt(at, byte).ok());
    }
    ASSERT_TRUE(segment->Sync().ok());
  }));
}

struct Reopened {
  std::shared_ptr<core::replica::Replica> replica;
  io::Duration waited{0};  // From the disk filling up to Open returning.
};

// Fills the disk (no file may grow), opens the replica on a fiber, frees space after
// `full_for`, and returns what Open gave and when. Fails the test if Open returns an error or
// returns before space is back.
Reopened ReopenOnAFullDisk(io::Runtime& rt, SimNode& node, io::Duration full_for) {
  node.disk().set_capacity(node.disk().bytes_used());
  const io::Instant filled_at = rt.Now();
  struct Outcome {  // Shared with the opener fiber, which may outlive this call on a failure.
    std::optional<absl::StatusOr<std::shared_ptr<core::replica::Replica>>> opened;
    io::Instant returned_at = io::Instant::Infinite();
  };
  auto outcome = std::make_shared<Outcome>();
  rt.Spawn("opener", [&rt, outcome] {
    outcome->opened = core::replica::Replica::Open(rt, SingleVoter(), nullptr);
    outcome->returned_at = rt.Now();
  });
  (void)rt.Sleep(full_for);
  EXPECT_FALSE(outcome->opened.has_value())
      << "Open returned on a full disk: "
      << (outcome->opened.has_value() ? outcome->opened->status().ToString() : "");
  node.disk().set_capacity(sim::SimDisk::kBytesMax);
  for (int i = 0; i < 100 && !outcome->opened.has_value(); i++) (void)rt.Sleep(milliseconds(50));
  if (!outcome->opened.has_value()) {
    ADD_FAILURE() << "Open still waiting 5 s after space was back";
    return {};
  }
  if (!outcome->opened->ok()) {
    ADD_FAILURE() << "Open failed: " << outcome->opened->status();
    return {};
  }
  return {**outcome->opened, outcome->returned_at - filled_at};
}

// A torn tail must be recorded before it is cut, which takes space: Open waits for it, then the
// replica leads again with every committed entry it had, and the loss record is acknowledged.
TEST(ReplicaOpenOnAFullDisk, ATornTailWaitsForSpaceThenLeadsWithEveryEntry) {
  SimNode node(20261201);
  const uint64_t last = WriteEntries(node);
  ASSERT_EQ(last, kEntries + 1u) << "the leader's no-op, then the entries";
  DamageLog(node, Damage::kTornTail);
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    Reopened reopened = ReopenOnAFullDisk(rt, node, seconds(3));
    ASSERT_NE(reopened.replica, nullptr);
    EXPECT_GE(reopened.waited, seconds(3));
    ASSERT_TRUE(AwaitLeadership(rt, *reopened.replica));
    absl::StatusOr<core::raft::Index> next =
        reopened.replica->ProposeAndWait("after", rt.Now() + seconds(5));
    ASSERT_TRUE(next.ok()) << next.status();
    EXPECT_GT(next->value(), last) << "entries the torn tail did not touch were lost";
    absl::StatusOr<bool> lost =
        rt.disk().Exists(SingleVoter().dir + "/log/" + core::log::kLossRecordFileName);
    ASSERT_TRUE(lost.ok());
    EXPECT_FALSE(*lost) << "Open did not acknowledge the loss it recovered from";
    reopened.replica->Shutdown();
  }));
}

// Damage at rest below the durable mark: Open waits the full disk out like above, and the retry
// keeps what recovery found: the replica knows it lost entries it had synced (its durable mark)
// and does not lead with the shorter log (a single voter has nobody to repair from).
TEST(ReplicaOpenOnAFullDisk, DamageBelowTheDurableMarkWaitsForSpaceAndIsNotForgotten) {
  SimNode node(20261202);
  ASSERT_EQ(WriteEntries(node), kEntries + 1u);
  DamageLog(node, Damage::kFlippedBit);
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    Reopened reopened = ReopenOnAFullDisk(rt, node, seconds(2));
    ASSERT_NE(reopened.replica, nullptr);
    EXPECT_GE(reopened.waited, seconds(2));
    (void)rt.Sleep(seconds(5));
    EXPECT_NE(reopened.replica->role(), core::raft::Role::kLeader)
        << "a replica that lost synced entries leads with the shorter log";
    EXPECT_TRUE(reopened.replica->failure().ok()) << reopened.replica->failure();
    reopened.replica->Shutdown();
  }));
}

}  // namespace
}  // namespace meridian::tests::log
