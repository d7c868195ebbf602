// Forged peer messages against io/posix's peer port (issue 10 item 2).
//
// A victim node 2 (peers: 1 and 3, cluster "blue") listens for peer links. A hostile dialer on
// the same reactor connects to that port and sends a hello claiming to be node 1 followed by a
// forged message (standing in for a raft Append or Heartbeat: the peer link carries opaque
// envelopes, and whatever reaches the inbox is handed to raft in node 1's name).
//
// The first test shows the hole as it is in plaintext mode (the only mode before TLS): the forged
// message is delivered as coming from node 1. Every TLS test runs one forgery and requires that
// the victim refuses the connection (counted in peer_connections_refused) and that nothing
// reaches the inbox. The last tests show that legitimate nodes still talk, and that a dialer
// does not deliver to an impostor listening at a peer's address.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "io/assert.h"
#include "io/frame.h"
#include "io/posix/certificates.h"
#include "io/posix/ports.h"
#include "io/posix/posix_network.h"
#include "io/posix/posix_runtime.h"
#include "io/posix/tls.h"

namespace meridian::tests {
namespace {

using io::posix::ClientCertificate;
using io::posix::PosixNetwork;
using io::posix::PosixRuntime;
using io::posix::TlsContext;
using io::posix::TlsFiles;
using io::posix::TlsRole;
using std::chrono::milliseconds;

constexpr char kCluster[] = "blue";

class PosixTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char pattern[] = "/tmp/meridian-tls-test-XXXXXX";
    root_ = mkdtemp(pattern);
    const std::string ca = root_ + "/ca";
    MERIDIAN_CHECK(io::posix::EnsureCertificateAuthority(ca, "blue CA").ok());
    for (const auto& [cn, stem] :
         {std::pair{"node-1.blue.meridian", "node-1"}, std::pair{"node-2.blue.meridian", "node-2"},
          std::pair{"node-3.blue.meridian", "node-3"}, std::pair{"node-4.blue.meridian", "node-4"},
          std::pair{"node-1.green.meridian", "node-1-green"}, std::pair{"alice", "alice"}}) {
      absl::Status issued = io::posix::IssueCertificate(ca, cn, stem);
      MERIDIAN_CHECK(issued.ok(), "{}", issued.ToString());
    }
    // Another CA that issues a perfectly named node 1 certificate.
    const std::string rogue = root_ + "/rogue";
    MERIDIAN_CHECK(io::posix::EnsureCertificateAuthority(rogue, "rogue CA").ok());
    MERIDIAN_CHECK(io::posix::IssueCertificate(rogue, "node-1.blue.meridian", "node-1").ok());
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(root_); }

  static TlsFiles Files(const std::string& stem, const std::string& ca = "ca") {
    return {.ca_file = root_ + "/" + ca + "/ca.pem",
            .cert_file = stem.empty() ? "" : root_ + "/" + ca + "/" + stem + ".pem",
            .key_file = stem.empty() ? "" : root_ + "/" + ca + "/" + stem + ".key"};
  }
  static std::shared_ptr<TlsContext> Context(const TlsFiles& files) {
    absl::StatusOr<std::shared_ptr<TlsContext>> context = TlsContext::Create(files);
    MERIDIAN_CHECK(context.ok(), "{}", context.status().ToString());
    return *context;
  }

  // Victim node 2 with peers 1 and 3 (their addresses are never dialled here).
  std::unique_ptr<PosixRuntime> MakeVictim(bool tls) {
    io::posix::PosixOptions options;
    options.node = io::NodeId(2);
    options.data_dir = root_ + "/victim-" + std::to_string(victims_++);
    absl::StatusOr<uint16_t> port = io::posix::PickFreeLoopbackPort();
    MERIDIAN_CHECK(port.ok());
    options.peer_listen = {"127.0.0.1", *port};
    options.peers[io::NodeId(1)] = {"127.0.0.1", 1};
    options.peers[io::NodeId(3)] = {"127.0.0.1", 1};
    if (tls) options.security = {.peer_tls = Context(Files("node-2")), .cluster_id = kCluster};
    victim_address_ = options.peer_listen;
    absl::StatusOr<std::unique_ptr<PosixRuntime>> runtime = PosixRuntime::Create(options);
    MERIDIAN_CHECK(runtime.ok(), "{}", runtime.status().ToString());
    return std::move(*runtime);
  }

