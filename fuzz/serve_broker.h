// A broker serving clients on a simulated node, for the fuzz targets that drive a real broker
// (broker_session, broker_peer): starts it with `options` and serves every connection to
// `options.advertised` until the node stops. Start failing is a bug of the harness.
#pragma once

#include <memory>

#include "core/broker/broker.h"
#include "io/assert.h"
#include "io/runtime.h"

namespace meridian::fuzz {

inline void ServeBroker(io::Runtime& rt, const core::broker::BrokerOptions& options) {
  absl::StatusOr<std::unique_ptr<core::broker::Broker>> started =
      core::broker::Broker::Start(rt, options);
  MERIDIAN_CHECK(started.ok(), "broker start: {}", started.status().ToString());
  std::shared_ptr<core::broker::Broker> broker(std::move(*started));
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

}  // namespace meridian::fuzz
