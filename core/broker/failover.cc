// Regional failover on a node (core/broker/README.md "Regional failover"; the metadata side is
// core/cluster/promotion.h):
//   - the data lease: a replica of a regional topic is served only while the controller
//     leader recently confirmed that this node had applied the latest metadata;
//   - the promoter: the controller leader promotes a regional partition whose voters all went
//     without renewing a lease for promotion_delay (or when an operator asks);
//   - seeding the promoted group on its source, and reporting what an old-epoch replica
//     discards when it learns of the promotion.
#include <fmt/format.h>

#include "core/broker/broker_state.h"
#include "core/cluster/promotion.h"
#include "core/replica/seed.h"
#include "core/replica/storage.h"
#include "io/assert.h"
#include "io/probe.h"

namespace meridian::core::broker {
namespace {

using wire::ErrorCode;
using wire::ErrorMessage;

// A topic name no topic can have: a lease renewal asks for no topic.
constexpr char kNoTopic[] = ".";
constexpr io::Duration kPromoterPeriod = std::chrono::milliseconds(200);
constexpr io::Duration kProgressTimeout = std::chrono::seconds(1);
constexpr io::Duration kPromotionRetry = std::chrono::seconds(1);
constexpr uint64_t kSeedReadBytesMax = 1 << 20;

// True when this node hosts a replica that needs (or is about to need) a data lease.
bool HostsRegionalReplica(const Broker::State& state) {
  for (const auto& [group, hosted] : state.partitions) {
    const cluster::TopicRecord* topic = state.controller_machine->metadata.FindTopic(hosted.topic);
    if (topic != nullptr && topic->UnderRegionalRules()) return true;
  }
  return false;
}

// The controller leader's commit index: read here when this node leads, else asked of it.
absl::StatusOr<uint64_t> ControllerCommit(Broker::State& state, NodeConnection& connection,
                                          io::Instant deadline) {
  if (state.controller->role() == raft::Role::kLeader) return state.controller->commit().value();
  const auto& nodes = state.controller_machine->metadata.nodes();
  auto leader = nodes.find(state.controller->leader().value());
  if (leader == nodes.end()) return absl::UnavailableError("no controller leader known");
  wire::MetadataRequestT request;
  request.topics = {kNoTopic};
  request.lease_for_node = state.options.node_id;
  absl::StatusOr<wire::ClientMessageT> response =
      connection.Call(state, leader->second, wire::Message(0, std::move(request)), deadline);
  if (!response.ok()) return response.status();
  const wire::MetadataResponseT* metadata = response->body.AsMetadataResponse();
  if (metadata == nullptr || metadata->controller_commit == 0) {
    return absl::UnavailableError("the node asked is not the controller leader");
  }
  return metadata->controller_commit;
}

// One renewal: the lease runs from before the question, and only once this node has applied
// everything the controller leader had committed when it answered.
absl::Status RenewLease(Broker::State& state, NodeConnection& connection) {
  const io::Instant asked = state.runtime.Now();
  const io::Instant deadline = asked + state.options.regional_lease;
  absl::StatusOr<uint64_t> commit = ControllerCommit(state, connection, deadline);
  if (!commit.ok()) return commit.status();
  MetadataMachine& machine = *state.controller_machine;
  if (absl::Status s = machine.changed.WaitUntil(
          [&] { return state.stopped || machine.applied.value() >= *commit; }, deadline,
          "metadata caught up for a lease");
      !s.ok()) {
    return s;
  }
  state.lease_until = std::max(state.lease_until, asked + state.options.regional_lease);
  return absl::OkStatus();
}

// Records in an entry's batch (0 for no-ops, config entries and bytes that are not a batch).
uint64_t RecordsIn(const raft::Entry& entry) {
  if (entry.kind != raft::EntryKind::kNormal || entry.data.empty()) return 0;
  absl::StatusOr<const wire::RecordBatch*> batch = wire::VerifyRecordBatch(
      std::span(reinterpret_cast<const uint8_t*>(entry.data.data()), entry.data.size()));
  return batch.ok() ? (*batch)->records()->size() : 0;
}

// What `old` holds after the promotion point: the records it applied past promoted_offset,
// plus every record in its log after what it applied (or after promoted_index, if it applied
// less), committed or not — an upper bound on the acknowledged records the promotion lost,
// which a node holding the last acknowledged one reaches (it holds the committed prefix).
absl::StatusOr<uint64_t> CountDiscarded(const HostedPartition& old,
                                        const cluster::PartitionRecord& current) {
  const PartitionState& state = old.machine->state;
  const raft::Index promoted(current.promoted_index);
  uint64_t records = 0;
  raft::Index next = promoted.next();
  if (state.applied() >= promoted) {
    const int64_t applied_after =
        static_cast<int64_t>(state.high_watermark().value()) - current.promoted_offset;
    records = static_cast<uint64_t>(std::max<int64_t>(0, applied_after));
    next = state.applied().next();
  }
  while (true) {
    absl::StatusOr<std::vector<raft::Entry>> entries =
        old.replica->ReadLocalTail(next, kSeedReadBytesMax);
    if (!entries.ok()) return entries.status();
    if (entries->empty()) return records;
    for (const raft::Entry& entry : *entries) records += RecordsIn(entry);
    next = entries->back().index.next();
  }
}

std::string Name(const std::string& topic, uint32_t partition) {
  return fmt::format("{}/{}", topic, partition);
}

absl::StatusOr<std::vector<cluster::ObserverProgress>> AskObservers(
    Broker::State& state, const cluster::PartitionRecord& current) {
  std::vector<cluster::ObserverProgress> progress;
  for (uint32_t observer : current.observers) {
    const auto& nodes = state.controller_machine->metadata.nodes();
    auto node = nodes.find(observer);
    if (node == nodes.end()) continue;
    const cluster::NodeRecord record = node->second;  // The metadata may change meanwhile.
    absl::StatusOr<wire::ClientMessageT> response =
        CallNode(state, record, wire::Message(4, wire::ReplicaStatusRequestT{}),
                 state.runtime.Now() + kProgressTimeout);
    if (!response.ok()) continue;
    const wire::ReplicaStatusResponseT* status = response->body.AsReplicaStatusResponse();
    if (status == nullptr) continue;
    for (const auto& replica : status->replicas) {
      if (replica != nullptr && replica->group == current.group) {
        progress.push_back({observer, replica->applied_index, replica->high_watermark});
      }
    }
  }
  return progress;
}

// Since when no voter of `partition` renewed a data lease here (the leader's own election
// if none did since): silence this leader can vouch for.
io::Instant VotersSilentSince(const Broker::State& state,
                              const cluster::PartitionRecord& partition) {
  io::Instant since = state.leading_since;
  // An epoch this leader saw begin (a new topic, a promotion) had no voter to hear from before.
  if (auto seen = state.groups_seen.find(partition.group); seen != state.groups_seen.end()) {
    since = std::max(since, seen->second);
  }
  for (uint32_t voter : partition.replicas) {
    if (voter == state.options.node_id) return io::Instant::Infinite();  // Alive: it is us.
    auto grant = state.lease_grants.find(voter);
    if (grant != state.lease_grants.end()) since = std::max(since, grant->second);
  }
  return since;
}

// A topic that came under regional rules by a mode change may have voters from before it, which
// serve it without a data lease until their metadata shows the change. A voter whose lease this
// leader granted after it saw the topic so (its answer carried a commit index past the change,
// and a node takes a lease only once it has applied that far) knows; one that never renewed
// since may not, and promoting past it could leave two epochs taking writes. So such a
// partition is promoted automatically only once every voter has renewed since; an operator who
// knows the old voters are gone can still promote it (`meridian topic promote`).
bool VotersKnowTheRegime(const Broker::State& state, const cluster::PartitionRecord& partition,
                         io::Instant regime_seen) {
  for (uint32_t voter : partition.replicas) {
    if (voter == state.options.node_id) continue;  // This node applied the change.
    auto grant = state.lease_grants.find(voter);
    if (grant == state.lease_grants.end() || grant->second <= regime_seen) {
      MERIDIAN_PROBE("broker: a promotion waits for a voter to renew after a mode change");
      return false;
    }
  }
  return true;
}

// Plans and proposes the promotion of `topic`/`partition` at its current epoch.
absl::StatusOr<wire::PartitionPromoteT> Promote(Broker::State& state, const std::string& topic,
                                                uint32_t partition, io::Duration silence_required,
                                                io::Instant deadline) {
  const cluster::TopicRecord* record = state.controller_machine->metadata.FindTopic(topic);
  if (record == nullptr || partition >= record->partitions.size()) {
    return absl::NotFoundError(fmt::format("no partition {}", Name(topic, partition)));
  }
  const cluster::PartitionRecord current = record->partitions[partition];
  absl::StatusOr<std::vector<cluster::ObserverProgress>> progress = AskObservers(state, current);
  if (!progress.ok()) return progress.status();
  absl::StatusOr<wire::PartitionPromoteT> plan =
      cluster::PlanPromotion(state.controller_machine->metadata, topic, partition, *progress);
  if (!plan.ok()) return plan.status();
  // Asking took time: a voter may have renewed its lease meanwhile. From here to the proposal
  // nothing suspends, and no voter of it gets a lease until the promotion is settled.
  if (state.runtime.Now() - VotersSilentSince(state, current) < silence_required) {
    return absl::FailedPreconditionError(
        "a voter renewed its data lease while observers were asked");
  }
  for (uint32_t voter : current.replicas) state.fenced_voters.insert(voter);
  struct Unfence {
    Broker::State& state;
    const std::vector<uint32_t>& voters;
    ~Unfence() {
      for (uint32_t voter : voters) state.fenced_voters.erase(voter);
    }
  } unfence{state, current.replicas};
  if (state.options.on_promotion) {
    state.options.on_promotion(
        {PromotionEvent::Kind::kProposed, topic, partition, plan->epoch, plan->promoted_offset, 0});
  }
  wire::MetadataCommandT command;
  command.body.Set(*plan);
  absl::StatusOr<cluster::MetadataOutcome> outcome = state.ProposeMetadata(command, deadline);
  // Refused before it entered the log, or applied as a refusal: the promotion certainly did not
  // happen (a deadline or a lost outcome might still have let it commit: those say nothing).
  const absl::Status& refused = outcome.ok() ? outcome->status : outcome.status();
  const bool certainly_not =
      !refused.ok() &&
      (outcome.ok() || absl::IsFailedPrecondition(refused) || absl::IsUnavailable(refused) ||
       absl::IsAborted(refused) || absl::IsResourceExhausted(refused));
  if (certainly_not && state.options.on_promotion) {
    state.options.on_promotion({PromotionEvent::Kind::kAbandoned, topic, partition, plan->epoch,
                                plan->promoted_offset, 0});
  }
  if (!refused.ok()) return refused;
  state.metrics.promotions_total++;
  state.Log(fmt::format(
      "promoted {} to epoch {}: node {} continues from offset {} (old group "
      "{}); old-epoch records from that offset on are discarded",
      Name(topic, partition), plan->epoch, plan->source, plan->promoted_offset, current.group));
  return plan;
}

}  // namespace

void NoteControllerLeadership(Broker::State& state) {
  MERIDIAN_CHECK(state.controller->role() == raft::Role::kLeader);
  if (state.controller->term() == state.leading_term) return;
  state.leading_term = state.controller->term();
  state.leading_since = state.runtime.Now();
  state.lease_grants.clear();
  state.groups_seen.clear();
  state.regional_seen.clear();
}

namespace {

// The controller leader's failure detector, one pass: the partitions overdue for promotion.
std::vector<std::pair<std::string, uint32_t>> Overdue(Broker::State& state) {
  std::vector<std::pair<std::string, uint32_t>> overdue;
  if (state.controller->role() != raft::Role::kLeader) return overdue;
  NoteControllerLeadership(state);
  if (state.options.promotion_delay == io::Duration(0)) return overdue;
  for (const auto& [name, topic] : state.controller_machine->metadata.topics()) {
    if (!topic.UnderRegionalRules()) continue;
    const io::Instant regime_seen =
        state.regional_seen.try_emplace(name, state.runtime.Now()).first->second;
    for (const cluster::PartitionRecord& partition : topic.partitions) {
      state.groups_seen.try_emplace(partition.group, state.runtime.Now());
      const io::Instant silent = VotersSilentSince(state, partition);
      if (silent.is_infinite() || state.runtime.Now() - silent < state.options.promotion_delay) {
        continue;
      }
      if (topic.regional_by_change && !state.options.planted.promote_before_voters_know_regime &&
          !VotersKnowTheRegime(state, partition, regime_seen)) {
        continue;  // The planted bug skips this wait.
      }
      overdue.emplace_back(name, partition.partition);
    }
  }
  return overdue;
}

}  // namespace

bool DataLeaseHeld(Broker::State& state, const cluster::TopicRecord& topic) {
  if (!topic.UnderRegionalRules()) return true;
  if (state.options.planted.promote_without_fencing) return true;  // PLANTED BUG.
  if (state.runtime.Now() < state.lease_until) return true;
  MERIDIAN_PROBE("broker: a regional replica refused a request without a data lease");
  state.metrics.lease_refusals_total++;
  return false;
}

wire::ClientMessageT GrantLease(Broker::State& state, uint64_t id, uint32_t node) {
  if (state.controller->role() != raft::Role::kLeader) {
    return ErrorMessage(id, ErrorCode::NotLeader, "this node is not the controller leader",
                        state.controller->leader().value());
  }
  (void)Overdue(state);  // Starts this leadership's bookkeeping if it has not yet.
  if (state.fenced_voters.contains(node)) {
    // A voter of a partition being promoted: no lease until the promotion is settled.
    return ErrorMessage(id, ErrorCode::Failed, "a promotion of one of your partitions is pending");
  }
  if (node != 0 && state.controller_machine->metadata.nodes().contains(node)) {
    state.lease_grants[node] = state.runtime.Now();
  }
  wire::MetadataResponseT response;
  response.controller_leader = state.options.node_id;
  response.controller_commit = state.controller->commit().value();
  return wire::Message(id, std::move(response));
}

void RunLeaseRenewal(std::shared_ptr<Broker::State> state) {
  io::Runtime& rt = state->runtime;
  const io::Duration period = state->options.regional_lease / 4;
  NodeConnection connection;
  while (!state->stopped) {
    io::Duration wait = period;
    if (HostsRegionalReplica(*state) && !RenewLease(*state, connection).ok()) {
      wait = std::min(period, io::Duration(std::chrono::milliseconds(100)));
    }
    if (!rt.Sleep(wait).ok()) break;
  }
  connection.Close();
}

void RunPromoter(std::shared_ptr<Broker::State> state) {
  io::Runtime& rt = state->runtime;
  absl::btree_map<std::pair<std::string, uint32_t>, io::Instant> retry_at;
  while (!state->stopped) {
    if (!rt.Sleep(kPromoterPeriod).ok()) return;
    for (const auto& [topic, partition] : Overdue(*state)) {
      if (state->stopped) return;
      auto retry = retry_at.find({topic, partition});
      if (retry != retry_at.end() && rt.Now() < retry->second) continue;
      retry_at[{topic, partition}] = rt.Now() + kPromotionRetry;
      MERIDIAN_PROBE("broker: the controller promotes a regional partition");
      absl::StatusOr<wire::PartitionPromoteT> promoted =
          Promote(*state, topic, partition, state->options.promotion_delay,
                  rt.Now() + std::chrono::seconds(5));
      if (!promoted.ok()) {
        state->Log(fmt::format("promotion of {} did not happen: {}", Name(topic, partition),
                               promoted.status().ToString()));
      }
    }
  }
}

wire::ClientMessageT HandlePromotePartition(Broker::State& state, uint64_t id,
                                            const wire::PromotePartitionRequestT& request) {
  if (state.controller->role() != raft::Role::kLeader) {
    return ErrorMessage(id, ErrorCode::NotLeader, "this node is not the controller leader",
                        state.controller->leader().value());
  }
  (void)Overdue(state);
  const cluster::TopicRecord* topic = state.controller_machine->metadata.FindTopic(request.topic);
  if (topic == nullptr || request.partition >= topic->partitions.size()) {
    return ErrorMessage(id, ErrorCode::UnknownTopicOrPartition,
                        fmt::format("no partition {}", Name(request.topic, request.partition)));
  }
  // Safe only once no old voter can still hold a lease (it may be acknowledging writes).
  const io::Duration lease_max =
      state.options.regional_lease * (100 + state.options.raft.drift_bound_percent) / 100 +
      state.options.tick * (2 * static_cast<int64_t>(state.options.raft.election_timeout_ticks));
  const io::Instant silent = VotersSilentSince(state, topic->partitions[request.partition]);
  if (silent.is_infinite() || state.runtime.Now() - silent < lease_max) {
    return ErrorMessage(
        id, ErrorCode::Failed,
        fmt::format("a voter of {} renewed its data lease within {}: it may still "
                    "acknowledge writes; promote once it is gone that long",
                    Name(request.topic, request.partition), io::FormatDuration(lease_max)));
  }
  absl::StatusOr<wire::PartitionPromoteT> promoted =
      Promote(state, request.topic, request.partition, lease_max,
              state.runtime.Now() + std::chrono::seconds(10));
  if (!promoted.ok()) {
    return ErrorMessage(id, ErrorCode::Failed, std::string(promoted.status().message()));
  }
  wire::PromotePartitionResponseT response;
  response.epoch = promoted->epoch;
  response.source = promoted->source;
  response.promoted_offset = promoted->promoted_offset;
  return wire::Message(id, std::move(response));
}

absl::Status SeedPromotedGroup(Broker::State& state, const cluster::PartitionRecord& partition) {
  if (partition.epoch == 0 || partition.source != state.options.node_id) return absl::OkStatus();
  io::Disk& disk = state.runtime.disk();
  absl::StatusOr<bool> seeded = replica::SeededGroupComplete(disk, GroupDir(partition.group));
  if (!seeded.ok()) return seeded.status();
  if (*seeded) return absl::OkStatus();  // Seeded before a restart.
  auto old = state.partitions.find(partition.previous_group);
  if (old == state.partitions.end()) {
    return absl::FailedPreconditionError(fmt::format(
        "cannot seed group {}: the old group {} is not hosted here; promote again to another "
        "observer",
        partition.group, partition.previous_group));
  }
  const std::shared_ptr<replica::Replica> source = old->second.replica;
  // Through everything applied here: at least the promotion point; more if the old epoch's
  // committed log reached this node after the controller asked (a returning home region
  // catching it up). Either way a committed prefix; the reported RPO then over-counts by the
  // difference, never under.
  const raft::Index through = source->applied();
  if (through.value() < partition.promoted_index) {
    return absl::FailedPreconditionError(
        fmt::format("cannot seed group {} through {}: the old group applied only {}",
                    partition.group, partition.promoted_index, through.ToString()));
  }
  replica::GroupSeed seed;
  absl::StatusOr<std::optional<raft::Snapshot>> base =
      replica::LoadSnapshot(disk, GroupDir(partition.previous_group));
  if (!base.ok()) return base.status();
  seed.base = *base;
  raft::Index next = seed.base.has_value() ? seed.base->meta.index.next() : raft::Index(1);
  while (next <= through) {
    absl::StatusOr<std::vector<raft::Entry>> entries =
        source->ReadCommitted(next, kSeedReadBytesMax);
    if (!entries.ok()) return entries.status();
    if (entries->empty()) return absl::UnavailableError("the old group's entries are not readable");
    for (raft::Entry& entry : *entries) {
      if (entry.index > through) break;
      next = entry.index.next();
      // The old group's configuration changes (reassignments) are not the new group's, whose
      // membership is the promotion's: each stays as an empty entry, like a leader's no-op,
      // which the partition applies as it did the change (nothing), so no index moves.
      if (entry.kind == raft::EntryKind::kConfig) {
        MERIDIAN_PROBE("broker: a promotion seed turns an old configuration change into a no-op");
        entry.kind = raft::EntryKind::kNormal;
        entry.membership = {};
        entry.data.clear();
      }
      seed.entries.push_back(std::move(entry));
    }
  }
  seed.membership = state.GroupRaftOptions(partition.replicas, partition.observers).bootstrap;
  MERIDIAN_PROBE("broker: a promoted observer seeds the new epoch's group");
  state.Log(fmt::format("seeding group {} (epoch {}) from group {} through {} (promoted at {})",
                        partition.group, partition.epoch, partition.previous_group,
                        through.ToString(), partition.promoted_index));
  return replica::WriteSeededGroup(state.runtime, GroupDir(partition.group), seed,
                                   state.options.segment_bytes);
}

namespace {

void ReportDiscarded(Broker::State& state, const std::string& topic,
                     const cluster::PartitionRecord& current, uint64_t old_group,
                     uint64_t records) {
  uint64_t reported = records;
  if (state.options.planted.rpo_under_reported && reported > 0) reported--;  // PLANTED BUG.
  if (reported > 0) {
    MERIDIAN_PROBE("broker: an old-epoch replica discards records after the promotion point");
    state.Log(
        fmt::format("{}: epoch {} began at offset {}; discarding {} record(s) this node "
                    "held after it in the old epoch (group {})",
                    Name(topic, current.partition), current.epoch, current.promoted_offset,
                    reported, old_group));
  }
  state.metrics.promotion_records_discarded_total += reported;
  if (state.options.on_promotion) {
    state.options.on_promotion({PromotionEvent::Kind::kDiscarded, topic, current.partition,
                                current.epoch, current.promoted_offset, reported});
  }
}

// CountDiscarded for an old-epoch replica that is not running: every record its directory
// holds after the promotion point (the upper bound CountDiscarded takes when the replica
// applied less than promoted_index; what it applied is not known at rest), those a snapshot
// past the promotion point compacted included.
absl::StatusOr<uint64_t> CountDiscardedAtRest(Broker::State& state,
                                              const cluster::PartitionRecord& current) {
  const raft::Index promoted(current.promoted_index);
  uint64_t records = 0;
  absl::StatusOr<std::optional<raft::Snapshot>> snapshot = replica::ReadGroupAtRest(
      state.runtime, GroupDir(current.previous_group), state.wal, promoted, [&](raft::Entry entry) {
        records += RecordsIn(entry);
        return absl::OkStatus();
      });
  if (!snapshot.ok()) return snapshot.status();
  if (snapshot->has_value() && (*snapshot)->meta.index > promoted) {
    PartitionState compacted;
    if (absl::Status s = compacted.RestoreSnapshot((*snapshot)->meta.index, (*snapshot)->data);
        !s.ok()) {
      return s;
    }
    records += static_cast<uint64_t>(std::max<int64_t>(
        0, static_cast<int64_t>(compacted.high_watermark().value()) - current.promoted_offset));
  }
  return records;
}

}  // namespace

void ReportDiscardedSuffix(Broker::State& state, const HostedPartition& old,
                           const cluster::PartitionRecord& current) {
  MERIDIAN_CHECK(current.previous_group == old.group);
  absl::StatusOr<uint64_t> records = CountDiscarded(old, current);
  if (!records.ok()) {
    state.Log(fmt::format("{}: the old epoch's suffix could not be counted: {}",
                          Name(old.topic, old.partition), records.status().ToString()));
    return;
  }
  ReportDiscarded(state, old.topic, current, old.group, *records);
}

void ReportDiscardedAtRest(Broker::State& state, const std::string& topic,
                           const cluster::PartitionRecord& current) {
  MERIDIAN_CHECK(current.previous_group != 0);
  MERIDIAN_CHECK(!state.partitions.contains(current.previous_group));
  absl::StatusOr<uint64_t> records = CountDiscardedAtRest(state, current);
  if (!records.ok()) {
    state.Log(fmt::format(
        "{}: the old epoch's suffix (group {}, at rest) could not be "
        "counted: {}",
        Name(topic, current.partition), current.previous_group, records.status().ToString()));
    return;
  }
  if (*records > 0) {
    MERIDIAN_PROBE("broker: an old epoch's directory at rest held records after the promotion");
  }
  ReportDiscarded(state, topic, current, current.previous_group, *records);
}

}  // namespace meridian::core::broker
