// The simulator's own workload until the replicated log exists: a toy journal service, its
// clients, and the checker that judges a run. Small, but it touches every fault kind:
//
// - Servers append client values to a checksummed journal file, fsync, then acknowledge; on boot
//   they recover the journal (a torn tail is truncated; corruption in the middle is detected,
//   reported, and the journal truncated there). They also ping each other over peer messages.
// - Clients connect to random servers over streams and append unique values, recording each
//   operation as ok, fail (certainly not done) or info (may or may not have happened).
// - The checker (JournalObserver::Check) sees everything from outside the protocol and demands:
//   no acknowledged value silently lost (lost only where the server reported corruption), no
//   value recovered that no client sent (phantom), none recovered twice, no acknowledgement of a
//   ping never sent, and liveness: each client completes an append soon after the faults heal.
//
// Planted bugs (PlantedBug) prove the checker catches what it exists for.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "io/network.h"
#include "io/runtime.h"

namespace meridian::sim::toy {

enum class PlantedBug {
  kNone,
  kAckBeforeSync,      // Acknowledge at write, fsync lazily every 200 ms (NATS' 2025 lesson).
  kSkipCrcOnRecovery,  // Trust journal records without checking their CRC.
};

enum class Outcome { kPending, kOk, kFail, kInfo };

struct ClientOp {
  uint32_t client = 0;
  std::string value;  // Decimal: client * kValuesPerClient + sequence (unique, an int64).
  io::NodeId server;
  Outcome outcome = Outcome::kPending;
  io::Instant invoked;
  io::Instant completed;
  int64_t offset = -1;  // The record's index in the server's journal, for an ok append.
};

inline constexpr int64_t kValuesPerClient = 1'000'000'000;

struct Recovery {
  uint64_t incarnation = 0;
  io::Instant at;
  std::vector<std::string> values;
  bool corruption_detected = false;
  uint64_t bytes_truncated = 0;
};

class JournalObserver {
 public:
  // --- Called by clients and servers (world time comes from the caller). ---
  size_t Invoke(uint32_t client, io::NodeId server, std::string value, io::Instant now);
  void Complete(size_t op, Outcome outcome, io::Instant now, int64_t offset = -1);
  void Recovered(io::NodeId server, Recovery recovery);
  void PingSent(io::NodeId node, uint64_t sequence) { pings_sent_.insert({node, sequence}); }
  void AckReceived(io::NodeId node, io::NodeId from, uint64_t sequence);
  void Violation(std::string what) { violations_.push_back(std::move(what)); }

  // --- Verdict. ---
  // Empty when the run is valid; otherwise one line per violation. `audit_after`: only
  // recoveries at or after it count as the final audit of each server. `damaged`: servers whose
  // synced journal bytes the simulator damaged (bit flip, misdirected write): a single-copy
  // journal may lose acknowledged values there, but only there.
  std::vector<std::string> Check(const std::vector<io::NodeId>& servers, io::Instant audit_after,
                                 io::Instant healed_at, io::Duration liveness_window,
                                 uint32_t clients,
                                 const absl::btree_set<io::NodeId>& damaged) const;
  bool AuditComplete(const std::vector<io::NodeId>& servers, io::Instant audit_after) const;

  uint64_t count(Outcome outcome) const;
  // The recovery of `server` that the final audit saw (the last one at or after `audit_after`).
  const Recovery* FinalRecovery(io::NodeId server, io::Instant audit_after) const;
  uint64_t acks_received() const { return acks_received_; }
  const std::vector<ClientOp>& ops() const { return ops_; }

 private:
  std::vector<ClientOp> ops_;
  absl::btree_map<io::NodeId, std::vector<Recovery>> recoveries_;
  absl::btree_set<std::pair<io::NodeId, uint64_t>> pings_sent_;
  uint64_t acks_received_ = 0;
  std::vector<std::string> violations_;
};

struct ServerOptions {
  io::Address listen;
  std::vector<io::NodeId> peers;
  PlantedBug bug = PlantedBug::kNone;
};

// A server's main. Needs a world-time function for the observer's records.
void RunServer(io::Runtime& rt, JournalObserver& observer, const ServerOptions& options,
               uint64_t incarnation, const std::function<io::Instant()>& world_now);

void RunClient(io::Runtime& rt, JournalObserver& observer, uint32_t client,
               const std::vector<io::Address>& servers, const std::vector<io::NodeId>& server_ids,
               const std::function<io::Instant()>& world_now);

// Journal records: [u32 magic][u32 length][u32 CRC32C of length and payload][payload].
std::vector<uint8_t> EncodeRecord(std::string_view value);
// Parses a whole journal image. Stops at the first bad record; reports whether valid records
// follow it (corruption in the middle) or not (a torn tail).
Recovery ParseJournal(std::span<const uint8_t> bytes, bool verify_crc, uint64_t* valid_bytes);

}  // namespace meridian::sim::toy
