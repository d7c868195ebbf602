// Producer: the sender fiber of one partition and its window of batches in flight.
//
// Why a partition's records land in the order of Send, whatever fails (README "Producer:
// ordering and idempotence"):
//
// - Stamping. A batch is stamped (epoch, base_sequence) when it enters the window, in sealing
//   order, and sends the same bytes on every retry. Within an epoch the node accepts only
//   base_sequence == last + 1 (core/broker/partition_state.h), so batch k+1 never lands before
//   batch k: if k's attempt fails while k+1's is out, k+1 is refused OutOfOrderSequence (or never
//   arrives), and k landing late makes k+1's retry land after it.
// - Re-sending in order. A batch goes (again) only when every earlier unresolved batch is out in
//   an attempt that left after this batch's last answer (the `sends` tickets); a new batch enters
//   the window only behind batches that are all out or acknowledged.
// - OutOfOrderSequence. If an earlier batch was unacknowledged when the refused attempt left, the
//   refusal only says that one had not landed yet: kResend. If every earlier batch had been
//   acknowledged, the partition lost sequences we were acknowledged for (a regional promotion
//   discarded the old epoch's tail): a new epoch (Rewind).
// - Duplicates. The window spans at most kInFlightPerPartitionMax batches from the oldest
//   unacknowledged one, so fewer than that landed after it: its retry is still in the node's
//   dedup window and resolves with the offsets of the attempt that landed.
// - A new epoch (Rewind): after a delivery timeout, a definite failure with later batches stamped
//   behind it, a sequence gap, or a fence by a newer epoch of ours. The sender bumps the epoch,
//   waits until no attempt of the window is out, and re-stamps every unresolved batch, in window
//   order, from sequence 0. An old-epoch attempt can then only land before the first batch of the
//   new epoch (which fences the rest), and a batch none of whose attempts can still land goes
//   again exactly once. A batch that some attempt may have written, or that precedes an
//   acknowledged batch, is never re-stamped (it could land twice): it fails as "may or may not be
//   written".
// - Another partition's bump leaves this window alone: its batches keep their epoch (the node
//   takes it until it sees a newer one of ours, which only this partition's Rewind sends) and the
//   next batch takes the new epoch once the window is empty.
#include <fmt/format.h>

#include <algorithm>

#include "core/client/errors.h"
#include "core/client/producer.h"
#include "core/wire/client_codec.h"
#include "io/assert.h"
#include "io/probe.h"

