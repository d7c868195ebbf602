// core::kafka::Reader and Writer (bytes.h).
#include "core/kafka/bytes.h"

#include <fmt/format.h>

#include "io/assert.h"

namespace meridian::core::kafka {

void Reader::Fail(std::string_view what) {
  if (!status_.ok()) return;
  status_ = absl::InvalidArgumentError(fmt::format("{} at byte {}", what, position_));
}

bool Reader::Need(size_t n, std::string_view what) {
  if (!status_.ok()) return false;
  if (n > remaining()) {
    Fail(fmt::format("truncated {} ({} bytes wanted, {} left)", what, n, remaining()));
    return false;
  }
  return true;
}

int8_t Reader::Int8() {
  if (!Need(1, "int8")) return 0;
  return static_cast<int8_t>(bytes_[position_++]);
}

int16_t Reader::Int16() {
  if (!Need(2, "int16")) return 0;
  const uint16_t v = static_cast<uint16_t>((bytes_[position_] << 8) | bytes_[position_ + 1]);
  position_ += 2;
  return static_cast<int16_t>(v);
}

int32_t Reader::Int32() {
  if (!Need(4, "int32")) return 0;
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v = (v << 8) | bytes_[position_++];
  return static_cast<int32_t>(v);
}

int64_t Reader::Int64() {
  if (!Need(8, "int64")) return 0;
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | bytes_[position_++];
  return static_cast<int64_t>(v);
}

std::optional<std::string> Reader::NullableString() {
  const int16_t length = Int16();
  if (!ok() || length == -1) return std::nullopt;
  if (length < 0) {
    Fail(fmt::format("string length {}", length));
    return std::nullopt;
  }
  std::span<const uint8_t> raw = Raw(static_cast<size_t>(length));
  return std::string(raw.begin(), raw.end());
}

std::string Reader::String() { return NullableString().value_or(std::string()); }

std::span<const uint8_t> Reader::Bytes() {
  const int32_t length = Int32();
  if (!ok() || length == -1) return {};
  if (length < 0) {
    Fail(fmt::format("bytes length {}", length));
    return {};
  }
  return Raw(static_cast<size_t>(length));
}

std::span<const uint8_t> Reader::Raw(size_t n) {
  if (!Need(n, "bytes")) return {};
  std::span<const uint8_t> out = bytes_.subspan(position_, n);
  position_ += n;
  return out;
}

uint64_t Reader::VarUnsigned(int bytes_max, std::string_view what) {
  uint64_t v = 0;
  for (int i = 0; i < bytes_max; i++) {
    if (!Need(1, what)) return 0;
    const uint8_t b = bytes_[position_++];
    v |= uint64_t{b & 0x7fu} << (7 * i);
    if ((b & 0x80) == 0) return v;
  }
  Fail(fmt::format("{} longer than {} bytes", what, bytes_max));
  return 0;
}

int32_t Reader::VarInt() {
  const uint64_t u = VarUnsigned(5, "varint");
  if (u > UINT32_MAX) {
    Fail("varint over 32 bits");
    return 0;
  }
  const uint32_t v = static_cast<uint32_t>(u);
  return static_cast<int32_t>((v >> 1) ^ (~(v & 1) + 1));
}

int64_t Reader::VarLong() {
  const uint64_t v = VarUnsigned(10, "varlong");
  return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
}

std::optional<std::span<const uint8_t>> Reader::VarBytes() {
  const int32_t length = VarInt();
  if (!ok() || length == -1) return std::nullopt;
  if (length < 0) {
    Fail(fmt::format("varint length {}", length));
    return std::nullopt;
  }
  return Raw(static_cast<size_t>(length));
}

bool Reader::NextArrayIsNull() const {
  return ok() && remaining() >= 4 && Reader(bytes_.subspan(position_, 4)).Int32() == -1;
}

size_t Reader::ArrayCount(size_t count_max) {
  const int32_t count = Int32();
  if (!ok() || count == -1) return 0;
  if (count < 0 || static_cast<size_t>(count) > count_max ||
      static_cast<size_t>(count) > remaining()) {
    Fail(fmt::format("array of {} elements ({} at most, {} bytes left)", count, count_max,
                     remaining()));
    return 0;
  }
  return static_cast<size_t>(count);
}

void Writer::Int16(int16_t v) {
  const uint16_t u = static_cast<uint16_t>(v);
  bytes_.push_back(static_cast<uint8_t>(u >> 8));
  bytes_.push_back(static_cast<uint8_t>(u));
}

void Writer::Int32(int32_t v) {
  const uint32_t u = static_cast<uint32_t>(v);
  for (int shift = 24; shift >= 0; shift -= 8) bytes_.push_back(static_cast<uint8_t>(u >> shift));
}

void Writer::Int64(int64_t v) {
  const uint64_t u = static_cast<uint64_t>(v);
  for (int shift = 56; shift >= 0; shift -= 8) bytes_.push_back(static_cast<uint8_t>(u >> shift));
}

void Writer::String(std::string_view s) {
  MERIDIAN_CHECK(s.size() <= INT16_MAX, "a {} byte string", s.size());
  Int16(static_cast<int16_t>(s.size()));
  bytes_.insert(bytes_.end(), s.begin(), s.end());
}

void Writer::NullableString(const std::optional<std::string>& s) {
  if (!s.has_value()) {
    Int16(-1);
    return;
  }
  String(*s);
}

void Writer::Bytes(std::span<const uint8_t> b) {
  MERIDIAN_CHECK(b.size() <= INT32_MAX);
  Int32(static_cast<int32_t>(b.size()));
  Raw(b);
}

void Writer::VarLong(int64_t v) {
  uint64_t u = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
  while (u >= 0x80) {
    bytes_.push_back(static_cast<uint8_t>(u | 0x80));
    u >>= 7;
  }
  bytes_.push_back(static_cast<uint8_t>(u));
}

void Writer::VarBytes(const std::optional<std::span<const uint8_t>>& b) {
  if (!b.has_value()) {
    VarInt(-1);
    return;
  }
  MERIDIAN_CHECK(b->size() <= INT32_MAX);
  VarInt(static_cast<int32_t>(b->size()));
  Raw(*b);
}

void Writer::PatchInt32(size_t at, int32_t v) {
  MERIDIAN_CHECK(at + 4 <= bytes_.size());
  const uint32_t u = static_cast<uint32_t>(v);
  for (int i = 0; i < 4; i++) bytes_[at + i] = static_cast<uint8_t>(u >> (24 - 8 * i));
}

}  // namespace meridian::core::kafka
