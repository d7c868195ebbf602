// Fuzz target: a Kafka record batch v2 as a Produce request carries it (core/kafka/record_batch.h)
// — bytes from any Kafka client, untrusted.
//
// Input: any bytes, one batch. DecodeRecordBatch must refuse it with a reason or decode it;
// never crash or read outside the input. A decoded batch must:
//   1. re-encode (EncodeRecordBatch) into bytes that decode to the same batch;
//   2. translate into Meridian's batch (or be refused for its producer fields), which encodes,
//      verifies (core/wire), and translates back (AppendKafkaBatch) into a Kafka batch equal to
//      the input's, up to what Meridian does not keep (docs/kafka.md: a null value or header
//      value is empty, an empty key is null, attributes and leader epoch are not stored).
// Each input runs twice: as it is, and with its CRC32C rewritten to match (so that mutations
// reach what the checksum guards: the records and the four codecs' decompression).
// Seeds: fuzz/corpus/kafka_record_batch (make_corpus.cc).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/kafka/record_batch.h"
#include "core/kafka/translate.h"
#include "io/assert.h"
#include "io/crc32c.h"

namespace meridian::fuzz {
namespace {

using core::kafka::KafkaBatch;

// The batch as it comes back out of Meridian.
KafkaBatch AsMeridianKeepsIt(KafkaBatch batch, int64_t base_offset) {
  batch.base_offset = base_offset;
  batch.attributes = 0;
  batch.partition_leader_epoch = -1;
  if (batch.producer_id == -1) {
    batch.producer_epoch = -1;
    batch.base_sequence = -1;
  }
  for (core::kafka::KafkaRecord& record : batch.records) {
    if (record.key.has_value() && record.key->empty()) record.key.reset();
    if (!record.value.has_value()) record.value.emplace();
    for (core::kafka::KafkaHeader& header : record.headers) {
      if (!header.value.has_value()) header.value.emplace();
    }
  }
  return batch;
}

void Run(std::span<const uint8_t> input) {
  core::kafka::BatchDecodeError error;
  std::optional<KafkaBatch> batch = core::kafka::DecodeRecordBatch(input, &error);
  if (!batch.has_value()) {
    MERIDIAN_CHECK(!error.reason.empty());
    return;
  }
  std::vector<uint8_t> encoded;
  core::kafka::EncodeRecordBatch(*batch, encoded);
  std::optional<KafkaBatch> again = core::kafka::DecodeRecordBatch(encoded, &error);
  MERIDIAN_CHECK(again.has_value(), "a re-encoded batch does not decode: {}", error.reason);
  MERIDIAN_CHECK(*again == *batch, "a re-encoded batch decodes differently");
  std::string why;
  std::optional<core::wire::RecordBatchT> meridian = core::kafka::ToMeridianBatch(*batch, &why);
  if (!meridian.has_value()) return;
  const std::vector<uint8_t> stored = core::wire::EncodeRecordBatch(*meridian);
  absl::StatusOr<const core::wire::RecordBatch*> verified = core::wire::VerifyRecordBatch(stored);
  if (!verified.ok()) {
    MERIDIAN_CHECK(stored.size() > core::wire::kBatchBytesMax, "{}", verified.status().ToString());
    return;
  }
  std::vector<uint8_t> fetched;
  core::kafka::AppendKafkaBatch(**verified, 42, fetched);
  std::optional<KafkaBatch> back = core::kafka::DecodeRecordBatch(fetched, &error);
  MERIDIAN_CHECK(back.has_value(), "a fetched batch does not decode: {}", error.reason);
  MERIDIAN_CHECK(*back == AsMeridianKeepsIt(*batch, 42), "the batch changed through Meridian");
}

}  // namespace
}  // namespace meridian::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> input(data, size);
  meridian::fuzz::Run(input);
  // Again with the CRC32C made right: almost every mutation breaks it, and the decoder's later
  // checks (records, and the codecs' decompression) would otherwise see only the seeds.
  if (size >= meridian::core::kafka::kBatchHeaderBytes) {
    std::vector<uint8_t> fixed(input.begin(), input.end());
    const uint32_t crc = meridian::io::Crc32c(
        std::span<const uint8_t>(fixed).subspan(meridian::core::kafka::kBatchCrcCoveredFrom));
    for (int i = 0; i < 4; i++) fixed[17 + i] = static_cast<uint8_t>(crc >> (24 - 8 * i));
    if (!std::equal(fixed.begin(), fixed.end(), input.begin())) meridian::fuzz::Run(fixed);
  }
  return 0;
}
