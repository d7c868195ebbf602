#include "sim/sim_disk.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "io/assert.h"
#include "sim/fault_atlas.h"
#include "sim/sim_runtime.h"
#include "sim/world.h"

namespace meridian::sim {

// A handle on one inode. Valid until the inode is collected (after a crash, with the runtime that
// opened it already gone) — so a live SimFile always finds its inode.
class SimFile final : public io::File {
 public:
  SimFile(SimDisk& disk, SimDisk::InodeId inode, std::string path)
      : disk_(disk), inode_(inode), path_(std::move(path)) {}

  absl::Status WriteAt(uint64_t offset, std::span<const uint8_t> data) override {
    Node();  // Checks the inode exists.
    return disk_.Write(inode_, path_, offset, data);
  }

  absl::StatusOr<uint64_t> Append(std::span<const uint8_t> data) override {
    const uint64_t offset = Node().data.size();
    if (absl::Status s = WriteAt(offset, data); !s.ok()) return s;
    return offset;
  }

  absl::StatusOr<size_t> ReadAt(uint64_t offset, std::span<uint8_t> buffer) override {
    const SimDisk::Inode& node = Node();
    if (disk_.InjectIoError("read")) return absl::DataLossError("EIO: read of " + path_);
    if (offset >= node.data.size()) return 0;
    const size_t n = std::min<uint64_t>(buffer.size(), node.data.size() - offset);
    std::memcpy(buffer.data(), node.data.data() + offset, n);
    return n;
  }

  absl::Status Sync() override { return disk_.SyncInode(inode_); }
  absl::Status Truncate(uint64_t size) override { return disk_.Resize(Node(), size); }
  absl::StatusOr<uint64_t> Size() override { return Node().data.size(); }
  const std::string& path() const override { return path_; }

 private:
  SimDisk::Inode& Node() {
    SimDisk::Inode* node = disk_.inode(inode_);
    MERIDIAN_CHECK(node != nullptr, "file {} outlived its inode", path_);
    return *node;
  }

