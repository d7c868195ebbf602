// DurableMarkTable (mark_table.h): its image codec, group commit, and what survives a crash.
//
// Crashes run on CrashDisk below, an in-memory io::Disk with io/disk.h's crash model (the one
// sim::SimDisk implements, which core/ may not depend on): each file keeps the bytes reads see
// and the bytes a power cut keeps (updated by Sync), names become durable by SyncDir of their
// directory, and a crash rolls both back, optionally tearing unsynced writes sector by sector
// (each unsynced sector independently lands or not; the length is the old or the new one, or what
// a truncation since the last sync left).
// Fibers and virtual time come from core/client's TestRuntime: a Sync sleeps 100-200 us, so
// fibers pile up behind a round in flight exactly as they do behind a real fsync.
#include "core/replica/mark_table.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "core/client/testing/test_runtime.h"
#include "core/replica/durable_mark.h"
#include "core/replica/storage.h"
#include "io/assert.h"
#include "io/crc32c.h"
#include "io/random.h"

namespace meridian::core::replica {
namespace {

using client::testing::TestRuntime;
using std::chrono::microseconds;
using std::chrono::milliseconds;

constexpr char kDir[] = "marks";

raft::LogPosition At(uint64_t term, uint64_t index) {
  return {raft::Term(term), raft::Index(index)};
}

bool Same(const raft::LogPosition& a, const raft::LogPosition& b) {
  return a.term == b.term && a.index == b.index;
}

std::string Show(const absl::StatusOr<raft::LogPosition>& position) {
  if (!position.ok()) return position.status().ToString();
  return fmt::format("{}/{}", position->term.value(), position->index.value());
}

// --- CrashDisk: io/disk.h's durability contract, in memory. ---

struct Inode {
  std::vector<uint8_t> data;     // What reads see.
  std::vector<uint8_t> durable;  // What a crash keeps.
  // The shortest length a truncation left since the last sync: a crash may keep that
  // truncation without the writes after it.
  size_t shortest = SIZE_MAX;
};

class CrashDisk;

class CrashFile final : public io::File {
 public:
  CrashFile(CrashDisk& disk, std::shared_ptr<Inode> inode, std::string path)
      : disk_(disk), inode_(std::move(inode)), path_(std::move(path)) {}
  absl::Status WriteAt(uint64_t offset, std::span<const uint8_t> data) override {
    if (inode_->data.size() < offset + data.size()) inode_->data.resize(offset + data.size());
    std::copy(data.begin(), data.end(), inode_->data.begin() + static_cast<ptrdiff_t>(offset));
    return absl::OkStatus();
  }
  absl::StatusOr<uint64_t> Append(std::span<const uint8_t> data) override {
    const uint64_t offset = inode_->data.size();
    if (absl::Status s = WriteAt(offset, data); !s.ok()) return s;
    return offset;
  }
  absl::StatusOr<size_t> ReadAt(uint64_t offset, std::span<uint8_t> buffer) override {
    if (offset >= inode_->data.size()) return 0;
    const size_t n = std::min<uint64_t>(buffer.size(), inode_->data.size() - offset);
    std::copy_n(inode_->data.begin() + static_cast<ptrdiff_t>(offset), n, buffer.begin());
    return n;
  }
  absl::Status Sync() override;
  void CountTruncation();
  absl::Status Truncate(uint64_t size) override {
    CountTruncation();
    inode_->data.resize(size);
    inode_->shortest = std::min<size_t>(inode_->shortest, size);
    return absl::OkStatus();
  }
  absl::StatusOr<uint64_t> Size() override { return inode_->data.size(); }
  const std::string& path() const override { return path_; }

 private:
  CrashDisk& disk_;
  std::shared_ptr<Inode> inode_;
  std::string path_;
};

class CrashDisk final : public io::Disk {
 public:
  enum class Tear : uint8_t { kNo, kYes };

  explicit CrashDisk(uint64_t seed) : random_(seed) {}

  void Attach(io::Runtime* runtime) { runtime_ = runtime; }
  void set_fail_syncs(bool fail) { fail_syncs_ = fail; }
  void set_sector_bytes(size_t bytes) { sector_bytes_ = bytes; }
  size_t syncs_in_flight() const { return syncs_in_flight_; }
  uint64_t truncations() const { return truncations_; }
  void CountTruncation() { truncations_++; }

  // Power cut: unsynced names and bytes are gone (or, with kYes, partly landed).
  void Crash(Tear tear) {
    MERIDIAN_CHECK(runtime_ == nullptr, "crash the runtime before its disk");
    names_ = durable_names_;
    dirs_ = durable_dirs_;
    for (auto& [name, inode] : names_) {
      if (tear == Tear::kYes && inode->data != inode->durable) TearUnsynced(*inode);
      inode->data = inode->durable;
      inode->shortest = SIZE_MAX;
    }
  }
  // Damage at rest: flips a bit of the synced file `path`. False if it is shorter.
  [[nodiscard]] bool FlipBit(const std::string& path, uint64_t offset) {
    Inode& inode = *durable_names_.at(path);
    if (offset >= inode.durable.size()) return false;
    inode.durable[offset] ^= 0x10;
    if (offset < inode.data.size()) inode.data[offset] ^= 0x10;
    return true;
  }
  // Replaces the synced (and current) bytes of the synced file `path`.
  void SetBytes(const std::string& path, std::vector<uint8_t> bytes) {
    Inode& inode = *durable_names_.at(path);
    inode.durable = bytes;
    inode.data = std::move(bytes);
  }
  const std::vector<uint8_t>& Bytes(const std::string& path) { return names_.at(path)->data; }

  absl::StatusOr<std::unique_ptr<io::File>> Open(const std::string& path,
                                                 io::OpenMode mode) override {
    if (absl::Status s = io::ValidatePath(path); !s.ok()) return s;
    auto it = names_.find(path);
    if (it != names_.end()) {
      if (mode == io::OpenMode::kCreateNew) return absl::AlreadyExistsError(path);
      return std::make_unique<CrashFile>(*this, it->second, path);
    }
    if (mode == io::OpenMode::kOpenExisting) return absl::NotFoundError(path);
    if (!dirs_.contains(io::ParentDir(path))) return absl::NotFoundError("no dir for " + path);
    auto inode = std::make_shared<Inode>();
    names_.emplace(path, inode);
    return std::make_unique<CrashFile>(*this, inode, path);
  }
  absl::Status CreateDir(const std::string& path) override {
    if (dirs_.contains(path) || names_.contains(path)) return absl::AlreadyExistsError(path);
    if (!dirs_.contains(io::ParentDir(path))) return absl::NotFoundError("no parent: " + path);
    dirs_.insert(path);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string&) override {
    return absl::UnimplementedError("the mark table lists nothing");
  }
  absl::Status Remove(const std::string& path) override {
    return names_.erase(path) == 1 ? absl::OkStatus() : absl::NotFoundError(path);
  }
  absl::Status Rename(const std::string&, const std::string&) override {
    return absl::UnimplementedError("the mark table renames nothing");
  }
  absl::Status SyncDir(const std::string& path) override;
  absl::StatusOr<bool> Exists(const std::string& path) override {
    return names_.contains(path) || dirs_.contains(path);
  }

 private:
  friend class CrashFile;
  absl::Status SyncInode(Inode& inode);
  void TearUnsynced(Inode& inode);

