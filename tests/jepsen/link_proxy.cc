// jepsen::LinkProxy (link_proxy.h): blocking sockets driven by one poll loop.
#include "tests/jepsen/link_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/assert.h"

namespace meridian::tests::jepsen {
namespace {

constexpr int kPollMs = 50;
constexpr size_t kChunkBytes = 64 << 10;

sockaddr_in ToSockaddr(const io::Address& address) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(address.port);
  inet_pton(AF_INET, address.host == "localhost" ? "127.0.0.1" : address.host.c_str(),
            &in.sin_addr);
  return in;
}

}  // namespace

LinkProxy::LinkProxy(std::vector<io::Address> peers) : peers_(std::move(peers)) {}

LinkProxy::~LinkProxy() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  for (auto& row : listeners_) {
    for (int fd : row) {
      if (fd >= 0) close(fd);
    }
  }
  for (Pipe& pipe : pipes_) {
    close(pipe.a);
    close(pipe.b);
  }
}

absl::Status LinkProxy::Start() {
  const size_t n = peers_.size();
  listeners_.assign(n, std::vector<int>(n, -1));
  addresses_.assign(n, std::vector<io::Address>(n));
  for (size_t from = 0; from < n; from++) {
    for (size_t to = 0; to < n; to++) {
      if (from == to) continue;
      const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in any = ToSockaddr({"127.0.0.1", 0});
      socklen_t length = sizeof(any);
      if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&any), sizeof(any)) != 0 ||
          listen(fd, 16) != 0 || getsockname(fd, reinterpret_cast<sockaddr*>(&any), &length) != 0) {
        return absl::InternalError("proxy: cannot listen on loopback");
      }
      listeners_[from][to] = fd;
      addresses_[from][to] = {"127.0.0.1", ntohs(any.sin_port)};
    }
  }
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

io::Address LinkProxy::LinkAddress(int from, int to) const {
  return addresses_.at(static_cast<size_t>(from)).at(static_cast<size_t>(to));
}

void LinkProxy::Block(int from, int to, bool blocked) {
  std::lock_guard lock(mutex_);
  if (blocked) {
    blocked_.insert({from, to});
  } else {
    blocked_.erase({from, to});
  }
}

bool LinkProxy::Blocked(int from, int to) {
  std::lock_guard lock(mutex_);
  return blocked_.contains({from, to});
}

void LinkProxy::Accept(int from, int to) {
  const int a = accept4(listeners_[from][to], nullptr, nullptr, SOCK_CLOEXEC);
  if (a < 0) return;
  if (Blocked(from, to)) {
    cut_connections_++;
    close(a);  // The link is cut: the dialer sees its connection closed and backs off.
    return;
  }
  const int b = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const sockaddr_in target = ToSockaddr(peers_[static_cast<size_t>(to)]);
  if (b < 0 || connect(b, reinterpret_cast<const sockaddr*>(&target), sizeof(target)) != 0) {
    close(a);
    if (b >= 0) close(b);
    return;
  }
  // Non-blocking from here on: a sink that cannot take more (a paused node) cuts the pipe
  // instead of stalling every link; peer messages are unreliable by contract.
  fcntl(a, F_SETFL, fcntl(a, F_GETFL) | O_NONBLOCK);
  fcntl(b, F_SETFL, fcntl(b, F_GETFL) | O_NONBLOCK);
  pipes_.push_back({from, to, a, b});
}

// Copies what is readable from source to sink; false when the pipe is done.
bool LinkProxy::Pump(int source, int sink) {
  char buffer[kChunkBytes];
  const ssize_t n = read(source, buffer, sizeof(buffer));
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
  if (n <= 0) return false;
  for (ssize_t done = 0; done < n;) {
    const ssize_t written = write(sink, buffer + done, static_cast<size_t>(n - done));
    if (written <= 0) return false;
    done += written;
  }
  return true;
}

void LinkProxy::Loop() {
  const int n = static_cast<int>(peers_.size());
  while (!stop_) {
    std::vector<pollfd> fds;
    for (int from = 0; from < n; from++) {
      for (int to = 0; to < n; to++) {
        if (from != to) fds.push_back({listeners_[from][to], POLLIN, 0});
      }
    }
    const size_t listening = fds.size();
    for (const Pipe& pipe : pipes_) {
      fds.push_back({pipe.a, POLLIN, 0});
      fds.push_back({pipe.b, POLLIN, 0});
    }
    if (poll(fds.data(), fds.size(), kPollMs) < 0) continue;
    std::vector<Pipe> alive;
    for (size_t i = 0; i < pipes_.size(); i++) {
      Pipe& pipe = pipes_[i];
      bool ok = !Blocked(pipe.from, pipe.to);
      if (!ok) cut_connections_++;
      if (ok && fds[listening + 2 * i].revents != 0) ok = Pump(pipe.a, pipe.b);
      if (ok && fds[listening + 2 * i + 1].revents != 0) ok = Pump(pipe.b, pipe.a);
      if (ok) {
        alive.push_back(pipe);
      } else {
        close(pipe.a);
        close(pipe.b);
      }
    }
    pipes_ = std::move(alive);
    size_t index = 0;
    for (int from = 0; from < n; from++) {
      for (int to = 0; to < n; to++) {
        if (from == to) continue;
        if (fds[index++].revents & POLLIN) Accept(from, to);
      }
    }
  }
}

}  // namespace meridian::tests::jepsen
