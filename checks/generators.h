// Generators of histories for tests, property tests and the benchmark: a deterministic simulation
// of clients against a correct sequential model (a log per partition, or registers), so every
// generated history is valid by construction; tests then plant anomalies by mutating it.
// Same seed, same history: randomness is a splitmix64 stream, and nothing iterates a hash map.
#ifndef MERIDIAN_CHECKS_GENERATORS_H_
#define MERIDIAN_CHECKS_GENERATORS_H_

#include <cstdint>
#include <vector>

#include "checks/history.h"

namespace meridian::checks {

// A small deterministic PRNG (splitmix64): enough for generators, and the same on every machine.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  // Uniform in [0, bound); bound > 0.
  int64_t Below(int64_t bound);
  bool Chance(int percent) { return Below(100) < percent; }

 private:
  uint64_t state_;
};

struct LogWorkload {
  int64_t processes_count = 4;
  int64_t partitions_count = 2;
  int64_t operations_count = 200;  // before the final drain
  int64_t batch_values_max = 3;    // values per send
  int64_t poll_records_max = 4;    // records per partition per poll
  int percent_send = 50;
  int percent_indeterminate = 3;  // info completions (the process then crashes)
  int percent_fail = 3;
  // End with a fresh consumer reading every partition from offset 0 to its end, so nothing
  // acknowledged is left unseen.
  bool final_drain = true;
};

// Concurrent producers and consumers against a correct log: offsets are dense from 0, values
// are unique, each consumer assigns every partition once and then polls forward.
History GenerateLogHistory(const LogWorkload& workload, uint64_t seed);

struct RegisterWorkload {
  int64_t processes_count = 5;
  int64_t operations_count = 100;
  int64_t keys_count = 1;    // 1: a lone register with key ""
  int64_t values_count = 5;  // writes and cas choose values in [0, values_count)
  int percent_read = 40;
  int percent_write = 40;  // the rest are cas
  int percent_indeterminate = 2;
};

// Concurrent clients against correct registers: each operation takes effect at one instant
// between its invocation and completion (so the history is linearizable by construction).
History GenerateRegisterHistory(const RegisterWorkload& workload, uint64_t seed);

}  // namespace meridian::checks

#endif  // MERIDIAN_CHECKS_GENERATORS_H_
