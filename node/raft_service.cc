#include "node/raft_service.h"

#include <fmt/format.h>

#include "core/wire/raft_codec.h"
#include "io/assert.h"

namespace meridian::node {

absl::StatusOr<std::unique_ptr<RaftService>> RaftService::Start(
    io::Runtime& runtime, core::replica::ReplicaOptions options) {
  std::unique_ptr<RaftService> service(new RaftService(runtime));
  absl::StatusOr<std::shared_ptr<core::replica::Replica>> replica =
      core::replica::Replica::Open(runtime, options, service.get());
  if (!replica.ok()) return replica.status();
  service->replica_ = *replica;
  runtime.Spawn("raft-dispatch", [&runtime, replica = *replica, group = options.group] {
    while (true) {
      absl::StatusOr<io::PeerMessage> message = runtime.network().Receive(io::Instant::Infinite());
      if (!message.ok()) return;
      absl::StatusOr<wire::PeerRaftMessage> decoded = wire::DecodePeerMessage(message->payload);
      if (!decoded.ok()) {
        fmt::print(stderr, "n{} dropped a peer message from {}: {}\n", runtime.node().value(),
                   message->from.ToString(), decoded.status().ToString());
        continue;
      }
      // The envelope must agree with the link it came on, and be for us.
      if (decoded->group != group || decoded->message.from != message->from ||
          decoded->message.to != runtime.node()) {
        continue;
      }
      replica->Deliver(std::move(decoded->message));
    }
  });
  return service;
}

void RaftService::OnApply(io::NodeId node, const core::raft::Entry& entry) {
  applied_[entry.index.value()] = {entry.term.value(), entry.data};
  while (applied_.size() > kAppliedEntriesKept) applied_.erase(applied_.begin());
}

void RaftService::OnLeader(io::NodeId node, core::raft::Term term, const core::raft::RaftLog&) {
  elections_won_++;
  fmt::print(stderr, "n{} became leader of term {}\n", node.value(), term.value());
}

void RaftService::OnFailStop(io::NodeId node, const absl::Status& why) {
  fmt::print(stderr, "n{} raft replica fail-stopped: {}\n", node.value(), why.ToString());
}

std::optional<wire::ClientBody> RaftService::Handle(const wire::ClientBody& request) {
  if (const auto* propose = std::get_if<wire::Propose>(&request)) return Propose(*propose);
  if (const auto* read = std::get_if<wire::ReadApplied>(&request)) return Read(*read);
  if (std::holds_alternative<wire::StatusQuery>(request)) {
    return wire::Status{runtime_.node().value(), core::raft::RoleName(replica_->role()),
                        replica_->term().value(), replica_->leader().value(),
                        replica_->applied().value()};
  }
  return std::nullopt;
}

wire::ClientBody RaftService::Propose(const wire::Propose& propose) {
  if (replica_->role() != core::raft::Role::kLeader) {
    return wire::Error{wire::ErrorCode::NotLeader, "not the leader", replica_->leader().value()};
  }
  absl::StatusOr<core::raft::Index> index =
      replica_->ProposeAndWait(propose.data, runtime_.Now() + std::chrono::seconds(5));
  if (index.ok()) return wire::Proposed{index->value()};
  const absl::Status& status = index.status();
  if (absl::IsFailedPrecondition(status)) {
    return wire::Error{wire::ErrorCode::NotLeader, status.ToString(), replica_->leader().value()};
  }
  if (absl::IsAborted(status) || absl::IsResourceExhausted(status) || absl::IsUnavailable(status)) {
    return wire::Error{wire::ErrorCode::Failed, status.ToString()};
  }
  return wire::Error{wire::ErrorCode::Unknown, status.ToString()};
}

wire::ClientBody RaftService::Read(const wire::ReadApplied& read) const {
  wire::AppliedEntries result;
  for (auto it = applied_.lower_bound(read.from);
       it != applied_.end() && result.entries.size() < read.count_max; ++it) {
    result.entries.push_back({it->first, it->second.first, it->second.second});
  }
  return result;
}

}  // namespace meridian::node
