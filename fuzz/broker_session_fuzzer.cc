// Fuzz target: a client connection to a real broker (core/broker) — the bytes a client socket
// carries, through framing, decoding and every request handler, on a single-node cluster in the
// simulator (one sim::World per input, so every run is deterministic). The rule under test is
// DESIGN.md's "nothing that arrives from a socket can trip an assertion", over the whole request
// path (produce into the partition's raft log, fetch back, topic creation through the
// controller) rather than the decoder alone. Also checked: every frame the broker sends back
// decodes as a client message.
//
// Input: a script of connection actions, read with InputReader until the input or kActionsMax
// runs out. Each action starts with one byte; its value modulo 4 picks:
//   0 frame:     u16 length, then that many bytes, sent as one frame (the harness writes the
//                header and CRC, so mutations reach the decoder rather than the CRC check);
//   1 raw:       u16 length, then that many bytes written to the stream as they are;
//   2 wait:      the client waits (next byte) * 20 ms of virtual time;
//   3 reconnect: the client closes its connection and opens a new one.
// A connection is open before the first action; the broker has had 3 virtual seconds to elect
// itself controller. Seeds: fuzz/corpus/broker_session (make_corpus.cc: hello, create topic,
// produce, fetch, list offsets, metadata, ...).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/broker/broker.h"
#include "fuzz/input_reader.h"
#include "fuzz/serve_broker.h"
#include "io/assert.h"
#include "io/frame.h"

namespace meridian::fuzz {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr size_t kActionsMax = 64;
constexpr io::NodeId kBroker{1};  // RunScriptAgainstOneNode's node.
const io::Address kAddress{"node1", 9092};

void Serve(io::Runtime& rt) {
  core::broker::BrokerOptions options;
  options.node_id = kBroker.value();
  options.advertised = kAddress;
  options.controller_voters = {kBroker.value()};
  ServeBroker(rt, options);
}

// Reads the broker's responses until the connection ends; each must be a valid client message.
void ReadResponses(io::Runtime& rt, std::shared_ptr<io::Stream> stream) {
  io::FrameReader reader(*stream, core::wire::kClientMessageBytesMax);
  while (true) {
    absl::StatusOr<std::vector<uint8_t>> frame = reader.Read(io::Instant::Infinite());
    if (!frame.ok()) return;
    absl::StatusOr<std::unique_ptr<core::wire::ClientMessageT>> response =
        core::wire::DecodeClientMessage(*frame);
    MERIDIAN_CHECK(response.ok(), "the broker sent a frame that does not decode: {}",
                   response.status().ToString());
  }
}

std::shared_ptr<io::Stream> Connect(io::Runtime& rt) {
  absl::StatusOr<std::unique_ptr<io::Stream>> stream =
      rt.network().Connect(kAddress, rt.Now() + seconds(5));
  if (!stream.ok()) return nullptr;
  std::shared_ptr<io::Stream> shared(std::move(*stream));
  rt.Spawn("responses", [&rt, shared] { ReadResponses(rt, shared); });
  return shared;
}

void RunScript(io::Runtime& rt, std::span<const uint8_t> bytes) {
  InputReader input(bytes);
  std::shared_ptr<io::Stream> stream = Connect(rt);
  for (size_t actions = 0; actions < kActionsMax && !input.empty(); actions++) {
    const uint8_t action = input.Byte() % 4;
    if (action == 2) {
      (void)rt.Sleep(milliseconds(20) * input.Byte());
      continue;
    }
    if (action == 3) {
      if (stream != nullptr) stream->Close();
      stream = Connect(rt);
      continue;
    }
    const std::span<const uint8_t> data = input.Bytes(input.U16());
    if (stream == nullptr) continue;
    const io::Instant deadline = rt.Now() + seconds(5);
    const absl::Status written =
        action == 0 ? io::WriteFrame(*stream, data, deadline) : stream->Write(data, deadline);
    if (!written.ok()) {
      stream->Close();
      stream = nullptr;
    }
  }
  // Let the last requests finish (a produce commits, a long poll times out or not).
  (void)rt.Sleep(seconds(2));
  if (stream != nullptr) stream->Close();
}

void Run(std::span<const uint8_t> bytes) {
  RunScriptAgainstOneNode(Serve, [bytes](io::Runtime& rt) { RunScript(rt, bytes); });
}

}  // namespace
}  // namespace meridian::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  meridian::fuzz::Run(std::span<const uint8_t>(data, size));
  return 0;
}
