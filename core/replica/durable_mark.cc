#include "core/replica/durable_mark.h"

#include <fmt/format.h>

#include <array>

#include "core/replica/mark_table.h"
#include "core/replica/storage.h"
#include "io/assert.h"
#include "io/crc32c.h"
#include "io/probe.h"

namespace meridian::core::replica {
namespace {

constexpr uint32_t kDurableMarkMagic = 0x4d52444d;  // "MRDM"
constexpr char kFileName[] = "durable_mark";

void PutLittle(std::vector<uint8_t>& out, uint64_t value, int width) {
  MERIDIAN_CHECK(width == 4 || width == 8);
  if (width == 4) MERIDIAN_CHECK(value <= UINT32_MAX, "{} does not fit 4 bytes", value);
  for (int i = 0; i < width; i++) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

uint64_t GetLittle(std::span<const uint8_t> bytes, size_t at, int width) {
  MERIDIAN_CHECK(at + static_cast<size_t>(width) <= bytes.size(), "the caller checked the size");
  uint64_t value = 0;
  for (int i = 0; i < width; i++) value |= uint64_t{bytes[at + i]} << (8 * i);
  return value;
}

}  // namespace

std::vector<uint8_t> EncodeDurableMarkSlot(const DurableMarkSlot& slot) {
  MERIDIAN_CHECK(slot.sequence >= 1, "sequence 0 is the mark of a file never written");
  std::vector<uint8_t> out;
  PutLittle(out, kDurableMarkMagic, 4);
  PutLittle(out, slot.sequence, 8);
  PutLittle(out, slot.position.term.value(), 8);
  PutLittle(out, slot.position.index.value(), 8);
  PutLittle(out, io::Crc32c(out), 4);
  MERIDIAN_CHECK(out.size() == kDurableMarkSlotBytes);
  return out;  // DecodeDurableMarkSlot reads it back: durable_mark's round-trip test pairs them.
}

absl::StatusOr<DurableMarkSlot> DecodeDurableMarkSlot(std::span<const uint8_t> bytes) {
  if (bytes.size() != kDurableMarkSlotBytes) {
    return absl::DataLossError(fmt::format("durable mark slot of {} bytes", bytes.size()));
  }
  if (GetLittle(bytes, 0, 4) != kDurableMarkMagic) {
    return absl::DataLossError("durable mark: bad magic");
  }
  if (GetLittle(bytes, 28, 4) != io::Crc32c(bytes.first(28))) {
    return absl::DataLossError("durable mark: CRC32C mismatch");
  }
  return DurableMarkSlot{
      .sequence = GetLittle(bytes, 4, 8),
      .position = {raft::Term(GetLittle(bytes, 12, 8)), raft::Index(GetLittle(bytes, 20, 8))}};
}

namespace {

// The newest valid slot of the durable mark file at `path` (a zero slot if it marks nothing).
absl::StatusOr<DurableMarkSlot> ReadNewestSlot(io::File& file, const std::string& path) {
  std::array<uint8_t, 2 * kDurableMarkSlotBytes> bytes{};
  absl::StatusOr<size_t> read = file.ReadAt(0, bytes);
  if (!read.ok()) return read.status();
  DurableMarkSlot newest;
  int valid = 0;
  for (size_t slot = 0; slot < 2; slot++) {
    if (*read < (slot + 1) * kDurableMarkSlotBytes) continue;
    absl::StatusOr<DurableMarkSlot> decoded =
        DecodeDurableMarkSlot(std::span<const uint8_t>(bytes).subspan(slot * kDurableMarkSlotBytes,
                                                                      kDurableMarkSlotBytes));
    if (!decoded.ok()) continue;
    valid++;
    if (decoded->sequence >= newest.sequence) newest = *decoded;
  }
  // Slot 1 is first written by the second mark, after slot 0's write was synced: a file that
  // reaches into slot 1 with no valid slot lost a synced record to damage.
  MERIDIAN_CHECK(valid <= 2);
  if (valid == 0) MERIDIAN_CHECK(newest.sequence == 0, "no slot read: the mark of no write");
  if (valid == 0 && *read > kDurableMarkSlotBytes) {
    return DamagedAtRestError(fmt::format("{}: both copies are damaged", path));
  }
  return newest;
}

}  // namespace

absl::StatusOr<std::unique_ptr<DurableMark>> DurableMark::Open(io::Disk& disk,
                                                               const std::string& dir, Sync sync) {
  const std::string path = fmt::format("{}/{}", dir, kFileName);
  absl::StatusOr<bool> existed = disk.Exists(path);
  if (!existed.ok()) return existed.status();
  absl::StatusOr<std::unique_ptr<io::File>> file = disk.Open(path, io::OpenMode::kCreate);
  if (!file.ok()) return file.status();
  if (!*existed) {
    // The name must survive a crash before any mark written into the file can count.
    if (absl::Status s = disk.SyncDir(dir); !s.ok()) return s;
  }
  absl::StatusOr<DurableMarkSlot> newest = ReadNewestSlot(**file, path);
  if (!newest.ok()) return newest.status();
  return std::unique_ptr<DurableMark>(new DurableMark(std::move(*file), *newest, sync));
}

absl::StatusOr<std::unique_ptr<DurableMark>> DurableMark::OpenInTable(DurableMarkTable& table,
                                                                      std::string group,
                                                                      io::Disk& disk,
                                                                      const std::string& dir) {
  absl::StatusOr<raft::LogPosition> position = table.Get(group);
  if (!position.ok()) return position.status();
  const std::string path = fmt::format("{}/{}", dir, kFileName);
  absl::StatusOr<bool> legacy = disk.Exists(path);
  if (!legacy.ok()) return legacy.status();
  if (*legacy) {
    // Marks written before the node moved to the table: none of them may be forgotten.
    absl::StatusOr<std::unique_ptr<io::File>> file = disk.Open(path, io::OpenMode::kOpenExisting);
    if (!file.ok()) return file.status();
    absl::StatusOr<DurableMarkSlot> newest = ReadNewestSlot(**file, path);
    if (!newest.ok()) return newest.status();
    if (!position->IsAtLeast(newest->position)) {
      MERIDIAN_PROBE("durable mark: the legacy per-group file is ahead of the table");
      *position = newest->position;
    }
    MERIDIAN_CHECK(position->IsAtLeast(newest->position), "the higher of the two");
  }
  return std::unique_ptr<DurableMark>(new DurableMark(table, std::move(group), *position));
}

absl::Status DurableMark::Advance(const raft::LogPosition& synced, io::Instant now, When when) {
  if (written_at_.has_value()) MERIDIAN_CHECK(now >= *written_at_, "time runs forward");
  if (synced.index == position_.index && synced.term == position_.term) return absl::OkStatus();
  if (!synced.IsAtLeast(position_)) {
    // Still below what this replica once had durable (it is being repaired): keep the mark.
    return absl::OkStatus();
  }
  if (when == When::kRateLimited && written_at_.has_value() &&
      now - *written_at_ < kDurableMarkInterval) {
    return absl::OkStatus();
  }
  MERIDIAN_CHECK(synced.IsAtLeast(position_), "the mark never goes back");
  const absl::Status written =
      table_ != nullptr ? table_->Advance(group_, synced) : WriteSlot(synced);
  if (!written.ok()) return written;
  position_ = synced;
  written_at_ = now;
  MERIDIAN_CHECK(position_.index == synced.index);
  MERIDIAN_CHECK(position_.term == synced.term);
  return absl::OkStatus();
}

absl::Status DurableMark::WriteSlot(const raft::LogPosition& synced) {
  MERIDIAN_CHECK(file_ != nullptr, "a mark in a table has no file of its own");
  const DurableMarkSlot next{.sequence = sequence_ + 1, .position = synced};
  const uint64_t offset = ((next.sequence + 1) % 2) * kDurableMarkSlotBytes;  // 1st: slot 0.
  MERIDIAN_CHECK(offset + kDurableMarkSlotBytes <= 2 * kDurableMarkSlotBytes, "two slots");
  if (absl::Status s = file_->WriteAt(offset, EncodeDurableMarkSlot(next)); !s.ok()) return s;
  if (sync_ == Sync::kSynced) {
    if (absl::Status s = file_->Sync(); !s.ok()) return s;
  }
  sequence_ = next.sequence;
  return absl::OkStatus();
}

}  // namespace meridian::core::replica
