#include "core/wire/raft_codec.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>
#include <string>

#include "core/raft/message_check.h"
#include "io/assert.h"

namespace meridian::core::wire {
namespace {

using core::Term;
using core::raft::Campaign;
using core::raft::Entry;
using core::raft::EntryKind;
using core::raft::Index;
using core::raft::Membership;
using core::raft::Message;
using core::raft::MessageType;
using io::NodeId;

// PeerEnvelope -> RaftMessage -> entries -> Entry -> vector: depth 5. Tables: 2 + the entries;
// the bound is loose enough that an oversized batch is reported by the semantic check (with a
// reason) rather than by the verifier.
constexpr uint32_t kVerifierDepthMax = 8;
constexpr uint32_t kVerifierTablesMax = 4 * core::raft::kBatchEntriesMax + 16;

absl::Status Invalid(std::string reason) {
  return absl::InvalidArgumentError(fmt::format("raft peer message: {}", reason));
}

raft::MessageType ToWire(MessageType type) {
  switch (type) {
    case MessageType::kPreVote:
      return raft::MessageType::PreVote;
    case MessageType::kPreVoteResponse:
      return raft::MessageType::PreVoteResponse;
    case MessageType::kVote:
      return raft::MessageType::Vote;
    case MessageType::kVoteResponse:
      return raft::MessageType::VoteResponse;
    case MessageType::kAppend:
      return raft::MessageType::Append;
    case MessageType::kAppendResponse:
      return raft::MessageType::AppendResponse;
    case MessageType::kHeartbeat:
      return raft::MessageType::Heartbeat;
    case MessageType::kHeartbeatResponse:
      return raft::MessageType::HeartbeatResponse;
    case MessageType::kTimeoutNow:
      return raft::MessageType::TimeoutNow;
    case MessageType::kSnapshot:
      return raft::MessageType::Snapshot;
    case MessageType::kTermQuery:
      return raft::MessageType::TermQuery;
    case MessageType::kTermQueryResponse:
      return raft::MessageType::TermQueryResponse;
  }
  MERIDIAN_UNREACHABLE("message type {}", static_cast<int>(type));
}

raft::EntryKind ToWire(EntryKind kind) {
  switch (kind) {
    case EntryKind::kNormal:
      return raft::EntryKind::Normal;
    case EntryKind::kConfig:
      return raft::EntryKind::Config;
  }
  MERIDIAN_UNREACHABLE("entry kind {}", static_cast<int>(kind));
}

raft::Campaign ToWire(Campaign campaign) {
  switch (campaign) {
    case Campaign::kNormal:
      return raft::Campaign::Normal;
    case Campaign::kTransfer:
      return raft::Campaign::Transfer;
  }
  MERIDIAN_UNREACHABLE("campaign {}", static_cast<int>(campaign));
}

// The wire enums are read as raw bytes: a peer may send any value.
std::optional<MessageType> FromWire(raft::MessageType type) {
  switch (type) {
    case raft::MessageType::PreVote:
      return MessageType::kPreVote;
    case raft::MessageType::PreVoteResponse:
      return MessageType::kPreVoteResponse;
    case raft::MessageType::Vote:
      return MessageType::kVote;
    case raft::MessageType::VoteResponse:
      return MessageType::kVoteResponse;
    case raft::MessageType::Append:
      return MessageType::kAppend;
    case raft::MessageType::AppendResponse:
      return MessageType::kAppendResponse;
    case raft::MessageType::Heartbeat:
      return MessageType::kHeartbeat;
    case raft::MessageType::HeartbeatResponse:
      return MessageType::kHeartbeatResponse;
    case raft::MessageType::TimeoutNow:
      return MessageType::kTimeoutNow;
    case raft::MessageType::Snapshot:
      return MessageType::kSnapshot;
    case raft::MessageType::TermQuery:
      return MessageType::kTermQuery;
    case raft::MessageType::TermQueryResponse:
      return MessageType::kTermQueryResponse;
  }
  return std::nullopt;
}

std::optional<EntryKind> FromWire(raft::EntryKind kind) {
  switch (kind) {
    case raft::EntryKind::Normal:
      return EntryKind::kNormal;
    case raft::EntryKind::Config:
      return EntryKind::kConfig;
  }
  return std::nullopt;
}

std::optional<Campaign> FromWire(raft::Campaign campaign) {
  switch (campaign) {
    case raft::Campaign::Normal:
      return Campaign::kNormal;
    case raft::Campaign::Transfer:
      return Campaign::kTransfer;
  }
  return std::nullopt;
}

flatbuffers::Offset<flatbuffers::Vector<uint32_t>> EncodeNodes(
    flatbuffers::FlatBufferBuilder& builder, const absl::btree_set<NodeId>& nodes) {
  if (nodes.empty()) return 0;
  std::vector<uint32_t> ids;
  ids.reserve(nodes.size());
  for (NodeId id : nodes) ids.push_back(id.value());
  return builder.CreateVector(ids);
}

// Reads a node set, rejecting id 0 and duplicates (a set would silently merge them). `nodes` may
// be null (absent vector: the empty set).
absl::Status DecodeNodes(const flatbuffers::Vector<uint32_t>* nodes, const char* what,
                         absl::btree_set<NodeId>* out) {
  if (nodes == nullptr) return absl::OkStatus();
  if (nodes->size() > core::raft::kMembersMax) {
    return Invalid(
        fmt::format("{} {} (more than {} members)", nodes->size(), what, core::raft::kMembersMax));
  }
  for (uint32_t id : *nodes) {
    if (id == 0) return Invalid(fmt::format("node id 0 among the {}", what));
    if (!out->insert(NodeId(id)).second) {
      return Invalid(fmt::format("n{} listed twice among the {}", id, what));
    }
  }
  return absl::OkStatus();
}

// `data_bytes_left`: the budget for the entries' data (see kEntriesDataBytesMax), checked before
// anything is copied.
absl::StatusOr<Entry> DecodeEntry(const raft::Entry* wire, size_t position,
                                  size_t* data_bytes_left) {
  // Vector-of-table elements are verified offsets, but null-check anyway: never dereference an
  // optional table unchecked.
  if (wire == nullptr) return Invalid(fmt::format("entry {} absent", position));
  Entry entry;
  entry.term = Term(wire->term());
  entry.index = Index(wire->index());
  const std::optional<EntryKind> kind = FromWire(wire->kind());
  if (!kind) {
    return Invalid(
        fmt::format("entry {} has unknown kind {}", position, static_cast<int>(wire->kind())));
  }
  entry.kind = *kind;
  if (const flatbuffers::Vector<uint8_t>* data = wire->data(); data != nullptr) {
    if (data->size() > *data_bytes_left) {
      return Invalid(fmt::format(
          "entry {} data of {} bytes exceeds what is left of the message's data budget ({})",
          position, data->size(), *data_bytes_left));
    }
    *data_bytes_left -= data->size();
    entry.data.assign(reinterpret_cast<const char*>(data->data()), data->size());
  }
  absl::Status status = DecodeNodes(wire->voters(), "voters", &entry.membership.voters);
  if (status.ok()) status = DecodeNodes(wire->learners(), "learners", &entry.membership.learners);
  if (!status.ok()) {
    return Invalid(fmt::format("entry {}: {}", position, std::string(status.message())));
  }
  return entry;
}

// The kSnapshot fields (absent on every other type: an empty snapshot).
absl::Status DecodeSnapshot(const raft::RaftMessage& wire, core::raft::Snapshot* out) {
  core::raft::Snapshot& snapshot = *out;
  snapshot.meta.index = Index(wire.snapshot_index());
  snapshot.meta.term = Term(wire.snapshot_term());
  absl::Status nodes =
      DecodeNodes(wire.snapshot_voters(), "snapshot voters", &snapshot.meta.membership.voters);
  if (nodes.ok()) {
    nodes = DecodeNodes(wire.snapshot_learners(), "snapshot learners",
                        &snapshot.meta.membership.learners);
  }
  if (!nodes.ok()) return nodes;
  if (const flatbuffers::Vector<uint8_t>* data = wire.snapshot_data(); data != nullptr) {
    if (data->size() > core::raft::kSnapshotDataBytesMax) {
      return Invalid(fmt::format("snapshot data of {} bytes (limit {})", data->size(),
                                 core::raft::kSnapshotDataBytesMax));
    }
    snapshot.data.assign(reinterpret_cast<const char*>(data->data()), data->size());
  }
  return absl::OkStatus();
}

}  // namespace

namespace {

size_t EntriesDataBytes(const Message& message) {
  size_t total = 0;
  for (const Entry& entry : message.entries) total += entry.data.size();
  return total;
}

}  // namespace

std::vector<uint8_t> EncodePeerMessage(uint64_t group, const Message& message) {
  MERIDIAN_CHECK(EntriesDataBytes(message) <= kEntriesDataBytesMax,
                 "raft peer message with {} bytes of entry data", EntriesDataBytes(message));
  flatbuffers::FlatBufferBuilder builder(256);
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<raft::Entry>>> entries = 0;
  if (!message.entries.empty()) {
    std::vector<flatbuffers::Offset<raft::Entry>> offsets;
    offsets.reserve(message.entries.size());
    for (const Entry& entry : message.entries) {
      // The driver reads an elided entry's data back before the message leaves (Entry::elided).
      MERIDIAN_CHECK(!entry.elided, "entry {} sent without its data", entry.index.ToString());
      flatbuffers::Offset<flatbuffers::Vector<uint8_t>> data = 0;
      if (!entry.data.empty()) {
        data = builder.CreateVector(reinterpret_cast<const uint8_t*>(entry.data.data()),
                                    entry.data.size());
      }
      const auto voters = EncodeNodes(builder, entry.membership.voters);
      const auto learners = EncodeNodes(builder, entry.membership.learners);
      offsets.push_back(raft::CreateEntry(builder, entry.term.value(), entry.index.value(),
                                          ToWire(entry.kind), data, voters, learners));
    }
    entries = builder.CreateVector(offsets);
  }
  const core::raft::Snapshot& snapshot = message.snapshot;
  const auto snapshot_voters = EncodeNodes(builder, snapshot.meta.membership.voters);
  const auto snapshot_learners = EncodeNodes(builder, snapshot.meta.membership.learners);
  flatbuffers::Offset<flatbuffers::Vector<uint8_t>> snapshot_data = 0;
  if (!snapshot.data.empty()) {
    snapshot_data = builder.CreateVector(reinterpret_cast<const uint8_t*>(snapshot.data.data()),
                                         snapshot.data.size());
  }
  const auto wire = raft::CreateRaftMessage(
      builder, ToWire(message.type), message.from.value(), message.to.value(), message.term.value(),
      message.log_index.value(), message.log_term.value(), entries, message.commit.value(),
      message.reject, message.hint_index.value(), message.hint_term.value(), message.context_ticks,
      ToWire(message.campaign), snapshot.meta.index.value(), snapshot.meta.term.value(),
      snapshot_voters, snapshot_learners, snapshot_data, message.quiesce,
      message.config_index.value());
  builder.Finish(raft::CreatePeerEnvelope(builder, group, wire));
  MERIDIAN_CHECK(builder.GetSize() <= kPeerMessageBytesMax, "raft peer message of {} bytes",
                 builder.GetSize());
  return {builder.GetBufferPointer(), builder.GetBufferPointer() + builder.GetSize()};
}

absl::StatusOr<PeerRaftMessage> DecodePeerMessage(std::span<const uint8_t> bytes) {
  if (bytes.size() > kPeerMessageBytesMax) {
    return Invalid(fmt::format("{} bytes (limit {})", bytes.size(), kPeerMessageBytesMax));
  }
  // FlatBuffers reads scalars in place and its verifier checks alignment only relative to the
  // buffer start, so decode an unaligned buffer from an aligned copy.
  std::vector<uint64_t> aligned;
  if (!bytes.empty() && reinterpret_cast<uintptr_t>(bytes.data()) % alignof(uint64_t) != 0) {
    aligned.resize((bytes.size() + sizeof(uint64_t) - 1) / sizeof(uint64_t));
    std::memcpy(aligned.data(), bytes.data(), bytes.size());
    bytes =
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(aligned.data()), bytes.size());
  }
  flatbuffers::Verifier verifier(bytes.data(), bytes.size(), kVerifierDepthMax, kVerifierTablesMax);
  if (!raft::VerifyPeerEnvelopeBuffer(verifier)) {
    return Invalid("failed FlatBuffers verification");
  }
  const raft::PeerEnvelope* envelope = raft::GetPeerEnvelope(bytes.data());
  // The verifier accepts an envelope whose optional table is absent; never read through it.
  const raft::RaftMessage* wire = envelope->raft();
  if (wire == nullptr) return Invalid("envelope without a raft message");

