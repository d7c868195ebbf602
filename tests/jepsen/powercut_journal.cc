// Rollback of a powercut_shim undo journal (powercut_journal.h). The record layout is the one
// powercut_shim.c writes; a torn trailing record (the process died while appending it) is
// ignored: its operation had not started, the shim journals before it acts.
#include "tests/jepsen/powercut_journal.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <vector>

#include "tests/jepsen/powercut_format.h"

namespace meridian::tests::jepsen {
namespace {

constexpr uint32_t kMagic = PC_MAGIC;
constexpr uint64_t kSectorBytes = 512;
enum RecordType : uint32_t {
  kWrite = 1,
  kTruncate = 2,
  kSyncFile = 3,
  kCreate = 4,
  kRename = 5,
  kSyncDir = 6
};

using Header = pc_header;
static_assert(sizeof(Header) == 56);

struct Record {
  Header header;
  std::string path, path2, data;
  int identity = -1;  // which file (a rename keeps it), for syncs
  bool durable = false;
};

uint32_t Fnv(uint32_t hash, const void* bytes, size_t size) {
  const auto* p = static_cast<const unsigned char*>(bytes);
  for (size_t i = 0; i < size; i++) hash = (hash ^ p[i]) * 16777619u;
  return hash;
}

std::vector<Record> Parse(const std::string& bytes, bool* torn_tail) {
  std::vector<Record> records;
  size_t at = 0;
  *torn_tail = false;
  while (at < bytes.size()) {
    Record r;
    if (bytes.size() - at < sizeof(Header)) break;
    std::memcpy(&r.header, bytes.data() + at, sizeof(Header));
    const Header& h = r.header;
    const size_t total = sizeof(Header) + h.path_len + h.path2_len + h.data_len;
    if (h.magic != kMagic || bytes.size() - at < total) break;
    r.path = bytes.substr(at + sizeof(Header), h.path_len);
    r.path2 = bytes.substr(at + sizeof(Header) + h.path_len, h.path2_len);
    r.data = bytes.substr(at + sizeof(Header) + h.path_len + h.path2_len, h.data_len);
    Header zeroed = h;
    zeroed.checksum = 0;
    uint32_t hash = Fnv(2166136261u, &zeroed, sizeof(zeroed));
    hash = Fnv(hash, r.path.data(), r.path.size());
    hash = Fnv(hash, r.path2.data(), r.path2.size());
    hash = Fnv(hash, r.data.data(), r.data.size());
    if (hash != h.checksum) break;
    records.push_back(std::move(r));
    at += total;
  }
  *torn_tail = at < bytes.size();
  return records;
}

std::string Parent(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos || slash == 0 ? path : path.substr(0, slash);
}

// Gives every record the identity of the file it touched, then marks what syncs made durable.
void MarkDurable(std::vector<Record>& records) {
  std::map<std::string, int> identity_of;
  int next_identity = 0;
  const auto identity = [&](const std::string& path) {
    auto [it, inserted] = identity_of.try_emplace(path, next_identity);
    if (inserted) next_identity++;
    return it->second;
  };
  for (Record& r : records) {
    r.identity = identity(r.path);
    if (r.header.type == kRename) {
      identity_of[r.path2] = r.identity;
      identity_of.erase(r.path);
    }
  }
  for (size_t i = 0; i < records.size(); i++) {
    const Record& sync = records[i];
    if (sync.header.type != kSyncFile && sync.header.type != kSyncDir) continue;
    for (size_t j = 0; j < i; j++) {
      Record& r = records[j];
      if (r.header.seq >= sync.header.seq) continue;
      const uint32_t type = r.header.type;
      if (sync.header.type == kSyncFile && (type == kWrite || type == kTruncate) &&
          r.identity == sync.identity) {
        r.durable = true;
      }
      if (sync.header.type == kSyncDir && type == kCreate && Parent(r.path) == sync.path) {
        r.durable = true;
      }
      if (sync.header.type == kSyncDir && type == kRename && Parent(r.path2) == sync.path) {
        r.durable = true;
      }
    }
  }
}

absl::Status WriteBack(const std::string& path, uint64_t offset, std::string_view bytes,
                       std::optional<uint64_t> size) {
  const int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return absl::OkStatus();  // Removed since (by an undone create): nothing to do.
  bool ok = true;
  if (size.has_value()) ok = ftruncate(fd, static_cast<off_t>(*size)) == 0;
  if (ok && !bytes.empty()) {
    ok = pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)) ==
         static_cast<ssize_t>(bytes.size());
  }
  close(fd);
  if (!ok) return absl::InternalError(fmt::format("cannot roll back {}", path));
  return absl::OkStatus();
}

