#include "core/client/consumer.h"

#include <fmt/format.h>

#include "core/client/errors.h"
#include "core/client/near_replica.h"
#include "io/assert.h"
#include "io/probe.h"

namespace meridian::core::client {

Consumer::Consumer(Client& client, ConsumerOptions options)
    : client_(client), runtime_(client.runtime()), options_(options), data_(runtime_) {
  MERIDIAN_CHECK(options_.fetch_max_bytes > 0);
  MERIDIAN_CHECK(options_.fetch_max_bytes <= wire::kFetchBytesMax);
  MERIDIAN_CHECK(options_.buffer_bytes_max > 0);
  MERIDIAN_CHECK(options_.fetch_max_wait < client.options().request_timeout,
                 "a long poll must end before the request times out");
}

Consumer::~Consumer() {
  if (runtime_.scheduler().InFiber() && !runtime_.scheduler().shutting_down()) Close();
  MERIDIAN_CHECK(fetchers_.empty() || runtime_.scheduler().shutting_down(),
                 "Consumer destroyed with fetchers running: Close() it first");
}

io::Instant Consumer::CallDeadline() const {
  return runtime_.Now() + options_.fetch_max_wait + client_.options().request_timeout;
}

Consumer::Fetcher* Consumer::Find(const TopicPartition& partition) {
  auto it = fetchers_.find(partition);
  return it == fetchers_.end() ? nullptr : it->second.get();
}

void Consumer::Restart(Fetcher& fetcher, std::optional<wire::OffsetSpec> reset, int64_t offset) {
  fetcher.generation++;
  fetcher.reset = reset;
  fetcher.fetch_offset = offset;
  fetcher.position = offset;
  fetcher.epoch = -1;  // A seek starts over: nothing read before it is to be validated.
  fetcher.buffered.clear();
  fetcher.buffered_bytes = 0;
  fetcher.error = absl::OkStatus();
  fetcher.wake.NotifyAll();
}

void Consumer::StartFetcher(const TopicPartition& partition) {
  auto fetcher = std::make_unique<Fetcher>(runtime_);
  fetcher->partition = partition;
  fetcher->reset = options_.auto_offset_reset == OffsetReset::kLatest ? wire::OffsetSpec::Latest
                                                                      : wire::OffsetSpec::Earliest;
  Fetcher* raw = fetcher.get();
  fetchers_[partition] = std::move(fetcher);
  raw->fiber = runtime_.Spawn(fmt::format("fetch-{}", partition.ToString()),
                              [this, raw] { FetchLoop(*raw); });
}

void Consumer::StopFetcher(Fetcher& fetcher) {
  fetcher.stop = true;
  fetcher.wake.NotifyAll();
  runtime_.scheduler().Cancel(fetcher.fiber);
  runtime_.scheduler().Join(fetcher.fiber);
}

absl::Status Consumer::Assign(std::vector<TopicPartition> partitions) {
  if (closed_) return absl::FailedPreconditionError("consumer closed");
  if (partitions.size() > kPartitionsAssignedMax) {
    return absl::InvalidArgumentError(
        fmt::format("at most {} partitions per consumer", kPartitionsAssignedMax));
  }
  absl::btree_map<TopicPartition, bool> wanted;
  for (TopicPartition& partition : partitions) wanted[std::move(partition)] = true;
  for (auto it = fetchers_.begin(); it != fetchers_.end();) {
    if (wanted.contains(it->first)) {
      ++it;
      continue;
    }
    StopFetcher(*it->second);
    it = fetchers_.erase(it);
  }
  for (const auto& [partition, unused] : wanted) {
    if (!fetchers_.contains(partition)) StartFetcher(partition);
  }
  MERIDIAN_CHECK(fetchers_.size() == wanted.size());
  return absl::OkStatus();
}

absl::Status Consumer::Seek(const TopicPartition& partition, core::Offset offset) {
  Fetcher* fetcher = Find(partition);
  if (fetcher == nullptr) {
    return absl::FailedPreconditionError(partition.ToString() + " is not assigned");
  }
  if (offset.value() > static_cast<uint64_t>(INT64_MAX)) {
    return absl::InvalidArgumentError("offset out of range");
  }
  Restart(*fetcher, std::nullopt, static_cast<int64_t>(offset.value()));
  return absl::OkStatus();
}

absl::Status Consumer::SeekToBeginning(const TopicPartition& partition) {
  Fetcher* fetcher = Find(partition);
  if (fetcher == nullptr) {
    return absl::FailedPreconditionError(partition.ToString() + " is not assigned");
  }
  Restart(*fetcher, wire::OffsetSpec::Earliest, 0);
  return absl::OkStatus();
}

absl::Status Consumer::SeekToEnd(const TopicPartition& partition) {
  Fetcher* fetcher = Find(partition);
  if (fetcher == nullptr) {
    return absl::FailedPreconditionError(partition.ToString() + " is not assigned");
  }
  Restart(*fetcher, wire::OffsetSpec::Latest, 0);
  return absl::OkStatus();
}

absl::StatusOr<core::Offset> Consumer::Position(const TopicPartition& partition,
                                                io::Instant deadline) {
  Fetcher* fetcher = Find(partition);
  if (fetcher == nullptr) {
    return absl::FailedPreconditionError(partition.ToString() + " is not assigned");
  }
  absl::Status known =
      data_.WaitUntil([&] { return Find(partition) != fetcher || !fetcher->reset.has_value(); },
                      deadline, "position lookup");
  if (!known.ok()) return known;
  if (Find(partition) != fetcher) return absl::AbortedError("assignment changed");
  return core::Offset(static_cast<uint64_t>(fetcher->position));
}

void Consumer::Close() {
  if (closed_) return;
  closed_ = true;
  for (auto& [partition, fetcher] : fetchers_) StopFetcher(*fetcher);
  fetchers_.clear();
  data_.NotifyAll();
}

void Consumer::SetError(Fetcher& fetcher, absl::Status error) {
  MERIDIAN_CHECK(!error.ok());
  fetcher.error = std::move(error);
  data_.NotifyAll();
}

void Consumer::FetchLoop(Fetcher& fetcher) {
  uint32_t failures = 0;
  while (!fetcher.stop) {
    absl::Status room = fetcher.wake.WaitUntil(
        [&] {
          return fetcher.stop ||
                 (fetcher.error.ok() && fetcher.buffered_bytes < options_.buffer_bytes_max);
        },
        io::Instant::Infinite(), "fetch room");
    if (!room.ok() || fetcher.stop) return;
    absl::Status step = fetcher.reset ? ResolvePosition(fetcher) : FetchOnce(fetcher);
    if (absl::IsCancelled(step) || fetcher.stop) return;
    if (step.ok()) {
      failures = 0;
      continue;
    }
    // Transient (no node answered in time, connection trouble): back off and try again.
    MERIDIAN_PROBE("consumer: fetch retried after a transient error");
    const uint32_t doublings = std::min<uint32_t>(failures++, 10);
    const io::Duration backoff =
        std::min(client_.options().retry_backoff * (int64_t{1} << doublings),
                 client_.options().retry_backoff_max);
    if (!runtime_.Sleep(backoff).ok()) return;
  }
}

absl::Status Consumer::ResolvePosition(Fetcher& fetcher) {
  const uint64_t generation = fetcher.generation;
  wire::ListOffsetsRequestT request;
  request.topic = fetcher.partition.topic;
  request.partition = fetcher.partition.partition;
  request.spec = *fetcher.reset;
  request.allow_follower = options_.allow_follower;
  absl::StatusOr<wire::ListOffsetsResponseT> listed = TakeBody<wire::ListOffsetsResponseT>(
      client_.CallPartitionLeader(request.topic, request.partition, wire::Message(0, request),
                                  CallDeadline()),
      [](wire::BodyUnion& body) { return body.AsListOffsetsResponse(); }, "ListOffsetsResponse");
  if (fetcher.generation != generation || fetcher.stop) return absl::OkStatus();  // Stale.
  if (!listed.ok()) {
    if (WireErrorCode(listed.status()).has_value()) {
      SetError(fetcher, listed.status());
      return absl::OkStatus();
    }
    return listed.status();
  }
  if (listed->offset < 0) {
    SetError(fetcher,
             absl::DataLossError(fmt::format("{}: ListOffsets answered offset {}",
                                             fetcher.partition.ToString(), listed->offset)));
    return absl::OkStatus();
  }
  fetcher.reset.reset();
  fetcher.fetch_offset = listed->offset;
  fetcher.position = listed->offset;
  data_.NotifyAll();
  return absl::OkStatus();
}

absl::Status Consumer::FetchOnce(Fetcher& fetcher) {
  const uint64_t generation = fetcher.generation;
  const int64_t offset = fetcher.fetch_offset;
  wire::FetchRequestT request;
  request.topic = fetcher.partition.topic;
  request.partition = fetcher.partition.partition;
  request.offset = offset;
  request.max_bytes = options_.fetch_max_bytes;
  request.max_wait_ms = static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.fetch_max_wait).count());
  request.allow_follower = options_.allow_follower;
  request.epoch = fetcher.epoch;
  io::NodeId served_by;
  absl::StatusOr<std::unique_ptr<wire::ClientMessageT>> response =
      CallFetch(fetcher, request, &served_by);
  if (fetcher.generation != generation || fetcher.stop) {
    MERIDIAN_PROBE("consumer: stale fetch discarded");
    return absl::OkStatus();
  }
  if (!response.ok()) return response.status();
  if (const wire::ErrorResponseT* error = (*response)->body.AsErrorResponse()) {
    if (error->code == wire::ErrorCode::OffsetOutOfRange) {
      ApplyOffsetReset(fetcher, *error);
    } else {
      SetError(fetcher, StatusFromError(*error));
    }
    return absl::OkStatus();
  }
  const wire::FetchResponseT* fetched = (*response)->body.AsFetchResponse();
  if (fetched == nullptr) {
    SetError(fetcher, UnexpectedResponse(**response, "FetchResponse"));
    return absl::OkStatus();
  }
  fetcher.epoch = std::max(fetcher.epoch, fetched->epoch);
  for (const auto& batch : fetched->batches) {
    if (batch != nullptr) fetched_bytes_by_node_[served_by.value()] += batch->batch.size();
  }
  absl::Status appended = Append(fetcher, *fetched, offset);
  if (!appended.ok()) SetError(fetcher, appended);
  data_.NotifyAll();
  return absl::OkStatus();
}

