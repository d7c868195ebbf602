// Scenario tests of core/log on the simulator: each reads as "do this; crash; recover; check".
// Every test names its seed in a SCOPED_TRACE, so a failure prints the seed that replays it.
#include "core/log/log.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/log/segment_scan.h"
#include "io/crc32c.h"
#include "io/sync.h"
#include "tests/log/log_test_support.h"

namespace meridian::tests::log {
namespace {

using core::Offset;
using core::log::Log;
using core::log::LogOptions;
using core::log::RecoveryReport;

constexpr uint64_t kSeed = 20261129;

LogOptions SmallSegments() {
  return LogOptions{.dir = "data/p0",
                    .segment_bytes_max = 8192,
                    .index_interval_bytes = 512,
                    .cache_bytes_max = 4096};
}

std::unique_ptr<Log> OpenOrFail(io::Runtime& rt, io::Disk& disk, LogOptions options,
                                RecoveryReport* report = nullptr) {
  absl::StatusOr<std::unique_ptr<Log>> log = Log::Open(rt, disk, std::move(options), report);
  EXPECT_TRUE(log.ok()) << log.status().ToString();
  return log.ok() ? std::move(*log) : nullptr;
}

// Appends batches tagged first_tag.. with sizes cycling through a few values; returns offsets.
std::vector<Offset> AppendTagged(Log& log, uint64_t first_tag, int count) {
  std::vector<Offset> offsets;
  for (int i = 0; i < count; i++) {
    const uint64_t tag = first_tag + i;
    absl::StatusOr<Offset> offset =
        log.Append(MetaFor(tag, 1 + tag % 4), PayloadFor(tag, 50 + (tag * 37) % 700));
    EXPECT_TRUE(offset.ok()) << offset.status().ToString();
    if (offset.ok()) offsets.push_back(*offset);
  }
  return offsets;
}

// Checks that `log` holds exactly the batches tagged first_tag.. (as AppendTagged wrote them).
void ExpectTagged(Log& log, uint64_t first_tag, size_t count) {
  std::vector<core::log::BatchRef> batches = ReadAll(log, log.start_offset());
  ASSERT_EQ(batches.size(), count);
  for (size_t i = 0; i < count; i++) {
    const uint64_t tag = first_tag + i;
    EXPECT_EQ(batches[i].header.producer_id, tag);
    const std::vector<uint8_t> expected = PayloadFor(tag, 50 + (tag * 37) % 700);
    ASSERT_TRUE(std::equal(expected.begin(), expected.end(), batches[i].payload().begin(),
                           batches[i].payload().end()))
        << "batch " << i;
  }
}

TEST(Log, AppendsReadBackFromCacheAndDiskAcrossSegments) {
  SimNode node(kSeed);
  SCOPED_TRACE(fmt::format("seed {}", node.seed()));
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    std::unique_ptr<Log> log = OpenOrFail(rt, rt.disk(), SmallSegments());
    ASSERT_NE(log, nullptr);
    const std::vector<Offset> offsets = AppendTagged(*log, 0, 100);
    EXPECT_EQ(offsets.front(), Offset(0));
    EXPECT_GT(log->segment_count(), 3u);
    ExpectTagged(*log, 0, 100);
    ASSERT_TRUE(log->Read(Offset(log->end_offset().value() - 1), 1).ok());  // Tail: cached.
    const core::log::LogMetrics metrics = log->metrics();
    EXPECT_GT(metrics.cache_hits, 0u);
    EXPECT_GT(metrics.cache_misses, 0u);
    EXPECT_LE(metrics.cache_bytes, 4096u);
    // A read from the middle of a multi-record batch starts at that batch.
    absl::StatusOr<core::log::ReadResult> read = log->Read(Offset(offsets[10].value() + 1), 1);
    ASSERT_TRUE(read.ok());
    if (MetaFor(10, 1 + 10 % 4).record_count > 1) {
      EXPECT_EQ(read->batches[0].header.base_offset, offsets[10]);
    }
    EXPECT_TRUE(absl::IsOutOfRange(log->Read(Offset(log->end_offset().value() + 1), 10).status()));
    EXPECT_TRUE(log->Read(log->end_offset(), 10)->batches.empty());
  }));
}

