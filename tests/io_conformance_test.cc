// One interface conformance suite for io/, run against both backends (sim and posix).
// Each TEST_P states one property of io/runtime.h, io/network.h or io/disk.h.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "io/disk.h"
#include "io/frame.h"
#include "io/sync.h"
#include "tests/backend_harness.h"

namespace meridian::tests {
namespace {

using std::chrono::milliseconds;

std::vector<uint8_t> Bytes(std::string_view text) { return {text.begin(), text.end()}; }
std::string Text(std::span<const uint8_t> bytes) { return {bytes.begin(), bytes.end()}; }

class IoConformance : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    harness_ = GetParam() == "sim" ? MakeSimHarness(/*seed=*/7) : MakePosixHarness();
  }
  std::unique_ptr<BackendHarness> harness_;
};

TEST_P(IoConformance, TimersFireInDeadlineOrderAndTimeAdvances) {
  std::vector<int> order;
  harness_->Run([&](io::Runtime& rt) {
    const io::Instant start = rt.Now();
    std::vector<io::FiberId> sleepers;
    for (int ms : {30, 10, 20}) {
      sleepers.push_back(rt.Spawn("sleeper", [&rt, &order, ms] {
        ASSERT_TRUE(rt.Sleep(milliseconds(ms)).ok());
        order.push_back(ms);
      }));
    }
    for (io::FiberId fiber : sleepers) rt.scheduler().Join(fiber);
    EXPECT_GE(rt.Now() - start, milliseconds(30));
  });
  EXPECT_EQ(order, (std::vector<int>{10, 20, 30}));
}

TEST_P(IoConformance, SpawnAndJoinRunChildrenToCompletion) {
  int sum = 0;
  harness_->Run([&](io::Runtime& rt) {
    std::vector<io::FiberId> children;
    for (int i = 1; i <= 10; i++) {
      children.push_back(rt.Spawn("child", [&rt, &sum, i] {
        rt.scheduler().Yield();
        sum += i;
      }));
    }
    for (io::FiberId child : children) rt.scheduler().Join(child);
    EXPECT_EQ(sum, 55);
  });
}

TEST_P(IoConformance, WaitsEndAtTheirDeadlineOrOnCancel) {
  harness_->Run([&](io::Runtime& rt) {
    io::Channel<int> channel(rt, 1);
    const io::Instant start = rt.Now();
    absl::StatusOr<int> nothing = channel.Receive(rt.Now() + milliseconds(15));
    EXPECT_TRUE(absl::IsDeadlineExceeded(nothing.status())) << nothing.status();
    EXPECT_GE(rt.Now() - start, milliseconds(15));

    absl::Status slept;
    io::FiberId sleeper = rt.Spawn("sleeper", [&] { slept = rt.Sleep(std::chrono::hours(1)); });
    rt.scheduler().Yield();
    rt.scheduler().Cancel(sleeper);
    rt.scheduler().Join(sleeper);
    EXPECT_TRUE(absl::IsCancelled(slept)) << slept;
  });
}

TEST_P(IoConformance, ChannelIsFifoAndBoundedAndClosable) {
  harness_->Run([&](io::Runtime& rt) {
    io::Channel<int> channel(rt, 2);
    EXPECT_TRUE(channel.TrySend(1));
    EXPECT_TRUE(channel.TrySend(2));
    EXPECT_FALSE(channel.TrySend(3));  // Full.
    io::FiberId producer = rt.Spawn("producer", [&] { EXPECT_TRUE(channel.Send(3).ok()); });
    EXPECT_EQ(*channel.Receive(), 1);
    rt.scheduler().Join(producer);
    EXPECT_EQ(*channel.Receive(), 2);
    EXPECT_EQ(*channel.Receive(), 3);
    channel.Close();
    EXPECT_TRUE(absl::IsFailedPrecondition(channel.Receive().status()));
    EXPECT_FALSE(channel.TrySend(4));
  });
}

// Connects to `address`, retrying while nobody listens yet (the other node may start later).
absl::StatusOr<std::unique_ptr<io::Stream>> ConnectWithRetry(io::Runtime& rt,
                                                             const io::Address& address) {
  const io::Instant deadline = rt.Now() + std::chrono::seconds(10);
  while (true) {
    absl::StatusOr<std::unique_ptr<io::Stream>> stream = rt.network().Connect(address, deadline);
    if (stream.ok() || !absl::IsUnavailable(stream.status()) || rt.Now() >= deadline) {
      return stream;
    }
    EXPECT_TRUE(rt.Sleep(milliseconds(5)).ok());
  }
}

