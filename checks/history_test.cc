#include "checks/history.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace meridian::checks {
namespace {

std::string ErrorOf(std::string_view text) {
  absl::StatusOr<History> h = ParseHistory(text);
  EXPECT_FALSE(h.ok()) << text;
  return h.ok() ? "" : std::string(h.status().message());
}

constexpr std::string_view kLogHistory = R"(
{"process":0,"type":"invoke","f":"send","time_ns":10,"partition":1,"values":[7,8]}
{"process":1,"type":"invoke","f":"assign","time_ns":11,"partitions":[1]}
{"process":1,"type":"ok","f":"assign","time_ns":12}
{"process":0,"type":"ok","f":"send","time_ns":20,"offsets":[3,4]}
{"process":1,"type":"invoke","f":"poll","time_ns":21}
{"process":1,"type":"ok","f":"poll","time_ns":30,"reads":[[1,3,7],[1,4,8]]}
{"process":2,"type":"invoke","f":"send","time_ns":31,"partition":0,"values":[9]}
{"process":2,"type":"info","f":"send","time_ns":40,"error":"timeout"}
{"process":3,"type":"invoke","f":"commit","time_ns":41,"commits":[[1,5]]}
)";

TEST(HistoryTest, PairsInvocationsWithCompletions) {
  absl::StatusOr<History> h = ParseHistory(kLogHistory);
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_EQ(h->operations.size(), 5u);
  EXPECT_EQ(h->processes_count, 4);
  EXPECT_TRUE(h->has_log_operations);
  EXPECT_FALSE(h->has_register_operations);
  const Operation& send = h->operations[0];
  EXPECT_EQ(send.f, Function::kSend);
  EXPECT_TRUE(send.ok());
  EXPECT_EQ(send.partition, 1);
  EXPECT_EQ(send.values, (std::vector<int64_t>{7, 8}));
  EXPECT_EQ(send.offsets, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(send.invoke_line, 2);
  EXPECT_EQ(send.complete_line, 5);
  const Operation& poll = h->operations[2];
  EXPECT_EQ(poll.reads, (std::vector<Read>{{1, 3, 7}, {1, 4, 8}}));
  const Operation& info = h->operations[3];
  EXPECT_TRUE(info.indeterminate());
  EXPECT_EQ(info.complete_ns, 40);
  EXPECT_EQ(info.effect_deadline_ns(), kTimeNsInfinite);
  const Operation& open = h->operations[4];  // never completed: indeterminate
  EXPECT_TRUE(open.indeterminate());
  EXPECT_EQ(open.complete_line, 0);
  EXPECT_EQ(open.commits, (std::vector<Commit>{{1, 5}}));
}

TEST(HistoryTest, FormatRoundTrips) {
  absl::StatusOr<History> h = ParseHistory(kLogHistory);
  ASSERT_TRUE(h.ok());
  absl::StatusOr<History> again = ParseHistory(FormatHistory(*h));
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(again->operations.size(), h->operations.size());
  for (size_t i = 0; i < h->operations.size(); i++) {
    EXPECT_EQ(again->operations[i].reads, h->operations[i].reads);
    EXPECT_EQ(again->operations[i].offsets, h->operations[i].offsets);
    EXPECT_EQ(again->operations[i].outcome, h->operations[i].outcome);
    EXPECT_EQ(again->operations[i].complete_ns, h->operations[i].complete_ns);
  }
}

TEST(HistoryTest, RegisterOperations) {
  absl::StatusOr<History> h = ParseHistory(
      R"({"process":0,"type":"invoke","f":"read","time_ns":1,"key":"x"}
{"process":0,"type":"ok","f":"read","time_ns":2,"key":"x","value":null}
{"process":0,"type":"invoke","f":"cas","time_ns":3,"key":"x","expected":null,"value":4}
{"process":0,"type":"fail","f":"cas","time_ns":4})");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_TRUE(h->has_register_operations);
  EXPECT_EQ(h->operations[0].value, kValueNone);
  EXPECT_EQ(h->operations[1].expected, kValueNone);
  EXPECT_EQ(h->operations[1].value, 4);
  EXPECT_TRUE(h->operations[1].failed());
}

TEST(HistoryTest, BadInputNamesTheLineAndTheProblem) {
  EXPECT_EQ(ErrorOf("{\"process\":0}\n"), "line 1: field \"type\": missing");
  EXPECT_EQ(ErrorOf("\n{\"process\":0,\"type\":\"ok\",\"f\":\"poll\",\"time_ns\":1,\"reads\":[]}"),
            "line 2: process 0 completes an operation it never invoked");
  EXPECT_NE(ErrorOf("[1]").find("line 1: each line must be a JSON object"), std::string::npos);
  EXPECT_NE(ErrorOf("{\"process\":0,\"type\":\"invoke\",\"f\":\"poll\",\"time_ns\":1,\"x\":1}")
                .find("field \"x\": unknown field"),
            std::string::npos);
  EXPECT_NE(ErrorOf("{\"process\":0,\"type\":\"invoke\",\"f\":\"poll\",\"time_ns\":5}\n"
                    "{\"process\":0,\"type\":\"ok\",\"f\":\"poll\",\"time_ns\":4,\"reads\":[]}")
                .find("line 2: time_ns 4 is before"),
            std::string::npos);
  EXPECT_NE(ErrorOf("{\"process\":0,\"type\":\"invoke\",\"f\":\"poll\",\"time_ns\":1}\n"
                    "{\"process\":0,\"type\":\"invoke\",\"f\":\"poll\",\"time_ns\":2}")
                .find("line 2: process 0 invokes while its operation from line 1 is open"),
            std::string::npos);
  EXPECT_NE(ErrorOf("{\"process\":0,\"type\":\"invoke\",\"f\":\"poll\",\"time_ns\":1}\n"
                    "{\"process\":0,\"type\":\"info\",\"f\":\"poll\",\"time_ns\":2}\n"
                    "{\"process\":0,\"type\":\"invoke\",\"f\":\"poll\",\"time_ns\":3}")
                .find("line 3: process 0 was already completed with info on line 2"),
            std::string::npos);
  EXPECT_NE(ErrorOf("{\"process\":0,\"type\":\"invoke\",\"f\":\"send\",\"time_ns\":1,"
                    "\"partition\":0,\"values\":[1,2]}\n"
                    "{\"process\":0,\"type\":\"ok\",\"f\":\"send\",\"time_ns\":2,\"offsets\":[0]}")
                .find("line 2: field \"offsets\": one per value"),
            std::string::npos);
  EXPECT_NE(ErrorOf("{\"process\":0,\"type\":\"invoke\",\"f\":\"poll\",\"time_ns\":1,"
                    "\"partition\":3}")
                .find("field \"partition\": not allowed when f is poll"),
            std::string::npos);
  EXPECT_NE(ErrorOf("{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"time_ns\":1}")
                .find("field \"value\": needs an integer"),
            std::string::npos);
  EXPECT_NE(ErrorOf("{\"process\":0,\"type\":\"invoke\",\"f\":\"poll\",\"time_ns\":1}\n"
                    "{\"process\":0,\"type\":\"ok\",\"f\":\"send\",\"time_ns\":2}")
                .find("does not match the invocation f=poll on line 1"),
            std::string::npos);
  EXPECT_NE(ErrorOf("{\"process\":-1,\"type\":\"invoke\",\"f\":\"poll\",\"time_ns\":1}")
                .find("must not be negative"),
            std::string::npos);
}

TEST(HistoryTest, SendsCarryTheProducerAndTheOrderItAcceptedThemIn) {
  absl::StatusOr<History> h = ParseHistory(
      R"({"process":0,"type":"invoke","f":"send","time_ns":1,"partition":2,"values":[7],)"
      R"("producer":4,"producer_seq":9})"
      "\n"
      R"({"process":0,"type":"ok","f":"send","time_ns":2,"offsets":[0]})");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->operations[0].producer, 4);
  EXPECT_EQ(h->operations[0].producer_seq, 9);
  absl::StatusOr<History> again = ParseHistory(FormatHistory(*h));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->operations[0].producer, 4);
  EXPECT_EQ(again->operations[0].producer_seq, 9);

  EXPECT_NE(ErrorOf(R"({"process":0,"type":"invoke","f":"send","time_ns":1,"partition":0,)"
                    R"("values":[1],"producer":4})")
                .find("`producer` and `producer_seq` come together"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"process":0,"type":"invoke","f":"poll","time_ns":1,"producer":1,)"
                    R"("producer_seq":1})")
                .find("not allowed when f is poll"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"process":0,"type":"invoke","f":"send","time_ns":1,"partition":0,)"
                    R"("values":[1],"producer":4,"producer_seq":1})"
                    "\n"
                    R"({"process":0,"type":"ok","f":"send","time_ns":2,"offsets":[0],)"
                    R"("producer":4,"producer_seq":2})")
                .find("differs from the invocation"),
            std::string::npos);
}

