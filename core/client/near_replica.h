// Reads near the client (issue 12, item 3): which replica a consumer that states its region
// fetches a partition from. Pure: no I/O, no clock; the consumer (consumer.cc) passes what its
// metadata cache knows and which replicas it avoids for now (lagging, or failing lately).
//
// The rule:
// - candidates: the partition's voters (`replicas`) and `observers` whose node registered in
//   `region`, in id order, without duplicates;
// - none: nullopt — the leader serves, as without a region;
// - the leader is a candidate: the leader (the freshest copy, nothing saved by going elsewhere);
// - otherwise the candidate at a hash of (topic, partition), moving on past avoided ones, so a
//   partition keeps its replica while the metadata holds, and partitions spread over the
//   region's replicas; every candidate avoided: nullopt (the leader).
// A replica chosen serves committed data only (core/broker: never past its high watermark,
// never an epoch a promotion discarded), so the choice changes when data arrives, not what.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/btree_set.h"
#include "core/wire/client_codec.h"
#include "io/network.h"

namespace meridian::core::client {

// Node id -> the region it registered with ("" if unknown).
using RegionOf = std::function<std::string(uint32_t node)>;

std::optional<io::NodeId> ChooseNearReplica(const wire::PartitionInfoT& partition,
                                            std::string_view topic, std::string_view region,
                                            const RegionOf& region_of,
                                            const absl::btree_set<uint32_t>& avoid);

}  // namespace meridian::core::client
