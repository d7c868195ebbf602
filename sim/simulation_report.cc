// Repro commands, JSON lines, parsing of CLI names, and shrinking of failing schedules.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <string_view>
#include <utility>

#include "io/assert.h"
#include "sim/simulation.h"

namespace meridian::sim {
namespace {

std::string JoinIndices(const std::vector<size_t>& indices) {
  std::string out;
  for (size_t index : indices) out += (out.empty() ? "" : ",") + std::to_string(index);
  return out;
}

template <typename Map>
std::string JsonCounts(const Map& counts) {
  std::string out = "{";
  for (const auto& [name, count] : counts) {
    out += fmt::format("{}\"{}\":{}", out.size() > 1 ? "," : "", JsonEscape(name), count);
  }
  return out + "}";
}

bool Fails(const SimulationOptions& base, const std::vector<size_t>& keep, int* runs) {
  SimulationOptions options = base;
  options.keep_faults = keep;
  (*runs)++;
  return !RunSimulation(options).ok();
}

}  // namespace

std::string JsonEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<int>(c));
        } else {
          out += c;
        }
    }
  }
  return out;
}

namespace {

using BrokerBugs = core::broker::BrokerPlantedBugs;
// The broker's on/off planted bugs by --bug name (parsed and printed in repro commands).
constexpr std::pair<std::string_view, bool BrokerBugs::*> kBrokerSwitches[] = {
    {"ack-before-quorum", &BrokerBugs::ack_before_quorum},
    {"ack-before-fsync", &BrokerBugs::ack_before_fsync},
    {"skip-crc", &BrokerBugs::skip_crc_checks},
    {"fetch-above-hwm", &BrokerBugs::fetch_above_high_watermark},
    // Needs --near_reads: only followers serve it.
    {"follower-fetch-above-hwm", &BrokerBugs::follower_fetch_above_high_watermark},
    {"strong-voters-share-a-region", &BrokerBugs::strong_voters_share_a_region},
    {"promote-without-fencing", &BrokerBugs::promote_without_fencing},
    {"stale-tail-served", &BrokerBugs::stale_tail_served},
    {"observer-in-write-quorum", &BrokerBugs::observer_in_write_quorum},
    {"leaders-stay-put", &BrokerBugs::leaders_stay_put},
    // Needs --change_consistency.
    {"mode-change-plans-old-mode", &BrokerBugs::mode_change_plans_old_mode},
    // Needs --scenario=node-loss.
    {"replacement-keeps-lost-copies", &BrokerBugs::replacement_keeps_lost_copies},
    {"failback-forgotten", &BrokerBugs::failback_forgotten},
    {"rpo-under-reported", &BrokerBugs::rpo_under_reported},
    {"zombie-commit-accepted", &BrokerBugs::zombie_commit_accepted},
    {"assign-one-partition-twice", &BrokerBugs::assign_one_partition_twice},
    {"offsets-snapshot-without-groups", &BrokerBugs::offsets_snapshot_without_groups},
    {"memory-bound-ignored", &BrokerBugs::memory_bound_ignored},
    {"quiesced-follower-ignores-leader-loss", &BrokerBugs::quiesced_follower_ignores_leader_loss},
};

// The regional failover's flags, when they differ from the defaults.
std::string RegionalFailoverFlags(const SimulationOptions& options) {
  std::string flags;
  if (options.promotion_delay != SimulationOptions{}.promotion_delay) {
    flags += fmt::format(
        " --promotion_delay_ms={}",
        std::chrono::duration_cast<std::chrono::milliseconds>(options.promotion_delay).count());
  }
  if (options.failback_delay != SimulationOptions{}.failback_delay) {
    flags += fmt::format(
        " --failback_delay_ms={}",
        std::chrono::duration_cast<std::chrono::milliseconds>(options.failback_delay).count());
  }
  const core::broker::BrokerPlantedBugs& bugs = options.broker_bugs;
  if (bugs.reassignment == core::broker::ReassignmentPlantedBug::kVoterBeforeCaughtUp) {
    flags += " --bug=reassign-voter-early";
  }
  if (bugs.reassignment == core::broker::ReassignmentPlantedBug::kRemoveBeforeAdd) {
    flags += " --bug=reassign-remove-first";
  }
  return flags;
}

// Both workloads' raft flags: the planted raft bug and the election schedule.
std::string PlantedBugAndScheduleFlags(const SimulationOptions& options) {
  std::string flags;
  if (options.raft_bug != core::raft::PlantedBug::kNone)
    flags += fmt::format(" --bug={}", core::raft::PlantedBugName(options.raft_bug));
  if (options.election_schedule.has_value())
    flags += fmt::format(" --election_faults={}", ElectionScheduleName(*options.election_schedule));
  return flags;
}

// The raft workload's own flags.
std::string RaftFlags(const SimulationOptions& options) {
  std::string flags = fmt::format(" --replicas={}", options.raft_replicas);
  flags += PlantedBugAndScheduleFlags(options);
  if (options.raft_damage_at_rest.has_value())
    flags += *options.raft_damage_at_rest ? " --damage_at_rest" : " --damage_at_rest=false";
  if (options.raft_transfers.has_value())
    flags += fmt::format(" --transfers={}", *options.raft_transfers ? "on" : "off");
  if (options.raft_slow_acks.has_value())
    flags += fmt::format(" --slow_acks={}", *options.raft_slow_acks ? "on" : "off");
  if (options.raft_lease_rivals.has_value())
    flags += fmt::format(" --lease_rivals={}", *options.raft_lease_rivals ? "on" : "off");
  if (options.raft_membership.has_value())
    flags += fmt::format(" --membership={}", *options.raft_membership ? "on" : "off");
  if (options.election_window.has_value())
    flags += fmt::format(" --election_window={}", *options.election_window);
  return flags;
}

// The broker workload's raft flags: its planted raft bug and the election schedule's settings.
std::string BrokerRaftFlags(const SimulationOptions& options) {
  std::string flags = PlantedBugAndScheduleFlags(options);
  if (options.election_window_on_controller) flags += " --election_window_on_controller";
  if (options.election_window.has_value()) {
    flags += fmt::format(" --election_window={}", *options.election_window);
  }
  return flags;
}

}  // namespace

