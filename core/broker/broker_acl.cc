// The ACL check on the one request path: every request, from a native connection
// (ServeConnection) or from core/kafka (Broker::Run), passes HandleAuthorized.
#include <fmt/format.h>

#include "core/broker/broker_state.h"

namespace meridian::core::broker {
namespace {

constexpr io::Duration kDenialLogInterval = std::chrono::seconds(1);

std::string Describe(const Principal& principal, const RequiredAccess& access) {
  if (access.kind == RequiredAccess::Kind::kClusterNode) {
    return fmt::format("principal '{}' is not a node of this cluster", principal.name);
  }
  return fmt::format("principal '{}' may not {} topic '{}'", principal.name,
                     OperationName(access.operation), access.topic);
}

}  // namespace

wire::ClientMessageT HandleAuthorized(Broker::State& state, const Principal& principal,
                                      const wire::ClientMessageT& request) {
  if (state.options.acl == nullptr) return HandleRequest(state, request);
  const RequiredAccess access = AccessFor(request);
  if (state.options.acl->Allows(principal, access)) return HandleRequest(state, request);
  state.metrics.requests_total++;
  state.metrics.requests_denied_total++;
  const std::string why = Describe(principal, access);
  const io::Instant now = state.runtime.Now();
  if (!state.denial_logged_at.has_value() || now - *state.denial_logged_at >= kDenialLogInterval) {
    state.denial_logged_at = now;
    state.Log(fmt::format("not authorized: {} ({} denials so far)", why,
                          state.metrics.requests_denied_total));
  }
  return wire::ErrorMessage(request.request_id, wire::ErrorCode::NotAuthorized,
                            "not authorized: " + why);
}

}  // namespace meridian::core::broker
