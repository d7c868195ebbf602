// Kafka's ConsumerProtocol: what the opaque bytes of a "consumer" group hold (Apache Kafka's
// ConsumerProtocolSubscription.json and ConsumerProtocolAssignment.json). With client-side
// assignment (Kafka's JoinGroup/SyncGroup) the coordinator only relays these bytes, but
// Meridian's ledger must still know which member owns which partition in a generation (the
// commit fence), so the coordinator reads them:
//   Subscription  version int16, topics [string], user_data bytes (nullable),
//                 v1+ owned_partitions, v2+ generation_id, v3+ rack_id (not read)
//   Assignment    version int16, assigned_partitions [topic string, partitions [int32]],
//                 user_data bytes (nullable)
// Later versions only append fields, so whatever follows what is read here is ignored (as Kafka's
// own parser does with a newer version). Bytes come from the network: every length is checked
// against the bytes left, counts are bounded, and a failure is a status, never an assertion.
// Pure: no I/O.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/broker/group_ledger.h"

namespace meridian::core::broker {

inline constexpr size_t kConsumerTopicsMax = 1024;
inline constexpr size_t kConsumerPartitionsMax = 1 << 16;

struct ConsumerSubscription {
  int16_t version = 0;
  std::vector<std::string> topics;  // Sorted, without duplicates.
};

struct ConsumerAssignment {
  int16_t version = 0;
  std::vector<TopicPartitionKey> partitions;  // Sorted, without duplicates.
};

absl::StatusOr<ConsumerSubscription> ParseConsumerSubscription(std::span<const uint8_t> bytes);
// Empty bytes are an empty assignment (Kafka hands a member no bytes when it gets nothing).
absl::StatusOr<ConsumerAssignment> ParseConsumerAssignment(std::span<const uint8_t> bytes);

// The bytes of `assignment` at version 0 with no user data (tests and tools).
std::vector<uint8_t> EncodeConsumerAssignment(const std::vector<TopicPartitionKey>& partitions);
std::vector<uint8_t> EncodeConsumerSubscription(const std::vector<std::string>& topics);

}  // namespace meridian::core::broker
