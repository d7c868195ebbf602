#include "core/replica/mark_table.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <utility>

#include "core/replica/storage.h"
#include "io/assert.h"
#include "io/crc32c.h"
#include "io/probe.h"

namespace meridian::core::replica {
namespace {

constexpr uint32_t kMarkTableMagic = 0x544d524d;  // "MRMT"
constexpr uint16_t kMarkTableVersion = 1;
constexpr uint16_t kUnlistedDamaged = 1;  // Flag bit 0.
constexpr uint16_t kFlagsKnown = kUnlistedDamaged;
constexpr size_t kImageBytesOffset = 8;  // Where the image bytes field sits in the header.
constexpr std::array<const char*, 2> kFileNames = {"marks.0", "marks.1"};

// Image `sequence` lives in marks.((sequence + 1) % 2): image 1 in marks.0, image 2 in marks.1.
size_t FileOf(uint64_t sequence) {
  MERIDIAN_CHECK(sequence >= 1, "sequence 0 is no image");
  return static_cast<size_t>((sequence + 1) % 2);
}

void PutLittle(std::vector<uint8_t>& out, uint64_t value, int width) {
  MERIDIAN_CHECK(width == 2 || width == 4 || width == 8);
  if (width < 8)
    MERIDIAN_CHECK(value >> (8 * width) == 0, "{} does not fit {} bytes", value, width);
  for (int i = 0; i < width; i++) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

// Reads little-endian integers and byte strings from untrusted bytes; every read is
// bounds-checked and reports failure instead of reading past the end.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  bool Little(uint64_t* value, size_t width) {
    MERIDIAN_CHECK(width <= sizeof(*value));
    MERIDIAN_CHECK(position_ <= bytes_.size());
    if (bytes_.size() - position_ < width) return false;
    *value = 0;
    for (size_t i = 0; i < width; i++) *value |= uint64_t{bytes_[position_ + i]} << (8 * i);
    position_ += width;
    return true;
  }
  bool Bytes(size_t count, std::string* out) {
    MERIDIAN_CHECK(position_ <= bytes_.size());
    if (bytes_.size() - position_ < count) return false;
    out->assign(bytes_.begin() + static_cast<ptrdiff_t>(position_),
                bytes_.begin() + static_cast<ptrdiff_t>(position_ + count));
    position_ += count;
    return true;
  }
  bool AtEnd() const { return position_ == bytes_.size(); }

 private:
  std::span<const uint8_t> bytes_;
  size_t position_ = 0;
};

// Runs `undo` when its scope ends, also when a crash unwinds the fiber out of a wait (the
// scheduler unwinds fibers by throwing through them: io/scheduler.h).
template <typename Undo>
class OnScopeExit {
 public:
  explicit OnScopeExit(Undo undo) : undo_(std::move(undo)) {}
  ~OnScopeExit() { undo_(); }
  OnScopeExit(const OnScopeExit&) = delete;
  OnScopeExit& operator=(const OnScopeExit&) = delete;

