#include "core/raft/progress.h"

#include <algorithm>

#include "io/assert.h"

namespace meridian::core::raft {

Progress::Progress(Index next, uint32_t inflight_max) : next_(next), inflight_max_(inflight_max) {
  MERIDIAN_CHECK(next.value() >= 1, "next index starts at 1");
  MERIDIAN_CHECK(inflight_max >= 1 && inflight_max <= kInflightMessagesMax);
  CheckInvariants();
}

bool Progress::CanSend() const {
  if (state_ == ProgressState::kSnapshot) return false;
  if (state_ == ProgressState::kProbe) return !probe_sent_;
  MERIDIAN_CHECK(!probe_sent_);
  return inflight_count_ < inflight_max_;
}

void Progress::OnSent(Index last_index) {
  MERIDIAN_CHECK(CanSend());
  MERIDIAN_CHECK(last_index.value() + 1 >= next_.value(), "sent entries below next");
  if (state_ == ProgressState::kProbe) {
    probe_sent_ = true;
    return;
  }
  if (last_index < next_) return;  // Empty append in replicate state: nothing to track.
  if (inflight_count_ > 0) {
    const uint32_t newest = (inflight_start_ + inflight_count_ - 1) % kInflightMessagesMax;
    MERIDIAN_CHECK(inflights_[newest] < last_index, "inflights must increase");
  }
  inflights_[(inflight_start_ + inflight_count_) % kInflightMessagesMax] = last_index;
  inflight_count_++;
  next_ = last_index.next();  // Optimistic: pipeline the following batch right away.
}

void Progress::FreeUpTo(Index index) {
  while (inflight_count_ > 0 && inflights_[inflight_start_] <= index) {
    inflight_start_ = (inflight_start_ + 1) % kInflightMessagesMax;
    inflight_count_--;
  }
  MERIDIAN_CHECK(inflight_count_ <= inflight_max_);
}

bool Progress::OnAccepted(Index index) {
  recent_active_ = true;
  if (index <= match_) return false;  // Stale or duplicate acknowledgement.
  match_ = index;
  next_ = std::max(next_, index.next());
  probe_sent_ = false;
  FreeUpTo(index);
  MERIDIAN_CHECK(match_ < next_);
  return true;
}

bool Progress::OnRejected(Index rejected, Index retry_next) {
  recent_active_ = true;
  // A snapshot is in flight: rejections answer appends sent before it and change nothing.
  if (state_ == ProgressState::kSnapshot) return false;
  if (state_ == ProgressState::kReplicate) {
    // Only a rejection of an index we could still be waiting on matters.
    if (rejected <= match_) return false;
    BecomeProbe();
    next_ = std::max(match_.next(), std::min(retry_next, rejected));
    return true;
  }
  // Probe: only the rejection of the probe we sent (prev = next-1) is meaningful.
  if (rejected.next() != next_) return false;
  next_ = std::max(match_.next(), std::min(retry_next, rejected));
  MERIDIAN_CHECK(next_.value() >= 1);
  probe_sent_ = false;
  return true;
}

void Progress::LowerMatch(Index holds, Index retry_next) {
  MERIDIAN_CHECK(state_ != ProgressState::kSnapshot);
  recent_active_ = true;
  match_ = std::min(match_, holds);
  BecomeProbe();
  next_ = std::max(match_.next(), retry_next);
  MERIDIAN_CHECK(match_ < next_);
}

void Progress::OnHeartbeatResponse() {
  probe_sent_ = false;
  if (state_ == ProgressState::kSnapshot && ++snapshot_heartbeats_ >= kSnapshotRetryHeartbeats) {
    BecomeProbe();
  }
}

void Progress::BecomeSnapshot(Index snapshot_index) {
  MERIDIAN_CHECK(snapshot_index >= next_, "a snapshot is sent only past next");
  state_ = ProgressState::kSnapshot;
  probe_sent_ = false;
  inflight_start_ = 0;
  inflight_count_ = 0;
  pending_snapshot_ = snapshot_index;
  snapshot_heartbeats_ = 0;
}

void Progress::BecomeProbe() {
  state_ = ProgressState::kProbe;
  probe_sent_ = false;
  inflight_start_ = 0;
  inflight_count_ = 0;
  // Probe from just past what the follower is known to hold (etcd does the same).
  next_ = match_.next();
}

void Progress::BecomeReplicate() {
  state_ = ProgressState::kReplicate;
  probe_sent_ = false;
  inflight_start_ = 0;
  inflight_count_ = 0;
  next_ = match_.next();
}

void Progress::CheckInvariants() const {
  MERIDIAN_CHECK(match_ < next_, "match {} next {}", match_.ToString(), next_.ToString());
  if (state_ == ProgressState::kProbe) MERIDIAN_CHECK(inflight_count_ == 0);
  if (state_ == ProgressState::kReplicate) MERIDIAN_CHECK(!probe_sent_);
  if (state_ == ProgressState::kSnapshot) {
    MERIDIAN_CHECK(inflight_count_ == 0 && !probe_sent_);
    MERIDIAN_CHECK(pending_snapshot_ >= next_ || pending_snapshot_ <= match_,
                   "a pending snapshot is past next until acknowledged");
  }
  MERIDIAN_CHECK(inflight_count_ <= inflight_max_);
  for (uint32_t i = 0; i < inflight_count_; i++) {
    MERIDIAN_CHECK(inflights_[(inflight_start_ + i) % kInflightMessagesMax] > match_);
  }
}

}  // namespace meridian::core::raft
