// Fuzz target: the history reader (checks/history.h, checks/json.h) on arbitrary text, and the
// checkers on whatever it accepts. A history file comes from a harness, possibly another
// system's, possibly truncated or garbled: the reader must answer with a line-numbered status,
// never crash, and what it accepts must be safe to hand to every checker.
//
// Input: the text of a history file (docs/history-format.md).
// Checked, for any input:
//   - ParseHistory returns a History or a status;
//   - an accepted history formats (FormatHistory) to text that parses again and formats to the
//     same text (the writer and the reader agree on the format);
//   - the log checker runs on it, and so does the linearizability checker (every model) when
//     the history is small enough for its exponential search to stay cheap.
// Seeds: fuzz/corpus/history (make_corpus.cc; the checks/testdata examples among them).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "checks/assert.h"
#include "checks/history.h"
#include "checks/linearizability.h"
#include "checks/log_checker.h"

namespace meridian::fuzz {
namespace {

// The WGL search is exponential in concurrent operations; the fuzzer hunts parser and checker
// crashes, not slow searches, so only small histories are searched.
constexpr size_t kLinearizabilityOperationsMax = 12;

void Run(std::string_view text) {
  absl::StatusOr<checks::History> history = checks::ParseHistory(text);
  if (!history.ok()) {
    CHECKS_ASSERT(!history.status().message().empty());
    return;
  }
  const std::string formatted = checks::FormatHistory(*history);
  absl::StatusOr<checks::History> again = checks::ParseHistory(formatted);
  CHECKS_ASSERT_MSG(again.ok(), std::string(again.status().message()).c_str());
  CHECKS_ASSERT(again->operations.size() == history->operations.size());
  CHECKS_ASSERT_MSG(checks::FormatHistory(*again) == formatted, "formatting is not stable");
  (void)checks::CheckLog(*history, checks::LogCheckOptions{});
  if (history->operations.size() <= kLinearizabilityOperationsMax) {
    for (checks::ModelKind model :
         {checks::ModelKind::kRegister, checks::ModelKind::kKeyValue, checks::ModelKind::kLog}) {
      checks::LinearizabilityOptions options;
      options.model = model;
      options.time_limit = absl::Seconds(5);
      (void)checks::CheckLinearizability(*history, options);
    }
  }
}

}  // namespace
}  // namespace meridian::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  meridian::fuzz::Run(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