TEST_P(IoConformance, StreamEchoesFramesAndEndsCleanly) {
  const io::Address service = harness_->Node2ServiceAddress();
  constexpr int kFrames = 50;
  harness_->Run(
      [&](io::Runtime& rt) {
        absl::StatusOr<std::unique_ptr<io::Stream>> stream = ConnectWithRetry(rt, service);
        ASSERT_TRUE(stream.ok()) << stream.status();
        io::FrameReader reader(**stream);
        for (int i = 0; i < kFrames; i++) {
          const std::string message = "ping " + std::to_string(i) + std::string(i * 100, 'x');
          ASSERT_TRUE(io::WriteFrame(**stream, Bytes(message), io::Instant::Infinite()).ok());
          absl::StatusOr<std::vector<uint8_t>> echo =
              reader.Read(rt.Now() + std::chrono::seconds(5));
          ASSERT_TRUE(echo.ok()) << echo.status();
          EXPECT_EQ(Text(*echo), message);
        }
        (*stream)->Close();
      },
      [&](io::Runtime& rt) {
        absl::StatusOr<std::unique_ptr<io::Listener>> listener = rt.network().Listen(service);
        ASSERT_TRUE(listener.ok()) << listener.status();
        absl::StatusOr<std::unique_ptr<io::Stream>> stream =
            (*listener)->Accept(rt.Now() + std::chrono::seconds(10));
        ASSERT_TRUE(stream.ok()) << stream.status();
        io::FrameReader reader(**stream);
        int echoed = 0;
        while (true) {
          absl::StatusOr<std::vector<uint8_t>> frame =
              reader.Read(rt.Now() + std::chrono::seconds(5));
          if (absl::IsOutOfRange(frame.status())) break;  // Clean end of stream.
          ASSERT_TRUE(frame.ok()) << frame.status();
          ASSERT_TRUE(io::WriteFrame(**stream, *frame, io::Instant::Infinite()).ok());
          echoed++;
        }
        EXPECT_EQ(echoed, kFrames);
      });
}

TEST_P(IoConformance, ConnectToAClosedPortIsRefused) {
  harness_->Run([&](io::Runtime& rt) {
    absl::StatusOr<std::unique_ptr<io::Stream>> stream =
        rt.network().Connect(harness_->Node2ServiceAddress(), rt.Now() + std::chrono::seconds(5));
    EXPECT_TRUE(absl::IsUnavailable(stream.status())) << stream.status();
  });
}

TEST_P(IoConformance, CorruptedFrameIsRejectedWithDataLoss) {
  const io::Address service = harness_->Node2ServiceAddress();
  harness_->Run(
      [&](io::Runtime& rt) {
        absl::StatusOr<std::unique_ptr<io::Stream>> stream = ConnectWithRetry(rt, service);
        ASSERT_TRUE(stream.ok()) << stream.status();
        std::vector<uint8_t> frame = io::EncodeFrame(Bytes("important bytes"));
        frame.back() ^= 0x01;  // One flipped bit in the payload.
        ASSERT_TRUE((*stream)->Write(frame, io::Instant::Infinite()).ok());
        // The receiver must close the connection: we see end of stream or a reset, never data.
        uint8_t byte;
        absl::StatusOr<size_t> read =
            (*stream)->Read(std::span<uint8_t>(&byte, 1), rt.Now() + std::chrono::seconds(5));
        EXPECT_TRUE(read.ok() ? *read == 0 : absl::IsUnavailable(read.status())) << read.status();
      },
      [&](io::Runtime& rt) {
        absl::StatusOr<std::unique_ptr<io::Listener>> listener = rt.network().Listen(service);
        ASSERT_TRUE(listener.ok()) << listener.status();
        absl::StatusOr<std::unique_ptr<io::Stream>> stream =
            (*listener)->Accept(rt.Now() + std::chrono::seconds(10));
        ASSERT_TRUE(stream.ok()) << stream.status();
        io::FrameReader reader(**stream);
        absl::StatusOr<std::vector<uint8_t>> bad = reader.Read(rt.Now() + std::chrono::seconds(5));
        EXPECT_TRUE(absl::IsDataLoss(bad.status())) << bad.status();
        EXPECT_NE(bad.status().message().find("CRC32C"), std::string::npos);
        (*stream)->Close();
      });
}

TEST_P(IoConformance, PeerMessagesArriveWithSender) {
  constexpr int kMessages = 100;
  std::multiset<std::string> received;
  harness_->Run(
      [&](io::Runtime& rt) {
        for (int i = 0; i < kMessages; i++) {
          rt.network().Send(io::NodeId(2), Bytes("m" + std::to_string(i)));
        }
        // Keep the link alive until the peer has had time to read everything.
        ASSERT_TRUE(rt.Sleep(milliseconds(500)).ok());
      },
      [&](io::Runtime& rt) {
        const io::Instant deadline = rt.Now() + std::chrono::seconds(10);
        while (received.size() < kMessages) {
          absl::StatusOr<io::PeerMessage> message = rt.network().Receive(deadline);
          ASSERT_TRUE(message.ok()) << message.status() << " after " << received.size();
          EXPECT_EQ(message->from, io::NodeId(1));
          received.insert(Text(message->payload));
        }
      });
  // No faults are on in this suite: every message arrives exactly once (order may differ).
  std::multiset<std::string> expected;
  for (int i = 0; i < kMessages; i++) expected.insert("m" + std::to_string(i));
  EXPECT_EQ(received, expected);
}

