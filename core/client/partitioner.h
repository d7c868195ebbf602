// Kafka's default partitioner for keyed records, bit for bit: murmur2 as in
// org.apache.kafka.common.utils.Utils.murmur2 (seed 0x9747b28c), `toPositive(h) = h & 0x7fffffff`,
// partition = toPositive(murmur2(key)) % partitions. Matching Kafka means a key lands on the same
// partition number as it would in a Kafka cluster with the same partition count.
//
// Pure functions; callable from anywhere.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace meridian::core::client {

// Kafka's murmur2 of `key` (signed, as Java returns it).
int32_t Murmur2(std::span<const uint8_t> key);
int32_t Murmur2(std::string_view key);

// The partition of a keyed record. `partitions` must be > 0.
uint32_t PartitionForKey(std::string_view key, uint32_t partitions);

}  // namespace meridian::core::client