TEST(HistoryTest, KeyedSendsCarryTheirKeyAndPartitionCount) {
  absl::StatusOr<History> h = ParseHistory(
      R"({"process":0,"type":"invoke","f":"send","time_ns":1,"partition":2,"values":[7],)"
      R"("key":"k7","partition_count":3})"
      "\n"
      R"({"process":0,"type":"ok","f":"send","time_ns":2,"offsets":[0],"partition_count":3})");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_FALSE(h->has_register_operations);
  EXPECT_EQ(h->operations[0].key, "k7");
  EXPECT_EQ(h->operations[0].partition_count, 3);
  absl::StatusOr<History> again = ParseHistory(FormatHistory(*h));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->operations[0].key, "k7");
  EXPECT_EQ(again->operations[0].partition_count, 3);

  EXPECT_NE(ErrorOf(R"({"process":0,"type":"invoke","f":"send","time_ns":1,"partition":0,)"
                    R"("values":[1],"partition_count":3})")
                .find("field \"partition_count\": routes a key: the send needs `key`"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"process":0,"type":"invoke","f":"send","time_ns":1,"partition":0,)"
                    R"("values":[1],"key":"a","partition_count":0})")
                .find("at least one partition"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"process":0,"type":"invoke","f":"poll","time_ns":1,"partition_count":1})")
                .find("not allowed when f is poll"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"process":0,"type":"invoke","f":"send","time_ns":1,"partition":0,)"
                    R"("values":[1],"key":"a","partition_count":2})"
                    "\n"
                    R"({"process":0,"type":"ok","f":"send","time_ns":2,"offsets":[0],)"
                    R"("partition_count":3})")
                .find("differs from the invocation"),
            std::string::npos);
}