 private:
  Undo undo_;
};

// A raft log position is zero (no entry) or has both a term and an index.
bool IsPlausible(const raft::LogPosition& position) {
  return (position.term.value() == 0) == (position.index.value() == 0);
}

absl::Status CheckGroupName(const std::string& group) {
  if (group.empty() || group.size() > kMarkTableGroupNameBytesMax) {
    return absl::InvalidArgumentError(
        fmt::format("group name of {} bytes (1 to {})", group.size(), kMarkTableGroupNameBytesMax));
  }
  return absl::OkStatus();
}

// Decodes the entries of an image whose header and CRC were checked: `reader` starts at the
// first entry and ends before the CRC.
absl::Status DecodeEntries(Reader& reader, uint64_t count, MarkTableImage& image) {
  MERIDIAN_CHECK(count <= kMarkTableGroupsMax, "the caller bounded the count");
  for (uint64_t i = 0; i < count; i++) {
    uint64_t name_bytes = 0;
    std::string name;
    uint64_t term = 0;
    uint64_t index = 0;
    if (!reader.Little(&name_bytes, 2) || name_bytes == 0 ||
        name_bytes > kMarkTableGroupNameBytesMax || !reader.Bytes(name_bytes, &name) ||
        !reader.Little(&term, 8) || !reader.Little(&index, 8)) {
      return absl::DataLossError(fmt::format("mark table: entry {} is malformed", i));
    }
    if (!image.marks.empty() && !(image.marks.rbegin()->first < name)) {
      return absl::DataLossError(fmt::format("mark table: entry {} is out of order", i));
    }
    const raft::LogPosition position{raft::Term(term), raft::Index(index)};
    if (!IsPlausible(position)) {
      return absl::DataLossError(
          fmt::format("mark table: entry {} has term {} index {}", i, term, index));
    }
    image.marks.emplace(std::move(name), position);
  }
  if (!reader.AtEnd()) return absl::DataLossError("mark table: bytes after the last entry");
  MERIDIAN_CHECK(image.marks.size() == count, "names were strictly increasing");
  return absl::OkStatus();
}

// What one of the two files holds.
struct FileContent {
  bool empty = true;
  std::optional<MarkTableImage> image;  // Set if it holds a valid image of the right parity.
};

absl::StatusOr<FileContent> ReadImageFile(io::File& file, size_t which) {
  MERIDIAN_CHECK(which < kFileNames.size());
  absl::StatusOr<uint64_t> size = file.Size();
  if (!size.ok()) return size.status();
  FileContent content{.empty = *size == 0};
  if (content.empty) return content;
  std::vector<uint8_t> bytes(std::min<uint64_t>(*size, kMarkTableImageBytesMax));
  absl::StatusOr<size_t> read = file.ReadAt(0, bytes);
  if (!read.ok()) return read.status();
  bytes.resize(*read);
  // The image bytes field finds the image: a crash may have lost the truncation after it.
  uint64_t image_bytes = 0;
  Reader header(std::span<const uint8_t>(bytes).subspan(std::min(bytes.size(), kImageBytesOffset)));
  if (!header.Little(&image_bytes, 4) || image_bytes > bytes.size()) return content;
  absl::StatusOr<MarkTableImage> image =
      DecodeMarkTableImage(std::span<const uint8_t>(bytes).first(image_bytes));
  if (!image.ok() && !absl::IsDataLoss(image.status())) return image.status();
  if (!image.ok()) return content;
  if (FileOf(image->sequence) != which) {
    MERIDIAN_PROBE("mark table: a valid image in the wrong file");
    return content;
  }
  content.image = *std::move(image);
  MERIDIAN_CHECK(!content.empty);
  return content;
}

// The newest valid image of the two files, or the verdict when neither holds one (see the
// header: "Damage at rest, precisely").
MarkTableImage ChooseNewest(const std::array<FileContent, 2>& files) {
  const FileContent& marks0 = files[0];
  const FileContent& marks1 = files[1];
  if (marks0.image && marks1.image) {
    MERIDIAN_CHECK(marks0.image->sequence != marks1.image->sequence, "parity differs");
    MERIDIAN_CHECK(!marks0.empty && !marks1.empty, "a valid image is not empty");
    return marks0.image->sequence > marks1.image->sequence ? *marks0.image : *marks1.image;
  }
  if (marks0.image) return *marks0.image;
  if (marks1.image) return *marks1.image;
  if (marks1.empty) {
    // marks.1 is written only after image 1 was synced in marks.0 and before any operation
    // returns OK: nothing was ever acknowledged. A torn first write, or nothing at all.
    if (!marks0.empty) MERIDIAN_PROBE("mark table: the very first image was torn");
    return MarkTableImage{};
  }
  MERIDIAN_PROBE("mark table: both images damaged at rest");
  return MarkTableImage{.sequence = 0, .unlisted_damaged = true, .marks = {}};
}

absl::Status EnsureDir(io::Disk& disk, const std::string& dir) {
  absl::StatusOr<bool> exists = disk.Exists(dir);
  if (!exists.ok()) return exists.status();
  if (*exists) return absl::OkStatus();
  if (absl::Status s = disk.CreateDir(dir); !s.ok()) return s;
  // The directory's name must survive a crash before anything in it can count.
  return disk.SyncDir(io::ParentDir(dir));
}

}  // namespace