namespace meridian::core::client {

void Producer::SenderLoop(PartitionState& state) {
  io::Scheduler& scheduler = runtime_.scheduler();
  while (!scheduler.IsCancelled(scheduler.Current())) {
    if (!HandleAnswers(state)) break;  // Cancelled in the middle of a Rewind.
    Dispatch(state);
    CheckWindow(state);
    if (state.window.empty() && state.sealed.empty() && state.open.promises.empty()) break;
    absl::Status waited =
        state.wake.WaitUntil([&] { return HasWork(state); }, NextTimer(state), "producer window");
    if (absl::IsCancelled(waited)) break;
  }
  StopPartition(state);
}

// Room for one more batch, behind batches that are all out or acknowledged, in the epoch the
// window already uses (a new epoch starts on an empty window).
bool Producer::CanLaunch(const PartitionState& state) const {
  if (state.window.size() >= in_flight_max_) return false;
  if (options_.idempotent && state.sequence_epoch != epoch_ && !state.window.empty()) return false;
  return std::all_of(state.window.begin(), state.window.end(), [](const auto& batch) {
    return batch->phase == Phase::kInCall || batch->phase == Phase::kAcked;
  });
}

// Batch i may go (again): its backoff is over and every earlier unresolved batch went out after
// this batch's last answer, so the attempts leave oldest first.
bool Producer::MaySend(const PartitionState& state, size_t i) const {
  const Batch& batch = *state.window[i];
  if (batch.phase != Phase::kReady || runtime_.Now() < batch.retry_at) return false;
  for (size_t j = 0; j < i; ++j) {
    const Batch& earlier = *state.window[j];
    if (earlier.phase == Phase::kAcked) continue;
    if (earlier.phase != Phase::kInCall) return false;
    if (earlier.sent_ticket <= batch.answered_ticket) return false;
  }
  return true;
}

bool Producer::OpenDue(const PartitionState& state) const {
  if (state.open.promises.empty()) return false;
  return state.open.bytes >= options_.batch_bytes_max || FlushWanted(state) ||
         runtime_.Now() >= state.open.created + options_.linger;
}

// Whether the sender fiber has something to do now (what Dispatch and HandleAnswers do).
bool Producer::HasWork(const PartitionState& state) const {
  for (size_t i = 0; i < state.window.size(); ++i) {
    if (state.window[i]->phase == Phase::kAnswered || MaySend(state, i)) return true;
  }
  return CanLaunch(state) && (!state.sealed.empty() || OpenDue(state));
}

// The next instant at which HasWork may turn true without a notification.
io::Instant Producer::NextTimer(const PartitionState& state) const {
  const io::Instant now = runtime_.Now();
  io::Instant next = io::Instant::Infinite();
  for (const auto& batch : state.window) {
    if (batch->phase == Phase::kReady && batch->retry_at > now) {
      next = std::min(next, batch->retry_at);
    }
  }
  if (CanLaunch(state) && state.sealed.empty() && !state.open.promises.empty()) {
    const io::Instant due = state.open.created + options_.linger;
    if (due > now) next = std::min(next, due);
  }
  return next;
}

void Producer::Dispatch(PartitionState& state) {
  for (size_t i = 0; i < state.window.size(); ++i) {
    if (MaySend(state, i)) SendAttempt(state, *state.window[i]);
  }
  while (CanLaunch(state)) {
    if (state.sealed.empty()) {
      if (!OpenDue(state)) break;
      Seal(state);
    }
    Launch(state);
  }
}

// The oldest sealed batch enters the window, stamped, and goes out.
void Producer::Launch(PartitionState& state) {
  MERIDIAN_CHECK(!state.sealed.empty());
  auto batch = std::make_unique<Batch>(std::move(state.sealed.front()));
  state.sealed.pop_front();
  const absl::Status stamped = Stamp(state, *batch);
  if (!stamped.ok()) {
    // Never sent: its sequence numbers go to the next batch.
    if (options_.idempotent) state.next_sequence = batch->content.base_sequence;
    return Fail(*batch, stamped);
  }
  state.window.push_back(std::move(batch));
  SendAttempt(state, *state.window.back());
}

// One attempt, on a call fiber of its own (CallPartitionLeader retries NotLeader, lost
// connections and throttling inside it); the answer comes back through `wake`.
void Producer::SendAttempt(PartitionState& state, Batch& batch) {
  MERIDIAN_CHECK(batch.phase == Phase::kReady);
  MERIDIAN_CHECK(!batch.encoded.empty());
  bool behind_unacked = false;
  size_t out = 0;
  for (const auto& other : state.window) {
    if (other.get() == &batch) break;
    behind_unacked = behind_unacked || other->phase != Phase::kAcked;
  }
  for (const auto& other : state.window) out += other->phase == Phase::kInCall ? 1 : 0;
  if (out > 0) MERIDIAN_PROBE("producer: several batches of one partition in flight");
  batch.phase = Phase::kInCall;
  batch.sent_ticket = ++state.sends;
  batch.behind_unacked = behind_unacked;
  wire::ProduceRequestT request;
  request.topic = state.topic;
  request.partition = state.partition;
  request.acks = options_.acks;
  request.timeout_ms = static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.request_timeout).count());
  request.batch = batch.encoded;
  const io::Instant deadline = batch.created + options_.delivery_timeout;
  batch.call = runtime_.Spawn(fmt::format("producer-call-{}-{}", state.topic, state.partition),
                              [this, &state, &batch, request = std::move(request), deadline] {
                                Client::Response response = client_.CallPartitionLeader(
                                    state.topic, state.partition, wire::Message(0, request),
                                    deadline, &batch.maybe_written);
                                MERIDIAN_CHECK(batch.phase == Phase::kInCall);
                                batch.answer = std::move(response);
                                batch.phase = Phase::kAnswered;
                                state.wake.NotifyAll();
                              });
}

