// Encoding and verified decoding of client messages (core/wire/client.fbs).
//
// Bytes from the network are untrusted: Decode runs the FlatBuffers verifier (bounded depth and
// table count) before anything reads the buffer, and rejects a message without a body.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "core/wire/client_generated.h"

namespace meridian::wire {

inline constexpr size_t kClientMessageBytesMax = 1 << 20;

struct Ping {
  uint64_t sequence = 0;
};
struct Pong {
  uint64_t sequence = 0;
  uint32_t node_id = 0;
};
struct Error {
  ErrorCode code = ErrorCode::None;
  std::string message;
};
using ClientBody = std::variant<Ping, Pong, Error>;

std::vector<uint8_t> EncodeClientMessage(const ClientBody& body);
// InvalidArgument (with the reason) for anything that does not verify.
absl::StatusOr<ClientBody> DecodeClientMessage(std::span<const uint8_t> bytes);

}  // namespace meridian::wire
