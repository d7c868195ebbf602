// Fuzz target: client protocol bytes (core/wire/client_codec.h, io/frame.h) as a node or a
// client receives them from a socket.
//
// Input: any bytes, used twice:
//   1. as one frame payload: DecodeClientMessage must return a message or a status, never crash;
//      a message that decodes must re-encode, decode again, and re-encode to the same bytes
//      (Pack is deterministic), and every nested record batch is verified and read through;
//   2. as a byte stream: FrameReader splits it into frames (handed out in small, varying reads,
//      the way a socket delivers them) and each frame payload goes through 1.
// A decoded message must not re-encode to much more than its input (decoding copies strings and
// vectors out; shared offsets must not multiply them). Anything else that happens (an abort, a
// sanitizer report, an allocation far beyond the input) is a bug in the code under test.
// Seeds: fuzz/corpus/client_codec (make_corpus.cc).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/wire/client_codec.h"
#include "io/assert.h"
#include "io/frame.h"

namespace meridian::fuzz {
namespace {

// A client connection whose peer sent `bytes` and then closed. Reads come in chunks of 1 to 64
// bytes (driven by the bytes themselves) so frames straddle reads.
class BytesStream final : public io::Stream {
 public:
  explicit BytesStream(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  absl::StatusOr<size_t> Read(std::span<uint8_t> buffer, io::Instant) override {
    if (position_ >= bytes_.size() || buffer.empty()) return 0;
    const size_t chunk = 1 + (bytes_[position_] % 64);
    const size_t n = std::min({chunk, buffer.size(), bytes_.size() - position_});
    std::copy_n(bytes_.begin() + position_, n, buffer.begin());
    position_ += n;
    return n;
  }
  absl::Status Write(std::span<const uint8_t>, io::Instant) override {
    return absl::FailedPreconditionError("read-only stream");
  }
  void Close() override {}
  std::string peer() const override { return "fuzz"; }

 private:
  std::span<const uint8_t> bytes_;
  size_t position_ = 0;
};

// Reads every field of a verified batch, so ASan sees any read the verifier let through.
void TouchBatch(std::span<const uint8_t> bytes) {
  absl::StatusOr<const core::wire::RecordBatch*> batch = core::wire::VerifyRecordBatch(bytes);
  if (!batch.ok()) return;
  MERIDIAN_CHECK((*batch)->records() != nullptr && (*batch)->records()->size() > 0);
  size_t total = 0;
  for (const core::wire::Record* record : *(*batch)->records()) {
    MERIDIAN_CHECK(record != nullptr);
    if (record->key() != nullptr) total += record->key()->size();
    if (record->value() != nullptr) total += record->value()->size();
    if (record->headers() == nullptr) continue;
    for (const core::wire::Header* header : *record->headers()) {
      if (header->key() != nullptr) total += header->key()->size();
      if (header->value() != nullptr) total += header->value()->size();
    }
  }
  // Every byte counted above lies inside the batch (FlatBuffers may share vectors, so the sum
  // may exceed the batch's size; reading it is what matters).
  (void)total;
}

void CheckMessage(const core::wire::ClientMessageT& message, size_t input_bytes) {
  if (const core::wire::ProduceRequestT* produce = message.body.AsProduceRequest()) {
    TouchBatch(produce->batch);
  }
  if (const core::wire::FetchResponseT* fetch = message.body.AsFetchResponse()) {
    for (const auto& batch : fetch->batches) {
      if (batch != nullptr) TouchBatch(batch->batch);
    }
  }
  const std::vector<uint8_t> encoded = core::wire::EncodeClientMessage(message);
  // What decoding copied out is bounded by what came in (no amplification through shared
  // offsets); re-encoding adds at most padding and the vtables Pack writes per table.
  MERIDIAN_CHECK(encoded.size() <= 2 * input_bytes + 1024,
                 "{} bytes decoded into a message that re-encodes to {} bytes", input_bytes,
                 encoded.size());
  if (!core::wire::FitsInAFrame(encoded)) return;
  absl::StatusOr<std::unique_ptr<core::wire::ClientMessageT>> again =
      core::wire::DecodeClientMessage(encoded);
  MERIDIAN_CHECK(again.ok(), "a re-encoded message does not decode: {}", again.status().ToString());
  MERIDIAN_CHECK(core::wire::EncodeClientMessage(**again) == encoded, "re-encoding is not stable");
}

void DecodePayload(std::span<const uint8_t> payload) {
  absl::StatusOr<std::unique_ptr<core::wire::ClientMessageT>> message =
      core::wire::DecodeClientMessage(payload);
  if (!message.ok()) return;
  MERIDIAN_CHECK(*message != nullptr);
  MERIDIAN_CHECK(message->get()->body.type != core::wire::Body::NONE);
  CheckMessage(**message, payload.size());
}

void Run(std::span<const uint8_t> input) {
  DecodePayload(input);
  BytesStream stream(input);
  io::FrameReader reader(stream, core::wire::kClientMessageBytesMax);
  // Each frame needs at least its 8-byte header, so this ends; the bound says so explicitly.
  for (size_t frames = 0; frames <= input.size() / io::kFrameHeaderBytes; frames++) {
    absl::StatusOr<std::vector<uint8_t>> frame = reader.Read(io::Instant::Infinite());
    if (!frame.ok()) break;
    DecodePayload(*frame);
  }
}

}  // namespace
}  // namespace meridian::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  meridian::fuzz::Run(std::span<const uint8_t>(data, size));
  return 0;
}
