#include "io/frame.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "io/assert.h"
#include "io/crc32c.h"

namespace meridian::io {
namespace {

void PutU32(uint8_t* out, uint32_t value) {
  for (int i = 0; i < 4; i++) out[i] = static_cast<uint8_t>(value >> (8 * i));
}

uint32_t GetU32(const uint8_t* in) {
  uint32_t value = 0;
  for (int i = 0; i < 4; i++) value |= static_cast<uint32_t>(in[i]) << (8 * i);
  return value;
}

// Initial buffer, and the smallest growth step.
constexpr size_t kReadChunkBytes = 64 * 1024;
// A buffer larger than this is released once it holds no more than one chunk of unread bytes.
constexpr size_t kIdleBufferBytesMax = 256 * 1024;
static_assert(kReadChunkBytes < kIdleBufferBytesMax);

}  // namespace

void AppendFrame(std::vector<uint8_t>& out, std::span<const uint8_t> payload) {
  MERIDIAN_CHECK(payload.size() <= kMessageBytesMax, "frame of {} bytes", payload.size());
  const size_t start = out.size();
  out.resize(start + kFrameHeaderBytes + payload.size());
  PutU32(out.data() + start, static_cast<uint32_t>(payload.size()));
  PutU32(out.data() + start + 4, Crc32c(payload));
  if (!payload.empty()) {
    std::memcpy(out.data() + start + kFrameHeaderBytes, payload.data(), payload.size());
  }
}

std::vector<uint8_t> EncodeFrame(std::span<const uint8_t> payload) {
  std::vector<uint8_t> frame;
  frame.reserve(kFrameHeaderBytes + payload.size());
  AppendFrame(frame, payload);
  return frame;
}

absl::Status WriteFrame(Stream& stream, std::span<const uint8_t> payload, Instant deadline) {
  const std::vector<uint8_t> frame = EncodeFrame(payload);
  return stream.Write(frame, deadline);
}

FrameReader::FrameReader(Stream& stream, size_t frame_bytes_max)
    : stream_(stream), frame_bytes_max_(frame_bytes_max) {
  MERIDIAN_CHECK(frame_bytes_max <= kMessageBytesMax);
}

// Called when no free space is left after end_: compacts, and if the buffer is still full grows
// it, at most doubling and never past `bytes_needed` (the rest of the current frame), so the
// allocation tracks the bytes that arrived rather than the length a header declared.
void FrameReader::MakeRoom(size_t bytes_needed) {
  MERIDIAN_CHECK(end_ == buffer_.size());
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    return;  // Compaction freed begin_ bytes at the end.
  }
  MERIDIAN_CHECK(end_ < bytes_needed, "Fill stops once the frame is buffered");
  const size_t grown = std::max(kReadChunkBytes, 2 * buffer_.size());
  Buffer bigger(std::min(grown, std::max(bytes_needed, kReadChunkBytes)));
  MERIDIAN_CHECK(bigger.size() > end_);
  if (end_ > 0) std::memcpy(bigger.data(), buffer_.data(), end_);
  buffer_.swap(bigger);
}

void FrameReader::ReleaseIfIdle() {
  const size_t buffered = end_ - begin_;
  if (buffer_.size() <= kIdleBufferBytesMax || buffered > kReadChunkBytes) return;
  Buffer smaller(kReadChunkBytes);
  if (buffered > 0) std::memcpy(smaller.data(), buffer_.data() + begin_, buffered);
  buffer_.swap(smaller);
  begin_ = 0;
  end_ = buffered;
}

absl::Status FrameReader::Fill(size_t bytes_needed, Instant deadline) {
  MERIDIAN_CHECK(bytes_needed <= kFrameHeaderBytes + frame_bytes_max_);
  while (end_ - begin_ < bytes_needed) {
    if (end_ == buffer_.size()) MakeRoom(bytes_needed);
    const size_t buffered = end_ - begin_;
    absl::StatusOr<size_t> read = stream_.Read(std::span<uint8_t>(buffer_).subspan(end_), deadline);
    if (!read.ok()) return read.status();
    if (*read == 0) {
      if (buffered == 0) return absl::OutOfRangeError("end of stream");
      return absl::DataLossError(
          fmt::format("stream ended inside a frame ({} bytes buffered)", buffered));
    }
    end_ += *read;
    MERIDIAN_CHECK(end_ <= buffer_.size());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint8_t>> FrameReader::ReadWithin(const Runtime& runtime,
                                                             Instant idle_deadline,
                                                             Duration frame_timeout) {
  ReleaseIfIdle();
  if (absl::Status s = Fill(1, idle_deadline); !s.ok()) return s;
  return Read(runtime.Now() + frame_timeout);
}

absl::StatusOr<std::vector<uint8_t>> FrameReader::Read(Instant deadline) {
  ReleaseIfIdle();
  if (absl::Status s = Fill(kFrameHeaderBytes, deadline); !s.ok()) return s;
  const uint32_t length = GetU32(buffer_.data() + begin_);
  const uint32_t crc_expected = GetU32(buffer_.data() + begin_ + 4);
  if (length > frame_bytes_max_) {
    return absl::DataLossError(
        fmt::format("frame length {} exceeds the maximum {}", length, frame_bytes_max_));
  }
  if (absl::Status s = Fill(kFrameHeaderBytes + length, deadline); !s.ok()) {
    return s.code() == absl::StatusCode::kOutOfRange
               ? absl::DataLossError("stream ended inside a frame")
               : s;
  }
  const uint8_t* payload = buffer_.data() + begin_ + kFrameHeaderBytes;
  const uint32_t crc_actual = Crc32c(std::span<const uint8_t>(payload, length));
  if (crc_actual != crc_expected) {
    return absl::DataLossError(fmt::format(
        "frame CRC32C mismatch: header says {:08x}, payload has {:08x}", crc_expected, crc_actual));
  }
  std::vector<uint8_t> out(payload, payload + length);
  begin_ += kFrameHeaderBytes + length;
  MERIDIAN_CHECK(begin_ <= end_);
  return out;
}

}  // namespace meridian::io
