// ConsumerProtocol parsing (consumer_protocol.h): what librdkafka and kafka-python send parses;
// every truncation, lying count or negative partition is an error, never a crash.
#include "core/broker/consumer_protocol.h"

#include <gtest/gtest.h>

namespace meridian::core::broker {
namespace {

using Bytes = std::vector<uint8_t>;

TEST(ConsumerProtocol, RoundTripsAssignmentsAndSubscriptions) {
  const std::vector<TopicPartitionKey> partitions = {{"a", 0}, {"a", 2}, {"b", 1}};
  absl::StatusOr<ConsumerAssignment> parsed =
      ParseConsumerAssignment(EncodeConsumerAssignment(partitions));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->partitions, partitions);
  absl::StatusOr<ConsumerSubscription> subscription =
      ParseConsumerSubscription(EncodeConsumerSubscription({"b", "a", "b"}));
  ASSERT_TRUE(subscription.ok()) << subscription.status();
  EXPECT_EQ(subscription->topics, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(ParseConsumerAssignment({})->partitions.empty());  // No bytes: nothing assigned.
}

TEST(ConsumerProtocol, Version1WithOwnedPartitionsAndUserDataParses) {
  // Subscription v1: version, topics ["t"], user_data "xy", owned_partitions [t: [0]].
  const std::vector<uint8_t> v1 = {0, 1, 0, 0, 0, 1, 0,   1, 't', 0, 0, 0, 2, 'x', 'y',
                                   0, 0, 0, 1, 0, 1, 't', 0, 0,   0, 1, 0, 0, 0,   0};
  absl::StatusOr<ConsumerSubscription> subscription = ParseConsumerSubscription(v1);
  ASSERT_TRUE(subscription.ok()) << subscription.status();
  EXPECT_EQ(subscription->version, 1);
  EXPECT_EQ(subscription->topics, (std::vector<std::string>{"t"}));
  // Assignment v1 with user data.
  const std::vector<uint8_t> assignment = {0, 1, 0, 0, 0, 1, 0, 1, 't', 0, 0,
                                           0, 1, 0, 0, 0, 3, 0, 0, 0,   1, 'u'};
  absl::StatusOr<ConsumerAssignment> parsed = ParseConsumerAssignment(assignment);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->partitions, (std::vector<TopicPartitionKey>{{"t", 3}}));
}

TEST(ConsumerProtocol, MalformedBytesAreErrors) {
  const std::vector<uint8_t> good = EncodeConsumerAssignment({{"t", 0}, {"t", 1}});
  for (size_t n = 1; n < good.size(); n++) {
    EXPECT_FALSE(ParseConsumerAssignment(std::span<const uint8_t>(good.data(), n)).ok()) << n;
  }
  const std::vector<uint8_t> subscription = EncodeConsumerSubscription({"t"});
  for (size_t n = 0; n < subscription.size(); n++) {
    EXPECT_FALSE(ParseConsumerSubscription(std::span<const uint8_t>(subscription.data(), n)).ok())
        << n;
  }
  // A count of 2^31-1 topics in 10 bytes, a negative version, a negative partition, a
  // partition named twice.
  EXPECT_FALSE(ParseConsumerAssignment(Bytes{0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0}).ok());
  EXPECT_FALSE(ParseConsumerAssignment(Bytes{0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}).ok());
  EXPECT_FALSE(ParseConsumerAssignment(Bytes{0, 0, 0,    0,    0,    1,    0,    1,    't',  0,   0,
                                             0, 1, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff})
                   .ok());
  EXPECT_FALSE(ParseConsumerAssignment(Bytes{0, 0, 0, 0, 0, 1, 0, 1, 't',  0,    0,    0,   2,
                                             0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff})
                   .ok());
}

// A member's assignment comes from another member (the group leader runs the assignor): the
// partitions are returned in one order whatever order they came in, and a partition named
// twice is refused even when the two are far apart (a topic listed twice, as here).
TEST(ConsumerProtocol, AssignmentsAreSortedAndADuplicateAnywhereIsRefused) {
  absl::StatusOr<ConsumerAssignment> parsed =
      ParseConsumerAssignment(EncodeConsumerAssignment({{"b", 1}, {"a", 2}, {"a", 0}}));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->partitions, (std::vector<TopicPartitionKey>{{"a", 0}, {"a", 2}, {"b", 1}}));
  const Bytes apart = EncodeConsumerAssignment({{"t", 0}, {"t", 1}, {"u", 0}, {"t", 0}});
  EXPECT_FALSE(ParseConsumerAssignment(apart).ok()) << "t/0 twice, with others between";
}

