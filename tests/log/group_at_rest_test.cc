// core/replica's at-rest reader (ReadGroupAtRest, core/replica/seed.h) on the simulator: what a
// node counts from an old epoch's directory it will never run again. A seeded group gives a
// directory with a snapshot and a log of known entries.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/log/log.h"
#include "core/log/wal.h"
#include "core/replica/seed.h"
#include "core/replica/storage.h"
#include "tests/log/log_test_support.h"

namespace meridian::tests::log {
namespace {

using core::raft::Entry;
using core::raft::Index;
using core::raft::Term;

constexpr uint64_t kSeed = 20261201;
constexpr char kDir[] = "groups/7";

// A directory holding a snapshot through index 3 and entries 4..10 (data "e<index>").
void WriteGroup(io::Runtime& rt) {
  ASSERT_TRUE(rt.disk().CreateDir("groups").ok());
  core::replica::GroupSeed seed;
  seed.base = core::raft::Snapshot{.meta = {.index = Index(3), .term = Term(2)}, .data = "s"};
  for (uint64_t i = 4; i <= 10; i++) {
    seed.entries.push_back(
        Entry{.term = Term(2), .index = Index(i), .data = fmt::format("e{}", i)});
  }
  seed.membership.voters.insert(io::NodeId(1));
  ASSERT_TRUE(core::replica::WriteSeededGroup(rt, kDir, seed, 4096).ok());
}

std::vector<uint64_t> VisitedAfter(io::Runtime& rt, uint64_t after,
                                   std::optional<core::raft::Snapshot>* snapshot) {
  std::vector<uint64_t> visited;
  absl::StatusOr<std::optional<core::raft::Snapshot>> read =
      core::replica::ReadGroupAtRest(rt, kDir, nullptr, Index(after), [&](Entry entry) {
        EXPECT_EQ(entry.data, fmt::format("e{}", entry.index.value()));
        visited.push_back(entry.index.value());
        return absl::OkStatus();
      });
  EXPECT_TRUE(read.ok()) << read.status().ToString();
  if (read.ok()) *snapshot = *read;
  return visited;
}

TEST(GroupAtRest, VisitsTheEntriesAfterBothThePointAndTheSnapshot) {
  SimNode node(kSeed);
  SCOPED_TRACE(fmt::format("seed {}", node.seed()));
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) { WriteGroup(rt); }));
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {  // A restarted node, as in the broker.
    std::optional<core::raft::Snapshot> snapshot;
    EXPECT_EQ(VisitedAfter(rt, 6, &snapshot), (std::vector<uint64_t>{7, 8, 9, 10}));
    ASSERT_TRUE(snapshot.has_value());
    EXPECT_EQ(snapshot->meta.index, Index(3));
    // A point before the snapshot: the log holds nothing before it, so entries start after it.
    EXPECT_EQ(VisitedAfter(rt, 1, &snapshot), (std::vector<uint64_t>{4, 5, 6, 7, 8, 9, 10}));
    EXPECT_TRUE(VisitedAfter(rt, 10, &snapshot).empty());
  }));
}

// An old epoch's group that wrote through the node-wide log: its segment files were never
// synced on their own, so after a power cut what it held durably may be in the WAL alone, and
// the reader must replay it. Without the WAL the broker counted 0 records discarded where the
// promotion had discarded 13 (`meridian-sim --seed=91 --scenario=geo-3x3
// --consistency=regional --change_consistency=strong --election_window_on_controller`).
TEST(GroupAtRest, AGroupThatWroteThroughTheNodeWideLogIsReadOverIt) {
  SimNode node(kSeed);
  SCOPED_TRACE(fmt::format("seed {}", node.seed()));
  constexpr uint64_t kLast = 9;
  node.RunThenCrash(
      [&](io::Runtime& rt) {
        ASSERT_TRUE(rt.disk().CreateDir("groups").ok());
        ASSERT_TRUE(rt.disk().CreateDir(kDir).ok());
        absl::StatusOr<std::shared_ptr<core::log::Wal>> wal =
            core::log::Wal::Open(rt, rt.disk(), core::log::WalOptions{.dir = "wal"});
        ASSERT_TRUE(wal.ok()) << wal.status();
        absl::StatusOr<std::unique_ptr<core::log::Log>> log = core::log::Log::Open(
            rt, rt.disk(), core::log::LogOptions{.dir = fmt::format("{}/log", kDir), .wal = *wal});
        ASSERT_TRUE(log.ok()) << log.status();
        core::Offset last;
        for (uint64_t i = 1; i <= kLast; i++) {
          absl::StatusOr<core::Offset> offset = (*log)->Append(
              core::log::BatchMeta{.term = Term(2)},
              core::replica::EncodeEntry(
                  Entry{.term = Term(2), .index = Index(i), .data = fmt::format("e{}", i)}));
          ASSERT_TRUE(offset.ok()) << offset.status();
          last = *offset;
        }
        ASSERT_TRUE((*log)->WaitDurable(last).ok());
      },
      std::chrono::seconds(5));
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    const auto read = [&](std::shared_ptr<core::log::Wal> wal) {
      std::vector<uint64_t> visited;
      absl::StatusOr<std::optional<core::raft::Snapshot>> snapshot =
          core::replica::ReadGroupAtRest(rt, kDir, std::move(wal), Index(3), [&](Entry entry) {
            visited.push_back(entry.index.value());
            return absl::OkStatus();
          });
      EXPECT_TRUE(snapshot.ok()) << snapshot.status();
      return visited;
    };
    // The segment files alone lost the batches the power cut found unsynced: the case is real.
    EXPECT_LT(read(nullptr).size(), kLast - 3);
    absl::StatusOr<std::shared_ptr<core::log::Wal>> wal =
        core::log::Wal::Open(rt, rt.disk(), core::log::WalOptions{.dir = "wal"});
    ASSERT_TRUE(wal.ok()) << wal.status();
    EXPECT_EQ(read(*wal), (std::vector<uint64_t>{4, 5, 6, 7, 8, 9}));
  }));
}

