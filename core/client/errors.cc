#include "core/client/errors.h"

#include <fmt/format.h>

#include "absl/strings/numbers.h"

namespace meridian::core::client {
namespace {

absl::StatusCode CodeFor(wire::ErrorCode code) {
  switch (code) {
    case wire::ErrorCode::None:
      return absl::StatusCode::kInternal;
    case wire::ErrorCode::BadRequest:
      return absl::StatusCode::kInvalidArgument;
    case wire::ErrorCode::Unsupported:
      return absl::StatusCode::kUnimplemented;
    case wire::ErrorCode::NotLeader:
      return absl::StatusCode::kUnavailable;
    case wire::ErrorCode::Failed:
      return absl::StatusCode::kAborted;
    case wire::ErrorCode::Unknown:
      return absl::StatusCode::kUnknown;
    case wire::ErrorCode::UnsupportedVersion:
      return absl::StatusCode::kFailedPrecondition;
    case wire::ErrorCode::UnknownTopicOrPartition:
      return absl::StatusCode::kNotFound;
    case wire::ErrorCode::RecordTooLarge:
      return absl::StatusCode::kInvalidArgument;
    case wire::ErrorCode::OutOfOrderSequence:
      return absl::StatusCode::kFailedPrecondition;
    case wire::ErrorCode::FencedProducerEpoch:
      return absl::StatusCode::kFailedPrecondition;
    case wire::ErrorCode::NotEnoughReplicas:
      return absl::StatusCode::kUnavailable;
    case wire::ErrorCode::OffsetOutOfRange:
      return absl::StatusCode::kOutOfRange;
    case wire::ErrorCode::Throttled:
      return absl::StatusCode::kResourceExhausted;
    case wire::ErrorCode::TopicAlreadyExists:
      return absl::StatusCode::kAlreadyExists;
    case wire::ErrorCode::InvalidConfig:
      return absl::StatusCode::kInvalidArgument;
    case wire::ErrorCode::NotHelloed:
      return absl::StatusCode::kFailedPrecondition;
    case wire::ErrorCode::UnknownMemberId:
    case wire::ErrorCode::IllegalGeneration:
    case wire::ErrorCode::GroupNotEmpty:
    case wire::ErrorCode::InconsistentAssignor:
      return absl::StatusCode::kFailedPrecondition;
    case wire::ErrorCode::RebalanceInProgress:
      return absl::StatusCode::kAborted;
    case wire::ErrorCode::NotAuthorized:
      return absl::StatusCode::kPermissionDenied;
    case wire::ErrorCode::GroupIdNotFound:
      return absl::StatusCode::kNotFound;
  }
  return absl::StatusCode::kUnknown;  // A code newer than this client.
}

}  // namespace

absl::Status StatusFromError(const wire::ErrorResponseT& error) {
  const char* name = wire::EnumNameErrorCode(error.code);
  std::string text = fmt::format("{}: {}",
                                 (name != nullptr && *name != '\0')
                                     ? std::string(name)
                                     : fmt::format("error {}", uint16_t(error.code)),
                                 error.message.empty() ? "(no message)" : error.message);
  if (error.code == wire::ErrorCode::NotLeader && error.leader != 0) {
    text += fmt::format(" (leader: n{})", error.leader);
  }
  if (error.code == wire::ErrorCode::OffsetOutOfRange) {
    text += fmt::format(" (valid offsets {}..{})", error.earliest_offset, error.latest_offset);
  }
  absl::Status status(CodeFor(error.code), text);
  status.SetPayload(kErrorCodePayloadUrl,
                    absl::Cord(std::to_string(static_cast<uint16_t>(error.code))));
  return status;
}

std::optional<wire::ErrorCode> WireErrorCode(const absl::Status& status) {
  auto payload = status.GetPayload(kErrorCodePayloadUrl);
  if (!payload.has_value()) return std::nullopt;
  uint32_t code = 0;
  if (!absl::SimpleAtoi(std::string(*payload), &code) || code > 0xffff) return std::nullopt;
  return static_cast<wire::ErrorCode>(code);
}

absl::Status UnexpectedResponse(const wire::ClientMessageT& response, std::string_view expected) {
  return absl::InternalError(fmt::format("expected {}, the node answered {}", expected,
                                         wire::EnumNameBody(response.body.type)));
}

}  // namespace meridian::core::client
