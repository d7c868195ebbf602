#include "core/replica/storage.h"

#include <gtest/gtest.h>

#include "core/replica/durable_mark.h"

namespace meridian::core::replica {
namespace {

TEST(Storage, EntriesRoundTrip) {
  raft::Entry normal{raft::Term(3), raft::Index(7), raft::EntryKind::kNormal, "hello"};
  absl::StatusOr<raft::Entry> decoded = DecodeEntry(EncodeEntry(normal), normal.term, normal.index);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, normal);
  raft::Entry config{raft::Term(4), raft::Index(8), raft::EntryKind::kConfig, ""};
  config.membership.voters = {io::NodeId(1), io::NodeId(2), io::NodeId(3)};
  config.membership.learners = {io::NodeId(4)};
  decoded = DecodeEntry(EncodeEntry(config), config.term, config.index);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, config);
}

// The two parts the log appends without joining them are EncodeEntry's bytes.
TEST(Storage, HeadThenDataIsTheEncodedEntry) {
  raft::Entry normal{raft::Term(3), raft::Index(7), raft::EntryKind::kNormal, "hello"};
  raft::Entry config{raft::Term(4), raft::Index(8), raft::EntryKind::kConfig, ""};
  config.membership.voters = {io::NodeId(1), io::NodeId(2), io::NodeId(3)};
  for (const raft::Entry& entry : {normal, config}) {
    std::vector<uint8_t> joined = EncodeEntryHead(entry);
    const std::span<const uint8_t> data = EntryData(entry);
    joined.insert(joined.end(), data.begin(), data.end());
    EXPECT_EQ(joined, EncodeEntry(entry));
  }
}

TEST(Storage, BadEntriesAreDataLossNotCrashes) {
  EXPECT_TRUE(absl::IsDataLoss(DecodeEntry({}, raft::Term(1), raft::Index(1)).status()));
  const std::vector<uint8_t> bad_kind = {9, 'x'};
  EXPECT_TRUE(absl::IsDataLoss(DecodeEntry(bad_kind, raft::Term(1), raft::Index(1)).status()));
  const std::vector<uint8_t> truncated_config = {1, 3, 0, 0, 0, 1, 0};
  EXPECT_TRUE(
      absl::IsDataLoss(DecodeEntry(truncated_config, raft::Term(1), raft::Index(1)).status()));
  // A configuration followed by data: raft would keep only the membership, so it is damage.
  raft::Entry config{raft::Term(1), raft::Index(1), raft::EntryKind::kConfig, ""};
  config.membership.voters = {io::NodeId(1)};
  std::vector<uint8_t> config_with_data = EncodeEntry(config);
  config_with_data.push_back('x');
  EXPECT_TRUE(
      absl::IsDataLoss(DecodeEntry(config_with_data, raft::Term(1), raft::Index(1)).status()));
}

// The bytes of a config entry as EncodeEntry lays them out (kind, voters, learners; u32
// little-endian counts and ids), built by hand: EncodeEntry refuses to write a bad membership.
std::vector<uint8_t> ConfigBytes(const std::vector<uint32_t>& voters,
                                 const std::vector<uint32_t>& learners) {
  std::vector<uint8_t> out = {static_cast<uint8_t>(raft::EntryKind::kConfig)};
  auto put = [&](uint32_t value) {
    for (int i = 0; i < 4; i++) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
  };
  put(static_cast<uint32_t>(voters.size()));
  for (uint32_t id : voters) put(id);
  put(static_cast<uint32_t>(learners.size()));
  for (uint32_t id : learners) put(id);
  return out;
}

// A config entry read back from disk obeys the rules raft checks a peer's by
// (raft::ValidateMembership): this decoder used to check only "some voter", so a damaged entry
// naming a node voter and learner at once, or more voters than raft allows, reached raft.
// Entries carry no CRC of their own (core/log's batch CRC covers them), so a payload cut short
// must be refused by the decoder's bounds checks alone, at every length.
TEST(Storage, EveryTruncationOfAnEntryIsDataLoss) {
  raft::Entry config{raft::Term(4), raft::Index(8), raft::EntryKind::kConfig, ""};
  config.membership.voters = {io::NodeId(1), io::NodeId(2), io::NodeId(3)};
  config.membership.learners = {io::NodeId(4)};
  const std::vector<uint8_t> bytes = EncodeEntry(config);
  for (size_t size = 0; size < bytes.size(); size++) {
    EXPECT_TRUE(absl::IsDataLoss(
        DecodeEntry(std::span(bytes).first(size), config.term, config.index).status()))
        << "truncated to " << size << " of " << bytes.size();
  }
}