// WriteSeededGroup's hard state is at the last entry's term with everything committed (the
// entries after the base may be of a later term than the base's), and at the base's term and
// index when there are no entries.
TEST(GroupSeed, TheHardStateIsAtTheLastEntrysTermWithEverythingCommitted) {
  SimNode node(kSeed);
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    ASSERT_TRUE(rt.disk().CreateDir("groups").ok());
    core::replica::GroupSeed seed;
    seed.base = core::raft::Snapshot{.meta = {.index = Index(3), .term = Term(2)}, .data = "s"};
    seed.membership.voters.insert(io::NodeId(1));
    ASSERT_TRUE(core::replica::WriteSeededGroup(rt, "groups/base-only", seed, 4096).ok());
    for (uint64_t i = 4; i <= 6; i++) {
      seed.entries.push_back(Entry{.term = Term(i < 5 ? 2 : 5), .index = Index(i), .data = "e"});
    }
    ASSERT_TRUE(core::replica::WriteSeededGroup(rt, "groups/with-entries", seed, 4096).ok());
    absl::StatusOr<core::replica::LoadedHardState> base_only =
        core::replica::LoadHardState(rt.disk(), "groups/base-only");
    ASSERT_TRUE(base_only.ok()) << base_only.status();
    EXPECT_EQ(base_only->stored.state,
              (core::raft::HardState{Term(2), core::raft::kNoNode, Index(3)}));
    absl::StatusOr<core::replica::LoadedHardState> with_entries =
        core::replica::LoadHardState(rt.disk(), "groups/with-entries");
    ASSERT_TRUE(with_entries.ok()) << with_entries.status();
    EXPECT_EQ(with_entries->stored.state,
              (core::raft::HardState{Term(5), core::raft::kNoNode, Index(6)}));
  }));
}

TEST(GroupAtRest, AVisitorErrorStopsTheVisit) {
  SimNode node(kSeed);
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    WriteGroup(rt);
    int visited = 0;
    absl::StatusOr<std::optional<core::raft::Snapshot>> read = core::replica::ReadGroupAtRest(
        rt, kDir, nullptr, Index(3),
        [&](Entry) { return ++visited == 2 ? absl::CancelledError("enough") : absl::OkStatus(); });
    EXPECT_TRUE(absl::IsCancelled(read.status()));
    EXPECT_EQ(visited, 2);
  }));
}

// A restart reads its log back with ReadEntriesAfter, which keeps only the newest
// cache_bytes_max bytes of entries whole and hands the older ones elided (their data read again
// when needed), so a partition with a long retained log does not come back with all of it in
// memory. 64 entries of 1 KiB read with a 16 KiB cache: the newest 14 whole (each counted with
// its bookkeeping, sizeof(Entry)), every older one elided with its size. Mutation sample 14:
// with the byte count never raised every entry came whole, and no replica-level test saw it
// (raft trims its own cache once it has them).
TEST(GroupAtRest, ARestartReadHoldsOnlyTheNewestEntriesWhole) {
  SimNode node(kSeed);
  constexpr uint64_t kEntries = 64;
  constexpr size_t kEntryBytes = 1024;
  constexpr uint64_t kCacheBytes = 16 << 10;
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    ASSERT_TRUE(rt.disk().CreateDir("cache").ok());
    absl::StatusOr<std::unique_ptr<core::log::Log>> log =
        core::log::Log::Open(rt, rt.disk(), core::log::LogOptions{.dir = "cache/log"});
    ASSERT_TRUE(log.ok()) << log.status();
    core::Offset last;
    for (uint64_t i = 1; i <= kEntries; i++) {
      absl::StatusOr<core::Offset> offset = (*log)->Append(
          core::log::BatchMeta{.term = Term(1)},
          core::replica::EncodeEntry(
              Entry{.term = Term(1), .index = Index(i), .data = std::string(kEntryBytes, 'x')}));
      ASSERT_TRUE(offset.ok()) << offset.status();
      last = *offset;
    }
    ASSERT_TRUE((*log)->WaitDurable(last).ok());
    absl::StatusOr<std::vector<Entry>> read =
        core::replica::ReadEntriesAfter(**log, Index(0), kCacheBytes);
    ASSERT_TRUE(read.ok()) << read.status();
    ASSERT_EQ(read->size(), kEntries);
    uint64_t whole_bytes = 0;
    size_t whole = 0;
    for (size_t i = 0; i < read->size(); i++) {
      const Entry& entry = (*read)[i];
      EXPECT_EQ(entry.index, Index(i + 1));
      if (entry.elided) {
        EXPECT_EQ(whole, 0u) << "entry " << i + 1 << " elided after a whole one";
        EXPECT_EQ(entry.elided_bytes, kEntryBytes);
        EXPECT_TRUE(entry.data.empty());
      } else {
        whole++;
        whole_bytes += entry.data.size() + sizeof(Entry);
        EXPECT_EQ(entry.data.size(), kEntryBytes);
      }
    }
    EXPECT_LE(whole_bytes, kCacheBytes);
    EXPECT_EQ(whole, kCacheBytes / (kEntryBytes + sizeof(Entry)));
  }));
}

}  // namespace
}  // namespace meridian::tests::log