  struct Forgery {
    std::shared_ptr<TlsContext> tls;  // Null: a plaintext dialer.
    uint32_t claimed = 1;             // The node id the hello claims.
    std::string cluster = kCluster;   // The cluster id the hello names.
  };
  struct Outcome {
    uint64_t refused = 0;
    bool delivered = false;
    io::NodeId delivered_from{0};
  };

  // Dials the victim's peer port as `forgery` says, sends the hello and a forged message, and
  // reports what the victim did with it.
  Outcome Forge(bool victim_tls, const Forgery& forgery) {
    std::unique_ptr<PosixRuntime> victim = MakeVictim(victim_tls);
    auto& network = static_cast<PosixNetwork&>(victim->network());
    Outcome outcome;
    victim->Spawn("hostile", [&] {
      const io::Instant deadline = victim->Now() + std::chrono::seconds(5);
      absl::StatusOr<std::unique_ptr<io::Stream>> stream =
          network.ConnectPlain(victim_address_, deadline);
      ASSERT_TRUE(stream.ok()) << stream.status();
      if (forgery.tls != nullptr) {
        auto tls = forgery.tls->Wrap(*victim, std::move(*stream), TlsRole::kClient,
                                     ClientCertificate::kRequired);
        // The dialer may or may not see the refusal here (TLS 1.3 verifies the client last).
        (void)tls->Handshake(deadline);
        *stream = std::move(tls);
      }
      std::vector<uint8_t> hello(4);
      for (int i = 0; i < 4; i++) hello[i] = static_cast<uint8_t>(forgery.claimed >> (8 * i));
      hello.insert(hello.end(), forgery.cluster.begin(), forgery.cluster.end());
      const std::string forged = "forged AppendEntries term=999 from n1";
      (void)io::WriteFrame(**stream, hello, deadline);
      (void)io::WriteFrame(**stream, std::vector<uint8_t>(forged.begin(), forged.end()), deadline);
      absl::StatusOr<io::PeerMessage> message = network.Receive(victim->Now() + milliseconds(1500));
      outcome.delivered = message.ok();
      if (message.ok()) outcome.delivered_from = message->from;
      outcome.refused = network.peer_connections_refused();
      victim->Stop();
    });
    victim->Run();
    return outcome;
  }

  // One forgery against a TLS victim: refused once, and nothing delivered.
  void ExpectRefused(const Forgery& forgery) {
    const Outcome outcome = Forge(/*victim_tls=*/true, forgery);
    EXPECT_FALSE(outcome.delivered) << "delivered as " << outcome.delivered_from.ToString();
    EXPECT_EQ(outcome.refused, 1u);
  }

  static std::string root_;
  int victims_ = 0;
  io::Address victim_address_;
};

std::string PosixTlsTest::root_;

// The hole this work closes, shown: in plaintext mode the forged message is delivered as node 1's.
TEST_F(PosixTlsTest, PlaintextPeerPortBelievesAForgedHello) {
  const Outcome outcome = Forge(/*victim_tls=*/false, {});
  EXPECT_TRUE(outcome.delivered);
  EXPECT_EQ(outcome.delivered_from, io::NodeId(1));
}

// Plaintext believes claims, but never one to be the victim itself: the victim's replicas would
// take the messages for their own (a node never reports its own liveness: an assertion).
TEST_F(PosixTlsTest, PlaintextPeerPortRefusesAHelloClaimingTheVictimsOwnId) {
  const Outcome outcome = Forge(/*victim_tls=*/false, {.claimed = 2});
  EXPECT_FALSE(outcome.delivered) << "delivered as " << outcome.delivered_from.ToString();
  EXPECT_EQ(outcome.refused, 1u);
}

TEST_F(PosixTlsTest, RefusesAPlaintextDialer) { ExpectRefused({}); }

TEST_F(PosixTlsTest, RefusesADialerWithoutACertificate) {
  ExpectRefused({.tls = Context(Files(""))});
}

