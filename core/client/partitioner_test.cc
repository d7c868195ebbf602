#include "core/client/partitioner.h"

#include <gtest/gtest.h>

#include <string>

namespace meridian::core::client {
namespace {

// Kafka's own vectors (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java).
TEST(Murmur2, MatchesKafkasPublishedVectors) {
  EXPECT_EQ(Murmur2(std::string_view("21")), -973932308);
  EXPECT_EQ(Murmur2(std::string_view("foobar")), -790332482);
  EXPECT_EQ(Murmur2(std::string_view("a-little-bit-long-string")), -985981536);
  EXPECT_EQ(Murmur2(std::string_view("a-little-bit-longer-string")), -1486304829);
  EXPECT_EQ(Murmur2(std::string_view("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8")),
            -58897971);
  const uint8_t abc[] = {'a', 'b', 'c'};
  EXPECT_EQ(Murmur2(std::span<const uint8_t>(abc)), 479470107);
}

TEST(PartitionForKey, IsToPositiveModuloPartitions) {
  // toPositive(-790332482) = -790332482 & 0x7fffffff = 1357151166.
  EXPECT_EQ(PartitionForKey("foobar", 7), 1357151166u % 7);
  EXPECT_EQ(PartitionForKey("21", 1), 0u);
  for (uint32_t partitions = 1; partitions < 50; ++partitions) {
    EXPECT_LT(PartitionForKey("key-" + std::to_string(partitions), partitions), partitions);
  }
}

TEST(Murmur2, EmptyKeyIsStable) {
  EXPECT_EQ(Murmur2(std::string_view("")), Murmur2(std::span<const uint8_t>()));
}

}  // namespace
}  // namespace meridian::core::client