std::vector<uint8_t> EncodeMarkTableImage(const MarkTableImage& image) {
  MERIDIAN_CHECK(image.sequence >= 1, "sequence 0 is the image of a table never written");
  MERIDIAN_CHECK(image.marks.size() <= kMarkTableGroupsMax, "{} groups", image.marks.size());
  std::vector<uint8_t> out;
  PutLittle(out, kMarkTableMagic, 4);
  PutLittle(out, kMarkTableVersion, 2);
  PutLittle(out, image.unlisted_damaged ? kUnlistedDamaged : 0, 2);
  PutLittle(out, 0, 4);  // Image bytes, filled in below.
  PutLittle(out, image.sequence, 8);
  PutLittle(out, image.marks.size(), 4);
  MERIDIAN_CHECK(out.size() == kMarkTableHeaderBytes);
  for (const auto& [group, position] : image.marks) {
    MERIDIAN_CHECK(CheckGroupName(group).ok(), "Advance and Reset check names");
    MERIDIAN_CHECK(IsPlausible(position), "group {} at {}/{}", group, position.term.value(),
                   position.index.value());
    PutLittle(out, group.size(), 2);
    out.insert(out.end(), group.begin(), group.end());
    PutLittle(out, position.term.value(), 8);
    PutLittle(out, position.index.value(), 8);
  }
  const uint64_t image_bytes = out.size() + kMarkTableCrcBytes;
  MERIDIAN_CHECK(image_bytes <= kMarkTableImageBytesMax);
  for (size_t i = 0; i < 4; i++) {
    out[kImageBytesOffset + i] = static_cast<uint8_t>(image_bytes >> (8 * i));
  }
  PutLittle(out, io::Crc32c(out), 4);
  MERIDIAN_CHECK(out.size() == image_bytes);
  return out;  // DecodeMarkTableImage reads it back: mark_table_test pairs them.
}

absl::StatusOr<MarkTableImage> DecodeMarkTableImage(std::span<const uint8_t> bytes) {
  if (bytes.size() < kMarkTableHeaderBytes + kMarkTableCrcBytes ||
      bytes.size() > kMarkTableImageBytesMax) {
    return absl::DataLossError(fmt::format("mark table image of {} bytes", bytes.size()));
  }
  const size_t body_bytes = bytes.size() - kMarkTableCrcBytes;
  Reader header(bytes.first(kMarkTableHeaderBytes));
  uint64_t magic = 0, version = 0, flags = 0, image_bytes = 0, sequence = 0, count = 0;
  const bool read = header.Little(&magic, 4) && header.Little(&version, 2) &&
                    header.Little(&flags, 2) && header.Little(&image_bytes, 4) &&
                    header.Little(&sequence, 8) && header.Little(&count, 4);
  MERIDIAN_CHECK(read && header.AtEnd(), "the size was checked");
  if (magic != kMarkTableMagic) return absl::DataLossError("mark table: bad magic");
  if (image_bytes != bytes.size()) return absl::DataLossError("mark table: image is cut");
  uint64_t crc = 0;
  Reader trailer(bytes.subspan(body_bytes));
  MERIDIAN_CHECK(trailer.Little(&crc, 4), "the size was checked");
  if (crc != io::Crc32c(bytes.first(body_bytes))) {
    return absl::DataLossError("mark table: CRC32C mismatch");
  }
  if (version > kMarkTableVersion) {
    return absl::FailedPreconditionError(fmt::format("mark table format version {}", version));
  }
  if (version != kMarkTableVersion || (flags & ~uint64_t{kFlagsKnown}) != 0 || sequence == 0 ||
      count > kMarkTableGroupsMax) {
    return absl::DataLossError(fmt::format("mark table: version {} flags {} sequence {} count {}",
                                           version, flags, sequence, count));
  }
  MarkTableImage image{.sequence = sequence, .unlisted_damaged = (flags & kUnlistedDamaged) != 0};
  Reader entries(bytes.subspan(kMarkTableHeaderBytes, body_bytes - kMarkTableHeaderBytes));
  if (absl::Status s = DecodeEntries(entries, count, image); !s.ok()) return s;
  MERIDIAN_CHECK(image.sequence >= 1);
  return image;
}

