// core::kafka::Reader and Writer: the Kafka protocol's primitive types (big-endian integers,
// int16-length strings, int32-length bytes, zig-zag varints) over a byte span.
//
// Reader never trusts a length: every read checks it against the bytes left, a failed read sets
// a sticky error (the first one is kept, with where it happened) and returns a zero value, so a
// decoder reads a whole structure and checks ok() once. Array counts are bounded by the bytes
// left (every element takes at least one byte) and by a caller's maximum.
//
// Pure: no I/O, no allocation beyond what a read returns.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace meridian::core::kafka {

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  int8_t Int8();
  int16_t Int16();
  int32_t Int32();
  int64_t Int64();
  bool Bool() { return Int8() != 0; }
  // int16 length then bytes; -1 (null) reads as "" and, for the nullable form, nullopt.
  std::string String();
  std::optional<std::string> NullableString();
  // int32 length then bytes, as a view into the input; null reads as an empty span.
  std::span<const uint8_t> Bytes();
  // Zig-zag varints (record batch v2): at most 5 and 10 bytes.
  int32_t VarInt();
  int64_t VarLong();
  // A varint length then bytes (record batch fields); -1 is null (nullopt).
  std::optional<std::span<const uint8_t>> VarBytes();
  // An int32 array count in [0, count_max] (and no more than the bytes left); -1 (a null
  // array) reads as 0. Out of range sets the error and returns 0.
  size_t ArrayCount(size_t count_max);
  // Whether the next int32 (an array count, not read) is -1: a nullable array that is null.
  bool NextArrayIsNull() const;
  std::span<const uint8_t> Raw(size_t n);

  bool ok() const { return status_.ok(); }
  const absl::Status& status() const { return status_; }
  size_t position() const { return position_; }
  size_t remaining() const { return bytes_.size() - position_; }
  // Sets the error (if none yet): a decoder's own check failed.
  void Fail(std::string_view what);

 private:
  bool Need(size_t n, std::string_view what);
  uint64_t VarUnsigned(int bytes_max, std::string_view what);

  std::span<const uint8_t> bytes_;
  size_t position_ = 0;
  absl::Status status_;
};

class Writer {
 public:
  void Int8(int8_t v) { bytes_.push_back(static_cast<uint8_t>(v)); }
  void Int16(int16_t v);
  void Int32(int32_t v);
  void Int64(int64_t v);
  void Bool(bool v) { Int8(v ? 1 : 0); }
  void String(std::string_view s);  // The caller keeps s within int16 (names are bounded).
  void NullableString(const std::optional<std::string>& s);
  void Bytes(std::span<const uint8_t> b);
  void NullBytes() { Int32(-1); }
  void VarInt(int32_t v) { VarLong(v); }
  void VarLong(int64_t v);
  void VarBytes(const std::optional<std::span<const uint8_t>>& b);
  void Raw(std::span<const uint8_t> b) { bytes_.insert(bytes_.end(), b.begin(), b.end()); }
  void ArrayCount(size_t n) { Int32(static_cast<int32_t>(n)); }
  // Overwrites 4 bytes at `at` (a length or CRC written after what it covers).
  void PatchInt32(size_t at, int32_t v);

  size_t size() const { return bytes_.size(); }
  std::vector<uint8_t>& bytes() { return bytes_; }
  std::vector<uint8_t> Take() { return std::move(bytes_); }

 private:
  std::vector<uint8_t> bytes_;
};

// A decoded request, or the reader's first error; bytes left over are an error too.
template <typename T>
absl::StatusOr<T> Finish(const Reader& reader, T request, std::string_view what) {
  if (!reader.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("{}: {}", what, std::string(reader.status().message())));
  }
  if (reader.remaining() != 0) {
    return absl::InvalidArgumentError(
        fmt::format("{}: {} bytes after the request", what, reader.remaining()));
  }
  return request;
}

}  // namespace meridian::core::kafka
