// Reports of a check: a plain-text summary for CI logs, and a self-contained HTML page for a
// failing history showing each process's operations on a timeline, offending ones highlighted.
// Both are deterministic functions of the history and the check reports.
#ifndef MERIDIAN_CHECKS_REPORT_H_
#define MERIDIAN_CHECKS_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "checks/history.h"
#include "checks/verdict.h"

namespace meridian::checks {

// Findings listed per checker before the text summary says "... and N more".
inline constexpr int64_t kTextFindingsMax = 100;
// Operations drawn on the HTML timeline; longer histories show a window around the findings.
inline constexpr int64_t kTimelineOperationsMax = 2000;

// The verdict of several checkers together: invalid if any is, else unknown if any is.
Verdict CombinedVerdict(const std::vector<CheckReport>& reports);

std::string TextSummary(const std::string& history_name, const History& history,
                        const std::vector<CheckReport>& reports);

std::string HtmlReport(const std::string& history_name, const History& history,
                       const std::vector<CheckReport>& reports);

}  // namespace meridian::checks

#endif  // MERIDIAN_CHECKS_REPORT_H_
