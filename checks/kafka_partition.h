// Kafka's default partitioner for keyed records, as the checkers' own oracle: partition =
// (murmur2(key) & 0x7fffffff) % partitions, murmur2 with Kafka's seed 0x9747b28c
// (org.apache.kafka.common.utils.Utils). checks/ knows nothing of core/, so this is written
// again here on purpose: a checker that called the client's partitioner would agree with a bug
// in it (the planted `client-key-hash` of docs/checks.md "misrouted-key").
#ifndef MERIDIAN_CHECKS_KAFKA_PARTITION_H_
#define MERIDIAN_CHECKS_KAFKA_PARTITION_H_

#include <cstdint>
#include <string_view>

namespace meridian::checks {

// Kafka's murmur2 of the key's bytes, as Java's signed int.
int32_t KafkaMurmur2(std::string_view key);

// The partition Kafka's default partitioner gives `key` among `partitions` (> 0).
int64_t KafkaKeyPartition(std::string_view key, int64_t partitions);

}  // namespace meridian::checks

#endif  // MERIDIAN_CHECKS_KAFKA_PARTITION_H_
