// testing: producing and polling helpers shared by the consumer tests (consumer_test,
// near_reads_test), on the deterministic test runtime. Call from a fiber of the client's runtime.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/client/consumer.h"
#include "core/client/producer.h"
#include "io/assert.h"

namespace meridian::core::client::testing {

// Produces `count` records to `topic` keyed "key-<i>" with value "v<i>", header h=x and
// timestamp 5000 + i, and waits until every one is acknowledged.
inline void ProduceKeyed(Client& client, const std::string& topic, int count, int first = 0) {
  auto producer = Producer::Create(client);
  MERIDIAN_CHECK(producer.ok());
  io::Runtime& runtime = client.runtime();
  for (int i = first; i < first + count; ++i) {
    auto sent = (*producer)->Send(topic, fmt::format("key-{}", i), fmt::format("v{}", i),
                                  {{"h", "x"}}, 5000 + i, runtime.Now() + std::chrono::seconds(5));
    MERIDIAN_CHECK(sent.ok());
  }
  MERIDIAN_CHECK((*producer)->Close(runtime.Now() + std::chrono::seconds(10)).ok());
}

// Polls until `count` records arrived or `within` passed (virtual time); what arrived.
inline std::vector<ConsumedRecord> PollAtLeast(io::Runtime& runtime, Consumer& consumer,
                                               size_t count,
                                               io::Duration within = std::chrono::seconds(30)) {
  std::vector<ConsumedRecord> all;
  const io::Instant end = runtime.Now() + within;
  while (all.size() < count && runtime.Now() < end) {
    auto polled = consumer.Poll(std::chrono::milliseconds(500));
    EXPECT_TRUE(polled.ok()) << polled.status();
    if (!polled.ok()) break;
    for (ConsumedRecord& record : *polled) all.push_back(std::move(record));
  }
  return all;
}

}  // namespace meridian::core::client::testing