std::string ReproCommand(const SimulationOptions& options) {
  const bool raft = options.workload == "raft";
  std::string command =
      fmt::format("bazel run //sim:meridian-sim -- --seed={}{} --duration={} --heal={}",
                  options.seed, raft ? " --workload=raft" : " --scenario=" + options.scenario,
                  std::chrono::duration_cast<std::chrono::seconds>(options.fault_phase).count(),
                  std::chrono::duration_cast<std::chrono::seconds>(options.heal_phase).count());
  if (raft) command += RaftFlags(options);
  if (!raft) command += BrokerRaftFlags(options);
  if (options.clients != 0) command += fmt::format(" --clients={}", options.clients);
  if (options.partitions != 0) command += fmt::format(" --partitions={}", options.partitions);
  if (!options.consistency.empty()) command += " --consistency=" + options.consistency;
  if (!options.change_consistency.empty()) {
    command += " --change_consistency=" + options.change_consistency;
  }
  if (!options.only_kinds.empty()) {
    std::string kinds;
    for (FaultKind kind : options.only_kinds)
      kinds += (kinds.empty() ? "" : ",") + std::string(FaultKindName(kind));
    command += " --kinds=" + kinds;
  }
  if (options.schedule.has_value())
    command += " --schedule='" + FormatSchedule(*options.schedule) + "'";
  if (options.keep_faults.has_value()) {
    command += " --faults=" + (options.keep_faults->empty() ? std::string("none")
                                                            : JoinIndices(*options.keep_faults));
  }
  for (const auto& [name, field] : kBrokerSwitches) {
    if (options.broker_bugs.*field) command += fmt::format(" --bug={}", name);
  }
  command += RegionalFailoverFlags(options);
  if (options.broker_bugs.partition ==
      core::broker::PartitionPlantedBug::kForgetProducerStateOnApply) {
    command += " --bug=forget-producer-state";
  }
  if (options.broker_bugs.partition == core::broker::PartitionPlantedBug::kSnapshotWithoutState) {
    command += " --bug=snapshot-without-state";
  }
  if (options.group_members != 0)
    command += fmt::format(" --group_members={}", options.group_members);
  if (options.group_consumer_bug == core::client::GroupConsumerPlantedBug::kCommitAheadOfConsumed) {
    command += " --bug=group-commit-ahead";
  }
  if (options.producer_bug == core::client::ProducerPlantedBug::kKeyHashFnv) {
    command += " --bug=client-key-hash";
  }
  if (options.producer_bug == core::client::ProducerPlantedBug::kRestampRefusedAlone) {
    command += " --bug=client-restamp-alone";
  }
  if (options.buggify != SimulationOptions::Buggify::kSeedChooses) {
    command +=
        options.buggify == SimulationOptions::Buggify::kOn ? " --buggify=on" : " --buggify=off";
  }
  if (options.storage != SimulationOptions::Storage::kSeedChooses && options.workload != "raft") {
    command += options.storage == SimulationOptions::Storage::kNodeWide
                   ? " --storage=node_wide"
                   : " --storage=per_partition";
  }
  if (options.plant_nondeterminism) command += " --plant_nondeterminism";
  if (options.near_reads) command += " --near_reads";
  return command;
}

