#include "core/wire/client_codec.h"

#include <fmt/format.h>

#include "io/assert.h"

namespace meridian::wire {
namespace {

constexpr uint32_t kVerifierDepthMax = 8;
// A ReadResponse holds up to kReadEntriesMax entry tables.
constexpr uint32_t kVerifierTablesMax = kReadEntriesMax + 16;

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
                CreateErrorResponse(builder, error.code, builder.CreateString(error.message),
                                    error.leader)
                    .Union());
          },
          [&](const Propose& propose) {
            const auto data = builder.CreateVector(
                reinterpret_cast<const uint8_t*>(propose.data.data()), propose.data.size());
            return CreateClientMessage(builder, Body::ProposeRequest,
                                       CreateProposeRequest(builder, data).Union());
          },
          [&](const Proposed& proposed) {
            return CreateClientMessage(builder, Body::ProposeResponse,
                                       CreateProposeResponse(builder, proposed.index).Union());
          },
          [&](const StatusQuery&) {
            return CreateClientMessage(builder, Body::StatusRequest,
                                       CreateStatusRequest(builder).Union());
          },
          [&](const Status& status) {
            return CreateClientMessage(
                builder, Body::StatusResponse,
                CreateStatusResponse(builder, status.node_id, builder.CreateString(status.role),
                                     status.term, status.leader, status.applied)
                    .Union());
          },
          [&](const ReadApplied& read) {
            return CreateClientMessage(builder, Body::ReadRequest,
                                       CreateReadRequest(builder, read.from, read.count_max).Union());
          },
          [&](const AppliedEntries& read) {
            std::vector<flatbuffers::Offset<AppliedEntry>> entries;
            for (const AppliedEntries::Entry& entry : read.entries) {
              const auto data = builder.CreateVector(
                  reinterpret_cast<const uint8_t*>(entry.data.data()), entry.data.size());
              entries.push_back(CreateAppliedEntry(builder, entry.index, entry.term, data));
            }
            return CreateClientMessage(
                builder, Body::ReadResponse,
                CreateReadResponse(builder, builder.CreateVector(entries)).Union());
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
      return ClientBody(Error{error->code(), error->message() ? error->message()->str() : "",
                              error->leader()});
    }
    case Body::ProposeRequest: {
      const flatbuffers::Vector<uint8_t>* data = message->body_as_ProposeRequest()->data();
      return ClientBody(Propose{data ? std::string(data->begin(), data->end()) : ""});
    }
    case Body::ProposeResponse:
      return ClientBody(Proposed{message->body_as_ProposeResponse()->index()});
    case Body::StatusRequest:
      return ClientBody(StatusQuery{});
    case Body::StatusResponse: {
      const StatusResponse* status = message->body_as_StatusResponse();
      return ClientBody(Status{status->node_id(), status->role() ? status->role()->str() : "",
                               status->term(), status->leader(), status->applied()});
    }
    case Body::ReadRequest: {
      const ReadRequest* read = message->body_as_ReadRequest();
      if (read->count_max() > kReadEntriesMax) {
        return absl::InvalidArgumentError(fmt::format("read of {} entries", read->count_max()));
      }
      return ClientBody(ReadApplied{read->from(), read->count_max()});
    }
    case Body::ReadResponse: {
      AppliedEntries result;
      const auto* entries = message->body_as_ReadResponse()->entries();
      if (entries != nullptr) {
        if (entries->size() > kReadEntriesMax) return absl::InvalidArgumentError("too many entries");
        for (const AppliedEntry* entry : *entries) {
          if (entry == nullptr) return absl::InvalidArgumentError("null entry");
          const auto* data = entry->data();
          result.entries.push_back(
              {entry->index(), entry->term(), data ? std::string(data->begin(), data->end()) : ""});
        }
      }
      return ClientBody(std::move(result));
    }
    case Body::NONE:
      break;
  }
  return absl::InvalidArgumentError(
      fmt::format("client message without a known body (type {})",
                  static_cast<int>(message->body_type())));
}

}  // namespace meridian::wire
