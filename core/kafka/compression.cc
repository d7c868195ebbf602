#include "core/kafka/compression.h"

#include <fmt/format.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "io/assert.h"

namespace meridian::core::kafka {
namespace {

constexpr size_t kFirstOutputBytes = 64 << 10;
constexpr uint8_t kXerialMagic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
constexpr size_t kXerialHeaderBytes = 16;  // Magic, version int32, compatible version int32.
constexpr size_t kXerialChunkInputBytes = 32 << 10;

absl::Status Corrupt(Codec codec, std::string_view why) {
  return absl::InvalidArgumentError(fmt::format("{} data: {}", CodecName(codec), why));
}

absl::Status TooLarge(Codec codec, size_t max_bytes) {
  return absl::ResourceExhaustedError(
      fmt::format("{} data decompresses to more than {} bytes", CodecName(codec), max_bytes));
}

// The output of a streaming decoder: grows by doubling up to max_bytes + 1, so that a decoder
// that fills max_bytes + 1 bytes has shown the data is too large.
class Output {
 public:
  explicit Output(size_t max_bytes) : max_bytes_(max_bytes) {}
  // Room to write into (grown when full), or false if max_bytes were exceeded.
  bool MakeRoom() {
    if (produced_ < bytes_.size()) return true;
    if (bytes_.size() > max_bytes_) return false;
    bytes_.resize(std::min(max_bytes_ + 1, std::max(bytes_.size() * 2, kFirstOutputBytes)));
    return true;
  }
  uint8_t* next() { return bytes_.data() + produced_; }
  size_t room() const { return bytes_.size() - produced_; }
  void Produced(size_t n) {
    MERIDIAN_CHECK(n <= room());
    produced_ += n;
  }
  bool exceeded() const { return produced_ > max_bytes_; }
  std::vector<uint8_t> Take() && {
    bytes_.resize(produced_);
    return std::move(bytes_);
  }

 private:
  size_t max_bytes_;
  size_t produced_ = 0;
  std::vector<uint8_t> bytes_;
};

absl::StatusOr<std::vector<uint8_t>> Inflate(std::span<const uint8_t> in, size_t max_bytes) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 32) != Z_OK) return absl::InternalError("inflateInit2 failed");
  struct End {
    z_stream* z;
    ~End() { inflateEnd(z); }
  } end{&z};
  MERIDIAN_CHECK(in.size() <= UINT32_MAX);
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  Output out(max_bytes);
  while (true) {
    if (!out.MakeRoom()) return TooLarge(Codec::kGzip, max_bytes);
    const size_t room = std::min<size_t>(out.room(), UINT32_MAX);
    z.next_out = out.next();
    z.avail_out = static_cast<uInt>(room);
    const int rc = inflate(&z, Z_NO_FLUSH);
    out.Produced(room - z.avail_out);
    if (rc == Z_STREAM_END) {
      if (z.avail_in == 0) break;
      // Another gzip member follows: concatenated members are one stream (RFC 1952 2.2).
      if (inflateReset(&z) != Z_OK) return Corrupt(Codec::kGzip, "bytes after the stream");
      continue;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return Corrupt(Codec::kGzip, z.msg != nullptr ? z.msg : "does not inflate");
    }
    // Room left for output and no progress or no input left: the stream needs bytes it lacks.
    if (z.avail_out != 0 && (z.avail_in == 0 || rc == Z_BUF_ERROR)) {
      return Corrupt(Codec::kGzip, "the stream ends early");
    }
  }
  if (out.exceeded()) return TooLarge(Codec::kGzip, max_bytes);
  return std::move(out).Take();
}