  io::Random random_;
  io::Runtime* runtime_ = nullptr;
  bool fail_syncs_ = false;
  size_t sector_bytes_ = 512;
  size_t syncs_in_flight_ = 0;
  uint64_t truncations_ = 0;
  absl::btree_map<std::string, std::shared_ptr<Inode>> names_;
  absl::btree_map<std::string, std::shared_ptr<Inode>> durable_names_;
  absl::btree_set<std::string> dirs_ = {""};
  absl::btree_set<std::string> durable_dirs_ = {""};
};

absl::Status CrashFile::Sync() { return disk_.SyncInode(*inode_); }
void CrashFile::CountTruncation() { disk_.CountTruncation(); }

absl::Status CrashDisk::SyncInode(Inode& inode) {
  MERIDIAN_CHECK(runtime_ != nullptr, "sync with no runtime attached");
  syncs_in_flight_++;
  const absl::Status slept = runtime_->Sleep(microseconds(100 + random_.Below(100)));
  syncs_in_flight_--;
  if (!slept.ok()) return slept;
  // Like Linux after a failed fsync: nothing was made durable.
  if (fail_syncs_) return absl::DataLossError("injected: EIO on fdatasync");
  inode.durable = inode.data;
  inode.shortest = SIZE_MAX;
  return absl::OkStatus();
}

absl::Status CrashDisk::SyncDir(const std::string& path) {
  if (!dirs_.contains(path)) return absl::NotFoundError(path);
  // The directory's entries become durable exactly as they are now.
  for (auto it = durable_names_.begin(); it != durable_names_.end();) {
    it = io::ParentDir(it->first) == path ? durable_names_.erase(it) : std::next(it);
  }
  for (const auto& [name, inode] : names_) {
    if (io::ParentDir(name) == path) durable_names_[name] = inode;
  }
  for (auto it = durable_dirs_.begin(); it != durable_dirs_.end();) {
    const bool child = !it->empty() && io::ParentDir(*it) == path;
    it = child ? durable_dirs_.erase(it) : std::next(it);
  }
  for (const std::string& dir : dirs_) {
    if (!dir.empty() && io::ParentDir(dir) == path) durable_dirs_.insert(dir);
  }
  return absl::OkStatus();
}

void CrashDisk::TearUnsynced(Inode& inode) {
  // The length that made it is the old one, the new one or the shortest a truncation left since
  // the last sync; each sector of the new bytes landed or not; what lies past the old bytes and
  // did not land reads as zeros.
  std::vector<uint8_t> result = inode.durable;
  const std::array<size_t, 3> lengths = {inode.durable.size(), inode.data.size(),
                                         std::min(inode.shortest, inode.data.size())};
  result.resize(lengths[random_.Below(lengths.size())], 0);
  for (size_t start = 0; start < std::min(result.size(), inode.data.size());
       start += sector_bytes_) {
    if (!random_.Chance(1, 2)) continue;
    const size_t end = std::min({start + sector_bytes_, result.size(), inode.data.size()});
    std::copy(inode.data.begin() + static_cast<ptrdiff_t>(start),
              inode.data.begin() + static_cast<ptrdiff_t>(end),
              result.begin() + static_cast<ptrdiff_t>(start));
  }
  inode.durable = std::move(result);
}

// --- Node: one incarnation at a time of a node holding a table on a CrashDisk. ---

class Node {
 public:
  explicit Node(uint64_t seed = 1) : disk_(seed) {}
  ~Node() { Crash(CrashDisk::Tear::kNo); }

  CrashDisk& disk() { return disk_; }
  TestRuntime& runtime() { return *Boot(); }
  DurableMarkTable& table() { return *table_; }

  // Runs `body` on a fiber of the current incarnation (started if need be) until it returns.
  bool Run(std::function<void()> body) { return Boot()->RunFiber(std::move(body)); }
  // Spawns `body` without waiting for it.
  void Spawn(std::function<void()> body) { Boot()->Spawn("test", std::move(body)); }
  // Runs the incarnation's fibers until `done()` holds.
  bool RunUntil(const std::function<bool()>& done) {
    return Boot()->RunUntil(done, std::chrono::seconds(60));
  }
  // Opens the table of the current incarnation; false (and the status logged) if it fails.
  bool OpenTable(bool unsynced_for_tests = false) {
    absl::StatusOr<std::unique_ptr<DurableMarkTable>> table;
    if (!Run([&] { table = DurableMarkTable::Open(runtime(), disk_, kDir, unsynced_for_tests); })) {
      return false;
    }
    EXPECT_TRUE(table.ok()) << table.status();
    if (table.ok()) table_ = *std::move(table);
    return table.ok();
  }
  // Power cut: the fibers unwind (while the table they use lives), then the table and the
  // runtime go, then the disk loses what was not synced.
  void Crash(CrashDisk::Tear tear = CrashDisk::Tear::kNo) {
    if (runtime_) runtime_->scheduler().Shutdown();
    table_.reset();
    disk_.Attach(nullptr);
    runtime_.reset();
    disk_.Crash(tear);
  }
  // A restart without a power cut: the process goes, the page cache (unsynced bytes) stays.
  void Restart() {
    if (runtime_) runtime_->scheduler().Shutdown();
    table_.reset();
    disk_.Attach(nullptr);
    runtime_.reset();
  }
  // Crash, then open the table again.
  bool Reopen(CrashDisk::Tear tear = CrashDisk::Tear::kNo) {
    Crash(tear);
    return OpenTable();
  }
  absl::Status Advance(const std::string& group, const raft::LogPosition& position) {
    absl::Status status = absl::UnknownError("did not finish");
    Run([&] { status = table_->Advance(group, position); });
    return status;
  }

 private:
  TestRuntime* Boot() {
    if (!runtime_) {
      runtime_ = std::make_unique<TestRuntime>();
      disk_.Attach(runtime_.get());
    }
    return runtime_.get();
  }

