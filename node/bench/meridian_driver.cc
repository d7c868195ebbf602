// bench::MeridianDriver (meridian_driver.h): one case against Meridian through core/client.
#include "node/bench/meridian_driver.h"

#include <fmt/format.h>

#include <deque>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "core/client/consumer.h"
#include "core/client/partitioner.h"
#include "core/client/producer.h"
#include "io/assert.h"

namespace meridian::node::bench {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

double Seconds(io::Duration duration) { return std::chrono::duration<double>(duration).count(); }

// "producer:sequence:send-ns:" padded with 'x' to `bytes`.
std::string MakeValue(uint32_t producer, uint64_t sequence, int64_t sent_ns, uint32_t bytes) {
  std::string value = fmt::format("{}:{}:{}:", producer, sequence, sent_ns);
  if (value.size() < bytes) value.resize(bytes, 'x');
  return value;
}

struct ValueId {
  uint32_t producer = 0;
  uint64_t sequence = 0;
  int64_t sent_ns = 0;
};

std::optional<ValueId> ParseValue(std::string_view value) {
  std::vector<absl::string_view> parts =
      absl::StrSplit(absl::string_view(value.data(), value.size()), absl::MaxSplits(':', 3));
  ValueId id;
  if (parts.size() != 4 || !absl::SimpleAtoi(parts[0], &id.producer) ||
      !absl::SimpleAtoi(parts[1], &id.sequence) || !absl::SimpleAtoi(parts[2], &id.sent_ns)) {
    return std::nullopt;
  }
  return id;
}

// A key that PartitionForKey sends to `partition`: each producer owns one partition.
std::string KeyFor(uint32_t partition, uint32_t partitions) {
  for (uint32_t i = 0;; i++) {
    std::string key = fmt::format("producer-{}", i);
    if (core::client::PartitionForKey(key, partitions) == partition) return key;
    MERIDIAN_CHECK(i < 1000000, "no key maps to partition {}", partition);
  }
}

}  // namespace

struct MeridianDriver::Worker {
  uint32_t index = 0;
  std::string key;
  std::unique_ptr<core::client::Client> client;
  std::unique_ptr<core::client::Producer> producer;
  std::vector<uint8_t> acked;  // Per sequence: 1 once acknowledged.
  std::vector<uint8_t> seen;   // Per sequence: times the read-back found it.
  uint64_t acknowledged = 0;
  absl::Status error;
};

struct MeridianDriver::Phase {
  std::string topic;
  uint32_t record_bytes = 0;
  uint32_t window = 1;
  io::Instant until;
  LatencySamples* latencies = nullptr;  // Produce latency of each acknowledged record.
};

MeridianDriver::MeridianDriver(io::Runtime& runtime, MeridianOptions options)
    : runtime_(runtime), options_(std::move(options)) {
  core::client::ClientOptions client_options;
  client_options.bootstrap = options_.bootstrap;
  client_options.client_id = "meridian-bench-admin";
  client_options.request_timeout = seconds(5);
  admin_ = std::make_unique<core::client::Client>(runtime_, client_options);
}

MeridianDriver::~MeridianDriver() { admin_->Close(); }

absl::Status MeridianDriver::CreateTopic(const std::string& topic, uint32_t partitions) {
  const io::Instant start = runtime_.Now();
  absl::Status last;
  while (runtime_.Now() < start + seconds(60)) {
    absl::StatusOr<core::wire::TopicInfoT> created = admin_->CreateTopic(topic, partitions, 3);
    if (created.ok()) return absl::OkStatus();
    last = created.status();
    (void)runtime_.Sleep(milliseconds(200));  // The controller is electing, nodes registering.
  }
  return absl::DeadlineExceededError("topic not created within 60 s: " + last.ToString());
}

