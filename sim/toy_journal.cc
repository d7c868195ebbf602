#include "sim/toy_journal.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "io/assert.h"
#include "io/crc32c.h"
#include "io/disk.h"
#include "io/frame.h"
#include "io/probe.h"

namespace meridian::sim::toy {
namespace {

constexpr uint32_t kRecordMagic = 0x4e524a4d;  // "MJRN"
constexpr size_t kRecordHeaderBytes = 12;
constexpr uint32_t kValueBytesMax = 256;

void PutU32(uint8_t* out, uint32_t value) {
  for (int i = 0; i < 4; i++) out[i] = static_cast<uint8_t>(value >> (8 * i));
}
uint32_t GetU32(const uint8_t* in) {
  uint32_t value = 0;
  for (int i = 0; i < 4; i++) value |= static_cast<uint32_t>(in[i]) << (8 * i);
  return value;
}

// Parses the record at `offset`. Returns its total size, or 0 if it is not a valid record.
size_t RecordAt(std::span<const uint8_t> bytes, size_t offset, bool verify_crc,
                std::string* value) {
  if (bytes.size() - offset < kRecordHeaderBytes) return 0;
  const uint8_t* header = bytes.data() + offset;
  if (GetU32(header) != kRecordMagic) return 0;
  const uint32_t length = GetU32(header + 4);
  if (length == 0 || length > kValueBytesMax) return 0;
  if (bytes.size() - offset - kRecordHeaderBytes < length) return 0;
  const uint8_t* payload = header + kRecordHeaderBytes;
  if (verify_crc) {
    const uint32_t crc = io::Crc32cExtend(io::Crc32c({header + 4, 4}), {payload, length});
    if (crc != GetU32(header + 8)) return 0;
  }
  if (value != nullptr) value->assign(payload, payload + length);
  return kRecordHeaderBytes + length;
}

}  // namespace

std::vector<uint8_t> EncodeRecord(std::string_view value) {
  MERIDIAN_CHECK(!value.empty() && value.size() <= kValueBytesMax);
  std::vector<uint8_t> record(kRecordHeaderBytes + value.size());
  PutU32(record.data(), kRecordMagic);
  PutU32(record.data() + 4, static_cast<uint32_t>(value.size()));
  std::memcpy(record.data() + kRecordHeaderBytes, value.data(), value.size());
  const uint32_t crc = io::Crc32cExtend(io::Crc32c({record.data() + 4, 4}),
                                        {record.data() + kRecordHeaderBytes, value.size()});
  PutU32(record.data() + 8, crc);
  return record;
}

Recovery ParseJournal(std::span<const uint8_t> bytes, bool verify_crc, uint64_t* valid_bytes) {
  Recovery recovery;
  size_t offset = 0;
  while (offset < bytes.size()) {
    std::string value;
    const size_t size = RecordAt(bytes, offset, verify_crc, &value);
    if (size == 0) break;
    recovery.values.push_back(std::move(value));
    offset += size;
  }
  *valid_bytes = offset;
  recovery.bytes_truncated = bytes.size() - offset;
  // A valid record anywhere after the first bad one means the damage is not a torn tail.
  for (size_t probe = offset + 1; probe < bytes.size() && !recovery.corruption_detected; probe++) {
    recovery.corruption_detected = RecordAt(bytes, probe, /*verify_crc=*/true, nullptr) > 0;
  }
  return recovery;
}

size_t JournalObserver::Invoke(uint32_t client, io::NodeId server, std::string value,
                               io::Instant now) {
  ops_.push_back({client, std::move(value), server, Outcome::kPending, now, now});
  return ops_.size() - 1;
}

void JournalObserver::Complete(size_t op, Outcome outcome, io::Instant now, int64_t offset) {
  MERIDIAN_CHECK(op < ops_.size());
  MERIDIAN_CHECK(ops_[op].outcome == Outcome::kPending, "op {} completed twice", op);
  MERIDIAN_CHECK(outcome != Outcome::kPending);
  MERIDIAN_CHECK((outcome == Outcome::kOk) == (offset >= 0), "op {}: offset {}", op, offset);
  ops_[op].outcome = outcome;
  ops_[op].completed = now;
  ops_[op].offset = offset;
}

void JournalObserver::Recovered(io::NodeId server, Recovery recovery) {
  if (recovery.corruption_detected) MERIDIAN_PROBE("toy journal: corruption detected");
  if (recovery.bytes_truncated > 0 && !recovery.corruption_detected) {
    MERIDIAN_PROBE("toy journal: torn tail truncated");
  }
  recoveries_[server].push_back(std::move(recovery));
}

void JournalObserver::AckReceived(io::NodeId node, io::NodeId from, uint64_t sequence) {
  acks_received_++;
  if (!pings_sent_.contains({node, sequence})) {
    violations_.push_back(fmt::format("{} received an ack from {} for ping {} it never sent",
                                      node.ToString(), from.ToString(), sequence));
  }
}

uint64_t JournalObserver::count(Outcome outcome) const {
  return static_cast<uint64_t>(std::count_if(
      ops_.begin(), ops_.end(), [&](const ClientOp& op) { return op.outcome == outcome; }));
}

const Recovery* JournalObserver::FinalRecovery(io::NodeId server, io::Instant audit_after) const {
  auto it = recoveries_.find(server);
  if (it == recoveries_.end() || it->second.back().at < audit_after) return nullptr;
  return &it->second.back();
}

bool JournalObserver::AuditComplete(const std::vector<io::NodeId>& servers,
                                    io::Instant audit_after) const {
  for (io::NodeId server : servers) {
    auto it = recoveries_.find(server);
    if (it == recoveries_.end() || it->second.back().at < audit_after) return false;
  }
  return true;
}

}  // namespace meridian::sim::toy