absl::StatusOr<std::unique_ptr<DurableMarkTable>> DurableMarkTable::Open(io::Runtime& runtime,
                                                                         io::Disk& disk,
                                                                         std::string dir,
                                                                         bool unsynced_for_tests) {
  if (absl::Status s = io::ValidatePath(dir); !s.ok()) return s;
  if (absl::Status s = EnsureDir(disk, dir); !s.ok()) return s;
  std::array<std::unique_ptr<io::File>, 2> files;
  bool created = false;
  for (size_t which = 0; which < files.size(); which++) {
    const std::string path = fmt::format("{}/{}", dir, kFileNames[which]);
    absl::StatusOr<bool> existed = disk.Exists(path);
    if (!existed.ok()) return existed.status();
    absl::StatusOr<std::unique_ptr<io::File>> file = disk.Open(path, io::OpenMode::kCreate);
    if (!file.ok()) return file.status();
    files[which] = *std::move(file);
    created = created || !*existed;
  }
  // Both names must survive a crash before any image written into them can count.
  if (created) {
    if (absl::Status s = disk.SyncDir(dir); !s.ok()) return s;
  }
  std::array<FileContent, 2> contents;
  for (size_t which = 0; which < files.size(); which++) {
    absl::StatusOr<FileContent> content = ReadImageFile(*files[which], which);
    if (!content.ok()) return content.status();
    contents[which] = *std::move(content);
    // What was read may sit in the page cache only (a restart without a power cut).
    if (!contents[which].empty) {
      if (absl::Status s = files[which]->Sync(); !s.ok()) return s;
    }
  }
  MarkTableImage newest = ChooseNewest(contents);
  if (newest.sequence == 0) MERIDIAN_CHECK(newest.marks.empty(), "no image, no marks");
  std::unique_ptr<DurableMarkTable> table(new DurableMarkTable(
      runtime, std::move(dir), std::move(files), std::move(newest), !contents[1].empty));
  table->unsynced_for_tests_ = unsynced_for_tests;
  if (!table->marks1_written_ && table->written_sequence_ >= 1) {
    // A crash between image 1 and its copy in marks.1: write the copy before any call relies on
    // image 1 (with marks.1 empty, damage to marks.0 would read as a fresh table).
    MERIDIAN_PROBE("mark table: marks.1 is empty after an image; writing its copy");
    table->Changed();
    if (absl::Status s = table->WaitForImage(table->generation_); !s.ok()) return s;
    MERIDIAN_CHECK(table->marks1_written_);
  }
  return table;
}

DurableMarkTable::DurableMarkTable(io::Runtime& runtime, std::string dir,
                                   std::array<std::unique_ptr<io::File>, 2> files,
                                   MarkTableImage newest, bool marks1_written)
    : runtime_(runtime),
      dir_(std::move(dir)),
      files_(std::move(files)),
      marks1_written_(marks1_written),
      written_sequence_(newest.sequence),
      durable_(newest),
      next_(std::move(newest)),
      round_waiters_(runtime) {
  MERIDIAN_CHECK(files_[0] != nullptr && files_[1] != nullptr);
  // Not asserted: marks.1 empty after image 2 (a disk that lost a file's length) is disk state;
  // Open writes the next image into marks.1 then.
  MERIDIAN_CHECK(written_sequence_ == durable_.sequence);
}

DurableMarkTable::~DurableMarkTable() {
  // Unwinding fibers (a crash, a shutdown) leave their waits before the table goes.
  MERIDIAN_CHECK(waiters_ == 0, "{} fibers still wait in the mark table", waiters_);
}

absl::Status DurableMarkTable::CheckKnown(const MarkTableImage& image,
                                          const std::string& group) const {
  if (!image.unlisted_damaged || image.marks.contains(group)) return absl::OkStatus();
  return DamagedAtRestError(
      fmt::format("{}: the mark of group {} was lost with the damaged table", dir_, group));
}

absl::StatusOr<raft::LogPosition> DurableMarkTable::Get(const std::string& group) const {
  if (absl::Status s = CheckGroupName(group); !s.ok()) return s;
  if (!failed_.ok()) return failed_;
  if (absl::Status s = CheckKnown(durable_, group); !s.ok()) return s;
  auto it = durable_.marks.find(group);
  if (it == durable_.marks.end()) return raft::LogPosition{};
  MERIDIAN_CHECK(IsPlausible(it->second));
  return it->second;
}

