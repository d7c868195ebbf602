#include "core/replica/storage.h"

#include <fmt/format.h>

#include <cstring>
#include <string>

#include "absl/strings/cord.h"
#include "core/log/log.h"
#include "io/assert.h"
#include "io/crc32c.h"

namespace meridian::core::replica {
namespace {

constexpr uint32_t kHardStateMagic = 0x4d524853;  // "MRHS"
constexpr uint32_t kHardStateVersion = 2;         // 1: one 32-byte copy, no sequence.
constexpr uint32_t kSnapshotMagic = 0x4d52534e;   // "MRSN"
constexpr uint32_t kSnapshotVersion = 1;
constexpr size_t kEntryDataBytesMax = 8 << 20;
constexpr uint64_t kReadBytesMax = 4 << 20;
constexpr char kDamagedAtRestPayloadUrl[] = "meridian.replica/damaged-at-rest";

void PutU32(std::vector<uint8_t>& out, uint32_t value) {
  for (int i = 0; i < 4; i++) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}
void PutU64(std::vector<uint8_t>& out, uint64_t value) {
  for (int i = 0; i < 8; i++) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

// Reads little-endian integers from untrusted bytes; every read is bounds-checked.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  bool U32(uint32_t* value) { return Little(value, 4); }
  bool U64(uint64_t* value) { return Little(value, 8); }
  bool U8(uint8_t* value) {
    if (position_ >= bytes_.size()) return false;
    *value = bytes_[position_++];
    return true;
  }
  std::span<const uint8_t> Rest() const { return bytes_.subspan(position_); }

 private:
  template <typename T>
  bool Little(T* value, size_t width) {
    MERIDIAN_CHECK(width <= sizeof(T));
    MERIDIAN_CHECK(position_ <= bytes_.size());
    if (bytes_.size() - position_ < width) return false;
    *value = 0;
    for (size_t i = 0; i < width; i++) *value |= static_cast<T>(bytes_[position_ + i]) << (8 * i);
    position_ += width;
    return true;
  }
  std::span<const uint8_t> bytes_;
  size_t position_ = 0;
};

void PutNodes(std::vector<uint8_t>& out, const absl::btree_set<io::NodeId>& nodes) {
  // Paired with ReadNodes: what we write is what a read accepts.
  MERIDIAN_CHECK(nodes.size() <= raft::kMembersMax, "{} members", nodes.size());
  MERIDIAN_CHECK(!nodes.contains(io::NodeId()), "node 0 is no member");
  PutU32(out, static_cast<uint32_t>(nodes.size()));
  for (io::NodeId node : nodes) PutU32(out, node.value());
}

bool ReadNodes(Reader& reader, absl::btree_set<io::NodeId>* nodes) {
  uint32_t count = 0;
  if (!reader.U32(&count) || count > raft::kMembersMax) return false;
  for (uint32_t i = 0; i < count; i++) {
    uint32_t id = 0;
    if (!reader.U32(&id) || id == 0 || !nodes->insert(io::NodeId(id)).second) return false;
  }
  MERIDIAN_CHECK(nodes->size() == count, "duplicates were refused");
  return true;
}

}  // namespace

absl::Status DamagedAtRestError(const std::string& message) {
  absl::Status status = absl::DataLossError(message);
  status.SetPayload(kDamagedAtRestPayloadUrl, absl::Cord("1"));
  return status;
}

bool IsDamagedAtRest(const absl::Status& status) {
  return absl::IsDataLoss(status) && status.GetPayload(kDamagedAtRestPayloadUrl).has_value();
}

std::vector<uint8_t> EncodeEntryHead(const raft::Entry& entry) {
  MERIDIAN_CHECK(!entry.elided, "entry {} written without its data", entry.index.ToString());
  MERIDIAN_CHECK(entry.data.size() <= kEntryDataBytesMax);
  // Paired with DecodeEntry's validation: what we write is what a read accepts.
  if (entry.kind == raft::EntryKind::kConfig) {
    MERIDIAN_CHECK(raft::ValidateMembership(entry.membership).ok(), "writing config {}",
                   entry.membership.ToString());
  }
  std::vector<uint8_t> out;
  out.push_back(static_cast<uint8_t>(entry.kind));
  if (entry.kind == raft::EntryKind::kConfig) {
    PutNodes(out, entry.membership.voters);
    PutNodes(out, entry.membership.learners);
  }
  MERIDIAN_CHECK(!out.empty(), "the kind byte leads every entry");
  return out;
}

std::span<const uint8_t> EntryData(const raft::Entry& entry) {
  return {reinterpret_cast<const uint8_t*>(entry.data.data()), entry.data.size()};
}

std::vector<uint8_t> EncodeEntry(const raft::Entry& entry) {
  std::vector<uint8_t> out = EncodeEntryHead(entry);
  out.insert(out.end(), entry.data.begin(), entry.data.end());
  MERIDIAN_CHECK(out.size() > entry.data.size(), "the kind byte leads every entry");
  return out;
}

absl::StatusOr<raft::Entry> DecodeEntry(std::span<const uint8_t> payload, raft::Term term,
                                        raft::Index index) {
  Reader reader(payload);
  uint8_t kind = 0;
  if (!reader.U8(&kind) || kind > static_cast<uint8_t>(raft::EntryKind::kConfig)) {
    return absl::DataLossError(fmt::format("entry {}: bad kind", index.ToString()));
  }
  raft::Entry entry{term, index, static_cast<raft::EntryKind>(kind)};
  // The one set of membership rules (raft::ValidateMembership), as for a snapshot's and a peer's.
  if (entry.kind == raft::EntryKind::kConfig &&
      (!ReadNodes(reader, &entry.membership.voters) ||
       !ReadNodes(reader, &entry.membership.learners) ||
       !raft::ValidateMembership(entry.membership).ok())) {
    return absl::DataLossError(fmt::format("entry {}: bad membership", index.ToString()));
  }
  const std::span<const uint8_t> data = reader.Rest();
  if (entry.kind == raft::EntryKind::kConfig && !data.empty()) {
    // Raft keeps a configuration as its membership alone (core/raft/raft_log.h).
    return absl::DataLossError(fmt::format("entry {}: configuration with data", index.ToString()));
  }
  entry.data.assign(data.begin(), data.end());
  return entry;
}

std::vector<uint8_t> EncodeHardState(const StoredHardState& stored) {
  const raft::HardState& state = stored.state;
  // A vote is cast in a term: raft never hands a vote without one.
  if (state.vote != io::NodeId()) MERIDIAN_CHECK(state.term > raft::Term(0), "vote in term 0");
  MERIDIAN_CHECK(stored.sequence >= 1, "sequence 0 is the hard state of a replica never stored");
  std::vector<uint8_t> out;
  PutU32(out, kHardStateMagic);
  PutU32(out, kHardStateVersion);
  PutU64(out, stored.sequence);
  PutU64(out, state.term.value());
  PutU32(out, state.vote.value());
  PutU64(out, state.commit.value());
  PutU32(out, 0);  // Reserved.
  PutU32(out, 0);  // Reserved.
  PutU32(out, io::Crc32c(out));
  MERIDIAN_CHECK(out.size() == kHardStateBytes);
  return out;
}

absl::StatusOr<StoredHardState> DecodeHardState(std::span<const uint8_t> bytes) {
  if (bytes.size() != kHardStateBytes) {
    return absl::DataLossError(fmt::format("hard state of {} bytes", bytes.size()));
  }
  Reader reader(bytes);
  uint32_t magic = 0, version = 0, vote = 0, reserved_a = 0, reserved_b = 0, crc = 0;
  uint64_t sequence = 0, term = 0, commit = 0;
  MERIDIAN_CHECK(reader.U32(&magic) && reader.U32(&version) && reader.U64(&sequence) &&
                 reader.U64(&term) && reader.U32(&vote) && reader.U64(&commit) &&
                 reader.U32(&reserved_a) && reader.U32(&reserved_b) && reader.U32(&crc));
  if (magic != kHardStateMagic) return absl::DataLossError("hard state: bad magic");
  if (crc != io::Crc32c(bytes.first(kHardStateBytes - 4))) {
    return absl::DataLossError("hard state: CRC32C mismatch");
  }
  if (version != kHardStateVersion || sequence == 0 || term > raft::kTermMax.value() ||
      (vote != 0 && term == 0)) {
    return absl::DataLossError("hard state: malformed");
  }
  return StoredHardState{raft::HardState{raft::Term(term), io::NodeId(vote), raft::Index(commit)},
                         sequence};
}

// Replaces `<dir>/<name>` with `bytes` atomically and durably: write a temporary file, fsync
// it, rename it over, fsync the directory. The bytes go in writes of at most `write_bytes_max`
// (0: one write): the hard state writes each copy on its own, so that one misdirected write
// cannot misplace both.
absl::Status ReplaceFileDurably(io::Disk& disk, const std::string& dir, const std::string& name,
                                std::span<const uint8_t> bytes, size_t write_bytes_max = 0) {
  MERIDIAN_CHECK(!name.empty());
  MERIDIAN_CHECK(name.find('/') == std::string::npos, "a file name, not a path: '{}'", name);
  MERIDIAN_CHECK(!bytes.empty(), "an empty file would read back as damage");
  const std::string temporary = fmt::format("{}/{}.tmp", dir, name);
  absl::StatusOr<std::unique_ptr<io::File>> file = disk.Open(temporary, io::OpenMode::kCreate);
  if (!file.ok()) return file.status();
  if (absl::Status s = (*file)->Truncate(0); !s.ok()) return s;
  const size_t step = write_bytes_max == 0 ? bytes.size() : write_bytes_max;
  for (size_t offset = 0; offset < bytes.size(); offset += step) {
    const std::span<const uint8_t> part =
        bytes.subspan(offset, std::min(step, bytes.size() - offset));
    if (absl::Status s = (*file)->WriteAt(offset, part); !s.ok()) return s;
  }
  if (absl::Status s = (*file)->Sync(); !s.ok()) return s;
  if (absl::Status s = disk.Rename(temporary, fmt::format("{}/{}", dir, name)); !s.ok()) return s;
  return disk.SyncDir(dir);
}

std::vector<uint8_t> EncodeSnapshot(const raft::Snapshot& snapshot) {
  MERIDIAN_CHECK(snapshot.data.size() <= raft::kSnapshotDataBytesMax);
  // Paired with DecodeSnapshot's validation: what we write is what a read accepts.
  MERIDIAN_CHECK(snapshot.meta.index > raft::Index(0), "a snapshot covers at least one entry");
  MERIDIAN_CHECK(snapshot.meta.term > raft::Term(0));
  MERIDIAN_CHECK(raft::ValidateMembership(snapshot.meta.membership).ok());
  std::vector<uint8_t> out;
  out.reserve(snapshot.data.size() + 256);
  PutU32(out, kSnapshotMagic);
  PutU32(out, kSnapshotVersion);
  PutU64(out, snapshot.meta.index.value());
  PutU64(out, snapshot.meta.term.value());
  PutNodes(out, snapshot.meta.membership.voters);
  PutNodes(out, snapshot.meta.membership.learners);
  PutU32(out, static_cast<uint32_t>(snapshot.data.size()));
  out.insert(out.end(), snapshot.data.begin(), snapshot.data.end());
  PutU32(out, io::Crc32c(out));
  MERIDIAN_CHECK(out.size() <= kSnapshotFileBytesMax, "a snapshot file a load can read back");
  return out;
}

absl::StatusOr<raft::Snapshot> DecodeSnapshot(std::span<const uint8_t> bytes) {
  if (bytes.size() < 8 || bytes.size() > kSnapshotFileBytesMax) {
    return absl::DataLossError(fmt::format("snapshot file of {} bytes", bytes.size()));
  }
  Reader crc_reader(bytes.subspan(bytes.size() - 4));
  uint32_t crc = 0;
  MERIDIAN_CHECK(crc_reader.U32(&crc));
  if (crc != io::Crc32c(bytes.first(bytes.size() - 4))) {
    return absl::DataLossError("snapshot: CRC32C mismatch");
  }
  Reader reader(bytes.first(bytes.size() - 4));
  uint32_t magic = 0, version = 0, data_bytes = 0;
  uint64_t index = 0, term = 0;
  raft::Snapshot snapshot;
  if (!reader.U32(&magic) || magic != kSnapshotMagic) {
    return absl::DataLossError("snapshot: bad magic");
  }
  if (!reader.U32(&version) || version != kSnapshotVersion) {
    return absl::FailedPreconditionError(fmt::format(
        "snapshot: format version {} (this build reads {})", version, kSnapshotVersion));
  }
  if (!reader.U64(&index) || !reader.U64(&term) || index == 0 || term == 0 ||
      index > raft::kSnapshotIndexMax.value() || term > raft::kTermMax.value() ||
      !ReadNodes(reader, &snapshot.meta.membership.voters) ||
      !ReadNodes(reader, &snapshot.meta.membership.learners) ||
      !raft::ValidateMembership(snapshot.meta.membership).ok() || !reader.U32(&data_bytes) ||
      data_bytes > raft::kSnapshotDataBytesMax || reader.Rest().size() != data_bytes) {
    return absl::DataLossError("snapshot: malformed header");
  }
  snapshot.meta.index = raft::Index(index);
  snapshot.meta.term = raft::Term(term);
  snapshot.data.assign(reader.Rest().begin(), reader.Rest().end());
  MERIDIAN_CHECK(snapshot.data.size() == data_bytes);
  return snapshot;
}

absl::StatusOr<std::optional<raft::Snapshot>> LoadSnapshot(io::Disk& disk, const std::string& dir) {
  const std::string path = dir + "/snapshot";
  absl::StatusOr<std::unique_ptr<io::File>> file = disk.Open(path, io::OpenMode::kOpenExisting);
  if (absl::IsNotFound(file.status())) return std::nullopt;
  if (!file.ok()) return file.status();
  std::vector<uint8_t> bytes(kSnapshotFileBytesMax + 1);
  absl::StatusOr<size_t> read = (*file)->ReadAt(0, bytes);
  if (!read.ok()) return read.status();
  bytes.resize(*read);
  absl::StatusOr<raft::Snapshot> snapshot = DecodeSnapshot(bytes);
  if (absl::IsDataLoss(snapshot.status())) {
    return DamagedAtRestError(
        fmt::format("{}: {}", path, std::string(snapshot.status().message())));
  }
  if (!snapshot.ok()) return snapshot.status();
  return std::optional<raft::Snapshot>(*std::move(snapshot));
}

absl::Status StoreSnapshot(io::Disk& disk, const std::string& dir, const raft::Snapshot& snapshot) {
  return ReplaceFileDurably(disk, dir, "snapshot", EncodeSnapshot(snapshot));
}

namespace {

// Version 1 (before 2026-12-01): one 32-byte copy (magic, term, vote, commit, reserved, CRC32C).
// Read so that an upgraded replica keeps its vote; the next store replaces it with two copies.
constexpr size_t kLegacyHardStateBytes = 32;

absl::StatusOr<LoadedHardState> DecodeLegacyHardState(std::span<const uint8_t> bytes) {
  MERIDIAN_CHECK(bytes.size() == kLegacyHardStateBytes);
  Reader reader(bytes);
  uint32_t magic = 0, vote = 0, reserved = 0, crc = 0;
  uint64_t term = 0, commit = 0;
  MERIDIAN_CHECK(reader.U32(&magic) && reader.U64(&term) && reader.U32(&vote) &&
                 reader.U64(&commit) && reader.U32(&reserved) && reader.U32(&crc));
  if (magic != kHardStateMagic || crc != io::Crc32c(bytes.first(kLegacyHardStateBytes - 4)) ||
      term > raft::kTermMax.value()) {
    return DamagedAtRestError("hard state (version 1): damaged");
  }
  // Sequence 0 and no current copy: Open rewrites it in the two-copy format at once.
  return LoadedHardState{
      {raft::HardState{raft::Term(term), io::NodeId(vote), raft::Index(commit)}, 0}, 0};
}

}  // namespace

absl::StatusOr<LoadedHardState> LoadHardState(io::Disk& disk, const std::string& dir) {
  const std::string path = dir + "/hard_state";
  absl::StatusOr<std::unique_ptr<io::File>> file = disk.Open(path, io::OpenMode::kOpenExisting);
  if (absl::IsNotFound(file.status())) return LoadedHardState{};
  if (!file.ok()) return file.status();
  std::vector<uint8_t> bytes(kHardStateCopies * kHardStateCopyBytes);
  absl::StatusOr<size_t> read = (*file)->ReadAt(0, bytes);
  if (!read.ok()) return read.status();
  bytes.resize(*read);
  if (bytes.size() == kLegacyHardStateBytes) return DecodeLegacyHardState(bytes);
  std::vector<StoredHardState> valid;
  for (size_t copy = 0; copy < kHardStateCopies; copy++) {
    const size_t offset = copy * kHardStateCopyBytes;
    if (bytes.size() < offset + kHardStateBytes) continue;
    absl::StatusOr<StoredHardState> decoded =
        DecodeHardState(std::span<const uint8_t>(bytes).subspan(offset, kHardStateBytes));
    if (decoded.ok()) valid.push_back(*decoded);
  }
  if (valid.empty()) {
    return DamagedAtRestError(fmt::format("{}: every copy of the hard state is damaged", path));
  }
  LoadedHardState loaded;
  for (const StoredHardState& copy : valid) {
    if (copy.sequence > loaded.stored.sequence) loaded.stored = copy;
  }
  for (const StoredHardState& copy : valid) loaded.copies_current += copy == loaded.stored;
  MERIDIAN_CHECK(loaded.copies_current >= 1 && loaded.copies_current <= kHardStateCopies);
  return loaded;
}

absl::Status StoreHardState(io::Disk& disk, const std::string& dir, const StoredHardState& stored) {
  const std::vector<uint8_t> copy = EncodeHardState(stored);
  std::vector<uint8_t> image(kHardStateCopies * kHardStateCopyBytes, 0);
  for (size_t i = 0; i < kHardStateCopies; i++) {
    std::copy(copy.begin(), copy.end(), image.begin() + i * kHardStateCopyBytes);
  }
  const std::string path = dir + "/hard_state";
  absl::StatusOr<std::unique_ptr<io::File>> file = disk.Open(path, io::OpenMode::kOpenExisting);
  // The first store of this format (a new replica, one whose hard state was lost, or a version 1
  // file) replaces the file atomically: writing in place over what is there could tear it.
  if (stored.sequence == 1 || absl::IsNotFound(file.status())) {
    return ReplaceFileDurably(disk, dir, "hard_state", image, kHardStateCopyBytes);
  }
  if (!file.ok()) return file.status();
  // In place, one write per copy (a misdirected write then misplaces one copy, and the other
  // still holds the new state), and one fsync for both: a crash before it ends leaves each copy
  // old or new, or, at worst, both torn, which is a lost hard state and safe (amnesia). One
  // fsync, as the atomic replace this format replaced cost (plus its directory fsync).
  for (size_t i = 0; i < kHardStateCopies; i++) {
    const std::span<const uint8_t> block =
        std::span<const uint8_t>(image).subspan(i * kHardStateCopyBytes, kHardStateCopyBytes);
    if (absl::Status s = (*file)->WriteAt(i * kHardStateCopyBytes, block); !s.ok()) return s;
  }
  return (*file)->Sync();
}

absl::Status VisitLogEntries(log::Log& log, raft::Index after,
                             const std::function<absl::Status(raft::Entry)>& visit) {
  MERIDIAN_CHECK(log.start_offset() <= core::Offset(after.value()), "caller aligned the log");
  core::Offset next(after.value());
  while (next < log.end_offset()) {
    absl::StatusOr<log::ReadResult> read = log.Read(next, kReadBytesMax);
    if (!read.ok()) return read.status();
    MERIDIAN_CHECK(!read->batches.empty());
    for (const log::BatchRef& batch : read->batches) {
      const raft::Index index(batch.header.base_offset.value() + 1);
      MERIDIAN_CHECK(index > after, "read from past `after`");
      absl::StatusOr<raft::Entry> entry = DecodeEntry(batch.payload(), batch.header.term, index);
      if (!entry.ok()) return entry.status();
      if (absl::Status s = visit(std::move(*entry)); !s.ok()) return s;
    }
    MERIDIAN_CHECK(read->next_offset > next, "every read makes progress");
    next = read->next_offset;
  }
  return absl::OkStatus();
}

// Keeps the newest entries whole while they fit, eliding the oldest first as new ones come.
absl::StatusOr<std::vector<raft::Entry>> ReadEntriesAfter(log::Log& log, raft::Index after,
                                                          uint64_t cache_bytes_max) {
  std::vector<raft::Entry> entries;
  size_t first_cached = 0;
  uint64_t cached_bytes = 0;
  absl::Status status = VisitLogEntries(log, after, [&](raft::Entry entry) {
    cached_bytes += entry.data.size() + sizeof(raft::Entry);
    entries.push_back(std::move(entry));
    while (cached_bytes > cache_bytes_max && first_cached + 1 < entries.size()) {
      raft::Entry& oldest = entries[first_cached++];
      cached_bytes -= oldest.data.size() + sizeof(raft::Entry);
      if (oldest.kind != raft::EntryKind::kNormal) continue;  // Kept whole by raft anyway.
      oldest.elided = true;
      oldest.elided_bytes = static_cast<uint32_t>(oldest.data.size());
      std::string().swap(oldest.data);
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  for (size_t i = 0; i < entries.size(); i++) {
    MERIDIAN_CHECK(entries[i].index.value() == after.value() + 1 + i, "entry {} at position {}",
                   entries[i].index.ToString(), i);
    MERIDIAN_CHECK(entries[i].elided ==
                   (i < first_cached && entries[i].kind == raft::EntryKind::kNormal));
  }
  return entries;
}

}  // namespace meridian::core::replica