  SimDisk& disk_;
  const SimDisk::InodeId inode_;
  const std::string path_;
};

bool SimDisk::DirExists(const std::string& dir) const { return dir.empty() || dirs_.contains(dir); }

SimDisk::Inode* SimDisk::inode(InodeId id) {
  auto it = inodes_.find(id);
  return it == inodes_.end() ? nullptr : &it->second;
}

bool SimDisk::InjectIoError(std::string_view operation) {
  if (rates_.io_error_ppm == 0 || !world_.random().Chance(rates_.io_error_ppm, 1'000'000)) {
    return false;
  }
  world_.RecordFault("disk_error");
  world_.Trace(node_, fmt::format("disk: injected EIO on {}", operation));
  return true;
}

absl::Status SimDisk::Resize(Inode& node, uint64_t size) {
  if (size > node.data.size() && bytes_used_ + (size - node.data.size()) > capacity_bytes_) {
    if (capacity_bytes_ < kBytesMax) world_.RecordFault("disk_full");
    return absl::ResourceExhaustedError("ENOSPC: simulated disk full");
  }
  bytes_used_ = bytes_used_ - node.data.size() + size;
  node.data.resize(size);
  return absl::OkStatus();
}

absl::Status SimDisk::Write(InodeId id, const std::string& path, uint64_t offset,
                            std::span<const uint8_t> data) {
  if (data.empty()) return absl::OkStatus();
  if (InjectIoError("write")) return absl::DataLossError("EIO: write of " + path);
  Inode& node = *inode(id);
  if (misdirect_atlas_ != nullptr) {
    // The drive acknowledges the write but puts it 1-8 sectors away from where it was aimed.
    FaultAtlas& atlas = *misdirect_atlas_;
    misdirect_atlas_ = nullptr;
    io::Random random(misdirect_seed_);
    const int64_t shift = random.Between(1, 8) * static_cast<int64_t>(FaultAtlas::kSectorBytes) *
                          (random.Chance(1, 2) ? 1 : -1);
    const int64_t landed = static_cast<int64_t>(offset) + shift;
    if (landed >= 0 && atlas.TryCharge(path, offset, data.size(), node_) &&
        atlas.TryCharge(path, static_cast<uint64_t>(landed), data.size(), node_)) {
      world_.RecordFault("misdirected_write");
      world_.Trace(node_,
                   fmt::format("disk: write to {}@{} misdirected to @{}", path, offset, landed));
      offset = static_cast<uint64_t>(landed);
      // The aimed-at range keeps its old bytes but must exist, as the caller believes it does.
      const uint64_t aimed_end = static_cast<uint64_t>(landed - shift) + data.size();
      if (aimed_end > node.data.size()) {
        if (absl::Status s = Resize(node, aimed_end); !s.ok()) return s;
      }
    }
  }
  if (offset + data.size() > node.data.size()) {
    if (absl::Status s = Resize(node, offset + data.size()); !s.ok()) return s;
  }
  std::memcpy(node.data.data() + offset, data.data(), data.size());
  return absl::OkStatus();
}

bool SimDisk::CorruptAtRest(FaultAtlas& atlas, io::Random& random, std::string_view path_contains) {
  std::vector<std::pair<std::string, InodeId>> candidates;
  for (const auto& [name, id] : durable_names_) {
    if (name.find(path_contains) == std::string::npos) continue;
    if (!inodes_.at(id).durable.empty()) candidates.emplace_back(name, id);
  }
  if (candidates.empty()) return false;
  const auto& [path, id] = candidates[random.Below(candidates.size())];
  Inode& node = inodes_.at(id);
  const uint64_t offset = random.Below(node.durable.size());
  if (!atlas.TryCharge(path, offset, 1, node_)) return false;
  const uint8_t bit = static_cast<uint8_t>(1u << random.Below(8));
  node.durable[offset] ^= bit;
  if (offset < node.data.size()) node.data[offset] ^= bit;
  world_.RecordFault("bit_flip");
  world_.Trace(node_, fmt::format("disk: bit flip at rest in {}@{}", path, offset));
  return true;
}

bool SimDisk::CorruptEverySector(FaultAtlas& atlas, const std::string& path) {
  auto name = durable_names_.find(path);
  if (name == durable_names_.end()) return false;
  Inode& node = inodes_.at(name->second);
  if (node.durable.empty() || !atlas.TryCharge(path, 0, node.durable.size(), node_)) return false;
  for (uint64_t offset = 0; offset < node.durable.size(); offset += FaultAtlas::kSectorBytes) {
    node.durable[offset] ^= 1;
    if (offset < node.data.size()) node.data[offset] ^= 1;
  }
  world_.RecordFault("bit_flip");
  world_.Trace(node_, fmt::format("disk: every sector of {} damaged at rest", path));
  return true;
}

absl::StatusOr<std::unique_ptr<io::File>> SimDisk::Open(const std::string& path,
                                                        io::OpenMode mode) {
  if (absl::Status s = io::ValidatePath(path); !s.ok()) return s;
  if (dirs_.contains(path)) return absl::FailedPreconditionError(path + " is a directory");
  auto it = names_.find(path);
  if (it != names_.end()) {
    if (mode == io::OpenMode::kCreateNew) return absl::AlreadyExistsError(path);
    return std::make_unique<SimFile>(*this, it->second, path);
  }
  if (mode == io::OpenMode::kOpenExisting) return absl::NotFoundError(path);
  if (!DirExists(io::ParentDir(path))) {
    return absl::NotFoundError(fmt::format("no directory for {}", path));
  }
  const InodeId id = next_inode_++;
  inodes_.emplace(id, Inode{});
  names_.emplace(path, id);
  return std::make_unique<SimFile>(*this, id, path);
}

absl::Status SimDisk::CreateDir(const std::string& path) {
  if (absl::Status s = io::ValidatePath(path); !s.ok()) return s;
  if (dirs_.contains(path) || names_.contains(path)) return absl::AlreadyExistsError(path);
  if (!DirExists(io::ParentDir(path))) return absl::NotFoundError("no parent for " + path);
  dirs_.insert(path);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> SimDisk::ListDir(const std::string& path) {
  if (!DirExists(path)) return absl::NotFoundError(path);
  std::vector<std::string> children;
  for (const auto& [name, id] : names_) {
    if (io::ParentDir(name) == path)
      children.push_back(name.substr(path.empty() ? 0 : path.size() + 1));
  }
  for (const std::string& dir : dirs_) {
    if (io::ParentDir(dir) == path)
      children.push_back(dir.substr(path.empty() ? 0 : path.size() + 1));
  }
  std::sort(children.begin(), children.end());
  return children;
}

absl::Status SimDisk::Remove(const std::string& path) {
  if (names_.erase(path) == 1) return absl::OkStatus();
  if (!dirs_.contains(path)) return absl::NotFoundError(path);
  absl::StatusOr<std::vector<std::string>> children = ListDir(path);
  MERIDIAN_CHECK(children.ok());
  if (!children->empty()) return absl::FailedPreconditionError(path + " is not empty");
  dirs_.erase(path);
  return absl::OkStatus();
}

absl::Status SimDisk::Rename(const std::string& from, const std::string& to) {
  if (absl::Status s = io::ValidatePath(to); !s.ok()) return s;
  auto it = names_.find(from);
  if (it == names_.end()) return absl::NotFoundError(from);
  if (dirs_.contains(to)) return absl::FailedPreconditionError(to + " is a directory");
  if (!DirExists(io::ParentDir(to))) return absl::NotFoundError("no directory for " + to);
  const InodeId id = it->second;
  names_.erase(it);
  names_[to] = id;
  return absl::OkStatus();
}

absl::Status SimDisk::SyncDir(const std::string& path) {
  if (!DirExists(path)) return absl::NotFoundError(path);
  syncs_++;
  // The directory's entries become durable exactly as they are now.
  for (auto it = durable_names_.begin(); it != durable_names_.end();) {
    it = io::ParentDir(it->first) == path ? durable_names_.erase(it) : std::next(it);
  }
  for (const auto& [name, id] : names_) {
    if (io::ParentDir(name) == path) durable_names_[name] = id;
  }
  for (auto it = durable_dirs_.begin(); it != durable_dirs_.end();) {
    it = io::ParentDir(*it) == path ? durable_dirs_.erase(it) : std::next(it);
  }
  for (const std::string& dir : dirs_) {
    if (io::ParentDir(dir) == path) durable_dirs_.insert(dir);
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> SimDisk::Exists(const std::string& path) {
  return names_.contains(path) || dirs_.contains(path);
}

absl::Status SimDisk::SyncInode(InodeId id) {
  MERIDIAN_CHECK(runtime_ != nullptr, "sync with no node attached");
  // The fsync takes time; a crash during it loses the writes (the fiber never resumes).
  World& world = runtime_->world();
  auto latency = io::Duration(world.random().Between(world.options().fsync_latency_min.count(),
                                                     world.options().fsync_latency_max.count()));
  if (rates_.slow_fsync_ppm > 0 && world.random().Chance(rates_.slow_fsync_ppm, 1'000'000)) {
    latency += io::Duration(world.random().Between(0, rates_.slow_fsync_max.count()));
    world.RecordFault("slow_fsync");
  }
  if (absl::Status slept = runtime_->Sleep(latency); !slept.ok()) return slept;
  // Like Linux after a failed fsync: nothing was made durable, and the error is reported once.
  if (InjectIoError("sync")) return absl::DataLossError("EIO: fsync");
  Inode* node = inode(id);
  MERIDIAN_CHECK(node != nullptr);
  node->durable = node->data;
  syncs_++;
  return absl::OkStatus();
}

bool SimDisk::has_unsynced_data() const {
  for (const auto& [id, node] : inodes_) {
    if (node.data != node.durable) return true;
  }
  return false;
}

void SimDisk::Crash() {
  MERIDIAN_CHECK(runtime_ == nullptr, "crash the runtime before its disk");
  names_ = durable_names_;
  dirs_ = durable_dirs_;
  bytes_used_ = 0;
  for (auto& [id, node] : inodes_) {
    if (rates_.torn_writes_on_crash && node.data != node.durable) {
      TearUnsyncedWrites(node);
    } else {
      node.data = node.durable;
    }
    bytes_used_ += node.data.size();
  }
  CollectUnreachableInodes();
}

void SimDisk::TearUnsyncedWrites(Inode& node) {
  // Each sector that differs from its durable copy independently made it to the platter or not;
  // the file grows only as far as the last sector that did.
  std::vector<uint8_t> result = node.durable;
  bool torn = false;
  for (uint64_t start = 0; start < node.data.size(); start += FaultAtlas::kSectorBytes) {
    const uint64_t end = std::min<uint64_t>(start + FaultAtlas::kSectorBytes, node.data.size());
    const bool differs =
        end > result.size() || !std::equal(node.data.begin() + static_cast<ptrdiff_t>(start),
                                           node.data.begin() + static_cast<ptrdiff_t>(end),
                                           result.begin() + static_cast<ptrdiff_t>(start));
    if (!differs || !world_.random().Chance(1, 2)) continue;
    if (result.size() < end) result.resize(end, 0);
    std::copy(node.data.begin() + static_cast<ptrdiff_t>(start),
              node.data.begin() + static_cast<ptrdiff_t>(end),
              result.begin() + static_cast<ptrdiff_t>(start));
    torn = true;
  }
  if (torn) world_.RecordFault("torn_write");
  node.data = result;
  node.durable = result;
}

void SimDisk::CollectUnreachableInodes() {
  absl::btree_set<InodeId> reachable;
  for (const auto& [name, id] : names_) reachable.insert(id);
  for (auto it = inodes_.begin(); it != inodes_.end();) {
    if (reachable.contains(it->first)) {
      ++it;
    } else {
      bytes_used_ -= it->second.data.size();
      it = inodes_.erase(it);
    }
  }
}

void SimDisk::Attach(SimRuntime* runtime) {
  MERIDIAN_CHECK(runtime_ == nullptr, "two live incarnations on one disk");
  runtime_ = runtime;
}

void SimDisk::Detach(SimRuntime* runtime) {
  MERIDIAN_CHECK(runtime_ == runtime);
  runtime_ = nullptr;
}

}  // namespace meridian::sim