// A read from disk starts at a sparse index entry and skips the batches before its offset; the
// wanted batch can be larger than the window (a re-read). Every offset of logs whose small
// batches put the window boundaries everywhere, with a big batch every ninth, reads back from
// the disk with the smallest budget (with no re-read allowed, the big ones fail).
TEST(Log, EveryOffsetReadsBackFromDiskWhateverTheWindowBoundaries) {
  SimNode node(kSeed);
  SCOPED_TRACE(fmt::format("seed {}", node.seed()));
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    for (size_t small = 13; small <= 61; small += 8) {
      LogOptions options{.dir = fmt::format("data/w{}", small),
                         .segment_bytes_max = 1 << 20,
                         .index_interval_bytes = 512,
                         .cache_bytes_max = 1};  // Reads come from the segment file.
      std::unique_ptr<Log> log = OpenOrFail(rt, rt.disk(), options);
      ASSERT_NE(log, nullptr);
      std::vector<size_t> sizes;
      for (uint64_t tag = 0; tag < 120; tag++) {
        sizes.push_back(tag % 9 == 8 ? 3000 : small + tag % 5);  // Every 9th batch is big.
        ASSERT_TRUE(log->Append(MetaFor(tag, 1), PayloadFor(tag, sizes.back())).ok());
      }
      ASSERT_TRUE(log->WaitDurable(Offset(119), rt.Now() + std::chrono::seconds(10)).ok());
      for (uint64_t offset = 0; offset < 120; offset++) {
        absl::StatusOr<core::log::ReadResult> read = log->Read(Offset(offset), 1);
        ASSERT_TRUE(read.ok()) << "small batches of " << small << " bytes, offset " << offset
                               << ": " << read.status();
        ASSERT_FALSE(read->batches.empty());
        EXPECT_EQ(read->batches[0].header.producer_id, offset);
        EXPECT_EQ(read->batches[0].payload().size(), sizes[offset]);
      }
    }
  }));
}

TEST(Log, ConcurrentWaitersShareGroupCommits) {
  SimNode node(kSeed + 1);
  SCOPED_TRACE(fmt::format("seed {}", node.seed()));
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    std::unique_ptr<Log> log = OpenOrFail(rt, rt.disk(), LogOptions{});
    ASSERT_NE(log, nullptr);
    const uint64_t syncs_before = log->metrics().group_syncs;
    constexpr int kWriters = 64;
    std::vector<io::FiberId> writers;
    int durable = 0;
    for (int w = 0; w < kWriters; w++) {
      writers.push_back(rt.Spawn("writer", [&, w] {
        for (int i = 0; i < 5; i++) {
          absl::StatusOr<Offset> offset = log->Append(MetaFor(w, 1), PayloadFor(w, 100));
          ASSERT_TRUE(offset.ok());
          ASSERT_TRUE(log->WaitDurable(*offset).ok());
          EXPECT_GT(log->durable_end_offset(), *offset);
          durable++;
        }
      }));
    }
    for (io::FiberId writer : writers) rt.scheduler().Join(writer);
    EXPECT_EQ(durable, kWriters * 5);
    const uint64_t syncs = log->metrics().group_syncs - syncs_before;
    EXPECT_LT(syncs, uint64_t{kWriters}) << "group commit should share fsyncs";
    EXPECT_GT(log->metrics().batches_per_sync_max, 10u);
    // Every successful file sync is timed once, in the simulator's virtual time.
    const core::log::LogMetrics metrics = log->metrics();
    EXPECT_EQ(metrics.file_sync_latency_ns.count(), metrics.file_syncs);
    EXPECT_GT(metrics.file_sync_latency_ns.sum(), 0);
  }));
}

TEST(Log, DurableDataSurvivesACrashAndUnsyncedDataMayNot) {
  SimNode node(kSeed + 2);
  SCOPED_TRACE(fmt::format("seed {}", node.seed()));
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    std::unique_ptr<Log> log = OpenOrFail(rt, rt.disk(), SmallSegments());
    AppendTagged(*log, 0, 40);
    ASSERT_TRUE(log->Sync().ok());
    AppendTagged(*log, 40, 10);  // Never synced: gone with the crash.
  }));
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    RecoveryReport report;
    std::unique_ptr<Log> log = OpenOrFail(rt, rt.disk(), SmallSegments(), &report);
    ASSERT_NE(log, nullptr);
    EXPECT_FALSE(report.cut) << report.ToString();
    EXPECT_EQ(log->durable_end_offset(), log->end_offset());
    ExpectTagged(*log, 0, 40);
    // The rebuilt index serves reads from the disk (the cache starts empty).
    EXPECT_GT(log->metrics().cache_misses, 0u);
    AppendTagged(*log, 40, 5);  // And appends continue after recovery.
    ExpectTagged(*log, 0, 45);
  }));
}

