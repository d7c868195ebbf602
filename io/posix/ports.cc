#include "io/posix/ports.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <mutex>
#include <random>

#include "absl/container/flat_hash_set.h"
#include "io/posix/posix_runtime.h"

namespace meridian::io::posix {
namespace {

// The ports an outgoing connection never uses: [kLowest, first ephemeral port).
constexpr int kLowest = 10000;
constexpr int kRangeMin = 1000;  // Fewer ports than this below the ephemeral range: refuse.
constexpr int kEphemeralDefault = 32768;  // Linux's default ip_local_port_range start

// The start of net.ipv4.ip_local_port_range (Linux's default where /proc does not say).
int FirstEphemeralPort() {
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  int first = 0;
  if (!(range >> first) || first <= 0 || first > 65535) return kEphemeralDefault;
  return first;
}

// 0 when the port is free now, otherwise the errno of the failed bind.
int TryBind(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  const int error =
      bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 ? 0 : errno;
  close(fd);
  return error;
}

}  // namespace

absl::StatusOr<uint16_t> PickFreeLoopbackPort() {
  static std::mutex mutex;
  static absl::flat_hash_set<uint16_t>* const handed_out = new absl::flat_hash_set<uint16_t>();
  static std::mt19937 random{std::random_device{}()};
  const std::lock_guard<std::mutex> lock(mutex);
  const int end = FirstEphemeralPort();
  if (end < kLowest + kRangeMin) {
    // No range outside the ephemeral one: a picked port could be any connection's by the time
    // a server binds it. Say so rather than pick from a range that races.
    return absl::FailedPreconditionError(fmt::format(
        "net.ipv4.ip_local_port_range starts at {}: fewer than {} ports in [{}, {}) for servers",
        end, kRangeMin, kLowest, end));
  }
  std::uniform_int_distribution<int> pick(kLowest, end - 1);
  int last_error = 0;
  for (int attempt = 0; attempt < 1000; attempt++) {
    const auto port = static_cast<uint16_t>(pick(random));
    if (handed_out->contains(port)) continue;
    last_error = TryBind(port);
    if (last_error == 0) {
      handed_out->insert(port);
      return port;
    }
    if (last_error != EADDRINUSE) break;
  }
  return ErrnoStatus(last_error != 0 ? last_error : EADDRINUSE,
                     fmt::format("no free port on 127.0.0.1 in [{}, {})", kLowest, end));
}

}  // namespace meridian::io::posix