// Handles every answer that came back, oldest batch first. False when the fiber was cancelled
// in the middle of a Rewind.
bool Producer::HandleAnswers(PartitionState& state) {
  while (true) {
    auto answered = std::find_if(state.window.begin(), state.window.end(), [](const auto& batch) {
      return batch->phase == Phase::kAnswered;
    });
    if (answered == state.window.end()) return true;
    if (!HandleAnswer(state, **answered)) return false;
    PopAcked(state);
  }
}

io::Duration Producer::Backoff(uint32_t answers) const {
  MERIDIAN_CHECK(answers > 0);
  const uint32_t doublings = std::min(answers - 1, 10u);
  return std::min(client_.options().retry_backoff * (int64_t{1} << doublings),
                  client_.options().retry_backoff_max);
}

bool Producer::HandleAnswer(PartitionState& state, Batch& batch) {
  MERIDIAN_CHECK(batch.phase == Phase::kAnswered && batch.answer.has_value());
  Client::Response response = std::move(*batch.answer);
  batch.answer.reset();
  batch.phase = Phase::kReady;
  batch.answers++;
  if (!response.ok()) return OnCallFailed(state, batch, response.status());
  absl::Status fail_with;
  switch (OnResponse(state, batch, **response, &fail_with)) {
    case Outcome::kDone:
      return true;
    case Outcome::kRetry:
      batch.retry_at = std::min(runtime_.Now() + Backoff(batch.answers),
                                batch.created + options_.delivery_timeout);
      batch.answered_ticket = state.sends;
      return true;
    case Outcome::kResend:
      batch.retry_at = runtime_.Now();  // MaySend holds it until the earlier batches went again.
      batch.answered_ticket = state.sends;
      return true;
    case Outcome::kNewEpoch:
      return Rewind(state, fail_with.ok() ? nullptr : &batch, fail_with);
  }
  MERIDIAN_CHECK(false, "unreachable");
  return true;
}

absl::Status Producer::Indeterminate(const PartitionState& state,
                                     const absl::Status& status) const {
  return absl::Status(status.code(),
                      fmt::format("{}/{}: delivery not confirmed, the records may or may not be "
                                  "written: {}",
                                  state.topic, state.partition, std::string(status.message())));
}

// The call gave up: delivery timeout, the client closed, or cancelled.
bool Producer::OnCallFailed(PartitionState& state, Batch& batch, const absl::Status& status) {
  MERIDIAN_PROBE("producer: batch indeterminate");
  const absl::Status failure = Indeterminate(state, status);
  // Bump first (Rewind), so a caller who sees the failure already has the new epoch.
  if (options_.idempotent && !absl::IsCancelled(status)) return Rewind(state, &batch, failure);
  FailAndErase(state, batch, failure);
  return true;
}

