#include "tests/log/log_test_support.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "io/assert.h"

namespace meridian::tests::log {
namespace {

class FaultyFile final : public io::File {
 public:
  FaultyFile(std::unique_ptr<io::File> inner, DiskFaults& faults)
      : inner_(std::move(inner)), faults_(faults) {}

  absl::Status WriteAt(uint64_t offset, std::span<const uint8_t> data) override {
    if (data.size() <= faults_.write_bytes_left) {
      if (faults_.write_bytes_left != UINT64_MAX) faults_.write_bytes_left -= data.size();
      return inner_->WriteAt(offset, data);
    }
    // A full disk: what fits lands (like a short pwrite), then ENOSPC.
    const uint64_t fits = faults_.write_bytes_left;
    faults_.write_bytes_left = 0;
    faults_.writes_failed++;
    if (fits > 0) (void)inner_->WriteAt(offset, data.first(fits));
    return absl::ResourceExhaustedError("injected: no space left on device");
  }
  absl::StatusOr<uint64_t> Append(std::span<const uint8_t> data) override {
    absl::StatusOr<uint64_t> size = inner_->Size();
    if (!size.ok()) return size.status();
    if (absl::Status s = WriteAt(*size, data); !s.ok()) return s;
    return *size;
  }
  absl::StatusOr<size_t> ReadAt(uint64_t offset, std::span<uint8_t> buffer) override {
    return inner_->ReadAt(offset, buffer);
  }
  absl::Status Sync() override {
    if (faults_.fail_syncs) {
      faults_.syncs_failed++;
      return absl::DataLossError("injected: EIO on fdatasync");
    }
    return inner_->Sync();
  }
  absl::Status Truncate(uint64_t size) override {
    if (faults_.fail_truncates) return absl::DataLossError("injected: EIO on ftruncate");
    return inner_->Truncate(size);
  }
  absl::StatusOr<uint64_t> Size() override { return inner_->Size(); }
  const std::string& path() const override { return inner_->path(); }

 private:
  std::unique_ptr<io::File> inner_;
  DiskFaults& faults_;
};

}  // namespace

SimNode::SimNode(uint64_t seed) : seed_(seed), world_(sim::WorldOptions{.seed = seed}) {
  world_.AddNode(kNode, "host1", [this](io::Runtime& rt) {
    if (!body_) return;
    body_(rt);
    done_ = true;
  });
}

void SimNode::Boot(NodeBody body) {
  if (world_.IsUp(kNode)) world_.Crash(kNode);
  body_ = std::move(body);
  done_ = false;
  world_.Start(kNode);
}

bool SimNode::Run(NodeBody body) {
  Boot(std::move(body));
  return world_.RunUntil([this] { return done_; }, world_.Now() + std::chrono::seconds(600));
}

void SimNode::RunThenCrash(NodeBody body, io::Duration duration) {
  Boot(std::move(body));
  world_.RunUntil([this] { return done_; }, world_.Now() + duration);
  world_.Crash(kNode);
}

absl::StatusOr<std::unique_ptr<io::File>> FaultyDisk::Open(const std::string& path,
                                                           io::OpenMode mode) {
  absl::StatusOr<std::unique_ptr<io::File>> file = inner_.Open(path, mode);
  if (!file.ok()) return file.status();
  return std::unique_ptr<io::File>(std::make_unique<FaultyFile>(std::move(*file), faults_));
}

std::vector<uint8_t> PayloadFor(uint64_t tag, size_t bytes) {
  std::vector<uint8_t> payload(bytes);
  uint64_t x = io::Mix64(tag + 1);
  for (size_t i = 0; i < bytes; i++) {
    if (i % 8 == 0) x = io::Mix64(x);
    payload[i] = static_cast<uint8_t>(x >> (8 * (i % 8)));
  }
  return payload;
}

core::log::BatchMeta MetaFor(uint64_t tag, uint32_t records) {
  return core::log::BatchMeta{.record_count = records,
                              .term = core::Term(1 + tag % 3),
                              .producer_id = tag,
                              .producer_epoch = 1,
                              .base_sequence = static_cast<uint32_t>(tag),
                              .first_timestamp_ms = static_cast<int64_t>(tag),
                              .max_timestamp_ms = static_cast<int64_t>(tag) + 1};
}

std::vector<core::log::BatchRef> ReadAll(core::log::Log& log, core::Offset from,
                                         uint64_t bytes_max) {
  std::vector<core::log::BatchRef> batches;
  core::Offset next = from;
  while (next < log.end_offset()) {
    absl::StatusOr<core::log::ReadResult> read = log.Read(next, bytes_max);
    EXPECT_TRUE(read.ok()) << "read at " << next.value() << ": " << read.status().ToString();
    if (!read.ok()) break;
    MERIDIAN_CHECK(!read->batches.empty());
    for (core::log::BatchRef& batch : read->batches) batches.push_back(std::move(batch));
    next = read->next_offset;
  }
  return batches;
}

absl::Status FlipByte(io::Disk& disk, const std::string& path, uint64_t position) {
  absl::StatusOr<std::unique_ptr<io::File>> file = disk.Open(path, io::OpenMode::kOpenExisting);
  if (!file.ok()) return file.status();
  uint8_t byte = 0;
  absl::StatusOr<size_t> got = (*file)->ReadAt(position, std::span(&byte, 1));
  if (!got.ok()) return got.status();
  if (*got != 1) return absl::OutOfRangeError("flip past the end");
  byte ^= 0x20;
  if (absl::Status s = (*file)->WriteAt(position, std::span(&byte, 1)); !s.ok()) return s;
  return (*file)->Sync();
}

core::raft::Message FirstCommittedAppend(io::NodeId leader, const std::string& data) {
  core::raft::Message append{.type = core::raft::MessageType::kAppend,
                             .from = leader,
                             .to = SimNode::kNode,
                             .term = core::raft::Term(1)};
  append.entries.push_back(core::raft::Entry{core::raft::Term(1), core::raft::Index(1),
                                             core::raft::EntryKind::kNormal, data});
  append.commit = core::raft::Index(1);
  return append;
}

}  // namespace meridian::tests::log