// The broker workload's latency and region-loss figures, as JSON members with a trailing comma
// (empty for workloads that do not measure them).
std::string GeoJson(const SimulationResult& result) {
  if (result.consistency.empty()) return "";
  std::string out =
      fmt::format("\"consistency\":\"{}\",\"produce_ms\":{{\"p50\":{:.1f},\"p99\":{:.1f}}},",
                  result.consistency, result.produce_p50_ms, result.produce_p99_ms);
  out += fmt::format("\"leaders_off_preferred\":{},", result.leaders_off_preferred);
  if (!result.partitions_lost_for_good.empty()) {
    out += fmt::format("\"partitions_lost_for_good\":[{}],",
                       fmt::join(result.partitions_lost_for_good, ","));
  }
  if (result.rpo_records.has_value())
    out += fmt::format("\"rpo_records\":{},", *result.rpo_records);
  if (result.rto_s.has_value()) out += fmt::format("\"rto_s\":{:.3f},", *result.rto_s);
  if (!result.mode_change.empty()) {
    out += fmt::format("\"mode_change\":\"{}\",", result.mode_change);
    if (result.mode_change_s.has_value()) {
      out += fmt::format("\"mode_change_s\":{:.3f},", *result.mode_change_s);
    }
  }
  if (const std::optional<SpikeReport>& spike = result.spike; spike.has_value()) {
    out += fmt::format(
        "\"spike\":{{\"produce_requests\":{},\"shed\":{},\"shed_fraction\":{:.4f},"
        "\"admitted_p50_ms\":{:.1f},\"admitted_p99_ms\":{:.1f},\"drain_s\":{:.3f},"
        "\"buffered_bytes_peak\":{},\"buffered_bytes_max\":{}}},",
        spike->produce_requests, spike->shed, spike->shed_fraction, spike->admitted_p50_ms,
        spike->admitted_p99_ms, spike->drain_s, spike->buffered_bytes_peak,
        spike->buffered_bytes_max);
  }
  if (result.rpo_acked_lost.has_value()) {
    out += fmt::format("\"promotions\":{},\"rpo_acked_lost\":{},\"under_replicated\":{},",
                       result.promotions, *result.rpo_acked_lost, result.under_replicated);
    std::string restored;
    for (bool partition : result.replication_restored) {
      restored += fmt::format("{}{}", restored.empty() ? "" : ",", partition);
    }
    std::string home;
    for (bool partition : result.partitions_home) {
      home += fmt::format("{}{}", home.empty() ? "" : ",", partition);
    }
    out += fmt::format(
        "\"replication_restored\":[{}],\"partitions_home\":[{}],\"reassignment_steps\":{},",
        restored, home, result.reassignment_steps);
  }
  out += fmt::format("\"fetch_bytes\":{{\"total\":{},\"cross_region\":{},\"near_reads\":{}}},",
                     result.fetch_bytes, result.fetch_bytes_cross_region, result.near_reads);
  out += fmt::format("\"raft_safety_seen\":{{\"leaderships\":{},\"applies\":{}}},",
                     result.raft_leaderships_seen, result.raft_applies_seen);
  out += fmt::format(
      "\"election_faults\":{{\"schedule\":\"{}\",\"target\":\"{}\",\"episodes\":{},"
      "\"window\":{}}},",
      JsonEscape(result.election_faults), JsonEscape(result.election_target),
      result.election_episodes, result.election_window);
  return out;
}

