// The quota admin requests (issue 13 item 2): SetQuotaRequest, served by the controller leader,
// records an override in the metadata log, so every node enforces the same values once its
// copy has it; DescribeQuotasRequest answers from this node's copy, with its own defaults.
#include <fmt/format.h>

#include "core/broker/broker_state.h"

namespace meridian::core::broker {
namespace {

using wire::ErrorCode;
using wire::ErrorMessage;

std::unique_ptr<wire::QuotaEntryT> Entry(wire::QuotaSubject subject, std::string name,
                                         uint64_t bytes_per_s, uint64_t requests_per_s) {
  auto entry = std::make_unique<wire::QuotaEntryT>();
  entry->subject = subject;
  entry->name = std::move(name);
  entry->bytes_per_s = bytes_per_s;
  entry->requests_per_s = requests_per_s;
  return entry;
}

// What a failed proposal or apply means to the client.
wire::ClientMessageT QuotaError(const Broker::State& state, uint64_t id,
                                const absl::Status& status) {
  ErrorCode code = ErrorCode::Unknown;  // A deadline or a shutdown: it may still apply.
  if (absl::IsFailedPrecondition(status)) code = ErrorCode::NotLeader;
  if (absl::IsInvalidArgument(status)) code = ErrorCode::InvalidConfig;
  if (absl::IsNotFound(status) || absl::IsResourceExhausted(status) || absl::IsAborted(status) ||
      absl::IsUnavailable(status)) {
    code = ErrorCode::Failed;
  }
  return ErrorMessage(id, code, std::string(status.message()), state.controller->leader().value());
}

wire::ClientMessageT HandleSetQuota(Broker::State& state, uint64_t id,
                                    const wire::SetQuotaRequestT& request) {
  if (request.quota == nullptr) return ErrorMessage(id, ErrorCode::BadRequest, "no quota given");
  const wire::QuotaEntryT& quota = *request.quota;
  if (absl::Status s = cluster::ValidateQuota(quota.subject, quota.name, quota.bytes_per_s,
                                              quota.requests_per_s);
      !s.ok()) {
    return ErrorMessage(id, ErrorCode::InvalidConfig, std::string(s.message()));
  }
  if (state.controller->role() != raft::Role::kLeader) {
    return ErrorMessage(id, ErrorCode::NotLeader, "this node is not the controller leader",
                        state.controller->leader().value());
  }
  wire::QuotaSetT set;
  set.quota = Entry(quota.subject, quota.name, quota.bytes_per_s, quota.requests_per_s);
  set.remove = request.remove;
  wire::MetadataCommandT command;
  command.body.Set(std::move(set));
  absl::StatusOr<cluster::MetadataOutcome> outcome =
      state.ProposeMetadata(command, state.runtime.Now() + state.options.request_timeout_default);
  if (!outcome.ok()) return QuotaError(state, id, outcome.status());
  if (!outcome->status.ok()) return QuotaError(state, id, outcome->status);
  return wire::Message(id, wire::SetQuotaResponseT{});
}

wire::ClientMessageT HandleDescribeQuotas(const Broker::State& state, uint64_t id) {
  wire::DescribeQuotasResponseT response;
  for (const auto& [key, quota] : state.controller_machine->metadata.quotas()) {
    response.quotas.push_back(
        Entry(key.first, key.second, quota.bytes_per_s, quota.requests_per_s));
  }
  const BrokerLimits& limits = state.options.limits;
  response.client_default =
      Entry(wire::QuotaSubject::Client, "", limits.client_quota_default.bytes_per_s,
            limits.client_quota_default.requests_per_s);
  response.topic_default =
      Entry(wire::QuotaSubject::Topic, "", limits.topic_quota_default.bytes_per_s,
            limits.topic_quota_default.requests_per_s);
  return wire::Message(id, std::move(response));
}

}  // namespace

std::optional<wire::ClientMessageT> HandleQuotaRequest(Broker::State& state,
                                                       const wire::ClientMessageT& request) {
  if (const wire::SetQuotaRequestT* set = request.body.AsSetQuotaRequest()) {
    return HandleSetQuota(state, request.request_id, *set);
  }
  if (request.body.AsDescribeQuotasRequest() != nullptr) {
    return HandleDescribeQuotas(state, request.request_id);
  }
  return std::nullopt;
}

}  // namespace meridian::core::broker
