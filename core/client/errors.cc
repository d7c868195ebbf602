#include "core/client/errors.h"

#include <fmt/format.h>

#include "absl/strings/numbers.h"

namespace meridian::client {
namespace {

absl::StatusCode CodeFor(core::wire::ErrorCode code) {
  switch (code) {
    case core::wire::ErrorCode::None:
      return absl::StatusCode::kInternal;
    case core::wire::ErrorCode::BadRequest:
      return absl::StatusCode::kInvalidArgument;
    case core::wire::ErrorCode::Unsupported:
      return absl::StatusCode::kUnimplemented;
    case core::wire::ErrorCode::NotLeader:
      return absl::StatusCode::kUnavailable;
    case core::wire::ErrorCode::Failed:
      return absl::StatusCode::kAborted;
    case core::wire::ErrorCode::Unknown:
      return absl::StatusCode::kUnknown;
    case core::wire::ErrorCode::UnsupportedVersion:
      return absl::StatusCode::kFailedPrecondition;
    case core::wire::ErrorCode::UnknownTopicOrPartition:
      return absl::StatusCode::kNotFound;
    case core::wire::ErrorCode::RecordTooLarge:
      return absl::StatusCode::kInvalidArgument;
    case core::wire::ErrorCode::OutOfOrderSequence:
      return absl::StatusCode::kFailedPrecondition;
    case core::wire::ErrorCode::FencedProducerEpoch:
      return absl::StatusCode::kFailedPrecondition;
    case core::wire::ErrorCode::NotEnoughReplicas:
      return absl::StatusCode::kUnavailable;
    case core::wire::ErrorCode::OffsetOutOfRange:
      return absl::StatusCode::kOutOfRange;
    case core::wire::ErrorCode::Throttled:
      return absl::StatusCode::kResourceExhausted;
    case core::wire::ErrorCode::TopicAlreadyExists:
      return absl::StatusCode::kAlreadyExists;
    case core::wire::ErrorCode::InvalidConfig:
      return absl::StatusCode::kInvalidArgument;
    case core::wire::ErrorCode::NotHelloed:
      return absl::StatusCode::kFailedPrecondition;
    case core::wire::ErrorCode::UnknownMemberId:
    case core::wire::ErrorCode::IllegalGeneration:
    case core::wire::ErrorCode::GroupNotEmpty:
    case core::wire::ErrorCode::InconsistentAssignor:
      return absl::StatusCode::kFailedPrecondition;
    case core::wire::ErrorCode::RebalanceInProgress:
      return absl::StatusCode::kAborted;
    case core::wire::ErrorCode::NotAuthorized:
      return absl::StatusCode::kPermissionDenied;
    case core::wire::ErrorCode::GroupIdNotFound:
      return absl::StatusCode::kNotFound;
  }
  return absl::StatusCode::kUnknown;  // A code newer than this client.
}

}  // namespace

absl::Status StatusFromError(const core::wire::ErrorResponseT& error) {
  const char* name = core::wire::EnumNameErrorCode(error.code);
  std::string text = fmt::format("{}: {}",
                                 (name != nullptr && *name != '\0')
                                     ? std::string(name)
                                     : fmt::format("error {}", uint16_t(error.code)),
                                 error.message.empty() ? "(no message)" : error.message);
  if (error.code == core::wire::ErrorCode::NotLeader && error.leader != 0) {
    text += fmt::format(" (leader: n{})", error.leader);
  }
  if (error.code == core::wire::ErrorCode::OffsetOutOfRange) {
    text += fmt::format(" (valid offsets {}..{})", error.earliest_offset, error.latest_offset);
  }
  absl::Status status(CodeFor(error.code), text);
  status.SetPayload(kErrorCodePayloadUrl,
                    absl::Cord(std::to_string(static_cast<uint16_t>(error.code))));
  return status;
}

std::optional<core::wire::ErrorCode> WireErrorCode(const absl::Status& status) {
  auto payload = status.GetPayload(kErrorCodePayloadUrl);
  if (!payload.has_value()) return std::nullopt;
  uint32_t code = 0;
  if (!absl::SimpleAtoi(std::string(*payload), &code) || code > 0xffff) return std::nullopt;
  return static_cast<core::wire::ErrorCode>(code);
}

absl::Status UnexpectedResponse(const core::wire::ClientMessageT& response,
                                std::string_view expected) {
  return absl::InternalError(fmt::format("expected {}, the node answered {}", expected,
                                         core::wire::EnumNameBody(response.body.type)));
}

}  // namespace meridian::client