namespace meridian::sim::toy {

std::vector<std::string> JournalObserver::Check(const std::vector<io::NodeId>& servers,
                                                io::Instant audit_after, io::Instant healed_at,
                                                io::Duration liveness_window, uint32_t clients,
                                                const absl::btree_set<io::NodeId>& damaged) const {
  std::vector<std::string> problems = violations_;
  absl::btree_map<io::NodeId, absl::btree_set<std::string>> invoked;  // By server.
  for (const ClientOp& op : ops_) invoked[op.server].insert(op.value);
  for (io::NodeId server : servers) {
    auto it = recoveries_.find(server);
    if (it == recoveries_.end() || it->second.back().at < audit_after) {
      problems.push_back(fmt::format("{} did not recover in the final audit", server.ToString()));
      continue;
    }
    const Recovery& audit = it->second.back();
    absl::btree_set<std::string> seen;
    for (const std::string& value : audit.values) {
      if (!seen.insert(value).second) {
        problems.push_back(fmt::format("{}: value {} recovered twice", server.ToString(), value));
      }
      if (!invoked[server].contains(value)) {
        problems.push_back(fmt::format("{}: phantom value '{}' recovered (never sent to it)",
                                       server.ToString(), value));
      }
    }
    for (const ClientOp& op : ops_) {
      if (op.server != server || op.outcome != Outcome::kOk || seen.contains(op.value)) continue;
      bool excused = damaged.contains(server);
      for (const Recovery& recovery : it->second) {
        excused |= recovery.at >= op.completed && recovery.corruption_detected;
      }
      if (!excused) {
        problems.push_back(
            fmt::format("{}: acknowledged value {} (ok at {}) lost without any "
                        "detected or injected corruption",
                        server.ToString(), op.value, op.completed.ToString()));
      }
    }
  }
  // Liveness: after the heal, every client completes an append within the window.
  for (uint32_t client = 0; client < clients; client++) {
    const bool progressed = std::any_of(ops_.begin(), ops_.end(), [&](const ClientOp& op) {
      return op.client == client && op.outcome == Outcome::kOk && op.completed >= healed_at &&
             op.completed <= healed_at + liveness_window;
    });
    if (!progressed) {
      problems.push_back(fmt::format("client {} made no progress within {} after the heal", client,
                                     io::FormatDuration(liveness_window)));
    }
  }
  return problems;
}

}  // namespace meridian::sim::toy
