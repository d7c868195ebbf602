// A small, strict JSON reader for history files (one JSON object per line).
//
// Why our own: the build is offline against Debian's packages and none of them is a JSON library
// we may depend on. The history format needs only a subset of JSON, and being strict about it
// turns a harness bug into a clear error instead of a silently wrong check:
//   - numbers must be integers that fit in int64 (no fractions, exponents, leading zeros, or '+');
//   - objects may not repeat a key;
//   - nesting is limited to `kDepthMax`, strings to `kStringBytesMax`;
//   - nothing but whitespace may follow the top-level value.
// Errors are absl::InvalidArgumentError with the column (1-based) and what was expected; the
// history reader prefixes the line number.
#ifndef MERIDIAN_CHECKS_JSON_H_
#define MERIDIAN_CHECKS_JSON_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace meridian::checks::json {

inline constexpr int kDepthMax = 16;
inline constexpr int64_t kStringBytesMax = 1 << 20;

enum class Kind { kNull, kBool, kInt, kString, kArray, kObject };

const char* KindName(Kind kind);

// An immutable JSON value. Objects keep their members in input order (keys are unique).
class Value {
 public:
  Value() = default;  // null
  static Value Bool(bool b);
  static Value Int(int64_t i);
  static Value String(std::string s);
  static Value Array(std::vector<Value> items);
  static Value Object(std::vector<std::pair<std::string, Value>> members);

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  // The accessors crash when called on the wrong kind: callers check kind() first.
  bool as_bool() const;
  int64_t as_int() const;
  const std::string& as_string() const;
  const std::vector<Value>& as_array() const;
  const std::vector<std::pair<std::string, Value>>& as_object() const;
  // Member lookup for objects; nullptr when absent.
  const Value* Find(std::string_view key) const;

 private:
  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  int64_t int_ = 0;
  std::string string_;
  std::vector<Value> array_;
  std::vector<std::pair<std::string, Value>> object_;
};

// Parses exactly one JSON value from `text` (surrounding whitespace allowed).
absl::StatusOr<Value> Parse(std::string_view text);

// Appends `s` to `out` as a JSON string literal (with quotes), escaping as needed.
void AppendQuoted(std::string_view s, std::string* out);

}  // namespace meridian::checks::json

#endif  // MERIDIAN_CHECKS_JSON_H_