Producer::Outcome Producer::OnResponse(PartitionState& state, Batch& batch,
                                       const wire::ClientMessageT& response,
                                       absl::Status* fail_with) {
  if (const wire::ProduceResponseT* produced = response.body.AsProduceResponse()) {
    if (produced->duplicate) MERIDIAN_PROBE("producer: duplicate batch acknowledged");
    Resolve(state, batch, produced->base_offset);
    return Outcome::kDone;
  }
  const wire::ErrorResponseT* error = response.body.AsErrorResponse();
  if (error == nullptr) {
    batch.maybe_written = true;  // A node that answers nonsense proves nothing.
    return OnDefiniteError(state, batch, UnexpectedResponse(response, "ProduceResponse"),
                           fail_with);
  }
  const bool planted = options_.planted == ProducerPlantedBug::kRestampRefusedAlone;
  switch (error->code) {
    case wire::ErrorCode::FencedProducerEpoch:
      if (batch.content.producer_epoch >= epoch_) break;  // Fenced by someone else: definite.
      if (planted) return RestampAloneForPlantedBug(state, batch);
      MERIDIAN_PROBE("producer: batch of an older epoch re-stamped");
      return Outcome::kNewEpoch;  // Not applied; an epoch of ours fenced it.
    case wire::ErrorCode::OutOfOrderSequence:
      if (!options_.idempotent) break;
      if (batch.behind_unacked) {
        // The earlier batch had not landed when this attempt arrived: not a gap.
        if (planted) return RestampAloneForPlantedBug(state, batch);
        MERIDIAN_PROBE("producer: out-of-order batch re-sent behind an unacknowledged one");
        return Outcome::kResend;
      }
      if (batch.maybe_written) break;
      // Every earlier batch was acknowledged: the partition remembers fewer of our batches than
      // that (a regional promotion discarded the old epoch's tail, its RPO). This one was
      // refused, so not applied: it goes again as the first of a new epoch rather than failing.
      MERIDIAN_PROBE("producer: epoch bumped after a sequence gap");
      return Outcome::kNewEpoch;
    case wire::ErrorCode::Unknown:
      // Maybe applied: only a retry of the same idempotent bytes is safe.
      batch.maybe_written = true;
      if (options_.idempotent) return Outcome::kRetry;
      break;
    case wire::ErrorCode::Failed:
    case wire::ErrorCode::NotEnoughReplicas:
    case wire::ErrorCode::NotLeader:
      return Outcome::kRetry;  // Certainly not applied.
    case wire::ErrorCode::UnknownTopicOrPartition:
      // A node whose copy of the metadata lags (just restarted, or cut off when the topic was
      // created) does not know the topic yet: retriable until the delivery timeout, as in
      // Kafka. A topic that was really deleted fails by that timeout.
      MERIDIAN_PROBE("producer: unknown topic retried");
      return Outcome::kRetry;
    default:
      break;
  }
  return OnDefiniteError(state, batch, StatusFromError(*error), fail_with);
}

Producer::Outcome Producer::OnDefiniteError(PartitionState& state, Batch& batch,
                                            const absl::Status& error, absl::Status* fail_with) {
  if (batch.maybe_written) {
    // An earlier attempt may still be (or become) part of the log: this error settles nothing.
    MERIDIAN_PROBE("producer: definite error after an ambiguous attempt");
    const absl::Status unknown = absl::UnknownError(
        fmt::format("{}/{}: delivery not confirmed, the records may or may not be written (an "
                    "earlier attempt got no answer; the last one: {})",
                    state.topic, state.partition, error.ToString()));
    if (!options_.idempotent) {
      FailAndErase(state, batch, unknown);
      return Outcome::kDone;
    }
    *fail_with = unknown;
    return Outcome::kNewEpoch;  // Later retries of its bytes must be fenced.
  }
  if (options_.idempotent && &batch != state.window.back().get()) {
    // Not applied, but later batches carry sequence numbers after its own, which will never
    // land: they go again in a new epoch.
    MERIDIAN_PROBE("producer: definite failure with later batches stamped");
    *fail_with = error;
    return Outcome::kNewEpoch;
  }
  if (options_.idempotent) {
    MERIDIAN_CHECK(state.sequence_epoch == batch.content.producer_epoch);
    state.next_sequence = batch.content.base_sequence;  // Not applied: its numbers are free.
  }
  FailAndErase(state, batch, error);
  return Outcome::kDone;
}

// PLANTED BUG (kRestampRefusedAlone): the refused batch alone moves to the current epoch (bumping
// it if the batch is of the current one) with fresh sequence numbers, and goes out at once,
// ahead of the earlier batches still unresolved.
Producer::Outcome Producer::RestampAloneForPlantedBug(PartitionState& state, Batch& batch) {
  MERIDIAN_PROBE("producer: PLANTED refused batch re-stamped alone");
  if (batch.content.producer_epoch == epoch_) (void)BumpEpoch(epoch_);
  if (state.sequence_epoch != epoch_) {
    state.sequence_epoch = epoch_;
    state.next_sequence = 0;
  }
  batch.content.producer_epoch = state.sequence_epoch;
  batch.content.base_sequence = state.next_sequence;
  state.next_sequence += static_cast<int32_t>(batch.content.records.size());
  batch.encoded = wire::EncodeRecordBatch(batch.content);
  SendAttempt(state, batch);
  return Outcome::kDone;
}

