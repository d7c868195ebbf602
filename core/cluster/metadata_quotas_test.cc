// Quota overrides in the controller's metadata: recorded, removed, carried by the snapshot, and
// every value from remote bytes validated (a hostile command changes nothing).
#include <gtest/gtest.h>

#include "core/cluster/metadata.h"

namespace meridian::core::cluster {
namespace {

std::vector<uint8_t> SetQuota(wire::QuotaSubject subject, std::string name, uint64_t bytes,
                              uint64_t requests, bool remove = false) {
  wire::QuotaSetT set;
  set.quota = std::make_unique<wire::QuotaEntryT>();
  set.quota->subject = subject;
  set.quota->name = std::move(name);
  set.quota->bytes_per_s = bytes;
  set.quota->requests_per_s = requests;
  set.remove = remove;
  wire::MetadataCommandT command;
  command.body.Set(std::move(set));
  return EncodeCommand(command);
}

TEST(MetadataQuotas, RecordedRemovedAndCarriedByTheSnapshot) {
  ClusterMetadata metadata;
  EXPECT_TRUE(metadata.Apply(SetQuota(wire::QuotaSubject::Client, "app-1", 1000, 10)).status.ok());
  EXPECT_TRUE(metadata.Apply(SetQuota(wire::QuotaSubject::Topic, "events", 0, 5)).status.ok());
  const QuotaRecord* client = metadata.FindQuota(wire::QuotaSubject::Client, "app-1");
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(*client, (QuotaRecord{1000, 10}));
  EXPECT_EQ(metadata.FindQuota(wire::QuotaSubject::Topic, "app-1"), nullptr);

  ClusterMetadata restored;
  ASSERT_TRUE(restored.RestoreSnapshot(metadata.EncodeSnapshot()).ok());
  EXPECT_EQ(restored.quotas(), metadata.quotas());

  EXPECT_TRUE(
      metadata.Apply(SetQuota(wire::QuotaSubject::Client, "app-1", 0, 0, true)).status.ok());
  EXPECT_EQ(metadata.FindQuota(wire::QuotaSubject::Client, "app-1"), nullptr);
  EXPECT_TRUE(absl::IsNotFound(
      metadata.Apply(SetQuota(wire::QuotaSubject::Client, "app-1", 0, 0, true)).status));
}

TEST(MetadataQuotas, ValuesFromRemoteBytesAreValidated) {
  ClusterMetadata metadata;
  // An enum value FlatBuffers lets through, an empty name, a bad topic name, a rate too large.
  EXPECT_FALSE(
      metadata.Apply(SetQuota(static_cast<wire::QuotaSubject>(77), "x", 1, 1)).status.ok());
  EXPECT_FALSE(metadata.Apply(SetQuota(wire::QuotaSubject::Unspecified, "x", 1, 1)).status.ok());
  EXPECT_FALSE(metadata.Apply(SetQuota(wire::QuotaSubject::Client, "", 1, 1)).status.ok());
  EXPECT_FALSE(metadata.Apply(SetQuota(wire::QuotaSubject::Client, "a b", 1, 1)).status.ok());
  EXPECT_FALSE(metadata.Apply(SetQuota(wire::QuotaSubject::Topic, "no/slash", 1, 1)).status.ok());
  EXPECT_FALSE(metadata.Apply(SetQuota(wire::QuotaSubject::Topic, "t", kQuotaPerSecondMax + 1, 1))
                   .status.ok());
  EXPECT_TRUE(metadata.quotas().empty());
}

// The controller holds at most kQuotasMax overrides: at the limit a new one is refused
// (ResourceExhausted, the log going on), an existing one may still change, and one removed
// makes room.
TEST(MetadataQuotas, TheLimitRefusesOnlyNewOverrides) {
  ClusterMetadata metadata;
  for (size_t i = 0; i < kQuotasMax; i++) {
    ASSERT_TRUE(metadata.Apply(SetQuota(wire::QuotaSubject::Client, "c" + std::to_string(i), 1, 1))
                    .status.ok())
        << i;
  }
  EXPECT_TRUE(absl::IsResourceExhausted(
      metadata.Apply(SetQuota(wire::QuotaSubject::Client, "one-more", 1, 1)).status));
  EXPECT_TRUE(metadata.Apply(SetQuota(wire::QuotaSubject::Client, "c7", 5, 5)).status.ok());
  EXPECT_EQ(*metadata.FindQuota(wire::QuotaSubject::Client, "c7"), (QuotaRecord{5, 5}));
  EXPECT_TRUE(metadata.Apply(SetQuota(wire::QuotaSubject::Client, "c8", 0, 0, true)).status.ok());
  EXPECT_TRUE(metadata.Apply(SetQuota(wire::QuotaSubject::Client, "one-more", 1, 1)).status.ok());
  EXPECT_EQ(metadata.quotas().size(), kQuotasMax);
}

}  // namespace
}  // namespace meridian::core::cluster