absl::StatusOr<std::vector<uint8_t>> Unzstd(std::span<const uint8_t> in, size_t max_bytes) {
  ZSTD_DCtx* context = ZSTD_createDCtx();
  if (context == nullptr) return absl::InternalError("ZSTD_createDCtx failed");
  struct Free {
    ZSTD_DCtx* context;
    ~Free() { ZSTD_freeDCtx(context); }
  } free{context};
  if (ZSTD_isError(ZSTD_DCtx_setParameter(context, ZSTD_d_windowLogMax, kZstdWindowLogMax))) {
    return absl::InternalError("ZSTD_d_windowLogMax refused");
  }
  ZSTD_inBuffer input{in.data(), in.size(), 0};
  Output out(max_bytes);
  while (true) {
    if (!out.MakeRoom()) return TooLarge(Codec::kZstd, max_bytes);
    ZSTD_outBuffer output{out.next(), out.room(), 0};
    const size_t consumed_before = input.pos;
    const size_t hint = ZSTD_decompressStream(context, &output, &input);
    out.Produced(output.pos);
    if (ZSTD_isError(hint)) return Corrupt(Codec::kZstd, ZSTD_getErrorName(hint));
    // 0: a frame is complete; another may follow.
    if (hint == 0 && input.pos == input.size) break;
    if (input.pos == input.size && output.pos < output.size) {
      return Corrupt(Codec::kZstd, "the frame ends early");
    }
    if (input.pos == consumed_before && output.pos == 0 && output.size != 0) {
      return Corrupt(Codec::kZstd, "no progress");
    }
  }
  if (out.exceeded()) return TooLarge(Codec::kZstd, max_bytes);
  return std::move(out).Take();
}

absl::StatusOr<std::vector<uint8_t>> Unlz4(std::span<const uint8_t> in, size_t max_bytes) {
  LZ4F_dctx* context = nullptr;
  if (LZ4F_isError(LZ4F_createDecompressionContext(&context, LZ4F_VERSION))) {
    return absl::InternalError("LZ4F_createDecompressionContext failed");
  }
  struct Free {
    LZ4F_dctx* context;
    ~Free() { LZ4F_freeDecompressionContext(context); }
  } free{context};
  size_t consumed = 0;
  Output out(max_bytes);
  while (true) {
    if (!out.MakeRoom()) return TooLarge(Codec::kLz4, max_bytes);
    size_t produced = out.room();
    size_t taken = in.size() - consumed;
    const size_t hint =
        LZ4F_decompress(context, out.next(), &produced, in.data() + consumed, &taken, nullptr);
    if (LZ4F_isError(hint)) return Corrupt(Codec::kLz4, LZ4F_getErrorName(hint));
    consumed += taken;
    const bool had_room = produced < out.room();
    out.Produced(produced);
    // 0: a frame is complete (the context is ready for another).
    if (hint == 0 && consumed == in.size()) break;
    if (consumed == in.size() && had_room) return Corrupt(Codec::kLz4, "the frame ends early");
    if (taken == 0 && produced == 0 && had_room) return Corrupt(Codec::kLz4, "no progress");
  }
  if (out.exceeded()) return TooLarge(Codec::kLz4, max_bytes);
  return std::move(out).Take();
}

