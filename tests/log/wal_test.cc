// The node-wide WAL (core/log/wal.h) on the simulator's disk: its records, its recovery, its
// checkpoints, and logs opened over it. The random-operation model test over the WAL is in
// log_model_test.cc (LogModelOverWal); these are the cases it does not reach: a restart that
// keeps the page cache, an Open that fails part-way, damage inside the WAL, several groups.
#include "core/log/wal.h"

#include <gtest/gtest.h>

#include "core/log/format.h"
#include "core/log/log.h"
#include "tests/log/log_test_support.h"

namespace meridian::tests::log {
namespace {

using core::Offset;
using core::log::Log;
using core::log::LogOptions;
using core::log::Wal;
using core::log::WalOp;
using core::log::WalOptions;

std::shared_ptr<Wal> OpenWal(io::Runtime& rt, io::Disk& disk, WalOptions options = {},
                             core::log::WalRecoveryReport* report = nullptr) {
  absl::StatusOr<std::shared_ptr<Wal>> wal = Wal::Open(rt, disk, std::move(options), report);
  EXPECT_TRUE(wal.ok()) << wal.status();
  return wal.ok() ? *wal : nullptr;
}

std::unique_ptr<Log> OpenLog(io::Runtime& rt, io::Disk& disk, std::shared_ptr<Wal> wal,
                             const std::string& dir, core::log::RecoveryReport* report = nullptr) {
  absl::StatusOr<std::unique_ptr<Log>> log = Log::Open(
      rt, disk, LogOptions{.dir = dir, .segment_bytes_max = 8192, .wal = std::move(wal)}, report);
  EXPECT_TRUE(log.ok()) << log.status();
  return log.ok() ? std::move(*log) : nullptr;
}

// Appends batches tagged [first, first + count) and returns the last offset appended.
Offset AppendTagged(Log& log, uint64_t first, uint64_t count) {
  Offset last;
  for (uint64_t tag = first; tag < first + count; tag++) {
    absl::StatusOr<Offset> offset = log.Append(MetaFor(tag, 1), PayloadFor(tag, 300));
    EXPECT_TRUE(offset.ok()) << offset.status();
    if (offset.ok()) last = *offset;
  }
  return last;
}

// The log holds exactly the batches tagged 1..count, in order.
void ExpectTags(Log& log, uint64_t count) {
  std::vector<core::log::BatchRef> batches = ReadAll(log, log.start_offset());
  ASSERT_EQ(batches.size(), count);
  for (uint64_t i = 0; i < count; i++) EXPECT_EQ(batches[i].header.producer_id, i + 1);
}

TEST(WalRecord, RoundTripsAndRejectsEveryFlippedBitAndEveryTruncation) {
  const std::vector<uint8_t> batch =
      core::log::EncodeBatch(Offset(7), MetaFor(3, 1), PayloadFor(3, 40));
  const std::vector<uint8_t> record =
      core::log::EncodeWalRecord("groups/4/log", WalOp::Kind::kAppend, Offset(7), batch);
  std::optional<core::log::DecodedWalRecord> decoded = core::log::DecodeWalRecord(record);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->group, "groups/4/log");
  EXPECT_EQ(decoded->op.offset, Offset(7));
  EXPECT_EQ(decoded->op.batch, batch);
  EXPECT_EQ(decoded->bytes, record.size());
  for (size_t bit = 0; bit < record.size() * 8; bit++) {
    std::vector<uint8_t> flipped = record;
    flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(core::log::DecodeWalRecord(flipped).has_value()) << "bit " << bit;
  }
  for (size_t size = 0; size < record.size(); size++) {
    EXPECT_FALSE(core::log::DecodeWalRecord(std::span(record).first(size)).has_value()) << size;
  }
  // A well-sealed record whose group is not a path recovery may look up (it would be asked of
  // the disk): refused like damage.
  for (const char* group : {"../escape", "/absolute", "a//b", ""}) {
    EXPECT_FALSE(core::log::DecodeWalRecord(
                     core::log::EncodeWalRecord(group, WalOp::Kind::kTruncate, Offset(1), {}))
                     .has_value())
        << group;
  }
}

// Batches reported durable survive a power cut though the segment files were never synced.
TEST(Wal, DurableBatchesSurviveAPowerCutThroughTheWalAlone) {
  SimNode node(1);
  node.RunThenCrash(
      [](io::Runtime& rt) {
        std::shared_ptr<Wal> wal = OpenWal(rt, rt.disk());
        std::unique_ptr<Log> a = OpenLog(rt, rt.disk(), wal, "a");
        std::unique_ptr<Log> b = OpenLog(rt, rt.disk(), wal, "b");
        const Offset last_a = AppendTagged(*a, 1, 20);
        const Offset last_b = AppendTagged(*b, 1, 30);
        ASSERT_TRUE(a->WaitDurable(last_a).ok());
        ASSERT_TRUE(b->WaitDurable(last_b).ok());
        // One sync of the WAL for both logs' rounds, no segment file synced since Open.
        EXPECT_LE(wal->metrics().group_syncs, 4u);
        EXPECT_EQ(a->metrics().file_syncs, 1u);  // Open's.
      },
      std::chrono::seconds(5));
  ASSERT_TRUE(node.Run([](io::Runtime& rt) {
    std::shared_ptr<Wal> wal = OpenWal(rt, rt.disk());
    core::log::RecoveryReport report;
    std::unique_ptr<Log> a = OpenLog(rt, rt.disk(), wal, "a", &report);
    std::unique_ptr<Log> b = OpenLog(rt, rt.disk(), wal, "b");
    EXPECT_FALSE(report.cut) << report.ToString();
    ExpectTags(*a, 20);
    ExpectTags(*b, 30);
  }));
}

// A restart that keeps the page cache (a process crash) reads unsynced records; what it read
// must be durable before it writes anything new, or a later power cut keeps the new records and
// loses the old: a hole in the history, and batches reported durable gone.
TEST(Wal, WhatARestartReadsIsMadeDurableBeforeNewRecords) {
  SimNode node(2);
  // Unsynced sectors survive a power cut or not, each on its own: an unsynced tail is torn.
  node.disk().set_rates(sim::DiskFaultRates{.torn_writes_on_crash = true});
  node.RunThenCrash(
      [](io::Runtime& rt) {
        {
          std::shared_ptr<Wal> wal = OpenWal(rt, rt.disk());
          std::unique_ptr<Log> a = OpenLog(rt, rt.disk(), wal, "a");
          AppendTagged(*a, 1, 10);  // Never waited for: only in the page cache.
        }
        // The "process" restarts: the page cache still holds the records.
        std::shared_ptr<Wal> wal = OpenWal(rt, rt.disk());
        std::unique_ptr<Log> a = OpenLog(rt, rt.disk(), wal, "a");
        ASSERT_EQ(a->end_offset(), Offset(10));
        const Offset last = AppendTagged(*a, 11, 5);
        ASSERT_TRUE(a->WaitDurable(last).ok());
      },
      std::chrono::seconds(5));
  ASSERT_TRUE(node.Run([](io::Runtime& rt) {
    core::log::WalRecoveryReport wal_report;
    std::shared_ptr<Wal> wal = OpenWal(rt, rt.disk(), {}, &wal_report);
    EXPECT_FALSE(wal_report.cut) << wal_report.ToString();
    // What the node logs at start ("wal: N files, M records of G groups") is what was read.
    EXPECT_GE(wal_report.files_found, 1u) << wal_report.ToString();
    EXPECT_GE(wal_report.records, 1u) << wal_report.ToString();
    EXPECT_EQ(wal_report.groups, 1u) << wal_report.ToString();
    std::unique_ptr<Log> a = OpenLog(rt, rt.disk(), wal, "a");
    ExpectTags(*a, 15);
  }));
}

// An Open that fails after reading the WAL (here: the disk fills while it writes the history
// back into the segment files) must leave the group's history for the next Open.
TEST(Wal, AnOpenThatFailsLeavesTheHistoryForTheNextOne) {
  SimNode node(3);
  node.RunThenCrash(
      [](io::Runtime& rt) {
        std::shared_ptr<Wal> wal = OpenWal(rt, rt.disk());
        std::unique_ptr<Log> a = OpenLog(rt, rt.disk(), wal, "a");
        ASSERT_TRUE(a->WaitDurable(AppendTagged(*a, 1, 12)).ok());
      },
      std::chrono::seconds(5));
  ASSERT_TRUE(node.Run([](io::Runtime& rt) {
    std::shared_ptr<Wal> wal = OpenWal(rt, rt.disk());
    DiskFaults faults{.write_bytes_left = 1000};
    FaultyDisk faulty(rt.disk(), faults);
    absl::StatusOr<std::unique_ptr<Log>> failed =
        Log::Open(rt, faulty, LogOptions{.dir = "a", .segment_bytes_max = 8192, .wal = wal});
    ASSERT_FALSE(failed.ok());
    std::unique_ptr<Log> a = OpenLog(rt, rt.disk(), wal, "a");
    ExpectTags(*a, 12);
  }));
}

// Checkpoints sync the segment files and remove the WAL files; the batches stay, across a
// power cut, and the WAL stays small.
TEST(Wal, CheckpointsRemoveFilesAndKeepEveryBatch) {
  SimNode node(4);
  node.RunThenCrash(
      [](io::Runtime& rt) {
        std::shared_ptr<Wal> wal =
            OpenWal(rt, rt.disk(), WalOptions{.file_bytes_max = 4096, .live_files_max = 2});
        std::unique_ptr<Log> a = OpenLog(rt, rt.disk(), wal, "a");
        std::unique_ptr<Log> b = OpenLog(rt, rt.disk(), wal, "b");
        for (uint64_t round = 0; round < 20; round++) {
          AppendTagged(*a, 1 + round * 5, 5);
          ASSERT_TRUE(b->WaitDurable(AppendTagged(*b, 1 + round * 5, 5)).ok());
          ASSERT_TRUE(a->WaitDurable(Offset(a->end_offset().value() - 1)).ok());
          (void)rt.Sleep(std::chrono::milliseconds(1));
        }
        EXPECT_GT(wal->metrics().checkpoints, 0u);
        EXPECT_GT(wal->metrics().files_removed, 0u);
        EXPECT_LE(wal->metrics().live_files, 4u);
      },
      std::chrono::seconds(20));
  ASSERT_TRUE(node.Run([](io::Runtime& rt) {
    std::shared_ptr<Wal> wal =
        OpenWal(rt, rt.disk(), WalOptions{.file_bytes_max = 4096, .live_files_max = 2});
    std::unique_ptr<Log> a = OpenLog(rt, rt.disk(), wal, "a");
    std::unique_ptr<Log> b = OpenLog(rt, rt.disk(), wal, "b");
    ExpectTags(*a, 100);
    ExpectTags(*b, 100);
  }));
}

// A round past LogOptions::wal_direct_round_bytes skips the WAL: its segment files are synced
// and a base record settles the history. Nothing is written twice, and a power cut keeps it all,
// including the earlier rounds that had only the WAL (the base would otherwise hide them).
TEST(Wal, ALargeRoundSkipsTheWalAndSurvivesAPowerCut) {
  SimNode node(6);
  node.RunThenCrash(
      [](io::Runtime& rt) {
        std::shared_ptr<Wal> wal = OpenWal(rt, rt.disk());
        absl::StatusOr<std::unique_ptr<Log>> opened = Log::Open(
            rt, rt.disk(),
            LogOptions{
                .dir = "a", .segment_bytes_max = 8192, .wal = wal, .wal_direct_round_bytes = 4096});
        ASSERT_TRUE(opened.ok()) << opened.status();
        Log& a = **opened;
        // Small rounds through the WAL fill the first segment (the segment files unsynced).
        for (uint64_t round = 0; round < 4; round++) {
          ASSERT_TRUE(a.WaitDurable(AppendTagged(a, 1 + round * 8, 8)).ok());
        }
        ASSERT_GT(a.segment_count(), 1u);
        const uint64_t wal_bytes = wal->metrics().record_bytes;
        ASSERT_TRUE(a.WaitDurable(AppendTagged(a, 33, 33)).ok());  // ~12 KiB in one round.
        EXPECT_LT(wal->metrics().record_bytes - wal_bytes, 8192u) << "the large round went direct";
        ASSERT_TRUE(a.WaitDurable(AppendTagged(a, 66, 3)).ok());  // Small again: the WAL.
      },
      std::chrono::seconds(5));
  ASSERT_TRUE(node.Run([](io::Runtime& rt) {
    std::shared_ptr<Wal> wal = OpenWal(rt, rt.disk());
    core::log::RecoveryReport report;
    std::unique_ptr<Log> a = OpenLog(rt, rt.disk(), wal, "a", &report);
    EXPECT_FALSE(report.cut) << report.ToString();
    ExpectTags(*a, 68);
  }));
}

// Damage inside the WAL cuts it at the bad record and removes the files after it: the WAL is
// never replayed with a hole. What the groups lose there is theirs to detect (their durable
// marks, outside the WAL) and repair from their peers.
TEST(Wal, DamageCutsTheWalAtTheBadRecordAndDropsWhatFollows) {
  SimNode node(5);
  node.RunThenCrash(
      [](io::Runtime& rt) {
        std::shared_ptr<Wal> wal = OpenWal(rt, rt.disk(), WalOptions{.file_bytes_max = 4096});
        std::unique_ptr<Log> a = OpenLog(rt, rt.disk(), wal, "a");
        for (uint64_t round = 0; round < 6; round++) {
          ASSERT_TRUE(a->WaitDurable(AppendTagged(*a, 1 + round * 4, 4)).ok());
        }
      },
      std::chrono::seconds(5));
  // A record in the middle of the first file: its batch and everything after are lost here.
  ASSERT_TRUE(node.Run([](io::Runtime& rt) {
    ASSERT_TRUE(FlipByte(rt.disk(), "wal/wal-0000000000000001.log", 2000).ok());
  }));
  // A cut that cannot be made fails the Open at once, before anything else changes: appends
  // after the bad record would otherwise leave the records the cut meant to discard behind
  // them, to be replayed by the next recovery.
  ASSERT_TRUE(node.Run([](io::Runtime& rt) {
    absl::StatusOr<std::vector<std::string>> before = rt.disk().ListDir("wal");
    ASSERT_TRUE(before.ok()) << before.status();
    DiskFaults faults{.fail_truncates = true};
    FaultyDisk faulty(rt.disk(), faults);
    absl::StatusOr<std::shared_ptr<Wal>> wal =
        Wal::Open(rt, faulty, WalOptions{.file_bytes_max = 4096}, nullptr);
    EXPECT_TRUE(absl::IsDataLoss(wal.status())) << wal.status();
    EXPECT_EQ(rt.disk().ListDir("wal").value_or(std::vector<std::string>{}), *before)
        << "the failed cut removed files";
  }));
  ASSERT_TRUE(node.Run([](io::Runtime& rt) {
    core::log::WalRecoveryReport wal_report;
    std::shared_ptr<Wal> wal =
        OpenWal(rt, rt.disk(), WalOptions{.file_bytes_max = 4096}, &wal_report);
    EXPECT_TRUE(wal_report.cut) << wal_report.ToString();
    EXPECT_GT(wal_report.files_removed, 0u) << wal_report.ToString();
    std::unique_ptr<Log> a = OpenLog(rt, rt.disk(), wal, "a");
    const uint64_t kept = a->end_offset().value();
    EXPECT_LT(kept, 24u);
    ExpectTags(*a, kept);  // A prefix, never a batch from after the hole.
  }));
}

}  // namespace
}  // namespace meridian::tests::log