TEST(Log, ACorruptedBatchIsNeverServedAndRecoveryCutsTheLogThere) {
  SimNode node(kSeed + 3);
  SCOPED_TRACE(fmt::format("seed {}", node.seed()));
  Offset damaged_at;
  Offset old_end;
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    std::unique_ptr<Log> log = OpenOrFail(rt, rt.disk(), SmallSegments());
    const std::vector<Offset> offsets = AppendTagged(*log, 0, 60);
    ASSERT_TRUE(log->Sync().ok());
    old_end = log->end_offset();
    // Rot one payload byte of the third batch of the first segment.
    std::vector<core::log::BatchRef> batches = ReadAll(*log, Offset(0));
    uint64_t position = core::log::kSegmentHeaderBytes;
    for (int i = 0; i < 2; i++) position += batches[i].header.length_bytes;
    damaged_at = offsets[2];
    ASSERT_TRUE(FlipByte(rt.disk(), "data/p0/" + core::log::SegmentFileName(Offset(0)),
                         position + core::log::kBatchHeaderBytes + 3)
                    .ok());
    absl::StatusOr<core::log::ReadResult> read = log->Read(damaged_at, 1 << 20);
    EXPECT_TRUE(absl::IsDataLoss(read.status())) << read.status().ToString();
    EXPECT_EQ(log->metrics().corruptions_detected, 1u);
    // Batches before it are still served; the read stops short of the damage.
    read = log->Read(Offset(0), 1 << 20);
    ASSERT_TRUE(read.ok());
    EXPECT_LE(read->next_offset, damaged_at);
  }));
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    RecoveryReport report;
    std::unique_ptr<Log> log = OpenOrFail(rt, rt.disk(), SmallSegments(), &report);
    ASSERT_NE(log, nullptr);
    EXPECT_TRUE(report.cut);
    EXPECT_FALSE(report.looks_torn) << report.ToString();
    EXPECT_EQ(log->end_offset(), damaged_at) << report.ToString();
    EXPECT_EQ(report.lost_end_offset_hint, old_end) << report.ToString();
    EXPECT_GT(report.segments_removed, 0u);
    ExpectTagged(*log, 0, 2);
    // Repair: the same batches fetched again from a peer append cleanly at the cut.
    AppendTagged(*log, 2, 58);
    ASSERT_TRUE(log->Sync().ok());
    EXPECT_EQ(log->end_offset(), old_end);
    ExpectTagged(*log, 0, 60);
  }));
}

TEST(Log, ATornLastWriteIsCutAndReportedAsTorn) {
  SimNode node(kSeed + 4);
  SCOPED_TRACE(fmt::format("seed {}", node.seed()));
  Offset durable;
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    std::unique_ptr<Log> log = OpenOrFail(rt, rt.disk(), LogOptions{.dir = "p"});
    AppendTagged(*log, 0, 10);
    ASSERT_TRUE(log->Sync().ok());
    durable = log->end_offset();
    // Half of a batch reached the platter before the power went: write it by hand.
    const std::vector<uint8_t> batch =
        core::log::EncodeBatch(durable, MetaFor(99, 1), PayloadFor(99, 500));
    auto file =
        rt.disk().Open("p/" + core::log::SegmentFileName(Offset(0)), io::OpenMode::kOpenExisting);
    ASSERT_TRUE(file.ok());
    ASSERT_TRUE((*file)->Append(std::span(batch).first(300)).ok());
    ASSERT_TRUE((*file)->Sync().ok());
  }));
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    RecoveryReport report;
    std::unique_ptr<Log> log = OpenOrFail(rt, rt.disk(), LogOptions{.dir = "p"}, &report);
    ASSERT_NE(log, nullptr);
    // Reported as a cut: a torn write and a flipped length field look the same from here.
    EXPECT_TRUE(report.cut) << report.ToString();
    EXPECT_EQ(report.lost_from, durable);
    EXPECT_TRUE(report.looks_torn) << report.ToString();
    EXPECT_EQ(report.bytes_discarded, 300u);
    EXPECT_EQ(log->end_offset(), durable);
    ExpectTagged(*log, 0, 10);
  }));
}

