// io/posix peer links survive what real networks do to them: the peer is not up yet when the
// first messages are sent, and later the peer restarts (its end of the TCP connection dies).
// The link must reconnect (with backoff) and deliver messages sent after each recovery.
// While the peer is unreachable, messages wait in the link's bounded queue (delivered late, in
// order); what was in flight on a connection that dies may be lost (unreliable by contract).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>

#include "io/assert.h"
#include "io/posix/ports.h"
#include "io/posix/posix_runtime.h"

namespace meridian::tests {
namespace {

using std::chrono::milliseconds;

uint16_t FreeLoopbackPort() {
  absl::StatusOr<uint16_t> port = io::posix::PickFreeLoopbackPort();
  MERIDIAN_CHECK(port.ok(), "{}", port.status().ToString());
  return *port;
}

std::unique_ptr<io::posix::PosixRuntime> MakeNode(uint32_t id, const std::string& root,
                                                  io::Address listen, io::NodeId peer,
                                                  io::Address peer_address) {
  io::posix::PosixOptions options;
  options.node = io::NodeId(id);
  options.data_dir = root + "/n" + std::to_string(id);
  options.peer_listen = listen;
  options.peers[peer] = peer_address;
  auto runtime = io::posix::PosixRuntime::Create(options);
  EXPECT_TRUE(runtime.ok()) << runtime.status();
  return runtime.ok() ? std::move(*runtime) : nullptr;
}

// Runs one incarnation of node 2 until it has received `wanted` messages from node 1, or gives
// up after 10 s. Returns the highest sequence number received.
int ReceiveOnNode2(const std::string& root, io::Address listen2, io::Address listen1, int wanted) {
  auto node2 = MakeNode(2, root, listen2, io::NodeId(1), listen1);
  if (node2 == nullptr) return -1;
  int received = 0;
  int highest = -1;
  node2->Spawn("receiver", [&] {
    const io::Instant deadline = node2->Now() + std::chrono::seconds(10);
    while (received < wanted) {
      absl::StatusOr<io::PeerMessage> message = node2->network().Receive(deadline);
      if (!message.ok()) break;
      EXPECT_EQ(message->from, io::NodeId(1));
      highest = std::max(highest,
                         std::stoi(std::string(message->payload.begin(), message->payload.end())));
      received++;
    }
    node2->Stop();
  });
  node2->Run();
  EXPECT_EQ(received, wanted) << "node 2 gave up waiting";
  return highest;
}

TEST(PosixPeerLink, ReconnectsWhenThePeerComesUpAndAfterItRestarts) {
  char pattern[] = "/tmp/meridian-peer-link-XXXXXX";
  const std::string root = mkdtemp(pattern);
  const io::Address listen1{"127.0.0.1", FreeLoopbackPort()};
  const io::Address listen2{"127.0.0.1", FreeLoopbackPort()};
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0};
  // Node 1 sends a numbered message every 5 ms, whether or not node 2 is there.
  std::thread sender([&] {
    auto node1 = MakeNode(1, root, listen1, io::NodeId(2), listen2);
    ASSERT_NE(node1, nullptr);
    node1->Spawn("sender", [&] {
      for (int i = 0; !stop.load(); i++) {
        const std::string text = std::to_string(i);
        node1->network().Send(io::NodeId(2), std::vector<uint8_t>(text.begin(), text.end()));
        sent.store(i);
        if (!node1->Sleep(milliseconds(5)).ok()) break;
      }
      node1->Stop();
    });
    node1->Run();
  });
  // Node 2 is down for the first ~200 ms: the link must keep retrying, and the messages queued
  // meanwhile arrive once it connects, oldest first.
  while (sent.load() < 40) std::this_thread::sleep_for(milliseconds(5));
  const int first = ReceiveOnNode2(root, listen2, listen1, 20);
  EXPECT_EQ(first, 19) << "the first 20 messages, queued while node 2 was down, come first";
  // Node 2 restarts: node 1's connection breaks; its link must reconnect to the new process.
  const int sent_before_restart = sent.load();
  const int second = ReceiveOnNode2(root, listen2, listen1, 20);
  EXPECT_GT(second, sent_before_restart) << "no message sent after the restart arrived";
  stop.store(true);
  sender.join();
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace meridian::tests