// Keeps `phase.window` records outstanding until `phase.until`, then waits for the rest.
void MeridianDriver::ProduceLoop(Worker& worker, Phase& phase) {
  struct Pending {
    uint64_t sequence;
    io::Instant sent;
    std::shared_ptr<core::client::DeliveryPromise> delivery;
  };
  std::deque<Pending> pending;
  while (worker.error.ok()) {
    const io::Instant now = runtime_.Now();
    if (now < phase.until && pending.size() < phase.window) {
      const uint64_t sequence = worker.acked.size();
      absl::StatusOr<std::shared_ptr<core::client::DeliveryPromise>> sent =
          worker.producer->Send(phase.topic, worker.key,
                                MakeValue(worker.index, sequence, now.nanos(), phase.record_bytes),
                                {}, 0, now + seconds(30));
      if (!sent.ok()) {
        worker.error = sent.status();
        break;
      }
      worker.acked.push_back(0);
      pending.push_back({sequence, now, *std::move(sent)});
      continue;
    }
    if (pending.empty()) break;
    Pending& front = pending.front();
    absl::StatusOr<const absl::StatusOr<core::client::Delivery>*> waited =
        front.delivery->Wait(runtime_.Now() + seconds(60));
    if (!waited.ok() || !(*waited)->ok()) {
      // Not acknowledged: not counted, and the case fails (the bench wants every record).
      worker.error = waited.ok() ? (*waited)->status() : waited.status();
    } else {
      worker.acked[front.sequence] = 1;
      worker.acknowledged++;
      if (phase.latencies != nullptr)
        phase.latencies->nanos.push_back((runtime_.Now() - front.sent).count());
    }
    pending.pop_front();
  }
  // After an error: wait out what is in flight so the producer closes cleanly.
  for (Pending& rest : pending) {
    auto waited = rest.delivery->Wait(runtime_.Now() + seconds(60));
    if (waited.ok() && (*waited)->ok()) {
      worker.acked[rest.sequence] = 1;
      worker.acknowledged++;
    }
  }
}

absl::Status MeridianDriver::RunPhase(std::vector<Worker>& workers, Phase& phase) {
  std::vector<io::FiberId> fibers;
  for (Worker& worker : workers) {
    fibers.push_back(runtime_.Spawn(fmt::format("bench-producer-{}", worker.index),
                                    [this, &worker, &phase] { ProduceLoop(worker, phase); }));
  }
  for (io::FiberId fiber : fibers) runtime_.scheduler().Join(fiber);
  for (Worker& worker : workers) {
    if (!worker.error.ok()) {
      return absl::Status(worker.error.code(), fmt::format("producer {}: {}", worker.index,
                                                           std::string(worker.error.message())));
    }
  }
  return absl::OkStatus();
}

// One client and producer per worker, each once the topic is visible to it.
absl::Status MeridianDriver::StartWorkers(const Case& what, const std::string& topic,
                                          uint32_t partitions, std::vector<Worker>& workers) {
  for (uint32_t i = 0; i < what.producers; i++) {
    Worker& worker = workers[i];
    worker.index = i;
    worker.key = KeyFor(i, partitions);
    core::client::ClientOptions client_options{.bootstrap = options_.bootstrap,
                                               .client_id = fmt::format("meridian-bench-{}", i)};
    worker.client = std::make_unique<core::client::Client>(runtime_, client_options);
    // The node a client asks may not know the new topic yet (its metadata lags the controller).
    const io::Instant known_by = runtime_.Now() + seconds(30);
    absl::StatusOr<uint32_t> known = worker.client->PartitionCount(topic, known_by);
    while (!known.ok() && runtime_.Now() < known_by) {
      (void)runtime_.Sleep(milliseconds(50));
      known = worker.client->PartitionCount(topic, known_by);
    }
    if (!known.ok()) {
      return absl::UnavailableError("topic never visible: " + known.status().ToString());
    }
    core::client::ProducerOptions producer_options{
        .acks = what.acks == Acks::kQuorum ? core::wire::Acks::Quorum : core::wire::Acks::Leader,
        .batch_bytes_max = options_.batch_bytes_max,
        .linger = options_.linger,
        .max_in_flight_per_partition = options_.max_in_flight_per_partition};
    absl::StatusOr<std::unique_ptr<core::client::Producer>> producer =
        core::client::Producer::Create(*worker.client, producer_options);
    if (!producer.ok()) {
      return absl::UnavailableError("no producer: " + producer.status().ToString());
    }
    worker.producer = *std::move(producer);
  }
  return absl::OkStatus();
}