// A number, or null when unset.
std::string OptionalJson(const std::optional<double>& value) {
  return value.has_value() ? fmt::format("{:.1f}", *value) : "null";
}

// The raft workload's figures, as a JSON member with a trailing comma (empty for others).
std::string RaftJson(const SimulationResult& result) {
  if (!result.raft.has_value()) return "";
  const RaftReport& raft = *result.raft;
  return fmt::format(
      "\"raft\":{{\"replicas\":{},\"bug\":\"{}\",\"election_faults\":\"{}\","
      "\"election_episodes\":{},\"leaders_elected\":{},\"elected_after_heal_ms\":{},"
      "\"elected_after_audit_ms\":{},\"replication_window\":{},"
      "\"transfers\":{},\"membership_changes\":{}}},",
      raft.replicas, JsonEscape(raft.bug), JsonEscape(raft.election_faults), raft.election_episodes,
      raft.leaders_elected, OptionalJson(raft.elected_after_heal_ms),
      OptionalJson(raft.elected_after_audit_ms), raft.replication_window,
      raft.transfers.has_value() ? std::to_string(*raft.transfers) : "null",
      raft.membership_changes.has_value() ? std::to_string(*raft.membership_changes) : "null");
}

std::string ResultJson(const SimulationResult& result, double wall_s, const std::string& repro) {
  const std::string verdict = result.ok() ? "ok" : result.violations.front();
  std::string violations = "[";
  for (const std::string& violation : result.violations) {
    violations += fmt::format("{}\"{}\"", violations.size() > 1 ? "," : "", JsonEscape(violation));
  }
  violations += "]";
  return fmt::format(
      "{{\"seed\":{},\"scenario\":\"{}\",\"workload\":\"{}\",\"topics\":{},\"partitions\":{},"
      "\"clients\":{},\"buggify\":{},\"virtual_s\":{:.3f},\"wall_s\":{:.3f},\"events\":{},"
      "\"trace_hash\":\"{:016x}\",\"faults\":{},\"ops\":{{\"ok\":{},\"fail\":{},\"info\":{}}},"
      "\"schedule_events\":{},\"verdict\":\"{}\",\"violations\":{},\"probes\":{},{}{}"
      "\"repro\":\"{}\"}}",
      result.seed, JsonEscape(result.scenario), JsonEscape(result.workload), result.topics,
      result.partitions, result.clients, result.buggify, result.virtual_s, wall_s, result.events,
      result.trace_hash, JsonCounts(result.faults), result.ops_ok, result.ops_fail, result.ops_info,
      result.schedule.size(), JsonEscape(verdict), violations, JsonCounts(result.probes),
      GeoJson(result) + RaftJson(result),
      result.storage.empty() ? "" : fmt::format("\"storage\":\"{}\",", result.storage),
      JsonEscape(repro));
}

