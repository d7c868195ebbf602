#include "core/wire/client_codec.h"

#include <fmt/format.h>

#include "io/assert.h"

namespace meridian::wire {
namespace {

constexpr uint32_t kVerifierDepthMax = 8;
constexpr uint32_t kVerifierTablesMax = 64;

template <typename... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <typename... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

}  // namespace

std::vector<uint8_t> EncodeClientMessage(const ClientBody& body) {
  flatbuffers::FlatBufferBuilder builder(128);
  flatbuffers::Offset<ClientMessage> message = std::visit(
      Overloaded{
          [&](const Ping& ping) {
            return CreateClientMessage(builder, Body::PingRequest,
                                       CreatePingRequest(builder, ping.sequence).Union());
          },
          [&](const Pong& pong) {
            return CreateClientMessage(
                builder, Body::PingResponse,
                CreatePingResponse(builder, pong.sequence, pong.node_id).Union());
          },
          [&](const Error& error) {
            return CreateClientMessage(
                builder, Body::ErrorResponse,
                CreateErrorResponse(builder, error.code, builder.CreateString(error.message))
                    .Union());
          },
      },
      body);
  builder.Finish(message);
  MERIDIAN_CHECK(builder.GetSize() <= kClientMessageBytesMax);
  return {builder.GetBufferPointer(), builder.GetBufferPointer() + builder.GetSize()};
}

absl::StatusOr<ClientBody> DecodeClientMessage(std::span<const uint8_t> bytes) {
  if (bytes.size() > kClientMessageBytesMax) {
    return absl::InvalidArgumentError(fmt::format("client message of {} bytes", bytes.size()));
  }
  flatbuffers::Verifier verifier(bytes.data(), bytes.size(), kVerifierDepthMax, kVerifierTablesMax);
  if (!VerifyClientMessageBuffer(verifier)) {
    return absl::InvalidArgumentError("client message failed FlatBuffers verification");
  }
  const ClientMessage* message = GetClientMessage(bytes.data());
  // The verifier accepts a union whose type is set but whose value is absent; reading through
  // it would dereference null (found by MutatedBytesNeverCrash).
  if (message->body() == nullptr) {
    return absl::InvalidArgumentError("client message without a body");
  }
  switch (message->body_type()) {
    case Body::PingRequest:
      return ClientBody(Ping{message->body_as_PingRequest()->sequence()});
    case Body::PingResponse: {
      const PingResponse* pong = message->body_as_PingResponse();
      return ClientBody(Pong{pong->sequence(), pong->node_id()});
    }
    case Body::ErrorResponse: {
      const ErrorResponse* error = message->body_as_ErrorResponse();
      return ClientBody(Error{error->code(), error->message() ? error->message()->str() : ""});
    }
    case Body::NONE:
      break;
  }
  return absl::InvalidArgumentError(
      fmt::format("client message without a known body (type {})",
                  static_cast<int>(message->body_type())));
}

}  // namespace meridian::wire
