// core::kafka::ServeKafkaConnection: one Kafka client connection, served by TRANSLATING each
// Kafka request into Meridian's own requests (core/wire/client.fbs) and handing them to
// core::broker::Broker::Admit and Run — the same request path the native protocol takes (the
// one-request-path rule of docs/architecture.md). Nothing here touches a partition, a replica
// or the metadata directly, except to read the controller's node list when a controller
// request must be forwarded to the controller leader over the native protocol.
//
// A connection: int32-size-prefixed request frames, read one after another; each request is
// handled on its own fiber (at most kRequestsInFlightMax at once) and answered IN REQUEST ORDER,
// as Kafka requires. Produce partitions are proposed in the order the requests arrived (each
// request's partition fibers are spawned before the next request is read from the buffer, and
// a fiber proposes before it first suspends), so a pipelining producer keeps its order.
//
// Each connection holds one of the node's client connection slots (BrokerLimits::
// connections_max, shared with native connections) while it is served; with none left it is
// closed at once, as a Kafka broker over max.connections does.
//
// Hostile input: a frame size outside 1..kRequestBytesMax, a header or body that does not
// decode, or an API/version that is not served (except ApiVersions, which answers
// UNSUPPORTED_VERSION with its ranges, KIP-511) closes the connection, as a Kafka broker does;
// nothing trips an assertion. Records are checked (lengths, CRC32C) before they are translated.
//
// Runs over io::Runtime and io::Stream only: the simulator can drive it like the node does.
#pragma once

#include <cstdint>
#include <memory>

#include "core/broker/broker.h"
#include "io/network.h"
#include "io/runtime.h"

namespace meridian::core::kafka {

// Requests read ahead per connection. Kafka clients pipeline aggressively (librdkafka keeps up
// to a million requests of up to 1 MB in flight); with 64 here, kcat's 100,000 1 KiB lines took
// 34-110 s (the partitions' raft groups drowned in megabytes of proposals), with 4 they take
// 10-13 s, as fast as `meridian produce` (then one batch in flight per partition) on the same
// cluster.
inline constexpr size_t kRequestsInFlightMax = 4;
// Long-polling fetch fibers one connection may leave waiting (a Fetch of many partitions parks
// one per partition; those outlive the request until their max_wait_ms when another partition
// answers first).
inline constexpr size_t kLongPollsMax = 256;

// Groups one ListGroups response lists at most (name order within each "__consumer_offsets"
// partition, partitions in order): Kafka's v0-2 have no paging, and a node may coordinate up to
// 8 x 65,536 groups. 10,000 names of at most 249 bytes stay under 2.7 MB.
inline constexpr size_t kListedGroupsMax = 10'000;

// Bytes of one DescribeGroups response (member ids, hosts, metadata and assignments) past which
// the groups it still names are answered COORDINATOR_LOAD_IN_PROGRESS (retriable: the client
// asks again for those) instead of described: a request may name one large group 65,536 times.
// One group is always described; the coordinator bounds a group's metadata at 2 MiB and its
// assignments at 512 KiB.
inline constexpr size_t kDescribedGroupsBytesMax = 32 << 20;

// Groups one DeleteGroups request has its coordinators look at (each may be a proposal to a
// group ledger, one after another): the groups it still names past this are answered
// COORDINATOR_LOAD_IN_PROGRESS without being looked up (retriable: the client asks again for
// those), so a request naming 65,536 groups costs at most this many proposals.
inline constexpr size_t kDeletedGroupsMax = 256;
// Resources one AlterConfigs or IncrementalAlterConfigs request changes (each a proposal to the
// controller): the rest are answered INVALID_REQUEST without being looked at.
inline constexpr size_t kAlteredResourcesMax = 256;

// Bounds of one connection that a node may lower (tests do, to reach them with a few groups).
struct KafkaSessionLimits {
  size_t listed_groups_max = kListedGroupsMax;
  size_t described_groups_bytes_max = kDescribedGroupsBytesMax;
  size_t deleted_groups_max = kDeletedGroupsMax;
  size_t altered_resources_max = kAlteredResourcesMax;
};

struct KafkaSessionStats {
  uint64_t requests = 0;
  uint64_t closed_for_bad_input = 0;
};

// Serves `stream` until it ends or sends what cannot be answered. Call on a fiber of `runtime`;
// `broker` (and `stats`, if given) must outlive every fiber of the runtime (the node destroys
// the runtime first).
// `principal`: who the connection speaks for (the node decides: a client certificate's name
// under --kafka_tls=mutual, else anonymous); every request is checked against the ACLs for it.
void ServeKafkaConnection(broker::Broker& broker, io::Runtime& runtime,
                          std::shared_ptr<io::Stream> stream, KafkaSessionStats* stats = nullptr,
                          broker::Principal principal = {}, KafkaSessionLimits limits = {});

}  // namespace meridian::core::kafka