// The reserved integer (how null is held in memory) is not a value anywhere: not in a send's
// values, not in a read record, not in a register operation.
TEST(HistoryTest, ReservedIntegerIsRejectedAsAValue) {
  EXPECT_NE(ErrorOf("{\"process\":0,\"type\":\"invoke\",\"f\":\"send\",\"time_ns\":1,"
                    "\"partition\":0,\"values\":[1,-9223372036854775808]}")
                .find("field \"values\": the value -2^63 is reserved"),
            std::string::npos);
  EXPECT_NE(ErrorOf("{\"process\":0,\"type\":\"invoke\",\"f\":\"poll\",\"time_ns\":1}\n"
                    "{\"process\":0,\"type\":\"ok\",\"f\":\"poll\",\"time_ns\":2,"
                    "\"reads\":[[0,0,-9223372036854775808]]}")
                .find("line 2: field \"reads\": the value -2^63 is reserved"),
            std::string::npos);
  // Its neighbour is an ordinary value.
  EXPECT_TRUE(ParseHistory("{\"process\":0,\"type\":\"invoke\",\"f\":\"send\",\"time_ns\":1,"
                           "\"partition\":0,\"values\":[-9223372036854775807]}")
                  .ok());
}

std::string SendOf(int64_t values_count) {
  std::string values;
  for (int64_t i = 0; i < values_count; i++) absl::StrAppend(&values, i == 0 ? "" : ",", i);
  return absl::StrCat("{\"process\":0,\"type\":\"invoke\",\"f\":\"send\",\"time_ns\":1,",
                      "\"partition\":0,\"values\":[", values, "]}");
}

// docs/history-format.md: an array field holds at most 65,536 elements.
TEST(HistoryTest, ArraysHoldAtMost65536Elements) {
  static_assert(kBatchValuesMax == 65'536);
  EXPECT_TRUE(ParseHistory(SendOf(kBatchValuesMax)).ok());
  EXPECT_NE(ErrorOf(SendOf(kBatchValuesMax + 1)).find("field \"values\": more than 65536 elements"),
            std::string::npos);
}

}  // namespace
}  // namespace meridian::checks