Client::Response Consumer::CallFetch(Fetcher& fetcher, const wire::FetchRequestT& request,
                                     io::NodeId* served_by) {
  if (std::optional<io::NodeId> near = NearReplica(fetcher)) {
    wire::FetchRequestT near_request = request;
    near_request.allow_follower = true;
    Client::Response answer =
        client_.CallNode(*near, wire::Message(0, std::move(near_request)), CallDeadline());
    if (absl::IsCancelled(answer.status())) return answer;
    const wire::ErrorResponseT* error = answer.ok() ? (*answer)->body.AsErrorResponse() : nullptr;
    if (error != nullptr && error->code == wire::ErrorCode::Throttled) {
      // A quota, the same at the leader: back off (FetchLoop) and ask the near replica again.
      MERIDIAN_PROBE("consumer: near replica throttled a fetch");
      return absl::UnavailableError("throttled by the near replica");
    }
    if (NearAnswerUsable(fetcher, *near, request.offset, answer)) {
      *served_by = *near;
      return answer;
    }
    if (fetcher.stop) return absl::CancelledError("consumer stopping");
  }
  return client_.CallPartitionLeader(request.topic, request.partition, wire::Message(0, request),
                                     CallDeadline(),
                                     /*maybe_delivered=*/nullptr, served_by);
}