TEST(Storage, ConfigEntriesBreakingMembershipRulesAreDataLoss) {
  auto decode = [](const std::vector<uint8_t>& bytes) {
    return DecodeEntry(bytes, raft::Term(1), raft::Index(1)).status();
  };
  EXPECT_TRUE(decode(ConfigBytes({1, 2}, {3})).ok()) << "the layout above is EncodeEntry's";
  EXPECT_TRUE(absl::IsDataLoss(decode(ConfigBytes({1, 2}, {2}))));
  std::vector<uint32_t> crowded;
  for (uint32_t i = 1; i <= raft::kVotersMax + 1; i++) crowded.push_back(i);
  EXPECT_TRUE(absl::IsDataLoss(decode(ConfigBytes(crowded, {}))));
  EXPECT_TRUE(absl::IsDataLoss(decode(ConfigBytes({}, {1}))));
}

TEST(Storage, HardStateRoundTripsAndDetectsEveryBitFlip) {
  const StoredHardState stored{{raft::Term(42), io::NodeId(3), raft::Index(1000)}, 7};
  const std::vector<uint8_t> bytes = EncodeHardState(stored);
  ASSERT_EQ(bytes.size(), kHardStateBytes);
  ASSERT_EQ(*DecodeHardState(bytes), stored);
  for (size_t bit = 0; bit < bytes.size() * 8; bit++) {
    std::vector<uint8_t> flipped = bytes;
    flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_TRUE(absl::IsDataLoss(DecodeHardState(flipped).status())) << "bit " << bit;
  }
  EXPECT_TRUE(absl::IsDataLoss(DecodeHardState(std::span(bytes).first(31)).status()));
}

TEST(Storage, SnapshotRoundTripsAndDetectsEveryBitFlip) {
  raft::Snapshot snapshot{.meta = {.index = raft::Index(900), .term = raft::Term(7)},
                          .data = "producer state"};
  snapshot.meta.membership.voters = {io::NodeId(1), io::NodeId(2), io::NodeId(3)};
  snapshot.meta.membership.learners = {io::NodeId(9)};
  const std::vector<uint8_t> bytes = EncodeSnapshot(snapshot);
  absl::StatusOr<raft::Snapshot> decoded = DecodeSnapshot(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, snapshot);
  for (size_t bit = 0; bit < bytes.size() * 8; bit++) {
    std::vector<uint8_t> flipped = bytes;
    flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(DecodeSnapshot(flipped).ok()) << "bit " << bit;
  }
  for (size_t size = 0; size < bytes.size(); size++) {
    EXPECT_FALSE(DecodeSnapshot(std::span(bytes).first(size)).ok()) << "truncated to " << size;
  }
  raft::Snapshot far = snapshot;
  far.meta.index = raft::Index(raft::kSnapshotIndexMax.value() + 1);
  EXPECT_TRUE(absl::IsDataLoss(DecodeSnapshot(EncodeSnapshot(far)).status()))
      << "an index one step from wrapping is damage, not a log";
}

// The durable mark tells damage from a torn tail after a restart (durable_mark.h): its bytes
// come from the disk, so every damaged slot is DataLoss, never a crash or a wrong mark.
TEST(DurableMark, SlotsRoundTripAndEveryFlippedBitIsDataLoss) {
  const DurableMarkSlot slot{.sequence = 9, .position = {raft::Term(4), raft::Index(422)}};
  const std::vector<uint8_t> bytes = EncodeDurableMarkSlot(slot);
  absl::StatusOr<DurableMarkSlot> decoded = DecodeDurableMarkSlot(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->sequence, 9u);
  EXPECT_EQ(decoded->position.term, raft::Term(4));
  EXPECT_EQ(decoded->position.index, raft::Index(422));
  for (size_t bit = 0; bit < bytes.size() * 8; bit++) {
    std::vector<uint8_t> flipped = bytes;
    flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_TRUE(absl::IsDataLoss(DecodeDurableMarkSlot(flipped).status())) << "bit " << bit;
  }
  EXPECT_TRUE(absl::IsDataLoss(DecodeDurableMarkSlot(std::span(bytes).first(31)).status()));
}

TEST(DurableMark, PositionsCompareAsRaftComparesLogs) {
  const raft::LogPosition cut{raft::Term(3), raft::Index(6)};
  const raft::LogPosition had{raft::Term(3), raft::Index(422)};
  EXPECT_FALSE(cut.IsAtLeast(had));
  EXPECT_TRUE(had.IsAtLeast(cut));
  EXPECT_TRUE((raft::LogPosition{raft::Term(4), raft::Index(7)}).IsAtLeast(had))
      << "a later term wins whatever the length";
  EXPECT_TRUE(had.IsAtLeast(raft::LogPosition{})) << "no mark: nothing lost";
}

}  // namespace
}  // namespace meridian::core::replica
