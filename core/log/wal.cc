// The node-wide write-ahead log (wal.h): records, group commit, checkpoints and recovery.
#include "core/log/wal.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "core/log/format.h"
#include "core/log/log.h"
#include "io/assert.h"
#include "io/crc32c.h"
#include "io/probe.h"

namespace meridian::core::log {
namespace {

constexpr uint32_t kWalMagic = 0x4c41574d;  // "MWAL"
// kind, group length, offset: the body's fixed part besides the group name and the batch.
constexpr size_t kBodyFixedBytes = 1 + 2 + 8;
constexpr size_t kBodyBytesMax = kBodyFixedBytes + kWalGroupBytesMax + kBatchBytesMax;

void Put(std::vector<uint8_t>& out, uint64_t value, int width) {
  MERIDIAN_CHECK(width == 1 || width == 2 || width == 4 || width == 8);
  MERIDIAN_CHECK(width == 8 || value < (uint64_t{1} << (8 * width)), "{} in {} bytes", value,
                 width);
  for (int i = 0; i < width; i++) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

uint64_t Get(std::span<const uint8_t> bytes, size_t at, int width) {
  MERIDIAN_CHECK(at + static_cast<size_t>(width) <= bytes.size(), "the caller checked the size");
  uint64_t value = 0;
  for (int i = 0; i < width; i++) value |= uint64_t{bytes[at + i]} << (8 * i);
  return value;
}

std::string WalFileName(uint64_t number) { return fmt::format("wal-{:016x}.log", number); }

bool ParseWalFileName(const std::string& name, uint64_t* number) {
  if (name.size() != 24 || !name.starts_with("wal-") || !name.ends_with(".log")) return false;
  uint64_t value = 0;
  for (size_t i = 4; i < 20; i++) {
    const char c = name[i];
    const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (digit < 0) return false;
    value = value << 4 | static_cast<uint64_t>(digit);
  }
  *number = value;
  return value != 0;
}

}  // namespace

struct Wal::WalFile {
  uint64_t number = 0;
  std::string path;
  std::unique_ptr<io::File> file;
  uint64_t size = 0;
  bool dirty = false;
};

std::vector<uint8_t> EncodeWalRecord(const std::string& group, WalOp::Kind kind, Offset offset,
                                     std::span<const uint8_t> batch) {
  MERIDIAN_CHECK(group.size() <= kWalGroupBytesMax, "group name of {} bytes", group.size());
  MERIDIAN_CHECK(kind == WalOp::Kind::kAppend || batch.empty(), "only appends carry bytes");
  MERIDIAN_CHECK(batch.size() <= kBatchBytesMax);
  std::vector<uint8_t> body;
  body.reserve(kBodyFixedBytes + group.size() + batch.size());
  Put(body, static_cast<uint8_t>(kind), 1);
  Put(body, group.size(), 2);
  body.insert(body.end(), group.begin(), group.end());
  Put(body, offset.value(), 8);
  body.insert(body.end(), batch.begin(), batch.end());
  std::vector<uint8_t> out;
  out.reserve(kWalRecordHeaderBytes + body.size());
  Put(out, kWalMagic, 4);
  Put(out, body.size(), 4);
  Put(out, io::Crc32c(body), 4);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

std::optional<DecodedWalRecord> DecodeWalRecord(std::span<const uint8_t> bytes) {
  if (bytes.size() < kWalRecordHeaderBytes || Get(bytes, 0, 4) != kWalMagic) return std::nullopt;
  const uint64_t body_bytes = Get(bytes, 4, 4);
  if (body_bytes < kBodyFixedBytes || body_bytes > kBodyBytesMax ||
      body_bytes > bytes.size() - kWalRecordHeaderBytes) {
    return std::nullopt;
  }
  const std::span<const uint8_t> body = bytes.subspan(kWalRecordHeaderBytes, body_bytes);
  if (Get(bytes, 8, 4) != io::Crc32c(body)) return std::nullopt;
  const uint64_t kind = Get(body, 0, 1);
  const uint64_t group_bytes = Get(body, 1, 2);
  if (kind < 1 || kind > WalOp::kKindMax || group_bytes > kWalGroupBytesMax ||
      kBodyFixedBytes + group_bytes > body.size()) {
    return std::nullopt;
  }
  DecodedWalRecord record;
  record.group.assign(body.begin() + 3, body.begin() + 3 + static_cast<ptrdiff_t>(group_bytes));
  // The group names a directory recovery looks up: bytes from disk must make a valid path.
  if (record.group.empty() || !io::ValidatePath(record.group).ok()) return std::nullopt;
  record.op.kind = static_cast<WalOp::Kind>(kind);
  record.op.offset = Offset(Get(body, 3 + group_bytes, 8));
  const std::span<const uint8_t> batch = body.subspan(kBodyFixedBytes + group_bytes);
  if (record.op.kind != WalOp::Kind::kAppend && !batch.empty()) return std::nullopt;
  if (record.op.kind == WalOp::Kind::kAppend) {
    BatchHeader header;
    if (DecodeBatch(batch, &header) != DecodeVerdict::kOk || header.length_bytes != batch.size() ||
        header.base_offset != record.op.offset) {
      return std::nullopt;
    }
    record.op.batch.assign(batch.begin(), batch.end());
  }
  record.bytes = kWalRecordHeaderBytes + body_bytes;
  MERIDIAN_CHECK(record.bytes <= bytes.size());
  return record;
}

std::string WalRecoveryReport::ToString() const {
  std::string text =
      fmt::format("wal: {} files, {} records of {} groups", files_found, records, groups);
  if (cut) {
    text += fmt::format("; cut {} at {} ({} bytes discarded, {} later files removed)", cut_file,
                        cut_position, bytes_discarded, files_removed);
  }
  if (groups_dropped > 0) text += fmt::format("; {} removed groups dropped", groups_dropped);
  return text;
}

Wal::Wal(io::Runtime& runtime, io::Disk& disk, WalOptions options)
    : runtime_(runtime), disk_(disk), options_(std::move(options)), sync_waiters_(runtime) {}

Wal::~Wal() = default;

std::string Wal::FilePath(uint64_t number) const {
  return options_.dir + "/" + WalFileName(number);
}

WalMetrics Wal::metrics() const {
  WalMetrics metrics = metrics_;
  metrics.live_files = files_.size();
  return metrics;
}

absl::Status Wal::Fail(absl::Status status) {
  MERIDIAN_CHECK(!status.ok());
  MERIDIAN_PROBE("wal: failed until reopened");
  if (failed_.ok()) {
    failed_ = absl::Status(status.code(),
                           fmt::format("wal {} failed: {}", options_.dir, status.ToString()));
  }
  sync_waiters_.NotifyAll();
  return status;
}

absl::StatusOr<std::shared_ptr<Wal>> Wal::Open(io::Runtime& runtime, io::Disk& disk,
                                               WalOptions options, WalRecoveryReport* report) {
  if (absl::Status s = io::ValidatePath(options.dir); !s.ok()) return s;
  if (options.file_bytes_max < kFileBytesMin || options.live_files_max < 2) {
    return absl::InvalidArgumentError(
        fmt::format("wal: file_bytes_max {} (at least {}) and live_files_max {} (at least 2)",
                    options.file_bytes_max, kFileBytesMin, options.live_files_max));
  }
  std::shared_ptr<Wal> wal(new Wal(runtime, disk, std::move(options)));
  WalRecoveryReport found;
  if (absl::Status s = wal->Recover(found); !s.ok()) return s;
  if (report != nullptr) *report = std::move(found);
  return wal;
}

// --- Recovery ---

absl::Status Wal::Recover(WalRecoveryReport& report) {
  if (absl::Status s = EnsureDir(disk_, options_.dir); !s.ok()) return s;
  absl::StatusOr<std::vector<std::string>> names = disk_.ListDir(options_.dir);
  if (!names.ok()) return names.status();
  std::vector<uint64_t> numbers;
  for (const std::string& name : *names) {
    uint64_t number = 0;
    if (ParseWalFileName(name, &number)) numbers.push_back(number);
  }
  std::sort(numbers.begin(), numbers.end());
  for (uint64_t number : numbers) {
    absl::StatusOr<std::unique_ptr<io::File>> file =
        disk_.Open(FilePath(number), io::OpenMode::kOpenExisting);
    if (!file.ok()) return file.status();
    auto wal_file = std::make_unique<WalFile>();
    wal_file->number = number;
    wal_file->path = FilePath(number);
    wal_file->file = std::move(*file);
    files_.push_back(std::move(wal_file));
  }
  report.files_found = static_cast<uint32_t>(files_.size());
  for (size_t i = 0; i < files_.size(); i++) {
    bool stop = false;
    if (absl::Status s = ReadFile(*files_[i], report, &stop); !s.ok()) return s;
    if (stop) {
      if (absl::Status s = DropFilesAfter(i, report); !s.ok()) return s;
      break;
    }
  }
  for (auto it = replay_.begin(); it != replay_.end();) {
    absl::StatusOr<bool> exists = disk_.Exists(it->first);
    if (!exists.ok()) return exists.status();
    if (*exists) {
      Group& group = groups_[it->first];
      group.first_needed_file = it->second.front().file;
      ++it;
      continue;
    }
    MERIDIAN_PROBE("wal: records of a removed group dropped at recovery");
    report.groups_dropped++;
    it = replay_.erase(it);
  }
  report.groups = static_cast<uint32_t>(replay_.size());
  const uint64_t next = files_.empty() ? 1 : files_.back()->number + 1;
  if (absl::Status s = CreateFile(next); !s.ok()) return s;
  if (absl::Status s = disk_.SyncDir(options_.dir); !s.ok()) return s;
  dir_dirty_ = false;
  for (size_t i = 1; i < files_.size(); i++) {
    MERIDIAN_CHECK(files_[i - 1]->number < files_[i]->number, "files in history order");
  }
  return absl::OkStatus();
}

// Reads `file`'s records into replay_. At the first record that does not decode, the file is
// cut there (durably) and *stop set: nothing after it can be trusted to follow it in history.
absl::Status Wal::ReadFile(WalFile& file, WalRecoveryReport& report, bool* stop) {
  absl::StatusOr<uint64_t> size = file.file->Size();
  if (!size.ok()) return size.status();
  std::vector<uint8_t> bytes(*size);
  absl::StatusOr<size_t> got = file.file->ReadAt(0, bytes);
  if (!got.ok()) return got.status();
  bytes.resize(*got);
  uint64_t position = 0;
  while (position < bytes.size()) {
    std::optional<DecodedWalRecord> record =
        DecodeWalRecord(std::span<const uint8_t>(bytes).subspan(position));
    if (!record.has_value()) break;
    record->op.file = file.number;
    replay_[record->group].push_back(std::move(record->op));
    report.records++;
    position += record->bytes;
  }
  MERIDIAN_CHECK(position <= bytes.size());
  file.size = position;
  // What this process read may sit only in the page cache (a restart without a power cut):
  // it must be durable before anything written from now on, or a later power cut could keep
  // new records and lose these, a hole in the middle of the history.
  if (position == bytes.size()) return file.file->Sync();
  MERIDIAN_PROBE("wal: recovery cut a file at its first bad record");
  *stop = true;
  report.cut = true;
  report.cut_file = file.path;
  report.cut_position = position;
  report.bytes_discarded += bytes.size() - position;
  if (absl::Status s = file.file->Truncate(position); !s.ok()) return s;
  return file.file->Sync();
}

// Removes every file after files_[last_kept], newest first, each removal durable before the
// next, so a crash part-way leaves a prefix of the WAL.
absl::Status Wal::DropFilesAfter(size_t last_kept, WalRecoveryReport& report) {
  while (files_.size() > last_kept + 1) {
    std::unique_ptr<WalFile>& newest = files_.back();
    absl::StatusOr<uint64_t> size = newest->file->Size();
    if (!size.ok()) return size.status();
    report.bytes_discarded += *size;
    if (absl::Status s = disk_.Remove(newest->path); !s.ok()) return s;
    if (absl::Status s = disk_.SyncDir(options_.dir); !s.ok()) return s;
    report.files_removed++;
    files_.pop_back();
  }
  MERIDIAN_CHECK(files_.size() == last_kept + 1);
  return absl::OkStatus();
}

absl::Status Wal::CreateFile(uint64_t number) {
  const std::string path = FilePath(number);
  absl::StatusOr<std::unique_ptr<io::File>> file = disk_.Open(path, io::OpenMode::kCreate);
  if (!file.ok()) return file.status();
  if (absl::Status s = (*file)->Truncate(0); !s.ok()) return s;
  MERIDIAN_CHECK(files_.empty() || number > files_.back()->number, "file {} after {}", number,
                 files_.back()->number);
  auto wal_file = std::make_unique<WalFile>();
  wal_file->number = number;
  wal_file->path = path;
  wal_file->file = std::move(*file);
  files_.push_back(std::move(wal_file));
  dir_dirty_ = true;
  return absl::OkStatus();
}

// --- Groups ---

std::vector<WalOp> Wal::Replay(const std::string& group) const {
  auto it = replay_.find(group);
  if (it == replay_.end()) return {};
  return it->second;
}

// The Log has redone what the WAL held for it and synced its files (Log::Open): none of the
// WAL's files is needed for it any more.
absl::Status Wal::Register(const std::string& group, std::function<WalGroupSync()> collect) {
  MERIDIAN_CHECK(collect != nullptr);
  if (group.size() > kWalGroupBytesMax) {
    return absl::InvalidArgumentError(fmt::format("wal group name of {} bytes", group.size()));
  }
  Group& entry = groups_[group];
  if (entry.collect != nullptr) {
    return absl::FailedPreconditionError(fmt::format("wal: group {} is open twice", group));
  }
  // Its Log has redone this history and synced the result: dropped only now, so an Open that
  // failed part-way finds it again.
  replay_.erase(group);
  entry.collect = std::move(collect);
  entry.orphan_sync = nullptr;
  entry.first_needed_file = kNoFile;
  MERIDIAN_CHECK(!replay_.contains(group));
  MaybeCheckpoint();  // Each Open starts a file: restarts alone must not pile them up.
  return absl::OkStatus();
}

void Wal::Unregister(const std::string& group, WalGroupSync pending) {
  MERIDIAN_CHECK(pending != nullptr);
  auto it = groups_.find(group);
  if (it == groups_.end()) return;  // Forgotten already.
  it->second.collect = nullptr;
  if (it->second.first_needed_file == kNoFile) {
    groups_.erase(it);
    return;
  }
  it->second.orphan_sync = std::move(pending);
}

void Wal::Forget(const std::string& group) {
  groups_.erase(group);
  replay_.erase(group);
}

// --- Appends and group commit ---

absl::StatusOr<uint64_t> Wal::Append(const std::string& group, WalOp::Kind kind, Offset offset,
                                     std::span<const uint8_t> batch) {
  if (!failed_.ok()) return failed_;
  if (group.size() > kWalGroupBytesMax) {
    return absl::InvalidArgumentError(fmt::format("wal group name of {} bytes", group.size()));
  }
  const std::vector<uint8_t> record = EncodeWalRecord(group, kind, offset, batch);
  MERIDIAN_CHECK(!files_.empty());
  if (files_.back()->size > 0 && files_.back()->size + record.size() > options_.file_bytes_max) {
    if (absl::Status s = CreateFile(files_.back()->number + 1); !s.ok()) return s;
    MaybeCheckpoint();
  }
  WalFile& active = *files_.back();
  if (absl::Status s = active.file->WriteAt(active.size, record); !s.ok()) {
    MERIDIAN_PROBE("wal: a failed write's partial record cut");
    if (absl::Status cut = active.file->Truncate(active.size); !cut.ok()) return Fail(cut);
    return s;
  }
  active.size += record.size();
  active.dirty = true;
  const uint64_t sequence = next_sequence_++;
  Group& entry = groups_[group];
  entry.last_sequence = sequence;
  if (entry.first_needed_file == kNoFile) entry.first_needed_file = active.number;
  MERIDIAN_CHECK(entry.first_needed_file <= active.number);
  metrics_.records++;
  metrics_.record_bytes += record.size();
  return sequence;
}

absl::Status Wal::GroupSync() {
  MERIDIAN_CHECK(sync_busy_);
  const uint64_t target = next_sequence_ - 1;
  std::vector<WalFile*> dirty;
  for (const std::unique_ptr<WalFile>& file : files_) {
    if (file->dirty) dirty.push_back(file.get());
    file->dirty = false;
  }
  const bool sync_dir = dir_dirty_;
  dir_dirty_ = false;
  absl::Status status;
  const io::Instant sync_start = runtime_.Now();
  // The files outlive the syncs: only a checkpoint removes them, and it never removes a file
  // while a sync runs (it waits for sync_busy_).
  for (WalFile* file : dirty) {
    status = file->file->Sync();
    if (!status.ok()) break;
    metrics_.file_syncs++;
  }
  if (status.ok() && sync_dir) status = disk_.SyncDir(options_.dir);
  if (absl::IsCancelled(status)) {
    for (WalFile* file : dirty) file->dirty = true;
    dir_dirty_ = dir_dirty_ || sync_dir;
    return status;
  }
  if (!status.ok()) return Fail(status);
  metrics_.records_per_sync_max =
      std::max(metrics_.records_per_sync_max, target - std::min(target, durable_sequence_));
  durable_sequence_ = std::max(durable_sequence_, target);
  MERIDIAN_CHECK(durable_sequence_ < next_sequence_);
  metrics_.group_syncs++;
  metrics_.sync_latency_ns.Observe((runtime_.Now() - sync_start).count());
  return absl::OkStatus();
}

absl::Status Wal::WaitDurable(uint64_t sequence, io::Instant deadline) {
  MERIDIAN_CHECK(sequence < next_sequence_, "record {} was never written", sequence);
  if (waiters_ >= kWaitersMax) return absl::ResourceExhaustedError("too many wal waiters");
  waiters_++;
  absl::Status result;
  bool yielded = false;
  while (durable_sequence_ < sequence) {
    if (!failed_.ok()) {
      result = failed_;
      break;
    }
    if (!sync_busy_ && !yielded) {
      // Let every runnable fiber run once first: their appends ride on this sync.
      yielded = true;
      runtime_.scheduler().Yield();
      continue;
    }
    if (!sync_busy_) {
      sync_busy_ = true;
      result = GroupSync();
      sync_busy_ = false;
      sync_waiters_.NotifyAll();
      if (!result.ok()) break;
      continue;
    }
    result = sync_waiters_.WaitUntil(
        [&] { return !sync_busy_ || durable_sequence_ >= sequence || !failed_.ok(); }, deadline,
        "wal durability wait");
    if (!result.ok()) break;
  }
  MERIDIAN_CHECK(waiters_ > 0);
  waiters_--;
  if (result.ok()) MERIDIAN_CHECK(durable_sequence_ >= sequence);
  return result;
}

// --- Checkpoints ---

void Wal::MaybeCheckpoint() {
  if (checkpoint_running_ || files_.size() <= options_.live_files_max || !failed_.ok()) return;
  checkpoint_running_ = true;
  runtime_.Spawn("wal-checkpoint", [self = shared_from_this()] {
    absl::Status status = self->Checkpoint();
    if (!status.ok() && !absl::IsCancelled(status)) (void)self->Fail(status);
    self->checkpoint_running_ = false;
  });
}

// Syncs the partition files of every group with records in a file older than the one being
// written, then removes the files no group needs any more.
absl::Status Wal::Checkpoint() {
  const uint64_t retire_below = files_.back()->number;
  const uint64_t collected_at = next_sequence_ - 1;
  std::vector<std::pair<std::string, WalGroupSync>> work;
  for (auto& [name, group] : groups_) {
    if (group.first_needed_file >= retire_below) continue;
    if (group.collect != nullptr) {
      work.emplace_back(name, group.collect());
    } else if (group.orphan_sync != nullptr) {
      work.emplace_back(name, std::move(group.orphan_sync));
      group.orphan_sync = nullptr;
    }  // Else its Log has not opened since recovery: its files stay.
  }
  for (auto& [name, sync] : work) {
    if (absl::Status s = sync(); !s.ok()) return s;  // Suspends.
    metrics_.checkpoint_group_syncs++;
  }
  for (const auto& [name, sync] : work) {
    auto it = groups_.find(name);
    if (it == groups_.end()) continue;  // Forgotten meanwhile.
    Group& group = it->second;
    group.first_needed_file = group.last_sequence > collected_at ? retire_below : kNoFile;
    if (group.first_needed_file == kNoFile && group.collect == nullptr) groups_.erase(it);
  }
  metrics_.checkpoints++;
  MERIDIAN_CHECK(retire_below <= files_.back()->number, "the active file is never retired");
  return RemoveRetiredFiles(retire_below);
}

absl::Status Wal::RemoveRetiredFiles(uint64_t retire_below) {
  uint64_t needed = retire_below;
  for (const auto& [name, group] : groups_) needed = std::min(needed, group.first_needed_file);
  while (files_.size() > 1 && files_.front()->number < needed) {
    // A sync in flight may be inside this file: wait for it to finish first.
    if (absl::Status s = sync_waiters_.WaitUntil([&] { return !sync_busy_ || !failed_.ok(); },
                                                 io::Instant::Infinite(), "wal checkpoint");
        !s.ok()) {
      return s;
    }
    if (!failed_.ok()) return failed_;
    sync_busy_ = true;  // Keeps syncs out while the name goes.
    const std::string path = files_.front()->path;
    absl::Status status = disk_.Remove(path);
    if (status.ok()) status = disk_.SyncDir(options_.dir);
    sync_busy_ = false;
    sync_waiters_.NotifyAll();
    if (!status.ok()) return status;
    files_.pop_front();
    metrics_.files_removed++;
  }
  MERIDIAN_CHECK(!files_.empty());
  return absl::OkStatus();
}

}  // namespace meridian::core::log