std::optional<io::NodeId> Consumer::NearReplica(Fetcher& fetcher) {
  if (options_.client_region.empty()) return std::nullopt;
  const wire::TopicInfoT* topic = client_.CachedTopic(fetcher.partition.topic);
  if (topic == nullptr) return std::nullopt;  // The leader path learns the metadata.
  const wire::PartitionInfoT* partition = nullptr;
  for (const auto& info : topic->partitions) {
    if (info != nullptr && info->partition == fetcher.partition.partition) partition = info.get();
  }
  if (partition == nullptr) return std::nullopt;
  absl::btree_set<uint32_t> avoid;
  for (auto it = fetcher.avoid_until.begin(); it != fetcher.avoid_until.end();) {
    if (it->second <= runtime_.Now()) {
      it = fetcher.avoid_until.erase(it);
      continue;
    }
    avoid.insert(it->first);
    ++it;
  }
  return ChooseNearReplica(
      *partition, topic->name, options_.client_region,
      [this](uint32_t node) { return client_.NodeRegion(node); }, avoid);
}

bool Consumer::NearAnswerUsable(Fetcher& fetcher, io::NodeId node, int64_t offset,
                                const Client::Response& answer) {
  const wire::FetchResponseT* fetched = answer.ok() ? (*answer)->body.AsFetchResponse() : nullptr;
  if (fetched != nullptr && fetched->high_watermark >= offset) return true;
  fetcher.avoid_until[node.value()] = runtime_.Now() + kNearReplicaAvoid;
  if (fetched != nullptr) {
    // Behind what this consumer already read elsewhere: its answer holds nothing wrong (only
    // committed records below its high watermark), but the next fetches go elsewhere.
    MERIDIAN_PROBE("consumer: near replica lags the fetch position, passed over");
    return true;
  }
  // An error (not hosted, no data lease, a new epoch, out of range there...) or no answer:
  // refresh what the cache knows, as the leader path does on NotLeader, and ask the leader.
  MERIDIAN_PROBE("consumer: near replica failed, the leader serves");
  (void)client_.RefreshMetadata({fetcher.partition.topic});
  return false;
}

