// AlterConfigs (v0-1) and IncrementalAlterConfigs (v0): request decoders field by field and
// under every truncation, the shared response layout, and how Kafka's retention values map onto
// Meridian's settings (MeridianRetention, which CreateTopics shares).
#include <gtest/gtest.h>

#include <string>

#include "core/kafka/bytes.h"
#include "core/kafka/messages.h"
#include "core/kafka/translate.h"

namespace meridian::core::kafka {
namespace {

// Two resources: topic "orders" (retention.ms = 1000, retention.bytes = null) and broker "1"
// with no configs; `incremental` writes an operation byte before each value.
std::vector<uint8_t> AlterBody(bool incremental) {
  Writer w;
  w.ArrayCount(2);
  w.Int8(kResourceTopic);
  w.String("orders");
  w.ArrayCount(2);
  w.String("retention.ms");
  if (incremental) w.Int8(kConfigOpSet);
  w.NullableString("1000");
  w.String("retention.bytes");
  if (incremental) w.Int8(kConfigOpDelete);
  w.NullableString(std::nullopt);
  w.Int8(kResourceBroker);
  w.String("1");
  w.ArrayCount(0);
  w.Bool(true);  // validate_only.
  return w.Take();
}

void ExpectAlterRequest(const absl::StatusOr<AlterConfigsRequest>& request, bool incremental) {
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->incremental, incremental);
  EXPECT_TRUE(request->validate_only);
  ASSERT_EQ(request->resources.size(), 2u);
  const AlterConfigsResource& topic = request->resources[0];
  EXPECT_EQ(topic.type, kResourceTopic);
  EXPECT_EQ(topic.name, "orders");
  ASSERT_EQ(topic.configs.size(), 2u);
  EXPECT_EQ(topic.configs[0].name, "retention.ms");
  EXPECT_EQ(topic.configs[0].operation, kConfigOpSet);
  EXPECT_EQ(topic.configs[0].value, "1000");
  EXPECT_EQ(topic.configs[1].operation, incremental ? kConfigOpDelete : kConfigOpSet)
      << "AlterConfigs always sets";
  EXPECT_EQ(topic.configs[1].value, std::nullopt);
  EXPECT_EQ(request->resources[1].type, kResourceBroker);
  EXPECT_TRUE(request->resources[1].configs.empty());
}

template <typename Decode>
void ExpectEveryTruncationRefused(const std::vector<uint8_t>& body, Decode decode) {
  for (size_t n = 0; n < body.size(); n++) {
    EXPECT_FALSE(decode(std::span<const uint8_t>(body.data(), n)).ok()) << "prefix " << n;
  }
  std::vector<uint8_t> longer = body;
  longer.push_back(0);
  EXPECT_FALSE(decode(longer).ok()) << "a byte left over";
}

TEST(ConfigRequests, AlterConfigsV0AndV1DecodeAndEveryTruncationIsRefused) {
  const std::vector<uint8_t> body = AlterBody(/*incremental=*/false);
  for (int16_t v : {0, 1}) {
    ExpectAlterRequest(DecodeAlterConfigsRequest(body, v), false);
    ExpectEveryTruncationRefused(
        body, [v](std::span<const uint8_t> b) { return DecodeAlterConfigsRequest(b, v); });
  }
  EXPECT_FALSE(DecodeIncrementalAlterConfigsRequest(body, 0).ok()) << "no operation bytes";
}

TEST(ConfigRequests, IncrementalAlterConfigsV0DecodesOperations) {
  const std::vector<uint8_t> body = AlterBody(/*incremental=*/true);
  ExpectAlterRequest(DecodeIncrementalAlterConfigsRequest(body, 0), true);
  ExpectEveryTruncationRefused(
      body, [](std::span<const uint8_t> b) { return DecodeIncrementalAlterConfigsRequest(b, 0); });
  Writer lying;  // A config count the bytes cannot hold.
  lying.ArrayCount(1);
  lying.Int8(kResourceTopic);
  lying.String("t");
  lying.ArrayCount(1'000'000);
  lying.Bool(false);
  EXPECT_FALSE(DecodeIncrementalAlterConfigsRequest(lying.bytes(), 0).ok());
}

TEST(ConfigResponses, AlterConfigsLayoutIsSharedByBothApis) {
  const std::vector<AlterConfigsResult> results = {{.type = kResourceTopic, .name = "orders"},
                                                   {.error_code = error::kInvalidConfig,
                                                    .error_message = "no",
                                                    .type = kResourceBroker,
                                                    .name = "1"}};
  for (int16_t v : {0, 1}) {
    const std::vector<uint8_t> body = EncodeAlterConfigsResponse(results, v);
    Reader reader(body);
    EXPECT_EQ(reader.Int32(), 0);  // throttle_time_ms.
    ASSERT_EQ(reader.ArrayCount(10), 2u);
    EXPECT_EQ(reader.Int16(), error::kNone);
    EXPECT_EQ(reader.NullableString(), std::nullopt);
    EXPECT_EQ(reader.Int8(), kResourceTopic);
    EXPECT_EQ(reader.String(), "orders");
    EXPECT_EQ(reader.Int16(), error::kInvalidConfig);
    EXPECT_EQ(reader.NullableString(), "no");
    EXPECT_EQ(reader.Int8(), kResourceBroker);
    EXPECT_EQ(reader.String(), "1");
    EXPECT_TRUE(reader.ok());
    EXPECT_EQ(reader.remaining(), 0u);
  }
}

TEST(Translate, KafkaRetentionValuesAsMeridianSettings) {
  EXPECT_EQ(MeridianRetention("-1"), 0) << "Kafka's unlimited is Meridian's 0";
  EXPECT_EQ(MeridianRetention("604800000"), 604800000);
  EXPECT_EQ(MeridianRetention("9223372036854775807"), INT64_MAX);
  EXPECT_EQ(MeridianRetention(" 5 "), 5) << "Kafka trims a number's whitespace too";
  for (const char* refused : {"0", "-2", "", "1e3", "5 5", "abc", "99999999999999999999"}) {
    EXPECT_EQ(MeridianRetention(refused), std::nullopt) << "'" << refused << "'";
  }
}

}  // namespace
}  // namespace meridian::core::kafka
