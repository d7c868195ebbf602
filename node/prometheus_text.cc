#include "node/prometheus_text.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "io/assert.h"

namespace meridian::node {
namespace {

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", value);
}

}  // namespace

std::string EscapeLabelValue(std::string_view value) {
  std::string escaped;
  for (char c : value) {
    if (c == '\\') {
      escaped += "\\\\";
    } else if (c == '"') {
      escaped += "\\\"";
    } else if (c == '\n') {
      escaped += "\\n";
    } else {
      escaped += c;
    }
  }
  return escaped;
}

void PrometheusText::Family(std::string_view name, std::string_view type, std::string_view help) {
  MERIDIAN_CHECK(type == "counter" || type == "gauge" || type == "histogram", "type {}", type);
  MERIDIAN_CHECK(std::find(started_.begin(), started_.end(), name) == started_.end(),
                 "family {} written twice", name);
  if (type == "counter") MERIDIAN_CHECK(name.ends_with("_total"), "counter {}", name);
  started_.emplace_back(name);
  family_ = std::string(name);
  type_ = std::string(type);
  out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void PrometheusText::Line(std::string_view suffix, const Labels& labels, double value) {
  out_ += family_;
  out_ += suffix;
  if (!labels.empty()) {
    out_ += '{';
    for (size_t i = 0; i < labels.size(); i++) {
      if (i > 0) out_ += ',';
      out_ += fmt::format("{}=\"{}\"", labels[i].first, EscapeLabelValue(labels[i].second));
    }
    out_ += '}';
  }
  out_ += ' ';
  out_ += FormatValue(value);
  out_ += '\n';
}

void PrometheusText::Sample(Labels labels, double value) {
  MERIDIAN_CHECK(!family_.empty() && type_ != "histogram", "sample outside a family");
  Line("", labels, value);
}

void PrometheusText::Histogram(Labels labels, const core::metrics::Histogram& histogram,
                               double divisor) {
  MERIDIAN_CHECK(type_ == "histogram", "histogram samples in a {} family", type_);
  Labels bucket_labels = labels;
  bucket_labels.emplace_back("le", "");
  for (size_t i = 0; i < histogram.bucket_count(); i++) {
    bucket_labels.back().second =
        FormatValue(static_cast<double>(histogram.upper_bound(i)) / divisor);
    Line("_bucket", bucket_labels, static_cast<double>(histogram.cumulative_count(i)));
  }
  bucket_labels.back().second = "+Inf";
  Line("_bucket", bucket_labels, static_cast<double>(histogram.count()));
  Line("_sum", labels, static_cast<double>(histogram.sum()) / divisor);
  Line("_count", labels, static_cast<double>(histogram.count()));
}

void PrometheusText::One(std::string_view name, std::string_view type, std::string_view help,
                         Labels labels, double value) {
  Family(name, type, help);
  Sample(std::move(labels), value);
}

}  // namespace meridian::node
