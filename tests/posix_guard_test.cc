// io/posix guards a node against its own environment: (1) a second node started on a data
// directory already in use fails at start with a clear error (an exclusive flock on
// <data_dir>/LOCK, held for the runtime's lifetime), instead of both writing one log; (2) a
// listener that finds the process out of file descriptors (EMFILE) backs off and keeps
// accepting once descriptors free up, instead of returning an error that ends its accept loop
// (the node would stop serving clients for good).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "io/posix/posix_network.h"
#include "io/posix/posix_runtime.h"

namespace meridian::tests {
namespace {

using std::chrono::milliseconds;

std::string TempDir() {
  char pattern[] = "/tmp/meridian-guard-XXXXXX";
  const char* dir = mkdtemp(pattern);
  EXPECT_NE(dir, nullptr);
  return dir == nullptr ? "/tmp" : dir;
}

absl::StatusOr<std::unique_ptr<io::posix::PosixRuntime>> Start(const std::string& dir) {
  io::posix::PosixOptions options;
  options.data_dir = dir;
  options.seed = 1;
  return io::posix::PosixRuntime::Create(options);
}

TEST(PosixGuard, ASecondNodeOnTheSameDataDirectoryFailsAtStart) {
  const std::string dir = TempDir() + "/node";
  absl::StatusOr<std::unique_ptr<io::posix::PosixRuntime>> first = Start(dir);
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::unique_ptr<io::posix::PosixRuntime>> second = Start(dir);
  ASSERT_FALSE(second.ok()) << "two runtimes own " << dir;
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
  EXPECT_NE(second.status().message().find(dir + "/LOCK"), std::string::npos) << second.status();
  EXPECT_NE(second.status().message().find("in use"), std::string::npos) << second.status();
  EXPECT_NE(second.status().message().find(std::to_string(getpid())), std::string::npos)
      << "names the holder: " << second.status();
  // Another directory is fine, and the lock goes with the runtime that held it.
  EXPECT_TRUE(Start(dir + "-other").ok());
  first->reset();
  absl::StatusOr<std::unique_ptr<io::posix::PosixRuntime>> third = Start(dir);
  EXPECT_TRUE(third.ok()) << third.status();
}

// Lowers the soft descriptor limit and takes every descriptor left under it; Release gives
// them back and restores the limit.
class DescriptorHog {
 public:
  DescriptorHog() {
    EXPECT_EQ(getrlimit(RLIMIT_NOFILE, &saved_), 0);
    rlimit low = saved_;
    low.rlim_cur = std::min<rlim_t>(saved_.rlim_cur, 512);
    EXPECT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
    while (true) {
      const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) break;
      held_.push_back(fd);
    }
    EXPECT_EQ(errno, EMFILE);
  }
  ~DescriptorHog() { Release(); }
  void Release() {
    for (int fd : held_) close(fd);
    held_.clear();
    setrlimit(RLIMIT_NOFILE, &saved_);
  }

 private:
  rlimit saved_{};
  std::vector<int> held_;
};

int ConnectBlocking(int fd, uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
}

TEST(PosixGuard, AListenerOutOfDescriptorsBacksOffAndResumesAccepting) {
  absl::StatusOr<std::unique_ptr<io::posix::PosixRuntime>> started = Start(TempDir());
  ASSERT_TRUE(started.ok()) << started.status();
  io::posix::PosixRuntime& rt = **started;
  auto& network = static_cast<io::posix::PosixNetwork&>(rt.network());
  bool accepted_while_starved = false;
  bool accepted_after = false;
  rt.Spawn("test", [&] {
    absl::StatusOr<std::unique_ptr<io::Listener>> listener = rt.network().Listen({"127.0.0.1", 0});
    ASSERT_TRUE(listener.ok()) << listener.status();
    const uint16_t port = (*listener)->address().port;
    // Client sockets exist before the hog, so connecting needs no new descriptor; the kernel
    // completes the handshake into the backlog, and only accept needs one.
    const int clients[2] = {socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
                            socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    ASSERT_GE(clients[0], 0);
    ASSERT_GE(clients[1], 0);
    DescriptorHog hog;
    ASSERT_EQ(ConnectBlocking(clients[0], port), 0);
    rt.Spawn("release", [&] {
      ASSERT_TRUE(rt.Sleep(milliseconds(350)).ok());
      hog.Release();  // Connections elsewhere closed: descriptors are free again.
    });
    absl::StatusOr<std::unique_ptr<io::Stream>> stream =
        (*listener)->Accept(rt.Now() + std::chrono::seconds(10));
    accepted_while_starved = stream.ok();
    EXPECT_TRUE(stream.ok()) << stream.status();
    EXPECT_GE(network.accept_backoffs(), 2u) << "it waited for descriptors, retrying";
    // And it keeps accepting.
    ASSERT_EQ(ConnectBlocking(clients[1], port), 0);
    stream = (*listener)->Accept(rt.Now() + std::chrono::seconds(10));
    accepted_after = stream.ok();
    close(clients[0]);
    close(clients[1]);
    rt.Stop();
  });
  rt.Run();
  EXPECT_TRUE(accepted_while_starved);
  EXPECT_TRUE(accepted_after);
}

TEST(PosixGuard, AStarvedAcceptStillHonoursItsDeadline) {
  absl::StatusOr<std::unique_ptr<io::posix::PosixRuntime>> started = Start(TempDir());
  ASSERT_TRUE(started.ok()) << started.status();
  io::posix::PosixRuntime& rt = **started;
  rt.Spawn("test", [&] {
    absl::StatusOr<std::unique_ptr<io::Listener>> listener = rt.network().Listen({"127.0.0.1", 0});
    ASSERT_TRUE(listener.ok()) << listener.status();
    const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(client, 0);
    {
      DescriptorHog hog;
      ASSERT_EQ(ConnectBlocking(client, (*listener)->address().port), 0);
      absl::StatusOr<std::unique_ptr<io::Stream>> stream =
          (*listener)->Accept(rt.Now() + milliseconds(250));
      EXPECT_TRUE(absl::IsDeadlineExceeded(stream.status())) << stream.status();
    }
    close(client);
    rt.Stop();
  });
  rt.Run();
}

}  // namespace
}  // namespace meridian::tests
