#include "node/prometheus_text.h"

#include <gtest/gtest.h>

#include <array>

namespace meridian::node {
namespace {

TEST(PrometheusTextTest, AFamilyHasHelpAndTypeOnceThenItsSamples) {
  PrometheusText out;
  out.Family("meridian_partition_high_watermark", "gauge", "Offset after the last record.");
  out.Sample({{"topic", "orders"}, {"partition", "0"}}, 42);
  out.Sample({{"topic", "orders"}, {"partition", "1"}}, 7);
  out.One("meridian_produce_requests_total", "counter", "Produce requests.", {}, 3);
  EXPECT_EQ(out.text(),
            "# HELP meridian_partition_high_watermark Offset after the last record.\n"
            "# TYPE meridian_partition_high_watermark gauge\n"
            "meridian_partition_high_watermark{topic=\"orders\",partition=\"0\"} 42\n"
            "meridian_partition_high_watermark{topic=\"orders\",partition=\"1\"} 7\n"
            "# HELP meridian_produce_requests_total Produce requests.\n"
            "# TYPE meridian_produce_requests_total counter\n"
            "meridian_produce_requests_total 3\n");
}

TEST(PrometheusTextTest, LabelValuesAreEscaped) {
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(PrometheusTextTest, HistogramsAreCumulativeEndInInfAndScaleToSeconds) {
  const std::array<int64_t, 2> bounds = {1'000'000, 5'000'000};  // 1 ms, 5 ms
  core::metrics::Histogram h(bounds);
  h.Observe(500'000);
  h.Observe(2'000'000);
  h.Observe(9'000'000);
  PrometheusText out;
  out.Family("meridian_fetch_latency_seconds", "histogram", "Fetch time.");
  out.Histogram({}, h, 1e9);
  EXPECT_EQ(out.text(),
            "# HELP meridian_fetch_latency_seconds Fetch time.\n"
            "# TYPE meridian_fetch_latency_seconds histogram\n"
            "meridian_fetch_latency_seconds_bucket{le=\"0.001\"} 1\n"
            "meridian_fetch_latency_seconds_bucket{le=\"0.005\"} 2\n"
            "meridian_fetch_latency_seconds_bucket{le=\"+Inf\"} 3\n"
            "meridian_fetch_latency_seconds_sum 0.0115\n"
            "meridian_fetch_latency_seconds_count 3\n");
}

TEST(PrometheusTextDeathTest, AFamilyWrittenTwiceOrACounterWithoutTotalIsAProgrammerError) {
  PrometheusText out;
  out.Family("meridian_x_total", "counter", "x");
  EXPECT_DEATH(out.Family("meridian_x_total", "counter", "x"), "written twice");
  EXPECT_DEATH(out.Family("meridian_y", "counter", "y"), "counter meridian_y");
}

}  // namespace
}  // namespace meridian::node
