// jepsen::Nemesis (nemesis.h).
#include "tests/jepsen/nemesis.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "io/assert.h"

namespace meridian::tests::jepsen {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int64_t kClockSkewMaxS = 2 * 24 * 3600;
constexpr io::Duration kPowerOffFor = milliseconds(500);

}  // namespace

Nemesis::Nemesis(io::Runtime& runtime, core::client::Client& client, Cluster& cluster,
                 NemesisOptions options)
    : rt_(runtime),
      client_(client),
      cluster_(cluster),
      options_(std::move(options)),
      random_(options_.seed) {
  MERIDIAN_CHECK(!options_.faults.empty());
}

void Nemesis::Run(io::Instant until) {
  // Round robin from a random start: every class of a short run gets its turn.
  for (size_t turn = random_() % options_.faults.size(); rt_.Now() < until; turn++) {
    const std::string& fault = options_.faults[turn % options_.faults.size()];
    counts_[fault]++;
    Inject(fault);
    RestartDownNodes();
    const int64_t rest_ms =
        std::chrono::duration_cast<milliseconds>(options_.rest_max - options_.rest_min).count();
    (void)rt_.Sleep(options_.rest_min + milliseconds(random_() % (rest_ms + 1)));
  }
}

void Nemesis::Hold() {
  const int64_t span_ms =
      std::chrono::duration_cast<milliseconds>(options_.fault_max - options_.fault_min).count();
  (void)rt_.Sleep(options_.fault_min + milliseconds(random_() % (span_ms + 1)));
}

int Nemesis::RandomNode() { return 1 + static_cast<int>(random_() % cluster_.nodes().size()); }

std::set<int> Nemesis::RandomMinority() {
  const int n = static_cast<int>(cluster_.nodes().size());
  const int size = 1 + static_cast<int>(random_() % std::max(1, (n - 1) / 2));
  std::vector<int> ids;
  for (int id = 1; id <= n; id++) ids.push_back(id);
  std::shuffle(ids.begin(), ids.end(), random_);
  return std::set<int>(ids.begin(), ids.begin() + size);
}

void Nemesis::Inject(const std::string& fault) {
  if (fault == "kill" || fault == "pause") {
    KillOrPause(RandomNode(), fault == "kill", "");
  } else if (fault == "partition" || fault == "oneway" || fault == "region") {
    Network(fault);
  } else if (fault == "leader") {
    Leader();
  } else if (fault == "clock") {
    Clock();
  } else if (fault == "disk") {
    const int id = RandomNode();
    cluster_.Event(fmt::format("nemesis: fill n{}'s disk", id));
    absl::Status filled = cluster_.FillDisk(id);
    MERIDIAN_CHECK(filled.ok(), "{}", filled.ToString());
    Hold();
    cluster_.Event(fmt::format("nemesis: free n{}'s disk", id));
    cluster_.FreeDisk(id);
    if (options_.disk_heal_restart) {
      // A log that hit ENOSPC stays failed after space is back (README.md, "Findings"): the
      // node needs the restart an operator would give it.
      (void)rt_.Sleep(seconds(1));
      cluster_.Event(fmt::format("nemesis: restart n{} after its disk was full", id));
      cluster_.Kill(id);
      cluster_.Start(id);
    }
  } else if (fault == "powercut" || fault == "powercut-all") {
    PowerCut(fault == "powercut-all" || random_() % 2 == 0, fault == "powercut-all");
  } else if (fault == "bitflip") {
    BitFlip();
  } else {
    MERIDIAN_CHECK(false, "unknown fault {}", fault);
  }
}

void Nemesis::KillOrPause(int id, bool kill, const char* who) {
  if (kill) {
    cluster_.Event(fmt::format("nemesis: kill -9 {}n{}", who, id));
    cluster_.Kill(id);
    Hold();
    cluster_.Start(id);
  } else {
    cluster_.Event(fmt::format("nemesis: SIGSTOP {}n{}", who, id));
    cluster_.Pause(id);
    Hold();
    cluster_.Event(fmt::format("nemesis: SIGCONT n{}", id));
    cluster_.Resume(id);
  }
}

