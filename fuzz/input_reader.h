// fuzz::InputReader: a cursor over a fuzz input, for targets whose input is a script of actions
// (the raft and broker targets) rather than one message. Reads never fail: past the end they
// return zeros and empty spans, so every byte string is a valid script and the fuzzer's
// mutations never fall off a cliff of "rejected before anything ran".
//
// The script encodings built on it are documented in each target and produced by make_corpus.cc.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

namespace meridian::fuzz {

class InputReader {
 public:
  explicit InputReader(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  bool empty() const { return position_ >= bytes_.size(); }
  size_t remaining() const { return bytes_.size() - position_; }

  uint8_t Byte() {
    if (empty()) return 0;
    return bytes_[position_++];
  }
  // Little-endian, like every length on Meridian's wire.
  uint16_t U16() {
    const uint16_t low = Byte();
    return static_cast<uint16_t>(low | (uint16_t{Byte()} << 8));
  }
  uint32_t U32() {
    const uint32_t low = U16();
    return low | (uint32_t{U16()} << 16);
  }
  // Up to `bytes_wanted` bytes (fewer at the end of the input).
  std::span<const uint8_t> Bytes(size_t bytes_wanted) {
    const size_t n = std::min(bytes_wanted, remaining());
    const std::span<const uint8_t> out = bytes_.subspan(position_, n);
    position_ += n;
    return out;
  }
  std::span<const uint8_t> Rest() { return Bytes(remaining()); }

 private:
  std::span<const uint8_t> bytes_;
  size_t position_ = 0;
};

}  // namespace meridian::fuzz
