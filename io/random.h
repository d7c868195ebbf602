// A small, fast, splittable pseudo-random generator (xoshiro256**, seeded through splitmix64).
//
// Every random choice in Meridian comes from one of these, handed out by io::Runtime: in the
// simulator all of them derive from the run's seed, so a seed replays a run exactly. `Fork`
// derives an independent stream from a label, so adding draws in one component never shifts
// the draws of another. Not for cryptography.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "io/time.h"

namespace meridian::io {

class Random {
 public:
  explicit Random(uint64_t seed);

  uint64_t Next();
  // Uniform in [0, bound). bound > 0.
  uint64_t Below(uint64_t bound);
  // Uniform in [low, high]. low <= high.
  int64_t Between(int64_t low, int64_t high);
  // A duration uniform in [low, high], in nanoseconds (one draw, as Between above).
  Duration Between(Duration low, Duration high) {
    return Duration(Between(low.count(), high.count()));
  }
  // True with probability numerator/denominator.
  bool Chance(uint32_t numerator, uint32_t denominator);
  // Uniform double in [0, 1).
  double Fraction();

  // An independent generator for the component named by `label`, derived from this generator's
  // seed (not its current position), so forks are stable however many draws were made.
  Random Fork(std::string_view label) const;
  Random Fork(uint64_t label) const;

  uint64_t seed() const { return seed_; }
  uint64_t draws() const { return draws_; }

 private:
  uint64_t seed_;
  uint64_t draws_ = 0;
  std::array<uint64_t, 4> state_;
};

// splitmix64 finaliser: a good 64-bit mix, used for seeding and for hashing labels.
uint64_t Mix64(uint64_t x);
uint64_t HashLabel(std::string_view label);

}  // namespace meridian::io
