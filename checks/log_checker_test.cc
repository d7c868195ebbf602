// Each anomaly of the log checker: a minimal history that must be flagged, and a near miss that
// must pass. The near misses matter as much as the hits: a checker that flags everything is as
// useless as one that flags nothing.
#include "checks/log_checker.h"

#include <algorithm>
#include <string>
#include <vector>

#include "checks/generators.h"
#include "checks/history_builder.h"
#include "gtest/gtest.h"

namespace meridian::checks {
namespace {

std::vector<std::string> Kinds(const History& history, bool unseen_is_anomaly = true) {
  absl::StatusOr<CheckReport> report = CheckLog(history, {.unseen_is_anomaly = unseen_is_anomaly});
  EXPECT_TRUE(report.ok()) << report.status();
  std::vector<std::string> kinds;
  if (!report.ok()) return kinds;
  for (const Finding& f : report->findings) kinds.push_back(f.kind);
  EXPECT_EQ(report->verdict, kinds.empty() ? Verdict::kValid : Verdict::kInvalid);
  return kinds;
}

bool Has(const std::vector<std::string>& kinds, std::string_view kind) {
  return std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
}

using Kinds_ = std::vector<std::string>;

TEST(LogCheckerTest, LostWriteIsAnAckedValueSkippedByAReaderThatReadPastIt) {
  HistoryBuilder b;
  b.Send(0, 0, {1}, {0}).Send(0, 0, {2}, {1});
  EXPECT_EQ(Kinds(HistoryBuilder(b).Poll(1, {{0, 1, 2}}).Build()), Kinds_{"lost-write"});
  EXPECT_EQ(Kinds(HistoryBuilder(b).Poll(1, {{0, 0, 1}, {0, 1, 2}}).Build()), Kinds_{});
}

TEST(LogCheckerTest, ValuesBelowAReportedLogStartExpiredButAboveItAreStillLost) {
  HistoryBuilder b;
  b.Send(0, 0, {1}, {0}).Send(0, 0, {2}, {1}).Send(0, 0, {3}, {2});
  // Retention deleted offsets below 1: value 1 expired unread, value 2 was read.
  History expired = HistoryBuilder(b)
                        .Assign(1, {0}, Outcome::kOk, {{0, 1}})
                        .Poll(1, {{0, 1, 2}, {0, 2, 3}})
                        .Build();
  EXPECT_EQ(Kinds(expired), Kinds_{});
  // The near miss: a start of 1 does not excuse value 2 at offset 1, skipped by a reader.
  History lost =
      HistoryBuilder(b).Assign(1, {0}, Outcome::kOk, {{0, 1}}).Poll(1, {{0, 2, 3}}).Build();
  EXPECT_EQ(Kinds(lost), Kinds_{"lost-write"});
  // A failed assign reports nothing.
  History failed = HistoryBuilder(b).Assign(1, {0}, Outcome::kFail).Poll(1, {{0, 2, 3}}).Build();
  EXPECT_EQ(Kinds(failed), (Kinds_{"lost-write", "lost-write"}));
}

// Two processes share producer 7 and their sends overlap in time, so real time orders nothing;
// the producer accepted value 1 first (producer_seq 0), so value 1 must land first.
TEST(LogCheckerTest, ProducerOrderIsALaterAcceptedSendLandingFirst) {
  auto two_sends = [](int64_t first_offset, int64_t second_offset, int64_t second_producer,
                      int64_t second_partition, Outcome second_outcome) {
    return HistoryBuilder()
        .At(0, 10)
        .ProducerSend(0, 0, 7, /*producer_seq=*/0, {1}, {first_offset})
        .At(1, 9)
        .ProducerSend(1, second_partition, second_producer, 1, {2}, {second_offset}, second_outcome)
        .Build();
  };
  const auto kinds = [](const History& h) { return Kinds(h, /*unseen_is_anomaly=*/false); };
  EXPECT_EQ(kinds(two_sends(1, 0, 7, 0, Outcome::kOk)), Kinds_{"producer-order"});
  // Near misses: in order; another producer; another partition; the later one not ok.
  EXPECT_EQ(kinds(two_sends(0, 1, 7, 0, Outcome::kOk)), Kinds_{});
  EXPECT_EQ(kinds(two_sends(1, 0, 8, 0, Outcome::kOk)), Kinds_{});
  EXPECT_EQ(kinds(two_sends(1, 0, 7, 1, Outcome::kOk)), Kinds_{});
  EXPECT_EQ(kinds(two_sends(1, 0, 7, 0, Outcome::kInfo)), Kinds_{});
  // Multi-value sends compare the earlier send's last offset with the later send's first.
  History overlapping = HistoryBuilder()
                            .ProducerSend(0, 0, 7, 0, {1, 2}, {0, 2})
                            .ProducerSend(0, 0, 7, 1, {3}, {1})
                            .Build();
  EXPECT_TRUE(Has(kinds(overlapping), "producer-order"));
  // One producer_seq twice is bad input, not an anomaly.
  History reused = HistoryBuilder()
                       .ProducerSend(0, 0, 7, 0, {1}, {0})
                       .ProducerSend(1, 0, 7, 0, {2}, {1})
                       .Build();
  absl::StatusOr<CheckReport> report = CheckLog(reused, {.unseen_is_anomaly = false});
  EXPECT_TRUE(absl::IsInvalidArgument(report.status())) << report.status();
}

TEST(LogCheckerTest, MisroutedKeyIsAKeyedSendOutsideKafkasPartitionForIt) {
  // Kafka puts "foobar" in partition 1357151166 % 7 = 0 of 7 (its published murmur2 vector).
  auto send_to = [](int64_t partition, Outcome outcome) {
    return HistoryBuilder()
        .KeyedSend(0, partition, "foobar", 7, {1}, {0}, outcome)
        .Poll(1,
              outcome == Outcome::kOk ? std::vector<Read>{{partition, 0, 1}} : std::vector<Read>{})
        .Build();
  };
  EXPECT_EQ(Kinds(send_to(0, Outcome::kOk)), Kinds_{});
  EXPECT_EQ(Kinds(send_to(3, Outcome::kOk)), Kinds_{"misrouted-key"});
  // The routing is judged whatever the send's outcome: it happened before the send.
  EXPECT_EQ(Kinds(send_to(5, Outcome::kFail)), Kinds_{"misrouted-key"});
  EXPECT_EQ(Kinds(send_to(0, Outcome::kInfo)), Kinds_{});
  // Many sends of one key to one wrong partition are one finding.
  History many = HistoryBuilder()
                     .KeyedSend(0, 3, "foobar", 7, {1}, {0})
                     .KeyedSend(0, 3, "foobar", 7, {2}, {1})
                     .KeyedSend(0, 0, "foobar", 7, {3}, {0})
                     .Poll(1, {{3, 0, 1}, {3, 1, 2}, {0, 0, 3}})
                     .Build();
  EXPECT_EQ(Kinds(many), Kinds_{"misrouted-key"});
  // A send without a partition count (unkeyed, or routed by the application) is not judged.
  EXPECT_EQ(Kinds(HistoryBuilder().Send(0, 3, {1}, {0}).Poll(1, {{3, 0, 1}}).Build()), Kinds_{});
  absl::StatusOr<CheckReport> report = CheckLog(send_to(3, Outcome::kOk), {});
  ASSERT_TRUE(report.ok());
  EXPECT_NE(report->findings[0].detail.find("and 0 more send(s) sent key \"foobar\" to "
                                            "partition 3, but Kafka's "
                                            "default partitioner puts it in partition 0 of 7"),
            std::string::npos)
      << report->findings[0].detail;
}

TEST(LogCheckerTest, IndeterminateSendsAreNeverLost) {
  History h = HistoryBuilder()
                  .Send(0, 0, {1}, {}, Outcome::kInfo)
                  .Send(1, 0, {2}, {1})
                  .Poll(2, {{0, 1, 2}})
                  .Build();
  EXPECT_EQ(Kinds(h), Kinds_{});
}

TEST(LogCheckerTest, UnseenIsAnAckedValueNobodyReadByTheEnd) {
  History h = HistoryBuilder().Send(0, 0, {1}, {0}).Poll(1, {}).Build();
  EXPECT_EQ(Kinds(h), Kinds_{"unseen"});
  EXPECT_EQ(Kinds(h, /*unseen_is_anomaly=*/false), Kinds_{});
  History read = HistoryBuilder().Send(0, 0, {1}, {0}).Poll(1, {{0, 0, 1}}).Build();
  EXPECT_EQ(Kinds(read), Kinds_{});
}

TEST(LogCheckerTest, DuplicateIsOneValueAtTwoOffsets) {
  HistoryBuilder b;
  b.Send(0, 0, {1}, {0});
  EXPECT_EQ(Kinds(HistoryBuilder(b).Poll(1, {{0, 0, 1}, {0, 1, 1}}).Build()), Kinds_{"duplicate"});
  EXPECT_EQ(Kinds(HistoryBuilder(b).Poll(1, {{0, 0, 1}}).Poll(1, {}).Build()), Kinds_{});
}

TEST(LogCheckerTest, InconsistentOffsetsIsOneOffsetWithTwoValues) {
  HistoryBuilder b;
  b.At(0, 10).Send(0, 0, {1}, {0}).At(1, 11).Send(1, 0, {2}, {0});
  const Kinds_ kinds = Kinds(HistoryBuilder(b).Poll(2, {{0, 0, 1}}).Build());
  EXPECT_TRUE(Has(kinds, "inconsistent-offsets"));
  HistoryBuilder near;
  near.At(0, 10).Send(0, 0, {1}, {0}).At(1, 11).Send(1, 0, {2}, {1});
  EXPECT_EQ(Kinds(near.Poll(2, {{0, 0, 1}, {0, 1, 2}}).Build()), Kinds_{});
}

TEST(LogCheckerTest, PollSkipIsAConsumerJumpingOverAnOffsetBetweenPolls) {
  HistoryBuilder b;
  b.Send(0, 0, {1, 2, 3}, {0, 1, 2})
      .Poll(9, {{0, 0, 1}, {0, 1, 2}, {0, 2, 3}})
      .Poll(1, {{0, 0, 1}});
  EXPECT_EQ(Kinds(HistoryBuilder(b).Poll(1, {{0, 2, 3}}).Build()), Kinds_{"poll-skip"});
  // A new assignment may seek anywhere.
  EXPECT_EQ(Kinds(HistoryBuilder(b).Assign(1, {0}).Poll(1, {{0, 2, 3}}).Build()), Kinds_{});
  // Offsets need not be dense: a gap nobody ever saw is not a skip.
  History gap =
      HistoryBuilder().Send(0, 0, {1, 3}, {0, 2}).Poll(1, {{0, 0, 1}}).Poll(1, {{0, 2, 3}}).Build();
  EXPECT_EQ(Kinds(gap), Kinds_{});
}

TEST(LogCheckerTest, NonmonotonicPollIsAConsumerGoingBackwardsWithoutAssign) {
  HistoryBuilder b;
  b.Send(0, 0, {1, 2}, {0, 1}).Poll(1, {{0, 0, 1}, {0, 1, 2}});
  EXPECT_EQ(Kinds(HistoryBuilder(b).Poll(1, {{0, 0, 1}}).Build()), Kinds_{"nonmonotonic-poll"});
  EXPECT_EQ(Kinds(HistoryBuilder(b).Assign(1, {0}).Poll(1, {{0, 0, 1}}).Build()), Kinds_{});
  // A failed assign has no effect (docs/history-format.md): it repositions nothing.
  EXPECT_EQ(Kinds(HistoryBuilder(b).Assign(1, {0}, Outcome::kFail).Poll(1, {{0, 0, 1}}).Build()),
            Kinds_{"nonmonotonic-poll"});
  // Within one poll, too.
  EXPECT_EQ(
      Kinds(HistoryBuilder().Send(0, 0, {1, 2}, {0, 1}).Poll(1, {{0, 1, 2}, {0, 0, 1}}).Build()),
      Kinds_{"nonmonotonic-poll"});
}

TEST(LogCheckerTest, NonmonotonicSendIsAProducerGettingALowerOffsetLater) {
  History h = HistoryBuilder()
                  .Send(0, 0, {1}, {1})
                  .Send(0, 0, {2}, {0})
                  .Poll(1, {{0, 0, 2}, {0, 1, 1}})
                  .Build();
  const Kinds_ kinds = Kinds(h);
  EXPECT_TRUE(Has(kinds, "nonmonotonic-send"));
  EXPECT_TRUE(Has(kinds, "realtime-send-order"));
  // Two producers running concurrently may be ordered either way.
  History near = HistoryBuilder()
                     .At(0, 10)
                     .Send(0, 0, {1}, {1})
                     .At(1, 11)
                     .Send(1, 0, {2}, {0})
                     .Poll(2, {{0, 0, 2}, {0, 1, 1}})
                     .Build();
  EXPECT_EQ(Kinds(near), Kinds_{});
}

TEST(LogCheckerTest, IntSendSkipIsABatchInterleavedWithAnotherValue) {
  History h = HistoryBuilder()
                  .At(0, 10)
                  .Send(0, 0, {1, 2}, {0, 2})
                  .At(1, 11)
                  .Send(1, 0, {3}, {1})
                  .Poll(2, {{0, 0, 1}, {0, 1, 3}, {0, 2, 2}})
                  .Build();
  EXPECT_EQ(Kinds(h), Kinds_{"int-send-skip"});
  History near =
      HistoryBuilder().Send(0, 0, {1, 2}, {0, 2}).Poll(2, {{0, 0, 1}, {0, 2, 2}}).Build();
  EXPECT_EQ(Kinds(near), Kinds_{});
}

TEST(LogCheckerTest, IntPollSkipIsOnePollJumpingOverAnOffset) {
  HistoryBuilder b;
  b.Send(0, 0, {1, 2, 3}, {0, 1, 2}).Poll(9, {{0, 1, 2}});
  EXPECT_EQ(Kinds(HistoryBuilder(b).Poll(1, {{0, 0, 1}, {0, 2, 3}}).Build()),
            Kinds_{"int-poll-skip"});
  EXPECT_EQ(Kinds(HistoryBuilder(b).Poll(1, {{0, 0, 1}, {0, 1, 2}, {0, 2, 3}}).Build()), Kinds_{});
  // Reads of different partitions interleave freely.
  History two = HistoryBuilder()
                    .Send(0, 0, {1}, {0})
                    .Send(0, 1, {2}, {0})
                    .Poll(1, {{0, 0, 1}, {1, 0, 2}})
                    .Build();
  EXPECT_EQ(Kinds(two), Kinds_{});
}

TEST(LogCheckerTest, RealtimeSendOrderIsALaterSendGettingALowerOffset) {
  History h = HistoryBuilder()
                  .Send(0, 0, {1}, {1})
                  .Send(1, 0, {2}, {0})
                  .Poll(2, {{0, 0, 2}, {0, 1, 1}})
                  .Build();
  EXPECT_EQ(Kinds(h), Kinds_{"realtime-send-order"});
  History touching = HistoryBuilder()  // completion at the very instant of the next invocation
                         .At(0, 5)
                         .Send(0, 0, {1}, {1})
                         .At(5, 9)
                         .Send(1, 0, {2}, {0})
                         .Poll(2, {{0, 0, 2}, {0, 1, 1}})
                         .Build();
  EXPECT_EQ(Kinds(touching), Kinds_{});
}

TEST(LogCheckerTest, AbortedAndPhantomReads) {
  EXPECT_EQ(
      Kinds(HistoryBuilder().Send(0, 0, {1}, {}, Outcome::kFail).Poll(1, {{0, 0, 1}}).Build()),
      Kinds_{"aborted-read"});
  EXPECT_EQ(
      Kinds(HistoryBuilder().Send(0, 0, {1}, {}, Outcome::kInfo).Poll(1, {{0, 0, 1}}).Build()),
      Kinds_{});
  EXPECT_EQ(Kinds(HistoryBuilder().Poll(1, {{0, 0, 99}}).Build()), Kinds_{"phantom-read"});
}

TEST(LogCheckerTest, FindingsNameOperationsAndLines) {
  History h =
      HistoryBuilder().Send(0, 0, {1}, {0}).Send(0, 0, {2}, {1}).Poll(1, {{0, 1, 2}}).Build();
  absl::StatusOr<CheckReport> report = CheckLog(h, {});
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->findings.size(), 1u);
  EXPECT_EQ(report->findings[0].operation_ids, (std::vector<int64_t>{0, 2}));
  EXPECT_NE(report->findings[0].detail.find("value 1 acknowledged at offset 0"), std::string::npos)
      << report->findings[0].detail;
}

TEST(LogCheckerTest, ValuesSentTwiceAreBadInput) {
  History h = HistoryBuilder().Send(0, 0, {1}, {0}).Send(1, 0, {1}, {1}).Build();
  absl::StatusOr<CheckReport> report = CheckLog(h, {});
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("value 1 is sent to partition 0 again"),
            std::string::npos);
}

TEST(LogCheckerTest, GeneratedHistoriesAreValid) {
  for (uint64_t seed = 1; seed <= 30; seed++) {
    History h = GenerateLogHistory({.processes_count = 5, .operations_count = 300}, seed);
    absl::StatusOr<CheckReport> report = CheckLog(h, {});
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(report->verdict, Verdict::kValid)
        << "seed " << seed << ": " << report->findings[0].kind << ": "
        << report->findings[0].detail;
  }
}

}  // namespace
}  // namespace meridian::checks