void Consumer::ApplyOffsetReset(Fetcher& fetcher, const wire::ErrorResponseT& error) {
  MERIDIAN_PROBE("consumer: offset out of range");
  const int64_t target = options_.auto_offset_reset == OffsetReset::kLatest ? error.latest_offset
                                                                            : error.earliest_offset;
  if (options_.auto_offset_reset == OffsetReset::kNone) {
    SetError(fetcher, StatusFromError(error));
    return;
  }
  if (target < 0 || error.earliest_offset > error.latest_offset) {
    SetError(fetcher,
             absl::DataLossError(fmt::format("{}: OffsetOutOfRange with an invalid range {}..{}",
                                             fetcher.partition.ToString(), error.earliest_offset,
                                             error.latest_offset)));
    return;
  }
  Restart(fetcher, std::nullopt, target);
}

absl::Status Consumer::Append(Fetcher& fetcher, const wire::FetchResponseT& response,
                              int64_t requested) {
  int64_t next = requested;
  for (const auto& fetched : response.batches) {
    if (fetched == nullptr || fetched->base_offset < 0) {
      return absl::DataLossError(fmt::format("{}: fetched batch without a valid base offset",
                                             fetcher.partition.ToString()));
    }
    absl::StatusOr<const wire::RecordBatch*> batch = wire::VerifyRecordBatch(fetched->batch);
    if (!batch.ok()) {
      MERIDIAN_PROBE("consumer: fetched batch failed verification");
      return absl::DataLossError(fmt::format("{}: batch at offset {} failed verification: {}",
                                             fetcher.partition.ToString(), fetched->base_offset,
                                             std::string(batch.status().message())));
    }
    const auto& records = *(*batch)->records();
    for (uint32_t i = 0; i < records.size(); ++i) {
      const int64_t offset = fetched->base_offset + i;
      if (offset < next) continue;  // Before the requested offset (or already buffered).
      const wire::Record* record = records.Get(i);
      ConsumedRecord consumed{.topic = fetcher.partition.topic,
                              .partition = fetcher.partition.partition,
                              .offset = core::Offset(static_cast<uint64_t>(offset)),
                              .timestamp_ms = record->timestamp_ms()};
      if (record->key() != nullptr) {
        consumed.key.emplace(record->key()->begin(), record->key()->end());
      }
      if (record->value() != nullptr) {
        consumed.value.assign(record->value()->begin(), record->value()->end());
      }
      if (record->headers() != nullptr) {
        for (const wire::Header* header : *record->headers()) {
          RecordHeader& copy = consumed.headers.emplace_back();
          if (header->key() != nullptr) copy.key = header->key()->str();
          if (header->value() != nullptr) {
            copy.value.assign(header->value()->begin(), header->value()->end());
          }
        }
      }
      fetcher.buffered_bytes += consumed.value.size() + (consumed.key ? consumed.key->size() : 0);
      fetcher.buffered.push_back(std::move(consumed));
      next = offset + 1;
    }
  }
  MERIDIAN_CHECK(next >= requested);
  fetcher.fetch_offset = next;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ConsumedRecord>> Consumer::Poll(io::Duration max_wait) {
  if (closed_) return absl::FailedPreconditionError("consumer closed");
  auto ready = [&] {
    for (const auto& [partition, fetcher] : fetchers_) {
      if (!fetcher->buffered.empty() || !fetcher->error.ok()) return true;
    }
    return closed_;
  };
  absl::Status waited = data_.WaitUntil(ready, runtime_.Now() + max_wait, "poll");
  if (absl::IsCancelled(waited)) return waited;
  std::vector<ConsumedRecord> records;
  std::vector<Fetcher*> order;
  for (auto& [partition, fetcher] : fetchers_) order.push_back(fetcher.get());
  Fetcher* failed = nullptr;  // The first partition with an error and nothing buffered.
  for (size_t n = 0; n < order.size() && records.size() < kPollRecordsMax; ++n) {
    Fetcher& fetcher = *order[(poll_rotation_ + n) % order.size()];
    while (!fetcher.buffered.empty() && records.size() < kPollRecordsMax) {
      ConsumedRecord& record = fetcher.buffered.front();
      MERIDIAN_CHECK(static_cast<int64_t>(record.offset.value()) >= fetcher.position);
      fetcher.position = static_cast<int64_t>(record.offset.value()) + 1;
      fetcher.buffered_bytes -= record.value.size() + (record.key ? record.key->size() : 0);
      records.push_back(std::move(record));
      fetcher.buffered.pop_front();
    }
    if (fetcher.buffered.empty() && !fetcher.error.ok() && failed == nullptr) failed = &fetcher;
    fetcher.wake.NotifyAll();
  }
  poll_rotation_++;
  if (records.empty() && failed != nullptr) {
    absl::Status error = std::move(failed->error);
    failed->error = absl::OkStatus();  // Reported now; the fetcher tries again.
    failed->wake.NotifyAll();
    return error;
  }
  return records;
}

}  // namespace meridian::core::client
