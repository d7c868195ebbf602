#include "core/broker/broker.h"

#include <fmt/format.h>

#include <algorithm>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/strings/numbers.h"
#include "core/broker/broker_state.h"
#include "core/broker/group_coordinator.h"
#include "core/replica/seed.h"
#include "core/wire/raft_codec.h"
#include "io/assert.h"
#include "io/frame.h"
#include "io/probe.h"

namespace meridian::core::broker {
namespace {

// What a replica's fail-stop does: logged here, then BrokerOptions::on_replica_failed. Holds
// copies of the options it needs, never the state: the replica keeps this function, and the
// state owns the replica.
std::function<void(const absl::Status&)> OnReplicaFailStop(const BrokerOptions& options,
                                                           uint64_t group) {
  return [log = options.log, node = options.node_id, failed = options.on_replica_failed,
          group](const absl::Status& why) {
    MERIDIAN_PROBE("broker: a replica fail-stopped");
    const std::string text = fmt::format(
        "the replica of raft group {} fail-stopped and serves nothing more until it "
        "is reopened from disk: {}",
        group, why.ToString());
    WriteBrokerLine(log, node, text);
    if (failed) failed(group, why);
  };
}

void RunPeerDispatcher(std::shared_ptr<Broker::State> state) {
  io::Runtime& rt = state->runtime;
  while (!state->stopped) {
    absl::StatusOr<io::PeerMessage> message = rt.network().Receive(io::Instant::Infinite());
    if (!message.ok()) return;
    absl::StatusOr<wire::PeerRaftMessage> decoded = wire::DecodePeerMessage(message->payload);
    // The envelope must agree with the link it came on, and be for us from someone else (a
    // backend that let a peer speak as this node must not reach the replicas' assertions).
    if (!decoded.ok() || decoded->message.from != message->from ||
        decoded->message.to != rt.node() || message->from == rt.node()) {
      state->metrics.peer_messages_dropped_total++;
      continue;
    }
    NoteNodeHeard(*state, message->from.value());
    if (decoded->group == kLivenessGroup) {  // Its arrival, and the sender's incarnation.
      NoteLivenessMessage(*state, message->from.value(), decoded->message.term.value());
      continue;
    }
    if (decoded->group == cluster::kControllerGroup) {
      state->controller->Deliver(std::move(decoded->message));
      continue;
    }
    auto hosted = state->partitions.find(decoded->group);
    if (hosted == state->partitions.end()) {
      // Not (yet) hosted here: the metadata that starts it has not been applied. Raft resends.
      MERIDIAN_PROBE("broker: peer message for a group not hosted here");
      state->metrics.peer_messages_dropped_total++;
      continue;
    }
    hosted->second.replica->Deliver(std::move(decoded->message));
  }
}

// The coordinator of the consumer groups whose partition of "__consumer_offsets" this is.
void StartCoordinator(Broker::State& state, const HostedPartition& hosted) {
  GroupCoordinatorOptions options;
  if (state.options.planted.assign_one_partition_twice) {
    options.assignor_bug = AssignorPlantedBug::kAssignOnePartitionTwice;
  }
  BrokerMetrics* metrics = &state.metrics;  // The state owns the coordinator.
  options.on_generation_written = [metrics] { metrics->group_rebalances_total++; };
  const cluster::ClusterMetadata* metadata = &state.controller_machine->metadata;
  state.coordinators[hosted.group] =
      std::make_shared<GroupCoordinator>(state.runtime, hosted, options, [metadata] {
        absl::btree_map<std::string, uint32_t> counts;
        for (const auto& [name, topic] : metadata->topics()) {
          counts[name] = static_cast<uint32_t>(topic.partitions.size());
        }
        return counts;
      });
}

// With the node-wide log, the group's records there and its durable mark go with its files.
// A mark the table still holds for a removed group is harmless (group ids are never reused),
// so a Forget refused (the stopped replica's driver still advancing it) does not stop the rest.
absl::Status RemoveGroupData(Broker::State& state, uint64_t group) {
  if (state.wal != nullptr) state.wal->Forget(GroupDir(group) + "/log");
  absl::Status removed = replica::RemoveTree(state.runtime.disk(), GroupDir(group));
  if (state.mark_table != nullptr && removed.ok()) {
    if (absl::Status s = state.mark_table->Forget(GroupDir(group)); !s.ok()) {
      state.Log(fmt::format("the durable mark of removed group {} stays: {}", group, s.ToString()));
    }
  }
  return removed;
}

// The node-wide log failed (an fsync or write error): no group of this node can write until the
// node reopens it, so this is the node's failure, handled as a replica's is (the owner restarts
// the node).
bool NodeWideLogFailed(const Broker::State& state, uint64_t group) {
  if (state.wal == nullptr || state.wal->failure().ok()) return false;
  MERIDIAN_PROBE("broker: the node-wide log failed; the node must restart");
  OnReplicaFailStop(state.options, group)(state.wal->failure());
  return true;
}

// BrokerOptions::node_wide_log: opens the node's WAL and durable-mark table before any group.
absl::Status OpenNodeWideLog(Broker::State& state) {
  if (!state.options.node_wide_log) {
    // Its records may be all that holds acknowledged entries (partition files are synced only
    // at its checkpoints): a node that once ran with it must keep it.
    absl::StatusOr<bool> exists = state.runtime.disk().Exists("wal");
    if (!exists.ok()) return exists.status();
    if (*exists) {
      return absl::FailedPreconditionError(
          "the data directory holds a node-wide log (wal/): start with node_wide_log on, the "
          "default (its records may be the only copy of acknowledged entries)");
    }
    return absl::OkStatus();
  }
  log::WalRecoveryReport report;
  absl::StatusOr<std::shared_ptr<log::Wal>> wal =
      log::Wal::Open(state.runtime, state.runtime.disk(), log::WalOptions{.dir = "wal"}, &report);
  if (!wal.ok()) return wal.status();
  state.wal = std::move(*wal);
  state.Log(report.ToString());
  absl::StatusOr<std::unique_ptr<replica::DurableMarkTable>> table =
      replica::DurableMarkTable::Open(state.runtime, state.runtime.disk(), "marks",
                                      state.options.planted.ack_before_fsync);
  if (!table.ok()) return table.status();
  state.mark_table = std::move(*table);
  if (state.mark_table->damaged()) {
    state.Log("the durable-mark table is damaged: each group re-marks itself or repairs");
  }
  return absl::OkStatus();
}

void UseNodeWideLog(const Broker::State& state, replica::ReplicaOptions& options) {
  options.wal = state.wal;
  options.mark_table = state.mark_table;
  options.wal_direct_round_bytes = state.options.wal_direct_round_bytes;
}

// Opens a replica (`who`, for the log). Damage it found at rest and recovered from
// (Replica::restart_findings) is logged and counted: it survived it, but the operator should
// learn that a disk damaged data.
absl::StatusOr<std::shared_ptr<replica::Replica>> OpenReplica(Broker::State& state,
                                                              replica::ReplicaOptions options,
                                                              std::string_view who) {
  replica::ReplicaObserver* const observer =
      state.options.replica_observer ? state.options.replica_observer(options.group) : nullptr;
  absl::StatusOr<std::shared_ptr<replica::Replica>> replica =
      replica::Replica::Open(state.runtime, std::move(options), observer);
  if (!replica.ok() || (*replica)->restart_findings().empty()) return replica;
  state.metrics.replicas_restarted_damaged_total++;
  for (const std::string& finding : (*replica)->restart_findings()) {
    state.Log(fmt::format("{}: restarted with damage at rest: {}", who, finding));
  }
  return replica;
}

absl::Status StartPartition(Broker::State& state, const std::string& topic,
                            const cluster::PartitionRecord& partition) {
  // A promoted partition's source seeds the new group from the old one before it starts:
  // started empty, its single voter would restart the offsets at 0.
  if (absl::Status s = SeedPromotedGroup(state, partition); !s.ok()) return s;
  auto machine = std::make_shared<PartitionMachine>(state.runtime, state.options.planted.partition);
  replica::ReplicaOptions options;
  options.group = partition.group;
  // A replica joining by reassignment starts as a learner of the configuration it is told
  // about: it never campaigns on its empty log, and the leader's entries (or snapshot) bring it
  // the configuration in force, which replaces this one. Those entries may first bring older
  // configurations, from before this node was removed and its copy deleted, in which it voted:
  // so every new copy that is not a voter the metadata keeps (a voter a reassignment moves out
  // leaves before the metadata says so) starts joining: it votes and campaigns only once it
  // holds a configuration as recent as its leader's (raft::RaftOptions::joining; raft applies
  // it to a copy with nothing stored only). An observer never votes anyway.
  std::vector<uint32_t> learners = partition.observers;
  const uint32_t me = state.options.node_id;
  const auto holds_me = [me](const std::vector<uint32_t>& nodes) {
    return std::find(nodes.begin(), nodes.end(), me) != nodes.end();
  };
  const bool voter = holds_me(partition.replicas);
  if (!voter && !holds_me(learners)) learners.push_back(me);
  options.raft = state.GroupRaftOptions(partition.replicas, learners);
  options.raft.joining =
      !voter || (partition.reassigning() && !holds_me(partition.target_replicas));
  if (state.options.planted.observer_in_write_quorum && !partition.observers.empty()) {
    options.raft.planted_bug = raft::PlantedBug::kLearnersCountTowardCommit;
  }
  if (state.options.planted.quiesced_follower_ignores_leader_loss) {
    options.raft.planted_bug = raft::PlantedBug::kQuiescedFollowerIgnoresLeaderLoss;
  }
  if (state.options.adjust_group_raft) {
    state.options.adjust_group_raft(partition.group, topic, partition.partition, options.raft);
  }
  options.tick = state.options.tick;
  options.dir = GroupDir(partition.group);
  options.log_segment_bytes = state.options.segment_bytes;
  options.unsafe_ack_before_fsync_for_tests = state.options.planted.ack_before_fsync;
  options.unsafe_skip_crc_checks_for_tests = state.options.planted.skip_crc_checks;
  UseNodeWideLog(state, options);
  options.state_machine = machine;
  options.on_fail_stop = OnReplicaFailStop(state.options, partition.group);
  // Idle for an election timeout: quiet for longer than any pause between a producer's batches.
  options.raft.quiesce_after_ticks =
      state.options.quiesce_idle_partitions ? options.raft.election_timeout_ticks : 0;
  const bool offsets = topic == kOffsetsTopic;
  if (offsets) {
    machine->ledger = std::make_unique<GroupLedger>(
        state.options.planted.zombie_commit_accepted ? GroupLedgerPlantedBug::kZombieCommitAccepted
                                                     : GroupLedgerPlantedBug::kNone);
  }
  absl::StatusOr<std::shared_ptr<replica::Replica>> replica =
      OpenReplica(state, options, fmt::format("{}/{}", topic, partition.partition));
  if (!replica.ok()) return replica.status();
  TellDownMembers(state, **replica);
  const HostedPartition hosted{topic, partition.partition, partition.group, machine, *replica};
  state.partitions[partition.group] = hosted;
  if (offsets) StartCoordinator(state, hosted);
  state.metrics.partitions_hosted = state.partitions.size();
  return absl::OkStatus();
}

// Whether `group` is the old group of a partition this node must still seed the new epoch's
// group from (its seed failed and will be retried): its data is the new epoch's only copy.
bool NeededForSeed(const Broker::State& state, uint64_t group) {
  for (const auto& [name, topic] : state.controller_machine->metadata.topics()) {
    for (const cluster::PartitionRecord& partition : topic.partitions) {
      if (partition.previous_group == group && partition.source == state.options.node_id &&
          !state.partitions.contains(partition.group)) {
        return true;
      }
    }
  }
  return false;
}

// Removes the directories of groups dead for good: allocated (below next_group) but no
// partition's current group, neither hosted nor needed for a seed. A topic deleted or an epoch
// superseded by a promotion while this node was down leaves one: the node never runs those
// replicas again, so the reconciler's stop path never sees them. An old epoch's directory is
// counted first (ReportDiscardedAtRest): the promotion discarded what it held past the promotion
// point, and this node may be the only one that can say how much.
void RemoveDeadGroupDirs(Broker::State& state) {
  absl::StatusOr<std::vector<std::string>> names = state.runtime.disk().ListDir("groups");
  if (!names.ok()) {
    state.Log(fmt::format("cannot list the group directories: {}", names.status().ToString()));
    return;
  }
  // Decide first, from this version of the metadata: counting suspends, and a group found dead
  // stays dead (ids are never reused), so acting on the decision later is never wrong.
  const cluster::ClusterMetadata& metadata = state.controller_machine->metadata;
  absl::btree_set<uint64_t> current;
  absl::btree_map<uint64_t, std::pair<std::string, cluster::PartitionRecord>> superseded;
  for (const auto& [name, topic] : metadata.topics()) {
    for (const cluster::PartitionRecord& partition : topic.partitions) {
      current.insert(partition.group);
      if (partition.previous_group != 0) superseded[partition.previous_group] = {name, partition};
    }
  }
  std::vector<uint64_t> dead;
  for (const std::string& name : *names) {
    uint64_t group = 0;
    if (!absl::SimpleAtoi(name, &group) || group < cluster::kFirstPartitionGroup ||
        group >= metadata.next_group() || current.contains(group) ||
        state.partitions.contains(group) || NeededForSeed(state, group)) {
      continue;
    }
    dead.push_back(group);
  }
  for (uint64_t group : dead) {
    if (state.stopped) return;
    auto old = superseded.find(group);
    if (old != superseded.end())
      ReportDiscardedAtRest(state, old->second.first, old->second.second);
    MERIDIAN_PROBE("broker: a dead group's directory left from before a restart is removed");
    state.Log(
        fmt::format("removing the directory of group {}, dead since before this node "
                    "restarted",
                    group));
    if (absl::Status s = RemoveGroupData(state, group); !s.ok()) {
      state.Log(fmt::format("cannot remove the data of group {}: {}", group, s.ToString()));
    }
  }
}

// Starts the replicas the metadata assigns to this node and stops (and deletes) the ones it no
// longer does. Runs whenever the metadata changes, and again every kStartRetryInterval while a
// replica failed to start. Returns whether every replica it tried to start started.
bool Reconcile(Broker::State& state) {
  // Decide from a copy: opening a replica suspends, and meanwhile the metadata may change or be
  // replaced wholesale by a snapshot (which invalidates every reference into it). Groups are
  // never reused, so a decision made on an older version is never wrong, only late; the
  // reconciler runs again when the version moves.
  struct ToStart {
    std::string topic;
    cluster::PartitionRecord partition;
  };
  std::vector<ToStart> to_start;
  absl::btree_set<uint64_t> wanted;
  bool all_started = true;
  for (const auto& [name, topic] : state.controller_machine->metadata.topics()) {
    for (const cluster::PartitionRecord& partition : topic.partitions) {
      if (!HostedHere(state, partition)) continue;
      wanted.insert(partition.group);
      if (!state.partitions.contains(partition.group)) to_start.push_back({name, partition});
    }
  }
  for (const ToStart& start : to_start) {
    if (state.stopped) return true;
    if (state.partitions.contains(start.partition.group)) continue;
    if (state.partitions.size() >= Broker::kPartitionsHostedMax) {
      state.Log("too many partitions hosted; not starting more");
      break;
    }
    if (absl::Status s = StartPartition(state, start.topic, start.partition); !s.ok()) {
      all_started = false;
      if (NodeWideLogFailed(state, start.partition.group)) return true;
      // A disk error (EIO) may be transient; damage at rest is not. Retried either way, logged
      // on the 1st, 2nd, 4th, 8th... failure so a permanent one does not flood the log.
      const uint32_t failures = ++state.start_failures[start.partition.group];
      if ((failures & (failures - 1)) == 0) {
        state.Log(fmt::format("cannot start {}/{} (group {}; failure {}, retried every {}): {}",
                              start.topic, start.partition.partition, start.partition.group,
                              failures, io::FormatDuration(kStartRetryInterval), s.ToString()));
      }
    } else {
      state.start_failures.erase(start.partition.group);
    }
  }
  std::vector<uint64_t> unwanted;
  for (const auto& [group, hosted] : state.partitions) {
    if (!wanted.contains(group) && !NeededForSeed(state, group)) unwanted.push_back(group);
  }
  for (uint64_t group : unwanted) {
    const HostedPartition& old = state.partitions[group];
    const cluster::TopicRecord* topic = state.controller_machine->metadata.FindTopic(old.topic);
    if (topic != nullptr && old.partition < topic->partitions.size() &&
        topic->partitions[old.partition].previous_group == group) {
      ReportDiscardedSuffix(state, old, topic->partitions[old.partition]);
    }
    state.partitions[group].replica->Shutdown();
    state.partitions.erase(group);
    state.coordinators.erase(group);
    if (absl::Status s = RemoveGroupData(state, group); !s.ok()) {
      state.Log(fmt::format("cannot remove the data of group {}: {}", group, s.ToString()));
    }
  }
  RemoveDeadGroupDirs(state);
  state.metrics.partitions_hosted = state.partitions.size();
  for (auto it = state.start_failures.begin(); it != state.start_failures.end();) {
    it = wanted.contains(it->first) ? std::next(it) : state.start_failures.erase(it);
  }
  return all_started;
}

void RunReconciler(std::shared_ptr<Broker::State> state) {
  uint64_t seen_version = ~uint64_t{0};
  io::Instant retry_at = io::Instant::Infinite();  // Set while a replica failed to start.
  while (!state->stopped) {
    const uint64_t version = state->controller_machine->metadata.version();
    if (version != seen_version || state->runtime.Now() >= retry_at) {
      seen_version = version;
      retry_at =
          Reconcile(*state) ? io::Instant::Infinite() : state->runtime.Now() + kStartRetryInterval;
      continue;  // The metadata may have moved on while replicas were opening.
    }
    absl::Status waited = state->controller_machine->changed.WaitUntil(
        [&] {
          return state->stopped || state->controller_machine->metadata.version() != seen_version;
        },
        retry_at, "metadata change");
    if (!waited.ok() && !absl::IsDeadlineExceeded(waited)) return;
  }
}

// Retention for one hosted partition: the last raft index retention lets go (by size, segment
// granularity; by age, batch granularity on the records' own timestamps), or the current
// snapshot's index if nothing goes.
raft::Index RetentionTarget(const Broker::State& state, const HostedPartition& hosted) {
  const raft::Index none = hosted.replica->snapshot_index();
  const cluster::TopicRecord* topic = state.controller_machine->metadata.FindTopic(hosted.topic);
  if (topic == nullptr) return none;
  raft::Index target = none;
  if (topic->retention_bytes > 0) {
    target = std::max(
        target, hosted.replica->RetentionIndex(static_cast<uint64_t>(topic->retention_bytes)));
  }
  if (topic->retention_ms > 0) {
    const int64_t cutoff = state.runtime.WallClockMillis() - topic->retention_ms;
    target = std::max(target, hosted.machine->state.LastIndexOlderThan(cutoff));
  }
  return std::min(target, hosted.machine->state.applied());
}

// Compacts a partition up to `target`: the snapshot is the partition state at `target`, rolled
// forward from the previous snapshot over the entries retention is about to delete (read from
// the log before they go), so a follower restoring it assigns the same offsets after it.
absl::Status CompactPartition(Broker::State& state, const HostedPartition& hosted,
                              raft::Index target) {
  const raft::Index from = hosted.replica->snapshot_index();
  MERIDIAN_CHECK(target > from);
  PartitionState at_target(state.options.planted.partition);
  if (from.value() > 0) {
    if (absl::Status s = at_target.RestoreSnapshot(from, hosted.machine->snapshot_data); !s.ok()) {
      return s;
    }
  }
  raft::Index next = from.next();
  while (next <= target) {
    absl::StatusOr<std::vector<raft::Entry>> entries = hosted.replica->ReadCommitted(next, 1 << 20);
    if (!entries.ok()) return entries.status();
    if (entries->empty()) return absl::UnavailableError("entries to compact are not readable");
    for (const raft::Entry& entry : *entries) {
      if (entry.index > target) break;
      at_target.Apply(entry);
      next = entry.index.next();
    }
  }
  MERIDIAN_CHECK(at_target.applied() == target);
  std::string data = at_target.EncodeSnapshot();
  // The batches leave the partition state (fetches stop finding them) before their segments
  // leave the disk, so no fetch is ever sent to a deleted entry. If raft then refuses, they
  // stay on disk unreadable until the next check compacts them.
  hosted.machine->state.TrimThrough(target);
  absl::Status compacted = hosted.replica->Compact(target, data);
  if (!compacted.ok()) return compacted;
  hosted.machine->snapshot_data = std::move(data);
  return absl::OkStatus();
}

constexpr io::Duration kCompactionLogInterval = std::chrono::minutes(1);

// Counts a refused compaction; logs it unless one was logged within kCompactionLogInterval
// (then says how many went unlogged).
void CompactionRefused(Broker::State& state, const std::string& what) {
  state.metrics.compactions_refused_total++;
  const io::Instant now = state.runtime.Now();
  if (state.compaction_refusal_logged_at.has_value() &&
      now - *state.compaction_refusal_logged_at < kCompactionLogInterval) {
    state.compaction_refusals_unlogged++;
    return;
  }
  state.compaction_refusal_logged_at = now;
  state.Log(fmt::format("{} ({} more refused since the last such line)", what,
                        std::exchange(state.compaction_refusals_unlogged, 0)));
}

void CompactController(Broker::State& state) {
  const replica::Replica& controller = *state.controller;
  const raft::Index applied = state.controller_machine->applied;
  if (applied.value() <
      controller.snapshot_index().value() + state.options.metadata_snapshot_entries) {
    return;
  }
  // The metadata as of `applied` (read without suspending, so the two agree).
  absl::Status s =
      state.controller->Compact(applied, state.controller_machine->metadata.EncodeSnapshot());
  if (s.ok()) {
    state.metrics.snapshots_taken_total++;
  } else {
    CompactionRefused(state, fmt::format("metadata compaction to {} refused: {}",
                                         applied.ToString(), s.ToString()));
  }
}

// Compacts a partition of "__consumer_offsets" behind a snapshot of its groups once
// offsets_snapshot_entries have accumulated. The snapshot is taken at the applied index (the
// partition state and the ledger agree there), read without suspending.
void CompactOffsetsPartition(Broker::State& state, const HostedPartition& hosted) {
  const PartitionMachine& machine = *hosted.machine;
  const raft::Index applied = machine.state.applied();
  if (applied.value() <
      hosted.replica->snapshot_index().value() + state.options.offsets_snapshot_entries) {
    return;
  }
  MERIDIAN_PROBE("broker: an offsets partition compacts behind a snapshot of its groups");
  std::string data = state.options.planted.offsets_snapshot_without_groups
                         ? GroupLedger().EncodeSnapshot(machine.state.EncodeSnapshot())  // PLANTED
                         : machine.ledger->EncodeSnapshot(machine.state.EncodeSnapshot());
  hosted.machine->state.TrimThrough(applied);
  if (absl::Status s = hosted.replica->Compact(applied, data); !s.ok()) {
    CompactionRefused(state, fmt::format("compaction of {}/{} to {} refused: {}", hosted.topic,
                                         hosted.partition, applied.ToString(), s.ToString()));
    return;
  }
  hosted.machine->snapshot_data = std::move(data);
  state.metrics.snapshots_taken_total++;
}

void RunCompactor(std::shared_ptr<Broker::State> state) {
  io::Runtime& rt = state->runtime;
  while (!state->stopped) {
    // Woken early only by Stop (through the metadata wait list).
    const absl::Status waited = state->controller_machine->changed.WaitUntil(
        [&] { return state->stopped; }, rt.Now() + state->options.retention_check_interval,
        "compactor");
    if (!waited.ok() && !absl::IsDeadlineExceeded(waited)) return;
    if (state->stopped) return;
    CompactController(*state);
    std::vector<uint64_t> groups;
    for (const auto& [group, hosted] : state->partitions) groups.push_back(group);
    for (uint64_t group : groups) {
      if (state->stopped) return;
      auto it = state->partitions.find(group);
      if (it == state->partitions.end()) continue;  // Stopped while we compacted another.
      const HostedPartition hosted = it->second;    // Shared pointers: outlives a stop.
      if (hosted.machine->ledger != nullptr) {
        CompactOffsetsPartition(*state, hosted);
        continue;
      }
      const raft::Index target = RetentionTarget(*state, hosted);
      if (target <= hosted.replica->snapshot_index()) continue;
      MERIDIAN_PROBE("broker: retention compacts a partition");
      if (absl::Status s = CompactPartition(*state, hosted, target); s.ok()) {
        state->metrics.snapshots_taken_total++;
      } else {
        CompactionRefused(*state,
                          fmt::format("retention of {}/{} to {} did not run: {}", hosted.topic,
                                      hosted.partition, target.ToString(), s.ToString()));
      }
    }
  }
}

wire::NodeInfoT SelfInfo(const BrokerOptions& options) {
  wire::NodeInfoT info;
  info.id = options.node_id;
  info.region = options.region;
  info.zone = options.zone;
  info.host = options.advertised.host;
  info.port = options.advertised.port;
  info.kafka_address = options.kafka_advertised;
  return info;
}

// Asks the controller leader, over the client protocol, to register `self`.
absl::Status RegisterRemotely(Broker::State& state, cluster::NodeRecord leader,
                              const wire::NodeInfoT& self, io::Instant deadline) {
  wire::RegisterNodeRequestT registration;
  registration.node = std::make_unique<wire::NodeInfoT>(self);
  absl::StatusOr<wire::ClientMessageT> response =
      CallNode(state, std::move(leader), wire::Message(2, std::move(registration)), deadline);
  if (!response.ok()) return response.status();
  if (const wire::ErrorResponseT* error = response->body.AsErrorResponse()) {
    return absl::UnavailableError(error->message);
  }
  return absl::OkStatus();
}

// Keeps this node's record in the metadata current: proposes it directly when this node is the
// controller leader, otherwise sends it to the leader (whose own record says where it is).
void RunRegistration(std::shared_ptr<Broker::State> state) {
  io::Runtime& rt = state->runtime;
  const wire::NodeInfoT self = SelfInfo(state->options);
  const cluster::NodeRecord wanted{self.id,   self.region, self.zone,
                                   self.host, self.port,   self.kafka_address};
  while (!state->stopped) {
    const auto& nodes = state->controller_machine->metadata.nodes();
    auto registered = nodes.find(self.id);
    if (registered != nodes.end() && registered->second == wanted) {
      // Registered; look again when the metadata changes (a re-registration is cheap).
      const uint64_t version = state->controller_machine->metadata.version();
      (void)state->controller_machine->changed.WaitUntil(
          [&] {
            return state->stopped || state->controller_machine->metadata.version() != version;
          },
          io::Instant::Infinite(), "metadata change");
      continue;
    }
    const io::Instant deadline = rt.Now() + std::chrono::seconds(2);
    absl::Status result = absl::UnavailableError("no controller leader known yet");
    if (state->controller->role() == raft::Role::kLeader) {
      wire::MetadataCommandT command;
      wire::NodeRegisterT registration;
      registration.node = std::make_unique<wire::NodeInfoT>(self);
      command.body.Set(std::move(registration));
      result = state->ProposeMetadata(command, deadline).status();
    } else if (auto leader = nodes.find(state->controller->leader().value());
               leader != nodes.end() && leader->first != self.id) {
      result = RegisterRemotely(*state, leader->second, self, deadline);
    }
    if (!result.ok()) (void)rt.Sleep(state->options.registration_retry);
  }
}

}  // namespace

absl::StatusOr<wire::ClientMessageT> NodeConnection::Exchange(wire::ClientMessageT& request,
                                                              io::Instant deadline) {
  MERIDIAN_CHECK(stream != nullptr && reader != nullptr);
  request.request_id = next_request_id++;
  if (absl::Status s = io::WriteFrame(*stream, wire::EncodeClientMessage(request), deadline);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::vector<uint8_t>> frame = reader->Read(deadline);
  if (!frame.ok()) return frame.status();
  absl::StatusOr<std::unique_ptr<wire::ClientMessageT>> response =
      wire::DecodeClientMessage(*frame);
  if (!response.ok()) return response.status();
  return std::move(**response);
}

absl::StatusOr<wire::ClientMessageT> NodeConnection::Call(Broker::State& state,
                                                          cluster::NodeRecord to,
                                                          wire::ClientMessageT request,
                                                          io::Instant deadline) {
  if (stream == nullptr || node != to.id) {
    reader.reset();
    stream.reset();
    absl::StatusOr<std::unique_ptr<io::Stream>> connected =
        state.runtime.network().Connect(io::Address{to.host, to.port}, deadline);
    if (!connected.ok()) return connected.status();
    node = to.id;
    stream = std::move(*connected);
    reader = std::make_unique<io::FrameReader>(*stream, wire::kClientMessageBytesMax);
    wire::HelloRequestT hello;
    hello.version_min = wire::kProtocolVersionMin;
    hello.version_max = wire::kProtocolVersionMax;
    hello.client_id = fmt::format("node-{}", state.options.node_id);
    wire::ClientMessageT hello_message = wire::Message(0, std::move(hello));
    absl::StatusOr<wire::ClientMessageT> answer = Exchange(hello_message, deadline);
    if (answer.ok() && answer->body.AsErrorResponse() != nullptr) {
      answer = absl::UnavailableError(answer->body.AsErrorResponse()->message);
    }
    if (!answer.ok()) {
      Close();
      return answer.status();
    }
  }
  absl::StatusOr<wire::ClientMessageT> response = Exchange(request, deadline);
  if (!response.ok()) Close();  // A stream in an unknown state is not reused.
  return response;
}

void NodeConnection::Close() {
  if (stream != nullptr) stream->Close();
  reader.reset();
  stream.reset();
}

absl::StatusOr<wire::ClientMessageT> CallNode(Broker::State& state, cluster::NodeRecord node,
                                              wire::ClientMessageT request, io::Instant deadline) {
  NodeConnection connection;
  absl::StatusOr<wire::ClientMessageT> response =
      connection.Call(state, std::move(node), std::move(request), deadline);
  connection.Close();
  return response;
}

const cluster::PartitionRecord* CurrentRecord(const Broker::State& state,
                                              const HostedPartition& hosted) {
  const cluster::TopicRecord* topic = state.controller_machine->metadata.FindTopic(hosted.topic);
  if (topic == nullptr || hosted.partition >= topic->partitions.size()) return nullptr;
  const cluster::PartitionRecord& record = topic->partitions[hosted.partition];
  return record.group == hosted.group ? &record : nullptr;
}

absl::StatusOr<cluster::MetadataOutcome> Broker::State::ProposeMetadata(
    const wire::MetadataCommandT& command, io::Instant deadline) {
  const std::vector<uint8_t> bytes = cluster::EncodeCommand(command);
  absl::StatusOr<raft::Index> index =
      controller->ProposeAndWait(std::string(bytes.begin(), bytes.end()), deadline);
  if (!index.ok()) return index.status();
  auto outcome = controller_machine->outcomes.find(*index);
  if (outcome == controller_machine->outcomes.end()) {
    // More than MetadataMachine::kOutcomesKept commands were applied before this fiber resumed.
    return absl::DeadlineExceededError(fmt::format(
        "metadata command at {} applied; its outcome is no longer known", index->ToString()));
  }
  return outcome->second;
}

const HostedPartition* Broker::State::FindHosted(std::string_view topic, uint32_t partition) const {
  const cluster::TopicRecord* record = controller_machine->metadata.FindTopic(topic);
  if (record == nullptr || partition >= record->partitions.size()) return nullptr;
  auto hosted = partitions.find(record->partitions[partition].group);
  return hosted == partitions.end() ? nullptr : &hosted->second;
}

raft::RaftOptions Broker::State::GroupRaftOptions(const std::vector<uint32_t>& voters,
                                                  const std::vector<uint32_t>& learners) const {
  raft::RaftOptions raft = options.raft;
  raft.id = io::NodeId(options.node_id);
  raft.bootstrap = raft::Membership{};
  for (uint32_t voter : voters) raft.bootstrap.voters.insert(io::NodeId(voter));
  for (uint32_t learner : learners) raft.bootstrap.learners.insert(io::NodeId(learner));
  return raft;
}

void WriteBrokerLine(const std::function<void(std::string_view)>& log, uint32_t node_id,
                     std::string_view text) {
  if (log) return log(text);
  fmt::print(stderr, "n{} broker: {}\n", node_id, text);
}

void Broker::State::Log(std::string_view text) const {
  WriteBrokerLine(options.log, options.node_id, text);
}

namespace {

// The broker's own fibers, each for as long as the broker runs.
void SpawnFibers(io::Runtime& runtime, const std::shared_ptr<Broker::State>& state) {
  runtime.Spawn("peer-dispatch", [state] { RunPeerDispatcher(state); });
  runtime.Spawn("reconciler", [state] { RunReconciler(state); });
  runtime.Spawn("registration", [state] { RunRegistration(state); });
  runtime.Spawn("compactor", [state] { RunCompactor(state); });
  runtime.Spawn("groups", [state] { RunGroupCoordinators(state); });
  runtime.Spawn("lease-renewal", [state] { RunLeaseRenewal(state); });
  runtime.Spawn("promoter", [state] { RunPromoter(state); });
  runtime.Spawn("leader-balancer", [state] { RunLeaderBalancer(state); });
  runtime.Spawn("reassigner", [state] { RunReassigner(state); });
  runtime.Spawn("replica-replacer", [state] { RunReplicaReplacer(state); });
  if (state->options.quiesce_idle_partitions) {
    runtime.Spawn("node-liveness", [state] { RunNodeLiveness(state); });
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Broker>> Broker::Start(io::Runtime& runtime, BrokerOptions options) {
  if (options.node_id == 0) return absl::InvalidArgumentError("node id 0 is reserved");
  if (options.controller_voters.empty()) {
    return absl::InvalidArgumentError("the controller needs at least one voter");
  }
  const auto listed = [&](const std::vector<uint32_t>& ids) {
    return std::find(ids.begin(), ids.end(), options.node_id) != ids.end();
  };
  if (!listed(options.controller_voters) && !listed(options.controller_learners)) {
    return absl::InvalidArgumentError(fmt::format(
        "node {} is neither a voter nor a learner of the metadata group", options.node_id));
  }
  // A deposed controller leader may grant leases for up to an election timeout (check-quorum)
  // after its successor took over; the successor waits promotion_delay from its own election.
  const io::Duration election_max =
      options.tick * (2 * static_cast<int64_t>(options.raft.election_timeout_ticks));
  const io::Duration lease_with_drift =
      options.regional_lease * (100 + options.raft.drift_bound_percent) / 100;
  if (options.regional_lease <= io::Duration(0) ||
      (options.promotion_delay != io::Duration(0) &&
       options.promotion_delay <= lease_with_drift + election_max)) {
    return absl::InvalidArgumentError(fmt::format(
        "promotion_delay {} must exceed the regional lease {} (+{}% drift) plus a controller "
        "election ({}), or be 0 (operator promotion only)",
        io::FormatDuration(options.promotion_delay), io::FormatDuration(options.regional_lease),
        options.raft.drift_bound_percent, io::FormatDuration(election_max)));
  }
  auto state = std::make_shared<State>(runtime, std::move(options));
  // The start time tells this start from the last (the clock is monotonic across a process
  // restart; in the simulator, virtual time) without drawing from the runtime's random stream.
  state->incarnation = static_cast<uint64_t>(runtime.Now().nanos()) + 1;
  state->metrics.buffered_bytes_max = state->memory.bytes_max();
  state->controller_machine = std::make_shared<MetadataMachine>(runtime);
  replica::ReplicaOptions controller_options;
  controller_options.group = cluster::kControllerGroup;
  controller_options.raft =
      state->GroupRaftOptions(state->options.controller_voters, state->options.controller_learners);
  // Never quiescent: the metadata group's messages are the controller's evidence that nodes
  // are alive (Replica::LastHeardFrom), and its leader must notice a lost node at once.
  controller_options.raft.quiesce_after_ticks = 0;
  if (state->options.adjust_group_raft) {
    state->options.adjust_group_raft(cluster::kControllerGroup, "", 0, controller_options.raft);
  }
  controller_options.tick = state->options.tick;
  controller_options.dir = GroupDir(cluster::kControllerGroup);
  if (absl::Status s = OpenNodeWideLog(*state); !s.ok()) return s;
  UseNodeWideLog(*state, controller_options);
  controller_options.state_machine = state->controller_machine;
  controller_options.on_fail_stop = OnReplicaFailStop(state->options, cluster::kControllerGroup);
  absl::StatusOr<bool> groups_exist = runtime.disk().Exists("groups");
  if (!groups_exist.ok()) return groups_exist.status();
  if (!*groups_exist) {
    if (absl::Status s = runtime.disk().CreateDir("groups"); !s.ok()) return s;
    if (absl::Status s = runtime.disk().SyncDir(""); !s.ok()) return s;
  }
  absl::StatusOr<std::shared_ptr<replica::Replica>> controller =
      OpenReplica(*state, controller_options, "the controller's metadata log");
  if (!controller.ok()) return controller.status();
  state->controller = *controller;
  SpawnFibers(runtime, state);
  return std::unique_ptr<Broker>(new Broker(state));
}

Broker::~Broker() { Stop(); }

void Broker::Stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  state_->controller->Shutdown();
  for (auto& [group, hosted] : state_->partitions) hosted.replica->Shutdown();
  state_->controller_machine->changed.NotifyAll();
}

AdmittedRequest Broker::Admit(const wire::ClientMessageT& request, std::string_view client_id,
                              uint64_t frame_bytes) {
  return AdmittedRequest(
      state_, std::string(client_id),
      std::make_unique<Admission>(AdmitRequest(*state_, client_id, request, frame_bytes)));
}

wire::ClientMessageT Broker::Run(AdmittedRequest admitted, const wire::ClientMessageT& request,
                                 const Principal& principal) {
  MERIDIAN_CHECK(admitted.state_ == state_ && admitted.admission_ != nullptr,
                 "an admitted request runs once, on the broker that admitted it");
  if (const wire::ClientMessageT* refusal = admitted.refusal()) return *refusal;
  wire::ClientMessageT response = HandleAuthorized(*state_, principal, request);
  admitted.Release(response);
  return response;
}

AdmittedRequest::AdmittedRequest(std::shared_ptr<Broker::State> state, std::string client_id,
                                 std::unique_ptr<Admission> admission)
    : state_(std::move(state)),
      client_id_(std::move(client_id)),
      admission_(std::move(admission)) {}

AdmittedRequest::AdmittedRequest(AdmittedRequest&& other) noexcept = default;

AdmittedRequest& AdmittedRequest::operator=(AdmittedRequest&& other) noexcept {
  if (this != &other) {
    if (admission_ != nullptr) Release(wire::ClientMessageT{});
    state_ = std::move(other.state_);
    client_id_ = std::move(other.client_id_);
    admission_ = std::move(other.admission_);
  }
  return *this;
}

AdmittedRequest::~AdmittedRequest() {
  if (admission_ != nullptr) Release(wire::ClientMessageT{});  // Never ran: nothing to charge.
}

const wire::ClientMessageT* AdmittedRequest::refusal() const {
  return admission_ != nullptr && admission_->refusal.has_value() ? &*admission_->refusal : nullptr;
}

// The response's memory is the caller's from here: core/kafka re-encodes it at once.
void AdmittedRequest::Release(const wire::ClientMessageT& response) {
  FinishRequest(*state_, client_id_, *admission_, response);
  ReleaseReply(*state_, *admission_);
  admission_.reset();
}

const cluster::ClusterMetadata& Broker::metadata() const {
  return state_->controller_machine->metadata;
}
const BrokerMetrics& Broker::metrics() const { return state_->metrics; }

const BrokerLimits& Broker::limits() const { return state_->options.limits; }

std::optional<Broker::NodeWideLogMetrics> Broker::node_wide_log_metrics() const {
  if (state_->wal == nullptr) return std::nullopt;
  MERIDIAN_CHECK(state_->mark_table != nullptr, "opened together");
  return NodeWideLogMetrics{
      .wal = state_->wal->metrics(),
      .mark_table_writes = state_->mark_table->image_writes(),
      .mark_table_write_latency_ns = state_->mark_table->image_write_latency_ns()};
}

uint64_t Broker::raft_messages_dropped() const {
  uint64_t dropped = state_->controller->raft_messages_dropped();
  for (const auto& [group, hosted] : state_->partitions) {
    dropped += hosted.replica->raft_messages_dropped();
  }
  return dropped;
}
uint32_t Broker::node_id() const { return state_->options.node_id; }

bool Broker::LeadsPartition(std::string_view topic, uint32_t partition) const {
  const HostedPartition* hosted = state_->FindHosted(topic, partition);
  return hosted != nullptr && hosted->replica->role() == raft::Role::kLeader;
}

std::vector<PartitionStatus> Broker::PartitionStatuses() const {
  const auto status_of = [](const replica::Replica& replica) {
    PartitionStatus status;
    status.role = replica.role();
    status.leader = replica.leader().value();
    status.term = replica.term().value();
    status.commit_index = replica.commit().value();
    status.applied_index = replica.applied().value();
    status.quiesced = replica.quiesced();
    status.health = replica.health();
    for (io::NodeId voter : replica.membership().voters)
      status.config_voters.push_back(voter.value());
    status.config_index = replica.membership_index().value();
    status.joining = replica.joining();
    return status;
  };
  std::vector<PartitionStatus> statuses;
  statuses.push_back(status_of(*state_->controller));
  statuses.back().group = cluster::kControllerGroup;
  for (const auto& [group, hosted] : state_->partitions) {
    PartitionStatus status = status_of(*hosted.replica);
    status.topic = hosted.topic;
    status.partition = hosted.partition;
    status.group = group;
    status.high_watermark = static_cast<int64_t>(hosted.machine->state.high_watermark().value());
    status.log_start_offset =
        static_cast<int64_t>(hosted.machine->state.log_start_offset().value());
    if (const cluster::PartitionRecord* record = CurrentRecord(*state_, hosted)) {
      status.voters = static_cast<uint32_t>(record->replicas.size());
      status.replication_factor =
          state_->controller_machine->metadata.FindTopic(hosted.topic)->replication_factor;
      status.preferred_leader = record->replicas.empty() ? 0 : record->replicas.front();
      status.preferred_leader_in_sync =
          status.preferred_leader != 0 &&
          hosted.replica->VoterInSync(io::NodeId(status.preferred_leader));
      status.target_voters = static_cast<uint32_t>(record->target_replicas.size());
    }
    statuses.push_back(std::move(status));
  }
  return statuses;
}

std::vector<GroupStatus> Broker::GroupStatuses(size_t committed_max,
                                               size_t* committed_omitted) const {
  std::vector<GroupStatus> statuses;
  size_t copied = 0;
  *committed_omitted = 0;
  for (const auto& [group, hosted] : state_->partitions) {
    const GroupLedger* ledger = hosted.machine->ledger.get();
    if (ledger == nullptr || hosted.replica->role() != raft::Role::kLeader) continue;
    for (const auto& [name, decided] : ledger->groups()) {
      GroupStatus& status = statuses.emplace_back();
      status.group = name;
      status.generation = decided.generation;
      status.members = static_cast<uint32_t>(decided.members.size());
      const size_t room = committed_max - copied;
      *committed_omitted += decided.offsets.size() - std::min(room, decided.offsets.size());
      for (auto it = decided.offsets.begin(); it != decided.offsets.end() && copied < committed_max;
           ++it, ++copied) {
        status.committed.emplace_back(it->first, it->second.offset);
      }
    }
  }
  return statuses;
}

uint64_t Broker::LiveGroups() const {
  uint64_t live = 0;
  for (const auto& [group, coordinator] : state_->coordinators) {
    auto hosted = state_->partitions.find(group);
    if (hosted == state_->partitions.end()) continue;
    if (hosted->second.replica->role() == raft::Role::kLeader) live += coordinator->live_groups();
  }
  return live;
}

}  // namespace meridian::core::broker
