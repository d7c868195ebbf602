#include "core/wire/raft_codec.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <vector>

namespace meridian::core::wire {
namespace {

// Inside meridian::core::wire, `raft::` is the generated wire namespace; the model is core::raft.
using core::Term;
using core::raft::Campaign;
using core::raft::Entry;
using core::raft::EntryKind;
using core::raft::Index;
using core::raft::kBatchEntriesMax;
using core::raft::kMembersMax;
using core::raft::kVotersMax;
using core::raft::Membership;
using core::raft::Message;
using core::raft::MessageType;
using io::NodeId;

constexpr MessageType kAllTypes[] = {
    MessageType::kPreVote,
    MessageType::kPreVoteResponse,
    MessageType::kVote,
    MessageType::kVoteResponse,
    MessageType::kAppend,
    MessageType::kAppendResponse,
    MessageType::kHeartbeat,
    MessageType::kHeartbeatResponse,
    MessageType::kTimeoutNow,
    MessageType::kTermQuery,
    MessageType::kTermQueryResponse,
};  // kSnapshot carries required fields: RoundTripsASnapshotUpToItsLimit.

// ---------------------------------------------------------------- helpers

std::string Describe(const Message& m) {
  std::string out =
      fmt::format("{} {}->{} {} idx={} lt={} c={} reject={} hint={}/{} ctx={} campaign={} entries:",
                  core::raft::MessageTypeName(m.type), m.from.ToString(), m.to.ToString(),
                  m.term.ToString(), m.log_index.ToString(), m.log_term.ToString(),
                  m.commit.ToString(), m.reject, m.hint_index.ToString(), m.hint_term.ToString(),
                  m.context_ticks, static_cast<int>(m.campaign));
  for (const Entry& e : m.entries) {
    out += fmt::format(" [{} {} kind={} {}B {}]", e.index.ToString(), e.term.ToString(),
                       static_cast<int>(e.kind), e.data.size(), e.membership.ToString());
  }
  return out;
}

bool Same(const Message& a, const Message& b) {
  return a.type == b.type && a.from == b.from && a.to == b.to && a.term == b.term &&
         a.log_index == b.log_index && a.log_term == b.log_term && a.entries == b.entries &&
         a.commit == b.commit && a.reject == b.reject && a.hint_index == b.hint_index &&
         a.hint_term == b.hint_term && a.context_ticks == b.context_ticks &&
         a.campaign == b.campaign && a.snapshot == b.snapshot && a.quiesce == b.quiesce;
}

std::vector<uint8_t> Bytes(const flatbuffers::FlatBufferBuilder& builder) {
  return {builder.GetBufferPointer(), builder.GetBufferPointer() + builder.GetSize()};
}

// A valid append from n1 to n2 in term 5 carrying `count` normal entries after (10, t3).
Message ValidAppend(size_t count = 3) {
  Message m{.type = MessageType::kAppend,
            .from = NodeId(1),
            .to = NodeId(2),
            .term = Term(5),
            .log_index = Index(10),
            .log_term = Term(3),
            .commit = Index(9)};
  for (size_t i = 0; i < count; i++) {
    m.entries.push_back(Entry{
        .term = Term(i == 0 ? 4 : 5), .index = Index(11 + i), .data = fmt::format("data{}", i)});
  }
  return m;
}

Membership Voters(std::initializer_list<uint32_t> voters,
                  std::initializer_list<uint32_t> learners = {}) {
  Membership membership;
  for (uint32_t id : voters) membership.voters.insert(NodeId(id));
  for (uint32_t id : learners) membership.learners.insert(NodeId(id));
  return membership;
}

Message WithConfig(Membership membership) {
  Message m = ValidAppend(1);
  m.entries[0].kind = EntryKind::kConfig;
  m.entries[0].data.clear();
  m.entries[0].membership = std::move(membership);
  return m;
}

// Encodes `message` (valid or not: the encoder does not validate) and expects the decoder to
// reject it with InvalidArgument mentioning `reason`.
void ExpectRejected(const std::vector<uint8_t>& bytes, const std::string& reason) {
  absl::StatusOr<PeerRaftMessage> decoded = DecodePeerMessage(bytes);
  ASSERT_FALSE(decoded.ok()) << "accepted: " << Describe(decoded->message);
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument)
      << decoded.status().ToString();
  EXPECT_NE(decoded.status().ToString().find(reason), std::string::npos)
      << "expected \"" << reason << "\" in " << decoded.status().ToString();
}

void ExpectRejected(const Message& message, const std::string& reason) {
  ExpectRejected(EncodePeerMessage(7, message), reason);
}

// Builds an envelope by hand so tests can write what EncodePeerMessage never would: raw enum
// values, and entries built by `entries` (which may share offsets or omit vectors).
struct Raw {
  uint8_t type = static_cast<uint8_t>(raft::MessageType::Append);
  uint32_t from = 1;
  uint32_t to = 2;
  uint64_t term = 5;
  uint64_t log_index = 10;
  uint64_t log_term = 3;
  uint8_t campaign = 0;
};
using EntriesOffset = flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<raft::Entry>>>;

std::vector<uint8_t> Handmade(
    const Raw& raw,
    const std::function<EntriesOffset(flatbuffers::FlatBufferBuilder&)>& entries = nullptr) {
  flatbuffers::FlatBufferBuilder builder;
  const EntriesOffset entries_offset = entries ? entries(builder) : EntriesOffset(0);
  const auto message = raft::CreateRaftMessage(
      builder, static_cast<raft::MessageType>(raw.type), raw.from, raw.to, raw.term, raw.log_index,
      raw.log_term, entries_offset, /*commit=*/0, /*reject=*/false,
      /*hint_index=*/0, /*hint_term=*/0, /*context_ticks=*/0,
      static_cast<raft::Campaign>(raw.campaign));
  builder.Finish(raft::CreatePeerEnvelope(builder, 7, message));
  return Bytes(builder);
}

// ---------------------------------------------------------------- generators

rc::Gen<uint32_t> GenNodeId() {
  // Mostly small ids (collisions between from/to and members get exercised), sometimes any.
  return rc::gen::weightedOneOf<uint32_t>(
      {{4, rc::gen::inRange<uint32_t>(1, 32)},
       {1, rc::gen::inRange<uint32_t>(1, std::numeric_limits<uint32_t>::max())}});
}

// Terms and indexes stay below 2^62 so generated arithmetic never wraps.
constexpr uint64_t kValueMax = uint64_t{1} << 62;

rc::Gen<uint64_t> GenValue(uint64_t min = 0) {
  return rc::gen::weightedOneOf<uint64_t>({{3, rc::gen::inRange<uint64_t>(min, min + 100)},
                                           {1, rc::gen::inRange<uint64_t>(min, kValueMax)}});
}

rc::Gen<Membership> GenMembership() {
  return rc::gen::exec([] {
    const size_t voters = *rc::gen::inRange<size_t>(1, kVotersMax + 1);
    const size_t learners = *rc::gen::inRange<size_t>(0, kMembersMax - voters + 1);
    const auto ids = *rc::gen::container<std::set<uint32_t>>(voters + learners, GenNodeId());
    std::vector<uint32_t> shuffled(ids.begin(), ids.end());
    for (size_t i = shuffled.size(); i > 1; i--) {  // Fisher-Yates: random voter/learner split.
      std::swap(shuffled[i - 1], shuffled[*rc::gen::inRange<size_t>(0, i)]);
    }
    Membership membership;
    for (size_t i = 0; i < shuffled.size(); i++) {
      (i < voters ? membership.voters : membership.learners).insert(NodeId(shuffled[i]));
    }
    return membership;
  });
}

// A valid message of `type`: fields raft does not constrain are arbitrary.
rc::Gen<Message> GenMessage(MessageType type) {
  return rc::gen::exec([type] {
    Message m;
    m.type = type;
    const uint32_t from = *GenNodeId();
    m.from = NodeId(from);
    m.to = NodeId(*rc::gen::suchThat(GenNodeId(), [from](uint32_t to) { return to != from; }));
    m.term = Term(*GenValue(1));
    m.log_index = Index(*GenValue());
    m.log_term = Term(*rc::gen::inRange<uint64_t>(0, m.term.value() + 1));
    if (type == MessageType::kAppend) {
      const size_t count = *rc::gen::inRange<size_t>(0, kBatchEntriesMax + 1);
      auto terms = *rc::gen::container<std::vector<uint64_t>>(
          count, rc::gen::inRange<uint64_t>(m.log_term.value(), m.term.value() + 1));
      std::sort(terms.begin(), terms.end());
      for (size_t i = 0; i < count; i++) {
        Entry entry{.term = Term(terms[i]), .index = Index(m.log_index.value() + i + 1)};
        if (*rc::gen::inRange(0, 4) == 0) {
          entry.kind = EntryKind::kConfig;
          entry.membership = *GenMembership();
        } else {
          entry.data = *rc::gen::string<std::string>();
        }
        m.entries.push_back(std::move(entry));
      }
    }
    m.commit = Index(*GenValue());
    m.reject = *rc::gen::arbitrary<bool>();
    m.hint_index = Index(*GenValue());
    m.hint_term = Term(*rc::gen::inRange<uint64_t>(0, m.term.value() + 1));
    m.context_ticks = *rc::gen::arbitrary<uint64_t>();
    m.campaign = *rc::gen::element(Campaign::kNormal, Campaign::kTransfer);
    m.quiesce = type == MessageType::kHeartbeat && *rc::gen::arbitrary<bool>();
    return m;
  });
}

rc::Gen<Message> GenMessage() {
  return rc::gen::exec([] {
    const MessageType type =
        *rc::gen::elementOf(std::vector<MessageType>(std::begin(kAllTypes), std::end(kAllTypes)));
    return *GenMessage(type);
  });
}

// ---------------------------------------------------------------- round trips

RC_GTEST_PROP(RaftCodec, RoundTripsEveryValidMessage, ()) {
  const Message message = *GenMessage();
  const uint64_t group = *rc::gen::arbitrary<uint64_t>();
  RC_TAG(core::raft::MessageTypeName(message.type));
  RC_ASSERT(ValidateRaftMessage(message).ok());
  const std::vector<uint8_t> bytes = EncodePeerMessage(group, message);
  RC_ASSERT(bytes.size() <= kPeerMessageBytesMax);
  const absl::StatusOr<PeerRaftMessage> decoded = DecodePeerMessage(bytes);
  if (!decoded.ok()) RC_FAIL(decoded.status().ToString() + " for " + Describe(message));
  RC_ASSERT(decoded->group == group);
  if (!Same(decoded->message, message)) {
    RC_FAIL(Describe(decoded->message) + "\n  != " + Describe(message));
  }
  // Encoding is deterministic, so the re-encoding is byte-identical.
  RC_ASSERT(EncodePeerMessage(group, decoded->message) == bytes);
}

TEST(RaftCodec, RoundTripsOneMessageOfEachType) {
  for (MessageType type : kAllTypes) {
    Message message = type == MessageType::kAppend ? WithConfig(Voters({1, 2, 3}, {4})) : Message{};
    message.type = type;
    message.from = NodeId(3);
    message.to = NodeId(std::numeric_limits<uint32_t>::max());
    message.term = Term(std::numeric_limits<uint64_t>::max());
    message.commit = Index(std::numeric_limits<uint64_t>::max());
    message.reject = true;
    message.context_ticks = 99;
    message.campaign = Campaign::kTransfer;
    const auto decoded = DecodePeerMessage(EncodePeerMessage(~uint64_t{0}, message));
    ASSERT_TRUE(decoded.ok()) << core::raft::MessageTypeName(type) << ": "
                              << decoded.status().ToString();
    EXPECT_EQ(decoded->group, ~uint64_t{0});
    EXPECT_TRUE(Same(decoded->message, message)) << Describe(decoded->message);
  }
}

Message ValidSnapshot(size_t data_bytes) {
  Message message{.type = MessageType::kSnapshot,
                  .from = NodeId(1),
                  .to = NodeId(2),
                  .term = Term(7),
                  .commit = Index(90)};
  message.snapshot.meta = {
      .index = Index(88), .term = Term(6), .membership = Voters({1, 2, 3}, {4})};
  message.snapshot.data = std::string(data_bytes, 's');
  return message;
}

TEST(RaftCodec, RoundTripsASnapshotUpToItsLimit) {
  for (size_t bytes : {size_t{0}, size_t{1}, core::raft::kSnapshotDataBytesMax}) {
    const Message message = ValidSnapshot(bytes);
    const auto decoded = DecodePeerMessage(EncodePeerMessage(5, message));
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_TRUE(Same(decoded->message, message)) << Describe(decoded->message);
  }
}

TEST(RaftCodec, RejectsMalformedSnapshots) {
  auto rejected = [](const Message& message) {
    return !DecodePeerMessage(EncodePeerMessage(5, message)).ok();
  };
  EXPECT_TRUE(rejected(ValidSnapshot(core::raft::kSnapshotDataBytesMax + 1)));
  Message far_index = ValidSnapshot(1);
  far_index.snapshot.meta.index = Index(core::raft::kSnapshotIndexMax.value() + 1);
  EXPECT_TRUE(rejected(far_index));
  Message zero_index = ValidSnapshot(1);
  zero_index.snapshot.meta.index = Index(0);
  EXPECT_TRUE(rejected(zero_index));
  Message future_term = ValidSnapshot(1);
  future_term.snapshot.meta.term = Term(8);
  EXPECT_TRUE(rejected(future_term));
  Message no_voters = ValidSnapshot(1);
  no_voters.snapshot.meta.membership.voters.clear();
  EXPECT_TRUE(rejected(no_voters));
  Message on_append = ValidAppend(1);
  on_append.snapshot = ValidSnapshot(1).snapshot;
  EXPECT_TRUE(rejected(on_append)) << "only kSnapshot carries a snapshot";
}

TEST(RaftCodec, RoundTripsAFullBatchAndTheDataLimit) {
  Message full = ValidAppend(kBatchEntriesMax);
  const auto decoded = DecodePeerMessage(EncodePeerMessage(1, full));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_TRUE(Same(decoded->message, full));

  // The largest allowed data, spread over a full batch of config-heavy entries, still fits.
  Message big = ValidAppend(kBatchEntriesMax);
  for (Entry& entry : big.entries) entry.data.clear();
  big.entries[0].data.assign(kEntriesDataBytesMax, 'x');
  for (size_t i = 1; i < big.entries.size(); i++) {
    big.entries[i].kind = EntryKind::kConfig;
    big.entries[i].membership =
        Voters({1, 2, 3, 4, 5, 6, 7, 8, 9}, {10, 11, 12, 13, 14, 15, 4000000000});
  }
  const std::vector<uint8_t> bytes = EncodePeerMessage(~uint64_t{0}, big);
  EXPECT_LE(bytes.size(), kPeerMessageBytesMax);
  const auto big_decoded = DecodePeerMessage(bytes);
  ASSERT_TRUE(big_decoded.ok()) << big_decoded.status().ToString();
  EXPECT_TRUE(Same(big_decoded->message, big));
}

// ---------------------------------------------------------------- untrusted bytes

// Whatever decodes is a valid message that re-encodes (no crash, within the size limit) and
// decodes to itself; whatever does not decode is rejected as InvalidArgument.
void CheckDecodeIsSafe(std::span<const uint8_t> bytes) {
  const absl::StatusOr<PeerRaftMessage> decoded = DecodePeerMessage(bytes);
  RC_TAG(!decoded.ok()                      ? "rejected"
         : decoded->message.entries.empty() ? "decoded"
                                            : "decoded with entries");
  if (!decoded.ok()) {
    RC_ASSERT(decoded.status().code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  RC_ASSERT(ValidateRaftMessage(decoded->message).ok());
  const std::vector<uint8_t> again = EncodePeerMessage(decoded->group, decoded->message);
  const absl::StatusOr<PeerRaftMessage> redecoded = DecodePeerMessage(again);
  if (!redecoded.ok()) RC_FAIL(redecoded.status().ToString());
  RC_ASSERT(redecoded->group == decoded->group);
  RC_ASSERT(Same(redecoded->message, decoded->message));
}

RC_GTEST_PROP(RaftCodec, MutatedBytesNeverCrash, ()) {
  const Message message = *GenMessage();
  std::vector<uint8_t> bytes = EncodePeerMessage(*rc::gen::arbitrary<uint64_t>(), message);
  const int mutations = *rc::gen::inRange(1, 6);
  for (int i = 0; i < mutations && !bytes.empty(); i++) {
    const size_t position = *rc::gen::inRange<size_t>(0, bytes.size());
    switch (*rc::gen::inRange(0, 4)) {
      case 0:  // Flip one bit.
        bytes[position] ^= static_cast<uint8_t>(1u << *rc::gen::inRange(0, 8));
        break;
      case 1:  // Overwrite one byte.
        bytes[position] = *rc::gen::arbitrary<uint8_t>();
        break;
      case 2: {  // Overwrite a little-endian word with an interesting value (offset, length).
        uint32_t value = *rc::gen::element<uint32_t>(0, 1, 4, 8, 0x7fffffff, 0xffffffff,
                                                     static_cast<uint32_t>(bytes.size()));
        for (size_t k = 0; k < 4 && position + k < bytes.size(); k++, value >>= 8) {
          bytes[position + k] = static_cast<uint8_t>(value);
        }
        break;
      }
      case 3:  // Truncate.
        bytes.resize(position);
        break;
    }
  }
  CheckDecodeIsSafe(bytes);
}

RC_GTEST_PROP(RaftCodec, ArbitraryBytesNeverCrash, (const std::vector<uint8_t>& bytes)) {
  CheckDecodeIsSafe(bytes);
}

TEST(RaftCodec, RejectsGarbageEmptyAndOversizedInput) {
  ExpectRejected(std::vector<uint8_t>{}, "verification");
  ExpectRejected(std::vector<uint8_t>{1, 2, 3}, "verification");
  ExpectRejected(std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, "verification");
  ExpectRejected(std::vector<uint8_t>(kPeerMessageBytesMax + 1, 0), "bytes (limit");
}

TEST(RaftCodec, DecodesFromAnyAddress) {
  // FlatBuffers reads scalars in place; a buffer at an odd address must not be misread (UBSan
  // checks alignment under --config=asan).
  const Message message = ValidAppend();
  const std::vector<uint8_t> bytes = EncodePeerMessage(1, message);
  for (size_t shift = 1; shift < 8; shift++) {
    std::vector<uint8_t> shifted(bytes.size() + shift);
    std::copy(bytes.begin(), bytes.end(), shifted.begin() + shift);
    const auto decoded = DecodePeerMessage(std::span<const uint8_t>(shifted).subspan(shift));
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_TRUE(Same(decoded->message, message));
  }
}

// ---------------------------------------------------------------- absent tables (regression)

TEST(RaftCodec, RejectsAnEnvelopeWithoutItsRaftMessage) {
  // Regression pattern from client_codec: the verifier accepts an absent optional table.
  flatbuffers::FlatBufferBuilder builder;
  builder.Finish(raft::CreatePeerEnvelope(builder, 42));
  ExpectRejected(Bytes(builder), "without a raft message");

  flatbuffers::FlatBufferBuilder empty;
  raft::PeerEnvelopeBuilder envelope(empty);
  empty.Finish(envelope.Finish());
  ExpectRejected(Bytes(empty), "without a raft message");
}

TEST(RaftCodec, AbsentOptionalVectorsReadAsEmpty) {
  // An append with no entries vector (a probe), and entries with no data/voters/learners.
  auto probe = DecodePeerMessage(Handmade(Raw{}));
  ASSERT_TRUE(probe.ok()) << probe.status().ToString();
  EXPECT_TRUE(probe->message.entries.empty());

  auto bare = DecodePeerMessage(Handmade(Raw{}, [](flatbuffers::FlatBufferBuilder& b) {
    return b.CreateVector(std::vector{raft::CreateEntry(b, 5, 11)});
  }));
  ASSERT_TRUE(bare.ok()) << bare.status().ToString();
  ASSERT_EQ(bare->message.entries.size(), 1u);
  EXPECT_EQ(bare->message.entries[0].data, "");
  EXPECT_EQ(bare->message.entries[0].membership, Membership{});

  // A config entry whose membership vectors are absent is an empty configuration: rejected.
  ExpectRejected(Handmade(Raw{},
                          [](flatbuffers::FlatBufferBuilder& b) {
                            return b.CreateVector(
                                std::vector{raft::CreateEntry(b, 5, 11, raft::EntryKind::Config)});
                          }),
                 "no voters");
}

// ---------------------------------------------------------------- semantic rejections

TEST(RaftCodec, RejectsUnknownEnumValues) {
  ExpectRejected(Handmade(Raw{.type = 12}), "unknown type 12");
  ExpectRejected(Handmade(Raw{.type = 255}), "unknown type 255");
  ExpectRejected(Handmade(Raw{.campaign = 2}), "unknown campaign 2");
  ExpectRejected(Handmade(Raw{.campaign = 255}), "unknown campaign 255");
  // The handmade baseline itself is valid.
  EXPECT_TRUE(DecodePeerMessage(Handmade(Raw{.type = 8, .campaign = 1})).ok());
  ExpectRejected(Handmade(Raw{},
                          [](flatbuffers::FlatBufferBuilder& b) {
                            return b.CreateVector(std::vector{
                                raft::CreateEntry(b, 5, 11, static_cast<raft::EntryKind>(7))});
                          }),
                 "unknown kind 7");
}

TEST(RaftCodec, RejectsBadEndpointsAndTermZero) {
  Message m = ValidAppend();
  m.from = NodeId();
  ExpectRejected(m, "from node 0");
  m = ValidAppend();
  m.to = NodeId();
  ExpectRejected(m, "to node 0");
  m = ValidAppend();
  m.to = m.from;
  ExpectRejected(m, "to itself");
  m = Message{.type = MessageType::kVote, .from = NodeId(1), .to = NodeId(2)};
  ExpectRejected(m, "term 0");
}

TEST(RaftCodec, RejectsEntriesThatDoNotFollowLogIndex) {
  Message m = ValidAppend();
  m.entries[0].index = Index(10);  // Must start at log_index + 1 = 11.
  ExpectRejected(m, "expected i11");
  m = ValidAppend();
  m.entries[2].index = Index(14);  // Gap.
  ExpectRejected(m, "expected i13");
  m = ValidAppend();
  std::swap(m.entries[1].index, m.entries[2].index);  // Out of order.
  ExpectRejected(m, "expected i12");
  m = ValidAppend();
  m.entries[1].index = m.entries[0].index;  // Duplicate.
  ExpectRejected(m, "expected i12");
  m = ValidAppend(2);
  m.log_index = Index(std::numeric_limits<uint64_t>::max() - 1);
  m.entries[0].index = Index(std::numeric_limits<uint64_t>::max());
  m.entries[1].index = Index(0);  // Would wrap.
  ExpectRejected(m, "overflow");
}

TEST(RaftCodec, RejectsEntryTermsOutOfOrder) {
  Message m = ValidAppend();
  m.entries[2].term = Term(6);  // Above the message term 5.
  ExpectRejected(m, "above the message term");
  m = ValidAppend();
  m.entries[0].term = Term(2);  // Below log_term 3.
  ExpectRejected(m, "below the preceding term");
  m = ValidAppend();
  m.entries[2].term = Term(4);  // After an entry of term 5.
  ExpectRejected(m, "below the preceding term");
}

TEST(RaftCodec, RejectsLogAndHintTermsAboveTheMessageTerm) {
  // A sender's log never holds a term above its own current term, so prevLogTerm (append),
  // lastLogTerm (votes) and the conflict hint's term never exceed the message term.
  for (MessageType type : kAllTypes) {
    Message m{
        .type = type, .from = NodeId(1), .to = NodeId(2), .term = Term(5), .log_term = Term(6)};
    ExpectRejected(m, "log term t6 above the message term t5");
    m.log_term = Term(5);
    m.hint_term = Term(6);
    ExpectRejected(m, "hint term t6 above the message term t5");
    m.hint_term = Term(5);
    EXPECT_TRUE(DecodePeerMessage(EncodePeerMessage(7, m)).ok());
  }
}

TEST(RaftCodec, AcceptsAnEntryOfTheLargestSizeRaftSends) {
  // Raft refuses larger entries itself (kEntryBytesMax, counted as a malformed drop); the codec
  // bounds only what fits in a frame, so the two limits can move independently.
  Message m = ValidAppend(1);
  m.entries[0].data.assign(core::raft::kEntryBytesMax, 'x');
  const auto decoded = DecodePeerMessage(EncodePeerMessage(7, m));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(Same(decoded->message, m));
}

TEST(RaftCodec, RejectsEntriesOnMessagesOtherThanAppend) {
  for (MessageType type : kAllTypes) {
    if (type == MessageType::kAppend) continue;
    Message m = ValidAppend(1);
    m.type = type;
    ExpectRejected(m, "carries 1 entries");
  }
}

TEST(RaftCodec, OnlyAHeartbeatAsksToQuiesce) {
  Message heartbeat{
      .type = MessageType::kHeartbeat, .from = NodeId(1), .to = NodeId(2), .term = Term(5)};
  heartbeat.quiesce = true;
  const auto decoded = DecodePeerMessage(EncodePeerMessage(7, heartbeat));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_TRUE(decoded->message.quiesce);
  for (MessageType type : kAllTypes) {
    if (type == MessageType::kHeartbeat || type == MessageType::kSnapshot) continue;
    Message m = heartbeat;
    m.type = type;
    ExpectRejected(m, "asks to quiesce");
  }
}

// The leader's configuration index (what a joining copy waits for) survives the wire on the
// messages a leader sends, and only on those.
TEST(RaftCodec, OnlyALeadersMessagesCarryAConfigurationIndex) {
  Message heartbeat{
      .type = MessageType::kHeartbeat, .from = NodeId(1), .to = NodeId(2), .term = Term(5)};
  heartbeat.config_index = Index(42);
  const auto decoded = DecodePeerMessage(EncodePeerMessage(7, heartbeat));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->message.config_index, Index(42));
  for (MessageType type : kAllTypes) {
    if (type == MessageType::kHeartbeat || type == MessageType::kSnapshot ||
        type == MessageType::kAppend) {
      continue;
    }
    Message m = heartbeat;
    m.type = type;
    ExpectRejected(m, "carries a configuration index");
  }
}

TEST(RaftCodec, RejectsMoreThanABatchOfEntries) {
  Message m = ValidAppend(kBatchEntriesMax + 1);
  ExpectRejected(m, fmt::format("{} entries (limit {})", kBatchEntriesMax + 1, kBatchEntriesMax));
}

TEST(RaftCodec, RejectsInvalidConfigurations) {
  ExpectRejected(WithConfig(Voters({})), "no voters");
  ExpectRejected(WithConfig(Voters({}, {1})), "no voters");
  ExpectRejected(WithConfig(Voters({1, 2, 3, 4, 5, 6, 7, 8, 9, 10})), "10 voters (limit 9)");
  ExpectRejected(WithConfig(Voters({1, 2, 3}, {4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17})),
                 "17 members (limit 16)");
  ExpectRejected(WithConfig(Voters({1, 2, 3}, {3})), "n3 is voter and learner");
  ExpectRejected(WithConfig(Voters({0, 1, 2})), "node id 0 among the voters");
  ExpectRejected(WithConfig(Voters({1, 2}, {0})), "node id 0 among the learners");
  // A normal entry must not carry a membership.
  Message m = ValidAppend(1);
  m.entries[0].membership = Voters({1});
  ExpectRejected(m, "normal entry i11 carries a membership");
  // The largest valid configuration is accepted.
  auto largest = DecodePeerMessage(EncodePeerMessage(
      1, WithConfig(Voters({1, 2, 3, 4, 5, 6, 7, 8, 9}, {10, 11, 12, 13, 14, 15, 16}))));
  EXPECT_TRUE(largest.ok()) << largest.status().ToString();
}

TEST(RaftCodec, RejectsNodesListedTwiceOnTheWire) {
  // A set would silently merge them; the wire form must be canonical.
  const auto config_entry = [](std::vector<uint32_t> voters, std::vector<uint32_t> learners) {
    return Handmade(Raw{}, [voters, learners](flatbuffers::FlatBufferBuilder& b) {
      return b.CreateVector(std::vector{
          raft::CreateEntryDirect(b, 5, 11, raft::EntryKind::Config, nullptr, &voters, &learners)});
    });
  };
  ExpectRejected(config_entry({1, 2, 2}, {}), "n2 listed twice among the voters");
  ExpectRejected(config_entry({1}, {4, 4}), "n4 listed twice among the learners");
  ExpectRejected(config_entry({1}, {0}), "node id 0 among the learners");
  ExpectRejected(config_entry({1}, std::vector<uint32_t>(1000, 5)), "more than 16 members");
  EXPECT_TRUE(DecodePeerMessage(config_entry({1, 2}, {3})).ok());
}

TEST(RaftCodec, RejectsEntriesSharingOneDataVector) {
  // FlatBuffers lets every entry point at the same bytes: a 1 MiB message would decode into
  // 64 MiB of entries and then fail to re-encode. Rejected before anything is copied.
  const auto shared = Handmade(Raw{}, [](flatbuffers::FlatBufferBuilder& b) {
    const std::vector<uint8_t> mib(1 << 20, 'x');
    const auto data = b.CreateVector(mib);
    std::vector<flatbuffers::Offset<raft::Entry>> entries;
    for (uint64_t i = 0; i < kBatchEntriesMax; i++) {
      entries.push_back(raft::CreateEntry(b, 5, 11 + i, raft::EntryKind::Normal, data));
    }
    return b.CreateVector(entries);
  });
  EXPECT_LT(shared.size(), size_t{2} << 20);
  ExpectRejected(shared, "data budget");
}

TEST(RaftCodec, ValidateMembershipNeverCrashes) {
  EXPECT_TRUE(ValidateMembership(Voters({1})).ok());
  EXPECT_FALSE(ValidateMembership(Membership{}).ok());
  EXPECT_FALSE(ValidateMembership(Voters({1}, {1})).ok());
}

}  // namespace
}  // namespace meridian::core::wire
