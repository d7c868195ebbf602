// Structural validation of one peer message, independent of the receiver's state: the rules
// raft relies on for every message it acts on. Raft::Step drops (and counts) a message that
// fails them; core/wire's decoder rejects such bytes with the same reasons.
//
// ValidateMessage guarantees:
//   - from != 0, to != 0, from != to, term != 0, log_term <= term, hint_term <= term;
//   - only kAppend carries entries, at most kBatchEntriesMax of them, with indexes
//     log_index+1, log_index+2, ... (no wrap-around), terms non-decreasing, at least log_term
//     and at most the message term;
//   - a config entry's membership is well formed (ValidateMembership); a normal entry carries
//     no membership;
//   - only kSnapshot carries a snapshot: index non-zero and at most kSnapshotIndexMax, term
//     non-zero, term <= the message term, a
//     well-formed configuration, data within kSnapshotDataBytesMax.
// It does not bound entry data (the wire bounds the total to what fits in a frame, raft bounds
// each entry by kEntryBytesMax) nor anything that needs the receiver's state.
#pragma once

#include <absl/status/status.h>

#include "core/raft/types.h"

namespace meridian::core::raft {

// InvalidArgument with the reason, or OK. Never crashes, whatever the fields.
absl::Status ValidateMessage(const Message& message);

}  // namespace meridian::core::raft