// The partition's sequence restarts in a new epoch: bump the epoch (unless another partition
// did), fail `failing` (the batch that forced it, if it fails), wait until no attempt is out,
// then re-stamp the window in order. False when cancelled meanwhile.
bool Producer::Rewind(PartitionState& state, Batch* failing, const absl::Status& failure) {
  MERIDIAN_CHECK(options_.idempotent);
  MERIDIAN_PROBE("producer: a partition's window moved to a new epoch");
  (void)BumpEpoch(state.sequence_epoch);  // Failed: epoch_ stays, and Restamp says what then.
  if (failing != nullptr) FailAndErase(state, *failing, failure);
  if (!DrainCalls(state)) return false;
  Restamp(state);
  return true;
}

// Waits until no attempt of the window is out, taking in the answers that come back.
bool Producer::DrainCalls(PartitionState& state) {
  const auto any_in = [&state](Phase phase) {
    return std::any_of(state.window.begin(), state.window.end(),
                       [phase](const auto& batch) { return batch->phase == phase; });
  };
  while (true) {
    while (any_in(Phase::kAnswered)) {
      auto answered = std::find_if(state.window.begin(), state.window.end(),
                                   [](const auto& b) { return b->phase == Phase::kAnswered; });
      RecordDuringRewind(state, **answered);
    }
    if (!any_in(Phase::kInCall)) return true;
    absl::Status waited = state.wake.WaitUntil([&] { return any_in(Phase::kAnswered); },
                                               io::Instant::Infinite(), "producer rewind");
    if (absl::IsCancelled(waited)) return false;
  }
}

// An answer that arrives while the window moves to a new epoch: only what it proves counts.
void Producer::RecordDuringRewind(PartitionState& state, Batch& batch) {
  Client::Response response = std::move(*batch.answer);
  batch.answer.reset();
  batch.phase = Phase::kReady;
  batch.answers++;
  if (!response.ok()) {
    MERIDIAN_PROBE("producer: batch indeterminate");
    return FailAndErase(state, batch, Indeterminate(state, response.status()));
  }
  if (const wire::ProduceResponseT* produced = (*response)->body.AsProduceResponse()) {
    return Resolve(state, batch, produced->base_offset);
  }
  const wire::ErrorResponseT* error = (*response)->body.AsErrorResponse();
  if (error == nullptr || error->code == wire::ErrorCode::Unknown) batch.maybe_written = true;
  // Any other error refused that attempt: the batch may still be re-stamped.
}

// After a Rewind's bump and drain: re-stamps every unresolved batch in window order in the new
// epoch, from sequence 0, failing the ones that could land twice.
void Producer::Restamp(PartitionState& state) {
  PopAcked(state);
  if (epoch_ == state.sequence_epoch) {
    // No new epoch (the controller did not answer): nothing is re-stamped. The batches keep
    // their bytes and go again after a backoff; refused out of order, the front one brings the
    // next Rewind (they land if the batch before them landed after all).
    MERIDIAN_PROBE("producer: no new epoch for a window; it goes again in the old one");
    for (const auto& batch : state.window) {
      if (batch->phase != Phase::kReady) continue;
      batch->retry_at = runtime_.Now() + Backoff(std::max(batch->answers, 1u));
      batch->answered_ticket = 0;
    }
    return;
  }
  MERIDIAN_CHECK(epoch_ > state.sequence_epoch);
  bool acked_later = false;
  for (size_t i = state.window.size(); i-- > 0;) {
    Batch& batch = *state.window[i];
    MERIDIAN_CHECK(batch.phase == Phase::kReady || batch.phase == Phase::kAcked);
    if (batch.phase == Phase::kAcked) {
      acked_later = true;
    } else if (batch.maybe_written || acked_later) {
      // Re-stamped, it could land twice; a batch before an acknowledged one has landed (unless
      // the node broke the sequence rule).
      if (acked_later) MERIDIAN_PROBE("producer: unresolved batch before an acknowledged one");
      FailAndErase(state, batch,
                   absl::UnknownError(fmt::format(
                       "{}/{}: delivery not confirmed, the records may or may not be written (an "
                       "attempt got no answer before the partition moved to a new producer epoch)",
                       state.topic, state.partition)));
    }
  }
  PopAcked(state);
  state.sequence_epoch = epoch_;
  state.next_sequence = 0;
  for (const auto& batch : state.window) {
    MERIDIAN_CHECK(batch->phase == Phase::kReady && !batch->maybe_written);
    MERIDIAN_CHECK(Stamp(state, *batch).ok(), "a re-stamped batch grew");
    batch->retry_at = runtime_.Now();
    batch->answered_ticket = 0;  // Sent fresh, in window order.
  }
}

