#include "checks/kafka_partition.h"

#include <gtest/gtest.h>

#include <string>

namespace meridian::checks {
namespace {

// Kafka's own vectors (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java).
TEST(KafkaMurmur2, MatchesKafkasPublishedVectors) {
  EXPECT_EQ(KafkaMurmur2("21"), -973932308);
  EXPECT_EQ(KafkaMurmur2("foobar"), -790332482);
  EXPECT_EQ(KafkaMurmur2("a-little-bit-long-string"), -985981536);
  EXPECT_EQ(KafkaMurmur2("a-little-bit-longer-string"), -1486304829);
  EXPECT_EQ(KafkaMurmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
  EXPECT_EQ(KafkaMurmur2("abc"), 479470107);
}

TEST(KafkaKeyPartition, IsToPositiveModuloPartitions) {
  // toPositive(-790332482) = 1357151166.
  EXPECT_EQ(KafkaKeyPartition("foobar", 7), 1357151166 % 7);
  EXPECT_EQ(KafkaKeyPartition("", 1), 0);
  for (int64_t partitions = 1; partitions < 64; ++partitions) {
    const int64_t p = KafkaKeyPartition("key-" + std::to_string(partitions), partitions);
    EXPECT_GE(p, 0);
    EXPECT_LT(p, partitions);
  }
}

TEST(KafkaMurmur2, BytesAboveSevenBitsAreUnsigned) {
  // Java widens a negative byte to int and masks it with 0xff: the same as an unsigned byte.
  EXPECT_NE(KafkaMurmur2(std::string("\xff\x01", 2)), KafkaMurmur2(std::string("\x7f\x01", 2)));
}

}  // namespace
}  // namespace meridian::checks
