// Mapping of the wire's ErrorResponse to absl::Status, keeping the wire code retrievable.
//
// StatusFromError(error) gives a Status whose code is the closest absl code (table in errors.cc)
// and whose message starts with the wire code's name ("NotLeader: ..."). The exact wire code
// rides along as a status payload (kErrorCodePayloadUrl, the code in decimal); WireErrorCode()
// reads it back, so callers can tell RecordTooLarge from InvalidConfig (both InvalidArgument).
#pragma once

#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "core/wire/client_codec.h"

namespace meridian::core::client {

inline constexpr char kErrorCodePayloadUrl[] = "meridian.core.wire.ErrorCode";

absl::Status StatusFromError(const wire::ErrorResponseT& error);
// The wire code a status came from, if it came from an ErrorResponse.
std::optional<wire::ErrorCode> WireErrorCode(const absl::Status& status);

// A response that is neither the expected body nor an ErrorResponse (a broken node).
absl::Status UnexpectedResponse(const wire::ClientMessageT& response, std::string_view expected);

}  // namespace meridian::core::client

namespace meridian::core::client {

// The typed body of a call's response: the call's own failure, the ErrorResponse's status, or
// Internal when the node answered with another body. `get` picks the body, e.g.
// `[](wire::BodyUnion& b) { return b.AsFetchResponse(); }`.
template <typename T, typename Get>
absl::StatusOr<T> TakeBody(absl::StatusOr<std::unique_ptr<wire::ClientMessageT>> response, Get get,
                           std::string_view expected) {
  if (!response.ok()) return response.status();
  if (const wire::ErrorResponseT* error = (*response)->body.AsErrorResponse()) {
    return StatusFromError(*error);
  }
  T* body = get((*response)->body);
  if (body == nullptr) return UnexpectedResponse(**response, expected);
  return std::move(*body);
}

}  // namespace meridian::core::client
