#include "core/client/partitioner.h"

#include "io/assert.h"

namespace meridian::core::client {

int32_t Murmur2(std::span<const uint8_t> key) {
  // Java arithmetic is 32-bit two's complement with logical shifts (>>>): unsigned here.
  constexpr uint32_t kSeed = 0x9747b28c;
  constexpr uint32_t kM = 0x5bd1e995;
  constexpr int kR = 24;
  const uint32_t length = static_cast<uint32_t>(key.size());
  uint32_t h = kSeed ^ length;
  const uint32_t length4 = length / 4;
  for (uint32_t i = 0; i < length4; ++i) {
    const uint32_t i4 = i * 4;
    uint32_t k = uint32_t{key[i4 + 0]} | (uint32_t{key[i4 + 1]} << 8) |
                 (uint32_t{key[i4 + 2]} << 16) | (uint32_t{key[i4 + 3]} << 24);
    k *= kM;
    k ^= k >> kR;
    k *= kM;
    h *= kM;
    h ^= k;
  }
  const uint32_t tail = length & ~uint32_t{3};
  switch (length % 4) {
    case 3:
      h ^= uint32_t{key[tail + 2]} << 16;
      [[fallthrough]];
    case 2:
      h ^= uint32_t{key[tail + 1]} << 8;
      [[fallthrough]];
    case 1:
      h ^= uint32_t{key[tail]};
      h *= kM;
  }
  h ^= h >> 13;
  h *= kM;
  h ^= h >> 15;
  return static_cast<int32_t>(h);
}

int32_t Murmur2(std::string_view key) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(key.data());
  return Murmur2(std::span<const uint8_t>(bytes, key.size()));
}

uint32_t PartitionForKey(std::string_view key, uint32_t partitions) {
  MERIDIAN_CHECK(partitions > 0, "a topic has at least one partition");
  const uint32_t positive = static_cast<uint32_t>(Murmur2(key)) & 0x7fffffffu;
  const uint32_t partition = positive % partitions;
  MERIDIAN_CHECK(partition < partitions);
  return partition;
}

}  // namespace meridian::core::client
