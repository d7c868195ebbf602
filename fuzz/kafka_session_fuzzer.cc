// Fuzz target: a connection to a node's Kafka listener (core/kafka/session.h) — the bytes a
// Kafka client's socket carries, through framing, the request decoders, the translation onto
// Meridian's requests and the broker's handlers, on a single-node cluster in the simulator (one
// sim::World per input, so every run is deterministic). The kafka_request target covers the
// decoders alone; this one covers what the session does with what they accept (produce into a
// partition's raft log, fetch it back, topics, groups, configs) and with what they refuse. The
// rule under test is DESIGN.md's "nothing that arrives from a socket can trip an assertion".
// Also checked: every response frame the node sends declares a sane size and carries a
// correlation id this connection sent (some 4 bytes of what it wrote).
//
// Input: a script of connection actions, read with InputReader until the input or kActionsMax
// runs out. Each action starts with one byte; its value modulo 4 picks:
//   0 frame:     u16 length, then that many bytes, sent as one Kafka frame (the harness writes
//                the int32 size, so mutations reach the decoders rather than the framing);
//   1 raw:       u16 length, then that many bytes written to the stream as they are;
//   2 wait:      the client waits (next byte) * 20 ms of virtual time;
//   3 reconnect: the client closes its connection and opens a new one.
// A connection is open before the first action; the node has had 3 virtual seconds to elect
// itself controller. Seeds: fuzz/corpus/kafka_session (make_kafka_corpus.cc: every request
// seed of kafka_request alone, and all of them in one session).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <span>
#include <vector>

#include "core/broker/broker.h"
#include "core/kafka/session.h"
#include "fuzz/input_reader.h"
#include "fuzz/serve_broker.h"
#include "io/assert.h"

namespace meridian::fuzz {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr size_t kActionsMax = 64;
constexpr io::NodeId kBroker{1};  // RunScriptAgainstOneNode's node.
const io::Address kAddress{"node1", 9092};
const io::Address kKafkaAddress{"node1", 9192};
// Larger than any answer the session builds (a fetch is bounded by its request's max_bytes, at
// most the session's own cap); a declared size past it is a framing bug.
constexpr uint32_t kResponseBytesMax = 64u << 20;

void Serve(io::Runtime& rt) {
  core::broker::BrokerOptions options;
  options.node_id = kBroker.value();
  options.advertised = kAddress;
  options.kafka_advertised = kKafkaAddress.ToString();
  options.controller_voters = {kBroker.value()};
  options.offsets_topic_replication_factor = 1;
  ServeBroker(rt, options, [&rt](std::shared_ptr<core::broker::Broker> broker) {
    absl::StatusOr<std::unique_ptr<io::Listener>> listener = rt.network().Listen(kKafkaAddress);
    MERIDIAN_CHECK(listener.ok());
    std::shared_ptr<io::Listener> kafka(std::move(*listener));
    rt.Spawn("kafka-accept", [&rt, broker, kafka] {
      while (true) {
        absl::StatusOr<std::unique_ptr<io::Stream>> stream = kafka->Accept(io::Instant::Infinite());
        if (!stream.ok()) return;
        std::shared_ptr<io::Stream> connection(std::move(*stream));
        rt.Spawn("kafka-connection", [&rt, broker, connection] {
          core::kafka::ServeKafkaConnection(*broker, rt, connection);
        });
      }
    });
  });
}

uint32_t BigEndian32(std::span<const uint8_t> bytes) {
  return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) |
         bytes[3];
}

// Fills `out` from the stream, however the bytes arrive.
absl::Status ReadExactly(io::Stream& stream, std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    absl::StatusOr<size_t> n = stream.Read(out.subspan(done), io::Instant::Infinite());
    if (!n.ok()) return n.status();
    if (*n == 0) return absl::OutOfRangeError("end of stream");
    done += *n;
  }
  return absl::OkStatus();
}

// The node's answers on one connection, until it ends: each of a sane size, answering a request
// sent on it.
void ReadResponses(std::shared_ptr<io::Stream> stream,
                   std::shared_ptr<std::set<int32_t>> correlation_ids_sent) {
  std::vector<uint8_t> header(4);
  while (ReadExactly(*stream, header).ok()) {
    const uint32_t size = BigEndian32(header);
    MERIDIAN_CHECK(size >= 4 && size <= kResponseBytesMax, "a response frame of {} bytes", size);
    std::vector<uint8_t> body(size);
    if (!ReadExactly(*stream, body).ok()) return;  // Cut by our own reconnect or a close.
    const int32_t correlation_id = static_cast<int32_t>(BigEndian32(body));
    MERIDIAN_CHECK(correlation_ids_sent->contains(correlation_id),
                   "a response to correlation id {}, which no request on this connection had",
                   correlation_id);
  }
}

struct Connection {
  std::shared_ptr<io::Stream> stream;
  std::vector<uint8_t> written;  // Every byte sent on it.
  // Every 4-byte window of `written`: a request's correlation id is one of them, wherever the
  // node's framing put the request's start (raw writes can shift it).
  std::shared_ptr<std::set<int32_t>> correlation_ids_sent = std::make_shared<std::set<int32_t>>();

  void NoteWritten(std::span<const uint8_t> bytes) {
    const size_t before = written.size();
    written.insert(written.end(), bytes.begin(), bytes.end());
    for (size_t i = before >= 3 ? before - 3 : 0; i + 4 <= written.size(); i++) {
      correlation_ids_sent->insert(
          static_cast<int32_t>(BigEndian32(std::span<const uint8_t>(written).subspan(i))));
    }
  }
};

Connection Connect(io::Runtime& rt) {
  Connection connection;
  absl::StatusOr<std::unique_ptr<io::Stream>> stream =
      rt.network().Connect(kKafkaAddress, rt.Now() + seconds(5));
  if (!stream.ok()) return connection;
  connection.stream = std::shared_ptr<io::Stream>(std::move(*stream));
  rt.Spawn("responses", [stream = connection.stream, ids = connection.correlation_ids_sent] {
    ReadResponses(stream, ids);
  });
  return connection;
}

void RunScript(io::Runtime& rt, std::span<const uint8_t> bytes) {
  InputReader input(bytes);
  Connection connection = Connect(rt);
  for (size_t actions = 0; actions < kActionsMax && !input.empty(); actions++) {
    const uint8_t action = input.Byte() % 4;
    if (action == 2) {
      (void)rt.Sleep(milliseconds(20) * input.Byte());
      continue;
    }
    if (action == 3) {
      if (connection.stream != nullptr) connection.stream->Close();
      connection = Connect(rt);
      continue;
    }
    const std::span<const uint8_t> data = input.Bytes(input.U16());
    if (connection.stream == nullptr) continue;
    std::vector<uint8_t> out;
    if (action == 0) {
      const uint32_t size = static_cast<uint32_t>(data.size());
      out = {static_cast<uint8_t>(size >> 24), static_cast<uint8_t>(size >> 16),
             static_cast<uint8_t>(size >> 8), static_cast<uint8_t>(size)};
    }
    out.insert(out.end(), data.begin(), data.end());
    connection.NoteWritten(out);  // Before the write: the answer may come before it returns.
    if (!connection.stream->Write(out, rt.Now() + seconds(5)).ok()) {
      connection.stream->Close();
      connection.stream = nullptr;
    }
  }
  // Let the last requests finish (a produce commits, a long poll times out or not).
  (void)rt.Sleep(seconds(2));
  if (connection.stream != nullptr) connection.stream->Close();
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
