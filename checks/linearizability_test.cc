// The linearizability checker on hand-written histories: each planted violation must be found
// (with a sensible counterexample), each near miss must pass.
#include "checks/linearizability.h"

#include "checks/generators.h"
#include "checks/history_builder.h"
#include "gtest/gtest.h"

namespace meridian::checks {
namespace {

constexpr int64_t kNull = kValueNone;

LinearizabilityResult Check(const History& h, ModelKind model = ModelKind::kRegister) {
  return CheckLinearizability(h, {.model = model, .time_limit = absl::Seconds(10)});
}

Verdict VerdictOf(const History& h, ModelKind model = ModelKind::kRegister) {
  return Check(h, model).verdict;
}

TEST(LinearizabilityTest, ReadAfterCompletedWriteMustSeeIt) {
  EXPECT_EQ(VerdictOf(HistoryBuilder().Write(0, "", 1).ReadValue(1, "", kNull).Build()),
            Verdict::kInvalid);
  // Concurrent with the write, the read may see either.
  EXPECT_EQ(
      VerdictOf(
          HistoryBuilder().At(0, 10).Write(0, "", 1).At(5, 6).ReadValue(1, "", kNull).Build()),
      Verdict::kValid);
  EXPECT_EQ(VerdictOf(HistoryBuilder().Write(0, "", 1).ReadValue(1, "", 1).Build()),
            Verdict::kValid);
}

TEST(LinearizabilityTest, StaleReadAfterTwoWrites) {
  HistoryBuilder writes;
  writes.Write(0, "", 1).Write(0, "", 2);
  EXPECT_EQ(VerdictOf(HistoryBuilder(writes).ReadValue(1, "", 1).Build()), Verdict::kInvalid);
  HistoryBuilder overlapping;
  overlapping.Write(0, "", 1).At(10, 20).Write(0, "", 2).At(15, 25).ReadValue(1, "", 1);
  EXPECT_EQ(VerdictOf(overlapping.Build()), Verdict::kValid);
}

TEST(LinearizabilityTest, ReadsMayNotFlipFlop) {
  // Two writes concurrent with two sequential reads: 1 then 2 is fine, 1, 2, 1 is not.
  HistoryBuilder b;
  b.At(0, 100).Write(0, "", 1).At(0, 100).Write(1, "", 2);
  b.At(10, 20).ReadValue(2, "", 1).At(30, 40).ReadValue(2, "", 2);
  EXPECT_EQ(VerdictOf(HistoryBuilder(b).Build()), Verdict::kValid);
  EXPECT_EQ(VerdictOf(HistoryBuilder(b).At(50, 60).ReadValue(2, "", 1).Build()), Verdict::kInvalid);
}

TEST(LinearizabilityTest, CasSucceedsOnlyOnTheExpectedValue) {
  HistoryBuilder b;
  b.Cas(0, "", kNull, 1);
  EXPECT_EQ(VerdictOf(HistoryBuilder(b).Cas(1, "", kNull, 2).Build()), Verdict::kInvalid);
  EXPECT_EQ(VerdictOf(HistoryBuilder(b).Cas(1, "", kNull, 2, Outcome::kFail).Build()),
            Verdict::kValid);
  EXPECT_EQ(VerdictOf(HistoryBuilder(b).Cas(1, "", 1, 2).ReadValue(0, "", 2).Build()),
            Verdict::kValid);
}

TEST(LinearizabilityTest, IndeterminateWritesMayTakeEffectLateOrNever) {
  HistoryBuilder b;
  b.Write(0, "", 1, Outcome::kInfo);
  EXPECT_EQ(VerdictOf(HistoryBuilder(b).ReadValue(1, "", kNull).Build()), Verdict::kValid);
  EXPECT_EQ(VerdictOf(HistoryBuilder(b).ReadValue(1, "", kNull).ReadValue(1, "", 1).Build()),
            Verdict::kValid);
  // Once seen it cannot be unseen.
  EXPECT_EQ(VerdictOf(HistoryBuilder(b).ReadValue(1, "", 1).ReadValue(1, "", kNull).Build()),
            Verdict::kInvalid);
  // A failed write never happened.
  EXPECT_EQ(VerdictOf(HistoryBuilder().Write(0, "", 1, Outcome::kFail).ReadValue(1, "", 1).Build()),
            Verdict::kInvalid);
}

TEST(LinearizabilityTest, AnInfoWindowBoundsWhenIndeterminateOperationsTakeEffect) {
  // write 1 is invoked at 0 and times out (info) at 10; a read at [40, 50] still sees null, a
  // read at [60, 70] sees 1: the write landed between 40 and 70 (after the first read's point,
  // which can be no earlier than 40).
  History h = HistoryBuilder()
                  .At(0, 10)
                  .Write(0, "", 1, Outcome::kInfo)
                  .At(40, 50)
                  .ReadValue(1, "", kNull)
                  .At(60, 70)
                  .ReadValue(1, "", 1)
                  .Build();
  auto verdict = [&](int64_t window_ns) {
    return CheckLinearizability(h, {.info_window_ns = window_ns}).verdict;
  };
  EXPECT_EQ(verdict(kTimeNsInfinite), Verdict::kValid);
  EXPECT_EQ(verdict(30), Verdict::kValid);    // may land until 40, as the first read begins
  EXPECT_EQ(verdict(29), Verdict::kInvalid);  // must land by 39: before the first read or never
  EXPECT_EQ(verdict(0), Verdict::kInvalid);
  // Never taking effect is always allowed.
  History unseen = HistoryBuilder()
                       .At(0, 10)
                       .Write(0, "", 1, Outcome::kInfo)
                       .At(40, 50)
                       .ReadValue(1, "", kNull)
                       .Build();
  EXPECT_EQ(CheckLinearizability(unseen, {.info_window_ns = 0}).verdict, Verdict::kValid);
}

TEST(LinearizabilityTest, KeysAreIndependentObjects) {
  History h = HistoryBuilder()
                  .Write(0, "x", 1)
                  .Write(1, "y", 2)
                  .ReadValue(2, "x", 1)
                  .ReadValue(2, "y", 1)
                  .Build();
  LinearizabilityResult r = Check(h);
  EXPECT_EQ(r.verdict, Verdict::kInvalid);
  ASSERT_EQ(r.objects.size(), 2u);
  EXPECT_EQ(r.objects[0].object, "x");
  EXPECT_EQ(r.objects[0].verdict, Verdict::kValid);
  EXPECT_EQ(r.objects[1].object, "y");
  EXPECT_EQ(r.objects[1].verdict, Verdict::kInvalid);
  EXPECT_EQ(VerdictOf(h, ModelKind::kKeyValue), Verdict::kInvalid);
}

TEST(LinearizabilityTest, CounterexampleIsTheShortestFailingPrefix) {
  // ops: 0 write 1; 1 write 2; 2 read 2; 3 read 1 (stale: the violation); 4 write 3; 5 read 3.
  History h = HistoryBuilder()
                  .Write(0, "", 1)
                  .Write(0, "", 2)
                  .ReadValue(1, "", 2)
                  .ReadValue(1, "", 1)
                  .Write(0, "", 3)
                  .ReadValue(1, "", 3)
                  .Build();
  LinearizabilityResult r = Check(h);
  ASSERT_EQ(r.verdict, Verdict::kInvalid);
  const Counterexample& ce = r.objects[0].counterexample;
  EXPECT_EQ(ce.culprit_op_id, 3);
  EXPECT_EQ(ce.prefix_completions_count, 4);
  EXPECT_TRUE(ce.concurrent_op_ids.empty());
  EXPECT_EQ(ce.longest_linearization, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(ce.state_after_longest, "2");
  CheckReport report = LinearizabilityReport(h, {}, r);
  ASSERT_EQ(report.findings.size(), 1u);
  EXPECT_EQ(report.checker, "linearizability/register");
  EXPECT_EQ(report.findings[0].operation_ids, (std::vector<int64_t>{3}));
  EXPECT_EQ(report.findings[0].focus_op_id, 3);
  EXPECT_NE(report.findings[0].detail.find("op 3 (process 1, line 0, read 1, ok)"),
            std::string::npos)
      << report.findings[0].detail;
}

TEST(LinearizabilityTest, TimeLimitGivesUnknownNotAGuess) {
  History h = GenerateRegisterHistory({.processes_count = 8, .operations_count = 2000}, 7);
  LinearizabilityResult r =
      CheckLinearizability(h, {.model = ModelKind::kRegister, .time_limit = absl::ZeroDuration()});
  EXPECT_EQ(r.verdict, Verdict::kUnknown);
  CheckReport report = LinearizabilityReport(h, {.time_limit = absl::ZeroDuration()}, r);
  EXPECT_EQ(report.verdict, Verdict::kUnknown);
  EXPECT_TRUE(report.findings.empty());
}

TEST(LinearizabilityTest, LogModelChecksOffsetsAndReads) {
  HistoryBuilder b;
  b.Send(0, 0, {10}, {0}).Send(0, 0, {11, 12}, {1, 2});
  EXPECT_EQ(VerdictOf(HistoryBuilder(b).Poll(1, {{0, 1, 11}, {0, 2, 12}}).Build(), ModelKind::kLog),
            Verdict::kValid);
  // A poll that completed before the send began cannot have read its value.
  EXPECT_EQ(VerdictOf(HistoryBuilder().Poll(1, {{0, 0, 10}}).Send(0, 0, {10}, {0}).Build(),
                      ModelKind::kLog),
            Verdict::kInvalid);
  // A later send may not get an earlier offset.
  EXPECT_EQ(VerdictOf(HistoryBuilder().Send(0, 0, {10}, {1}).Send(1, 0, {11}, {0}).Build(),
                      ModelKind::kLog),
            Verdict::kInvalid);
  EXPECT_EQ(VerdictOf(HistoryBuilder(b).Poll(1, {{0, 1, 12}}).Build(), ModelKind::kLog),
            Verdict::kInvalid);
  // An indeterminate send may land, and be read, in between.
  HistoryBuilder info;
  info.Send(0, 0, {10}, {0}).Send(1, 0, {11}, {}, Outcome::kInfo).Send(2, 0, {12}, {2});
  EXPECT_EQ(VerdictOf(info.Poll(3, {{0, 1, 11}}).Build(), ModelKind::kLog), Verdict::kValid);
}

TEST(LinearizabilityTest, GeneratedHistoriesAreLinearizable) {
  for (uint64_t seed = 1; seed <= 20; seed++) {
    History reg = GenerateRegisterHistory({.processes_count = 6, .operations_count = 300}, seed);
    EXPECT_EQ(VerdictOf(reg), Verdict::kValid) << "seed " << seed;
    History kv = GenerateRegisterHistory(
        {.processes_count = 4, .operations_count = 60, .keys_count = 3}, seed);
    EXPECT_EQ(VerdictOf(kv, ModelKind::kKeyValue), Verdict::kValid) << "seed " << seed;
    History log = GenerateLogHistory({.processes_count = 4, .operations_count = 200}, seed);
    EXPECT_EQ(VerdictOf(log, ModelKind::kLog), Verdict::kValid) << "seed " << seed;
  }
}

}  // namespace
}  // namespace meridian::checks