SideResult MeridianDriver::Run(const Case& what, int case_index) {
  MERIDIAN_CHECK(what.producers >= 1);
  MERIDIAN_CHECK(what.producers <= kProducersMax);
  SideResult side{.ran = true,
                  .durability = options_.acks_before_fsync ? kAckBeforeFsync
                                : what.acks == Acks::kQuorum
                                    ? "ack after fdatasync on 2 of 3 replicas"
                                    : "ack after fdatasync on the leader only"};
  const std::string topic = fmt::format("bench-{}", case_index);
  const uint32_t partitions = what.producers;
  if (absl::Status created = CreateTopic(topic, partitions); !created.ok()) {
    side.failure = created.ToString();
    return side;
  }
  std::vector<Worker> workers(what.producers);
  if (absl::Status started = StartWorkers(what, topic, partitions, workers); !started.ok()) {
    side.failure = std::string(started.message());
    return side;
  }
  // Warm-up: one record each, so leaders are elected and connections open before the clock.
  Phase warm{.topic = topic,
             .record_bytes = what.record_bytes,
             .window = 1,
             .until = runtime_.Now() + milliseconds(1)};
  absl::Status status = RunPhase(workers, warm);
  const uint32_t window = std::max<uint32_t>(1, what.in_flight / what.producers);
  if (status.ok() && options_.warmup.count() > 0) {
    Phase loaded{.topic = topic,
                 .record_bytes = what.record_bytes,
                 .window = window,
                 .until = runtime_.Now() + options_.warmup};
    status = RunPhase(workers, loaded);
  }

  LatencySamples latencies;
  Phase timed{
      .topic = topic, .record_bytes = what.record_bytes, .window = window, .latencies = &latencies};
  const CpuMeter cpu(options_.server_pids);
  const io::Instant start = runtime_.Now();
  timed.until = start + options_.duration;
  if (status.ok()) status = RunPhase(workers, timed);
  side.produce_seconds = Seconds(runtime_.Now() - start);
  cpu.Finish(latencies.nanos.size(), side);

  if (status.ok() && options_.e2e_duration.count() > 0) {
    TailLatency(topic, partitions, workers, what, side);
  }
  for (Worker& worker : workers) {
    (void)worker.producer->Close(runtime_.Now() + seconds(30));
    worker.client->Close();
  }
  side.ok = status.ok();
  if (!status.ok()) side.failure = status.ToString();
  for (const Worker& worker : workers) side.acknowledged += worker.acknowledged;
  ReadBack(topic, partitions, workers, side);
  Summarize(what, latencies, side);
  if (options_.delete_topics) (void)admin_->DeleteTopic(topic);
  return side;
}

