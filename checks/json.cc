#include "checks/json.h"

#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "checks/assert.h"

namespace meridian::checks::json {

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kNull:
      return "null";
    case Kind::kBool:
      return "boolean";
    case Kind::kInt:
      return "integer";
    case Kind::kString:
      return "string";
    case Kind::kArray:
      return "array";
    case Kind::kObject:
      return "object";
  }
  CHECKS_ASSERT_MSG(false, "unknown json kind");
  return "";
}

Value Value::Bool(bool b) {
  Value v;
  v.kind_ = Kind::kBool;
  v.bool_ = b;
  return v;
}

Value Value::Int(int64_t i) {
  Value v;
  v.kind_ = Kind::kInt;
  v.int_ = i;
  return v;
}

Value Value::String(std::string s) {
  Value v;
  v.kind_ = Kind::kString;
  v.string_ = std::move(s);
  return v;
}

Value Value::Array(std::vector<Value> items) {
  Value v;
  v.kind_ = Kind::kArray;
  v.array_ = std::move(items);
  return v;
}

Value Value::Object(std::vector<std::pair<std::string, Value>> members) {
  Value v;
  v.kind_ = Kind::kObject;
  v.object_ = std::move(members);
  return v;
}

bool Value::as_bool() const {
  CHECKS_ASSERT(kind_ == Kind::kBool);
  return bool_;
}

int64_t Value::as_int() const {
  CHECKS_ASSERT(kind_ == Kind::kInt);
  return int_;
}

const std::string& Value::as_string() const {
  CHECKS_ASSERT(kind_ == Kind::kString);
  return string_;
}

const std::vector<Value>& Value::as_array() const {
  CHECKS_ASSERT(kind_ == Kind::kArray);
  return array_;
}

const std::vector<std::pair<std::string, Value>>& Value::as_object() const {
  CHECKS_ASSERT(kind_ == Kind::kObject);
  return object_;
}

const Value* Value::Find(std::string_view key) const {
  CHECKS_ASSERT(kind_ == Kind::kObject);
  for (const auto& [name, value] : object_) {
    if (name == key) return &value;
  }
  return nullptr;
}

namespace {

// Recursive-descent parser over one line. `pos_` only moves forward; every error names the
// 1-based column where it was detected.
class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  absl::StatusOr<Value> ParseDocument() {
    SkipSpace();
    absl::StatusOr<Value> value = ParseValue(0);
    if (!value.ok()) return value;
    SkipSpace();
    if (pos_ != text_.size()) return Error("unexpected text after the JSON value");
    return value;
  }

