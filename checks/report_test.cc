#include "checks/report.h"

#include <string>

#include "checks/generators.h"
#include "checks/history_builder.h"
#include "checks/log_checker.h"
#include "gtest/gtest.h"

namespace meridian::checks {
namespace {

int64_t Count(const std::string& text, const std::string& needle) {
  int64_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    count++;
  }
  return count;
}

TEST(ReportTest, CombinedVerdictPrefersInvalidThenUnknown) {
  CheckReport valid{.checker = "a", .verdict = Verdict::kValid};
  CheckReport unknown{.checker = "b", .verdict = Verdict::kUnknown};
  CheckReport invalid{.checker = "c", .verdict = Verdict::kInvalid, .findings = {{"x", "y", {0}}}};
  EXPECT_EQ(CombinedVerdict({}), Verdict::kValid);
  EXPECT_EQ(CombinedVerdict({valid, unknown}), Verdict::kUnknown);
  EXPECT_EQ(CombinedVerdict({unknown, invalid, valid}), Verdict::kInvalid);
}

TEST(ReportTest, TextSummaryCountsKindsAndTruncates) {
  History h = HistoryBuilder().Send(0, 0, {1}, {0}).Build();
  CheckReport r{.checker = "log", .verdict = Verdict::kInvalid};
  for (int64_t i = 0; i < kTextFindingsMax + 5; i++) r.findings.push_back({"unseen", "u", {0}});
  r.findings.push_back({"duplicate", "d", {0}});
  const std::string text = TextSummary("h.jsonl", h, {r});
  EXPECT_NE(text.find("history h.jsonl: 1 operations by 1 processes"), std::string::npos);
  EXPECT_NE(text.find("checker log: invalid (1 duplicate, 105 unseen)"), std::string::npos) << text;
  EXPECT_EQ(Count(text, "  unseen: u\n"), kTextFindingsMax);
  EXPECT_NE(text.find("... and 6 more"), std::string::npos);
  EXPECT_NE(text.find("verdict: invalid"), std::string::npos);
}

TEST(ReportTest, HtmlHighlightsOffendingOperationsAndEscapes) {
  History h =
      HistoryBuilder().Send(0, 0, {1}, {0}).Send(0, 0, {2}, {1}).Poll(1, {{0, 1, 2}}).Build();
  absl::StatusOr<CheckReport> r = CheckLog(h, {});
  ASSERT_TRUE(r.ok());
  r->notes.push_back("<b>not markup</b>");
  const std::string html = HtmlReport("a&b", h, {*r});
  EXPECT_NE(html.find("<title>a&amp;b: invalid</title>"), std::string::npos);
  EXPECT_NE(html.find("&lt;b&gt;not markup&lt;/b&gt;"), std::string::npos);
  EXPECT_EQ(Count(html, "<rect id=\"op-"), 3);
  EXPECT_EQ(Count(html, " bad\""), 2);  // ops 0 and 2 show the lost write
  EXPECT_NE(html.find("data-ops=\"0 2\""), std::string::npos);
  EXPECT_NE(html.find("id=\"render-status\""), std::string::npos);
}

TEST(ReportTest, LongHistoriesShowAWindowAroundTheFindings) {
  History h = GenerateLogHistory({.operations_count = 3 * kTimelineOperationsMax}, 5);
  const int64_t target = static_cast<int64_t>(h.operations.size()) / 2;
  CheckReport r{.checker = "log",
                .verdict = Verdict::kInvalid,
                .findings = {{"lost-write", "planted", {target}}}};
  const std::string html = HtmlReport("long", h, {r});
  EXPECT_EQ(Count(html, "<rect id=\"op-"), kTimelineOperationsMax);
  EXPECT_NE(html.find(absl::StrCat("<rect id=\"op-", target, "\"")), std::string::npos);
  EXPECT_EQ(html.find("<rect id=\"op-0\""), std::string::npos);
  // A focus (a counterexample's culprit) wins over the first id.
  r.findings[0].operation_ids = {0, target};
  r.findings[0].focus_op_id = target;
  const std::string focused = HtmlReport("long", h, {r});
  EXPECT_NE(focused.find(absl::StrCat("<rect id=\"op-", target, "\"")), std::string::npos);
  EXPECT_EQ(focused.find("<rect id=\"op-0\""), std::string::npos);
}

}  // namespace
}  // namespace meridian::checks
