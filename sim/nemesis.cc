#include "sim/nemesis.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <limits>
#include <utility>

#include "absl/strings/numbers.h"
#include "io/assert.h"
#include "sim/sim_disk.h"
#include "sim/sim_network.h"

namespace meridian::sim {

using std::chrono::milliseconds;

namespace {

constexpr FaultKind kAllKinds[kFaultKinds] = {
    FaultKind::kDrop,
    FaultKind::kDuplicate,
    FaultKind::kDelaySpike,
    FaultKind::kPartition,
    FaultKind::kOneWayPartition,
    FaultKind::kRegionCut,
    FaultKind::kClog,
    FaultKind::kStreamReset,
    FaultKind::kCrash,
    FaultKind::kPause,
    FaultKind::kClockSkew,
    FaultKind::kDiskError,
    FaultKind::kSlowFsync,
    FaultKind::kTornWrite,
    FaultKind::kBitFlip,
    FaultKind::kMisdirectedWrite,
    FaultKind::kDiskFull,
    FaultKind::kRegionLoss,
};

bool IsRunWide(FaultKind kind) {
  return kind == FaultKind::kClockSkew || kind == FaultKind::kTornWrite;
}

bool IsBackground(FaultKind kind) {
  return kind == FaultKind::kDrop || kind == FaultKind::kDuplicate ||
         kind == FaultKind::kDelaySpike || kind == FaultKind::kDiskError ||
         kind == FaultKind::kSlowFsync;
}

}  // namespace

const char* FaultKindName(FaultKind kind) {
  switch (kind) {
    case FaultKind::kDrop:
      return "drop";
    case FaultKind::kDuplicate:
      return "duplicate";
    case FaultKind::kDelaySpike:
      return "delay_spike";
    case FaultKind::kPartition:
      return "partition";
    case FaultKind::kOneWayPartition:
      return "one_way_partition";
    case FaultKind::kRegionCut:
      return "region_cut";
    case FaultKind::kClog:
      return "clog";
    case FaultKind::kStreamReset:
      return "stream_reset";
    case FaultKind::kCrash:
      return "crash";
    case FaultKind::kPause:
      return "pause";
    case FaultKind::kClockSkew:
      return "clock_skew";
    case FaultKind::kDiskError:
      return "disk_error";
    case FaultKind::kSlowFsync:
      return "slow_fsync";
    case FaultKind::kTornWrite:
      return "torn_write";
    case FaultKind::kBitFlip:
      return "bit_flip";
    case FaultKind::kMisdirectedWrite:
      return "misdirected_write";
    case FaultKind::kDiskFull:
      return "disk_full";
    case FaultKind::kRegionLoss:
      return "region_loss";
    case FaultKind::kRegionIsolation:
      return "region_isolation";
    case FaultKind::kZoneIsolation:
      return "zone_isolation";
  }
  MERIDIAN_UNREACHABLE("fault kind {}", static_cast<int>(kind));
}

std::string FaultEvent::ToString() const {
  return fmt::format("{}@{}(target={},length={},rate_ppm={})", FaultKindName(kind),
                     io::FormatDuration(at), target, io::FormatDuration(length), rate_ppm);
}

const absl::btree_set<FaultKind>& ReplicatedLogFaultKinds() {
  static const auto* kinds = new absl::btree_set<FaultKind>{
      FaultKind::kDrop,      FaultKind::kDuplicate,       FaultKind::kDelaySpike,
      FaultKind::kPartition, FaultKind::kOneWayPartition, FaultKind::kRegionCut,
      FaultKind::kClog,      FaultKind::kStreamReset,     FaultKind::kCrash,
      FaultKind::kPause,     FaultKind::kClockSkew,       FaultKind::kSlowFsync,
      FaultKind::kTornWrite, FaultKind::kRegionLoss,
  };
  return *kinds;
}

SwarmConfig ChooseSwarm(io::Random& random, const absl::btree_set<FaultKind>& only) {
  SwarmConfig swarm;
  for (FaultKind kind : kAllKinds) {
    if (only.empty() ? random.Chance(1, 2) : only.contains(kind)) swarm.enabled.insert(kind);
  }
  return swarm;
}

void SortByTime(std::vector<FaultEvent>& schedule) {
  std::stable_sort(schedule.begin(), schedule.end(),
                   [](const FaultEvent& a, const FaultEvent& b) { return a.at < b.at; });
}

std::vector<FaultEvent> GenerateSchedule(io::Random& random, const SwarmConfig& swarm,
                                         const NemesisTargets& targets) {
  MERIDIAN_CHECK(!targets.servers.empty());
  std::vector<FaultEvent> schedule;
  const io::Duration end = swarm.fault_phase;
  for (FaultKind kind : swarm.enabled) {
    if (IsRunWide(kind)) {
      schedule.push_back({io::Duration(0), kind});
      continue;
    }
    if (IsBackground(kind)) {
      const bool disk = kind == FaultKind::kDiskError || kind == FaultKind::kSlowFsync;
      const uint32_t rate = static_cast<uint32_t>(disk ? random.Between(2'000, kDiskRatePpmMax)
                                                       : random.Between(5'000, kNetworkRatePpmMax));
      const uint64_t target = targets.servers[random.Below(targets.servers.size())].value();
      schedule.push_back({io::Duration(0), kind, target, end, rate});
      continue;
    }
    // Discrete kinds: a few occurrences at random times in the fault phase.
    const int64_t occurrences = kind == FaultKind::kRegionLoss ? 1 : random.Between(1, 4);
    for (int64_t i = 0; i < occurrences; i++) {
      FaultEvent event{random.Between(io::Duration(0), end * 9 / 10), kind};
      event.target = random.Next();
      event.length = random.Between(kDiscreteLengthMin, kDiscreteLengthMax);
      // Lost for good (length 0) only where other regions remain: losing the only region
      // forever leaves nothing whose liveness could be checked.
      if (kind == FaultKind::kRegionLoss && targets.regions.size() > 1 && random.Chance(1, 2)) {
        event.length = io::Duration(0);
      }
      schedule.push_back(event);
    }
  }
  SortByTime(schedule);
  return schedule;
}

namespace {

// io::FormatDuration's form ("20s", "1500ms", "7us", "3ns"), read back.
bool ParseDuration(std::string_view text, io::Duration* duration) {
  constexpr std::pair<std::string_view, int64_t> kUnits[] = {
      {"ms", 1'000'000}, {"us", 1'000}, {"ns", 1}, {"s", 1'000'000'000}};
  for (const auto& [suffix, scale] : kUnits) {
    if (!text.ends_with(suffix)) continue;
    int64_t count = 0;
    if (!absl::SimpleAtoi(absl::string_view(text.data(), text.size() - suffix.size()), &count) ||
        count < 0 || count > std::numeric_limits<int64_t>::max() / scale) {
      return false;
    }
    *duration = io::Duration(count * scale);
    return true;
  }
  return false;
}

// "name=value" at the front of `text` (up to `end`), value kept as text.
bool TakeField(std::string_view* text, std::string_view name, char end, std::string_view* value) {
  if (!text->starts_with(name) || text->size() <= name.size() || (*text)[name.size()] != '=') {
    return false;
  }
  text->remove_prefix(name.size() + 1);
  const size_t stop = text->find(end);
  if (stop == std::string_view::npos) return false;
  *value = text->substr(0, stop);
  text->remove_prefix(stop + 1);
  return true;
}

}  // namespace

bool ParseFaultEvent(std::string_view text, FaultEvent* event) {
  const size_t at_sign = text.find('@');
  const size_t open = text.find('(');
  if (at_sign == std::string_view::npos || open == std::string_view::npos || open < at_sign) {
    return false;
  }
  FaultEvent parsed;
  const std::string_view name = text.substr(0, at_sign);
  const auto* kind = std::find_if(std::begin(kAllKinds), std::end(kAllKinds),
                                  [&](FaultKind k) { return name == FaultKindName(k); });
  if (kind == std::end(kAllKinds)) return false;
  parsed.kind = *kind;
  if (!ParseDuration(text.substr(at_sign + 1, open - at_sign - 1), &parsed.at)) return false;
  std::string_view rest = text.substr(open + 1);
  std::string_view target, length, rate;
  if (!TakeField(&rest, "target", ',', &target) || !TakeField(&rest, "length", ',', &length) ||
      !TakeField(&rest, "rate_ppm", ')', &rate) || !rest.empty()) {
    return false;
  }
  if (!absl::SimpleAtoi(absl::string_view(target.data(), target.size()), &parsed.target) ||
      !ParseDuration(length, &parsed.length) ||
      !absl::SimpleAtoi(absl::string_view(rate.data(), rate.size()), &parsed.rate_ppm)) {
    return false;
  }
  *event = parsed;
  return true;
}

std::string FormatSchedule(const std::vector<FaultEvent>& schedule) {
  std::string text;
  for (const FaultEvent& event : schedule) text += (text.empty() ? "" : ";") + event.ToString();
  return text;
}

bool ParseSchedule(std::string_view text, std::vector<FaultEvent>* schedule) {
  std::vector<FaultEvent> parsed;
  while (!text.empty()) {
    const size_t semicolon = std::min(text.find(';'), text.size());
    FaultEvent event;
    if (!ParseFaultEvent(text.substr(0, semicolon), &event)) return false;
    parsed.push_back(event);
    text.remove_prefix(std::min(semicolon + 1, text.size()));
  }
  *schedule = std::move(parsed);
  return true;
}

namespace {

// ExplicitScheduleError for one event: "" or why it is outside the generator's envelope.
std::string EventOutsideEnvelope(const FaultEvent& event, const ScheduleEnvelope& envelope) {
  const io::Duration fault_phase = envelope.fault_phase;
  if (!envelope.kinds->contains(event.kind)) return "the workload's swarm never draws this kind";
  if (IsRunWide(event.kind)) return event.at.count() == 0 ? "" : "a run-wide fault starts at 0s";
  if (IsBackground(event.kind)) {
    const bool disk = event.kind == FaultKind::kDiskError || event.kind == FaultKind::kSlowFsync;
    const uint32_t max = event.kind == FaultKind::kSlowFsync ? envelope.slow_fsync_ppm_max
                         : disk                              ? kDiskRatePpmMax
                                                             : kNetworkRatePpmMax;
    if (event.rate_ppm == 0 || event.rate_ppm > max) {
      return fmt::format("its rate_ppm must be 1 to {}", max);
    }
    return event.at <= fault_phase ? "" : "it starts after the fault phase";
  }
  if (event.at > fault_phase * 9 / 10) return "it starts in the fault phase's last tenth";
  if (event.kind == FaultKind::kRegionLoss && event.length.count() == 0) return "";
  if (event.length < kDiscreteLengthMin || event.length > kDiscreteLengthMax) {
    return fmt::format("its length must be {} to {}", io::FormatDuration(kDiscreteLengthMin),
                       io::FormatDuration(kDiscreteLengthMax));
  }
  return "";
}

}  // namespace

std::string ExplicitScheduleError(const std::vector<FaultEvent>& schedule,
                                  const ScheduleEnvelope& envelope) {
  MERIDIAN_CHECK(envelope.kinds != nullptr, "a schedule envelope names its workload's kinds");
  if (schedule.size() > kExplicitScheduleMaxEvents) {
    return fmt::format("{} events, more than {}", schedule.size(), kExplicitScheduleMaxEvents);
  }
  int region_losses = 0;
  for (size_t i = 0; i < schedule.size(); i++) {
    const FaultEvent& event = schedule[i];
    std::string why = EventOutsideEnvelope(event, envelope);
    if (why.empty() && i > 0 && event.at < schedule[i - 1].at) why = "it is out of time order";
    if (why.empty() && event.kind == FaultKind::kRegionLoss) {
      if (++region_losses > 1) why = "a run has at most one region loss";
      if (event.length.count() == 0 && envelope.regions < 2) {
        why = "losing the only region for good leaves nothing whose liveness could be checked";
      }
    }
    if (!why.empty()) return fmt::format("event {} ({}): {}", i, event.ToString(), why);
  }
  return "";
}

Nemesis::Nemesis(World& world, NemesisTargets targets, FaultAtlas& atlas)
    : world_(world), targets_(std::move(targets)), atlas_(atlas) {
  MERIDIAN_CHECK(!targets_.servers.empty());
  MERIDIAN_CHECK(!targets_.regions.empty());
}

void Nemesis::Install(const std::vector<FaultEvent>& schedule, io::Duration heal_at) {
  const io::Instant start = world_.Now();
  for (const FaultEvent& event : schedule) {
    MERIDIAN_CHECK(event.at <= heal_at, "fault {} after the heal", event.ToString());
    // A region lost for good costs each of its servers every copy it holds: charged before the
    // run, so the atlas keeps damage anywhere else (earlier or later) off what the loss left.
    if (event.kind == FaultKind::kRegionLoss && event.length.count() == 0) {
      for (io::NodeId node : targets_.RegionOf(event)) {
        atlas_.ChargeLossForGood(node);
      }
    }
    world_.Schedule(start + event.at, io::NodeId(0), FaultKindName(event.kind),
                    [this, event] { Apply(event); });
  }
  world_.Schedule(start + heal_at, io::NodeId(0), "heal", [this] { Heal(); });
}

void Nemesis::Block(const std::vector<io::NodeId>& from, const std::vector<io::NodeId>& to) {
  for (io::NodeId a : from) {
    for (io::NodeId b : to) world_.network().Block(a, b);
  }
}

void Nemesis::CrashFor(io::NodeId node, io::Duration length) {
  if (!world_.IsUp(node)) {
    // Down between a fail-stop and its supervisor's restart: a loss for good still stands.
    if (length.count() == 0 && supervised_down_.contains(node)) lost_for_good_.insert(node);
    return;
  }
  world_.Crash(node);
  if (length.count() == 0) {
    lost_for_good_.insert(node);
    return;
  }
  world_.Schedule(world_.Now() + length, node, "restart", [this, node] {
    if (!healed_ && !world_.IsUp(node)) world_.Start(node);
  });
}

void Nemesis::SupervisorRestart(io::NodeId node) {
  world_.Schedule(
      world_.Now(), node, "replica fail-stop: node exits",
      [this, node] {
        if (!world_.IsUp(node)) return;
        world_.Crash(node);
        supervised_down_.insert(node);
        world_.Schedule(world_.Now() + kSupervisorRestartDelay, node, "supervisor restart",
                        [this, node] {
                          supervised_down_.erase(node);
                          if (!world_.IsUp(node) && (auditing_ || !lost_for_good_.contains(node))) {
                            world_.Start(node);
                          }
                        });
      },
      world_.incarnation(node));
}

void Nemesis::Apply(const FaultEvent& event) {
  if (healed_) return;
  const std::vector<io::NodeId>& servers = targets_.servers;
  const io::NodeId one = servers[event.target % servers.size()];
  SimNetwork& network = world_.network();
  const char* name = FaultKindName(event.kind);
  world_.Trace(io::NodeId(0), "nemesis: " + event.ToString());
  switch (event.kind) {
    case FaultKind::kDrop:
      network.set_rates({.drop_ppm = event.rate_ppm,
                         .duplicate_ppm = network.rates().duplicate_ppm,
                         .delay_spike_ppm = network.rates().delay_spike_ppm});
      return;
    case FaultKind::kDuplicate:
      network.set_rates({.drop_ppm = network.rates().drop_ppm,
                         .duplicate_ppm = event.rate_ppm,
                         .delay_spike_ppm = network.rates().delay_spike_ppm});
      return;
    case FaultKind::kDelaySpike:
      network.set_rates({.drop_ppm = network.rates().drop_ppm,
                         .duplicate_ppm = network.rates().duplicate_ppm,
                         .delay_spike_ppm = event.rate_ppm});
      return;
    case FaultKind::kDiskError:
    case FaultKind::kSlowFsync:
      // Every server's disk misbehaves at the rate, so recoveries after crashes meet it too.
      for (io::NodeId server : servers) {
        SimDisk& disk = world_.disk(server);
        DiskFaultRates rates = disk.rates();
        (event.kind == FaultKind::kDiskError ? rates.io_error_ppm : rates.slow_fsync_ppm) =
            event.rate_ppm;
        disk.set_rates(rates);
      }
      return;
    case FaultKind::kTornWrite:
      for (io::NodeId server : servers) {
        DiskFaultRates rates = world_.disk(server).rates();
        rates.torn_writes_on_crash = true;
        world_.disk(server).set_rates(rates);
      }
      return;
    case FaultKind::kClockSkew:
      return;  // Applied by the runner through WorldOptions before any node boots.
    case FaultKind::kPartition:
    case FaultKind::kOneWayPartition: {
      std::vector<io::NodeId> shuffled = servers;
      io::Random split(event.target);
      for (size_t i = shuffled.size(); i > 1; i--)
        std::swap(shuffled[i - 1], shuffled[split.Below(i)]);
      // Both sides get a server when there are two or more; a lone server (the raft workload's
      // --replicas=1) is cut off from the clients that land on the other side.
      const size_t cut =
          shuffled.size() < 2 ? shuffled.size() : 1 + split.Below(shuffled.size() - 1);
      std::vector<io::NodeId> left(shuffled.begin(),
                                   shuffled.begin() + static_cast<ptrdiff_t>(cut));
      std::vector<io::NodeId> right(shuffled.begin() + static_cast<ptrdiff_t>(cut), shuffled.end());
      for (io::NodeId client : targets_.clients)
        (split.Chance(1, 2) ? left : right).push_back(client);
      Block(left, right);
      if (event.kind == FaultKind::kPartition) Block(right, left);
      break;
    }
    case FaultKind::kRegionCut: {
      const auto& region = targets_.RegionOf(event);
      std::vector<io::NodeId> others;
      for (io::NodeId node : world_.nodes()) {
        if (std::find(region.begin(), region.end(), node) == region.end()) others.push_back(node);
      }
      Block(region, others);
      Block(others, region);
      break;
    }
    case FaultKind::kRegionIsolation: {
      const auto& region = targets_.RegionOf(event);
      std::vector<io::NodeId> others;
      for (io::NodeId node : servers) {
        if (std::find(region.begin(), region.end(), node) == region.end()) others.push_back(node);
      }
      Block(region, others);
      Block(others, region);
      break;
    }
    case FaultKind::kZoneIsolation: {
      std::vector<io::NodeId> neighbours;  // The other servers of its region.
      for (const auto& region : targets_.regions) {
        if (std::find(region.begin(), region.end(), one) == region.end()) continue;
        for (io::NodeId node : region) {
          if (node != one) neighbours.push_back(node);
        }
      }
      Block({one}, neighbours);
      Block(neighbours, {one});
      break;
    }
    case FaultKind::kClog: {
      const io::NodeId other = servers[(event.target / 7 + 1) % servers.size()];
      network.Clog(one, other, world_.Now() + event.length);
      network.Clog(other, one, world_.Now() + event.length);
      world_.RecordFault(name);
      return;
    }
    case FaultKind::kStreamReset:
      if (network.ResetRandomStream()) world_.RecordFault(name);
      return;
    case FaultKind::kCrash: {
      // Half of the crashes aim at a server with unsynced data, where a crash hurts most.
      io::NodeId victim = one;
      if (event.target % 2 == 0) {
        for (io::NodeId server : servers) {
          if (world_.IsUp(server) && world_.disk(server).has_unsynced_data()) victim = server;
        }
      }
      if (world_.IsUp(victim)) world_.RecordFault(name);
      // Length 0: lost for good (only the node-loss scenario scripts it; an explicit schedule's
      // crash is 1 s or more).
      CrashFor(victim, event.length);
      return;
    }
    case FaultKind::kPause:
      if (!world_.IsUp(one)) return;
      world_.Pause(one, world_.Now() + event.length);
      world_.RecordFault(name);
      return;
    case FaultKind::kBitFlip: {
      io::Random fault_random(event.target);  // Counted by the disk when it lands.
      world_.disk(one).CorruptAtRest(atlas_, fault_random);
      return;
    }
    case FaultKind::kMisdirectedWrite:
      world_.disk(one).MisdirectNextWrite(&atlas_, io::Mix64(event.target));
      return;
    case FaultKind::kDiskFull:
      world_.disk(one).set_capacity(world_.disk(one).bytes_used());
      world_.Schedule(world_.Now() + event.length, one, "disk space freed",
                      [this, one] { world_.disk(one).set_capacity(SimDisk::kBytesMax); });
      return;
    case FaultKind::kRegionLoss: {
      const auto& region = targets_.RegionOf(event);
      for (io::NodeId node : region) CrashFor(node, event.length);
      world_.RecordFault(name);
      return;
    }
  }
  // Partitions and region cuts end after their length unless healed first.
  world_.RecordFault(name);
  world_.Schedule(world_.Now() + event.length, io::NodeId(0), "partition end", [this] {
    if (!healed_) world_.network().HealAll();
  });
}

void Nemesis::Heal() {
  healed_ = true;
  world_.Trace(io::NodeId(0), "nemesis: heal");
  world_.network().HealAll();
  world_.network().set_rates({});
  for (io::NodeId server : targets_.servers) {
    SimDisk& disk = world_.disk(server);
    DiskFaultRates rates = disk.rates();
    rates.io_error_ppm = 0;
    rates.slow_fsync_ppm = 0;
    disk.set_rates(rates);
    disk.set_capacity(SimDisk::kBytesMax);
    disk.MisdirectNextWrite(nullptr);
    if (!world_.IsUp(server) && !lost_for_good_.contains(server)) world_.Start(server);
  }
}

}  // namespace meridian::sim