  CrashDisk disk_;
  std::unique_ptr<TestRuntime> runtime_;
  std::unique_ptr<DurableMarkTable> table_;
};

// --- The image codec. ---

MarkTableImage SampleImage() {
  MarkTableImage image{.sequence = 7, .unlisted_damaged = false, .marks = {}};
  image.marks["orders/0"] = At(3, 120);
  image.marks["orders/1"] = At(4, 7);
  image.marks["payments/12"] = At(1, 1);
  image.marks["controller"] = At(0, 0);
  return image;
}

void ExpectSameImage(const MarkTableImage& a, const MarkTableImage& b) {
  EXPECT_EQ(a.sequence, b.sequence);
  EXPECT_EQ(a.unlisted_damaged, b.unlisted_damaged);
  ASSERT_EQ(a.marks.size(), b.marks.size());
  for (auto it = a.marks.begin(), other = b.marks.begin(); it != a.marks.end(); ++it, ++other) {
    EXPECT_EQ(it->first, other->first);
    EXPECT_TRUE(Same(it->second, other->second)) << it->first;
  }
}

TEST(MarkTableImage, RoundTrips) {
  MarkTableImage image = SampleImage();
  absl::StatusOr<MarkTableImage> decoded = DecodeMarkTableImage(EncodeMarkTableImage(image));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ExpectSameImage(*decoded, image);
  image.unlisted_damaged = true;
  image.marks[std::string(kMarkTableGroupNameBytesMax, 'x')] = At(9, 9);
  decoded = DecodeMarkTableImage(EncodeMarkTableImage(image));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ExpectSameImage(*decoded, image);
  const MarkTableImage empty{.sequence = 1, .unlisted_damaged = false, .marks = {}};
  EXPECT_EQ(EncodeMarkTableImage(empty).size(), kMarkTableHeaderBytes + kMarkTableCrcBytes);
  ExpectSameImage(*DecodeMarkTableImage(EncodeMarkTableImage(empty)), empty);
}

// Images come from the disk: every damaged or cut image is DataLoss, never a crash or a mark.
TEST(MarkTableImage, EveryFlippedBitAndEveryTruncationIsDataLoss) {
  const std::vector<uint8_t> bytes = EncodeMarkTableImage(SampleImage());
  for (size_t bit = 0; bit < bytes.size() * 8; bit++) {
    std::vector<uint8_t> flipped = bytes;
    flipped[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_TRUE(absl::IsDataLoss(DecodeMarkTableImage(flipped).status())) << "bit " << bit;
  }
  for (size_t size = 0; size < bytes.size(); size++) {
    EXPECT_TRUE(absl::IsDataLoss(DecodeMarkTableImage(std::span(bytes).first(size)).status()))
        << "truncated to " << size;
  }
  std::vector<uint8_t> longer = bytes;
  longer.push_back(0);
  EXPECT_TRUE(absl::IsDataLoss(DecodeMarkTableImage(longer).status()));
}

// Re-seals `bytes` (image bytes field and CRC) so that only the decoder's own checks stand
// between them and a table: what a buggy writer, not a disk, could produce.
std::vector<uint8_t> Reseal(std::vector<uint8_t> bytes) {
  MERIDIAN_CHECK(bytes.size() >= kMarkTableHeaderBytes + kMarkTableCrcBytes);
  for (size_t i = 0; i < 4; i++) bytes[8 + i] = static_cast<uint8_t>(bytes.size() >> (8 * i));
  const size_t body = bytes.size() - kMarkTableCrcBytes;
  const uint32_t crc = io::Crc32c(std::span(bytes).first(body));
  for (size_t i = 0; i < 4; i++) bytes[body + i] = static_cast<uint8_t>(crc >> (8 * i));
  return bytes;
}

// Decoding never crashes, whatever the bytes, even with a good CRC: each byte of an image set
// to values that break its fields, sealed again, and random sealed garbage.
TEST(MarkTableImage, ResealedGarbageNeverCrashes) {
  const std::vector<uint8_t> bytes = EncodeMarkTableImage(SampleImage());
  size_t refused = 0;
  for (size_t at = 0; at + kMarkTableCrcBytes < bytes.size(); at++) {
    if (at >= 8 && at < 12) continue;  // The image bytes field: Reseal sets it.
    // Extremes, and each neighbour (a name one step from the one before it: out of order or
    // the same name twice).
    const uint8_t was = bytes[at];
    const std::vector<uint8_t> values = {0x00,
                                         0x01,
                                         0x02,
                                         0x7f,
                                         0x80,
                                         0xff,
                                         static_cast<uint8_t>(was - 1),
                                         static_cast<uint8_t>(was + 1)};
    for (uint8_t value : values) {
      std::vector<uint8_t> changed = bytes;
      changed[at] = value;
      absl::StatusOr<MarkTableImage> decoded = DecodeMarkTableImage(Reseal(changed));
      if (!decoded.ok()) refused++;
      EXPECT_TRUE(decoded.ok() || absl::IsDataLoss(decoded.status()) ||
                  absl::IsFailedPrecondition(decoded.status()))
          << decoded.status();
    }
  }
  EXPECT_GT(refused, 0u);
  io::Random random(7);
  for (int i = 0; i < 2000; i++) {
    std::vector<uint8_t> garbage(kMarkTableHeaderBytes + kMarkTableCrcBytes + random.Below(80));
    for (uint8_t& byte : garbage) byte = static_cast<uint8_t>(random.Below(256));
    EXPECT_FALSE(DecodeMarkTableImage(Reseal(garbage)).ok()) << "random magic";
  }
}

// An image laid out by hand (the layout of mark_table.h), sealed: what a buggy writer could
// produce. Entries are (name, term, index), in the order given.
std::vector<uint8_t> HandMade(
    uint16_t version, uint16_t flags, uint64_t sequence, uint32_t count,
    const std::vector<std::tuple<std::string, uint64_t, uint64_t>>& entries) {
  std::vector<uint8_t> out;
  auto put = [&](uint64_t value, int width) {
    for (int i = 0; i < width; i++) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
  };
  put(0x544d524d, 4);
  put(version, 2);
  put(flags, 2);
  put(0, 4);
  put(sequence, 8);
  put(count, 4);
  for (const auto& [name, term, index] : entries) {
    put(name.size(), 2);
    out.insert(out.end(), name.begin(), name.end());
    put(term, 8);
    put(index, 8);
  }
  put(0, 4);  // The CRC, set by Reseal.
  return Reseal(out);
}

// Past the CRC, the decoder still checks every field: a sealed image breaking a rule is refused.
TEST(MarkTableImage, SealedImagesBreakingARuleAreRefused) {
  auto decode = [](const std::vector<uint8_t>& bytes) {
    return DecodeMarkTableImage(bytes).status();
  };
  const std::string longest(kMarkTableGroupNameBytesMax, 'n');
  ASSERT_TRUE(decode(HandMade(1, 1, 5, 2, {{"a", 1, 2}, {longest, 0, 0}})).ok())
      << "the layout is the encoder's";
  EXPECT_TRUE(absl::IsFailedPrecondition(decode(HandMade(2, 0, 5, 0, {})))) << "newer version";
  EXPECT_TRUE(absl::IsDataLoss(decode(HandMade(0, 0, 5, 0, {})))) << "version 0";
  EXPECT_TRUE(absl::IsDataLoss(decode(HandMade(1, 2, 5, 0, {})))) << "unknown flag";
  EXPECT_TRUE(absl::IsDataLoss(decode(HandMade(1, 0, 0, 0, {})))) << "sequence 0";
  EXPECT_TRUE(absl::IsDataLoss(decode(HandMade(1, 0, 5, 2, {{"a", 1, 2}})))) << "count > entries";
  EXPECT_TRUE(absl::IsDataLoss(decode(HandMade(1, 0, 5, 0, {{"a", 1, 2}})))) << "count < entries";
  EXPECT_TRUE(absl::IsDataLoss(decode(HandMade(1, 0, 5, 1, {{longest + "n", 1, 2}}))))
      << "a name too long";
  EXPECT_TRUE(absl::IsDataLoss(decode(HandMade(1, 0, 5, 1, {{"", 1, 2}})))) << "an empty name";
  EXPECT_TRUE(absl::IsDataLoss(decode(HandMade(1, 0, 5, 2, {{"a", 1, 2}, {"a", 1, 3}}))))
      << "a name twice";
  EXPECT_TRUE(absl::IsDataLoss(decode(HandMade(1, 0, 5, 2, {{"b", 1, 2}, {"a", 1, 3}}))))
      << "names out of order";
  EXPECT_TRUE(absl::IsDataLoss(decode(HandMade(1, 0, 5, 1, {{"a", 0, 2}})))) << "index, no term";
  EXPECT_TRUE(absl::IsDataLoss(decode(HandMade(1, 0, 5, 1, {{"a", 2, 0}})))) << "term, no index";
  std::vector<uint8_t> field_wrong = HandMade(1, 0, 5, 0, {});
  field_wrong[8]++;  // The image bytes field says one byte more.
  const size_t body = field_wrong.size() - kMarkTableCrcBytes;
  const uint32_t crc = io::Crc32c(std::span(field_wrong).first(body));
  for (size_t i = 0; i < 4; i++) field_wrong[body + i] = static_cast<uint8_t>(crc >> (8 * i));
  EXPECT_TRUE(absl::IsDataLoss(decode(field_wrong))) << "image bytes field disagrees";
}

// --- The table. ---

// 1. Every mark is on disk when Advance returns, and a crash keeps it.
TEST(DurableMarkTable, MarksSurviveACrash) {
  Node node;
  ASSERT_TRUE(node.OpenTable());
  EXPECT_EQ(node.table().groups(), 0u);
  ASSERT_TRUE(node.Advance("orders/0", At(2, 40)).ok());
  ASSERT_TRUE(node.Advance("orders/1", At(1, 3)).ok());
  ASSERT_TRUE(node.Advance("orders/0", At(2, 41)).ok());
  ASSERT_TRUE(node.Advance("payments/7", At(5, 1)).ok());
  EXPECT_EQ(Show(node.table().Get("orders/0")), "2/41");
  ASSERT_TRUE(node.Reopen());
  EXPECT_EQ(Show(node.table().Get("orders/0")), "2/41");
  EXPECT_EQ(Show(node.table().Get("orders/1")), "1/3");
  EXPECT_EQ(Show(node.table().Get("payments/7")), "5/1");
  EXPECT_EQ(Show(node.table().Get("never-seen")), "0/0");
  EXPECT_EQ(node.table().groups(), 3u);
  EXPECT_FALSE(node.table().damaged());
  ASSERT_TRUE(node.Advance("orders/1", At(1, 4)).ok()) << "and it goes on after a reopen";
  ASSERT_TRUE(node.Reopen());
  EXPECT_EQ(Show(node.table().Get("orders/1")), "1/4");
  EXPECT_EQ(Show(node.table().Get("orders/0")), "2/41");
}

// The planted-bug mode (a node acknowledging before its fsync): images are written, never synced.
// A restart keeps them (the page cache), a power cut loses them.
TEST(DurableMarkTable, UnsyncedForTestsImagesDoNotSurviveAPowerCut) {
  Node node;
  ASSERT_TRUE(node.OpenTable(/*unsynced_for_tests=*/true));
  ASSERT_TRUE(node.Advance("orders/0", At(2, 40)).ok());
  node.Restart();
  ASSERT_TRUE(node.OpenTable(/*unsynced_for_tests=*/true));
  EXPECT_EQ(Show(node.table().Get("orders/0")), "2/40") << "a restart keeps the page cache";
  // The reopen synced what it read (Open's rule); what follows is never synced.
  ASSERT_TRUE(node.Advance("orders/0", At(2, 41)).ok());
  ASSERT_TRUE(node.Advance("orders/1", At(1, 3)).ok());
  ASSERT_TRUE(node.Reopen());
  EXPECT_EQ(Show(node.table().Get("orders/0")), "2/40") << "the power cut lost the advances";
  EXPECT_EQ(Show(node.table().Get("orders/1")), "0/0");
  EXPECT_FALSE(node.table().damaged());
}

// 2. N groups advancing together share one image write and one fsync.
TEST(DurableMarkTable, ConcurrentAdvancesShareOneImage) {
  constexpr int kGroups = 32;
  Node node;
  ASSERT_TRUE(node.OpenTable());
  ASSERT_TRUE(node.Advance("warm-up", At(1, 1)).ok());
  EXPECT_EQ(node.table().image_writes(), 2u) << "the first round writes both files";
  const uint64_t writes_before = node.table().image_writes();
  int returned = 0;
  for (int i = 0; i < kGroups; i++) {
    node.Spawn([&, i] {
      EXPECT_TRUE(node.table().Advance(fmt::format("group/{}", i), At(1, 10 + i)).ok());
      returned++;
    });
  }
  ASSERT_TRUE(node.RunUntil([&] { return returned == kGroups; }));
  EXPECT_LE(node.table().image_writes() - writes_before, 2u) << kGroups << " groups";
  EXPECT_EQ(node.table().image_writes() - writes_before, 1u) << "the leader yields first";
  node.Crash();  // Right after the last return: nothing more was written.
  ASSERT_TRUE(node.OpenTable());
  for (int i = 0; i < kGroups; i++) {
    EXPECT_EQ(Show(node.table().Get(fmt::format("group/{}", i))), fmt::format("1/{}", 10 + i));
  }
}

// 2. Fibers arriving at random times, some while a round is in flight: whoever has returned
// when the power is cut (torn writes on) finds its mark after the restart.
TEST(DurableMarkTable, EveryReturnedAdvanceSurvivesACrash) {
  constexpr int kGroups = 16;
  size_t crashes_mid_round = 0;
  for (uint64_t seed = 1; seed <= 60; seed++) {
    Node node(seed);
    node.disk().set_sector_bytes(16);
    ASSERT_TRUE(node.OpenTable());
    io::Random random(seed);
    std::vector<int> returned;
    for (int i = 0; i < kGroups; i++) {
      const auto delay = microseconds(random.Below(600));
      node.Spawn([&, i, delay] {
        if (!node.runtime().Sleep(delay).ok()) return;
        const absl::Status status = node.table().Advance(fmt::format("g{}", i), At(2, 100 + i));
        if (status.ok()) returned.push_back(i);
      });
    }
    const size_t crash_after = 1 + random.Below(kGroups);
    ASSERT_TRUE(node.RunUntil([&] { return returned.size() >= crash_after; })) << seed;
    if (node.disk().syncs_in_flight() > 0) crashes_mid_round++;
    const std::vector<int> acknowledged = returned;
    ASSERT_TRUE(node.Reopen(CrashDisk::Tear::kYes)) << "seed " << seed;
    for (int i : acknowledged) {
      EXPECT_EQ(Show(node.table().Get(fmt::format("g{}", i))), fmt::format("2/{}", 100 + i))
          << "seed " << seed << ": g" << i << " returned before the crash";
    }
    EXPECT_EQ(node.table().image_writes(), 0u) << "reopening writes nothing";
  }
  EXPECT_GT(crashes_mid_round, 10u) << "the sweep must cut the power during later rounds";
}

// 3. A mark never goes back: a lower position (a shorter log of the same term, or any log of
// an older term) leaves it, and writes nothing.
TEST(DurableMarkTable, NeverLowersAMark) {
  Node node;
  ASSERT_TRUE(node.OpenTable());
  ASSERT_TRUE(node.Advance("g", At(3, 10)).ok());
  const uint64_t writes = node.table().image_writes();
  ASSERT_TRUE(node.Advance("g", At(3, 5)).ok());
  ASSERT_TRUE(node.Advance("g", At(2, 100)).ok());
  ASSERT_TRUE(node.Advance("g", At(3, 10)).ok());
  EXPECT_EQ(Show(node.table().Get("g")), "3/10");
  EXPECT_EQ(node.table().image_writes(), writes) << "nothing to write";
  ASSERT_TRUE(node.Reopen());
  EXPECT_EQ(Show(node.table().Get("g")), "3/10");
  ASSERT_TRUE(node.Advance("g", At(4, 1)).ok()) << "a later term is past any index";
  EXPECT_EQ(Show(node.table().Get("g")), "4/1");
  // Concurrent advances of one group: the highest wins, whatever the order they land in.
  for (uint64_t index : {9, 30, 12}) {
    node.Spawn([&, index] { EXPECT_TRUE(node.table().Advance("g", At(4, index)).ok()); });
  }
  ASSERT_TRUE(node.RunUntil([&] { return Show(node.table().Get("g")) == "4/30"; }));
  ASSERT_TRUE(node.Reopen());
  EXPECT_EQ(Show(node.table().Get("g")), "4/30");
}

std::string File(int which) { return fmt::format("{}/marks.{}", kDir, which); }

// 4. A crash while an image is being written (torn writes on, 16-byte sectors) loses at most
// that image: the previous one, in the other file, still holds every mark it held.
TEST(DurableMarkTable, ACrashDuringAWriteLosesAtMostThatImage) {
  size_t torn = 0;
  size_t landed = 0;
  for (uint64_t seed = 1; seed <= 200; seed++) {
    Node node(seed);
    node.disk().set_sector_bytes(16);
    ASSERT_TRUE(node.OpenTable());
    for (int i = 0; i < 5; i++) ASSERT_TRUE(node.Advance(fmt::format("g{}", i), At(1, i + 1)).ok());
    ASSERT_TRUE(node.Advance("g0", At(2, 5)).ok());
    // The next image goes to the file not holding the newest one; cut the power during its sync.
    node.Spawn([&] { (void)node.table().Advance("g0", At(3, 7)); });
    node.Spawn([&] { (void)node.table().Advance("new", At(1, 1)); });
    ASSERT_TRUE(node.RunUntil([&] { return node.disk().syncs_in_flight() > 0; }));
    ASSERT_TRUE(node.Reopen(CrashDisk::Tear::kYes)) << "seed " << seed;
    const std::string g0 = Show(node.table().Get("g0"));
    const std::string added = Show(node.table().Get("new"));
    // The previous image, or the one being written (both changes, or only g0's if the two
    // fibers did not share a round); never less than the previous image.
    EXPECT_TRUE(g0 == "2/5" || g0 == "3/7") << "seed " << seed << ": g0 " << g0;
    EXPECT_TRUE(added == "0/0" || (added == "1/1" && g0 == "3/7"))
        << "seed " << seed << ": g0 " << g0 << ", new " << added;
    for (int i = 1; i < 5; i++) {
      EXPECT_EQ(Show(node.table().Get(fmt::format("g{}", i))), fmt::format("1/{}", i + 1)) << seed;
    }
    EXPECT_FALSE(node.table().damaged()) << "seed " << seed;
    const std::vector<uint8_t>& written = node.disk().Bytes(File(1));
    const bool valid = written.size() >= 12 &&
                       DecodeMarkTableImage(std::span(written).first(std::min<size_t>(
                                                written.size(), written[8] | written[9] << 8)))
                           .ok();
    (valid ? landed : torn)++;
  }
  EXPECT_GT(torn, 20u) << "the sweep must tear the image being written";
  EXPECT_GT(landed, 0u);
}

// 4. The same with the newer file overwritten by garbage (what a torn write may leave).
TEST(DurableMarkTable, GarbageInTheNewerFileLeavesThePreviousImage) {
  Node node;
  ASSERT_TRUE(node.OpenTable());
  ASSERT_TRUE(node.Advance("a", At(1, 1)).ok());  // Images 1 and 2.
  ASSERT_TRUE(node.Advance("a", At(1, 2)).ok());  // Image 3, marks.0.
  ASSERT_TRUE(node.Advance("b", At(1, 3)).ok());  // Image 4, marks.1.
  node.Crash();
  node.disk().SetBytes(File(1), std::vector<uint8_t>(60, 0xab));
  ASSERT_TRUE(node.OpenTable());
  EXPECT_EQ(Show(node.table().Get("a")), "1/2");
  EXPECT_EQ(Show(node.table().Get("b")), "0/0") << "image 4 is lost, image 3 is not";
  EXPECT_FALSE(node.table().damaged());
  ASSERT_TRUE(node.Advance("b", At(1, 4)).ok()) << "rewrites marks.1";
  ASSERT_TRUE(node.Reopen());
  EXPECT_EQ(Show(node.table().Get("a")), "1/2");
  EXPECT_EQ(Show(node.table().Get("b")), "1/4");
}

// The very first write torn (no operation ever returned): a fresh table, not damage.
TEST(DurableMarkTable, ATornFirstWriteIsAFreshTable) {
  for (uint64_t seed = 1; seed <= 40; seed++) {
    Node node(seed);
    node.disk().set_sector_bytes(8);
    ASSERT_TRUE(node.OpenTable());
    node.Spawn([&] { (void)node.table().Advance("a", At(1, 1)); });
    ASSERT_TRUE(node.RunUntil([&] { return node.disk().syncs_in_flight() > 0; }));
    ASSERT_TRUE(node.Reopen(CrashDisk::Tear::kYes));
    EXPECT_FALSE(node.table().damaged()) << "seed " << seed;
    const std::string a = Show(node.table().Get("a"));
    EXPECT_TRUE(a == "0/0" || a == "1/1") << "seed " << seed << ": " << a;
    ASSERT_TRUE(node.Advance("a", At(1, 2)).ok());
    ASSERT_TRUE(node.Reopen());
    EXPECT_EQ(Show(node.table().Get("a")), "1/2") << "seed " << seed;
  }
}

// The per-group mark file (--node_wide_log=false) follows the same rule: a torn first write is
// no mark yet, never damage. That holds because the first mark goes to slot 0 and a file that
// reaches into slot 1 with no valid slot is damage (mutation sample 12: the first mark written
// into slot 1 survived every other test).
TEST(DurableMarkFile, ATornFirstWriteIsNoMarkYet) {
  for (uint64_t seed = 1; seed <= 40; seed++) {
    Node node(seed);
    node.disk().set_sector_bytes(8);
    std::unique_ptr<DurableMark> mark;
    ASSERT_TRUE(node.Run([&] {
      ASSERT_TRUE(node.disk().CreateDir(kDir).ok());
      absl::StatusOr<std::unique_ptr<DurableMark>> opened = DurableMark::Open(node.disk(), kDir);
      ASSERT_TRUE(opened.ok()) << opened.status();
      mark = *std::move(opened);
    }));
    node.Spawn(
        [&] { (void)mark->Advance(At(1, 1), node.runtime().Now(), DurableMark::When::kNow); });
    ASSERT_TRUE(node.RunUntil([&] { return node.disk().syncs_in_flight() > 0; }));
    node.Crash(CrashDisk::Tear::kYes);
    mark.reset();
    ASSERT_TRUE(node.Run([&] {
      absl::StatusOr<std::unique_ptr<DurableMark>> reopened = DurableMark::Open(node.disk(), kDir);
      ASSERT_TRUE(reopened.ok()) << "seed " << seed << ": " << reopened.status();
      const std::string position = fmt::format("{}/{}", (*reopened)->position().term.value(),
                                               (*reopened)->position().index.value());
      EXPECT_TRUE(position == "0/0" || position == "1/1") << "seed " << seed << ": " << position;
    }));
  }
}

// Files are rewritten in place, never truncated to empty first: whatever a crash keeps of a
// rewrite (any length a truncation left, any sectors), the file is not empty, so damage to the
// other file can never make the table read as fresh (all marks zero).
TEST(DurableMarkTable, ATornRewriteNeverReadsAsAFreshTable) {
  size_t damaged = 0;
  for (uint64_t seed = 1; seed <= 60; seed++) {
    Node node(seed);
    node.disk().set_sector_bytes(8);
    ASSERT_TRUE(node.OpenTable());
    ASSERT_TRUE(node.Advance("a", At(1, 1)).ok());                   // Images 1 and 2.
    ASSERT_TRUE(node.Advance("a", At(1, 2)).ok());                   // Image 3, in marks.0.
    node.Spawn([&] { (void)node.table().Advance("a", At(1, 3)); });  // Image 4, into marks.1.
    ASSERT_TRUE(node.RunUntil([&] { return node.disk().syncs_in_flight() > 0; }));
    node.Crash(CrashDisk::Tear::kYes);
    EXPECT_FALSE(node.disk().Bytes(File(1)).empty()) << "seed " << seed;
    ASSERT_TRUE(node.disk().FlipBit(File(0), 30));
    ASSERT_TRUE(node.OpenTable());
    const absl::StatusOr<raft::LogPosition> a = node.table().Get("a");
    if (IsDamagedAtRest(a.status())) damaged++;
    // Image 2 (1/1) when the rewrite kept none of image 4: damage to the newest image loses
    // what only it held, as with durable_mark's two slots; never "no mark".
    EXPECT_TRUE(IsDamagedAtRest(a.status()) || Show(a) == "1/1" || Show(a) == "1/3")
        << "seed " << seed << ": " << Show(a);
  }
  EXPECT_GT(damaged, 5u);
}

// What Open concludes from the two files when neither holds a valid image (mark_table.h,
// "Damage at rest, precisely"), and that it prefers a valid image to any verdict.
TEST(DurableMarkTable, OpenTellsAFreshTableFromDamage) {
  const std::vector<uint8_t> garbage(40, 0x5a);
  const std::vector<uint8_t> image3 =
      EncodeMarkTableImage({.sequence = 3, .unlisted_damaged = false, .marks = {{"a", At(2, 2)}}});
  const std::vector<uint8_t> image2 =
      EncodeMarkTableImage({.sequence = 2, .unlisted_damaged = false, .marks = {{"a", At(1, 1)}}});
  struct Case {
    std::vector<uint8_t> marks0, marks1;
    const char* a;  // Get("a") after Open.
  };
  const std::vector<Case> cases = {
      {{}, {}, "0/0"},
      {garbage, {}, "0/0"},  // A torn first write.
      {std::vector(image3.begin(), image3.end() - 9), {}, "0/0"},
      {image2, {}, "0/0"},  // Image 2 belongs in marks.1: not valid in marks.0.
      {{}, garbage, "DATA_LOSS"},
      {garbage, garbage, "DATA_LOSS"},
      {image3, garbage, "2/2"},
      {garbage, image2, "1/1"},
      {image3, image2, "2/2"},
  };
  for (size_t i = 0; i < cases.size(); i++) {
    Node node;
    ASSERT_TRUE(node.OpenTable());  // Creates both files (and syncs their names).
    node.Crash();
    node.disk().SetBytes(File(0), cases[i].marks0);
    node.disk().SetBytes(File(1), cases[i].marks1);
    ASSERT_TRUE(node.OpenTable()) << "case " << i;
    const std::string a = Show(node.table().Get("a"));
    EXPECT_EQ(a.substr(0, std::string(cases[i].a).size()), cases[i].a) << "case " << i;
    EXPECT_EQ(node.table().damaged(), std::string(cases[i].a) == "DATA_LOSS") << "case " << i;
  }
}

// 5. Both images damaged at rest: every group's mark is unknown until its owner Resets it; the
// damage survives crashes until ClearDamage; the table keeps working for the groups Reset.
TEST(DurableMarkTable, BothImagesDamagedIsDamageUntilEachGroupIsReset) {
  Node node;
  ASSERT_TRUE(node.OpenTable());
  ASSERT_TRUE(node.Advance("a", At(1, 10)).ok());
  ASSERT_TRUE(node.Advance("b", At(1, 20)).ok());
  node.Crash();
  ASSERT_TRUE(node.disk().FlipBit(File(0), 30));
  ASSERT_TRUE(node.disk().FlipBit(File(1), 30));
  ASSERT_TRUE(node.OpenTable());
  EXPECT_TRUE(node.table().damaged());
  for (const char* group : {"a", "b", "never-seen"}) {
    EXPECT_TRUE(IsDamagedAtRest(node.table().Get(group).status())) << group;
  }
  EXPECT_TRUE(IsDamagedAtRest(node.Advance("a", At(1, 11))));
  absl::Status reset;
  ASSERT_TRUE(node.Run([&] { reset = node.table().Reset("a", At(1, 5)); }));
  ASSERT_TRUE(reset.ok()) << reset;
  EXPECT_EQ(Show(node.table().Get("a")), "1/5") << "set, even below what was lost";
  EXPECT_TRUE(IsDamagedAtRest(node.table().Get("b").status())) << "b was not Reset";
  ASSERT_TRUE(node.Advance("a", At(1, 12)).ok());
  ASSERT_TRUE(node.Reopen());
  EXPECT_TRUE(node.table().damaged()) << "a crash keeps the damage";
  EXPECT_EQ(Show(node.table().Get("a")), "1/12");
  EXPECT_TRUE(IsDamagedAtRest(node.table().Get("b").status()));
  absl::Status cleared;
  ASSERT_TRUE(node.Run([&] { cleared = node.table().ClearDamage(); }));
  ASSERT_TRUE(cleared.ok()) << cleared;
  ASSERT_TRUE(node.Reopen());
  EXPECT_FALSE(node.table().damaged());
  EXPECT_EQ(Show(node.table().Get("b")), "0/0");
  EXPECT_EQ(Show(node.table().Get("a")), "1/12");
}

// 7. Forget removes a group, durably; the others stay.
TEST(DurableMarkTable, ForgetIsDurable) {
  Node node;
  ASSERT_TRUE(node.OpenTable());
  ASSERT_TRUE(node.Advance("a", At(1, 10)).ok());
  ASSERT_TRUE(node.Advance("b", At(1, 20)).ok());
  absl::Status forgot;
  ASSERT_TRUE(node.Run([&] { forgot = node.table().Forget("a"); }));
  ASSERT_TRUE(forgot.ok()) << forgot;
  EXPECT_EQ(Show(node.table().Get("a")), "0/0");
  EXPECT_EQ(node.table().groups(), 1u);
  ASSERT_TRUE(node.Reopen());
  EXPECT_EQ(Show(node.table().Get("a")), "0/0");
  EXPECT_EQ(Show(node.table().Get("b")), "1/20");
  EXPECT_EQ(node.table().groups(), 1u);
  const uint64_t writes = node.table().image_writes();
  ASSERT_TRUE(node.Run([&] { forgot = node.table().Forget("a"); }));
  EXPECT_TRUE(forgot.ok());
  EXPECT_EQ(node.table().image_writes(), writes) << "forgetting nothing writes nothing";
}

// A truncation to the length a file already has changes nothing but costs every fsync after it
// a metadata write: the table truncates only a file that held a longer image. Each file still
// ends where its image does, and a shrunk image reads back after a crash.
TEST(DurableMarkTable, OnlyAShorterImageTruncatesItsFile) {
  Node node;
  ASSERT_TRUE(node.OpenTable());
  ASSERT_TRUE(node.Advance("a", At(1, 1)).ok());
  ASSERT_TRUE(node.Advance("a-group-with-a-long-name", At(1, 1)).ok());
  const uint64_t truncations = node.disk().truncations();
  const size_t long_image = node.disk().Bytes("marks/marks.0").size();
  for (uint64_t index = 2; index < 12; index++) {
    ASSERT_TRUE(node.Advance("a", At(1, index)).ok());
  }
  EXPECT_EQ(node.disk().truncations(), truncations) << "ten images of one length, no truncation";
  EXPECT_EQ(node.disk().Bytes("marks/marks.0").size(), long_image);
  EXPECT_EQ(node.disk().Bytes("marks/marks.1").size(), long_image);

  absl::Status forgot;
  ASSERT_TRUE(node.Run([&] { forgot = node.table().Forget("a-group-with-a-long-name"); }));
  ASSERT_TRUE(forgot.ok()) << forgot;
  ASSERT_TRUE(node.Advance("a", At(1, 12)).ok());  // The shorter image reaches both files.
  EXPECT_EQ(node.disk().truncations(), truncations + 2) << "each file cut once, to its image";
  EXPECT_LT(node.disk().Bytes("marks/marks.0").size(), long_image);
  EXPECT_EQ(node.disk().Bytes("marks/marks.0").size(), node.disk().Bytes("marks/marks.1").size());

  ASSERT_TRUE(node.Reopen(CrashDisk::Tear::kYes));
  EXPECT_EQ(Show(node.table().Get("a")), "1/12");
  EXPECT_EQ(Show(node.table().Get("a-group-with-a-long-name")), "0/0");
  const uint64_t reopened = node.disk().truncations();
  ASSERT_TRUE(node.Advance("a", At(1, 13)).ok());
  ASSERT_TRUE(node.Advance("a", At(1, 14)).ok());
  EXPECT_LE(node.disk().truncations(), reopened + 2) << "a reopened table learns each length once";
}

// After a failed fsync nothing about the page cache is known: the table stays failed.
TEST(DurableMarkTable, AFailedSyncFailsTheTableForGood) {
  Node node;
  ASSERT_TRUE(node.OpenTable());
  ASSERT_TRUE(node.Advance("a", At(1, 1)).ok());
  node.disk().set_fail_syncs(true);
  EXPECT_TRUE(absl::IsDataLoss(node.Advance("a", At(1, 2))));
  node.disk().set_fail_syncs(false);
  EXPECT_TRUE(absl::IsDataLoss(node.Advance("b", At(1, 1)))) << "still failed";
  EXPECT_TRUE(absl::IsDataLoss(node.table().Get("a").status()));
  ASSERT_TRUE(node.Reopen());
  EXPECT_EQ(Show(node.table().Get("a")), "1/1") << "the failed image was never synced";
  ASSERT_TRUE(node.Advance("a", At(1, 2)).ok());
}

TEST(DurableMarkTable, BadNamesAreInvalidArgument) {
  Node node;
  ASSERT_TRUE(node.OpenTable());
  EXPECT_TRUE(absl::IsInvalidArgument(node.Advance("", At(1, 1))));
  const std::string longest(kMarkTableGroupNameBytesMax, 'n');
  EXPECT_TRUE(absl::IsInvalidArgument(node.Advance(longest + "n", At(1, 1))));
  EXPECT_TRUE(absl::IsInvalidArgument(node.table().Get(longest + "n").status()));
  EXPECT_TRUE(node.Advance(longest, At(1, 1)).ok());
  ASSERT_TRUE(node.Reopen());
  EXPECT_EQ(Show(node.table().Get(longest)), "1/1");
}

// A group's owner serialises its calls: Reset and Forget refuse a group with an Advance in
// flight instead of racing it.
TEST(DurableMarkTable, ResetAndForgetRefuseAGroupBeingAdvanced) {
  Node node;
  ASSERT_TRUE(node.OpenTable());
  bool advanced = false;
  node.Spawn([&] { advanced = node.table().Advance("a", At(1, 1)).ok(); });
  ASSERT_TRUE(node.RunUntil([&] { return node.disk().syncs_in_flight() > 0; }));
  absl::Status reset, forgot;
  node.Spawn([&] {
    reset = node.table().Reset("a", At(1, 1));
    forgot = node.table().Forget("a");
  });
  ASSERT_TRUE(node.RunUntil([&] { return advanced; }));
  EXPECT_TRUE(absl::IsFailedPrecondition(reset)) << reset;
  EXPECT_TRUE(absl::IsFailedPrecondition(forgot)) << forgot;
}

TEST(DurableMarkTable, OpenCreatesItsDirectoryDurably) {
  Node node;
  absl::Status made = absl::UnknownError("not run");
  ASSERT_TRUE(node.Run([&] {
    made = node.disk().CreateDir("node");
    if (made.ok()) made = node.disk().SyncDir("");
  }));
  ASSERT_TRUE(made.ok());
  absl::StatusOr<std::unique_ptr<DurableMarkTable>> table;
  ASSERT_TRUE(
      node.Run([&] { table = DurableMarkTable::Open(node.runtime(), node.disk(), "node/m"); }));
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_TRUE(node.Run([&] { made = (*table)->Advance("a", At(1, 1)); }));
  ASSERT_TRUE(made.ok());
  table->reset();
  node.Crash();
  ASSERT_TRUE(
      node.Run([&] { table = DurableMarkTable::Open(node.runtime(), node.disk(), "node/m"); }));
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(Show((*table)->Get("a")), "1/1");
  table->reset();
  ASSERT_TRUE(
      node.Run([&] { table = DurableMarkTable::Open(node.runtime(), node.disk(), "x/y"); }));
  EXPECT_TRUE(absl::IsNotFound(table.status())) << "no parent directory";
}

// A restart without a power cut reads images a crash of the process left in the page cache,
// unsynced. Open makes what it read durable (and writes image 1's copy into marks.1 if that is
// missing) before anything relies on it: a later power cut loses none of it.
TEST(DurableMarkTable, WhatOpenReadIsDurableBeforeItIsUsed) {
  for (int images_before : {0, 3}) {
    Node node;
    ASSERT_TRUE(node.OpenTable());
    for (int i = 0; i < images_before; i++) ASSERT_TRUE(node.Advance("a", At(1, i + 1)).ok());
    node.Spawn([&] { (void)node.table().Advance("a", At(1, 9)); });
    ASSERT_TRUE(node.RunUntil([&] { return node.disk().syncs_in_flight() > 0; }));
    node.Restart();  // The process dies during the fsync; its write stays in the page cache.
    ASSERT_TRUE(node.OpenTable());
    ASSERT_EQ(Show(node.table().Get("a")), "1/9") << images_before;
    ASSERT_TRUE(node.Advance("a", At(1, 9)).ok()) << "already recorded: nothing to write";
    ASSERT_TRUE(node.Reopen()) << "a power cut now";
    EXPECT_EQ(Show(node.table().Get("a")), "1/9") << images_before;
    if (images_before > 0) continue;
    node.Crash();
    ASSERT_TRUE(node.disk().FlipBit(File(0), 30));
    ASSERT_TRUE(node.OpenTable());
    EXPECT_EQ(Show(node.table().Get("a")), "1/9") << "marks.1 holds image 1's copy";
  }
}

// The table's first image is written twice before anyone is told: damage to one copy leaves
// the other, and no damage ever reads as a fresh table (whose marks would be zero).
TEST(DurableMarkTable, DamageToTheFirstImageNeverReadsAsAFreshTable) {
  for (int damaged : {0, 1}) {
    Node node;
    ASSERT_TRUE(node.OpenTable());
    ASSERT_TRUE(node.Advance("a", At(1, 1)).ok());
    node.Crash();
    ASSERT_TRUE(node.disk().FlipBit(File(damaged), 30));
    ASSERT_TRUE(node.OpenTable());
    EXPECT_EQ(Show(node.table().Get("a")), "1/1") << "marks." << damaged << " damaged";
    node.Crash();
    ASSERT_TRUE(node.disk().FlipBit(File(1 - damaged), 30));
    ASSERT_TRUE(node.OpenTable());
    EXPECT_TRUE(IsDamagedAtRest(node.table().Get("a").status())) << "both damaged";
  }
}

// --- DurableMark in a table. ---

constexpr char kGroupDir[] = "groups/g1";

// Writes a legacy per-group `durable_mark` at `position` in kGroupDir.
void WriteLegacyMark(Node& node, const raft::LogPosition& position) {
  absl::Status status = absl::UnknownError("not run");
  ASSERT_TRUE(node.Run([&] {
    for (const char* dir : {"groups", kGroupDir}) {
      if (*node.disk().Exists(dir)) continue;
      status = node.disk().CreateDir(dir);
      if (status.ok()) status = node.disk().SyncDir(io::ParentDir(dir));
      if (!status.ok()) return;
    }
    absl::StatusOr<std::unique_ptr<DurableMark>> legacy = DurableMark::Open(node.disk(), kGroupDir);
    status = legacy.ok()
                 ? (*legacy)->Advance(position, io::Instant::FromNanos(0), DurableMark::When::kNow)
                 : legacy.status();
  }));
  ASSERT_TRUE(status.ok()) << status;
}

absl::StatusOr<raft::LogPosition> OpenInTable(Node& node, const std::string& group) {
  absl::StatusOr<raft::LogPosition> position = absl::UnknownError("not run");
  node.Run([&] {
    absl::StatusOr<std::unique_ptr<DurableMark>> mark =
        DurableMark::OpenInTable(node.table(), group, node.disk(), kGroupDir);
    position = mark.ok() ? absl::StatusOr<raft::LogPosition>((*mark)->position()) : mark.status();
  });
  return position;
}

// 8. A node switching to the table keeps every claim of its per-group files: the higher wins.
TEST(DurableMarkInTable, TakesTheHigherOfTheTableAndTheLegacyFile) {
  Node node;
  WriteLegacyMark(node, At(5, 50));
  ASSERT_TRUE(node.OpenTable());
  EXPECT_EQ(Show(OpenInTable(node, "g1")), "5/50") << "the table has nothing for g1";
  ASSERT_TRUE(node.Advance("g1", At(5, 40)).ok());
  EXPECT_EQ(Show(OpenInTable(node, "g1")), "5/50") << "the legacy file is ahead";
  ASSERT_TRUE(node.Advance("g1", At(6, 1)).ok());
  EXPECT_EQ(Show(OpenInTable(node, "g1")), "6/1") << "a later term in the table";
  ASSERT_TRUE(node.Reopen());
  EXPECT_EQ(Show(OpenInTable(node, "g1")), "6/1");
  WriteLegacyMark(node, At(6, 9));
  EXPECT_EQ(Show(OpenInTable(node, "g1")), "6/9");
}

TEST(DurableMarkInTable, DamageOnEitherSideIsDamagedAtRest) {
  Node node;
  WriteLegacyMark(node, At(2, 2));
  WriteLegacyMark(node, At(2, 3));  // Both slots written.
  node.Crash();
  ASSERT_TRUE(node.disk().FlipBit(fmt::format("{}/durable_mark", kGroupDir), 5));
  ASSERT_TRUE(node.disk().FlipBit(fmt::format("{}/durable_mark", kGroupDir), 32 + 5));
  ASSERT_TRUE(node.OpenTable());
  EXPECT_TRUE(IsDamagedAtRest(OpenInTable(node, "g1").status()));

  Node damaged;
  ASSERT_TRUE(damaged.OpenTable());
  ASSERT_TRUE(damaged.Advance("g1", At(1, 1)).ok());
  damaged.Crash();
  ASSERT_TRUE(damaged.disk().FlipBit(File(0), 30));
  ASSERT_TRUE(damaged.disk().FlipBit(File(1), 30));
  ASSERT_TRUE(damaged.OpenTable());
  EXPECT_TRUE(IsDamagedAtRest(OpenInTable(damaged, "g1").status()));
  absl::Status reset;
  ASSERT_TRUE(damaged.Run([&] { reset = damaged.table().Reset("g1", At(1, 4)); }));
  ASSERT_TRUE(reset.ok());
  EXPECT_EQ(Show(OpenInTable(damaged, "g1")), "1/4");
}

// Advance keeps DurableMark's rules (never back, rate limit) and writes through the table.
TEST(DurableMarkInTable, AdvanceKeepsTheRulesAndWritesThroughTheTable) {
  Node node;
  ASSERT_TRUE(node.OpenTable());
  absl::Status status;
  ASSERT_TRUE(node.Run([&] {
    absl::StatusOr<std::unique_ptr<DurableMark>> mark =
        DurableMark::OpenInTable(node.table(), "g1", node.disk(), kGroupDir);
    ASSERT_TRUE(mark.ok()) << mark.status();
    const io::Instant t0 = io::Instant::FromNanos(1'000'000'000);
    ASSERT_TRUE((*mark)->Advance(At(7, 1), t0, DurableMark::When::kNow).ok());
    EXPECT_EQ(Show(node.table().Get("g1")), "7/1");
    ASSERT_TRUE(
        (*mark)->Advance(At(7, 2), t0 + milliseconds(10), DurableMark::When::kRateLimited).ok());
    EXPECT_EQ(Show(node.table().Get("g1")), "7/1") << "within kDurableMarkInterval";
    ASSERT_TRUE((*mark)->Advance(At(6, 99), t0 + milliseconds(200), DurableMark::When::kNow).ok());
    EXPECT_EQ(Show(node.table().Get("g1")), "7/1") << "never back";
    ASSERT_TRUE(
        (*mark)->Advance(At(7, 3), t0 + milliseconds(200), DurableMark::When::kRateLimited).ok());
    EXPECT_EQ(Show(node.table().Get("g1")), "7/3");
    EXPECT_EQ(Show((*mark)->position()), "7/3");
  }));
  EXPECT_FALSE(*node.disk().Exists(fmt::format("{}/durable_mark", kGroupDir)))
      << "no per-group file is created";
  ASSERT_TRUE(node.Reopen());
  EXPECT_EQ(Show(node.table().Get("g1")), "7/3");
}

}  // namespace
}  // namespace meridian::core::replica