// Undoes one operation; `torn_keep_bytes` > 0 keeps that many leading bytes of a write.
absl::Status Undo(const Record& r, uint64_t torn_keep_bytes, RollbackStats& stats) {
  const Header& h = r.header;
  stats.undone++;
  switch (h.type) {
    case kWrite: {
      const uint64_t keep = std::min<uint64_t>(torn_keep_bytes, r.data.size());
      stats.bytes_restored += r.data.size() - keep;
      // A full undo restores the old size; a torn one keeps the write's first bytes.
      const uint64_t size =
          torn_keep_bytes > 0 ? std::max(h.old_size, h.offset + torn_keep_bytes) : h.old_size;
      const std::string_view rest = std::string_view(r.data).substr(keep);
      if (absl::Status s = WriteBack(r.path, h.offset + keep, rest, std::nullopt); !s.ok()) {
        return s;
      }
      return WriteBack(r.path, 0, {}, size);
    }
    case kTruncate:
      stats.bytes_restored += r.data.size();
      return WriteBack(r.path, h.offset, r.data, h.old_size);
    case kCreate:
      unlink(r.path.c_str());
      return absl::OkStatus();
    case kRename:
      if (rename(r.path2.c_str(), r.path.c_str()) != 0) return absl::OkStatus();
      if (h.offset == 1 && link(r.data.c_str(), r.path2.c_str()) != 0) {
        return absl::InternalError(fmt::format("cannot restore {} from {}", r.path2, r.data));
      }
      return absl::OkStatus();
    default:
      return absl::InternalError(fmt::format("journal record of type {} to undo", h.type));
  }
}

}  // namespace

std::string RollbackStats::ToString() const {
  return fmt::format(
      "{} journal records, {} unsynced operations undone ({} bytes restored), {} kept", records,
      undone, bytes_restored, kept_unsynced);
}

absl::StatusOr<RollbackStats> RollBackJournal(const std::string& journal_path, PowerCutMode mode,
                                              uint64_t seed) {
  std::ifstream in(journal_path, std::ios::binary);
  if (!in) return absl::NotFoundError("no power-cut journal at " + journal_path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  bool torn_tail = false;
  std::vector<Record> records = Parse(buffer.str(), &torn_tail);
  RollbackStats stats;
  stats.records = records.size();
  MarkDurable(records);
  std::vector<const Record*> undo;
  for (const Record& r : records) {
    const uint32_t type = r.header.type;
    if (!r.durable && type != kSyncFile && type != kSyncDir) undo.push_back(&r);
  }
  std::sort(undo.begin(), undo.end(),
            [](const Record* a, const Record* b) { return a->header.seq < b->header.seq; });
  size_t keep = 0;
  uint64_t torn_keep_bytes = 0;
  std::mt19937_64 random(seed);
  if (mode == PowerCutMode::kTornPrefix && !undo.empty()) {
    keep = random() % (undo.size() + 1);
    stats.kept_unsynced = keep;
    const Record* last = keep > 0 ? undo[keep - 1] : nullptr;
    if (last != nullptr && last->header.type == kWrite && last->header.length > kSectorBytes) {
      torn_keep_bytes = (random() % (last->header.length / kSectorBytes)) * kSectorBytes;
      if (torn_keep_bytes > 0) keep--;  // It is rolled back partially below.
    }
  }
  for (size_t i = undo.size(); i > keep; i--) {
    const bool torn = i - 1 == keep && torn_keep_bytes > 0;
    if (absl::Status s = Undo(*undo[i - 1], torn ? torn_keep_bytes : 0, stats); !s.ok()) return s;
  }
  if (unlink(journal_path.c_str()) != 0) return absl::InternalError("cannot remove the journal");
  return stats;
}

}  // namespace meridian::tests::jepsen
