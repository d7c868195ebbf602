#include "tests/log/log_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <optional>

#include "core/log/segment_scan.h"
#include "io/assert.h"
#include "io/sync.h"
#include "tests/log/log_test_support.h"

namespace meridian::tests::log {
namespace {

using core::Offset;
using core::log::Log;

constexpr uint32_t kPayloadBytesMax = 700;
constexpr uint32_t kCrashAfterUsMax = 20'000;
constexpr size_t kWaitersMax = 64;

struct ModelBatch {
  Offset base;
  uint32_t records = 1;
  uint64_t tag = 0;
  uint32_t payload_bytes = 0;
  bool corrupted = false;
  Offset end() const { return Offset(base.value() + records); }
};

// A suffix truncation as the model saw it: the logical clock when the call began and ended.
struct Cut {
  Offset new_end;
  uint64_t began = 0;
  uint64_t ended = UINT64_MAX;
  bool happened = false;
};

// The dumb reference: a vector of batches from `start`, and what waiters were told.
struct Model {
  std::vector<ModelBatch> batches;
  Offset start;
  Offset start_max;  // Highest start a prefix truncation in flight may leave.
  Offset durable;    // Highest end offset any waiter was told is durable.
  uint64_t next_tag = 1;
  uint64_t clock = 0;  // Logical time of events, for judging waiters against truncations.
  std::vector<Cut> cuts;
  bool unacknowledged_loss = false;  // A recovery reported a loss not yet acknowledged.
  // A flip in progress: its own sync had not returned, but another fiber's sync of the same file
  // may already have made it durable. Recovery may then cut there.
  std::optional<Offset> flip_in_progress;
  // Bases of segments whose header the test flipped (see Runner::Corrupt).
  std::vector<Offset> header_damage;

  Offset end() const { return batches.empty() ? start : batches.back().end(); }
  bool IsBoundary(Offset offset) const {
    if (offset == end() || offset == start) return true;
    return std::any_of(batches.begin(), batches.end(),
                       [&](const ModelBatch& b) { return b.base == offset; });
  }
  std::optional<Offset> FirstCorrupt() const {
    for (const ModelBatch& b : batches)
      if (b.corrupted) return b.base;
    return std::nullopt;
  }
  void CutFrom(Offset new_end) {
    while (!batches.empty() && batches.back().base >= new_end) batches.pop_back();
    MERIDIAN_CHECK(end() == new_end || new_end < start);
    durable = std::min(durable, new_end);
  }
  void DropBefore(Offset new_start) {
    size_t n = 0;
    while (n < batches.size() && batches[n].end() <= new_start) n++;
    batches.erase(batches.begin(), batches.begin() + n);
    start = new_start;
    start_max = std::max(start_max, new_start);
    durable = std::max(durable, new_start);
  }
  // The index of the batch holding `offset` (< end()).
  size_t IndexOf(Offset offset) const {
    for (size_t i = 0; i < batches.size(); i++) {
      if (batches[i].base <= offset && offset < batches[i].end()) return i;
    }
    MERIDIAN_UNREACHABLE("offset {} not in model", offset.value());
  }
};

class Runner {
 public:
  Runner(uint64_t seed, ModelConfig config) : seed_(seed), knobs_(config.knobs), config_(config) {}

  void Phase(io::Runtime& rt, std::span<const Command> commands, bool ends_in_crash);
  ModelRunResult& result() { return result_; }

