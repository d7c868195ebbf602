// Quotas and overload bounds of one node (issue 13 items 2 and 3): pure pieces, no I/O, time
// always an argument (the caller passes io::Runtime::Now()), so the simulator replays them.
//
//   TokenBucket   `rate_per_s` tokens a second, at most `burst` saved up. What stays true: over
//                 any run of calls, the tokens taken never exceed rate * elapsed + burst
//                 (quotas_test checks it as a rapidcheck property), plus at most one Charge
//                 taken as debt (a fetch's bytes are known only after it is served).
//   Quotas        the buckets of every client id and topic this node has seen (bytes/s and
//                 requests/s each), at most kBucketsMax of them (the least recently used goes).
//   MemoryBudget  the node's buffered bytes (requests in flight, batches awaiting commit,
//                 responses being written) against a configured bound; a reservation that would
//                 pass the bound is refused, and the caller sheds the request.
//
// Who may call: the broker's fibers (one thread); nothing here suspends.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "io/time.h"

namespace meridian::core::broker {

class TokenBucket {
 public:
  static constexpr uint64_t kRatePerSecondMax = uint64_t{1} << 40;
  static constexpr uint64_t kBurstMax = uint64_t{1} << 40;

  // Starts full. 1 <= rate_per_s <= kRatePerSecondMax, 1 <= burst <= kBurstMax.
  TokenBucket(uint64_t rate_per_s, uint64_t burst, io::Instant now);

  // How long until `amount` tokens are there (zero: now). amount <= burst.
  io::Duration WaitFor(io::Instant now, uint64_t amount);
  // Takes `amount` tokens when they are there; false (and nothing taken) otherwise.
  bool TryTake(io::Instant now, uint64_t amount);
  // Takes `amount` tokens whether or not they are there: the bucket may go into debt, which
  // later takers wait out. For costs learnt after the fact (a fetch's response bytes).
  void Charge(io::Instant now, uint64_t amount);

  uint64_t rate_per_s() const { return rate_per_s_; }
  uint64_t burst() const { return burst_; }

 private:
  static constexpr int64_t kMicro = 1'000'000;  // Tokens are kept in millionths.
  void Refill(io::Instant now);

  uint64_t rate_per_s_;
  uint64_t burst_;
  __int128 micro_tokens_;  // <= burst * kMicro; negative: debt.
  int64_t carry_ = 0;      // rate * ns not yet a whole micro-token (< 1000).
  io::Instant last_;
};

// A quota: 0 means unlimited. Bytes are produced batch bytes plus fetched response bytes.
struct QuotaLimits {
  uint64_t bytes_per_s = 0;
  uint64_t requests_per_s = 0;
  bool operator==(const QuotaLimits&) const = default;
};

// Whose quota: a client id (from its HelloRequest) or a topic.
enum class QuotaSubject : uint8_t { kClient = 1, kTopic = 2 };

class Quotas {
 public:
  static constexpr size_t kBucketsMax = 4096;
  // The largest cost in bytes one request may carry (a client frame's limit, 16 MiB; the broker
  // static_asserts wire::kClientMessageBytesMax against it).
  static constexpr uint64_t kRequestBytesMax = 16 << 20;

  // Admits one request costing `bytes` (known now) for both subjects, or returns how long to
  // wait; on a refusal nothing is taken from either. `client` and `topic` carry their limits.
  struct Charged {
    QuotaSubject subject;
    std::string_view name;
    QuotaLimits limits;
  };
  io::Duration Admit(io::Instant now, const Charged& client, const Charged& topic, uint64_t bytes);
  // Bytes learnt after the request was served (a fetch's response): may leave debt.
  void ChargeBytes(io::Instant now, const Charged& subject, uint64_t bytes);

  size_t buckets() const { return buckets_.size(); }

 private:
  struct Entry {
    QuotaLimits limits;
    TokenBucket bytes;
    TokenBucket requests;
    io::Instant last_used;
  };
  // The entry for `subject`, created (or reset when its limits changed); nullptr when both of
  // its limits are unlimited. A full table evicts its least recently used entry, never `keep`.
  Entry* Find(io::Instant now, const Charged& subject, const Entry* keep);

  // std::map, not absl::btree_map: Admit holds pointers to two entries while it inserts.
  std::map<std::pair<QuotaSubject, std::string>, Entry> buckets_;
};

// The burst a quota allows: one second's worth, and never less than one request of the largest
// size a client may send (so every request can eventually pass).
uint64_t BurstFor(uint64_t per_second, uint64_t single_cost_max);

class MemoryBudget {
 public:
  // `enforce` false is the planted bug memory-bound-ignored: reservations always succeed.
  MemoryBudget(uint64_t bytes_max, bool enforce) : bytes_max_(bytes_max), enforce_(enforce) {}

  bool TryReserve(uint64_t bytes);
  void Release(uint64_t bytes);

  uint64_t used() const { return used_; }
  uint64_t peak() const { return peak_; }
  uint64_t bytes_max() const { return bytes_max_; }

 private:
  uint64_t bytes_max_;
  bool enforce_;
  uint64_t used_ = 0;
  uint64_t peak_ = 0;
};

}  // namespace meridian::core::broker