// user_data may be null (length -1), empty (length 0) or hold bytes: each parses, in a
// subscription and in an assignment; any other negative length is an error.
TEST(ConsumerProtocol, UserDataNullEmptyOrPresentParses) {
  const auto with_user_data = [](std::vector<uint8_t> bytes, std::vector<uint8_t> user_data) {
    bytes.resize(bytes.size() - 4);  // The null user data's length, -1.
    bytes.insert(bytes.end(), user_data.begin(), user_data.end());
    return bytes;
  };
  const Bytes subscription = EncodeConsumerSubscription({"t"});
  const Bytes assignment = EncodeConsumerAssignment({{"t", 0}});
  for (const Bytes& user_data :
       {Bytes{0xff, 0xff, 0xff, 0xff}, Bytes{0, 0, 0, 0}, Bytes{0, 0, 0, 2, 'u', 'd'}}) {
    absl::StatusOr<ConsumerSubscription> parsed =
        ParseConsumerSubscription(with_user_data(subscription, user_data));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->topics, (std::vector<std::string>{"t"}));
    absl::StatusOr<ConsumerAssignment> assigned =
        ParseConsumerAssignment(with_user_data(assignment, user_data));
    ASSERT_TRUE(assigned.ok()) << assigned.status();
    EXPECT_EQ(assigned->partitions, (std::vector<TopicPartitionKey>{{"t", 0}}));
  }
  EXPECT_FALSE(
      ParseConsumerSubscription(with_user_data(subscription, {0xff, 0xff, 0xff, 0xfe})).ok());
  EXPECT_FALSE(ParseConsumerAssignment(with_user_data(assignment, {0xff, 0xff, 0xff, 0xfe})).ok());
}

// The limits are inclusive: kConsumerTopicsMax topics in a subscription and
// kConsumerPartitionsMax partitions in an assignment (in one topic or over several) parse; one
// more is refused.
TEST(ConsumerProtocol, LimitsAreInclusive) {
  std::vector<std::string> topics;
  for (size_t i = 0; i < kConsumerTopicsMax; i++) topics.push_back("t" + std::to_string(i));
  absl::StatusOr<ConsumerSubscription> subscription =
      ParseConsumerSubscription(EncodeConsumerSubscription(topics));
  ASSERT_TRUE(subscription.ok()) << subscription.status();
  EXPECT_EQ(subscription->topics.size(), kConsumerTopicsMax);
  topics.push_back("one-more");
  EXPECT_FALSE(ParseConsumerSubscription(EncodeConsumerSubscription(topics)).ok());

  std::vector<TopicPartitionKey> partitions;
  for (uint32_t p = 0; p < kConsumerPartitionsMax; p++) partitions.emplace_back("t", p);
  absl::StatusOr<ConsumerAssignment> parsed =
      ParseConsumerAssignment(EncodeConsumerAssignment(partitions));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->partitions.size(), kConsumerPartitionsMax);
  std::vector<TopicPartitionKey> split(partitions.begin() + 1, partitions.end());
  split.emplace_back("u", 0);
  EXPECT_TRUE(ParseConsumerAssignment(EncodeConsumerAssignment(split)).ok()) << "over two topics";
  split.emplace_back("u", 1);
  EXPECT_FALSE(ParseConsumerAssignment(EncodeConsumerAssignment(split)).ok());
  partitions.emplace_back("t", kConsumerPartitionsMax);
  EXPECT_FALSE(ParseConsumerAssignment(EncodeConsumerAssignment(partitions)).ok());
}

}  // namespace
}  // namespace meridian::core::broker
