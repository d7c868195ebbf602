#include "io/random.h"

#include "io/assert.h"

namespace meridian::io {
namespace {

uint64_t RotateLeft(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t HashLabel(std::string_view label) {
  // FNV-1a, then mixed: stable across processes and machines (unlike absl::Hash).
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : label) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return Mix64(h);
}

Random::Random(uint64_t seed) : seed_(seed) {
  uint64_t s = seed;
  for (uint64_t& word : state_) {
    s = Mix64(s);
    word = s;
  }
  // xoshiro's state must not be all zero; Mix64 of distinct inputs makes that impossible in
  // practice, and we check it rather than hope.
  MERIDIAN_CHECK((state_[0] | state_[1] | state_[2] | state_[3]) != 0);
}

uint64_t Random::Next() {
  draws_++;
  const uint64_t result = RotateLeft(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = RotateLeft(state_[3], 45);
  return result;
}

uint64_t Random::Below(uint64_t bound) {
  MERIDIAN_CHECK(bound > 0);
  // Lemire's nearly-divisionless method would be faster; rejection keeps it exactly uniform.
  const uint64_t limit = UINT64_MAX - (UINT64_MAX % bound);
  uint64_t x = Next();
  while (x >= limit) x = Next();
  return x % bound;
}

int64_t Random::Between(int64_t low, int64_t high) {
  MERIDIAN_CHECK(low <= high, "{} > {}", low, high);
  const uint64_t span = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
  if (span == UINT64_MAX) return static_cast<int64_t>(Next());
  return static_cast<int64_t>(static_cast<uint64_t>(low) + Below(span + 1));
}

bool Random::Chance(uint32_t numerator, uint32_t denominator) {
  MERIDIAN_CHECK(denominator > 0);
  MERIDIAN_CHECK(numerator <= denominator);
  return Below(denominator) < numerator;
}

double Random::Fraction() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

Random Random::Fork(std::string_view label) const { return Fork(HashLabel(label)); }

Random Random::Fork(uint64_t label) const { return Random(Mix64(seed_ ^ Mix64(label))); }

}  // namespace meridian::io
