// The log on the real disk (io/posix): the same code the simulator tests drive, with real files,
// fdatasync and directory fsync. Reopening = a process restart (the page cache survives it, so
// this checks the format and recovery on real files, not power loss: that is the simulator's).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "core/log/log.h"
#include "io/posix/posix_runtime.h"
#include "tests/log/log_test_support.h"

namespace meridian::tests::log {
namespace {

using core::Offset;
using core::log::Log;

class PosixLog : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/meridian-log-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    root_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  // Runs `body` in a fresh PosixRuntime over root_ (one "process lifetime").
  void RunProcess(const std::function<void(io::Runtime&)>& body) {
    absl::StatusOr<std::unique_ptr<io::posix::PosixRuntime>> rt =
        io::posix::PosixRuntime::Create({.node = io::NodeId(1), .data_dir = root_});
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    (*rt)->Spawn("test", [&] {
      body(**rt);
      (*rt)->Stop();
    });
    (*rt)->Run();
  }

  core::log::LogOptions Options() const {
    return core::log::LogOptions{.dir = "log", .segment_bytes_max = 16384};
  }

  std::string root_;
};

TEST_F(PosixLog, GroupCommitsAppendsAndRecoversThemAfterARestart) {
  RunProcess([&](io::Runtime& rt) {
    absl::StatusOr<std::unique_ptr<Log>> log = Log::Open(rt, rt.disk(), Options());
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    std::vector<io::FiberId> writers;
    for (int w = 0; w < 8; w++) {
      writers.push_back(rt.Spawn("writer", [&, w] {
        for (int i = 0; i < 25; i++) {
          const uint64_t tag = w * 1000 + i;
          absl::StatusOr<Offset> offset = (*log)->Append(MetaFor(tag, 1), PayloadFor(tag, 500));
          ASSERT_TRUE(offset.ok());
          ASSERT_TRUE((*log)->WaitDurable(*offset).ok());
        }
      }));
    }
    for (io::FiberId writer : writers) rt.scheduler().Join(writer);
    EXPECT_EQ((*log)->end_offset(), Offset(200));
    EXPECT_LT((*log)->metrics().group_syncs, 200u);
    EXPECT_GT((*log)->segment_count(), 3u);
  });
  RunProcess([&](io::Runtime& rt) {
    core::log::RecoveryReport report;
    absl::StatusOr<std::unique_ptr<Log>> log = Log::Open(rt, rt.disk(), Options(), &report);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    EXPECT_FALSE(report.cut) << report.ToString();
    std::vector<core::log::BatchRef> batches = ReadAll(**log, Offset(0));
    ASSERT_EQ(batches.size(), 200u);
    for (const core::log::BatchRef& batch : batches) {
      const std::vector<uint8_t> want = PayloadFor(batch.header.producer_id, 500);
      ASSERT_TRUE(
          std::equal(want.begin(), want.end(), batch.payload().begin(), batch.payload().end()));
    }
  });
}

TEST_F(PosixLog, ABitFlipOnDiskIsRefusedAndCutAtTheNextOpen) {
  RunProcess([&](io::Runtime& rt) {
    absl::StatusOr<std::unique_ptr<Log>> log = Log::Open(rt, rt.disk(), Options());
    ASSERT_TRUE(log.ok());
    for (uint64_t tag = 0; tag < 10; tag++) {
      ASSERT_TRUE((*log)->Append(MetaFor(tag, 1), PayloadFor(tag, 100)).ok());
    }
    ASSERT_TRUE((*log)->Sync().ok());
  });
  // Rot a payload byte of the sixth batch (164 bytes each, after the 32-byte segment header).
  const std::string path = root_ + "/log/" + core::log::SegmentFileName(Offset(0));
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(32 + 5 * 164 + 64 + 10);
    file.put('\x7f');
  }
  RunProcess([&](io::Runtime& rt) {
    core::log::RecoveryReport report;
    absl::StatusOr<std::unique_ptr<Log>> log = Log::Open(rt, rt.disk(), Options(), &report);
    ASSERT_TRUE(log.ok());
    EXPECT_TRUE(report.cut) << report.ToString();
    EXPECT_EQ(report.lost_from, Offset(5));
    EXPECT_EQ((*log)->end_offset(), Offset(5));
    ASSERT_TRUE((*log)->AcknowledgeLoss().ok());
  });
  RunProcess([&](io::Runtime& rt) {
    core::log::RecoveryReport report;
    absl::StatusOr<std::unique_ptr<Log>> log = Log::Open(rt, rt.disk(), Options(), &report);
    ASSERT_TRUE(log.ok());
    EXPECT_FALSE(report.cut) << "acknowledged: " << report.ToString();
    EXPECT_EQ((*log)->end_offset(), Offset(5));
  });
}

}  // namespace
}  // namespace meridian::tests::log
