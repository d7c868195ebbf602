// RaftLog's entry cache (raft_log.h): what it keeps, what it lets go, and how the rest is handed
// out (Entry::elided) for the driver to read back from its log.
#include "core/raft/raft_log.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace meridian::core::raft {
namespace {

constexpr size_t kDataBytes = 100;
constexpr uint64_t kEntryCost = kDataBytes + sizeof(Entry);

Entry Normal(uint64_t index, uint64_t term) {
  return Entry{.term = Term(term),
               .index = Index(index),
               .data = std::string(kDataBytes, static_cast<char>('a' + index % 26))};
}

Entry Config(uint64_t index, uint64_t term, std::vector<uint32_t> voters) {
  Entry entry{.term = Term(term), .index = Index(index), .kind = EntryKind::kConfig};
  for (uint32_t voter : voters) entry.membership.voters.insert(NodeId(voter));
  return entry;
}

// A fresh log with `count` entries of term 1 appended by a leader, none durable or applied.
RaftLog LeaderLog(uint64_t count, uint64_t cache_bytes_max) {
  RaftLog log(SnapshotMeta{}, {}, Index(0), cache_bytes_max);
  for (uint64_t i = 1; i <= count; i++) log.AppendOwn(Normal(i, 1));
  EXPECT_EQ(log.TakeUnhanded().size(), count);
  return log;
}

TEST(RaftLogCache, OnlyAppliedDurableEntriesLeaveAndTheBudgetHolds) {
  RaftLog log = LeaderLog(10, 3 * kEntryCost);
  EXPECT_EQ(log.cache_first(), Index(1)) << "nothing is durable yet";
  ASSERT_TRUE(log.StableTo(Index(10), Term(1)));
  EXPECT_EQ(log.cache_first(), Index(1)) << "nothing is applied yet";
  log.CommitTo(Index(10));
  log.AppliedTo(Index(4));
  EXPECT_EQ(log.cache_first(), Index(5)) << "applied and durable: 1..4 may go";
  log.AppliedTo(Index(10));
  EXPECT_EQ(log.cache_first(), Index(8));
  EXPECT_LE(log.cache_bytes(), 3 * kEntryCost);
  const Entry gone = log.EntryAt(Index(7));
  EXPECT_TRUE(gone.elided);
  EXPECT_TRUE(gone.data.empty());
  EXPECT_EQ(gone.elided_bytes, kDataBytes);
  EXPECT_EQ(gone.term, Term(1));
  EXPECT_EQ(log.EntryAt(Index(8)), Normal(8, 1));
  EXPECT_EQ(log.TermAt(Index(2)), Term(1)) << "terms outlive the data";
}

TEST(RaftLogCache, DurableButUnappliedAndAppliedButUndurableEntriesStay) {
  RaftLog log = LeaderLog(10, 0);
  ASSERT_TRUE(log.StableTo(Index(6), Term(1)));
  log.CommitTo(Index(10));
  log.AppliedTo(Index(3));
  EXPECT_EQ(log.cache_first(), Index(4));
  log.AppliedTo(Index(9));
  EXPECT_EQ(log.cache_first(), Index(7)) << "7..10 are not durable: the driver could not read them";
}

TEST(RaftLogCache, SlicesBudgetElidedEntriesByTheirSize) {
  RaftLog log = LeaderLog(8, 0);
  ASSERT_TRUE(log.StableTo(Index(8), Term(1)));
  log.CommitTo(Index(8));
  log.AppliedTo(Index(8));
  ASSERT_EQ(log.cache_first(), Index(9));
  const std::vector<Entry> slice = log.Slice(Index(2), kBatchEntriesMax, 3 * kDataBytes);
  ASSERT_EQ(slice.size(), 3u);
  for (const Entry& entry : slice) {
    EXPECT_TRUE(entry.elided);
    EXPECT_EQ(entry.elided_bytes, kDataBytes);
  }
  EXPECT_EQ(slice.front().index, Index(2));
}

TEST(RaftLogCache, ConfigurationsComeWholeOutsideTheCache) {
  RaftLog log(SnapshotMeta{}, {}, Index(0), 0);
  log.AppendOwn(Normal(1, 1));
  log.AppendOwn(Config(2, 1, {1, 2, 3}));
  log.AppendOwn(Normal(3, 1));
  log.TakeUnhanded();
  ASSERT_TRUE(log.StableTo(Index(3), Term(1)));
  log.CommitTo(Index(3));
  log.AppliedTo(Index(3));
  ASSERT_EQ(log.cache_first(), Index(4));
  EXPECT_EQ(log.EntryAt(Index(2)), Config(2, 1, {1, 2, 3}));
  EXPECT_EQ(log.KindAt(Index(2)), EntryKind::kConfig);
  ASSERT_TRUE(log.LatestConfigAtOrBelow(Index(3)).has_value());
  EXPECT_EQ(log.LatestConfigAtOrBelow(Index(3))->first, Index(2));
  EXPECT_FALSE(log.LatestConfigAtOrBelow(Index(1)).has_value());
}

// A restart hands raft an elided prefix (core/replica reads only the newest entries' data):
// applying it comes elided, in steps of at most the given bytes.
TEST(RaftLogCache, ARestartsElidedPrefixIsAppliedElidedInSteps) {
  std::vector<Entry> entries;
  for (uint64_t i = 1; i <= 6; i++) {
    Entry entry = Normal(i, 1);
    if (i <= 4) {
      entry.elided = true;
      entry.elided_bytes = kDataBytes;
      entry.data.clear();
    }
    entries.push_back(entry);
  }
  RaftLog log(SnapshotMeta{}, entries, Index(6), kEntryCacheBytesMaxDefault);
  EXPECT_EQ(log.cache_first(), Index(5));
  const std::vector<Entry> first = log.CommittedUnapplied(Index(6), 2 * kDataBytes);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_TRUE(first[0].elided && first[1].elided);
  log.AppliedTo(Index(4));
  const std::vector<Entry> rest = log.CommittedUnapplied(Index(6), 2 * kDataBytes);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0], Normal(5, 1));
}

