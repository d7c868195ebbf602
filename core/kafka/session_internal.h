// Internals of core::kafka::ServeKafkaConnection shared by session.cc (the connection),
// data_requests.cc (Produce, Fetch, ListOffsets) and admin_requests.cc (Metadata, topics,
// producer ids, the group APIs).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "core/broker/broker.h"
#include "core/kafka/messages.h"
#include "core/kafka/session.h"
#include "io/sync.h"

namespace meridian::core::kafka {

// Shared by the connection's reader and every fiber working for it; fibers that may outlive
// their request (long polls, produce partitions) hold it by shared_ptr (shared_from_this).
struct Session : std::enable_shared_from_this<Session> {
  Session(broker::Broker& b, io::Runtime& rt, std::shared_ptr<io::Stream> s, broker::Principal p,
          KafkaSessionLimits bounds)
      : broker(b),
        runtime(rt),
        stream(std::move(s)),
        principal(std::move(p)),
        limits(bounds),
        turn(rt),
        room(rt),
        admission_turn(rt) {}
  broker::Broker& broker;
  io::Runtime& runtime;
  std::shared_ptr<io::Stream> stream;
  const broker::Principal principal;  // Whose ACLs every request is checked against.
  const KafkaSessionLimits limits;    // The node's bounds on what one response holds.
  uint64_t next_to_write = 0;         // Sequence number of the request whose response goes next.
  size_t in_flight = 0;
  size_t long_polls = 0;
  uint64_t meridian_request_id = 0;
  bool failed = false;
  // Responses finished but not yet written, by request sequence: the fiber that finds the
  // stream free writes every consecutive one from next_to_write in one stream write
  // (WriteInTurn), so a burst that one commit completes costs one system call.
  struct Finished {
    std::optional<std::vector<uint8_t>> frame;  // Length, correlation id, body; none: acks=0.
    bool close = false;                         // Close the connection in this one's turn.
  };
  absl::btree_map<uint64_t, Finished> finished;
  bool writing = false;
  std::vector<uint8_t> batch;  // The writer's buffer.
  io::WaitList turn;           // Responders wait for next_to_write to pass them, or to write.
  io::WaitList room;           // The reader waits for in_flight to drop below the bound.
  // The client id quotas charge: the one the latest request's header named (at most
  // kClientIdBytesMax bytes of it; empty when it named none).
  std::string client_id;
  // Admission in request order (CallAdmitted): tickets taken, and the one whose turn it is.
  uint64_t admission_tickets = 0;
  uint64_t admission_next = 0;
  io::WaitList admission_turn;
};

// The longest a request waits on the node for a bound or a quota before it is answered with an
// error: below every Kafka client's default request timeout (Java's 30 s, librdkafka's 60 s).
inline constexpr io::Duration kThrottleHoldMax = std::chrono::seconds(10);
inline constexpr size_t kClientIdBytesMax = 255;

// What a handler decided: a response body, nothing (acks=0), or "close the connection".
struct Outcome {
  std::optional<std::vector<uint8_t>> body;
  bool close = false;
  std::string close_reason;  // Logged by the node (rate-limited); empty: "does not decode".
};

inline Outcome Respond(std::vector<uint8_t> body) { return Outcome{std::move(body), false, {}}; }
inline Outcome Close(std::string reason = {}) {
  return Outcome{std::nullopt, true, std::move(reason)};
}

// One Meridian request through the broker: admitted like a native one (the node's bounds, the
// client id's and the topic's quotas), then handled. While the node refuses it, the request waits
// the retry_after_ms it was given, as a Kafka broker delays a throttled client, and this
// connection's later requests wait behind it, so produces keep their order; after
// `hold_until` (default: kThrottleHoldMax after its turn came; never later) it is answered with
// the Throttled error. Adds the time waited to `*held` when given (the response's
// throttle_time_ms).
wire::ClientMessageT CallAdmitted(Session& session, const wire::ClientMessageT& request,
                                  io::Duration* held = nullptr,
                                  std::optional<io::Instant> hold_until = std::nullopt);

// The same with a fresh request id.
template <typename BodyT>
wire::ClientMessageT Call(Session& session, BodyT body, io::Duration* held = nullptr,
                          std::optional<io::Instant> hold_until = std::nullopt) {
  return CallAdmitted(session, wire::Message(++session.meridian_request_id, std::move(body)), held,
                      hold_until);
}

// A wait as Kafka's throttle_time_ms.
int32_t ThrottleTimeMs(io::Duration held);

// A controller request through this node's broker, or — when this node is not the controller
// leader and knows who is — forwarded to it over the native protocol.
wire::ClientMessageT CallControllerLeader(Session& session, wire::ClientMessageT request);

// Node `node_id` as a Kafka broker, if it registered a Kafka listener address ("host:port").
std::optional<MetadataBroker> KafkaBrokerAt(uint32_t node_id, const std::string& kafka_address,
                                            const std::string& region);

Outcome HandleProduce(Session& session, const RequestFrame& frame);
Outcome HandleFetch(Session& session, const RequestFrame& frame);
Outcome HandleListOffsets(Session& session, const RequestFrame& frame);
Outcome HandleMetadata(Session& session, const RequestFrame& frame);
Outcome HandleCreateTopics(Session& session, const RequestFrame& frame);
Outcome HandleDeleteTopics(Session& session, const RequestFrame& frame);
Outcome HandleInitProducerId(Session& session, const RequestFrame& frame);
Outcome HandleCreatePartitions(Session& session, const RequestFrame& frame);
// config_requests.cc: DescribeConfigs, and AlterConfigs and IncrementalAlterConfigs (both).
Outcome HandleDescribeConfigs(Session& session, const RequestFrame& frame);
Outcome HandleAlterConfigs(Session& session, const RequestFrame& frame);
// The consumer-group APIs (group_requests.cc).
Outcome HandleFindCoordinator(Session& session, const RequestFrame& frame);
Outcome HandleJoinGroup(Session& session, const RequestFrame& frame);
Outcome HandleSyncGroup(Session& session, const RequestFrame& frame);
Outcome HandleHeartbeat(Session& session, const RequestFrame& frame);
Outcome HandleLeaveGroup(Session& session, const RequestFrame& frame);
Outcome HandleOffsetCommit(Session& session, const RequestFrame& frame);
Outcome HandleOffsetFetch(Session& session, const RequestFrame& frame);
Outcome HandleListGroups(Session& session, const RequestFrame& frame);
Outcome HandleDescribeGroups(Session& session, const RequestFrame& frame);
Outcome HandleDeleteGroups(Session& session, const RequestFrame& frame);

}  // namespace meridian::core::kafka
