// A broker serving clients on a simulated node, for the fuzz targets that drive a real broker
// (broker_session, broker_peer, kafka_session). ServeBroker starts it with `options` and serves
// every connection to `options.advertised` until the node stops; `on_started` (if given) runs once
// the broker is up, before the first connection (another listener, say). Start failing is a bug of
// the harness.
#pragma once

#include <functional>
#include <memory>

#include "core/broker/broker.h"
#include "io/assert.h"
#include "io/runtime.h"
#include "sim/world.h"

namespace meridian::fuzz {

inline void ServeBroker(
    io::Runtime& rt, const core::broker::BrokerOptions& options,
    const std::function<void(std::shared_ptr<core::broker::Broker>)>& on_started = nullptr) {
  absl::StatusOr<std::unique_ptr<core::broker::Broker>> started =
      core::broker::Broker::Start(rt, options);
  MERIDIAN_CHECK(started.ok(), "broker start: {}", started.status().ToString());
  std::shared_ptr<core::broker::Broker> broker(std::move(*started));
  if (on_started) on_started(broker);
  absl::StatusOr<std::unique_ptr<io::Listener>> listener = rt.network().Listen(options.advertised);
  MERIDIAN_CHECK(listener.ok());
  while (true) {
    absl::StatusOr<std::unique_ptr<io::Stream>> stream =
        (*listener)->Accept(io::Instant::Infinite());
    if (!stream.ok()) return;
    std::shared_ptr<io::Stream> connection(std::move(*stream));
    rt.Spawn("connection", [broker, connection] { broker->ServeConnection(connection); });
  }
}

// One simulated world per input (seed 1: deterministic): node 1 runs `serve`, and once it has
// had 3 virtual seconds to elect itself controller, node 10 runs `script` to completion.
inline void RunScriptAgainstOneNode(const std::function<void(io::Runtime&)>& serve,
                                    const std::function<void(io::Runtime&)>& script) {
  sim::World world(sim::WorldOptions{.seed = 1});
  io::Runtime* client = nullptr;
  world.AddNode(io::NodeId(1), "node1", serve);
  world.AddNode(io::NodeId(10), "client", [&](io::Runtime& rt) { client = &rt; });
  world.Start(io::NodeId(1));
  world.Start(io::NodeId(10));
  world.RunFor(std::chrono::seconds(3));
  MERIDIAN_CHECK(client != nullptr);
  bool done = false;
  client->Spawn("script", [&] {
    script(*client);
    done = true;
  });
  MERIDIAN_CHECK(world.RunUntil([&] { return done; }, world.Now() + std::chrono::seconds(3600)),
                 "the client script did not finish in an hour of virtual time");
}

}  // namespace meridian::fuzz