void Producer::FailAndErase(PartitionState& state, Batch& batch, const absl::Status& status) {
  MERIDIAN_CHECK(batch.phase == Phase::kReady, "failing a batch whose attempt is out");
  MERIDIAN_CHECK(!status.ok());
  Fail(batch, status);
  auto it = std::find_if(state.window.begin(), state.window.end(),
                         [&batch](const auto& b) { return b.get() == &batch; });
  MERIDIAN_CHECK(it != state.window.end());
  state.window.erase(it);
}

void Producer::PopAcked(PartitionState& state) {
  while (!state.window.empty() && state.window.front()->phase == Phase::kAcked) {
    MERIDIAN_CHECK(state.window.front()->promises.empty());
    state.window.pop_front();
  }
}

// Cancelled (Close after its deadline) or nothing left: stops the call fibers and fails what is
// unresolved; nothing more is sent.
void Producer::StopPartition(PartitionState& state) {
  io::Scheduler& scheduler = runtime_.scheduler();
  for (const auto& batch : state.window) {
    if (batch->phase == Phase::kInCall) scheduler.Cancel(batch->call);
  }
  for (const auto& batch : state.window) {
    if (batch->phase == Phase::kInCall) scheduler.Join(batch->call);
  }
  for (const auto& batch : state.window) {
    MERIDIAN_CHECK(batch->phase != Phase::kInCall);
    if (batch->phase == Phase::kAcked) continue;
    Fail(*batch, absl::CancelledError(fmt::format(
                     "{}/{}: producer closed before delivery was confirmed; the records may or "
                     "may not be written",
                     state.topic, state.partition)));
  }
  state.window.clear();
  const absl::Status cancelled = absl::CancelledError("producer closed before delivery");
  for (Batch& batch : state.sealed) Fail(batch, cancelled);
  state.sealed.clear();
  if (!state.open.promises.empty()) Fail(state.open, cancelled);
  state.open = Batch{};
  state.sender_running = false;
  MERIDIAN_CHECK(senders_running_ > 0);
  senders_running_--;
  resolved_.NotifyAll();
}

// What stays true of a window between two turns of the sender fiber.
void Producer::CheckWindow(const PartitionState& state) const {
  MERIDIAN_CHECK(state.window.size() <= in_flight_max_, "{} batches in a window of {}",
                 state.window.size(), in_flight_max_);
  if (state.window.empty()) return;
  MERIDIAN_CHECK(state.window.front()->phase != Phase::kAcked);
  // The planted bug breaks the sequence order on purpose: the checkers, not this, must see it.
  if (!options_.idempotent || options_.planted == ProducerPlantedBug::kRestampRefusedAlone) return;
  int64_t last = -1;
  for (const auto& batch : state.window) {
    if (batch->phase == Phase::kAcked) continue;
    MERIDIAN_CHECK(!batch->promises.empty());
    MERIDIAN_CHECK(batch->content.producer_epoch == state.sequence_epoch);
    MERIDIAN_CHECK(batch->content.base_sequence > last, "sequence {} after {}",
                   batch->content.base_sequence, last);
    last = batch->content.base_sequence + static_cast<int64_t>(batch->content.records.size()) - 1;
  }
  MERIDIAN_CHECK(last < state.next_sequence);
}

}  // namespace meridian::core::client