void Nemesis::Network(const std::string& fault) {
  std::set<int> side = RandomMinority();
  if (fault == "region") {
    const int region = 1 + static_cast<int>(random_() % cluster_.options().regions);
    side.clear();
    for (const Node& n : cluster_.nodes()) {
      if (n.region == region) side.insert(n.id);
    }
  }
  cluster_.Event(fmt::format("nemesis: {} {{{}}} from the rest{}", fault, fmt::join(side, ","),
                             fault == "oneway" ? " (their links out dropped, one way)" : ""));
  if (fault == "oneway") {
    for (int from : side) {
      for (const Node& to : cluster_.nodes()) {
        if (!side.contains(to.id)) cluster_.Block(from, to.id);
      }
    }
  } else {
    cluster_.Partition(side);
  }
  Hold();
  cluster_.Event("nemesis: heal the network");
  cluster_.HealNetwork();
}

void Nemesis::Clock() {
  const int id = RandomNode();
  const auto skew = [&] {
    return static_cast<int64_t>(random_() % (2 * kClockSkewMaxS + 1)) - kClockSkewMaxS;
  };
  const int64_t first = skew();
  cluster_.Event(fmt::format("nemesis: n{} wall clock {:+d} s", id, first));
  cluster_.SetClockOffset(id, first);
  Hold();
  const int64_t second = skew();
  cluster_.Event(fmt::format("nemesis: n{} wall clock jumps to {:+d} s", id, second));
  cluster_.SetClockOffset(id, second);
  Hold();
  cluster_.Event(fmt::format("nemesis: n{} wall clock back to +0", id));
  cluster_.SetClockOffset(id, 0);
}

int Nemesis::LeaderOfSomePartition() {
  const uint32_t partition = static_cast<uint32_t>(random_() % options_.groups.size());
  for (const Node& n : cluster_.nodes()) {
    if (n.pid <= 0 || n.paused) continue;
    absl::StatusOr<core::wire::ReplicaStatusResponseT> status =
        client_.ReplicaStatus(io::NodeId(n.id));
    if (!status.ok()) continue;
    for (const auto& replica : status->replicas) {
      if (replica->topic == options_.topic && replica->partition == partition &&
          replica->role == "leader") {
        return n.id;
      }
    }
  }
  return 0;
}

void Nemesis::Leader() {
  const int id = LeaderOfSomePartition();
  if (id == 0) {
    cluster_.Event("nemesis: leader: no partition leader found right now; nothing done");
    return;
  }
  if (random_() % 3 == 0) {
    cluster_.Event(fmt::format("nemesis: isolate the leader n{}", id));
    cluster_.Partition({id});
    Hold();
    cluster_.Event("nemesis: heal the network");
    cluster_.HealNetwork();
    return;
  }
  KillOrPause(id, random_() % 2 == 0, "the leader ");
}

void Nemesis::PowerCut(bool all, bool drop_all) {
  std::vector<int> victims;
  if (all) {
    for (const Node& n : cluster_.nodes()) victims.push_back(n.id);
  } else {
    victims.push_back(RandomNode());
  }
  // A coordinated cut (powercut-all) loses every unsynced write: the strongest test of "acked
  // means fsynced on a quorum". A single cut keeps a random prefix half of the time.
  const bool torn = !drop_all && random_() % 2 == 0;
  Hold();  // the cluster recovered from the last cut and takes writes again: cut mid-stream
  cluster_.Event(fmt::format("nemesis: power cut of {{{}}} ({})", fmt::join(victims, ","),
                             torn ? "a prefix of the unsynced writes kept, the last one torn"
                                  : "every unsynced write lost"));
  for (int id : victims) cluster_.Kill(id);  // all at once, before any rollback
  for (int id : victims) {
    absl::StatusOr<RollbackStats> stats = cluster_.PowerCut(
        id, torn ? PowerCutMode::kTornPrefix : PowerCutMode::kDropUnsynced, random_());
    MERIDIAN_CHECK(stats.ok(), "rollback of n{}: {}", id, stats.status().ToString());
    cluster_.Event(fmt::format("nemesis: n{} rolled back: {}", id, stats->ToString()));
  }
  (void)rt_.Sleep(kPowerOffFor);
  for (int id : victims) cluster_.Start(id);
}

