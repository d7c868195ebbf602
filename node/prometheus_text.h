// A writer of the Prometheus text exposition format 0.0.4 (what `promtool check metrics` reads):
// each family's `# HELP` and `# TYPE` once, before its samples; label values escaped; histograms
// as cumulative `_bucket{le=...}` samples ending in `+Inf`, then `_sum` and `_count`.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/metrics/histogram.h"

namespace meridian::node {

using Labels = std::vector<std::pair<std::string, std::string>>;

// `value` escaped for a label value: backslash, double quote and newline.
std::string EscapeLabelValue(std::string_view value);

class PrometheusText {
 public:
  // Starts a family. `type` is "counter", "gauge" or "histogram" (checked); `name` must not have
  // been started before (checked), so a family's samples are never split.
  void Family(std::string_view name, std::string_view type, std::string_view help);
  // One sample of the family started last (a histogram's are written by Histogram()).
  void Sample(Labels labels, double value);
  // One histogram of the (histogram) family started last; observations and the sum are
  // divided by `divisor` (1e9 turns nanoseconds into seconds).
  void Histogram(Labels labels, const core::metrics::Histogram& histogram, double divisor);
  // Family + one sample, for the common single-sample case.
  void One(std::string_view name, std::string_view type, std::string_view help, Labels labels,
           double value);

  const std::string& text() const { return out_; }

 private:
  void Line(std::string_view suffix, const Labels& labels, double value);

  std::string out_;
  std::string family_;
  std::string type_;
  std::vector<std::string> started_;
};

}  // namespace meridian::node
