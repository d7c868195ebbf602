#include "core/raft/message_check.h"

#include <fmt/format.h>

#include <limits>
#include <string>

namespace meridian::core::raft {
namespace {

absl::Status Invalid(std::string reason) { return absl::InvalidArgumentError(std::move(reason)); }

absl::Status ValidateEntry(const Message& message, size_t position, Term previous_term) {
  const Entry& entry = message.entries[position];
  const Index expected(message.log_index.value() + position + 1);
  if (entry.index != expected) {
    return Invalid(fmt::format("entry {} has index {}, expected {} (entries follow {})", position,
                               entry.index.ToString(), expected.ToString(),
                               message.log_index.ToString()));
  }
  if (entry.term > message.term) {
    return Invalid(fmt::format("entry {} has term {} above the message term {}",
                               entry.index.ToString(), entry.term.ToString(),
                               message.term.ToString()));
  }
  // A log's terms never decrease, starting from the term of the entry at log_index.
  if (entry.term < previous_term) {
    return Invalid(fmt::format("entry {} has term {} below the preceding term {}",
                               entry.index.ToString(), entry.term.ToString(),
                               previous_term.ToString()));
  }
  switch (entry.kind) {
    case EntryKind::kNormal:
      if (!entry.membership.voters.empty() || !entry.membership.learners.empty()) {
        return Invalid(fmt::format("normal entry {} carries a membership", entry.index.ToString()));
      }
      return absl::OkStatus();
    case EntryKind::kConfig:
      // The entry cache keeps a configuration entry as its membership alone (raft_log.h).
      if (!entry.data.empty()) {
        return Invalid(fmt::format("config entry {} carries data", entry.index.ToString()));
      }
      if (absl::Status status = ValidateMembership(entry.membership); !status.ok()) {
        return Invalid(fmt::format("config entry {}: {}", entry.index.ToString(),
                                   std::string(status.message())));
      }
      return absl::OkStatus();
  }
  return Invalid(fmt::format("entry {} has unknown kind {}", entry.index.ToString(),
                             static_cast<int>(entry.kind)));
}

absl::Status ValidateSnapshot(const Message& message) {
  const SnapshotMeta& meta = message.snapshot.meta;
  if (meta.index.value() == 0) return Invalid("snapshot of index 0");
  if (meta.index > kSnapshotIndexMax) {
    return Invalid(fmt::format("snapshot index {} beyond {}", meta.index.ToString(),
                               kSnapshotIndexMax.ToString()));
  }
  if (meta.term.value() == 0) return Invalid("snapshot of term 0");
  if (meta.term > message.term) {
    return Invalid(fmt::format("snapshot term {} above the message term {}", meta.term.ToString(),
                               message.term.ToString()));
  }
  if (message.snapshot.data.size() > kSnapshotDataBytesMax) {
    return Invalid(fmt::format("snapshot of {} bytes (limit {})", message.snapshot.data.size(),
                               kSnapshotDataBytesMax));
  }
  if (absl::Status status = ValidateMembership(meta.membership); !status.ok()) {
    return Invalid(fmt::format("snapshot configuration: {}", std::string(status.message())));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateMessage(const Message& message) {
  const char* type = MessageTypeName(message.type);
  if (message.from == NodeId()) return Invalid(fmt::format("{} from node 0", type));
  if (message.to == NodeId()) return Invalid(fmt::format("{} to node 0", type));
  if (message.from == message.to) {
    return Invalid(fmt::format("{} from {} to itself", type, message.from.ToString()));
  }
  // Every message raft sends carries its sender's (non-zero) term.
  if (message.term.value() == 0) return Invalid(fmt::format("{} with term 0", type));
  // A sender's log never holds a term above its current term: prevLogTerm, lastLogTerm and the
  // conflict hint's term are all terms of entries in the sender's log.
  if (message.log_term > message.term) {
    return Invalid(fmt::format("{} with log term {} above the message term {}", type,
                               message.log_term.ToString(), message.term.ToString()));
  }
  if (message.hint_term > message.term) {
    return Invalid(fmt::format("{} with hint term {} above the message term {}", type,
                               message.hint_term.ToString(), message.term.ToString()));
  }
  if (message.quiesce && message.type != MessageType::kHeartbeat) {
    return Invalid(fmt::format("{} asks to quiesce", type));
  }
  const bool from_leader = message.type == MessageType::kAppend ||
                           message.type == MessageType::kHeartbeat ||
                           message.type == MessageType::kSnapshot;
  if (message.config_index.value() != 0 && !from_leader) {
    return Invalid(fmt::format("{} carries a configuration index", type));
  }
  if (message.type == MessageType::kSnapshot) {
    if (absl::Status status = ValidateSnapshot(message); !status.ok()) return status;
  } else if (message.snapshot != Snapshot{}) {
    return Invalid(fmt::format("{} carries a snapshot", type));
  }
  if (message.entries.empty()) return absl::OkStatus();
  if (message.type != MessageType::kAppend) {
    return Invalid(fmt::format("{} carries {} entries", type, message.entries.size()));
  }
  if (message.entries.size() > kBatchEntriesMax) {
    return Invalid(fmt::format("{} entries (limit {})", message.entries.size(), kBatchEntriesMax));
  }
  if (message.log_index.value() > std::numeric_limits<uint64_t>::max() - message.entries.size()) {
    return Invalid(
        fmt::format("entries after {} overflow the index space", message.log_index.ToString()));
  }
  Term previous_term = message.log_term;
  for (size_t i = 0; i < message.entries.size(); i++) {
    if (absl::Status status = ValidateEntry(message, i, previous_term); !status.ok()) {
      return status;
    }
    previous_term = message.entries[i].term;
  }
  return absl::OkStatus();
}

}  // namespace meridian::core::raft
