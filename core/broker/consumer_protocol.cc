#include "core/broker/consumer_protocol.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/wire/client_codec.h"
#include "io/assert.h"

namespace meridian::core::broker {
namespace {

// A bounds-checked big-endian reader with a sticky error (the first failure is kept).
class ProtocolReader {
 public:
  explicit ProtocolReader(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  int64_t Int(size_t width) {
    if (!Need(width)) return 0;
    uint64_t value = 0;
    for (size_t i = 0; i < width; i++) value = (value << 8) | bytes_[position_ + i];
    position_ += width;
    // Sign-extend from `width` bytes.
    const int shift = static_cast<int>(64 - 8 * width);
    return static_cast<int64_t>(value << shift) >> shift;
  }
  int16_t Int16() { return static_cast<int16_t>(Int(2)); }
  int32_t Int32() { return static_cast<int32_t>(Int(4)); }
  std::string String() {
    const int16_t length = Int16();
    if (length < 0 || static_cast<size_t>(length) > wire::kNameBytesMax) {
      Fail(fmt::format("a name of {} bytes", length));
      return {};
    }
    if (!Need(static_cast<size_t>(length))) return {};
    std::string out(bytes_.begin() + position_, bytes_.begin() + position_ + length);
    position_ += static_cast<size_t>(length);
    return out;
  }
  void SkipNullableBytes() {
    const int32_t length = Int32();
    if (length == -1) return;
    if (length < 0 || !Need(static_cast<size_t>(length))) return Fail("a bad user_data length");
    position_ += static_cast<size_t>(length);
  }
  // An array count in [0, count_max], each element at least `element_bytes_min` bytes.
  size_t Count(size_t count_max, size_t element_bytes_min) {
    const int32_t count = Int32();
    if (count < 0 || static_cast<size_t>(count) > count_max ||
        static_cast<size_t>(count) * element_bytes_min > bytes_.size() - position_) {
      Fail(fmt::format("an array of {} elements", count));
      return 0;
    }
    return static_cast<size_t>(count);
  }
  void Fail(std::string why) {
    if (error_.empty()) error_ = fmt::format("{} at byte {}", why, position_);
  }
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  bool Need(size_t n) {
    if (!ok()) return false;
    if (bytes_.size() - position_ < n) {
      Fail(fmt::format("{} bytes needed, {} left", n, bytes_.size() - position_));
      return false;
    }
    return true;
  }

  std::span<const uint8_t> bytes_;
  size_t position_ = 0;
  std::string error_;
};

void PutInt(std::vector<uint8_t>& out, int64_t value, size_t width) {
  for (size_t i = width; i > 0; i--) out.push_back(static_cast<uint8_t>(value >> (8 * (i - 1))));
}

void PutString(std::vector<uint8_t>& out, const std::string& s) {
  MERIDIAN_CHECK(s.size() <= wire::kNameBytesMax);
  PutInt(out, static_cast<int64_t>(s.size()), 2);
  out.insert(out.end(), s.begin(), s.end());
}

}  // namespace

absl::StatusOr<ConsumerSubscription> ParseConsumerSubscription(std::span<const uint8_t> bytes) {
  ProtocolReader reader(bytes);
  ConsumerSubscription out;
  out.version = reader.Int16();
  if (reader.ok() && out.version < 0) reader.Fail(fmt::format("version {}", out.version));
  const size_t topics = reader.Count(kConsumerTopicsMax, 2);
  for (size_t i = 0; i < topics && reader.ok(); i++) out.topics.push_back(reader.String());
  reader.SkipNullableBytes();  // user_data; what follows (owned partitions...) is not needed.
  if (!reader.ok()) {
    return absl::InvalidArgumentError("ConsumerProtocol subscription: " + reader.error());
  }
  std::sort(out.topics.begin(), out.topics.end());
  out.topics.erase(std::unique(out.topics.begin(), out.topics.end()), out.topics.end());
  return out;
}

absl::StatusOr<ConsumerAssignment> ParseConsumerAssignment(std::span<const uint8_t> bytes) {
  ConsumerAssignment out;
  if (bytes.empty()) return out;
  ProtocolReader reader(bytes);
  out.version = reader.Int16();
  if (reader.ok() && out.version < 0) reader.Fail(fmt::format("version {}", out.version));
  const size_t topics = reader.Count(kConsumerTopicsMax, 6);
  for (size_t t = 0; t < topics && reader.ok(); t++) {
    const std::string topic = reader.String();
    const size_t partitions = reader.Count(kConsumerPartitionsMax, 4);
    for (size_t p = 0; p < partitions && reader.ok(); p++) {
      const int32_t partition = reader.Int32();
      if (partition < 0) reader.Fail(fmt::format("partition {}", partition));
      if (out.partitions.size() >= kConsumerPartitionsMax) reader.Fail("too many partitions");
      if (reader.ok()) out.partitions.emplace_back(topic, static_cast<uint32_t>(partition));
    }
  }
  reader.SkipNullableBytes();  // user_data: relayed to the member, not read.
  if (!reader.ok()) {
    return absl::InvalidArgumentError("ConsumerProtocol assignment: " + reader.error());
  }
  std::sort(out.partitions.begin(), out.partitions.end());
  if (std::adjacent_find(out.partitions.begin(), out.partitions.end()) != out.partitions.end()) {
    return absl::InvalidArgumentError("ConsumerProtocol assignment: a partition named twice");
  }
  return out;
}

std::vector<uint8_t> EncodeConsumerAssignment(const std::vector<TopicPartitionKey>& partitions) {
  std::vector<uint8_t> out;
  PutInt(out, 0, 2);  // version.
  size_t topics = 0;
  for (size_t i = 0; i < partitions.size(); i++) {
    topics += i == 0 || partitions[i].first != partitions[i - 1].first;
  }
  PutInt(out, static_cast<int64_t>(topics), 4);
  for (size_t i = 0; i < partitions.size();) {
    size_t end = i;
    while (end < partitions.size() && partitions[end].first == partitions[i].first) end++;
    PutString(out, partitions[i].first);
    PutInt(out, static_cast<int64_t>(end - i), 4);
    for (; i < end; i++) PutInt(out, partitions[i].second, 4);
  }
  PutInt(out, -1, 4);  // user_data: null.
  return out;
}

std::vector<uint8_t> EncodeConsumerSubscription(const std::vector<std::string>& topics) {
  std::vector<uint8_t> out;
  PutInt(out, 0, 2);
  PutInt(out, static_cast<int64_t>(topics.size()), 4);
  for (const std::string& topic : topics) PutString(out, topic);
  PutInt(out, -1, 4);
  return out;
}

}  // namespace meridian::core::broker
