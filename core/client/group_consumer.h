// client::GroupConsumer: a consumer that is a member of a consumer group. The group's
// coordinator assigns it partitions (core/broker/README.md "Consumer groups"); it reads them
// with a client::Consumer from the group's committed offsets and commits its positions.
//
// Lifecycle, driven by Poll (called from one fiber):
//   - not joined, or told to rejoin (a heartbeat answered RebalanceInProgress,
//     IllegalGeneration or UnknownMemberId): commit the current positions first when
//     auto-commit is on (a zombie's commit is refused by the coordinator, which is fine), join,
//     then position every assigned partition at the group's committed offset (no committed
//     offset: the consumer's auto_offset_reset), and report the assignment (on_assign);
//   - a heartbeat fiber runs every heartbeat_interval while joined;
//   - if no heartbeat has succeeded for a session timeout, the coordinator has presumably
//     given the partitions to someone else: the assignment is dropped at once (the consumer
//     stops fetching as the owner) and Poll rejoins.
// Commit() commits the position of every assigned partition: the offset after the last record
// Poll returned (so nothing is committed that the application has not been given). With
// auto_commit, Poll also commits every auto_commit_interval, before it fetches (so what it
// commits is what earlier Polls returned), and before each rejoin.
//
// Threading: fibers of the client's runtime. Close() commits (auto-commit), leaves the group and
// stops the fetchers and the heartbeat fiber.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/client/client.h"
#include "core/client/consumer.h"

namespace meridian::core::client {

// Test-only planted bug (the group simulation catches it): commits one offset past the position.
enum class GroupConsumerPlantedBug : uint8_t { kNone, kCommitAheadOfConsumed };

struct GroupConsumerOptions {
  std::string group;
  std::vector<std::string> topics;  // Subscription.
  wire::Assignor assignor = wire::Assignor::Range;
  io::Duration session_timeout = std::chrono::seconds(10);
  io::Duration rebalance_timeout = std::chrono::seconds(30);
  io::Duration heartbeat_interval = std::chrono::seconds(1);  // Well under session_timeout.
  bool auto_commit = true;
  io::Duration auto_commit_interval = std::chrono::seconds(5);
  ConsumerOptions consumer;  // Fetching, and where to start without a committed offset.
  GroupConsumerPlantedBug planted = GroupConsumerPlantedBug::kNone;
};

struct GroupAssignmentEvent {
  std::string member_id;
  int32_t generation = 0;
  std::vector<TopicPartition> partitions;
  // Where each partition starts: its committed offset, or nullopt (the reset policy).
  std::vector<std::optional<int64_t>> committed;
};

class GroupConsumer {
 public:
  GroupConsumer(Client& client, GroupConsumerOptions options);
  ~GroupConsumer();
  GroupConsumer(const GroupConsumer&) = delete;
  GroupConsumer& operator=(const GroupConsumer&) = delete;

  // Joins or rejoins when needed, then returns buffered records (waiting up to max_wait).
  absl::StatusOr<std::vector<ConsumedRecord>> Poll(io::Duration max_wait);
  // The two halves of Poll, for a caller that records them apart (the simulator's history):
  // join or rejoin if needed (on_assign runs here), and poll the current assignment only.
  absl::Status EnsureJoined();
  absl::StatusOr<std::vector<ConsumedRecord>> PollAssigned(io::Duration max_wait);
  // Repositions an assigned partition at its log start (after OffsetOutOfRange with
  // auto_offset_reset none); the new position, once looked up.
  absl::StatusOr<int64_t> SeekToBeginning(const TopicPartition& partition, io::Instant deadline);
  // Commits the positions of the assigned partitions (manual commit). The offsets committed
  // are returned (empty if nothing is assigned).
  absl::StatusOr<std::vector<std::pair<TopicPartition, int64_t>>> Commit();
  // Commits these positions (of assigned partitions) instead: for an application that has
  // handed on only part of what Poll returned.
  absl::Status Commit(const std::vector<std::pair<TopicPartition, int64_t>>& positions);
  // The next offset Poll returns for an assigned partition (waits for its lookup).
  absl::StatusOr<int64_t> Position(const TopicPartition& partition, io::Instant deadline);
  // Commits (auto-commit), leaves the group, stops. Idempotent. From a cancelled fiber too:
  // the commit and the leave then run in a fiber of their own (README "Closing on shutdown").
  void Close();

  const std::string& member_id() const { return member_id_; }
  int32_t generation() const { return generation_; }
  const std::vector<TopicPartition>& assignment() const { return assignment_; }
  // The consumer that fetches for the member (its fetch statistics, read-only).
  const Consumer& consumer() const { return consumer_; }
  // Called after every (re)assignment, before Poll returns any record of it.
  std::function<void(const GroupAssignmentEvent&)> on_assign;

 private:
  absl::Status Join();
  absl::Status Position(const std::vector<TopicPartition>& partitions, GroupAssignmentEvent& event);
  void HeartbeatLoop(uint64_t session);
  void StopHeartbeat();   // Cancels the heartbeat fiber and waits for it to finish.
  void CommitAndLeave();  // Close()'s requests: the auto-commit, then the leave.
  void DropAssignment();
  void NoteGroupError(const absl::Status& status);

  Client& client_;
  io::Runtime& runtime_;
  const GroupConsumerOptions options_;
  Consumer consumer_;
  std::string member_id_;
  int32_t generation_ = -1;
  std::vector<TopicPartition> assignment_;
  bool joined_ = false;
  bool rejoin_ = false;
  bool closed_ = false;
  uint64_t session_ = 0;  // Bumped on every join: an older heartbeat fiber stops.
  io::Instant last_heartbeat_ok_;
  io::Instant next_auto_commit_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::optional<io::FiberId> heartbeat_fiber_;  // The running one, if any.
};

}  // namespace meridian::core::client