 private:
  core::log::LogOptions Options(std::shared_ptr<core::log::Wal> wal) const {
    return core::log::LogOptions{.dir = "p0",
                                 .segment_bytes_max = 4096,
                                 .index_interval_bytes = 256,
                                 .cache_bytes_max = 2048,
                                 .retention_bytes_max = 3 * 4096,
                                 .wal = std::move(wal),
                                 .wal_direct_round_bytes = config_.wal_direct_round_bytes,
                                 .testing = knobs_};
  }
  void Fail(std::string what) {
    if (result_.failure.empty()) {
      result_.failure = fmt::format("step {}: {}", result_.steps, what);
    }
  }
  void CheckRecovery(Log& log, const core::log::RecoveryReport& report);
  void CheckLive(const Log& log);
  void CheckContent(Log& log);
  void CheckRead(Offset from, const absl::StatusOr<core::log::ReadResult>& read);
  void Execute(io::Runtime& rt, const std::shared_ptr<Log>& log, const Command& command,
               std::vector<io::FiberId>& waiters);
  void WaitDurable(const std::shared_ptr<Log>& log, Offset target, uint64_t began);
  void TruncateSuffix(Log& log, uint32_t pick);
  bool CutSince(uint64_t began, Offset offset) const;
  void TruncatePrefix(Log& log, absl::StatusOr<Offset> (Log::*)(Offset), uint32_t pick);
  void Corrupt(io::Runtime& rt, uint32_t pick, uint32_t byte);
  void TearTail(io::Runtime& rt, uint32_t bytes, uint32_t garbage);

