// Encoding and verified decoding of client messages (core/wire/client.fbs, protocol version 1)
// and of record batches (core/wire/records.fbs).
//
// Bytes from the network are untrusted: every Decode runs the FlatBuffers verifier (bounded depth
// and table count; nested record batches are verified too) before anything reads the buffer,
// then checks what the verifier cannot (a body is present, sizes within the limits below, and
// what decoding copies out, counting a string or vector each time an offset reaches it, is no
// more than the bytes that came in: a message of shared offsets cannot unpack into gigabytes).
// Messages use the generated object API (`ClientMessageT` and friends): plain structs with
// strings and vectors, so request handlers never hold pointers into a receive buffer.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/wire/client_generated.h"
#include "core/wire/records_generated.h"

namespace meridian::core::wire {

// Protocol versions this build speaks (HelloRequest/HelloResponse).
inline constexpr uint16_t kProtocolVersionMin = 1;
inline constexpr uint16_t kProtocolVersionMax = 1;

// ---- Limits (house style rule 7). ----
// One encoded record batch (a ProduceRequest's `batch`, one raft entry's data).
inline constexpr size_t kBatchBytesMax = 1 << 20;
// Records in one batch.
inline constexpr size_t kBatchRecordsMax = 1 << 16;
// A fetch response's batches, in bytes (at least one batch is always returned, so a batch of
// kBatchBytesMax is never unreadable).
inline constexpr size_t kFetchBytesMax = 4 << 20;
// Names of topics and clients.
inline constexpr size_t kNameBytesMax = 249;
// Idempotence: a partition answers `duplicate` for a retry of any of a producer's last
// kProducerBatchesRemembered accepted batches there (core/broker/partition_state.h). A producer
// therefore keeps at most that many batches of one partition in flight: a retry of the oldest is
// still recognised however many of the later ones landed meanwhile (Kafka's limit of 5 in flight
// with idempotence, for the same reason).
inline constexpr size_t kProducerBatchesRemembered = 5;
// The internal topic whose partitions hold consumer groups (core/broker/group_ledger.h).
inline constexpr std::string_view kOffsetsTopic = "__consumer_offsets";
// The partition of kOffsetsTopic that holds `group` (FNV-1a of the name, modulo the count).
// Stable across versions: changing it would move every group's committed offsets.
uint32_t GroupPartition(std::string_view group, uint32_t partitions);
// One client message (frame payload): the largest fetch response plus its framing.
inline constexpr size_t kClientMessageBytesMax = kFetchBytesMax + kBatchBytesMax + (64 << 10);
static_assert(kBatchBytesMax <= kFetchBytesMax, "one batch must fit in a fetch response");
static_assert(kClientMessageBytesMax <= (16 << 20), "client frames stay within io's frame limit");

// The encoded message; it may exceed kClientMessageBytesMax (a metadata answer about very many
// topics, a request stuffed by its caller): senders check with FitsInAFrame before writing,
// since no peer would accept it.
std::vector<uint8_t> EncodeClientMessage(const ClientMessageT& message);
inline bool FitsInAFrame(const std::vector<uint8_t>& encoded) {
  return encoded.size() <= kClientMessageBytesMax;
}
// InvalidArgument (with the reason) for anything that does not verify.
absl::StatusOr<std::unique_ptr<ClientMessageT>> DecodeClientMessage(std::span<const uint8_t> bytes);

std::vector<uint8_t> EncodeRecordBatch(const RecordBatchT& batch);
// Verifies an encoded record batch (size, FlatBuffers structure, record count, at least one
// record) and returns a view into `bytes` (valid while `bytes` lives).
absl::StatusOr<const RecordBatch*> VerifyRecordBatch(std::span<const uint8_t> bytes);

// Builds a ClientMessageT with `request_id` around one body table.
template <typename BodyT>
ClientMessageT Message(uint64_t request_id, BodyT body) {
  ClientMessageT message;
  message.request_id = request_id;
  message.body.Set(std::move(body));
  return message;
}

ClientMessageT ErrorMessage(uint64_t request_id, ErrorCode code, std::string text,
                            uint32_t leader = 0);

}  // namespace meridian::core::wire
