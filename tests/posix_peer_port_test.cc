// The bounds of io/posix's peer port (issue 10 item 3): whoever can reach it may connect, so
// every connection is bounded in time and in number. A victim node 2 (peers 1 and 3, plaintext)
// listens for peer links; dialers on the same reactor play peers and attackers:
// - a frame that stalls midway closes its link after PeerLinkLimits::frame_timeout;
// - a newer link from the same peer replaces the older (one incoming link per peer, so a peer's
//   abandoned connections, after a power cut or a partition, are not held for ever);
// - connections awaiting their hello are bounded per address (and node-wide);
// - a hello claiming a non-member is refused even in plaintext;
// - a fiber reading a stream another fiber closes wakes up (it used to wait for ever).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "io/assert.h"
#include "io/frame.h"
#include "io/posix/ports.h"
#include "io/posix/posix_network.h"
#include "io/posix/posix_runtime.h"

namespace meridian::tests {
namespace {

using io::posix::PeerLinkLimits;
using io::posix::PosixNetwork;
using io::posix::PosixRuntime;
using std::chrono::milliseconds;
using std::chrono::seconds;

class PosixPeerPortTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/meridian-peer-link-test-XXXXXX";
    root_ = mkdtemp(pattern);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  // Victim node 2 with peers 1 and 3 (their addresses are never dialled here). Runs `body` on
  // its reactor and returns when the body does.
  void WithVictim(PeerLinkLimits limits, std::function<void(PosixRuntime&, PosixNetwork&)> body) {
    io::posix::PosixOptions options;
    options.node = io::NodeId(2);
    options.data_dir = root_ + "/victim";
    absl::StatusOr<uint16_t> port = io::posix::PickFreeLoopbackPort();
    MERIDIAN_CHECK(port.ok());
    options.peer_listen = {"127.0.0.1", *port};
    options.peers[io::NodeId(1)] = {"127.0.0.1", 1};
    options.peers[io::NodeId(3)] = {"127.0.0.1", 1};
    options.peer_link_limits = limits;
    victim_address_ = options.peer_listen;
    absl::StatusOr<std::unique_ptr<PosixRuntime>> runtime = PosixRuntime::Create(options);
    MERIDIAN_CHECK(runtime.ok(), "{}", runtime.status().ToString());
    PosixRuntime& victim = **runtime;
    victim.Spawn("dialer", [&] {
      body(victim, static_cast<PosixNetwork&>(victim.network()));
      victim.Stop();
    });
    victim.Run();
  }

  std::unique_ptr<io::Stream> Dial(PosixRuntime& rt, PosixNetwork& network) {
    absl::StatusOr<std::unique_ptr<io::Stream>> stream =
        network.ConnectPlain(victim_address_, rt.Now() + seconds(5));
    EXPECT_TRUE(stream.ok()) << stream.status();
    return stream.ok() ? std::move(*stream) : nullptr;
  }

  // Sends the hello claiming `claimed` and one message `text`.
  static void Speak(PosixRuntime& rt, io::Stream& stream, uint32_t claimed,
                    const std::string& text) {
    std::vector<uint8_t> hello(4);
    for (int i = 0; i < 4; i++) hello[i] = static_cast<uint8_t>(claimed >> (8 * i));
    EXPECT_TRUE(io::WriteFrame(stream, hello, rt.Now() + seconds(5)).ok());
    EXPECT_TRUE(io::WriteFrame(stream, std::vector<uint8_t>(text.begin(), text.end()),
                               rt.Now() + seconds(5))
                    .ok());
  }

  // The next message the victim delivered, as "n<from>:<text>", or "" if none came in time.
  static std::string Delivered(PosixRuntime& rt, PosixNetwork& network) {
    absl::StatusOr<io::PeerMessage> message = network.Receive(rt.Now() + milliseconds(1500));
    if (!message.ok()) return "";
    return message->from.ToString() + ":" +
           std::string(message->payload.begin(), message->payload.end());
  }

  // Whether the victim closed `stream` (a read sees the end, or an error) within `within`.
  static bool ClosedByVictim(PosixRuntime& rt, io::Stream& stream, io::Duration within) {
    std::array<uint8_t, 64> buffer{};
    absl::StatusOr<size_t> n = stream.Read(buffer, rt.Now() + within);
    return (n.ok() && *n == 0) || (!n.ok() && !absl::IsDeadlineExceeded(n.status()));
  }

