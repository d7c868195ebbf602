// The quota overrides of ClusterMetadata (issue 13 item 2): recorded by the controller through
// QuotaSet commands, carried in the metadata snapshot, the same on every node. The broker
// enforces them (core/broker/broker_admission.cc); a subject without one gets the node default.
#include <fmt/format.h>

#include "core/cluster/metadata.h"
#include "core/wire/snapshot_generated.h"
#include "io/assert.h"

namespace meridian::core::cluster {

absl::Status ValidateQuota(wire::QuotaSubject subject, std::string_view name, uint64_t bytes_per_s,
                           uint64_t requests_per_s) {
  if (subject == wire::QuotaSubject::Topic) {
    if (absl::Status s = ValidateTopicName(name); !s.ok()) return s;
  } else if (subject == wire::QuotaSubject::Client) {
    if (name.empty() || name.size() > wire::kNameBytesMax) {
      return absl::InvalidArgumentError(
          fmt::format("a client id must be 1 to {} characters", wire::kNameBytesMax));
    }
    for (char c : name) {
      if (c <= ' ' || c > '~') {
        return absl::InvalidArgumentError("a client id must be printable ASCII without spaces");
      }
    }
  } else {  // Bytes from a client or the log: FlatBuffers does not range-check enums.
    return absl::InvalidArgumentError(
        fmt::format("quota subject {} is neither client nor topic", static_cast<int>(subject)));
  }
  if (bytes_per_s > kQuotaPerSecondMax || requests_per_s > kQuotaPerSecondMax) {
    return absl::InvalidArgumentError(
        fmt::format("quota rates must be at most {} a second (0: unlimited)", kQuotaPerSecondMax));
  }
  return absl::OkStatus();
}

const QuotaRecord* ClusterMetadata::FindQuota(wire::QuotaSubject subject,
                                              std::string_view name) const {
  if (quotas_.empty()) return nullptr;
  auto it = quotas_.find(QuotaKey(subject, std::string(name)));
  return it == quotas_.end() ? nullptr : &it->second;
}

MetadataOutcome ClusterMetadata::ApplyQuotaSet(const wire::QuotaSet& set) {
  const wire::QuotaEntry* quota = set.quota();
  if (quota == nullptr) return {absl::InvalidArgumentError("a quota command without a quota")};
  const std::string name = quota->name() ? quota->name()->str() : "";
  if (absl::Status s =
          ValidateQuota(quota->subject(), name, quota->bytes_per_s(), quota->requests_per_s());
      !s.ok()) {
    return {s};
  }
  QuotaKey key(quota->subject(), name);
  if (set.remove()) {
    if (quotas_.erase(key) == 0) {
      return {absl::NotFoundError(fmt::format("no quota is set for '{}'", name))};
    }
    return {absl::OkStatus()};
  }
  if (!quotas_.contains(key) && quotas_.size() >= kQuotasMax) {
    return {absl::ResourceExhaustedError(fmt::format("at most {} quotas", kQuotasMax))};
  }
  quotas_[key] = QuotaRecord{quota->bytes_per_s(), quota->requests_per_s()};
  MERIDIAN_CHECK(quotas_.size() <= kQuotasMax);
  return {absl::OkStatus()};
}

void ClusterMetadata::EncodeQuotas(wire::MetadataSnapshotT& snapshot) const {
  for (const auto& [key, quota] : quotas_) {
    auto entry = std::make_unique<wire::QuotaEntryT>();
    entry->subject = key.first;
    entry->name = key.second;
    entry->bytes_per_s = quota.bytes_per_s;
    entry->requests_per_s = quota.requests_per_s;
    snapshot.quotas.push_back(std::move(entry));
  }
}

absl::Status ClusterMetadata::RestoreQuotas(const wire::MetadataSnapshotT& snapshot) {
  if (snapshot.quotas.size() > kQuotasMax) {
    return absl::InvalidArgumentError("metadata snapshot: too many quotas");
  }
  for (const auto& entry : snapshot.quotas) {
    if (entry == nullptr) return absl::InvalidArgumentError("metadata snapshot: absent quota");
    if (absl::Status s =
            ValidateQuota(entry->subject, entry->name, entry->bytes_per_s, entry->requests_per_s);
        !s.ok()) {
      return s;
    }
    if (!quotas_
             .emplace(QuotaKey(entry->subject, entry->name),
                      QuotaRecord{entry->bytes_per_s, entry->requests_per_s})
             .second) {
      return absl::InvalidArgumentError("metadata snapshot: a quota listed twice");
    }
  }
  return absl::OkStatus();
}

}  // namespace meridian::core::cluster
