#include "tests/backend_harness.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "io/assert.h"
#include "io/posix/ports.h"
#include "io/posix/posix_runtime.h"
#include "sim/sim_disk.h"
#include "sim/sim_runtime.h"
#include "sim/world.h"

namespace meridian::tests {
namespace {

constexpr io::NodeId kNode1{1};
constexpr io::NodeId kNode2{2};

class SimHarness final : public BackendHarness {
 public:
  explicit SimHarness(uint64_t seed) : world_(sim::WorldOptions{.seed = seed}) {
    world_.AddNode(kNode1, "host1", [this](io::Runtime& rt) { RunBody(0, rt); });
    world_.AddNode(kNode2, "host2", [this](io::Runtime& rt) { RunBody(1, rt); });
  }

  std::string name() const override { return "sim"; }

  void Run(NodeBody node1, NodeBody node2) override {
    bodies_[0] = std::move(node1);
    bodies_[1] = node2 ? std::move(node2) : [](io::Runtime&) {};
    done_[0] = done_[1] = false;
    for (io::NodeId node : {kNode1, kNode2}) {
      if (world_.IsUp(node)) world_.Crash(node);  // A fresh incarnation runs the new body.
      world_.Start(node);
    }
    const bool finished = world_.RunUntil([this] { return done_[0] && done_[1]; },
                                          world_.Now() + std::chrono::seconds(600));
    ASSERT_TRUE(finished) << "bodies did not finish within 600 virtual seconds";
  }

  io::Address AnyListenAddress(io::Runtime& runtime) override {
    return io::Address{world_.host(runtime.node()), 0};
  }

  io::Address Node2ServiceAddress() override { return io::Address{"host2", 9000}; }
  bool can_crash() const override { return true; }

  void CrashNode1Then(NodeBody after) override {
    world_.Crash(kNode1);
    bodies_[0] = std::move(after);
    done_[0] = false;
    world_.Start(kNode1);
    ASSERT_TRUE(
        world_.RunUntil([this] { return done_[0]; }, world_.Now() + std::chrono::seconds(600)));
  }

 private:
  void RunBody(int index, io::Runtime& runtime) {
    if (!bodies_[index]) return;  // Started before a body was set.
    bodies_[index](runtime);
    done_[index] = true;
  }

  sim::World world_;
  NodeBody bodies_[2];
  bool done_[2] = {false, false};
};

uint16_t FreeLoopbackPort() {
  absl::StatusOr<uint16_t> port = io::posix::PickFreeLoopbackPort();
  MERIDIAN_CHECK(port.ok(), "{}", port.status().ToString());
  return *port;
}

class PosixHarness final : public BackendHarness {
 public:
  PosixHarness() {
    char pattern[] = "/tmp/meridian-conformance-XXXXXX";
    const char* made = mkdtemp(pattern);
    EXPECT_NE(made, nullptr);
    root_ = made;
  }
  ~PosixHarness() override { std::filesystem::remove_all(root_); }

  std::string name() const override { return "posix"; }

  void Run(NodeBody node1, NodeBody node2) override {
    const io::Address address1{"127.0.0.1", FreeLoopbackPort()};
    const io::Address address2{"127.0.0.1", FreeLoopbackPort()};
    std::thread second([&] {
      RunNode(
          kNode2, address2, {{kNode1, address1}}, node2 ? node2 : [](io::Runtime&) {});
    });
    RunNode(kNode1, address1, {{kNode2, address2}}, node1);
    second.join();
  }

  io::Address AnyListenAddress(io::Runtime&) override { return io::Address{"127.0.0.1", 0}; }
  io::Address Node2ServiceAddress() override { return service_address_; }
  bool can_crash() const override { return false; }
  void CrashNode1Then(NodeBody) override { FAIL() << "posix backend cannot power-cut a node"; }

 private:
  void RunNode(io::NodeId node, io::Address listen, absl::btree_map<io::NodeId, io::Address> peers,
               const NodeBody& body) {
    io::posix::PosixOptions options;
    options.node = node;
    options.data_dir = root_ + "/" + node.ToString();
    options.peer_listen = listen;
    options.peers = std::move(peers);
    absl::StatusOr<std::unique_ptr<io::posix::PosixRuntime>> runtime =
        io::posix::PosixRuntime::Create(options);
    ASSERT_TRUE(runtime.ok()) << runtime.status();
    io::posix::PosixRuntime& rt = **runtime;
    rt.Spawn("test-body", [&] {
      body(rt);
      rt.Stop();
    });
    rt.Run();
  }

  std::string root_;
  const io::Address service_address_{"127.0.0.1", FreeLoopbackPort()};
};

}  // namespace

std::unique_ptr<BackendHarness> MakeSimHarness(uint64_t seed) {
  return std::make_unique<SimHarness>(seed);
}

std::unique_ptr<BackendHarness> MakePosixHarness() { return std::make_unique<PosixHarness>(); }

}  // namespace meridian::tests