absl::Status DurableMarkTable::Advance(const std::string& group,
                                       const raft::LogPosition& position) {
  if (absl::Status s = CheckGroupName(group); !s.ok()) return s;
  MERIDIAN_CHECK(IsPlausible(position), "group {} advanced to term {} index {}", group,
                 position.term.value(), position.index.value());
  if (!failed_.ok()) return failed_;
  if (absl::Status s = CheckKnown(next_, group); !s.ok()) return s;
  auto durable = durable_.marks.find(group);
  const raft::LogPosition synced =
      durable == durable_.marks.end() ? raft::LogPosition{} : durable->second;
  if (synced.IsAtLeast(position)) return absl::OkStatus();  // Never lowered; already durable.
  auto next = next_.marks.find(group);
  if (next == next_.marks.end()) {
    if (next_.marks.size() >= kMarkTableGroupsMax) {
      return absl::InvalidArgumentError(
          fmt::format("the mark table holds {} groups already", next_.marks.size()));
    }
    next_.marks.emplace(group, position);
    Changed();
  } else if (!next->second.IsAtLeast(position)) {
    next->second = position;
    Changed();
  }
  if (absl::Status s = WaitWhileBusy(group); !s.ok()) return s;
  // Group commit's promise: the synced image holds this mark or a higher one.
  durable = durable_.marks.find(group);
  MERIDIAN_CHECK(durable != durable_.marks.end(), "group {} advanced but not in the image", group);
  MERIDIAN_CHECK(durable->second.IsAtLeast(position), "group {} advanced to {}/{}, image has {}/{}",
                 group, position.term.value(), position.index.value(), durable->second.term.value(),
                 durable->second.index.value());
  return absl::OkStatus();
}

absl::Status DurableMarkTable::Forget(const std::string& group) {
  if (absl::Status s = CheckGroupName(group); !s.ok()) return s;
  if (!failed_.ok()) return failed_;
  if (busy_.contains(group)) {
    return absl::FailedPreconditionError(fmt::format("group {} has a call in flight", group));
  }
  if (!next_.marks.contains(group) && !durable_.marks.contains(group)) return absl::OkStatus();
  if (next_.marks.erase(group) == 1) Changed();
  const absl::Status status = WaitWhileBusy(group);
  // Nothing re-added it since (next_ lacks it), so every image since the erase lacks it.
  if (status.ok() && !next_.marks.contains(group)) MERIDIAN_CHECK(!durable_.marks.contains(group));
  return status;
}

absl::Status DurableMarkTable::Reset(const std::string& group, const raft::LogPosition& position) {
  if (absl::Status s = CheckGroupName(group); !s.ok()) return s;
  MERIDIAN_CHECK(IsPlausible(position), "group {} reset to term {} index {}", group,
                 position.term.value(), position.index.value());
  if (!failed_.ok()) return failed_;
  if (busy_.contains(group)) {
    return absl::FailedPreconditionError(fmt::format("group {} has a call in flight", group));
  }
  if (!next_.marks.contains(group) && next_.marks.size() >= kMarkTableGroupsMax) {
    return absl::InvalidArgumentError(
        fmt::format("the mark table holds {} groups already", next_.marks.size()));
  }
  next_.marks[group] = position;
  Changed();
  const absl::Status status = WaitWhileBusy(group);
  // Only Forget removes a group, and it refuses one with a call in flight.
  if (status.ok()) MERIDIAN_CHECK(durable_.marks.contains(group), "Reset {} not stored", group);
  return status;
}

absl::Status DurableMarkTable::ClearDamage() {
  if (!failed_.ok()) return failed_;
  if (!next_.unlisted_damaged && !durable_.unlisted_damaged) return absl::OkStatus();
  next_.unlisted_damaged = false;
  Changed();
  const absl::Status status = WaitForImage(generation_);
  if (status.ok() && !next_.unlisted_damaged) MERIDIAN_CHECK(!durable_.unlisted_damaged);
  return status;
}

absl::Status DurableMarkTable::WaitWhileBusy(const std::string& group) {
  MERIDIAN_CHECK(!group.empty());
  busy_[group]++;
  const OnScopeExit done([&] {
    auto in_flight = busy_.find(group);
    MERIDIAN_CHECK(in_flight != busy_.end() && in_flight->second > 0);
    if (--in_flight->second == 0) busy_.erase(in_flight);
  });
  return WaitForImage(generation_);
}

