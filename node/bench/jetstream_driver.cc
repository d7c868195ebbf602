// bench::JetStreamDriver (jetstream_driver.h): one case against JetStream over NATS.
#include "node/bench/jetstream_driver.h"

#include <fmt/format.h>
#include <poll.h>

#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "io/assert.h"

namespace meridian::node::bench {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The number after `"key":` in a flat JSON answer, if any.
std::optional<uint64_t> JsonNumber(std::string_view json, std::string_view key) {
  const std::string needle = fmt::format("\"{}\":", key);
  const size_t at = json.find(needle);
  if (at == std::string_view::npos) return std::nullopt;
  size_t end = at + needle.size();
  while (end < json.size() && json[end] >= '0' && json[end] <= '9') end++;
  uint64_t value = 0;
  if (!absl::SimpleAtoi(
          absl::string_view(json.data() + at + needle.size(), end - at - needle.size()), &value)) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

struct JetStreamDriver::Producer {
  uint32_t index = 0;
  std::string stream, subject, inbox;
  std::unique_ptr<NatsConnection> connection;
  uint64_t next = 0;                           // Our publish number.
  std::map<uint64_t, Clock::time_point> sent;  // Outstanding publishes by number.
  std::vector<uint8_t> acked;                  // By stream sequence (from 1): 1 once acked.
  std::vector<uint8_t> seen;                   // By stream sequence: times read back.
  uint64_t acknowledged = 0;
};

absl::Status JetStreamDriver::Admin(const std::string& subject, const std::string& json) {
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  absl::Status last;
  while (Clock::now() < deadline) {
    if (admin_ == nullptr) {
      absl::StatusOr<std::unique_ptr<NatsConnection>> connection =
          NatsConnection::Connect("127.0.0.1", options_.client_ports[0], std::chrono::seconds(5));
      if (!connection.ok()) return connection.status();
      admin_ = *std::move(connection);
    }
    absl::StatusOr<std::string> answer = admin_->Request(subject, json, std::chrono::seconds(5));
    if (answer.ok() && answer->find("\"error\"") == std::string::npos) return absl::OkStatus();
    // Right after start the meta group is still electing: "JetStream system temporarily
    // unavailable", or no answer at all. Retry.
    last = answer.ok() ? absl::UnavailableError(*answer) : answer.status();
    usleep(200'000);
  }
  return absl::DeadlineExceededError(fmt::format("{}: {}", subject, last.ToString()));
}

// Keeps `window` publishes outstanding per producer until `until`, then waits for the rest.
absl::Status JetStreamDriver::Drive(std::vector<Producer>& producers, const Case& what,
                                    Clock::time_point until, uint32_t window,
                                    LatencySamples* latencies) {
  const std::string payload(what.record_bytes, 'x');
  Clock::time_point progress = Clock::now();
  while (true) {
    const Clock::time_point now = Clock::now();
    bool outstanding = false;
    for (Producer& producer : producers) {
      while (now < until && producer.sent.size() < window) {
        const uint64_t number = producer.next++;
        producer.connection->Publish(producer.subject, fmt::format("{}.{}", producer.inbox, number),
                                     payload);
        producer.sent.emplace(number, Clock::now());
      }
      if (absl::Status flushed = producer.connection->Flush(); !flushed.ok()) return flushed;
      outstanding |= !producer.sent.empty();
    }
    if (!outstanding) return absl::OkStatus();
    if (now > progress + kAckTimeout) return absl::DeadlineExceededError("no publish ack for 30 s");
    std::vector<pollfd> fds;
    for (Producer& producer : producers) fds.push_back({producer.connection->fd(), POLLIN, 0});
    if (poll(fds.data(), fds.size(), 10) < 0 && errno != EINTR) {
      return absl::UnavailableError("poll failed");
    }
    for (size_t i = 0; i < producers.size(); i++) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      Producer& producer = producers[i];
      if (absl::Status filled = producer.connection->Fill(milliseconds(0)); !filled.ok()) {
        return filled;
      }
      while (true) {
        absl::StatusOr<std::optional<NatsMessage>> message = producer.connection->Parse();
        if (!message.ok()) return message.status();
        if (!message->has_value()) break;
        const NatsMessage& ack = **message;
        uint64_t number = 0;
        const size_t dot = ack.subject.rfind('.');
        if (dot == std::string::npos || !absl::SimpleAtoi(ack.subject.substr(dot + 1), &number)) {
          continue;
        }
        auto it = producer.sent.find(number);
        if (it == producer.sent.end()) continue;
        std::optional<uint64_t> sequence = JsonNumber(ack.payload, "seq");
        if (ack.payload.find("\"error\"") != std::string::npos || !sequence || *sequence == 0 ||
            *sequence > (uint64_t{1} << 32)) {
          return absl::UnavailableError(fmt::format("publish refused: {}", ack.payload));
        }
        if (producer.acked.size() <= *sequence) producer.acked.resize(*sequence + 1, 0);
        producer.acked[*sequence] = 1;
        producer.acknowledged++;
        if (latencies != nullptr) latencies->nanos.push_back((Clock::now() - it->second).count());
        producer.sent.erase(it);
        progress = Clock::now();
      }
    }
  }
}

SideResult JetStreamDriver::Run(const Case& what, int case_index) {
  SideResult side{.ran = true, .durability = options_.durability};
  MERIDIAN_CHECK(what.producers <= kProducersMax);
  if (what.acks == Acks::kLeader) return SideResult{};  // No such ack in JetStream.
  std::vector<Producer> producers(what.producers);
  for (uint32_t i = 0; i < what.producers; i++) {
    Producer& producer = producers[i];
    producer.index = i;
    producer.stream = fmt::format("BENCH_{}_{}", case_index, i);
    producer.subject = fmt::format("bench.{}.{}", case_index, i);
    producer.inbox = fmt::format("_INBOX.ack.{}.{}", case_index, i);
    const std::string config = fmt::format(
        "{{\"name\":\"{}\",\"subjects\":[\"{}\"],\"storage\":\"file\",\"num_replicas\":3,"
        "\"retention\":\"limits\",\"discard\":\"old\",\"max_msgs\":-1,\"max_bytes\":-1}}",
        producer.stream, producer.subject);
    if (absl::Status created = Admin("$JS.API.STREAM.CREATE." + producer.stream, config);
        !created.ok()) {
      side.failure = "stream create: " + created.ToString();
      return side;
    }
    const uint16_t port = options_.client_ports[i % options_.client_ports.size()];
    absl::StatusOr<std::unique_ptr<NatsConnection>> connection =
        NatsConnection::Connect("127.0.0.1", port, std::chrono::seconds(5));
    if (!connection.ok()) {
      side.failure = connection.status().ToString();
      return side;
    }
    producer.connection = *std::move(connection);
    producer.connection->Subscribe(producer.inbox + ".*", 1);
  }
  // Warm-up: one publish each (the stream's leader is elected and the route warm), then the
  // timed phase's load, untimed, for options_.warmup.
  const uint32_t window = std::max<uint32_t>(1, what.in_flight / what.producers);
  absl::Status status = Drive(producers, what, Clock::now() + milliseconds(1), 1, nullptr);
  if (status.ok() && options_.warmup.count() > 0) {
    status = Drive(producers, what, Clock::now() + options_.warmup, window, nullptr);
  }
  LatencySamples latencies;
  const CpuMeter cpu(options_.server_pids);
  const Clock::time_point start = Clock::now();
  if (status.ok()) status = Drive(producers, what, start + options_.duration, window, &latencies);
  side.produce_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  cpu.Finish(latencies.nanos.size(), side);
  side.ok = status.ok();
  if (!status.ok()) side.failure = status.ToString();
  for (const Producer& producer : producers) side.acknowledged += producer.acknowledged;
  ReadBack(producers, what, case_index, side);
  Summarize(what, latencies, side);
  for (const Producer& producer : producers) {
    (void)Admin("$JS.API.STREAM.DELETE." + producer.stream, "");
  }
  return side;
}

// A push consumer per stream (deliver all, no acks) delivering to one reader connection; the
// stream sequence of each delivery is in its reply subject:
// $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>.
void JetStreamDriver::ReadBack(std::vector<Producer>& producers, const Case& what, int case_index,
                               SideResult& side) {
  absl::StatusOr<std::unique_ptr<NatsConnection>> reader =
      NatsConnection::Connect("127.0.0.1", options_.client_ports[0], std::chrono::seconds(5));
  absl::Status status = reader.status();
  for (Producer& producer : producers) {
    if (!status.ok()) break;
    producer.seen.assign(producer.acked.size(), 0);
    const std::string deliver = fmt::format("_INBOX.deliver.{}.{}", case_index, producer.index);
    (*reader)->Subscribe(deliver, producer.index + 1);
    status = (*reader)->Flush();
    if (!status.ok()) break;
    status = Admin("$JS.API.CONSUMER.CREATE." + producer.stream,
                   fmt::format("{{\"stream_name\":\"{}\",\"config\":{{\"deliver_subject\":\"{}\","
                               "\"deliver_policy\":\"all\",\"ack_policy\":\"none\","
                               "\"replay_policy\":\"instant\"}}}}",
                               producer.stream, deliver));
  }
  const Clock::time_point start = Clock::now();
  Clock::time_point progress = start;
  uint64_t records = 0, bytes = 0;
  while (status.ok() && side.read_back < side.acknowledged &&
         Clock::now() < progress + kReadBackStall) {
    status = (*reader)->Fill(milliseconds(100));
    while (status.ok()) {
      absl::StatusOr<std::optional<NatsMessage>> message = (*reader)->Parse();
      if (!message.ok()) status = message.status();
      if (!message.ok() || !message->has_value()) break;
      const NatsMessage& delivery = **message;
      progress = Clock::now();
      records++;
      bytes += delivery.payload.size();
      std::vector<absl::string_view> tokens = absl::StrSplit(delivery.reply, '.');
      uint64_t sequence = 0;
      if (delivery.sid == 0 || delivery.sid > producers.size() || tokens.size() < 7 ||
          !absl::SimpleAtoi(tokens[5], &sequence) || delivery.payload.size() != what.record_bytes) {
        continue;  // Not a delivery of ours: not counted.
      }
      Producer& producer = producers[delivery.sid - 1];
      if (sequence >= producer.seen.size()) continue;
      uint8_t& seen = producer.seen[sequence];
      if (seen > 0) side.duplicates++;
      if (seen == 0 && producer.acked[sequence] == 1) side.read_back++;
      seen = static_cast<uint8_t>(std::min(seen + 1, 2));
    }
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  side.consume_records_per_s = elapsed > 0 ? static_cast<double>(records) / elapsed : 0;
  side.consume_mb_per_s = elapsed > 0 ? static_cast<double>(bytes) / elapsed / 1e6 : 0;
  if (!status.ok() && side.ok) {
    side.ok = false;
    side.failure = "read-back: " + status.ToString();
  }
}

}  // namespace meridian::node::bench
