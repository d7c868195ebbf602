#include "io/frame.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <string>

namespace meridian::io {
namespace {

// A stream over a fixed byte string, handing out at most `chunk` bytes per Read so frames
// straddle reads. Never blocks, so it needs no fiber.
class MemoryStream final : public Stream {
 public:
  MemoryStream(std::vector<uint8_t> bytes, size_t chunk)
      : bytes_(std::move(bytes)), chunk_(chunk) {}
  absl::StatusOr<size_t> Read(std::span<uint8_t> buffer, Instant) override {
    const size_t n = std::min({buffer.size(), chunk_, bytes_.size() - position_});
    std::copy_n(bytes_.begin() + static_cast<ptrdiff_t>(position_), n, buffer.begin());
    position_ += n;
    return n;
  }
  absl::Status Write(std::span<const uint8_t>, Instant) override { return absl::OkStatus(); }
  void Close() override {}
  std::string peer() const override { return "memory"; }

 private:
  std::vector<uint8_t> bytes_;
  size_t chunk_;
  size_t position_ = 0;
};

// Hands out `bytes` (at most `chunk` per Read), then stalls: every later Read times out, as a
// peer that sent a header and nothing else would make a real stream do.
class StallingStream final : public Stream {
 public:
  StallingStream(std::vector<uint8_t> bytes, size_t chunk)
      : bytes_(std::move(bytes)), chunk_(chunk) {}
  absl::StatusOr<size_t> Read(std::span<uint8_t> buffer, Instant) override {
    if (position_ == bytes_.size()) return absl::DeadlineExceededError("peer stalled");
    const size_t n = std::min({buffer.size(), chunk_, bytes_.size() - position_});
    std::copy_n(bytes_.begin() + static_cast<ptrdiff_t>(position_), n, buffer.begin());
    position_ += n;
    return n;
  }
  absl::Status Write(std::span<const uint8_t>, Instant) override { return absl::OkStatus(); }
  void Close() override {}
  std::string peer() const override { return "stalling"; }

