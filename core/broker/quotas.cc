#include "core/broker/quotas.h"

#include <algorithm>

#include "io/assert.h"

namespace meridian::core::broker {

TokenBucket::TokenBucket(uint64_t rate_per_s, uint64_t burst, io::Instant now)
    : rate_per_s_(rate_per_s), burst_(burst), micro_tokens_(0), last_(now) {
  MERIDIAN_CHECK(rate_per_s >= 1 && rate_per_s <= kRatePerSecondMax, "rate {}", rate_per_s);
  MERIDIAN_CHECK(burst >= 1 && burst <= kBurstMax, "burst {}", burst);
  micro_tokens_ = static_cast<__int128>(burst_) * kMicro;
}

void TokenBucket::Refill(io::Instant now) {
  if (now <= last_) return;  // A monotonic clock; an equal instant adds nothing.
  const __int128 full = static_cast<__int128>(burst_) * kMicro;
  // rate tokens/s over ns nanoseconds is rate * ns / 1000 micro-tokens; the remainder carries.
  // Elapsed time is capped at what fills an empty bucket from the deepest debt one Charge can
  // leave, so the product stays far inside 128 bits.
  const __int128 ns = std::min<__int128>((now - last_).count(), __int128{1} << 62);
  const __int128 scaled = static_cast<__int128>(rate_per_s_) * ns + carry_;
  micro_tokens_ = std::min(full, micro_tokens_ + scaled / 1000);
  carry_ = micro_tokens_ == full ? 0 : static_cast<int64_t>(scaled % 1000);
  last_ = now;
  MERIDIAN_CHECK(micro_tokens_ <= full);
  MERIDIAN_CHECK(carry_ >= 0 && carry_ < 1000);
}

io::Duration TokenBucket::WaitFor(io::Instant now, uint64_t amount) {
  MERIDIAN_CHECK(amount <= burst_, "a cost of {} can never pass a burst of {}", amount, burst_);
  Refill(now);
  const __int128 need = static_cast<__int128>(amount) * kMicro;
  if (micro_tokens_ >= need) return io::Duration(0);
  const __int128 deficit_scaled = (need - micro_tokens_) * 1000 - carry_;
  const __int128 ns = (deficit_scaled + rate_per_s_ - 1) / rate_per_s_;
  MERIDIAN_CHECK(ns > 0);
  return io::Duration(static_cast<int64_t>(std::min<__int128>(ns, __int128{1} << 62)));
}

bool TokenBucket::TryTake(io::Instant now, uint64_t amount) {
  if (WaitFor(now, amount).count() != 0) return false;
  micro_tokens_ -= static_cast<__int128>(amount) * kMicro;
  MERIDIAN_CHECK(micro_tokens_ >= 0);
  return true;
}

void TokenBucket::Charge(io::Instant now, uint64_t amount) {
  MERIDIAN_CHECK(amount <= kBurstMax);
  Refill(now);
  micro_tokens_ -= static_cast<__int128>(amount) * kMicro;
}

uint64_t BurstFor(uint64_t per_second, uint64_t single_cost_max) {
  return std::clamp<uint64_t>(std::max(per_second, single_cost_max), 1, TokenBucket::kBurstMax);
}

Quotas::Entry* Quotas::Find(io::Instant now, const Charged& subject, const Entry* keep) {
  const QuotaLimits& limits = subject.limits;
  if (limits.bytes_per_s == 0 && limits.requests_per_s == 0) return nullptr;
  const auto key = std::make_pair(subject.subject, std::string(subject.name));
  auto it = buckets_.find(key);
  if (it != buckets_.end() && it->second.limits == limits) {
    it->second.last_used = now;
    return &it->second;
  }
  if (it != buckets_.end()) buckets_.erase(it);  // Limits changed: start over with the new ones.
  if (buckets_.size() >= kBucketsMax) {
    auto oldest = buckets_.end();
    for (auto e = buckets_.begin(); e != buckets_.end(); ++e) {
      if (&e->second == keep) continue;  // The caller holds it.
      if (oldest == buckets_.end() || e->second.last_used < oldest->second.last_used) oldest = e;
    }
    MERIDIAN_CHECK(oldest != buckets_.end());
    buckets_.erase(oldest);
  }
  // An unlimited dimension gets a bucket that never runs dry in practice.
  const uint64_t bytes_rate =
      limits.bytes_per_s == 0 ? TokenBucket::kRatePerSecondMax : limits.bytes_per_s;
  const uint64_t requests_rate =
      limits.requests_per_s == 0 ? TokenBucket::kRatePerSecondMax : limits.requests_per_s;
  Entry entry{limits, TokenBucket(bytes_rate, BurstFor(bytes_rate, kRequestBytesMax), now),
              TokenBucket(requests_rate, BurstFor(requests_rate, 1), now), now};
  auto [inserted, ok] = buckets_.emplace(key, std::move(entry));
  MERIDIAN_CHECK(ok);
  MERIDIAN_CHECK(buckets_.size() <= kBucketsMax);
  return &inserted->second;
}

io::Duration Quotas::Admit(io::Instant now, const Charged& client, const Charged& topic,
                           uint64_t bytes) {
  MERIDIAN_CHECK(bytes <= kRequestBytesMax, "a request of {} bytes", bytes);
  Entry* client_entry = Find(now, client, nullptr);
  Entry* entries[2] = {client_entry, Find(now, topic, client_entry)};
  io::Duration wait(0);
  for (Entry* entry : entries) {
    if (entry == nullptr) continue;
    wait = std::max({wait, entry->requests.WaitFor(now, 1), entry->bytes.WaitFor(now, bytes)});
  }
  if (wait.count() > 0) return wait;
  for (Entry* entry : entries) {
    if (entry == nullptr) continue;
    MERIDIAN_CHECK(entry->requests.TryTake(now, 1));
    MERIDIAN_CHECK(entry->bytes.TryTake(now, bytes));
  }
  return wait;
}

void Quotas::ChargeBytes(io::Instant now, const Charged& subject, uint64_t bytes) {
  if (Entry* entry = Find(now, subject, nullptr)) entry->bytes.Charge(now, bytes);
}

bool MemoryBudget::TryReserve(uint64_t bytes) {
  if (enforce_ && (bytes > bytes_max_ || used_ > bytes_max_ - bytes)) return false;
  used_ += bytes;
  peak_ = std::max(peak_, used_);
  if (enforce_) MERIDIAN_CHECK(used_ <= bytes_max_);
  return true;
}

void MemoryBudget::Release(uint64_t bytes) {
  MERIDIAN_CHECK(bytes <= used_, "releasing {} of {} reserved bytes", bytes, used_);
  used_ -= bytes;
}

}  // namespace meridian::core::broker
