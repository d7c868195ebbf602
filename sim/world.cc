#include "sim/world.h"

#include <fmt/format.h>

#include "io/assert.h"
#include "sim/sim_disk.h"
#include "sim/sim_network.h"
#include "sim/sim_runtime.h"

namespace meridian::sim {

struct World::Node {
  io::NodeId id;
  std::string host;
  NodeMain main;
  uint64_t incarnation = 0;  // Incremented at every Start.
  io::Instant paused_until;
  int64_t clock_offset_ns = 0;  // Per incarnation.
  int32_t clock_drift_ppm = 0;  // Per incarnation.
  std::unique_ptr<SimDisk> disk;
  std::unique_ptr<SimRuntime> runtime;  // Null while down.
};

World::World(WorldOptions options)
    : options_(options),
      random_(io::Random(options.seed).Fork("world")),
      network_(std::make_unique<SimNetwork>(*this, options_.topology)) {
  MERIDIAN_CHECK(options.clock_drift_ppm_max >= 0 && options.clock_drift_ppm_max < 10'000);
  MERIDIAN_CHECK(options.fsync_latency_min <= options.fsync_latency_max);
}

World::~World() {
  // Tear nodes down in id order before the network they reference.
  for (auto& node : nodes_) {
    if (node != nullptr) node->runtime.reset();
  }
  events_.clear();
}

World::Node* World::FindNode(io::NodeId node) const {
  return node.value() < nodes_.size() ? nodes_[node.value()].get() : nullptr;
}

World::Node& World::node_at(io::NodeId node) {
  Node* found = FindNode(node);
  MERIDIAN_CHECK(found != nullptr, "unknown node {}", node.ToString());
  return *found;
}

const World::Node& World::node_at(io::NodeId node) const {
  const Node* found = FindNode(node);
  MERIDIAN_CHECK(found != nullptr, "unknown node {}", node.ToString());
  return *found;
}

void World::AddNode(io::NodeId node, std::string host, NodeMain main) {
  AddNode(node, std::move(host), Location{"local", "local-a"}, std::move(main));
}

void World::AddNode(io::NodeId node, std::string host, Location location, NodeMain main) {
  MERIDIAN_CHECK(node.value() < kNodeIdsMax, "node id {} past {}", node.ToString(), kNodeIdsMax);
  MERIDIAN_CHECK(FindNode(node) == nullptr, "node {} added twice", node.ToString());
  if (!options_.topology.has(node)) options_.topology.Place(node, std::move(location));
  for (const auto& other : nodes_) {
    if (other != nullptr) MERIDIAN_CHECK(other->host != host, "host {} twice", host);
  }
  auto entry = std::make_unique<Node>();
  entry->id = node;
  entry->host = std::move(host);
  entry->main = std::move(main);
  entry->disk = std::make_unique<SimDisk>(*this, node);
  if (nodes_.size() <= node.value()) nodes_.resize(node.value() + 1);
  nodes_[node.value()] = std::move(entry);
}

void World::Start(io::NodeId id) {
  Node& node = node_at(id);
  MERIDIAN_CHECK(node.runtime == nullptr, "{} is already up", id.ToString());
  node.incarnation++;
  node.clock_offset_ns = random_.Between(0, options_.clock_offset_max.count());
  node.clock_drift_ppm = static_cast<int32_t>(
      random_.Between(-options_.clock_drift_ppm_max, options_.clock_drift_ppm_max));
  if (node.clock_offset_ns != 0 || node.clock_drift_ppm != 0) RecordFault("clock_skew");
  node.runtime = std::make_unique<SimRuntime>(*this, id, node.incarnation, *node.disk);
  Trace(id, fmt::format("start (incarnation {})", node.incarnation));
  SimRuntime& runtime = *node.runtime;
  runtime.Spawn("main", [&runtime, main = node.main] { main(runtime); });
  RunRunnableFibers();
}

void World::Crash(io::NodeId id) {
  Node& node = node_at(id);
  MERIDIAN_CHECK(node.runtime != nullptr, "{} is already down", id.ToString());
  Trace(id, "crash");
  node.runtime.reset();
  node.disk->Crash();
}

void World::Restart(io::NodeId id) {
  if (IsUp(id)) Crash(id);
  Start(id);
}

bool World::IsUp(io::NodeId node) const { return node_at(node).runtime != nullptr; }

void World::Pause(io::NodeId id, io::Instant until) {
  Node& node = node_at(id);
  node.paused_until = std::max(node.paused_until, until);
  Trace(id, fmt::format("pause until {}", until.ToString()));
}

bool World::IsPaused(io::NodeId node) const { return node_at(node).paused_until > now_; }

io::Instant World::LocalTime(io::NodeId id, io::Instant world_time) const {
  const Node& node = node_at(id);
  // local = offset + world * (1 + drift/1e6), in 128-bit to avoid overflow.
  const __int128 scaled =
      static_cast<__int128>(world_time.nanos()) * (1'000'000 + node.clock_drift_ppm) / 1'000'000;
  return io::Instant::FromNanos(static_cast<int64_t>(scaled) + node.clock_offset_ns);
}

io::Instant World::WorldTimeFor(io::NodeId id, io::Instant local) const {
  if (local.is_infinite()) return local;
  const Node& node = node_at(id);
  const __int128 since_offset = static_cast<__int128>(local.nanos()) - node.clock_offset_ns;
  const __int128 rate = 1'000'000 + node.clock_drift_ppm;
  // Round up so that LocalTime(WorldTimeFor(t)) >= t: a timer never fires early.
  __int128 world = (since_offset * 1'000'000 + rate - 1) / rate;
  while (LocalTime(id, io::Instant::FromNanos(static_cast<int64_t>(world))) < local) world++;
  return io::Instant::FromNanos(static_cast<int64_t>(std::max<__int128>(world, 0)));
}
uint64_t World::incarnation(io::NodeId node) const { return node_at(node).incarnation; }
SimRuntime* World::runtime(io::NodeId node) { return node_at(node).runtime.get(); }
SimDisk& World::disk(io::NodeId node) { return *node_at(node).disk; }
const std::string& World::host(io::NodeId node) const { return node_at(node).host; }

std::vector<io::NodeId> World::nodes() const {
  std::vector<io::NodeId> ids;
  for (const auto& node : nodes_) {
    if (node != nullptr) ids.push_back(node->id);
  }
  return ids;
}

io::TimerId World::Schedule(io::Instant at, io::NodeId node, const char* kind,
                            std::function<void()> action, uint64_t incarnation) {
  MERIDIAN_CHECK(at >= now_, "event '{}' scheduled in the past", kind);
  MERIDIAN_CHECK(!at.is_infinite());
  const EventKey key{at.nanos(), next_sequence_++};
  events_.emplace(key, Event{node, incarnation, kind, std::move(action)});
  return io::TimerId{key.first, key.second};
}

void World::Cancel(io::TimerId event) {
  events_.erase(EventKey{event.deadline_ns, event.sequence});
}

void World::RunRunnableFibers() {
  // Nodes in id order; repeat while any fiber became runnable (a fiber may wake another node's
  // fiber only through events, so one pass usually suffices).
  bool ran = true;
  while (ran) {
    ran = false;
    for (auto& node : nodes_) {
      if (node != nullptr && node->runtime != nullptr &&
          node->runtime->scheduler().runnable_fibers() > 0) {
        node->runtime->scheduler().RunUntilIdle();
        ran = true;
      }
    }
  }
}

void World::FoldIntoTraceHash(const EventKey& key, const Event& event) {
  uint64_t h = trace_hash_;
  h = io::Mix64(h ^ static_cast<uint64_t>(key.first));
  h = io::Mix64(h ^ event.node.value());
  h = io::Mix64(h ^ io::HashLabel(event.kind));
  h = io::Mix64(h ^ random_.draws());
  const Node* node = FindNode(event.node);
  if (node != nullptr && node->runtime != nullptr) {
    h = io::Mix64(h ^ node->runtime->random().draws());
  }
  trace_hash_ = h;
}

bool World::Step() {
  if (events_.empty() || !livelock_.empty()) return false;
  MERIDIAN_CHECK(events_executed_ < kEventsMax, "event budget exhausted");
  auto it = events_.begin();
  const EventKey key = it->first;
  const int64_t second = key.first / 1'000'000'000;
  if (second != events_second_) {
    events_second_ = second;
    events_in_second_ = 0;
  }
  if (++events_in_second_ > kEventsPerVirtualSecondMax) {
    livelock_ = fmt::format(
        "livelock: more than {} events within virtual second {} (a message storm: the nodes "
        "keep answering each other and virtual time stands still)",
        kEventsPerVirtualSecondMax, second);
    Trace(io::NodeId(0), livelock_);
    return false;
  }
  Event event = std::move(it->second);
  events_.erase(it);
  MERIDIAN_CHECK(key.first >= now_.nanos(), "time went backwards");
  now_ = io::Instant::FromNanos(key.first);
  if (const Node* owner = FindNode(event.node); owner != nullptr) {
    const Node& node = *owner;
    if (event.incarnation != 0 &&
        (node.runtime == nullptr || node.incarnation != event.incarnation)) {
      return true;
    }
    if (node.paused_until > now_) {  // A paused node runs nothing: the event waits, in order.
      events_.emplace(EventKey{node.paused_until.nanos(), next_sequence_++}, std::move(event));
      return true;
    }
  }
  events_executed_++;
  FoldIntoTraceHash(key, event);
  if (tracing() && std::string_view(event.kind) != "timer") Trace(event.node, event.kind);
  event.action();
  RunRunnableFibers();
  return true;
}

void World::RunUntil(io::Instant deadline) {
  while (!events_.empty() && events_.begin()->first.first <= deadline.nanos()) {
    if (!Step()) return;  // A livelock: time cannot pass.
  }
  if (deadline > now_) now_ = deadline;
}

bool World::RunUntil(const std::function<bool()>& done, io::Instant deadline) {
  while (!done()) {
    if (!livelock_.empty()) return false;
    if (events_.empty() || events_.begin()->first.first > deadline.nanos()) {
      if (deadline > now_) now_ = deadline;
      return done();
    }
    Step();
  }
  return true;
}

void World::Trace(io::NodeId node, std::string_view text) {
  if (!trace_sink_) return;
  trace_sink_(fmt::format("t={} {} {}", now_.ToString(), node.ToString(), text));
}

bool World::ShouldInjectFault(std::string_view site) {
  if (!options_.buggify) return false;
  auto [it, first_query] = buggify_sites_.try_emplace(std::string(site), false);
  if (first_query) it->second = random_.Chance(1, 4);
  if (!it->second || !random_.Chance(1, 4)) return false;
  faults_injected_[it->first]++;
  return true;
}

}  // namespace meridian::sim
