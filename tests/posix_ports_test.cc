// io::posix::PickFreeLoopbackPort: what the local clusters of the demos and tests rely on.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <set>

#include "io/posix/ports.h"

namespace meridian::io::posix {
namespace {

int FirstEphemeralPort() {
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  int first = 32768;
  range >> first;
  return first;
}

// A 9-node cluster asks for 36 ports; binding port 0 and closing let the kernel hand the same
// port out twice in one process (two nodes with one Kafka port). Ask for far more than any
// cluster does: every port distinct.
TEST(PickFreeLoopbackPort, NeverHandsAProcessTheSamePortTwice) {
  std::set<uint16_t> seen;
  for (int i = 0; i < 1000; i++) {
    absl::StatusOr<uint16_t> port = PickFreeLoopbackPort();
    ASSERT_TRUE(port.ok()) << port.status();
    EXPECT_TRUE(seen.insert(*port).second) << "port " << *port << " handed out twice";
  }
}

// Outgoing connections take their local port from the ephemeral range; a port from it could be
// held by any client on the machine by the time a node binds it.
TEST(PickFreeLoopbackPort, StaysBelowTheEphemeralRange) {
  const int first_ephemeral = FirstEphemeralPort();
  for (int i = 0; i < 100; i++) {
    absl::StatusOr<uint16_t> port = PickFreeLoopbackPort();
    ASSERT_TRUE(port.ok()) << port.status();
    EXPECT_LT(*port, first_ephemeral);
    EXPECT_GE(*port, 1024);
  }
}

TEST(PickFreeLoopbackPort, ThePortCanBeListenedOn) {
  absl::StatusOr<uint16_t> port = PickFreeLoopbackPort();
  ASSERT_TRUE(port.ok()) << port.status();
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(*port);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  EXPECT_EQ(listen(fd, 1), 0);
  close(fd);
}

}  // namespace
}  // namespace meridian::io::posix