 private:
  std::vector<uint8_t> bytes_;
  size_t chunk_;
  size_t position_ = 0;
};

std::vector<uint8_t> Concat(const std::vector<std::vector<uint8_t>>& frames) {
  std::vector<uint8_t> all;
  for (const auto& frame : frames) all.insert(all.end(), frame.begin(), frame.end());
  return all;
}

RC_GTEST_PROP(Frame, RoundTripsAnyPayloadsThroughAnyChunking,
              (const std::vector<std::vector<uint8_t>>& payloads, uint8_t chunk)) {
  std::vector<std::vector<uint8_t>> frames;
  for (const auto& payload : payloads) frames.push_back(EncodeFrame(payload));
  MemoryStream stream(Concat(frames), std::max<size_t>(1, chunk));
  FrameReader reader(stream);
  for (const auto& payload : payloads) {
    absl::StatusOr<std::vector<uint8_t>> read = reader.Read(Instant::Infinite());
    RC_ASSERT(read.ok());
    RC_ASSERT(*read == payload);
  }
  RC_ASSERT(absl::IsOutOfRange(reader.Read(Instant::Infinite()).status()));
}

RC_GTEST_PROP(Frame, AnySingleBitFlipIsDetected,
              (const std::vector<uint8_t>& payload, size_t bit)) {
  RC_PRE(!payload.empty());
  std::vector<uint8_t> frame = EncodeFrame(payload);
  // Flip a bit in the CRC or the payload (a flip in the length is covered below).
  const size_t position = 4 * 8 + bit % ((frame.size() - 4) * 8);
  frame[position / 8] ^= static_cast<uint8_t>(1u << (position % 8));
  MemoryStream stream(frame, 64);
  FrameReader reader(stream);
  RC_ASSERT(absl::IsDataLoss(reader.Read(Instant::Infinite()).status()));
}

TEST(Frame, OversizedLengthIsRejectedBeforeReadingThePayload) {
  std::vector<uint8_t> frame = EncodeFrame(std::vector<uint8_t>{'x'});
  frame[3] = 0x7f;
  MemoryStream stream(frame, 64);
  FrameReader reader(stream);
  absl::StatusOr<std::vector<uint8_t>> read = reader.Read(Instant::Infinite());
  EXPECT_TRUE(absl::IsDataLoss(read.status()));
  EXPECT_NE(read.status().message().find("exceeds the maximum"), std::string::npos);
}

// A header that declares the largest frame, then silence: the reader must not allocate the
// declared 16 MiB up front (one 8-byte header per connection would cost 16 MiB each).
TEST(Frame, AHeaderDeclaringTheMaximumThenSilenceCostsASmallBuffer) {
  std::vector<uint8_t> frame = EncodeFrame(std::vector<uint8_t>(kMessageBytesMax, 7));
  frame.resize(kFrameHeaderBytes);
  StallingStream stream(frame, 64);
  FrameReader reader(stream);
  EXPECT_TRUE(absl::IsDeadlineExceeded(reader.Read(Instant::Infinite()).status()));
  EXPECT_LE(reader.buffered_capacity_bytes(), size_t{64} << 10);
}

// The buffer grows with the bytes that actually arrive (at most doubling per step), not with
// the declared length; and a full-size frame still arrives whole.
TEST(Frame, TheBufferGrowsWithTheBytesThatArrive) {
  const std::vector<uint8_t> payload(kMessageBytesMax, 9);
  std::vector<uint8_t> frame = EncodeFrame(payload);
  const size_t arrived = size_t{1} << 20;
  StallingStream partial(std::vector<uint8_t>(frame.begin(), frame.begin() + arrived), 4096);
  FrameReader stalled(partial);
  EXPECT_TRUE(absl::IsDeadlineExceeded(stalled.Read(Instant::Infinite()).status()));
  EXPECT_LE(stalled.buffered_capacity_bytes(), 2 * arrived);

  StallingStream whole(frame, 1 << 20);
  FrameReader reader(whole);
  absl::StatusOr<std::vector<uint8_t>> read = reader.Read(Instant::Infinite());
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, payload);
  EXPECT_LE(reader.buffered_capacity_bytes(), 2 * frame.size());
}

// After a large frame the reader does not keep its large buffer while the connection idles.
TEST(Frame, ALargeBufferIsReleasedOnceItsFrameIsConsumed) {
  std::vector<uint8_t> bytes = EncodeFrame(std::vector<uint8_t>(size_t{4} << 20, 1));
  const std::vector<uint8_t> small = EncodeFrame(std::vector<uint8_t>{1, 2, 3});
  bytes.insert(bytes.end(), small.begin(), small.end());
  StallingStream stream(bytes, 1 << 20);
  FrameReader reader(stream);
  ASSERT_TRUE(reader.Read(Instant::Infinite()).ok());
  absl::StatusOr<std::vector<uint8_t>> next = reader.Read(Instant::Infinite());
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_TRUE(absl::IsDeadlineExceeded(reader.Read(Instant::Infinite()).status()));
  EXPECT_LE(reader.buffered_capacity_bytes(), size_t{1} << 20);
}

TEST(Frame, StreamEndingInsideAFrameIsDataLoss) {
  std::vector<uint8_t> frame = EncodeFrame(std::vector<uint8_t>(100, 7));
  frame.resize(50);
  MemoryStream stream(frame, 64);
  FrameReader reader(stream);
  EXPECT_TRUE(absl::IsDataLoss(reader.Read(Instant::Infinite()).status()));
}

TEST(Frame, ParseAddress) {
  EXPECT_EQ(ParseAddress("127.0.0.1:9092")->port, 9092);
  EXPECT_EQ(ParseAddress("[::1]:80")->host, "::1");
  EXPECT_FALSE(ParseAddress("nohost").ok());
  EXPECT_FALSE(ParseAddress("h:99999").ok());
  EXPECT_FALSE(ParseAddress("h:").ok());
  EXPECT_FALSE(ParseAddress("h:12x").ok());
}

}  // namespace
}  // namespace meridian::io