TEST(Log, ASegmentOfANewerVersionIsRefusedAndLeftUntouched) {
  SimNode node(kSeed + 5);
  SCOPED_TRACE(fmt::format("seed {}", node.seed()));
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    std::unique_ptr<Log> log = OpenOrFail(rt, rt.disk(), LogOptions{.dir = "p"});
    AppendTagged(*log, 0, 5);
    ASSERT_TRUE(log->Sync().ok());
    log.reset();
    // A future build rewrote the header with version 2 (and a matching CRC).
    std::vector<uint8_t> header =
        core::log::EncodeSegmentHeader(core::log::SegmentHeader{.base_offset = Offset(0)});
    header[8] = core::log::kFormatVersion + 1;
    const uint32_t crc = io::Crc32c(std::span(header).first(28));
    for (int i = 0; i < 4; i++) header[28 + i] = uint8_t(crc >> (8 * i));
    const std::string path = "p/" + core::log::SegmentFileName(Offset(0));
    auto file = rt.disk().Open(path, io::OpenMode::kOpenExisting);
    ASSERT_TRUE((*file)->WriteAt(0, header).ok());
    const uint64_t size_before = *(*file)->Size();
    absl::StatusOr<std::unique_ptr<Log>> refused = Log::Open(rt, rt.disk(), LogOptions{.dir = "p"});
    EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status().ToString();
    EXPECT_EQ(*(*file)->Size(), size_before);
    const core::log::SegmentScan scan = core::log::ScanSegment(**file, Offset(0), 4096);
    EXPECT_EQ(scan.stop, core::log::ScanStop::kNewerVersion);
  }));
}

TEST(Log, ZeroLengthAndGarbageFilesGiveClearOutcomes) {
  SimNode node(kSeed + 6);
  SCOPED_TRACE(fmt::format("seed {}", node.seed()));
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    std::unique_ptr<Log> log = OpenOrFail(rt, rt.disk(), SmallSegments());
    AppendTagged(*log, 0, 30);
    ASSERT_TRUE(log->Sync().ok());
    const Offset end = log->end_offset();
    log.reset();
    // A zero-length last segment (its creation reached the disk, its header did not) and a
    // stray file that is no segment at all.
    ASSERT_TRUE(rt.disk()
                    .Open("data/p0/" + core::log::SegmentFileName(end), io::OpenMode::kCreateNew)
                    .ok());
    auto stray = rt.disk().Open("data/p0/notes.txt", io::OpenMode::kCreateNew);
    ASSERT_TRUE((*stray)->Append(PayloadFor(1, 10)).ok());
    RecoveryReport report;
    log = OpenOrFail(rt, rt.disk(), SmallSegments(), &report);
    ASSERT_NE(log, nullptr);
    EXPECT_TRUE(report.looks_torn) << report.ToString();
    EXPECT_FALSE(report.cut) << "a segment that never got its header lost nothing";
    EXPECT_EQ(report.segments_removed, 1u);
    EXPECT_EQ(report.ignored_files, std::vector<std::string>{"notes.txt"});
    EXPECT_EQ(log->end_offset(), end);
    ExpectTagged(*log, 0, 30);
    log.reset();
    // Garbage over the first segment's header: nothing in the log can be trusted any more.
    auto first = rt.disk().Open("data/p0/" + core::log::SegmentFileName(Offset(0)),
                                io::OpenMode::kOpenExisting);
    ASSERT_TRUE((*first)->WriteAt(0, PayloadFor(7, 32)).ok());
    log = OpenOrFail(rt, rt.disk(), SmallSegments(), &report);
    ASSERT_NE(log, nullptr);
    EXPECT_TRUE(report.cut);
    EXPECT_FALSE(report.looks_torn);
    EXPECT_EQ(log->start_offset(), Offset(0));
    EXPECT_EQ(log->end_offset(), Offset(0));
    EXPECT_EQ(report.lost_end_offset_hint, end) << report.ToString();
  }));
}

