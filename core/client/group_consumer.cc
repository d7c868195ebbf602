#include "core/client/group_consumer.h"

#include <fmt/format.h>

#include "core/client/errors.h"
#include "io/assert.h"

namespace meridian::core::client {
namespace {

bool MustRejoin(const absl::Status& status) {
  const std::optional<wire::ErrorCode> code = WireErrorCode(status);
  return code == wire::ErrorCode::RebalanceInProgress ||
         code == wire::ErrorCode::IllegalGeneration || code == wire::ErrorCode::UnknownMemberId;
}

}  // namespace

GroupConsumer::GroupConsumer(Client& client, GroupConsumerOptions options)
    : client_(client),
      runtime_(client.runtime()),
      options_(std::move(options)),
      consumer_(client, options_.consumer) {
  MERIDIAN_CHECK(!options_.group.empty() && !options_.topics.empty());
  MERIDIAN_CHECK(options_.heartbeat_interval < options_.session_timeout);
}

GroupConsumer::~GroupConsumer() {
  *alive_ = false;
  // Like ~Consumer: stopping fetchers may suspend, which a fiber being unwound must not do.
  if (runtime_.scheduler().InFiber() && !runtime_.scheduler().shutting_down()) {
    StopHeartbeat();
    consumer_.Close();
  }
}

// The heartbeat fiber calls into client_, which may go right after this consumer does (the
// simulator's member node left its Client's scope while a heartbeat was in a retry backoff, and
// the fiber woke in a destroyed Client): wait for it to finish, as Consumer does its fetchers.
void GroupConsumer::StopHeartbeat() {
  if (!heartbeat_fiber_.has_value()) return;
  runtime_.scheduler().Cancel(*heartbeat_fiber_);
  runtime_.scheduler().Join(*heartbeat_fiber_);
  heartbeat_fiber_.reset();
}

void GroupConsumer::NoteGroupError(const absl::Status& status) {
  if (!MustRejoin(status)) return;
  rejoin_ = true;
  if (WireErrorCode(status) == wire::ErrorCode::UnknownMemberId) member_id_.clear();
}

void GroupConsumer::DropAssignment() {
  if (!assignment_.empty()) MERIDIAN_CHECK(consumer_.Assign({}).ok());
  assignment_.clear();
  joined_ = false;
}

absl::Status GroupConsumer::Join() {
  wire::JoinGroupRequestT request;
  request.group = options_.group;
  request.member_id = member_id_;
  request.client_id = client_.options().client_id;
  request.topics = options_.topics;
  request.assignor = options_.assignor;
  request.session_timeout_ms = static_cast<uint32_t>(options_.session_timeout.count() / 1000000);
  request.rebalance_timeout_ms =
      static_cast<uint32_t>(options_.rebalance_timeout.count() / 1000000);
  const io::Instant deadline =
      runtime_.Now() + options_.rebalance_timeout + client_.options().request_timeout;
  absl::StatusOr<wire::JoinGroupResponseT> joined = TakeBody<wire::JoinGroupResponseT>(
      client_.CallCoordinator(options_.group, wire::Message(0, std::move(request)), deadline),
      [](wire::BodyUnion& body) { return body.AsJoinGroupResponse(); }, "JoinGroupResponse");
  if (!joined.ok()) {
    NoteGroupError(joined.status());
    return joined.status();
  }
  member_id_ = joined->member_id;
  generation_ = joined->generation;
  std::vector<TopicPartition> partitions;
  for (const auto& topic : joined->assignment) {
    if (topic == nullptr) continue;
    for (uint32_t p : topic->partitions) partitions.push_back({topic->topic, p});
  }
  if (partitions.size() > Consumer::kPartitionsAssignedMax) {
    return absl::ResourceExhaustedError("assigned more partitions than a consumer reads");
  }
  GroupAssignmentEvent event{member_id_, generation_, partitions, {}};
  if (absl::Status s = Position(partitions, event); !s.ok()) return s;
  assignment_ = std::move(partitions);
  joined_ = true;
  rejoin_ = false;
  last_heartbeat_ok_ = runtime_.Now();
  next_auto_commit_ = runtime_.Now() + options_.auto_commit_interval;
  if (on_assign) on_assign(event);
  const uint64_t session = ++session_;
  StopHeartbeat();
  heartbeat_fiber_ = runtime_.Spawn("group-heartbeat", [this, session, alive = alive_] {
    if (*alive) HeartbeatLoop(session);
  });
  return absl::OkStatus();
}

// Assigns `partitions` to the fetcher, each at the group's committed offset (or the reset
// policy when the group never committed one).
absl::Status GroupConsumer::Position(const std::vector<TopicPartition>& partitions,
                                     GroupAssignmentEvent& event) {
  auto committed = client_.CommittedOffsets(options_.group, options_.topics);
  if (!committed.ok()) return committed.status();
  if (absl::Status s = consumer_.Assign(partitions); !s.ok()) return s;
  for (const TopicPartition& tp : partitions) {
    std::optional<int64_t> offset;
    for (const auto& c : *committed) {
      if (c != nullptr && c->topic == tp.topic && c->partition == tp.partition) offset = c->offset;
    }
    event.committed.push_back(offset);
    absl::Status s = offset.has_value() ? consumer_.Seek(tp, core::Offset(*offset))
                     : options_.consumer.auto_offset_reset == OffsetReset::kLatest
                         ? consumer_.SeekToEnd(tp)
                         : consumer_.SeekToBeginning(tp);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

void GroupConsumer::HeartbeatLoop(uint64_t session) {
  std::shared_ptr<bool> alive = alive_;
  while (true) {
    if (!runtime_.Sleep(options_.heartbeat_interval).ok()) return;
    if (!*alive || closed_ || session != session_ || !joined_ || rejoin_) return;
    wire::HeartbeatRequestT request;
    request.group = options_.group;
    request.member_id = member_id_;
    request.generation = generation_;
    absl::Status status =
        TakeBody<wire::HeartbeatResponseT>(
            client_.CallCoordinator(options_.group, wire::Message(0, std::move(request)),
                                    runtime_.Now() + options_.heartbeat_interval),
            [](wire::BodyUnion& body) { return body.AsHeartbeatResponse(); }, "HeartbeatResponse")
            .status();
    if (!*alive || session != session_) return;
    if (status.ok()) {
      last_heartbeat_ok_ = runtime_.Now();
    } else {
      NoteGroupError(status);
    }
  }
}

absl::Status GroupConsumer::EnsureJoined() {
  if (closed_) return absl::FailedPreconditionError("the group consumer is closed");
  if (joined_ && runtime_.Now() - last_heartbeat_ok_ > options_.session_timeout) {
    // The coordinator has presumably expired us and handed our partitions on: stop reading
    // them as their owner before anything else.
    DropAssignment();
    rejoin_ = true;
  }
  if (joined_ && !rejoin_) return absl::OkStatus();
  if (joined_ && options_.auto_commit) (void)Commit();
  DropAssignment();
  return Join();
}

absl::StatusOr<std::vector<ConsumedRecord>> GroupConsumer::PollAssigned(io::Duration max_wait) {
  if (closed_) return absl::FailedPreconditionError("the group consumer is closed");
  if (options_.auto_commit && joined_ && runtime_.Now() >= next_auto_commit_) {
    // Before fetching: the positions cover only records earlier Polls handed out.
    next_auto_commit_ = runtime_.Now() + options_.auto_commit_interval;
    (void)Commit();
  }
  return consumer_.Poll(max_wait);
}

absl::StatusOr<std::vector<ConsumedRecord>> GroupConsumer::Poll(io::Duration max_wait) {
  if (absl::Status s = EnsureJoined(); !s.ok()) return s;
  return PollAssigned(max_wait);
}

absl::StatusOr<int64_t> GroupConsumer::Position(const TopicPartition& partition,
                                                io::Instant deadline) {
  absl::StatusOr<core::Offset> position = consumer_.Position(partition, deadline);
  if (!position.ok()) return position.status();
  return static_cast<int64_t>(position->value());
}

absl::StatusOr<int64_t> GroupConsumer::SeekToBeginning(const TopicPartition& partition,
                                                       io::Instant deadline) {
  if (absl::Status s = consumer_.SeekToBeginning(partition); !s.ok()) return s;
  absl::StatusOr<core::Offset> position = consumer_.Position(partition, deadline);
  if (!position.ok()) return position.status();
  return static_cast<int64_t>(position->value());
}

absl::StatusOr<std::vector<std::pair<TopicPartition, int64_t>>> GroupConsumer::Commit() {
  std::vector<std::pair<TopicPartition, int64_t>> positions;
  for (const TopicPartition& tp : assignment_) {
    // A position still being looked up has nothing to commit yet.
    absl::StatusOr<core::Offset> position = consumer_.Position(tp, runtime_.Now());
    if (!position.ok()) continue;
    int64_t offset = static_cast<int64_t>(position->value());
    if (options_.planted == GroupConsumerPlantedBug::kCommitAheadOfConsumed) offset++;  // PLANTED
    positions.emplace_back(tp, offset);
  }
  if (positions.empty()) return positions;
  if (absl::Status s = Commit(positions); !s.ok()) return s;
  return positions;
}

absl::Status GroupConsumer::Commit(
    const std::vector<std::pair<TopicPartition, int64_t>>& positions) {
  std::vector<std::unique_ptr<wire::PartitionOffsetT>> offsets;
  for (const auto& [tp, offset] : positions) {
    auto out = std::make_unique<wire::PartitionOffsetT>();
    out->topic = tp.topic;
    out->partition = tp.partition;
    out->offset = offset;
    offsets.push_back(std::move(out));
  }
  absl::Status status =
      client_.CommitOffsets(options_.group, member_id_, generation_, std::move(offsets),
                            runtime_.Now() + client_.options().request_timeout);
  NoteGroupError(status);
  return status;
}

void GroupConsumer::CommitAndLeave() {
  if (joined_ && options_.auto_commit) (void)Commit();
  if (!member_id_.empty()) {
    wire::LeaveGroupRequestT request;
    request.group = options_.group;
    request.member_id = member_id_;
    (void)client_.CallCoordinator(options_.group, wire::Message(0, std::move(request)),
                                  runtime_.Now() + client_.options().request_timeout);
  }
}

void GroupConsumer::Close() {
  if (closed_) return;
  io::Scheduler& scheduler = runtime_.scheduler();
  if (scheduler.InFiber() && scheduler.IsCancelled(scheduler.Current()) &&
      !scheduler.shutting_down()) {
    // Closing is what a fiber cancelled to stop it does last, and every wait of a cancelled
    // fiber ends at once: the commit would fail and the leave go unanswered (a coordinator
    // that moved would never hear it, and the group would keep the member until its session
    // timeout). The way out runs in a fiber of its own, within the request timeouts.
    scheduler.Join(runtime_.Spawn("group-consumer-close", [this] { CommitAndLeave(); }));
  } else {
    CommitAndLeave();
  }
  closed_ = true;
  StopHeartbeat();
  DropAssignment();
  consumer_.Close();
}

}  // namespace meridian::core::client
