// Opens an HTML report in headless Chromium (Debian's `chromium` package) and checks that it
// renders: the page's script reports how many operations the browser laid out and how many are
// highlighted, and a screenshot is produced. Without chromium the test fails and says so: CI's
// setup installs it (apt-get install chromium).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "checks/generators.h"
#include "checks/log_checker.h"
#include "checks/report.h"
#include "gtest/gtest.h"

namespace meridian::checks {
namespace {

std::string ChromiumPath() {
  const char* configured = std::getenv("CHROMIUM");
  for (std::string path :
       {std::string(configured ? configured : ""), std::string("/usr/bin/chromium"),
        std::string("/usr/bin/chromium-browser")}) {
    if (!path.empty() && access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

// Runs chromium headless with the flags a sandboxless CI machine needs; returns its stdout.
std::string RunChromium(const std::string& chromium, const std::string& args) {
  const std::string tmp = std::getenv("TEST_TMPDIR");
  const std::string profile = tmp + "/chromium-profile";
  const std::string command = absl::StrCat(
      "HOME=", tmp, " '", chromium,
      "' --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking "
      "--disable-component-update --disable-sync --user-data-dir=",
      profile, " ", args, " 2>", tmp, "/chromium.stderr");
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  pclose(pipe);
  return out;
}

TEST(HtmlRenderTest, ReportRendersInHeadlessChromium) {
  const std::string chromium = ChromiumPath();
  ASSERT_FALSE(chromium.empty())
      << "chromium is not installed: this test needs Debian's `chromium` package "
         "(apt-get install chromium), or CHROMIUM=/path/to/chromium";
  // A history with a planted lost write: every poll forgets offset 3 of partition 0.
  History history = GenerateLogHistory({.processes_count = 4, .operations_count = 120}, 11);
  for (Operation& op : history.operations) {
    std::erase_if(op.reads, [](const Read& r) { return r.partition == 0 && r.offset == 3; });
  }
  absl::StatusOr<CheckReport> report = CheckLog(history, {});
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->verdict, Verdict::kInvalid);
  const std::string html = HtmlReport("planted lost write", history, {*report});
  const std::string dir = std::getenv("TEST_TMPDIR");
  const std::string page = dir + "/report.html";
  std::ofstream(page) << html;

  int64_t bad = 0;
  for (const Finding& f : report->findings) bad += static_cast<int64_t>(f.operation_ids.size());
  ASSERT_GT(bad, 0);
  const std::string dom = RunChromium(chromium, "--dump-dom file://" + page);
  const size_t at = dom.find("rendered ");
  ASSERT_NE(at, std::string::npos) << "the page's script did not run; DOM was:\n"
                                   << dom.substr(0, 2000);
  int64_t drawn = -1;
  int64_t highlighted = -1;
  ASSERT_EQ(std::sscanf(dom.c_str() + at, "rendered %ld operations, %ld highlighted", &drawn,
                        &highlighted),
            2);
  EXPECT_EQ(drawn, static_cast<int64_t>(history.operations.size()));
  EXPECT_GT(highlighted, 0);
  EXPECT_LE(highlighted, bad);

  const std::string png = dir + "/report.png";
  RunChromium(chromium, "--window-size=1450,900 --screenshot=" + png + " file://" + page);
  std::ifstream file(png, std::ios::binary);
  ASSERT_TRUE(file.good()) << "chromium wrote no screenshot";
  std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes.substr(0, 8), "\x89PNG\r\n\x1a\n");
  EXPECT_GT(bytes.size(), 10'000u) << "suspiciously small (blank?) screenshot";
}

}  // namespace
}  // namespace meridian::checks