TEST_F(PosixTlsTest, RefusesACertificateFromAnotherCa) {
  ExpectRefused({.tls = Context(Files("node-1", "rogue"))});
}

TEST_F(PosixTlsTest, RefusesAMemberCertificateClaimingAnotherNode) {
  // Node 3 is a member with a valid certificate, and tries to speak in node 1's name.
  ExpectRefused({.tls = Context(Files("node-3")), .claimed = 1});
}

TEST_F(PosixTlsTest, RefusesANodeCertificateOfAnotherCluster) {
  // Same CA, node 1 of cluster "green": refused whether the hello says green or blue.
  for (const std::string cluster : {"green", kCluster}) {
    SCOPED_TRACE(cluster);
    ExpectRefused({.tls = Context(Files("node-1-green")), .claimed = 1, .cluster = cluster});
  }
}

TEST_F(PosixTlsTest, RefusesAValidNodeThatIsNotAMember) {
  ExpectRefused({.tls = Context(Files("node-4")), .claimed = 4});
}

TEST_F(PosixTlsTest, RefusesAClientCertificate) {
  ExpectRefused({.tls = Context(Files("alice")), .claimed = 1});
}

// The control: the right certificate, claim and cluster are accepted, so the refusals above are
// about the forgery and not about TLS failing altogether.
TEST_F(PosixTlsTest, AcceptsTheRealNode) {
  const Outcome outcome = Forge(true, {.tls = Context(Files("node-1")), .claimed = 1});
  EXPECT_TRUE(outcome.delivered);
  EXPECT_EQ(outcome.delivered_from, io::NodeId(1));
  EXPECT_EQ(outcome.refused, 0u);
}

// The dialing side: node 2's link to node 1 reaches a listener with node 3's (valid) certificate
// at node 1's address. The link refuses it and sends it nothing.
TEST_F(PosixTlsTest, DialerRefusesAnImpostorListener) {
  absl::StatusOr<uint16_t> port = io::posix::PickFreeLoopbackPort();
  ASSERT_TRUE(port.ok());
  const io::Address node1_address{"127.0.0.1", *port};
  io::posix::PosixOptions options;
  options.node = io::NodeId(2);
  options.data_dir = root_ + "/dialer";
  options.peers[io::NodeId(1)] = node1_address;
  options.security = {.peer_tls = Context(Files("node-2")), .cluster_id = kCluster};
  absl::StatusOr<std::unique_ptr<PosixRuntime>> node = PosixRuntime::Create(options);
  ASSERT_TRUE(node.ok()) << node.status();
  PosixRuntime& rt = **node;
  auto& network = static_cast<PosixNetwork&>(rt.network());
  absl::StatusOr<std::unique_ptr<io::Listener>> impostor = network.Listen(node1_address);
  ASSERT_TRUE(impostor.ok()) << impostor.status();
  std::shared_ptr<TlsContext> impostor_tls = Context(Files("node-3"));
  bool impostor_got_a_frame = false;
  rt.Spawn("impostor", [&] {
    while (true) {
      absl::StatusOr<std::unique_ptr<io::Stream>> accepted =
          (*impostor)->Accept(io::Instant::Infinite());
      if (!accepted.ok()) return;
      auto tls = impostor_tls->Wrap(rt, std::move(*accepted), TlsRole::kServer,
                                    ClientCertificate::kRequired);
      io::FrameReader reader(*tls);
      if (reader.Read(rt.Now() + milliseconds(500)).ok()) impostor_got_a_frame = true;
    }
  });
  rt.Spawn("sender", [&] {
    const io::Instant deadline = rt.Now() + std::chrono::seconds(5);
    while (network.peer_connections_refused() < 2 && rt.Now() < deadline) {
      network.Send(io::NodeId(1), std::vector<uint8_t>{'h', 'i'});
      (void)rt.Sleep(milliseconds(20));
    }
    (*impostor)->Close();
    rt.Stop();
  });
  rt.Run();
  EXPECT_GE(network.peer_connections_refused(), 2u);
  EXPECT_FALSE(impostor_got_a_frame);
}

}  // namespace
}  // namespace meridian::tests