void Nemesis::Corrupt(int node, uint64_t group) {
  const std::string dir = fmt::format("{}/groups/{}/log", cluster_.DataDir(node), group);
  std::vector<std::filesystem::path> segments;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    if (entry.path().extension() == ".seg" && entry.file_size() > 64) {
      segments.push_back(entry.path());
    }
  }
  if (segments.empty()) {
    cluster_.Event(
        fmt::format("nemesis: n{} group {}: no segment with data to damage", node, group));
    return;
  }
  std::sort(segments.begin(), segments.end());
  const std::filesystem::path& segment = segments[random_() % segments.size()];
  const uint64_t size = std::filesystem::file_size(segment);
  if (random_() % 3 == 0) {
    const uint64_t keep = random_() % size;
    std::filesystem::resize_file(segment, keep);
    cluster_.Event(fmt::format("nemesis: n{} {} truncated from {} to {} bytes", node,
                               segment.string(), size, keep));
    return;
  }
  const int fd = open(segment.c_str(), O_RDWR | O_CLOEXEC);
  MERIDIAN_CHECK(fd >= 0, "open {}", segment.string());
  const int flips = 1 + static_cast<int>(random_() % 4);
  std::vector<uint64_t> positions;
  for (int i = 0; i < flips; i++) {
    const uint64_t at = random_() % size;
    unsigned char byte = 0;
    MERIDIAN_CHECK(pread(fd, &byte, 1, static_cast<off_t>(at)) == 1);
    byte ^= static_cast<unsigned char>(1u << (random_() % 8));
    MERIDIAN_CHECK(pwrite(fd, &byte, 1, static_cast<off_t>(at)) == 1);
    positions.push_back(at);
  }
  close(fd);
  cluster_.Event(fmt::format("nemesis: n{} {} ({} bytes): bits flipped at byte {}", node,
                             segment.string(), size, fmt::join(positions, ",")));
}

void Nemesis::BitFlip() {
  // Which (node, group) pairs to damage: at most one replica of any partition.
  std::map<int, std::vector<uint64_t>> damage;
  if (random_() % 2 == 0) {
    const auto& some = options_.replicas[random_() % options_.replicas.size()];
    const int id = static_cast<int>(some[random_() % some.size()]);
    for (size_t p = 0; p < options_.groups.size(); p++) {
      const auto& replicas = options_.replicas[p];
      if (std::find(replicas.begin(), replicas.end(), id) != replicas.end()) {
        damage[id].push_back(options_.groups[p]);
      }
    }
  } else {
    for (size_t p = 0; p < options_.groups.size(); p++) {
      const auto& replicas = options_.replicas[p];
      damage[static_cast<int>(replicas[random_() % replicas.size()])].push_back(options_.groups[p]);
    }
  }
  std::vector<int> nodes;
  for (const auto& [id, groups] : damage) nodes.push_back(id);
  cluster_.Event(
      fmt::format("nemesis: bit flips at rest on {{{}}} (stopped first)", fmt::join(nodes, ",")));
  for (int id : nodes) cluster_.Kill(id);
  for (const auto& [id, groups] : damage) {
    for (uint64_t group : groups) Corrupt(id, group);
  }
  for (int id : nodes) cluster_.Start(id);
  Hold();
}

void Nemesis::RestartDownNodes() {
  for (const Node& n : cluster_.nodes()) {
    if (n.pid > 0 && !cluster_.Running(n.id)) unexpected_exits_++;
  }
  for (const Node& n : cluster_.nodes()) {
    if (n.pid <= 0) cluster_.Start(n.id);
  }
}

void Nemesis::HealAll() {
  cluster_.Event("nemesis: heal everything");
  cluster_.HealNetwork();
  for (const Node& n : cluster_.nodes()) {
    cluster_.Resume(n.id);
    cluster_.SetClockOffset(n.id, 0);
    if (cluster_.options().disk_bytes > 0) cluster_.FreeDisk(n.id);
  }
  RestartDownNodes();
}

}  // namespace meridian::tests::jepsen