TEST(Log, AFullDiskIsResourceExhaustedAndLosesNothing) {
  SimNode node(kSeed + 7);
  SCOPED_TRACE(fmt::format("seed {}", node.seed()));
  DiskFaults faults;
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    FaultyDisk disk(rt.disk(), faults);
    std::unique_ptr<Log> log = OpenOrFail(rt, disk, SmallSegments());
    AppendTagged(*log, 0, 20);
    ASSERT_TRUE(log->Sync().ok());
    faults.write_bytes_left = 100;  // The next batch lands partially, then ENOSPC.
    absl::StatusOr<Offset> full = log->Append(MetaFor(20, 1), PayloadFor(20, 500));
    EXPECT_TRUE(absl::IsResourceExhausted(full.status())) << full.status().ToString();
    EXPECT_EQ(faults.writes_failed, 1u);
    EXPECT_TRUE(log->failure().ok()) << "a full disk is not a failed log";
    faults.write_bytes_left = UINT64_MAX;  // Space freed: appends continue where they were.
    AppendTagged(*log, 20, 5);
    ASSERT_TRUE(log->Sync().ok());
    ExpectTagged(*log, 0, 25);
  }));
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    RecoveryReport report;
    std::unique_ptr<Log> log = OpenOrFail(rt, rt.disk(), SmallSegments(), &report);
    EXPECT_FALSE(report.cut) << report.ToString();  // The partial write was cut at once.
    ExpectTagged(*log, 0, 25);
  }));
}

TEST(Log, AFailedFsyncFailsTheLogAndReopeningKeepsWhatWasDurable) {
  SimNode node(kSeed + 8);
  SCOPED_TRACE(fmt::format("seed {}", node.seed()));
  DiskFaults faults;
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    FaultyDisk disk(rt.disk(), faults);
    std::unique_ptr<Log> log = OpenOrFail(rt, disk, SmallSegments());
    AppendTagged(*log, 0, 10);
    ASSERT_TRUE(log->Sync().ok());
    const Offset durable = log->durable_end_offset();
    AppendTagged(*log, 10, 3);
    faults.fail_syncs = true;
    EXPECT_TRUE(absl::IsDataLoss(log->Sync()));
    EXPECT_EQ(log->durable_end_offset(), durable);
    EXPECT_FALSE(log->failure().ok());
    EXPECT_FALSE(log->Append(MetaFor(13, 1), PayloadFor(13, 10)).ok()) << "sticky after EIO";
    faults.fail_syncs = false;
    EXPECT_FALSE(log->Sync().ok()) << "a failed log stays failed until reopened";
  }));
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    std::unique_ptr<Log> log = OpenOrFail(rt, rt.disk(), SmallSegments());
    ExpectTagged(*log, 0, 10);
  }));
}

TEST(Log, SuffixTruncationIsDurableAndAbortsWaitersOfTheCutOffsets) {
  SimNode node(kSeed + 9);
  SCOPED_TRACE(fmt::format("seed {}", node.seed()));
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    std::unique_ptr<Log> log = OpenOrFail(rt, rt.disk(), SmallSegments());
    const std::vector<Offset> offsets = AppendTagged(*log, 0, 50);
    ASSERT_TRUE(log->Sync().ok());
    AppendTagged(*log, 50, 5);
    absl::Status waited;
    io::FiberId waiter = rt.Spawn(
        "waiter", [&] { waited = log->WaitDurable(Offset(log->end_offset().value() - 1)); });
    rt.scheduler().Yield();  // The waiter leads a sync; the truncation waits for it.
    ASSERT_EQ(offsets[22].value() - offsets[21].value(), 2u);  // Tag 21 has two records.
    EXPECT_TRUE(absl::IsInvalidArgument(log->TruncateSuffix(Offset(offsets[21].value() + 1))))
        << "not a batch boundary";
    ASSERT_TRUE(log->TruncateSuffix(offsets[20]).ok());
    rt.scheduler().Join(waiter);
    EXPECT_TRUE(waited.ok() || absl::IsAborted(waited)) << waited.ToString();
    EXPECT_EQ(log->end_offset(), offsets[20]);
    EXPECT_LE(log->durable_end_offset(), offsets[20]);
    ExpectTagged(*log, 0, 20);
    AppendTagged(*log, 100, 3);  // New entries after the cut, never synced.
  }));
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    std::unique_ptr<Log> log = OpenOrFail(rt, rt.disk(), SmallSegments());
    ExpectTagged(*log, 0, 20);  // The cut batches did not come back.
  }));
}

