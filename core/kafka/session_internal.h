// Internals of core::kafka::ServeKafkaConnection shared by session.cc (the connection),
// data_requests.cc (Produce, Fetch, ListOffsets) and admin_requests.cc (Metadata, topics,
// producer ids, the group APIs).
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "core/broker/broker.h"
#include "core/kafka/messages.h"
#include "core/kafka/session.h"
#include "io/sync.h"

namespace meridian::core::kafka {

// Shared by the connection's reader and every fiber working for it; fibers that may outlive
// their request (long polls, produce partitions) hold it by shared_ptr (shared_from_this).
struct Session : std::enable_shared_from_this<Session> {
  Session(broker::Broker& b, io::Runtime& rt, std::shared_ptr<io::Stream> s)
      : broker(b), runtime(rt), stream(std::move(s)), turn(rt), room(rt) {}
  broker::Broker& broker;
  io::Runtime& runtime;
  std::shared_ptr<io::Stream> stream;
  uint64_t next_to_write = 0;  // Sequence number of the request whose response goes next.
  size_t in_flight = 0;
  size_t long_polls = 0;
  uint64_t meridian_request_id = 0;
  bool failed = false;
  io::WaitList turn;  // Responders wait for next_to_write to reach them.
  io::WaitList room;  // The reader waits for in_flight to drop below the bound.
};

// What a handler decided: a response body, nothing (acks=0), or "close the connection".
struct Outcome {
  std::optional<std::vector<uint8_t>> body;
  bool close = false;
};

inline Outcome Respond(std::vector<uint8_t> body) { return Outcome{std::move(body), false}; }
inline Outcome Close() { return Outcome{std::nullopt, true}; }

// One Meridian request through the broker (with a fresh request id).
template <typename BodyT>
wire::ClientMessageT Call(Session& session, BodyT body) {
  return session.broker.Handle(wire::Message(++session.meridian_request_id, std::move(body)));
}

Outcome HandleProduce(Session& session, const RequestFrame& frame);
Outcome HandleFetch(Session& session, const RequestFrame& frame);
Outcome HandleListOffsets(Session& session, const RequestFrame& frame);
Outcome HandleMetadata(Session& session, const RequestFrame& frame);
Outcome HandleCreateTopics(Session& session, const RequestFrame& frame);
Outcome HandleDeleteTopics(Session& session, const RequestFrame& frame);
Outcome HandleInitProducerId(Session& session, const RequestFrame& frame);
Outcome HandleGroupApi(Session& session, const RequestFrame& frame);

}  // namespace meridian::core::kafka
