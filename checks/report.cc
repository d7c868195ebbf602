#include "checks/report.h"

#include <algorithm>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "checks/assert.h"

namespace meridian::checks {

Verdict CombinedVerdict(const std::vector<CheckReport>& reports) {
  Verdict verdict = Verdict::kValid;
  for (const CheckReport& r : reports) {
    if (r.verdict == Verdict::kInvalid) return Verdict::kInvalid;
    if (r.verdict == Verdict::kUnknown) verdict = Verdict::kUnknown;
  }
  return verdict;
}

std::string TextSummary(const std::string& history_name, const History& history,
                        const std::vector<CheckReport>& reports) {
  std::string out = absl::StrFormat("history %s: %d operations by %d processes\n", history_name,
                                    history.operations.size(), history.processes_count);
  for (const CheckReport& r : reports) {
    CHECKS_ASSERT(r.findings.empty() == (r.verdict != Verdict::kInvalid));
    absl::btree_map<std::string, int64_t> counts;
    for (const Finding& f : r.findings) counts[f.kind]++;
    absl::StrAppendFormat(&out, "checker %s: %s", r.checker, VerdictName(r.verdict));
    if (!counts.empty()) {
      std::vector<std::string> parts;
      for (const auto& [kind, count] : counts) parts.push_back(absl::StrCat(count, " ", kind));
      absl::StrAppend(&out, " (", absl::StrJoin(parts, ", "), ")");
    }
    out.push_back('\n');
    for (const std::string& note : r.notes) absl::StrAppend(&out, "  note: ", note, "\n");
    const int64_t shown = std::min<int64_t>(r.findings.size(), kTextFindingsMax);
    for (int64_t i = 0; i < shown; i++) {
      absl::StrAppend(&out, "  ", r.findings[i].kind, ": ", r.findings[i].detail, "\n");
    }
    if (static_cast<int64_t>(r.findings.size()) > shown) {
      absl::StrAppendFormat(&out, "  ... and %d more\n", r.findings.size() - shown);
    }
  }
  absl::StrAppend(&out, "verdict: ", VerdictName(CombinedVerdict(reports)), "\n");
  return out;
}

namespace {

std::string Escape(std::string_view s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string OperationLabel(const Operation& op) {
  std::string label = absl::StrCat(FunctionName(op.f));
  switch (op.f) {
    case Function::kSend:
      absl::StrAppend(&label, " p", op.partition, " [", absl::StrJoin(op.values, ","), "]");
      if (op.ok()) absl::StrAppend(&label, " @", absl::StrJoin(op.offsets, ","));
      break;
    case Function::kPoll:
      absl::StrAppend(&label, " ", op.reads.size(), " records");
      for (size_t i = 0; i < std::min<size_t>(op.reads.size(), 6); i++) {
        absl::StrAppend(&label, " p", op.reads[i].partition, "@", op.reads[i].offset, "=",
                        op.reads[i].value);
      }
      break;
    case Function::kRead:
    case Function::kWrite:
    case Function::kCas: {
      auto value = [](int64_t v) { return v == kValueNone ? "null" : absl::StrCat(v); };
      if (!op.key.empty()) absl::StrAppend(&label, " ", op.key);
      if (op.f == Function::kCas) absl::StrAppend(&label, " ", value(op.expected), "->");
      if (op.f != Function::kRead || op.ok()) absl::StrAppend(&label, " ", value(op.value));
      break;
    }
    default:
      break;
  }
  return absl::StrCat(label, " : ", OutcomeName(op.outcome));
}

// The operations to draw: all of them, or a window of ids around the first findings.
std::pair<int64_t, int64_t> TimelineWindow(const History& history, int64_t center) {
  const int64_t n = static_cast<int64_t>(history.operations.size());
  if (n <= kTimelineOperationsMax) return {0, n};
  const int64_t first =
      std::clamp<int64_t>(center - kTimelineOperationsMax / 2, 0, n - kTimelineOperationsMax);
  return {first, first + kTimelineOperationsMax};
}

void AppendTimeline(const History& history, const absl::btree_set<int64_t>& offending,
                    int64_t center, std::string* out) {
  const auto [first, last] = TimelineWindow(history, center);
  CHECKS_ASSERT(first <= last);
  absl::btree_map<int64_t, int64_t> row_of;  // process -> row
  int64_t t0 = INT64_MAX;
  int64_t t1 = 0;
  for (int64_t i = first; i < last; i++) {
    const Operation& op = history.operations[i];
    row_of.try_emplace(op.process, 0);
    t0 = std::min(t0, op.invoke_ns);
    t1 = std::max(t1, op.complete_ns == kTimeNsInfinite ? op.invoke_ns : op.complete_ns);
  }
  int64_t row = 0;
  for (auto& [process, r] : row_of) r = row++;
  constexpr int64_t kLabelPx = 90, kRowPx = 26, kWidthPx = 1400;
  const double span = std::max<int64_t>(t1 - t0, 1);
  const double px_per_ns = (kWidthPx - kLabelPx - 20) / span;
  absl::StrAppendFormat(out,
                        "<p>Operations %d to %d of %d, time %d ns to %d ns.</p>\n"
                        "<svg id=\"timeline\" width=\"%d\" height=\"%d\" "
                        "xmlns=\"http://www.w3.org/2000/svg\">\n",
                        first, last - 1, history.operations.size(), t0, t1, kWidthPx,
                        row * kRowPx + 10);
  for (const auto& [process, r] : row_of) {
    absl::StrAppendFormat(out,
                          "<text x=\"4\" y=\"%d\" class=\"proc\">process %d</text>"
                          "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" class=\"lane\"/>\n",
                          r * kRowPx + 18, process, kLabelPx, kWidthPx, r * kRowPx + 13,
                          r * kRowPx + 13);
  }
  for (int64_t i = first; i < last; i++) {
    const Operation& op = history.operations[i];
    const int64_t end_ns = op.indeterminate() ? t1 : op.complete_ns;
    const double x = kLabelPx + (op.invoke_ns - t0) * px_per_ns;
    const double w = std::max(2.0, (end_ns - op.invoke_ns) * px_per_ns);
    const std::string classes =
        absl::StrCat("op ", OutcomeName(op.outcome), " f-", FunctionName(op.f),
                     offending.contains(op.id) ? " bad" : "");
    absl::StrAppendFormat(out,
                          "<rect id=\"op-%d\" class=\"%s\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" "
                          "height=\"18\"><title>op %d, process %d, line %d: %s</title></rect>\n",
                          op.id, classes, x, row_of.at(op.process) * kRowPx + 4, w, op.id,
                          op.process, op.invoke_line, Escape(OperationLabel(op)));
    constexpr double kCharPx = 6.5;
    if (w >= 8 * kCharPx) {  // label the bar with as much as fits
      const std::string label = OperationLabel(op).substr(0, static_cast<size_t>(w / kCharPx) - 1);
      absl::StrAppendFormat(out, "<text x=\"%.1f\" y=\"%d\" class=\"label\">%s</text>\n", x + 3,
                            row_of.at(op.process) * kRowPx + 17, Escape(label));
    }
  }
  out->append("</svg>\n");
}

constexpr char kStyle[] = R"(<style>
body { font-family: sans-serif; margin: 1.5em; color: #222; }
.verdict-valid { color: #1a7f37; } .verdict-invalid { color: #cf222e; }
.verdict-unknown { color: #9a6700; }
li.finding { margin: 0.4em 0; cursor: pointer; white-space: pre-wrap; font-family: monospace; }
li.finding.selected { background: #fff3b0; }
.proc { font-size: 12px; } .lane { stroke: #ddd; }
.label { font: 11px monospace; pointer-events: none; }
rect.op { stroke: #555; stroke-width: 0.5; opacity: 0.85; }
rect.ok { fill: #8ecae6; } rect.fail { fill: #ccc; }
rect.info { fill: #ffe08a; stroke-dasharray: 3 2; }
rect.bad { fill: #e5484d; stroke: #7a0c10; stroke-width: 2; opacity: 1; }
rect.selected { stroke: #000; stroke-width: 3; }
.legend span { display: inline-block; padding: 0 0.6em; margin-right: 0.5em; }
</style>
)";

// Clicking a finding outlines its operations; the status line proves the page's script ran and
// counts what the browser actually laid out (the headless-Chromium test reads it).
constexpr char kScript[] = R"(<script>
for (const li of document.querySelectorAll('li.finding')) {
  li.addEventListener('click', () => {
    for (const e of document.querySelectorAll('.selected')) e.classList.remove('selected');
    li.classList.add('selected');
    for (const id of li.dataset.ops.split(' ')) {
      const r = document.getElementById('op-' + id);
      if (r) r.classList.add('selected');
    }
  });
}
const drawn = [...document.querySelectorAll('rect.op')].filter(r => r.getBBox().width > 0);
const bad = document.querySelectorAll('rect.op.bad').length;
document.getElementById('render-status').textContent =
    'rendered ' + drawn.length + ' operations, ' + bad + ' highlighted';
</script>
)";

// The operation the timeline centers on: the first finding's focus.
int64_t FocusOf(const std::vector<CheckReport>& reports) {
  for (const CheckReport& r : reports) {
    for (const Finding& f : r.findings) {
      CHECKS_ASSERT(!f.operation_ids.empty());
      return f.focus_op_id >= 0 ? f.focus_op_id : f.operation_ids.front();
    }
  }
  return 0;
}

}  // namespace

std::string HtmlReport(const std::string& history_name, const History& history,
                       const std::vector<CheckReport>& reports) {
  const Verdict verdict = CombinedVerdict(reports);
  std::string out = absl::StrCat("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>",
                                 Escape(history_name), ": ", VerdictName(verdict), "</title>\n",
                                 kStyle, "</head><body>\n");
  absl::StrAppendFormat(&out, "<h1>%s: <span class=\"verdict-%s\">%s</span></h1>\n",
                        Escape(history_name), VerdictName(verdict), VerdictName(verdict));
  absl::btree_set<int64_t> offending;
  for (const CheckReport& r : reports) {
    absl::StrAppendFormat(&out, "<h2>checker %s: <span class=\"verdict-%s\">%s</span></h2>\n",
                          Escape(r.checker), VerdictName(r.verdict), VerdictName(r.verdict));
    for (const std::string& note : r.notes) absl::StrAppend(&out, "<p>", Escape(note), "</p>\n");
    if (r.findings.empty()) continue;
    out.append("<ol>\n");
    const int64_t shown = std::min<int64_t>(r.findings.size(), kTextFindingsMax);
    for (int64_t i = 0; i < shown; i++) {
      const Finding& f = r.findings[i];
      offending.insert(f.operation_ids.begin(), f.operation_ids.end());
      absl::StrAppendFormat(&out, "<li class=\"finding\" data-ops=\"%s\"><b>%s</b>: %s</li>\n",
                            absl::StrJoin(f.operation_ids, " "), Escape(f.kind), Escape(f.detail));
    }
    out.append("</ol>\n");
    if (static_cast<int64_t>(r.findings.size()) > shown) {
      absl::StrAppendFormat(&out, "<p>... and %d more findings.</p>\n", r.findings.size() - shown);
    }
  }
  out.append(
      "<h2>Timeline</h2>\n<p class=\"legend\"><span style=\"background:#8ecae6\">ok</span>"
      "<span style=\"background:#ccc\">fail</span><span style=\"background:#ffe08a\">info "
      "(may take effect any time later)</span><span style=\"background:#e5484d\">offending"
      "</span> Hover an operation for details; click a finding to outline its operations.</p>\n");
  AppendTimeline(history, offending, FocusOf(reports), &out);
  out.append("<p id=\"render-status\">not rendered (the script did not run)</p>\n");
  absl::StrAppend(&out, kScript, "</body></html>\n");
  return out;
}

}  // namespace meridian::checks