 private:
  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(absl::StrFormat("column %d: %s", pos_ + 1, what));
  }

  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\r' || text_[pos_] == '\n')) {
      pos_++;
    }
  }

  bool Consume(std::string_view literal) {
    if (text_.substr(pos_, literal.size()) != literal) return false;
    pos_ += literal.size();
    return true;
  }

  absl::StatusOr<Value> ParseValue(int depth) {
    if (depth >= kDepthMax) return Error("nesting too deep");
    if (pos_ >= text_.size()) return Error("expected a value, found end of line");
    const char c = text_[pos_];
    if (c == '{') return ParseObject(depth);
    if (c == '[') return ParseArray(depth);
    if (c == '"') {
      absl::StatusOr<std::string> s = ParseString();
      if (!s.ok()) return s.status();
      return Value::String(*std::move(s));
    }
    if (c == '-' || (c >= '0' && c <= '9')) return ParseInt();
    if (Consume("null")) return Value();
    if (Consume("true")) return Value::Bool(true);
    if (Consume("false")) return Value::Bool(false);
    return Error(absl::StrFormat("unexpected character '%c'", c));
  }

  absl::StatusOr<Value> ParseInt() {
    const size_t start = pos_;
    const bool negative = text_[pos_] == '-';
    if (negative) pos_++;
    if (pos_ >= text_.size() || text_[pos_] < '0' || text_[pos_] > '9') {
      return Error("expected a digit");
    }
    if (text_[pos_] == '0' && pos_ + 1 < text_.size() && text_[pos_ + 1] >= '0' &&
        text_[pos_ + 1] <= '9') {
      return Error("leading zeros are not allowed");
    }
    // Accumulate as a negative number so that INT64_MIN is representable.
    int64_t magnitude_negated = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      const int digit = text_[pos_] - '0';
      if (magnitude_negated < (std::numeric_limits<int64_t>::min() + digit) / 10) {
        pos_ = start;
        return Error("integer does not fit in 64 bits");
      }
      magnitude_negated = magnitude_negated * 10 - digit;
      pos_++;
    }
    if (pos_ < text_.size() && (text_[pos_] == '.' || text_[pos_] == 'e' || text_[pos_] == 'E')) {
      return Error("only integers are allowed (no fraction or exponent)");
    }
    if (negative) return Value::Int(magnitude_negated);
    if (magnitude_negated == std::numeric_limits<int64_t>::min()) {
      pos_ = start;
      return Error("integer does not fit in 64 bits");
    }
    return Value::Int(-magnitude_negated);
  }

  absl::StatusOr<uint32_t> ParseHex4() {
    if (pos_ + 4 > text_.size()) return Error("truncated \\u escape");
    uint32_t code = 0;
    for (int i = 0; i < 4; i++) {
      const char h = text_[pos_++];
      code <<= 4;
      if (h >= '0' && h <= '9') {
        code |= h - '0';
      } else if (h >= 'a' && h <= 'f') {
        code |= h - 'a' + 10;
      } else if (h >= 'A' && h <= 'F') {
        code |= h - 'A' + 10;
      } else {
        return Error("bad hex digit in \\u escape");
      }
    }
    return code;
  }

  static void AppendUtf8(uint32_t code, std::string* out) {
    CHECKS_ASSERT(code <= 0x10FFFF);
    if (code < 0x80) {
      out->push_back(static_cast<char>(code));
    } else if (code < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (code >> 6)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else if (code < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (code >> 12)));
      out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (code >> 18)));
      out->push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    }
  }

  absl::StatusOr<uint32_t> ParseUnicodeEscape() {
    absl::StatusOr<uint32_t> high = ParseHex4();
    if (!high.ok()) return high;
    if (*high >= 0xDC00 && *high <= 0xDFFF) return Error("unpaired low surrogate");
    if (*high < 0xD800 || *high > 0xDBFF) return high;
    if (!Consume("\\u")) return Error("unpaired high surrogate");
    absl::StatusOr<uint32_t> low = ParseHex4();
    if (!low.ok()) return low;
    if (*low < 0xDC00 || *low > 0xDFFF) return Error("bad low surrogate");
    return 0x10000 + ((*high - 0xD800) << 10) + (*low - 0xDC00);
  }

  absl::StatusOr<std::string> ParseString() {
    CHECKS_ASSERT(text_[pos_] == '"');
    pos_++;
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) return Error("unterminated string");
      if (static_cast<int64_t>(out.size()) > kStringBytesMax) return Error("string too long");
      const char c = text_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) return Error("control character in string");
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= text_.size()) return Error("unterminated escape");
      const char e = text_[pos_++];
      switch (e) {
        case '"':
          out.push_back('"');
          break;
        case '\\':
          out.push_back('\\');
          break;
        case '/':
          out.push_back('/');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          absl::StatusOr<uint32_t> code = ParseUnicodeEscape();
          if (!code.ok()) return code.status();
          AppendUtf8(*code, &out);
          break;
        }
        default:
          return Error(absl::StrFormat("bad escape '\\%c'", e));
      }
    }
  }

  absl::StatusOr<Value> ParseArray(int depth) {
    CHECKS_ASSERT(text_[pos_] == '[');
    pos_++;
    std::vector<Value> items;
    SkipSpace();
    if (Consume("]")) return Value::Array(std::move(items));
    while (true) {
      SkipSpace();
      absl::StatusOr<Value> item = ParseValue(depth + 1);
      if (!item.ok()) return item;
      items.push_back(*std::move(item));
      SkipSpace();
      if (Consume("]")) return Value::Array(std::move(items));
      if (!Consume(",")) return Error("expected ',' or ']' in array");
    }
  }

  absl::StatusOr<Value> ParseObject(int depth) {
    CHECKS_ASSERT(text_[pos_] == '{');
    pos_++;
    std::vector<std::pair<std::string, Value>> members;
    SkipSpace();
    if (Consume("}")) return Value::Object(std::move(members));
    while (true) {
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != '"') return Error("expected a quoted key");
      absl::StatusOr<std::string> key = ParseString();
      if (!key.ok()) return key.status();
      for (const auto& member : members) {
        if (member.first == *key) return Error(absl::StrFormat("duplicate key \"%s\"", *key));
      }
      SkipSpace();
      if (!Consume(":")) return Error("expected ':' after key");
      SkipSpace();
      absl::StatusOr<Value> value = ParseValue(depth + 1);
      if (!value.ok()) return value;
      members.emplace_back(*std::move(key), *std::move(value));
      SkipSpace();
      if (Consume("}")) return Value::Object(std::move(members));
      if (!Consume(",")) return Error("expected ',' or '}' in object");
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<Value> Parse(std::string_view text) { return Parser(text).ParseDocument(); }

void AppendQuoted(std::string_view s, std::string* out) {
  out->push_back('"');
  for (const char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out->append(absl::StrFormat("\\u%04x", static_cast<int>(c)));
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

}  // namespace meridian::checks::json