  PeerRaftMessage out;
  out.group = envelope->group();
  Message& message = out.message;
  const std::optional<MessageType> type = FromWire(wire->type());
  if (!type) return Invalid(fmt::format("unknown type {}", static_cast<int>(wire->type())));
  message.type = *type;
  message.from = NodeId(wire->from());
  message.to = NodeId(wire->to());
  message.term = Term(wire->term());
  message.log_index = Index(wire->log_index());
  message.log_term = Term(wire->log_term());
  if (const auto* entries = wire->entries(); entries != nullptr) {
    // Bound the work before decoding anything.
    if (entries->size() > core::raft::kBatchEntriesMax) {
      return Invalid(
          fmt::format("{} entries (limit {})", entries->size(), core::raft::kBatchEntriesMax));
    }
    message.entries.reserve(entries->size());
    // Honest encodings store each entry's data once, so it totals less than the input.
    size_t data_bytes_left = std::min(bytes.size(), kEntriesDataBytesMax);
    for (flatbuffers::uoffset_t i = 0; i < entries->size(); i++) {
      absl::StatusOr<Entry> entry = DecodeEntry(entries->Get(i), i, &data_bytes_left);
      if (!entry.ok()) return entry.status();
      message.entries.push_back(*std::move(entry));
    }
  }
  message.commit = Index(wire->commit());
  message.reject = wire->reject();
  message.hint_index = Index(wire->hint_index());
  message.hint_term = Term(wire->hint_term());
  message.context_ticks = wire->context_ticks();
  message.quiesce = wire->quiesce();
  message.config_index = Index(wire->config_index());
  const std::optional<Campaign> campaign = FromWire(wire->campaign());
  if (!campaign) {
    return Invalid(fmt::format("unknown campaign {}", static_cast<int>(wire->campaign())));
  }
  message.campaign = *campaign;
  if (absl::Status status = DecodeSnapshot(*wire, &message.snapshot); !status.ok()) {
    return status;
  }
  if (absl::Status status = ValidateRaftMessage(message); !status.ok()) return status;
  return out;
}

absl::Status ValidateRaftMessage(const Message& message) {
  // One copy of the structural rules, shared with Raft::Step (core/raft/message_check.h).
  if (absl::Status status = core::raft::ValidateMessage(message); !status.ok()) {
    return Invalid(std::string(status.message()));
  }
  if (EntriesDataBytes(message) > kEntriesDataBytesMax) {
    return Invalid(fmt::format("{} bytes of entry data (limit {})", EntriesDataBytes(message),
                               kEntriesDataBytesMax));
  }
  return absl::OkStatus();
}

}  // namespace meridian::core::wire
