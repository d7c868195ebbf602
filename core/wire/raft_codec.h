// Encoding and verified decoding of raft peer messages (core/wire/raft.fbs).
//
// Bytes from a peer are untrusted (a bug, a version skew or a corrupted buffer can produce any
// bytes), and core::raft::Raft::Step asserts on malformed input. DecodePeerMessage therefore
// (1) bounds the size, (2) runs the FlatBuffers verifier with bounded depth and table count,
// (3) checks every optional sub-table/vector for absence before reading it, and (4) validates
// the semantics raft relies on, returning InvalidArgument with the reason otherwise. It never
// crashes or asserts, whatever the input.
//
// What (4) guarantees about a decoded message:
//   - type, entry kinds and campaign are known enum values; only a kHeartbeat asks to quiesce;
//   - from != 0, to != 0, from != to, term != 0, log_term <= term, hint_term <= term;
//   - only kAppend carries entries, at most kBatchEntriesMax of them, with indexes
//     log_index+1, log_index+2, ... (no wrap-around), terms non-decreasing, at least log_term
//     and at most the message term;
//   - a config entry's membership is well formed (non-empty voters, at most kVotersMax voters
//     and kMembersMax members, no node id 0, no node listed twice or as voter and learner);
//     a normal entry carries no membership;
//   - the entries' data totals at most kEntriesDataBytesMax bytes, and at most the size of the
//     input: FlatBuffers lets many entries point at one data vector, and without this bound a
//     16 MiB message could decode into 64 x 16 MiB of entries (and then fail to re-encode).
// What it cannot check (needs the receiver's state; the driver's or raft's business): that `to`
// is the receiving node and that the group is one this node serves, and that an
// kAppendResponse's log_index does not exceed the leader's log.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/raft/types.h"
#include "core/wire/raft_generated.h"
#include "io/network.h"

namespace meridian::core::wire {

// A peer message is one io::Network message, so it obeys the network's size limit.
inline constexpr size_t kPeerMessageBytesMax = io::kMessageBytesMax;

// Total entry data bytes in one message. The margin below kPeerMessageBytesMax covers the rest of
// the encoding (at most kBatchEntriesMax entries with full memberships: well under 16 KiB), so
// every message that decodes also re-encodes within kPeerMessageBytesMax.
inline constexpr size_t kEntriesDataBytesMax = kPeerMessageBytesMax - (64 << 10);

// A decoded PeerEnvelope.
struct PeerRaftMessage {
  uint64_t group = 0;  // Raft group (partition) id: one peer link multiplexes many groups.
  core::raft::Message message;
};

// Encodes `message` for raft group `group`. Does not validate (raft only produces valid
// messages) except that it asserts the entries' data is within kEntriesDataBytesMax, so the
// encoding fits in kPeerMessageBytesMax. Batching by bytes is the sender's business.
std::vector<uint8_t> EncodePeerMessage(uint64_t group, const core::raft::Message& message);

// InvalidArgument (with the reason) for anything that does not verify or validate.
absl::StatusOr<PeerRaftMessage> DecodePeerMessage(std::span<const uint8_t> bytes);

// The semantic checks DecodePeerMessage applies (listed above), for a message already in memory.
absl::Status ValidateRaftMessage(const core::raft::Message& message);

// Non-crashing counterpart of core::raft::CheckMembership, for untrusted configurations (one
// definition, in core/raft/membership.h).
using core::raft::ValidateMembership;

}  // namespace meridian::core::wire