std::vector<size_t> ShrinkSchedule(const SimulationOptions& failing, int* runs) {
  *runs = 0;
  SimulationOptions base = failing;
  base.keep_faults.reset();
  const SimulationResult original = RunSimulation(base);
  (*runs)++;
  MERIDIAN_CHECK(!original.ok(), "seed {} does not fail: nothing to shrink", failing.seed);
  std::vector<size_t> current;
  if (failing.keep_faults.has_value()) {
    current = *failing.keep_faults;
  } else {
    for (size_t i = 0; i < original.schedule_generated; i++) current.push_back(i);
  }
  if (Fails(base, {}, runs)) return {};  // Fails with no faults at all.
  size_t granularity = 2;
  while (current.size() >= 2) {
    const size_t chunk = (current.size() + granularity - 1) / granularity;
    bool reduced = false;
    for (size_t start = 0; start < current.size() && !reduced; start += chunk) {
      std::vector<size_t> complement(current.begin(),
                                     current.begin() + static_cast<ptrdiff_t>(start));
      complement.insert(
          complement.end(),
          current.begin() + static_cast<ptrdiff_t>(std::min(start + chunk, current.size())),
          current.end());
      if (Fails(base, complement, runs)) {
        current = complement;
        granularity = std::max<size_t>(granularity - 1, 2);
        reduced = true;
      }
    }
    if (reduced) continue;
    if (granularity >= current.size()) break;
    granularity = std::min(granularity * 2, current.size());
  }
  return current;
}

bool ParseFaultKind(std::string_view name, FaultKind* kind) {
  for (int i = 0; i < kFaultKinds; i++) {
    const auto candidate = static_cast<FaultKind>(i);
    if (name == FaultKindName(candidate)) {
      *kind = candidate;
      return true;
    }
  }
  return false;
}

bool ParseRaftPlantedBug(std::string_view name, core::raft::PlantedBug* bug) {
  // Every planted bug, those past kPlantedBugLast too (the broker's and damage at rest's).
  const auto last = static_cast<int>(core::raft::kPlantedBugFinal);
  for (int i = 0; i <= last; i++) {
    const auto candidate = static_cast<core::raft::PlantedBug>(i);
    if (name == core::raft::PlantedBugName(candidate)) {
      *bug = candidate;
      return true;
    }
  }
  return false;
}

bool ParseBrokerPlantedBug(std::string_view name, core::broker::BrokerPlantedBugs* bugs) {
  for (const auto& [bug, field] : kBrokerSwitches) {
    if (name != bug) continue;
    bugs->*field = true;
    return true;
  }
  if (name == "forget-producer-state") {
    bugs->partition = core::broker::PartitionPlantedBug::kForgetProducerStateOnApply;
    return true;
  }
  if (name == "snapshot-without-state") {
    bugs->partition = core::broker::PartitionPlantedBug::kSnapshotWithoutState;
    return true;
  }
  if (name == "reassign-voter-early") {
    bugs->reassignment = core::broker::ReassignmentPlantedBug::kVoterBeforeCaughtUp;
    return true;
  }
  if (name == "reassign-remove-first") {
    bugs->reassignment = core::broker::ReassignmentPlantedBug::kRemoveBeforeAdd;
    return true;
  }
  return false;
}

bool ParseProducerPlantedBug(std::string_view name, core::client::ProducerPlantedBug* bug) {
  if (name == "client-key-hash") {
    *bug = core::client::ProducerPlantedBug::kKeyHashFnv;
  } else if (name == "client-restamp-alone") {
    *bug = core::client::ProducerPlantedBug::kRestampRefusedAlone;
  } else {
    return false;
  }
  return true;
}

bool ParseGroupConsumerPlantedBug(std::string_view name,
                                  core::client::GroupConsumerPlantedBug* bug) {
  if (name != "group-commit-ahead") return false;
  *bug = core::client::GroupConsumerPlantedBug::kCommitAheadOfConsumed;
  return true;
}

}  // namespace meridian::sim