TEST(Log, ResetDiscardsEverythingDurablyAndContinuesAtTheNewStart) {
  SimNode node(kSeed + 31);
  SCOPED_TRACE(fmt::format("seed {}", node.seed()));
  for (const uint64_t new_start : {uint64_t{40}, uint64_t{5000}}) {  // Inside and past the log.
    SCOPED_TRACE(fmt::format("new start {}", new_start));
    ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
      LogOptions options = SmallSegments();
      options.dir = fmt::format("data/reset{}", new_start);
      std::unique_ptr<Log> log = OpenOrFail(rt, rt.disk(), options);
      const std::vector<Offset> offsets = AppendTagged(*log, 0, 60);
      ASSERT_TRUE(log->Sync().ok());
      ASSERT_GT(log->segment_count(), 2u);
      AppendTagged(*log, 60, 2);  // Not durable: its waiter must not hear "durable".
      absl::Status waited;
      io::FiberId waiter = rt.Spawn(
          "waiter", [&] { waited = log->WaitDurable(Offset(log->end_offset().value() - 1)); });
      ASSERT_TRUE(log->Reset(Offset(new_start)).ok());
      rt.scheduler().Join(waiter);
      EXPECT_TRUE(waited.ok() || absl::IsAborted(waited)) << waited.ToString();
      EXPECT_EQ(log->start_offset(), Offset(new_start));
      EXPECT_EQ(log->end_offset(), Offset(new_start));
      EXPECT_EQ(log->segment_count(), 1u);
      EXPECT_TRUE(absl::IsOutOfRange(log->Read(Offset(0), 10).status()));
      AppendTagged(*log, 100, 3);
      ASSERT_TRUE(log->Sync().ok());
    }));
    ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
      LogOptions options = SmallSegments();
      options.dir = fmt::format("data/reset{}", new_start);
      RecoveryReport report;
      std::unique_ptr<Log> log = OpenOrFail(rt, rt.disk(), options, &report);
      EXPECT_FALSE(report.cut) << report.ToString();
      EXPECT_EQ(log->start_offset(), Offset(new_start));
      ExpectTagged(*log, 100, 3);  // Only what came after the reset.
    }));
  }
}

TEST(Log, RetentionPointIsWhereEnforceRetentionMovesTheStart) {
  SimNode node(kSeed + 32);
  SCOPED_TRACE(fmt::format("seed {}", node.seed()));
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    LogOptions options = SmallSegments();
    options.retention_bytes_max = 20000;
    std::unique_ptr<Log> log = OpenOrFail(rt, rt.disk(), options);
    EXPECT_EQ(log->RetentionPoint(0, 20000, 0), log->start_offset());
    AppendTagged(*log, 0, 200);
    ASSERT_TRUE(log->Sync().ok());
    const Offset point = log->RetentionPoint(0, 20000, 0);
    EXPECT_GT(point, log->start_offset());
    EXPECT_EQ(log->start_offset(), Offset(0)) << "RetentionPoint only looks";
    absl::StatusOr<Offset> start = log->EnforceRetention(0);
    ASSERT_TRUE(start.ok());
    EXPECT_EQ(*start, point);
  }));
}