// Entries elided at a restart may lie past the commit index: a new leader can replace them.
TEST(RaftLogCache, ALeaderMayReplaceEntriesElidedAtARestart) {
  std::vector<Entry> entries;
  for (uint64_t i = 1; i <= 5; i++) {
    Entry entry = Normal(i, 1);
    entry.elided = true;
    entry.elided_bytes = kDataBytes;
    entry.data.clear();
    entries.push_back(entry);
  }
  entries.push_back(Normal(6, 1));
  RaftLog log(SnapshotMeta{}, entries, Index(2), kEntryCacheBytesMaxDefault);
  const std::optional<Index> changed = log.AppendFromLeader(Index(2), {Normal(3, 2)});
  ASSERT_EQ(changed, Index(3));
  EXPECT_EQ(log.last_index(), Index(3));
  EXPECT_EQ(log.cache_first(), Index(3));
  EXPECT_EQ(log.EntryAt(Index(3)), Normal(3, 2));
  EXPECT_TRUE(log.EntryAt(Index(2)).elided);
  EXPECT_EQ(log.stable(), Index(2));
}

TEST(RaftLogCache, CompactionAndSnapshotsForgetCachedAndUncachedAlike) {
  RaftLog log = LeaderLog(10, 2 * kEntryCost);
  ASSERT_TRUE(log.StableTo(Index(10), Term(1)));
  log.CommitTo(Index(10));
  log.AppliedTo(Index(10));
  log.CompactTo(SnapshotMeta{.index = Index(9), .term = Term(1)});
  EXPECT_EQ(log.cache_first(), Index(10));
  EXPECT_EQ(log.cache_bytes(), kEntryCost);
  log.RestoreTo(SnapshotMeta{.index = Index(20), .term = Term(2)});
  EXPECT_EQ(log.cache_bytes(), 0u);
  EXPECT_EQ(log.cache_first(), Index(21));
}

}  // namespace
}  // namespace meridian::core::raft