// Appends one raw snappy block's contents to `out`.
absl::Status UnsnappyBlock(std::span<const uint8_t> block, size_t max_bytes,
                           std::vector<uint8_t>& out) {
  const char* data = reinterpret_cast<const char*>(block.data());
  size_t length = 0;
  if (snappy_uncompressed_length(data, block.size(), &length) != SNAPPY_OK) {
    return Corrupt(Codec::kSnappy, "a block without a valid length");
  }
  if (length > max_bytes - out.size()) return TooLarge(Codec::kSnappy, max_bytes);
  const size_t at = out.size();
  out.resize(at + length);
  size_t written = length;
  if (snappy_uncompress(data, block.size(), reinterpret_cast<char*>(out.data() + at), &written) !=
          SNAPPY_OK ||
      written != length) {
    return Corrupt(Codec::kSnappy, "a block does not decompress");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint8_t>> Unsnappy(std::span<const uint8_t> in, size_t max_bytes) {
  std::vector<uint8_t> out;
  if (in.size() < kXerialHeaderBytes ||
      std::memcmp(in.data(), kXerialMagic, sizeof(kXerialMagic)) != 0) {
    if (absl::Status s = UnsnappyBlock(in, max_bytes, out); !s.ok()) return s;
    return out;
  }
  size_t at = kXerialHeaderBytes;  // Version and compatible version: any (xerial reads any).
  while (at < in.size()) {
    if (in.size() - at < 4) return Corrupt(Codec::kSnappy, "a chunk length cut short");
    const uint32_t length = (uint32_t{in[at]} << 24) | (uint32_t{in[at + 1]} << 16) |
                            (uint32_t{in[at + 2]} << 8) | uint32_t{in[at + 3]};
    at += 4;
    if (length > in.size() - at) return Corrupt(Codec::kSnappy, "a chunk longer than the data");
    if (absl::Status s = UnsnappyBlock(in.subspan(at, length), max_bytes, out); !s.ok()) return s;
    at += length;
  }
  return out;
}

std::vector<uint8_t> Deflate(std::span<const uint8_t> in) {
  z_stream z{};
  MERIDIAN_CHECK(
      deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::vector<uint8_t> out(deflateBound(&z, in.size()));
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  MERIDIAN_CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(out.size() - z.avail_out);
  deflateEnd(&z);
  return out;
}

void AppendSnappyBlock(std::span<const uint8_t> in, std::vector<uint8_t>& out) {
  size_t length = snappy_max_compressed_length(in.size());
  const size_t at = out.size();
  out.resize(at + length);
  MERIDIAN_CHECK(snappy_compress(reinterpret_cast<const char*>(in.data()), in.size(),
                                 reinterpret_cast<char*>(out.data() + at), &length) == SNAPPY_OK);
  out.resize(at + length);
}

std::vector<uint8_t> Snappy(std::span<const uint8_t> in, bool raw) {
  std::vector<uint8_t> out;
  if (raw) {
    AppendSnappyBlock(in, out);
    return out;
  }
  out.assign(std::begin(kXerialMagic), std::end(kXerialMagic));
  for (uint8_t b : {0, 0, 0, 1, 0, 0, 0, 1}) out.push_back(b);  // Version 1, compatible 1.
  for (size_t at = 0; at < in.size(); at += kXerialChunkInputBytes) {
    const size_t length_at = out.size();
    out.resize(length_at + 4);
    AppendSnappyBlock(in.subspan(at, std::min(kXerialChunkInputBytes, in.size() - at)), out);
    const uint32_t length = static_cast<uint32_t>(out.size() - length_at - 4);
    for (int i = 0; i < 4; i++) out[length_at + i] = static_cast<uint8_t>(length >> (24 - 8 * i));
  }
  return out;
}

}  // namespace

std::optional<Codec> CodecFromAttributes(int16_t attributes) {
  const int codec = attributes & 0x7;
  if (codec > static_cast<int>(Codec::kZstd)) return std::nullopt;
  return static_cast<Codec>(codec);
}

std::string_view CodecName(Codec codec) {
  switch (codec) {
    case Codec::kNone:
      return "none";
    case Codec::kGzip:
      return "gzip";
    case Codec::kSnappy:
      return "snappy";
    case Codec::kLz4:
      return "lz4";
    case Codec::kZstd:
      return "zstd";
  }
  return "unknown";
}

absl::StatusOr<std::vector<uint8_t>> Decompress(Codec codec, std::span<const uint8_t> in,
                                                size_t max_bytes) {
  switch (codec) {
    case Codec::kGzip:
      return Inflate(in, max_bytes);
    case Codec::kSnappy:
      return Unsnappy(in, max_bytes);
    case Codec::kLz4:
      return Unlz4(in, max_bytes);
    case Codec::kZstd:
      return Unzstd(in, max_bytes);
    case Codec::kNone:
      break;
  }
  MERIDIAN_CHECK(false, "Decompress of codec {}", static_cast<int>(codec));
  return absl::InternalError("unreachable");
}

std::vector<uint8_t> Compress(Codec codec, std::span<const uint8_t> in, bool raw_snappy) {
  switch (codec) {
    case Codec::kGzip:
      return Deflate(in);
    case Codec::kSnappy:
      return Snappy(in, raw_snappy);
    case Codec::kLz4: {
      std::vector<uint8_t> out(LZ4F_compressFrameBound(in.size(), nullptr));
      const size_t n = LZ4F_compressFrame(out.data(), out.size(), in.data(), in.size(), nullptr);
      MERIDIAN_CHECK(!LZ4F_isError(n));
      out.resize(n);
      return out;
    }
    case Codec::kZstd: {
      std::vector<uint8_t> out(ZSTD_compressBound(in.size()));
      const size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3);
      MERIDIAN_CHECK(!ZSTD_isError(n));
      out.resize(n);
      return out;
    }
    case Codec::kNone:
      break;
  }
  return std::vector<uint8_t>(in.begin(), in.end());
}

}  // namespace meridian::core::kafka