TEST(Log, RetentionRemovesOldSegmentsBySizeAndByAge) {
  SimNode node(kSeed + 10);
  SCOPED_TRACE(fmt::format("seed {}", node.seed()));
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    LogOptions options = SmallSegments();
    options.retention_bytes_max = 20000;
    std::unique_ptr<Log> log = OpenOrFail(rt, rt.disk(), options);
    AppendTagged(*log, 0, 200);  // Timestamps are the tags: 0..200 ms.
    ASSERT_TRUE(log->Sync().ok());
    const size_t segments = log->segment_count();
    absl::StatusOr<Offset> start = log->EnforceRetention(/*now_ms=*/0);
    ASSERT_TRUE(start.ok());
    EXPECT_LT(log->segment_count(), segments);
    EXPECT_LE(log->size_bytes(), 20000u + options.segment_bytes_max);
    EXPECT_EQ(log->start_offset(), *start);
    EXPECT_TRUE(absl::IsOutOfRange(log->Read(Offset(0), 10).status()));
    ReadAll(*log, log->start_offset());
    // Everything older than 10 ms before the newest batch goes, except the active segment.
    log.reset();
    options.retention_bytes_max = 0;
    options.retention_ms_max = 10;
    log = OpenOrFail(rt, rt.disk(), options);
    EXPECT_EQ(log->start_offset(), *start) << "prefix removal was durable";
    ASSERT_TRUE(log->EnforceRetention(/*now_ms=*/201).ok());
    EXPECT_EQ(log->segment_count(), 1u);
  }));
}

TEST(Log, ASlowPartitionRollsByTimeSoAgeRetentionCanRemoveIt) {
  SimNode node(kSeed + 11);
  SCOPED_TRACE(fmt::format("seed {}", node.seed()));
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    LogOptions options{.dir = "slow", .segment_ms_max = 1000, .retention_ms_max = 5000};
    std::unique_ptr<Log> log = OpenOrFail(rt, rt.disk(), options);
    // One small batch a second for a minute: far below segment_bytes_max.
    for (int64_t second = 0; second < 60; second++) {
      core::log::BatchMeta meta{.first_timestamp_ms = second * 1000,
                                .max_timestamp_ms = second * 1000};
      ASSERT_TRUE(log->Append(meta, PayloadFor(second, 10)).ok());
    }
    ASSERT_TRUE(log->Sync().ok());
    EXPECT_GE(log->segment_count(), 29u);
    ASSERT_TRUE(log->EnforceRetention(/*now_ms=*/60'000).ok());
    EXPECT_GE(log->start_offset(), Offset(50));
    EXPECT_LE(log->segment_count(), 6u);
  }));
}

// Time-based rolling goes on from the active segment's first timestamp as recovery read it:
// a reopened log neither rolls a segment younger than segment_ms_max nor keeps an older one.
TEST(Log, TimeRollingAfterARestartCountsFromTheRecoveredSegmentsFirstBatch) {
  SimNode node(kSeed + 29);
  SCOPED_TRACE(fmt::format("seed {}", node.seed()));
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    const LogOptions options{.dir = "timed", .segment_ms_max = 1000};
    const auto append_at = [](Log& log, int64_t ms) {
      const core::log::BatchMeta meta{.first_timestamp_ms = ms, .max_timestamp_ms = ms};
      ASSERT_TRUE(log.Append(meta, PayloadFor(static_cast<uint64_t>(ms), 10)).ok());
    };
    std::unique_ptr<Log> log = OpenOrFail(rt, rt.disk(), options);
    append_at(*log, 10'000);
    append_at(*log, 10'400);
    ASSERT_TRUE(log->Sync().ok());
    log = OpenOrFail(rt, rt.disk(), options);
    append_at(*log, 10'800);
    EXPECT_EQ(log->segment_count(), 1u) << "800 ms after the segment's first batch";
    append_at(*log, 11'100);
    EXPECT_EQ(log->segment_count(), 2u) << "1,100 ms after the segment's first batch";
  }));
}

TEST(Log, AWaitThatTimesOutLeavesTheLogHealthy) {
  SimNode node(kSeed + 12);
  SCOPED_TRACE(fmt::format("seed {}", node.seed()));
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    std::unique_ptr<Log> log = OpenOrFail(rt, rt.disk(), LogOptions{});
    const std::vector<Offset> offsets = AppendTagged(*log, 0, 3);
    absl::Status leader_status;
    io::FiberId leader = rt.Spawn("leader", [&] { leader_status = log->WaitDurable(offsets[0]); });
    rt.scheduler().Yield();  // The leader is inside its fsync now.
    const absl::Status hurried =
        log->WaitDurable(offsets[2], rt.Now() + std::chrono::nanoseconds(1));
    EXPECT_TRUE(absl::IsDeadlineExceeded(hurried)) << hurried.ToString();
    rt.scheduler().Join(leader);
    EXPECT_TRUE(leader_status.ok()) << leader_status.ToString();
    EXPECT_TRUE(log->failure().ok());
    EXPECT_TRUE(log->WaitDurable(offsets[2]).ok());
  }));
}

