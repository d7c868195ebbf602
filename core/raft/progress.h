// The leader's view of one follower's log (Raft paper §5.3 nextIndex/matchIndex), with etcd's
// flow control (tracker/progress.go): a follower is either probed (one append in flight until
// it answers, used after a rejection or on election), replicated to (appends pipelined
// optimistically, at most kInflightMessagesMax unacknowledged), or sent a snapshot (§7: it
// needs entries the leader compacted away; nothing else is sent until it acknowledges the
// snapshot's index, or kSnapshotRetryHeartbeats heartbeat responses pass without that and the
// leader probes again, which sends the snapshot again).
//
// Invariants: match < next; in probe state there are no tracked inflights; inflight last indices
// are strictly increasing and all > match. Owned and mutated only by the leader's Raft object.
#pragma once

#include <array>
#include <cstdint>

#include "core/raft/types.h"

namespace meridian::core::raft {

enum class ProgressState : uint8_t { kProbe, kReplicate, kSnapshot };

class Progress {
 public:
  // `inflight_max`: the replicate state's window (RaftOptions::inflight_messages_max).
  Progress(Index next, uint32_t inflight_max);

  Index match() const { return match_; }
  Index next() const { return next_; }
  ProgressState state() const { return state_; }
  bool recent_active() const { return recent_active_; }
  void set_recent_active(bool active) { recent_active_ = active; }
  uint32_t inflight_count() const { return inflight_count_; }
  bool window_full() const { return inflight_count_ == inflight_max_; }

  // May another append be sent now? Probe: only if none is outstanding. Replicate: only below
  // the in-flight limit.
  bool CanSend() const;
  // Records that an append covering up to `last_index` was sent (last_index may equal next-1
  // for an empty probe).
  void OnSent(Index last_index);
  // An accepted response acknowledging `index`. Returns true if match advanced.
  bool OnAccepted(Index index);
  // A rejection of prevLogIndex `rejected` with the follower's conflict hint translated to the
  // leader's log (`retry_next` = the index the leader should try next). Returns false if stale.
  bool OnRejected(Index rejected, Index retry_next);
  // The follower rejected an index at or below match: it holds only up to `holds` now (damage
  // at rest; design.md "Damaged replicas"). Match goes back to `holds`, and a probe starts at
  // `retry_next` (at least holds + 1).
  void LowerMatch(Index holds, Index retry_next);
  // A heartbeat response arrived: a stuck probe may be retried, and a snapshot that was not
  // acknowledged for kSnapshotRetryHeartbeats responses is given up (back to probe).
  void OnHeartbeatResponse();
  void BecomeProbe();
  void BecomeReplicate();
  // A snapshot up to `snapshot_index` (>= next) was sent.
  void BecomeSnapshot(Index snapshot_index);
  Index pending_snapshot() const { return pending_snapshot_; }
  void CheckInvariants() const;

 private:
  void FreeUpTo(Index index);

  Index match_;
  Index next_;
  ProgressState state_ = ProgressState::kProbe;
  bool probe_sent_ = false;
  bool recent_active_ = false;
  Index pending_snapshot_;            // kSnapshot: the index of the snapshot sent.
  uint32_t snapshot_heartbeats_ = 0;  // kSnapshot: heartbeat responses since it was sent.
  // Ring of the last index carried by each unacknowledged append (replicate state only).
  std::array<Index, kInflightMessagesMax> inflights_{};
  uint32_t inflight_max_;  // At most kInflightMessagesMax, the ring's size.
  uint32_t inflight_start_ = 0;
  uint32_t inflight_count_ = 0;
};

}  // namespace meridian::core::raft
