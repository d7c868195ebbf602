// The compression codecs of Kafka record batches (attributes bits 0-2): gzip, snappy, lz4 and
// zstd, in the stream formats Kafka clients write:
//   - gzip: RFC 1952 members (Java's GZIPOutputStream, librdkafka); a zlib stream is accepted too;
//   - snappy: the Java client's xerial framing (magic "\x82SNAPPY\0", version, compatible
//     version, then chunks of [int32 length][raw snappy block]), or one raw snappy block
//     (librdkafka writes that);
//   - lz4: LZ4 frames (KIP-57: the header checksum as the LZ4 spec says, as every client writes
//     for message format v2);
//   - zstd: zstd frames.
//
// Decompress never trusts its input: the output is capped (`max_bytes`, a decompression bomb
// stops there with ResourceExhausted), a stream that ends early, carries bytes after its end or
// does not decode is InvalidArgument, and zstd's window is capped (kZstdWindowLogMax) so a frame
// cannot make the node allocate more than 16 MiB to decode it. Pure and deterministic.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace meridian::core::kafka {

enum class Codec : uint8_t { kNone = 0, kGzip = 1, kSnappy = 2, kLz4 = 3, kZstd = 4 };

inline constexpr int kZstdWindowLogMax = 24;  // 16 MiB: zstd's level 3 uses 21 at most.

// The codec attributes bits 0-2 name, or nullopt for 5..7 (no codec Kafka defines).
std::optional<Codec> CodecFromAttributes(int16_t attributes);
std::string_view CodecName(Codec codec);

// Decompresses `in` (codec not kNone) into at most `max_bytes` bytes.
absl::StatusOr<std::vector<uint8_t>> Decompress(Codec codec, std::span<const uint8_t> in,
                                                size_t max_bytes);

// Compresses `in` as a Kafka client would (gzip member, snappy in xerial framing unless
// `raw_snappy`, one lz4 frame, one zstd frame at level 3). The broker never compresses (a
// compressed produce is stored and served uncompressed); the tests and the fuzz corpus build
// compressed batches with it.
std::vector<uint8_t> Compress(Codec codec, std::span<const uint8_t> in, bool raw_snappy = false);

}  // namespace meridian::core::kafka