  const uint64_t seed_;
  const core::log::LogTestingKnobs knobs_;
  const ModelConfig config_;
  Model model_;
  ModelRunResult result_;
  DiskFaults faults_;  // Reset at every boot: a restart comes back to a working disk.
  std::vector<std::shared_ptr<FaultyDisk>> disks_;
};

void Runner::Phase(io::Runtime& rt, std::span<const Command> commands, bool ends_in_crash) {
  faults_ = DiskFaults{};
  // Shared with the waiters, which may outlive this frame while a crash unwinds the fibers.
  auto disk = std::make_shared<FaultyDisk>(rt.disk(), faults_);
  // The WAL's checkpoint fiber may outlive this phase's log: the disk must too.
  disks_.push_back(disk);
  std::shared_ptr<core::log::Wal> wal;
  if (config_.wal) {
    absl::StatusOr<std::shared_ptr<core::log::Wal>> opened_wal =
        core::log::Wal::Open(rt, *disk,
                             core::log::WalOptions{.dir = "wal",
                                                   .file_bytes_max = 8192,
                                                   .live_files_max = 2,
                                                   .testing_truncate_before_wal_sync =
                                                       config_.wal_truncate_before_sync});
    if (!opened_wal.ok()) return Fail("open wal: " + opened_wal.status().ToString());
    wal = std::move(*opened_wal);
  }
  core::log::RecoveryReport report;
  absl::StatusOr<std::unique_ptr<Log>> opened = Log::Open(rt, *disk, Options(wal), &report);
  if (!opened.ok()) return Fail("open: " + opened.status().ToString());
  std::shared_ptr<Log> log(opened->release(), [disk](Log* l) { delete l; });
  CheckRecovery(*log, report);
  if (report.cut && result_.failure.empty()) {
    // The model has checked the loss: acknowledge it, as replication would after the re-fetch.
    if (absl::Status s = log->AcknowledgeLoss(); !s.ok())
      return Fail("acknowledge: " + s.ToString());
    model_.unacknowledged_loss = false;
  }
  std::vector<io::FiberId> waiters;
  for (const Command& command : commands) {
    if (!result_.failure.empty()) break;
    if (command.kind == CommandKind::kTornTail) {
      // A torn write is what a power cut does to an append in flight: the phase's power goes
      // now (its remaining commands are skipped; the crash comes when the driver says).
      if (!ends_in_crash) continue;
      TearTail(rt, command.a, command.b);
      break;
    }
    Execute(rt, log, command, waiters);
    result_.steps++;
    model_.clock++;
    if (!log->failure().ok()) {
      // Only an injected fsync failure may fail the log; then its owner must reopen it, which
      // is the next phase. Nothing durable may be lost meanwhile (the recovery check).
      if (!faults_.fail_syncs)
        Fail("log failed with no fault injected: " + log->failure().ToString());
      result_.logs_failed++;
      break;
    }
    CheckLive(*log);
  }
  for (io::FiberId waiter : waiters) rt.scheduler().Join(waiter);
  if (log->failure().ok()) CheckLive(*log);
}

void Runner::CheckRecovery(Log& log, const core::log::RecoveryReport& report) {
  const Offset end = log.end_offset();
  const Offset start = log.start_offset();
  if (model_.flip_in_progress && report.cut && end == *model_.flip_in_progress &&
      (!model_.FirstCorrupt() || *model_.FirstCorrupt() > end)) {
    model_.batches[model_.IndexOf(end)].corrupted = true;  // The flip landed after all.
  }
  model_.flip_in_progress.reset();
  // A suffix truncation the power cut interrupted may or may not have happened (over a WAL,
  // once its record is durable, recovery redoes it): a log recovered at its new end took it.
  for (Cut& cut : model_.cuts) {
    if (cut.ended != UINT64_MAX) continue;
    cut.ended = model_.clock;  // Over, either way.
    if (cut.new_end == end && end < model_.end() && end >= model_.start) model_.CutFrom(end);
  }
  const std::optional<Offset> corrupt = model_.FirstCorrupt();
  // With a WAL, the batches of a segment lost to header damage may be written back from it,
  // so the log may end past the damaged segment's base.
  const bool header_cut = report.cut && (!corrupt || *corrupt >= end) &&
                          (std::find(model_.header_damage.begin(), model_.header_damage.end(),
                                     end) != model_.header_damage.end() ||
                           (config_.wal && !model_.header_damage.empty()));
  model_.header_damage.clear();
  if (header_cut) {
    result_.corruptions_caught++;
    model_.unacknowledged_loss = true;
  } else if (corrupt && config_.wal && end > *corrupt) {
    // The WAL still held the damaged batch and wrote it back: CheckContent below must read
    // exactly what was written.
    for (ModelBatch& b : model_.batches) b.corrupted = false;
    result_.corruptions_caught++;
    if (report.cut) model_.unacknowledged_loss = true;
  } else if (corrupt) {
    // Over a WAL, a cut the WAL's history covered is healed (the batches are written back, or
    // the history had truncated them): no cut is reported then.
    const bool reported = report.cut || (config_.wal && report.healed_by_wal);
    if (end != *corrupt || !reported || (report.cut && report.lost_from > *corrupt)) {
      return Fail(fmt::format("corrupted batch at {} but recovery gave end {}: {}",
                              corrupt->value(), end.value(), report.ToString()));
    }
    result_.corruptions_caught++;
    model_.unacknowledged_loss = true;
  } else if (report.cut && !model_.unacknowledged_loss && report.lost_from < model_.durable) {
    // Cutting what was never durable (a torn tail, a segment created but never synced) is
    // allowed; cutting durable data with no damage planted is not.
    return Fail("recovery cut durable data with no damage planted: " + report.ToString());
  } else if (report.cut) {
    model_.unacknowledged_loss = true;
  } else if (end < model_.durable) {
    return Fail(fmt::format("durable offsets lost: told durable up to {}, recovered end {} ({})",
                            model_.durable.value(), end.value(), report.ToString()));
  }
  if (end > model_.end()) {
    return Fail(
        fmt::format("recovered end {} past written end {}", end.value(), model_.end().value()));
  }
  if (start < model_.start || start > model_.start_max) {
    return Fail(fmt::format("recovered start {} outside [{}, {}]", start.value(),
                            model_.start.value(), model_.start_max.value()));
  }
  if (!model_.IsBoundary(end) || !model_.IsBoundary(start)) return Fail("recovered mid-batch");
  model_.DropBefore(start);
  model_.CutFrom(end);
  model_.durable = end;
  for (ModelBatch& b : model_.batches) b.corrupted = false;
  CheckContent(log);
}

void Runner::CheckLive(const Log& log) {
  if (log.end_offset() != model_.end()) {
    Fail(fmt::format("log end {} model end {}", log.end_offset().value(), model_.end().value()));
  }
  if (log.start_offset() != model_.start) Fail("log start differs from the model's");
  if (log.durable_end_offset() < model_.durable) Fail("log durable end below what waiters heard");
  if (!log.failure().ok()) Fail("log failed: " + log.failure().ToString());
}

void Runner::CheckContent(Log& log) {
  Offset next = log.start_offset();
  while (next < log.end_offset() && result_.failure.empty()) {
    absl::StatusOr<core::log::ReadResult> read = log.Read(next, 1 << 20);
    CheckRead(next, read);
    if (!read.ok()) return;
    next = read->next_offset;
  }
}

void Runner::CheckRead(Offset from, const absl::StatusOr<core::log::ReadResult>& read) {
  if (!read.ok()) {
    std::optional<Offset> corrupt = model_.FirstCorrupt();
    if (absl::IsDataLoss(read.status()) && corrupt && *corrupt <= from) {
      result_.corruptions_caught++;
      return;
    }
    return Fail(fmt::format("read at {}: {}", from.value(), read.status().ToString()));
  }
  result_.reads_checked++;
  if (from == model_.end()) {
    if (!read->batches.empty()) Fail("read at the end returned batches");
    return;
  }
  size_t index = model_.IndexOf(from);
  for (const core::log::BatchRef& batch : read->batches) {
    if (index >= model_.batches.size()) return Fail("read returned batches never written");
    const ModelBatch& want = model_.batches[index++];
    const std::vector<uint8_t> payload = PayloadFor(want.tag, want.payload_bytes);
    if (batch.header.base_offset != want.base || batch.header.record_count != want.records ||
        batch.header.producer_id != want.tag ||
        !std::equal(payload.begin(), payload.end(), batch.payload().begin(),
                    batch.payload().end())) {
      return Fail(
          fmt::format("read at {} returned a batch at {} that differs from what was "
                      "written at {} (tag {})",
                      from.value(), batch.header.base_offset.value(), want.base.value(), want.tag));
    }
  }
  if (read->next_offset != model_.batches[index - 1].end()) Fail("read next_offset is wrong");
}

void Runner::Execute(io::Runtime& rt, const std::shared_ptr<Log>& log, const Command& command,
                     std::vector<io::FiberId>& waiters) {
  const Offset end = model_.end();
  switch (command.kind) {
    case CommandKind::kAppend: {
      const ModelBatch batch{end, 1 + command.a % 4, model_.next_tag++,
                             command.b % kPayloadBytesMax};
      absl::StatusOr<Offset> offset = log->Append(MetaFor(batch.tag, batch.records),
                                                  PayloadFor(batch.tag, batch.payload_bytes));
      if (!offset.ok() && absl::IsResourceExhausted(offset.status()) &&
          faults_.write_bytes_left != UINT64_MAX) {
        result_.disk_full_errors++;
        return;  // Nothing appended: CheckLive compares the ends.
      }
      if (!offset.ok() && faults_.fail_syncs) return;  // The log failed earlier in a waiter.
      if (!offset.ok()) return Fail("append: " + offset.status().ToString());
      if (*offset != end)
        return Fail(fmt::format("append got {} expected {}", offset->value(), end.value()));
      model_.batches.push_back(batch);
      return;
    }
    case CommandKind::kWaitDurable:
      if (end == model_.start || waiters.size() >= kWaitersMax) return;
      waiters.push_back(
          rt.Spawn("waiter", [this, log, target = Offset(end.value() - 1), began = model_.clock] {
            WaitDurable(log, target, began);
          }));
      return;
    case CommandKind::kSync: {
      absl::Status synced = log->Sync();
      if (!synced.ok() && faults_.fail_syncs) return;
      if (absl::IsResourceExhausted(synced) && config_.wal &&
          faults_.write_bytes_left != UINT64_MAX) {
        return;  // A large round's base record (see WaitDurable).
      }
      if (!synced.ok()) return Fail("sync: " + synced.ToString());
      model_.durable = std::max(model_.durable, end);
      return;
    }
    case CommandKind::kRead: {
      const Offset from(model_.start.value() +
                        command.a % (end.value() - model_.start.value() + 1));
      CheckRead(from, log->Read(from, 1 + command.b % 3000));
      return;
    }
    case CommandKind::kTruncateSuffix:
      return TruncateSuffix(*log, command.a);
    case CommandKind::kTruncatePrefix:
      return TruncatePrefix(*log, &Log::TruncatePrefix, command.a);
    case CommandKind::kRetention:
      return TruncatePrefix(*log, nullptr, command.a);
    case CommandKind::kSleep:
      (void)rt.Sleep(std::chrono::microseconds(command.a % 3000));
      return;
    case CommandKind::kCorrupt:
      return Corrupt(rt, command.a, command.b);
    case CommandKind::kDiskFull:
      faults_.write_bytes_left = command.a % 2000;
      return;
    case CommandKind::kDiskFreed:
      faults_.write_bytes_left = UINT64_MAX;
      return;
    case CommandKind::kFailSyncs:
      faults_.fail_syncs = true;
      return;
    case CommandKind::kTornTail:
    case CommandKind::kCrash:
      MERIDIAN_UNREACHABLE("handled by Phase and RunModel");
  }
}

bool Runner::CutSince(uint64_t began, Offset offset) const {
  return std::any_of(model_.cuts.begin(), model_.cuts.end(),
                     [&](const Cut& cut) { return cut.began >= began && cut.new_end <= offset; });
}

// `target` and `began` are taken when the waiter is spawned; it runs later.
void Runner::WaitDurable(const std::shared_ptr<Log>& log, Offset target, uint64_t began) {
  const absl::Status waited = log->WaitDurable(target);
  // Its batch was truncated away, before or while it waited.
  if ((absl::IsAborted(waited) || absl::IsOutOfRange(waited)) && CutSince(began, target)) return;
  if (!waited.ok() && faults_.fail_syncs) return;
  // Over a WAL, a large round's base record needs a few bytes of a full disk.
  if (absl::IsResourceExhausted(waited) && config_.wal && faults_.write_bytes_left != UINT64_MAX)
    return;
  if (!waited.ok()) return Fail("wait durable: " + waited.ToString());
  for (const Cut& cut : model_.cuts) {
    // A truncation that began after this wait began and ended before it returned, and removed
    // the target: the waiter must have been aborted.
    if (cut.happened && cut.began > began && cut.ended < model_.clock && cut.new_end <= target) {
      return Fail(fmt::format("waiter told durable for {}, truncated meanwhile", target.value()));
    }
  }
  if (target < model_.end()) model_.durable = std::max(model_.durable, target.next());
}

void Runner::TruncateSuffix(Log& log, uint32_t pick) {
  const size_t index = pick % (model_.batches.size() + 1);
  const Offset new_end = index < model_.batches.size() ? model_.batches[index].base : model_.end();
  model_.durable = std::min(model_.durable, new_end);
  model_.cuts.push_back(Cut{new_end, model_.clock++});
  const size_t cut_index = model_.cuts.size() - 1;
  const absl::Status status = log.TruncateSuffix(new_end);
  model_.cuts[cut_index].ended = model_.clock++;
  if (!status.ok()) {
    if (faults_.fail_syncs) {
      // An fsync failed (injected EIO is DataLoss too, so this comes first): whether the cut
      // reached the disk is known only at recovery, which judges it as a cut in flight.
      model_.durable = std::min(model_.durable, new_end);
      model_.cuts[cut_index].ended = UINT64_MAX;
      return;
    }
    if (absl::IsDataLoss(status) && model_.FirstCorrupt()) return;  // Met the damage: refused.
    // With a WAL, a truncation writes a record first: a full disk refuses it, changing nothing.
    if (absl::IsResourceExhausted(status) && config_.wal &&
        faults_.write_bytes_left != UINT64_MAX) {
      return;
    }
    return Fail("truncate suffix: " + status.ToString());
  }
  model_.cuts[cut_index].happened = true;
  model_.CutFrom(new_end);
}

void Runner::TruncatePrefix(Log& log, absl::StatusOr<Offset> (Log::*truncate)(Offset),
                            uint32_t pick) {
  const size_t index = pick % (model_.batches.size() + 1);
  const Offset up_to = truncate == nullptr             ? model_.end()
                       : index < model_.batches.size() ? model_.batches[index].base
                                                       : model_.end();
  model_.start_max = std::max(model_.start_max, up_to);
  const absl::StatusOr<Offset> start =
      truncate == nullptr ? log.EnforceRetention(/*now_ms=*/0) : (log.*truncate)(up_to);
  if (!start.ok() && faults_.fail_syncs) return;  // A waiter's fsync failed the log meanwhile.
  if (!start.ok()) return Fail("truncate prefix: " + start.status().ToString());
  if (*start < model_.start || *start > up_to || !model_.IsBoundary(*start)) {
    return Fail(
        fmt::format("prefix truncation to {} gave start {}", up_to.value(), start->value()));
  }
  if (*start > log.durable_end_offset())
    return Fail("prefix truncation removed non-durable batches");
  model_.DropBefore(*start);
}

void Runner::Corrupt(io::Runtime& rt, uint32_t pick, uint32_t byte) {
  std::vector<size_t> durable;
  for (size_t i = 0; i < model_.batches.size(); i++) {
    if (model_.batches[i].end() <= model_.durable && !model_.batches[i].corrupted)
      durable.push_back(i);
  }
  if (durable.empty()) return;
  ModelBatch& victim = model_.batches[durable[pick % durable.size()]];
  absl::StatusOr<std::vector<std::string>> names = rt.disk().ListDir("p0");
  if (!names.ok()) return Fail("list: " + names.status().ToString());
  for (const std::string& name : *names) {
    Offset base;
    if (!core::log::ParseSegmentFileName(name, &base) || base > victim.base) continue;
    const std::string path = "p0/" + name;
    auto file = rt.disk().Open(path, io::OpenMode::kOpenExisting);
    if (!file.ok()) return Fail("open segment: " + file.status().ToString());
    std::optional<uint64_t> position;
    uint32_t length = 0;
    core::log::ScanSegment(**file, base, 4096, [&](const core::log::BatchHeader& h, uint64_t at) {
      if (h.base_offset == victim.base) {
        position = at;
        length = h.length_bytes;
      }
    });
    if (!position) continue;  // Not in this segment, or behind earlier damage.
    if (byte % 8 == 0) {
      // One flip in eight hits the segment's header: everything in the segment is lost at the
      // next recovery, even batches appended (and synced) after the flip, unless a truncation
      // removes the segment first. The model allows (does not require) a cut there.
      model_.header_damage.push_back(base);
      const uint64_t at = (byte / 8) % core::log::kSegmentHeaderBytes;
      if (absl::Status s = FlipByte(rt.disk(), path, at); !s.ok())
        return Fail("flip: " + s.ToString());
      return;
    }
    model_.flip_in_progress = victim.base;
    if (absl::Status s = FlipByte(rt.disk(), path, *position + byte % length); !s.ok()) {
      return Fail("flip: " + s.ToString());
    }
    model_.flip_in_progress.reset();
    victim.corrupted = true;
    return;
  }
}

// Writes part of a would-be next batch (or garbage) after the active segment's last byte and
// syncs it, as if the power went while that append was reaching the platter.
void Runner::TearTail(io::Runtime& rt, uint32_t bytes, uint32_t garbage) {
  absl::StatusOr<std::vector<std::string>> names = rt.disk().ListDir("p0");
  if (!names.ok()) return Fail("list: " + names.status().ToString());
  std::string active;
  for (const std::string& name : *names) {
    Offset base;
    if (core::log::ParseSegmentFileName(name, &base)) active = "p0/" + name;
  }
  if (active.empty()) return;
  auto file = rt.disk().Open(active, io::OpenMode::kOpenExisting);
  if (!file.ok()) return Fail("open: " + file.status().ToString());
  const uint64_t tag = model_.next_tag++;
  std::vector<uint8_t> torn =
      garbage != 0 ? PayloadFor(tag, 1 + bytes % 200)
                   : core::log::EncodeBatch(model_.end(), MetaFor(tag, 1), PayloadFor(tag, 300));
  torn.resize(std::min<size_t>(torn.size() - 1, 1 + bytes % 200));
  absl::StatusOr<uint64_t> size = (*file)->Size();
  if (!size.ok()) return Fail("size: " + size.status().ToString());
  if (absl::Status s = (*file)->WriteAt(*size, torn); !s.ok()) return Fail("tear: " + s.ToString());
  if (absl::Status s = (*file)->Sync(); !s.ok()) return Fail("tear sync: " + s.ToString());
  result_.torn_tails++;
}

}  // namespace

Command MakeCommand(uint32_t roll, uint32_t a, uint32_t b) {
  // Weights out of 100: mostly appends and durability waits, with every other kind regular.
  struct Weight {
    CommandKind kind;
    uint32_t upto;
  };
  static constexpr Weight kWeights[] = {
      {CommandKind::kAppend, 35},         {CommandKind::kWaitDurable, 50},
      {CommandKind::kSync, 56},           {CommandKind::kRead, 72},
      {CommandKind::kTruncateSuffix, 77}, {CommandKind::kTruncatePrefix, 80},
      {CommandKind::kRetention, 82},      {CommandKind::kSleep, 90},
      {CommandKind::kCorrupt, 92},        {CommandKind::kDiskFull, 94},
      {CommandKind::kDiskFreed, 96},      {CommandKind::kFailSyncs, 97},
      {CommandKind::kTornTail, 98},       {CommandKind::kCrash, 100},
  };
  for (const Weight& w : kWeights) {
    if (roll % 100 < w.upto) return Command{w.kind, a, b};
  }
  MERIDIAN_UNREACHABLE("roll {}", roll);
}

std::vector<Command> RandomCommands(io::Random& random, size_t count) {
  std::vector<Command> commands;
  for (size_t i = 0; i < count; i++) {
    commands.push_back(MakeCommand(static_cast<uint32_t>(random.Below(100)),
                                   static_cast<uint32_t>(random.Below(1u << 16)),
                                   static_cast<uint32_t>(random.Below(1u << 16))));
  }
  return commands;
}

ModelRunResult RunModel(uint64_t seed, const std::vector<Command>& commands,
                        core::log::LogTestingKnobs knobs) {
  return RunModel(seed, commands, ModelConfig{.knobs = knobs});
}

ModelRunResult RunModel(uint64_t seed, const std::vector<Command>& commands,
                        const ModelConfig& config) {
  SimNode node(seed);
  Runner runner(seed, config);
  size_t begin = 0;
  while (runner.result().failure.empty()) {
    size_t end = begin;
    while (end < commands.size() && commands[end].kind != CommandKind::kCrash) end++;
    const std::span<const Command> phase(commands.data() + begin, end - begin);
    const bool ends_in_crash = end < commands.size();
    NodeBody body = [&runner, phase, ends_in_crash](io::Runtime& rt) {
      runner.Phase(rt, phase, ends_in_crash);
    };
    if (end < commands.size()) {
      node.RunThenCrash(body, std::chrono::microseconds(1 + commands[end].a % kCrashAfterUsMax));
      runner.result().crashes++;
      begin = end + 1;
      continue;
    }
    if (!node.Run(body)) runner.result().failure = "the last phase did not finish";
    break;
  }
  // A last power cut and recovery must find everything the last phase made durable.
  if (runner.result().failure.empty()) {
    if (!node.Run([&runner](io::Runtime& rt) { runner.Phase(rt, {}, false); })) {
      runner.result().failure = "the final recovery did not finish";
    }
  }
  runner.result().trace_hash = node.world().trace_hash();
  return runner.result();
}

std::string Describe(const std::vector<Command>& commands) {
  static constexpr const char* kNames[] = {
      "append",          "wait",       "sync",      "read",    "truncate-suffix",
      "truncate-prefix", "retention",  "sleep",     "corrupt", "disk-full",
      "disk-freed",      "fail-syncs", "torn-tail", "crash"};
  static_assert(std::size(kNames) == static_cast<size_t>(CommandKind::kCrash) + 1);
  std::string text;
  for (const Command& c : commands) {
    text += fmt::format("{}({},{}) ", kNames[static_cast<int>(c.kind)], c.a, c.b);
  }
  return text;
}

}  // namespace meridian::tests::log
