#include "checks/json.h"

#include <string>

#include "gtest/gtest.h"

namespace meridian::checks::json {
namespace {

std::string ErrorOf(std::string_view text) {
  absl::StatusOr<Value> v = Parse(text);
  EXPECT_FALSE(v.ok()) << text;
  return v.ok() ? "" : std::string(v.status().message());
}

TEST(JsonTest, ParsesTheSubsetHistoriesUse) {
  absl::StatusOr<Value> v =
      Parse(R"( {"a": -12, "b": [1, [2, 3]], "c": "x\"y\u00e9", "d": null, "e": true} )");
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->kind(), Kind::kObject);
  EXPECT_EQ(v->Find("a")->as_int(), -12);
  EXPECT_EQ(v->Find("b")->as_array()[1].as_array()[1].as_int(), 3);
  EXPECT_EQ(v->Find("c")->as_string(), "x\"y\xc3\xa9");
  EXPECT_TRUE(v->Find("d")->is_null());
  EXPECT_TRUE(v->Find("e")->as_bool());
  EXPECT_EQ(v->Find("zz"), nullptr);
}

TEST(JsonTest, Int64LimitsAreExact) {
  EXPECT_EQ(Parse("9223372036854775807")->as_int(), INT64_MAX);
  EXPECT_EQ(Parse("-9223372036854775808")->as_int(), INT64_MIN);
  EXPECT_NE(ErrorOf("9223372036854775808").find("64 bits"), std::string::npos);
  EXPECT_NE(ErrorOf("-9223372036854775809").find("64 bits"), std::string::npos);
}

TEST(JsonTest, RejectsWhatHistoriesMustNotContain) {
  EXPECT_NE(ErrorOf("1.5").find("only integers"), std::string::npos);
  EXPECT_NE(ErrorOf("1e3").find("only integers"), std::string::npos);
  EXPECT_NE(ErrorOf("012").find("leading zeros"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"a":1,"a":2})").find("duplicate key \"a\""), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"a":1} x)").find("column 9: unexpected text"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"a":1,})").find("expected a quoted key"), std::string::npos);
  EXPECT_NE(ErrorOf(R"([1 2])").find("expected ',' or ']'"), std::string::npos);
  EXPECT_NE(ErrorOf(R"("abc)").find("unterminated string"), std::string::npos);
  EXPECT_NE(ErrorOf(R"("\q")").find("bad escape"), std::string::npos);
  EXPECT_NE(ErrorOf(R"("\ud800")").find("unpaired high surrogate"), std::string::npos);
  EXPECT_NE(ErrorOf("+1").find("unexpected character '+'"), std::string::npos);
  EXPECT_NE(ErrorOf("").find("end of line"), std::string::npos);
  EXPECT_NE(ErrorOf("nul").find("unexpected character"), std::string::npos);
  EXPECT_NE(ErrorOf(std::string(40, '[')).find("nesting too deep"), std::string::npos);
}

TEST(JsonTest, QuotingRoundTrips) {
  std::string quoted;
  AppendQuoted("a\"b\\c\nd\x01", &quoted);
  EXPECT_EQ(quoted, R"("a\"b\\c\nd\u0001")");
  EXPECT_EQ(Parse(quoted)->as_string(), "a\"b\\c\nd\x01");
}

}  // namespace
}  // namespace meridian::checks::json
