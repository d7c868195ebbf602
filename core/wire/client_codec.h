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
  uint32_t leader = 0;
};
struct Propose {
  std::string data;
};
struct Proposed {
  uint64_t index = 0;
};
struct StatusQuery {};
struct Status {
  uint32_t node_id = 0;
  std::string role;
  uint64_t term = 0;
  uint32_t leader = 0;
  uint64_t applied = 0;
};
struct ReadApplied {
  uint64_t from = 1;
  uint32_t count_max = 0;
};
struct AppliedEntries {
  struct Entry {
    uint64_t index = 0;
    uint64_t term = 0;
    std::string data;
  };
  std::vector<Entry> entries;
};
inline constexpr uint32_t kReadEntriesMax = 4096;
using ClientBody = std::variant<Ping, Pong, Error, Propose, Proposed, StatusQuery, Status,
                                ReadApplied, AppliedEntries>;

std::vector<uint8_t> EncodeClientMessage(const ClientBody& body);
// InvalidArgument (with the reason) for anything that does not verify.
absl::StatusOr<ClientBody> DecodeClientMessage(std::span<const uint8_t> bytes);

}  // namespace meridian::wire
