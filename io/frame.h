// Frames on a byte stream: [u32 payload length][u32 CRC32C of payload][payload], little-endian.
//
// Every peer link and client connection speaks frames. Bytes from the network are untrusted:
// a length over kMessageBytesMax or a CRC mismatch is an error (DataLoss), and the caller closes
// the connection with that reason. The payload is verified here; its contents (FlatBuffers) are
// verified by whoever decodes them.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "io/network.h"
#include "io/runtime.h"

namespace meridian::io {

inline constexpr size_t kFrameHeaderBytes = 8;

// Encodes header + payload into one buffer (one write, one syscall).
std::vector<uint8_t> EncodeFrame(std::span<const uint8_t> payload);
// Appends header + payload to `out`, so several frames go out in one write.
void AppendFrame(std::vector<uint8_t>& out, std::span<const uint8_t> payload);
absl::Status WriteFrame(Stream& stream, std::span<const uint8_t> payload, Instant deadline);

// An allocator whose value-initialisation leaves bytes uninitialised: a buffer about to be
// overwritten by reads is not zero-filled first (that fill was 3% of a node's CPU in
// meridian-bench, on every large peer frame).
template <typename T>
struct DefaultInitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  DefaultInitAllocator() = default;
  template <typename U>
  explicit DefaultInitAllocator(const DefaultInitAllocator<U>& /*other*/) noexcept {}
  template <typename U>
  void construct(U* at) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(at)) U;
  }
  template <typename U, typename... Args>
  void construct(U* at, Args&&... args) {
    ::new (static_cast<void*>(at)) U(std::forward<Args>(args)...);
  }
};

// Reads frames from a stream, buffering so that small frames do not cost a read each.
//
// Memory follows the bytes that actually arrive, never a declared length (docs/architecture.md
// "Trust boundaries"): the buffer starts at 64 KiB and, when full, at most doubles, up to what the
// current frame needs; a header declaring 16 MiB followed by silence costs 64 KiB. Once a
// large frame is consumed the buffer shrinks back, so an idle connection holds little.
class FrameReader {
 public:
  explicit FrameReader(Stream& stream, size_t frame_bytes_max = kMessageBytesMax);
  // The next frame's payload. OutOfRange at a clean end of stream (between frames);
  // DataLoss for a torn, oversized or corrupted frame.
  absl::StatusOr<std::vector<uint8_t>> Read(Instant deadline);
  // Read with two bounds, for connections from untrusted clients: waits until `idle_deadline`
  // for a frame to begin, and once its first byte is here (or was buffered already) the whole
  // frame must arrive within `frame_timeout` of then. A client that trickles a frame (slowloris)
  // is cut off with DeadlineExceeded instead of holding its connection forever.
  absl::StatusOr<std::vector<uint8_t>> ReadWithin(const Runtime& runtime, Instant idle_deadline,
                                                  Duration frame_timeout);
  // Bytes currently allocated for buffering (tests: the budget is respected).
  size_t buffered_capacity_bytes() const { return buffer_.capacity(); }
  // Bytes received and not yet returned in a frame (0: no frame has begun).
  size_t buffered_bytes() const { return end_ - begin_; }

 private:
  absl::Status Fill(size_t bytes_needed, Instant deadline);
  void MakeRoom(size_t bytes_needed);
  void ReleaseIfIdle();

  Stream& stream_;
  const size_t frame_bytes_max_;
  // Unconsumed bytes are buffer_[begin_, end_); buffer_.size() is the capacity (allocated
  // exactly: grown by copying into a new vector, never by resize, which may overallocate).
  using Buffer = std::vector<uint8_t, DefaultInitAllocator<uint8_t>>;
  Buffer buffer_;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace meridian::io
