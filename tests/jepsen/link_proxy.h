// jepsen::LinkProxy: the network faults of loopback mode (when network namespaces are not
// available). Node i reaches node j's peer listener through its own proxy port for the ordered
// pair (i, j); peer links are one TCP connection per direction (io/posix/posix_network.h), so
// blocking the pair (i, j) is exactly "j hears nothing from i": its connections are cut and new
// ones are accepted and closed at once until the pair is unblocked.
//
// Threading: one thread of its own (a poll loop); Block may be called from any thread.
#pragma once

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "io/network.h"

namespace meridian::tests::jepsen {

class LinkProxy {
 public:
  explicit LinkProxy(std::vector<io::Address> peers);  // node index -> its peer listener
  ~LinkProxy();
  LinkProxy(const LinkProxy&) = delete;
  LinkProxy& operator=(const LinkProxy&) = delete;

  absl::Status Start();
  io::Address LinkAddress(int from, int to) const;  // where `from` dials to reach `to`
  void Block(int from, int to, bool blocked);
  uint64_t cut_connections() const { return cut_connections_; }

 private:
  struct Pipe {
    int from = -1, to = -1;  // node indices
    int a = -1, b = -1;      // sockets: the dialing node, the target node
  };
  void Loop();
  void Accept(int from, int to);
  bool Pump(int source, int sink);
  bool Blocked(int from, int to);

  const std::vector<io::Address> peers_;
  std::vector<std::vector<int>> listeners_;  // [from][to] listening socket (-1 on the diagonal)
  std::vector<std::vector<io::Address>> addresses_;
  std::vector<Pipe> pipes_;
  std::mutex mutex_;
  std::set<std::pair<int, int>> blocked_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> cut_connections_{0};
  std::thread thread_;
};

}  // namespace meridian::tests::jepsen
