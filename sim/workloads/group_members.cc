// Consumer-group members of the broker workload (broker_run.h). Each member node runs one
// core::client::GroupConsumer at a time in the group "sim-group", subscribed to the workload's
// topic, with manual commits so that every commit is recorded with the generation it was made
// in. Members are crashed, partitioned away and paused by the nemesis like any client; some
// also leave on their own and join again as a new member.
#include <fmt/format.h>

#include "absl/strings/numbers.h"
#include "checks/group_checker.h"
#include "core/client/errors.h"
#include "io/assert.h"
#include "sim/workloads/broker_run.h"

namespace meridian::sim {
namespace {

constexpr char kGroup[] = "sim-group";

core::client::GroupConsumerOptions MemberOptions(const Run& run, const std::string& region) {
  core::client::GroupConsumerOptions options;
  if (run.plan.near_reads) options.consumer.client_region = region;
  options.group = kGroup;
  options.topics = {kTopic};
  options.assignor = run.plan.assignor;
  options.session_timeout = seconds(3);
  options.rebalance_timeout = seconds(5);
  options.heartbeat_interval = milliseconds(500);
  options.auto_commit = false;  // Commits are made (and recorded) by MemberLife.
  options.consumer.auto_offset_reset = core::client::OffsetReset::kNone;  // Jumps are recorded.
  options.consumer.fetch_max_wait = milliseconds(300);
  options.planted = run.plan.group_bug;
  return options;
}

// One history process's worth of a member: a process is retired after an info outcome.
struct Recorder {
  Run& run;
  int64_t member;  // One per GroupConsumer life.
  int64_t process = 0;
  void Retire() {
    process = run.recorder.NewProcess();
    run.group_processes[process] = member;
  }
};

// A commit is certainly not applied when the coordinator refused it, or never saw it.
bool CommitCertainlyFailed(const absl::Status& status) {
  const std::optional<core::wire::ErrorCode> code = core::client::WireErrorCode(status);
  return code == core::wire::ErrorCode::IllegalGeneration ||
         code == core::wire::ErrorCode::UnknownMemberId ||
         code == core::wire::ErrorCode::GroupNotEmpty ||
         code == core::wire::ErrorCode::BadRequest || code == core::wire::ErrorCode::NotLeader;
}

void RecordCommit(Recorder& recorder, core::client::GroupConsumer& member) {
  HistoryRecorder& history = recorder.run.recorder;
  const size_t op = history.Invoke(recorder.process, checks::Function::kCommit);
  history.operation(op).generation = member.generation();
  absl::StatusOr<std::vector<std::pair<core::client::TopicPartition, int64_t>>> committed =
      member.Commit();
  if (committed.ok()) {
    for (const auto& [tp, offset] : *committed) {
      history.operation(op).commits.push_back({static_cast<int64_t>(tp.partition), offset});
    }
    history.Complete(op, checks::Outcome::kOk);
  } else if (CommitCertainlyFailed(committed.status())) {
    history.Complete(op, checks::Outcome::kFail);
  } else {
    history.Complete(op, checks::Outcome::kInfo);
    recorder.Retire();
  }
}

// Starts `to_start` (of the member's assignment) at their log start, recorded as an assign of
// the whole assignment with those starts: after OffsetOutOfRange (retention deleted the
// committed position), and for partitions assigned without a committed offset (the reset
// policy, earliest, starts them there anyway; recorded, a commit of the log start before any
// read is not mistaken for one ahead of what was given).
void StartAtLogStart(io::Runtime& rt, Recorder& recorder, core::client::GroupConsumer& member,
                     const std::vector<core::client::TopicPartition>& to_start) {
  HistoryRecorder& history = recorder.run.recorder;
  const size_t op = history.Invoke(recorder.process, checks::Function::kAssign);
  history.operation(op).generation = member.generation();
  for (const core::client::TopicPartition& tp : member.assignment()) {
    history.operation(op).partitions.push_back(tp.partition);
  }
  for (const core::client::TopicPartition& tp : to_start) {
    absl::StatusOr<int64_t> start = member.SeekToBeginning(tp, rt.Now() + seconds(2));
    if (start.ok()) history.operation(op).starts.push_back({tp.partition, *start});
  }
  history.Complete(op, checks::Outcome::kOk);
}

void RecordPoll(io::Runtime& rt, Recorder& recorder, core::client::GroupConsumer& member) {
  HistoryRecorder& history = recorder.run.recorder;
  const size_t op = history.Invoke(recorder.process, checks::Function::kPoll);
  absl::StatusOr<std::vector<core::client::ConsumedRecord>> records =
      member.PollAssigned(milliseconds(300));
  if (!records.ok()) {
    history.Complete(op, checks::Outcome::kFail);
    if (absl::IsOutOfRange(records.status())) {
      StartAtLogStart(rt, recorder, member, member.assignment());
    }
    return;
  }
  for (const core::client::ConsumedRecord& record : *records) {
    int64_t value = 0;
    MERIDIAN_CHECK(absl::SimpleAtoi(record.value, &value), "record value '{}'", record.value);
    history.operation(op).reads.push_back(
        {record.partition, static_cast<int64_t>(record.offset.value()), value});
  }
  history.Complete(op, checks::Outcome::kOk);
}

// One member from join to leave (or to the drain).
void MemberLife(io::Runtime& rt, Run& run, core::client::Client& client) {
  Recorder recorder{run, run.group_members_started++};
  recorder.Retire();
  const std::string region = run.world.topology().location(rt.node()).region;
  core::client::GroupConsumer member(client, MemberOptions(run, region));
  std::vector<core::client::TopicPartition> uncommitted;  // Of the latest assignment.
  member.on_assign = [&](const core::client::GroupAssignmentEvent& event) {
    const size_t op = run.recorder.Invoke(recorder.process, checks::Function::kAssign);
    run.recorder.operation(op).generation = event.generation;
    uncommitted.clear();
    for (size_t i = 0; i < event.partitions.size(); i++) {
      run.recorder.operation(op).partitions.push_back(event.partitions[i].partition);
      if (!event.committed[i].has_value()) uncommitted.push_back(event.partitions[i]);
    }
    run.recorder.Complete(op, checks::Outcome::kOk);
  };
  const io::Instant leave_at = rt.random().Chance(1, 3)
                                   ? rt.Now() + seconds(rt.random().Between(5, 30))
                                   : io::Instant::Infinite();
  while (run.world.Now() < run.drain_started && rt.Now() < leave_at) {
    if (absl::Status joined = member.EnsureJoined(); !joined.ok()) {
      TraceOp(run, rt, fmt::format("group join: {}", joined.ToString()));
      if (!rt.Sleep(milliseconds(200)).ok()) return;
      continue;
    }
    if (!uncommitted.empty()) {
      StartAtLogStart(rt, recorder, member, std::exchange(uncommitted, {}));
    }
    RecordPoll(rt, recorder, member);
    if (rt.random().Chance(1, 4)) RecordCommit(recorder, member);
  }
  if (!member.assignment().empty()) RecordCommit(recorder, member);
  member.Close();
  CountFetchedBytes(run, member.consumer(), region);
}

}  // namespace

void RunGroupMemberNode(io::Runtime& rt, Run& run) {
  core::client::Client client(
      rt, ClientOptionsFor(run.plan, fmt::format("member-{}", rt.node().value())));
  while (!run.topic_ready) {
    if (!rt.Sleep(milliseconds(100)).ok()) return;
  }
  while (run.world.Now() < run.drain_started) {
    MemberLife(rt, run, client);
    if (!rt.Sleep(milliseconds(rt.random().Between(0, 2000))).ok()) return;
  }
}

std::vector<std::string> JudgeGroup(const Run& run, const checks::History& history) {
  std::vector<std::string> problems;
  absl::StatusOr<checks::CheckReport> report = checks::CheckGroup(history, run.group_processes);
  if (!report.ok()) {
    problems.push_back("group checker rejected the history: " + report.status().ToString());
    return problems;
  }
  for (const checks::Finding& finding : report->findings) {
    problems.push_back(fmt::format("group checker: {}: {}", finding.kind, finding.detail));
  }
  return problems;
}

}  // namespace meridian::sim
