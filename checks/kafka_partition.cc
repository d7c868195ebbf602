#include "checks/kafka_partition.h"

#include "checks/assert.h"

namespace meridian::checks {
namespace {

constexpr uint32_t kMultiplier = 0x5bd1e995;

// The byte at `i` as Java's (signed) byte widened to int and masked: just its 8 bits.
uint32_t ByteAt(std::string_view key, size_t i) { return static_cast<uint8_t>(key[i]); }

uint32_t Mix(uint32_t word) {
  word *= kMultiplier;
  word ^= word >> 24;
  return word * kMultiplier;
}

}  // namespace

int32_t KafkaMurmur2(std::string_view key) {
  uint32_t hash = 0x9747b28cu ^ static_cast<uint32_t>(key.size());
  size_t i = 0;
  for (; i + 4 <= key.size(); i += 4) {
    const uint32_t word = ByteAt(key, i) | ByteAt(key, i + 1) << 8 | ByteAt(key, i + 2) << 16 |
                          ByteAt(key, i + 3) << 24;
    hash = (hash * kMultiplier) ^ Mix(word);
  }
  // The last 1-3 bytes, highest first, as Java's switch with fall-through does.
  const size_t rest = key.size() - i;
  if (rest > 0) {
    for (size_t j = rest; j-- > 0;) hash ^= ByteAt(key, i + j) << (8 * j);
    hash *= kMultiplier;
  }
  hash ^= hash >> 13;
  hash *= kMultiplier;
  hash ^= hash >> 15;
  return static_cast<int32_t>(hash);
}

int64_t KafkaKeyPartition(std::string_view key, int64_t partitions) {
  CHECKS_ASSERT(partitions > 0);
  const int64_t positive =
      static_cast<int64_t>(static_cast<uint32_t>(KafkaMurmur2(key)) & 0x7fffffffu);
  return positive % partitions;
}

}  // namespace meridian::checks
