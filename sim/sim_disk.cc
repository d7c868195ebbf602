#include "sim/sim_disk.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "io/assert.h"
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
    SimDisk::Inode& node = Node();
    if (offset + data.size() > node.data.size()) {
      if (absl::Status s = disk_.Resize(node, offset + data.size()); !s.ok()) return s;
    }
    if (!data.empty()) std::memcpy(node.data.data() + offset, data.data(), data.size());
    return absl::OkStatus();
  }

  absl::StatusOr<uint64_t> Append(std::span<const uint8_t> data) override {
    const uint64_t offset = Node().data.size();
    if (absl::Status s = WriteAt(offset, data); !s.ok()) return s;
    return offset;
  }

  absl::StatusOr<size_t> ReadAt(uint64_t offset, std::span<uint8_t> buffer) override {
    const SimDisk::Inode& node = Node();
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

absl::Status SimDisk::Resize(Inode& node, uint64_t size) {
  if (size > node.data.size() && bytes_used_ + (size - node.data.size()) > kBytesMax) {
    return absl::ResourceExhaustedError("simulated disk full");
  }
  bytes_used_ = bytes_used_ - node.data.size() + size;
  node.data.resize(size);
  return absl::OkStatus();
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
    if (io::ParentDir(name) == path) children.push_back(name.substr(path.empty() ? 0 : path.size() + 1));
  }
  for (const std::string& dir : dirs_) {
    if (io::ParentDir(dir) == path) children.push_back(dir.substr(path.empty() ? 0 : path.size() + 1));
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
  const auto latency = io::Duration(world.random().Between(
      world.options().fsync_latency_min.count(), world.options().fsync_latency_max.count()));
  if (absl::Status slept = runtime_->Sleep(latency); !slept.ok()) return slept;
  Inode* node = inode(id);
  MERIDIAN_CHECK(node != nullptr);
  node->durable = node->data;
  syncs_++;
  return absl::OkStatus();
}

void SimDisk::Crash() {
  MERIDIAN_CHECK(runtime_ == nullptr, "crash the runtime before its disk");
  names_ = durable_names_;
  dirs_ = durable_dirs_;
  bytes_used_ = 0;
  for (auto& [id, node] : inodes_) {
    node.data = node.durable;
    bytes_used_ += node.data.size();
  }
  CollectUnreachableInodes();
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