  std::string root_;
  io::Address victim_address_;
};

TEST_F(PosixPeerPortTest, AFrameStalledMidwayClosesTheLinkAfterTheFrameTimeout) {
  WithVictim({.frame_timeout = seconds(1)}, [&](PosixRuntime& rt, PosixNetwork& network) {
    std::unique_ptr<io::Stream> link = Dial(rt, network);
    ASSERT_NE(link, nullptr);
    Speak(rt, *link, 1, "whole");
    EXPECT_EQ(Delivered(rt, network), "n1:whole");
    const std::array<uint8_t, 6> half_header = {0x10, 0, 0, 0, 0, 0};
    ASSERT_TRUE(link->Write(half_header, rt.Now() + seconds(1)).ok());
    const io::Instant stalled = rt.Now();
    EXPECT_TRUE(ClosedByVictim(rt, *link, seconds(5))) << "a stalled frame held its link";
    EXPECT_GE(rt.Now() - stalled, milliseconds(900)) << "closed before the frame timeout";
    EXPECT_EQ(network.peer_links_timed_out(), 1u);
  });
}

TEST_F(PosixPeerPortTest, ANewerLinkFromThePeerReplacesTheOlder) {
  WithVictim({}, [&](PosixRuntime& rt, PosixNetwork& network) {
    std::unique_ptr<io::Stream> older = Dial(rt, network);
    ASSERT_NE(older, nullptr);
    Speak(rt, *older, 1, "older");
    EXPECT_EQ(Delivered(rt, network), "n1:older");
    std::unique_ptr<io::Stream> newer = Dial(rt, network);
    ASSERT_NE(newer, nullptr);
    Speak(rt, *newer, 1, "newer");
    EXPECT_EQ(Delivered(rt, network), "n1:newer");
    EXPECT_TRUE(ClosedByVictim(rt, *older, seconds(2))) << "the older link was kept";
    EXPECT_EQ(network.peer_links_replaced(), 1u);
    // Node 3's link is its own: it replaces nothing.
    std::unique_ptr<io::Stream> other = Dial(rt, network);
    ASSERT_NE(other, nullptr);
    Speak(rt, *other, 3, "other");
    EXPECT_EQ(Delivered(rt, network), "n3:other");
    EXPECT_EQ(network.peer_links_replaced(), 1u);
    EXPECT_FALSE(ClosedByVictim(rt, *newer, milliseconds(300)));
  });
}

TEST_F(PosixPeerPortTest, ConnectionsAwaitingTheirHelloAreBoundedPerAddress) {
  WithVictim({.hellos_pending_per_address_max = 2}, [&](PosixRuntime& rt, PosixNetwork& network) {
    std::vector<std::unique_ptr<io::Stream>> silent;
    for (int i = 0; i < 3; i++) silent.push_back(Dial(rt, network));
    ASSERT_NE(silent[2], nullptr);
    EXPECT_TRUE(ClosedByVictim(rt, *silent[2], seconds(2)))
        << "a third connection from one address was let wait for its hello";
    EXPECT_EQ(network.peer_connections_refused(), 1u);
    EXPECT_FALSE(ClosedByVictim(rt, *silent[0], milliseconds(200)));
    Speak(rt, *silent[0], 1, "late hello");  // A pending one still gets in...
    EXPECT_EQ(Delivered(rt, network), "n1:late hello");
    std::unique_ptr<io::Stream> next = Dial(rt, network);  // ...and frees its place.
    Speak(rt, *next, 3, "next");
    EXPECT_EQ(Delivered(rt, network), "n3:next");
    EXPECT_EQ(network.peer_connections_refused(), 1u);
  });
}

TEST_F(PosixPeerPortTest, PlaintextRefusesAHelloClaimingANonMember) {
  WithVictim({}, [&](PosixRuntime& rt, PosixNetwork& network) {
    std::unique_ptr<io::Stream> stranger = Dial(rt, network);
    ASSERT_NE(stranger, nullptr);
    Speak(rt, *stranger, 7, "from a stranger");
    EXPECT_EQ(Delivered(rt, network), "");
    EXPECT_EQ(network.peer_connections_refused(), 1u);
  });
}

// A flood of refused connections writes at most ten lines a second; the next line says how many
// went unlogged.
TEST_F(PosixPeerPortTest, RefusalsAreLoggedAtMostTenLinesASecond) {
  testing::internal::CaptureStderr();
  WithVictim({}, [&](PosixRuntime& rt, PosixNetwork& network) {
    // `count` hellos claiming a non-member, then waits until the victim refused them all.
    const auto refuse = [&](uint64_t count) {
      const uint64_t target = network.peer_connections_refused() + count;
      std::vector<std::unique_ptr<io::Stream>> strangers;
      for (uint64_t i = 0; i < count; i++) {
        strangers.push_back(Dial(rt, network));
        ASSERT_NE(strangers.back(), nullptr);
        Speak(rt, *strangers.back(), 7, "flood");
      }
      for (int i = 0; i < 200 && network.peer_connections_refused() < target; i++) {
        (void)rt.Sleep(milliseconds(5));
      }
    };
    refuse(15);
    EXPECT_EQ(network.peer_connections_refused(), 15u);
    (void)rt.Sleep(milliseconds(1100));
    refuse(1);
  });
  const std::string logged = testing::internal::GetCapturedStderr();
  size_t lines = 0;
  for (size_t at = logged.find("refused: "); at != std::string::npos;
       at = logged.find("refused: ", at + 1)) {
    lines++;
  }
  EXPECT_EQ(lines, 11u) << logged;
  EXPECT_NE(logged.find("(5 more refused unlogged before this line)"), std::string::npos) << logged;
}

TEST_F(PosixPeerPortTest, AReaderWakesWhenAnotherFiberClosesItsStream) {
  WithVictim({}, [&](PosixRuntime& rt, PosixNetwork& network) {
    std::shared_ptr<io::Stream> stream = Dial(rt, network);
    ASSERT_NE(stream, nullptr);
    bool returned = false;
    rt.Spawn("reader", [&, stream] {
      std::array<uint8_t, 16> buffer{};
      EXPECT_FALSE(stream->Read(buffer, io::Instant::Infinite()).ok());
      returned = true;
    });
    (void)rt.Sleep(milliseconds(50));  // The reader waits on the descriptor.
    stream->Close();
    for (int i = 0; i < 100 && !returned; i++) (void)rt.Sleep(milliseconds(10));
    EXPECT_TRUE(returned) << "the reader still waits on a closed stream";
  });
}

}  // namespace
}  // namespace meridian::tests