// Reads the topic from the beginning until every acknowledged record was found (or nothing new
// came for kReadBackStall), counting duplicates; the rate is the read-back's.
void MeridianDriver::ReadBack(const std::string& topic, uint32_t partitions,
                              std::vector<Worker>& workers, SideResult& side) {
  core::client::ClientOptions client_options{.bootstrap = options_.bootstrap,
                                             .client_id = "meridian-bench-reader"};
  core::client::Client reader_client(runtime_, client_options);
  core::client::Consumer consumer(reader_client,
                                  {.auto_offset_reset = core::client::OffsetReset::kNone});
  std::vector<core::client::TopicPartition> all;
  for (uint32_t p = 0; p < partitions; p++) all.push_back({topic, p});
  for (Worker& worker : workers) worker.seen.assign(worker.acked.size(), 0);
  const io::Instant start = runtime_.Now();
  io::Instant progress = start;
  uint64_t records = 0, bytes = 0;
  absl::Status status = consumer.Assign(all);
  while (status.ok() && side.read_back < side.acknowledged &&
         runtime_.Now() < progress + kReadBackStall) {
    absl::StatusOr<std::vector<core::client::ConsumedRecord>> polled =
        consumer.Poll(milliseconds(200));
    if (!polled.ok()) {
      status = polled.status();
      break;
    }
    if (!polled->empty()) progress = runtime_.Now();
    for (const core::client::ConsumedRecord& record : *polled) {
      records++;
      bytes += record.value.size();
      std::optional<ValueId> id = ParseValue(record.value);
      if (!id || id->producer >= workers.size() ||
          id->sequence >= workers[id->producer].seen.size()) {
        continue;  // Not one of ours (cannot happen on a fresh topic): not counted.
      }
      uint8_t& seen = workers[id->producer].seen[id->sequence];
      if (seen > 0) side.duplicates++;
      if (seen == 0 && workers[id->producer].acked[id->sequence] == 1) side.read_back++;
      seen = static_cast<uint8_t>(std::min(seen + 1, 2));
    }
  }
  const double elapsed = Seconds(runtime_.Now() - start);
  side.consume_records_per_s = elapsed > 0 ? static_cast<double>(records) / elapsed : 0;
  side.consume_mb_per_s = elapsed > 0 ? static_cast<double>(bytes) / elapsed / 1e6 : 0;
  consumer.Close();
  reader_client.Close();
  if (!status.ok() && side.ok) {
    side.ok = false;
    side.failure = "read-back: " + status.ToString();
  }
}

// A consumer tails the topic (from its end) while the producers write for e2e_duration; the
// latency is from Send to the record coming out of Poll, on this process's one clock.
void MeridianDriver::TailLatency(const std::string& topic, uint32_t partitions,
                                 std::vector<Worker>& workers, const Case& what, SideResult& side) {
  core::client::ClientOptions client_options{.bootstrap = options_.bootstrap,
                                             .client_id = "meridian-bench-tail"};
  core::client::Client tail_client(runtime_, client_options);
  core::client::Consumer consumer(tail_client,
                                  {.auto_offset_reset = core::client::OffsetReset::kLatest,
                                   .fetch_max_wait = milliseconds(200)});
  std::vector<core::client::TopicPartition> all;
  for (uint32_t p = 0; p < partitions; p++) all.push_back({topic, p});
  absl::Status status = consumer.Assign(all);
  for (const core::client::TopicPartition& partition : all) {
    if (status.ok()) status = consumer.Position(partition, runtime_.Now() + seconds(10)).status();
  }
  LatencySamples e2e;
  uint64_t expected = 0;
  bool producing = true;
  const io::FiberId tail = runtime_.Spawn("bench-tail", [&] {
    while (producing || e2e.nanos.size() < expected) {
      absl::StatusOr<std::vector<core::client::ConsumedRecord>> polled =
          consumer.Poll(milliseconds(100));
      if (!polled.ok()) break;
      const int64_t now = runtime_.Now().nanos();
      for (const core::client::ConsumedRecord& record : *polled) {
        if (std::optional<ValueId> id = ParseValue(record.value)) {
          e2e.nanos.push_back(now - id->sent_ns);
        }
      }
      if (!producing && polled->empty()) break;  // Drained: what is left was not acked.
    }
  });
  uint64_t before = 0;
  for (const Worker& worker : workers) before += worker.acknowledged;
  Phase phase{.topic = topic,
              .record_bytes = what.record_bytes,
              .window = std::max<uint32_t>(1, what.in_flight / what.producers),
              .until = runtime_.Now() + options_.e2e_duration};
  if (status.ok()) status = RunPhase(workers, phase);
  for (const Worker& worker : workers) expected += worker.acknowledged;
  expected -= before;
  producing = false;
  runtime_.scheduler().Join(tail);
  consumer.Close();
  tail_client.Close();
  if (status.ok() && !e2e.nanos.empty()) {
    side.e2e_p50_ms = e2e.PercentileMs(0.5);
    side.e2e_p99_ms = e2e.PercentileMs(0.99);
  }
}

}  // namespace meridian::node::bench