TEST(Log, AFailedFsyncDuringASuffixTruncationLosesNothingDurable) {
  SimNode node(kSeed + 13);
  SCOPED_TRACE(fmt::format("seed {}", node.seed()));
  DiskFaults faults;
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    FaultyDisk disk(rt.disk(), faults);
    std::unique_ptr<Log> log = OpenOrFail(rt, disk, SmallSegments());
    const std::vector<Offset> offsets = AppendTagged(*log, 0, 40);
    ASSERT_TRUE(log->Sync().ok());
    faults.fail_syncs = true;
    EXPECT_FALSE(log->TruncateSuffix(offsets[30]).ok());
    EXPECT_FALSE(log->failure().ok());
  }));
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    // Either the cut reached the disk or it did not; what is there is exactly what was written.
    std::unique_ptr<Log> log = OpenOrFail(rt, rt.disk(), SmallSegments());
    ASSERT_NE(log, nullptr);
    const size_t kept = ReadAll(*log, Offset(0)).size();
    EXPECT_GE(kept, 30u);
    ExpectTagged(*log, 0, kept);
  }));
}

TEST(Log, DiskReadsStopAtTheByteLimitAndAtTheSegmentEnd) {
  SimNode node(kSeed + 14);
  SCOPED_TRACE(fmt::format("seed {}", node.seed()));
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    LogOptions options = SmallSegments();
    options.cache_bytes_max = 0;  // Every read goes to the disk.
    std::unique_ptr<Log> log = OpenOrFail(rt, rt.disk(), options);
    const std::vector<Offset> offsets = AppendTagged(*log, 0, 60);
    // A limit below one batch still returns the batch holding the offset, and only it.
    absl::StatusOr<core::log::ReadResult> one = log->Read(offsets[7], 1);
    ASSERT_TRUE(one.ok());
    ASSERT_EQ(one->batches.size(), 1u);
    EXPECT_EQ(one->batches[0].header.base_offset, offsets[7]);
    EXPECT_EQ(one->next_offset, offsets[8]);
    EXPECT_FALSE(one->from_cache);
    // A large limit stops at the end of the segment; the next read continues in the next one.
    absl::StatusOr<core::log::ReadResult> many = log->Read(offsets[0], 1 << 20);
    ASSERT_TRUE(many.ok());
    EXPECT_LT(many->next_offset, log->end_offset());
    uint64_t bytes = 0;
    for (const core::log::BatchRef& b : many->batches) bytes += b.header.length_bytes;
    EXPECT_EQ(bytes, many->bytes);
    EXPECT_LE(many->bytes + core::log::kSegmentHeaderBytes, options.segment_bytes_max);
    EXPECT_EQ(log->metrics().cache_hits, 0u);
  }));
}

// The batch limits are inclusive: kRecordsPerBatchMax records and kBatchPayloadBytesMax bytes
// are appended, one more of either is InvalidArgument and appends nothing.
TEST(Log, BatchLimitsAreInclusive) {
  SimNode node(kSeed);
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    std::unique_ptr<Log> log = OpenOrFail(rt, rt.disk(), LogOptions{});
    EXPECT_TRUE(log->Append(MetaFor(1, core::log::kRecordsPerBatchMax), PayloadFor(1, 100)).ok());
    EXPECT_TRUE(log->Append(MetaFor(2, 1), PayloadFor(2, core::log::kBatchPayloadBytesMax)).ok());
    const Offset end = log->end_offset();
    EXPECT_TRUE(absl::IsInvalidArgument(
        log->Append(MetaFor(3, core::log::kRecordsPerBatchMax + 1), PayloadFor(3, 100)).status()));
    EXPECT_TRUE(absl::IsInvalidArgument(
        log->Append(MetaFor(4, 1), PayloadFor(4, core::log::kBatchPayloadBytesMax + 1)).status()));
    EXPECT_EQ(log->end_offset(), end);
  }));
}

}  // namespace
}  // namespace meridian::tests::log