absl::Status DurableMarkTable::WaitForImage(uint64_t generation) {
  MERIDIAN_CHECK(generation <= generation_, "a change not made yet");
  if (waiters_ >= kMarkTableWaitersMax) {
    return absl::ResourceExhaustedError("too many fibers wait in the mark table");
  }
  waiters_++;
  const OnScopeExit left([this] {
    MERIDIAN_CHECK(waiters_ > 0);
    waiters_--;
  });
  absl::Status result;
  bool yielded = false;
  while (synced_generation_ < generation) {
    if (!failed_.ok()) {
      result = failed_;
      break;
    }
    if (!writing_ && !yielded) {
      // Before leading, let every runnable fiber run once: those woken by the last round, or
      // spawned with this one, add their changes now and ride on this round.
      yielded = true;
      runtime_.scheduler().Yield();
      continue;
    }
    if (!writing_) {
      LeadRound();  // Its outcome shows in synced_generation_ or failed_.
      continue;
    }
    // A round is in flight: it encoded its image before this change, maybe. Wait for it to end,
    // then lead or ride the next one.
    result = round_waiters_.WaitUntil(
        [&] { return !writing_ || synced_generation_ >= generation || !failed_.ok(); },
        io::Instant::Infinite(), "mark table round");
    if (!result.ok()) break;
  }
  if (result.ok()) MERIDIAN_CHECK(synced_generation_ >= generation);
  return result;
}

void DurableMarkTable::LeadRound() {
  MERIDIAN_CHECK(!writing_, "one round at a time");
  MERIDIAN_CHECK(failed_.ok(), "a failed table writes nothing");
  writing_ = true;
  MarkTableImage image = next_;
  const uint64_t generation = generation_;
  absl::Status status = WriteImage(image);
  // The table's first round: its image again, as image 2 into marks.1, before anyone is told
  // (see the header: with marks.1 empty, Open calls a table with no valid image fresh).
  if (status.ok() && !marks1_written_) status = WriteImage(image);
  if (status.ok()) {
    MERIDIAN_CHECK(marks1_written_, "no operation returns before marks.1 holds an image");
    MERIDIAN_CHECK(generation >= synced_generation_, "images only move forward");
    durable_ = std::move(image);
    synced_generation_ = generation;
  } else {
    failed_ = status;
  }
  writing_ = false;
  round_waiters_.NotifyAll();
}

absl::Status DurableMarkTable::WriteImage(MarkTableImage& image) {
  MERIDIAN_CHECK(writing_, "only a round's leader writes");
  MERIDIAN_CHECK(written_sequence_ < UINT64_MAX);
  // The sequence after the newest valid image's, so its file is the other one.
  image.sequence = written_sequence_ + 1;
  const size_t which = FileOf(image.sequence);
  if (written_sequence_ >= 1) MERIDIAN_CHECK(which != FileOf(written_sequence_));
  io::File& file = *files_[which];
  const io::Instant write_start = runtime_.Now();
  const std::vector<uint8_t> bytes = EncodeMarkTableImage(image);
  if (which == 1) marks1_written_ = true;
  if (absl::Status s = file.WriteAt(0, bytes); !s.ok()) return s;
  // The truncation only matters when the file held a longer image: one to the length the file
  // already has changes nothing on disk, yet costs a metadata update in every fsync after it
  // (about a third more per image on ext4, measured; the image's length only moves when groups
  // come or go, so most rounds skip it).
  const std::optional<uint64_t> known = file_bytes_[which];
  if (!known.has_value() || *known > bytes.size()) {
    if (absl::Status s = file.Truncate(bytes.size()); !s.ok()) return s;
  }
  file_bytes_[which] = bytes.size();  // A write at 0 of a longer image extends the file to it.
  if (!unsynced_for_tests_) {
    if (absl::Status s = file.Sync(); !s.ok()) return s;
  }
  written_sequence_ = image.sequence;
  image_writes_++;
  image_write_latency_ns_.Observe((runtime_.Now() - write_start).count());
  return absl::OkStatus();
}

}  // namespace meridian::core::replica