TEST_P(IoConformance, FilesWriteReadSyncTruncateRename) {
  harness_->Run([&](io::Runtime& rt) {
    io::Disk& disk = rt.disk();
    ASSERT_TRUE(disk.CreateDir("logs").ok());
    absl::StatusOr<std::unique_ptr<io::File>> file = disk.Open("logs/a", io::OpenMode::kCreateNew);
    ASSERT_TRUE(file.ok()) << file.status();
    EXPECT_EQ(*(*file)->Append(Bytes("hello ")), 0u);
    EXPECT_EQ(*(*file)->Append(Bytes("world")), 6u);
    ASSERT_TRUE((*file)->WriteAt(0, Bytes("J")).ok());
    ASSERT_TRUE((*file)->Sync().ok());
    std::vector<uint8_t> buffer(64);
    EXPECT_EQ(*(*file)->ReadAt(0, buffer), 11u);
    EXPECT_EQ(Text(std::span(buffer).first(11)), "Jello world");
    EXPECT_EQ(*(*file)->ReadAt(100, buffer), 0u);
    ASSERT_TRUE((*file)->Truncate(5).ok());
    EXPECT_EQ(*(*file)->Size(), 5u);
    ASSERT_TRUE(disk.Rename("logs/a", "logs/b").ok());
    ASSERT_TRUE(disk.SyncDir("logs").ok());
    EXPECT_FALSE(*disk.Exists("logs/a"));
    EXPECT_TRUE(*disk.Exists("logs/b"));
    ASSERT_TRUE(disk.Open("logs/c", io::OpenMode::kCreate).ok());
    EXPECT_EQ(*disk.ListDir("logs"), (std::vector<std::string>{"b", "c"}));
    ASSERT_TRUE(disk.Remove("logs/c").ok());
    EXPECT_EQ(*disk.ListDir("logs"), (std::vector<std::string>{"b"}));
    absl::StatusOr<std::unique_ptr<io::File>> reopened =
        disk.Open("logs/b", io::OpenMode::kOpenExisting);
    ASSERT_TRUE(reopened.ok());
    EXPECT_EQ(*(*reopened)->ReadAt(0, buffer), 5u);
    EXPECT_EQ(Text(std::span(buffer).first(5)), "Jello");
  });
}

TEST_P(IoConformance, DiskErrorsAreStatusesNotCrashes) {
  harness_->Run([&](io::Runtime& rt) {
    io::Disk& disk = rt.disk();
    EXPECT_TRUE(absl::IsNotFound(disk.Open("missing", io::OpenMode::kOpenExisting).status()));
    ASSERT_TRUE(disk.Open("once", io::OpenMode::kCreateNew).ok());
    EXPECT_TRUE(absl::IsAlreadyExists(disk.Open("once", io::OpenMode::kCreateNew).status()));
    EXPECT_TRUE(absl::IsInvalidArgument(disk.Open("../escape", io::OpenMode::kCreate).status()));
    EXPECT_TRUE(absl::IsInvalidArgument(disk.Open("/abs", io::OpenMode::kCreate).status()));
    EXPECT_TRUE(absl::IsNotFound(disk.Open("no/such/dir", io::OpenMode::kCreate).status()));
    EXPECT_TRUE(absl::IsNotFound(disk.Remove("missing")));
    EXPECT_TRUE(absl::IsNotFound(disk.Rename("missing", "other")));
    ASSERT_TRUE(disk.CreateDir("full").ok());
    ASSERT_TRUE(disk.Open("full/x", io::OpenMode::kCreate).ok());
    EXPECT_TRUE(absl::IsFailedPrecondition(disk.Remove("full")));
  });
}

TEST_P(IoConformance, CrashKeepsSyncedDataAndLosesTheRest) {
  if (!harness_->can_crash()) GTEST_SKIP() << GetParam() << " cannot power-cut a node";
  harness_->Run([&](io::Runtime& rt) {
    io::Disk& disk = rt.disk();
    auto durable = disk.Open("durable", io::OpenMode::kCreateNew);
    ASSERT_TRUE((*durable)->Append(Bytes("synced")).ok());
    ASSERT_TRUE((*durable)->Sync().ok());
    ASSERT_TRUE(disk.SyncDir("").ok());
    ASSERT_TRUE((*durable)->Append(Bytes(" and not")).ok());
    auto unnamed = disk.Open("never-dir-synced", io::OpenMode::kCreateNew);
    ASSERT_TRUE((*unnamed)->Append(Bytes("data")).ok());
    ASSERT_TRUE((*unnamed)->Sync().ok());  // Data synced, but its name never was.
  });
  harness_->CrashNode1Then([&](io::Runtime& rt) {
    io::Disk& disk = rt.disk();
    auto durable = disk.Open("durable", io::OpenMode::kOpenExisting);
    ASSERT_TRUE(durable.ok()) << durable.status();
    std::vector<uint8_t> buffer(64);
    const size_t n = *(*durable)->ReadAt(0, buffer);
    EXPECT_EQ(Text(std::span(buffer).first(n)), "synced");
    EXPECT_FALSE(*disk.Exists("never-dir-synced"));
  });
}

INSTANTIATE_TEST_SUITE_P(Backends, IoConformance, ::testing::Values("sim", "posix"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace meridian::tests
