// Between Kafka's vocabulary and Meridian's: record batches (Kafka v2 <-> core/wire/records.fbs)
// and error codes (core/wire ErrorCode -> Kafka error code, per request kind). The table is in
// docs/kafka.md. Pure: no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/kafka/record_batch.h"
#include "core/wire/client_codec.h"

namespace meridian::core::kafka {

// The Meridian batch for a Kafka batch: records, keys, values, headers and timestamps as they
// are; producer id -1 becomes 0 ("not idempotent"), otherwise id, epoch and base sequence carry
// over. A null key or value and an empty one are the same in Meridian (docs/kafka.md).
// nullopt with `*why` when the idempotence fields cannot be Meridian's (a producer id of 0 or
// below -1, a negative epoch or sequence of an idempotent batch).
std::optional<wire::RecordBatchT> ToMeridianBatch(const KafkaBatch& batch, std::string* why);

// Appends the Kafka encoding of a verified Meridian batch whose first record has `base_offset`.
// An absent key is a null key; an absent value an empty one.
void AppendKafkaBatch(const wire::RecordBatch& batch, int64_t base_offset,
                      std::vector<uint8_t>& out);

// Which request an error answers: the same Meridian code means different things to a Kafka
// client depending on what it asked.
// kGroup: the consumer-group APIs, answered by a group's coordinator.
enum class RequestKind : uint8_t { kPartition, kController, kProducerId, kGroup };

int16_t KafkaErrorCode(wire::ErrorCode code, RequestKind kind);

// A Kafka retention config's value (retention.ms, retention.bytes) as Meridian's setting: -1
// (Kafka's "unlimited") is 0 (Meridian's), a positive number is itself. nullopt for anything
// else: not a number, below -1, or 0 (Kafka's "keep nothing", which Meridian cannot express).
// CreateTopics and the AlterConfigs APIs share it.
std::optional<int64_t> MeridianRetention(std::string_view kafka_value);
// The error a Produce answers a refused batch with.
int16_t KafkaErrorCode(BatchError error);

}  // namespace meridian::core::kafka
