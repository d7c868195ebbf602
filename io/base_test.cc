#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <unistd.h>

#include <csignal>
#include <string>
#include <vector>

#include "io/assert.h"
#include "io/crc32c.h"
#include "io/fatal_context.h"
#include "io/random.h"
#include "io/time.h"

namespace meridian::io {
namespace {

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(Crc32c, MatchesRfc3720Vectors) {
  EXPECT_EQ(Crc32c(Bytes("123456789")), 0xe3069283u);
  const std::vector<uint8_t> zeros(32, 0);
  EXPECT_EQ(Crc32c(zeros), 0x8a9136aau);
  const std::vector<uint8_t> ones(32, 0xff);
  EXPECT_EQ(Crc32c(ones), 0x62a8ab43u);
  std::vector<uint8_t> ascending(32);
  for (int i = 0; i < 32; i++) ascending[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(Crc32c(ascending), 0x46dd794eu);
}

RC_GTEST_PROP(Crc32c, HardwareAndPortableAgreeAndExtendComposes,
              (const std::vector<uint8_t>& data, size_t split)) {
  const size_t cut = data.empty() ? 0 : split % (data.size() + 1);
  const std::span<const uint8_t> all(data);
  RC_ASSERT(Crc32c(all) == Crc32cExtendPortable(0, all));
  RC_ASSERT(Crc32cExtend(Crc32c(all.first(cut)), all.subspan(cut)) == Crc32c(all));
}

TEST(Crc32c, DetectsASingleBitFlip) {
  std::string data = "meridian record batch";
  const uint32_t before = Crc32c(Bytes(data));
  data[5] ^= 0x10;
  EXPECT_NE(Crc32c(Bytes(data)), before);
}

TEST(Random, SameSeedSameSequenceDifferentSeedDifferent) {
  Random a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 100; i++) {
    const uint64_t x = a.Next();
    EXPECT_EQ(x, b.Next());
    differs |= x != c.Next();
  }
  EXPECT_TRUE(differs);
  EXPECT_EQ(a.draws(), 100u);
}

TEST(Random, ForkIsStableAndIndependentOfDraws) {
  Random a(7);
  const uint64_t before = a.Fork("net").Next();
  a.Next();
  EXPECT_EQ(a.Fork("net").Next(), before);
  EXPECT_NE(a.Fork("disk").Next(), before);
}

RC_GTEST_PROP(Random, BelowAndBetweenStayInRange, (uint64_t seed, uint64_t bound, int32_t low)) {
  Random r(seed);
  const uint64_t b = bound == 0 ? 1 : bound;
  RC_ASSERT(r.Below(b) < b);
  const int64_t high = static_cast<int64_t>(low) + 1000;
  const int64_t x = r.Between(low, high);
  RC_ASSERT(x >= low);
  RC_ASSERT(x <= high);
}

TEST(Random, BelowIsRoughlyUniform) {
  Random r(1);
  std::vector<int> counts(10, 0);
  for (int i = 0; i < 100000; i++) counts[r.Below(10)]++;
  for (int count : counts) {
    EXPECT_GT(count, 9500);
    EXPECT_LT(count, 10500);
  }
}

TEST(Instant, AdditionSaturatesAtInfinity) {
  const Instant near_end = Instant::FromNanos(INT64_MAX - 5);
  EXPECT_TRUE((near_end + Duration(10)).is_infinite());
  EXPECT_TRUE((Instant::Infinite() + Duration(1)).is_infinite());
  EXPECT_EQ((Instant::FromNanos(5) + Duration(10)).nanos(), 15);
  EXPECT_EQ(Instant::FromNanos(1'500'000'000).ToString(), "1.500000000s");
}

// A process that dies while a FatalContext lives says what it was doing: once after a failed
// assertion (which aborts), and on a fatal signal; after the context ends, nothing.
TEST(FatalContextDeathTest, AFailedAssertionPrintsTheLineOnce) {
  EXPECT_DEATH(
      {
        const FatalContext context("seed 7; reproduce with: meridian-sim --seed=7");
        MERIDIAN_CHECK(1 + 1 == 3, "on purpose");
      },
      "on purpose\n\n[*][*][*] the process died during: seed 7; reproduce with: "
      "meridian-sim --seed=7\n$");
}

TEST(FatalContextDeathTest, AFatalSignalPrintsTheLine) {
  EXPECT_EXIT(
      {
        const FatalContext context("seed 8; reproduce with: meridian-sim --seed=8");
        std::raise(SIGSEGV);
      },
      testing::KilledBySignal(SIGSEGV),
      "died during: seed 8; reproduce with: meridian-sim --seed=8");
}

// The handler a signal had before the first context (libFuzzer's, which saves the crashing
// input; a sanitizer's) still runs, after the line.
void MarkPreviousHandler(int) {
  constexpr char kMark[] = "previous handler ran\n";
  (void)!::write(STDERR_FILENO, kMark, sizeof(kMark) - 1);
  ::_exit(42);
}

TEST(FatalContextDeathTest, TheHandlerInstalledBeforeStillRuns) {
  EXPECT_EXIT(
      {
        std::signal(SIGSEGV, &MarkPreviousHandler);
        const FatalContext context("seed 10");
        std::raise(SIGSEGV);
      },
      testing::ExitedWithCode(42), "died during: seed 10\nprevious handler ran\n");
}

TEST(FatalContextDeathTest, NothingIsPrintedOnceTheContextEnded) {
  EXPECT_DEATH(
      {
        { const FatalContext context("seed 9"); }
        MERIDIAN_CHECK(false, "after the seed");
      },
      "after the seed\n$");
}

}  // namespace
}  // namespace meridian::io
