// Kafka's consumer-group requests and responses (FindCoordinator, JoinGroup, SyncGroup,
// Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, DescribeGroups, ListGroups, DeleteGroups) as
// plain structs, with a decoder per request and an encoder per response, for the versions
// protocol.h serves (non-flexible only). Field layouts follow Apache Kafka's message definitions
// (clients/src/main/resources/common/message/).
//
// Decoders read untrusted bytes through core/kafka/bytes.h (every length checked, arrays
// bounded, opaque metadata and assignments bounded by kGroupBytesMax); a request that does not
// decode, or has bytes left over, is InvalidArgument. Encoders are total over their structs.
// Pure: no I/O. The group semantics live in core/broker's GroupCoordinator, not here.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/kafka/protocol.h"

namespace meridian::core::kafka {

// One member's protocol metadata or assignment (opaque bytes).
inline constexpr size_t kGroupBytesMax = 64 << 10;
// Protocols a JoinGroup offers, members a SyncGroup assigns or a LeaveGroup names.
inline constexpr size_t kGroupProtocolsMax = 16;
inline constexpr size_t kGroupMembersMax = 1024;

struct FindCoordinatorRequest {
  std::string key;
  int8_t key_type = 0;  // 0: a group; 1: a transaction (not served).
};
struct FindCoordinatorResponse {
  int16_t error_code = 0;
  std::optional<std::string> error_message;
  int32_t node_id = -1;
  std::string host;
  int32_t port = -1;
};

struct GroupProtocolBytes {
  std::string name;  // A protocol name (JoinGroup) or a member id (members, assignments).
  std::vector<uint8_t> bytes;
};

struct JoinGroupRequest {
  std::string group_id;
  int32_t session_timeout_ms = 0;
  int32_t rebalance_timeout_ms = 0;  // v0: the session timeout.
  std::string member_id;
  std::optional<std::string> group_instance_id;  // v5: static membership (not served).
  std::string protocol_type;
  std::vector<GroupProtocolBytes> protocols;
};
struct JoinGroupResponse {
  int16_t error_code = 0;
  int32_t generation_id = -1;
  std::string protocol_name;
  std::string leader;
  std::string member_id;
  std::vector<GroupProtocolBytes> members;  // (member id, metadata); the leader's only.
};

struct SyncGroupRequest {
  std::string group_id;
  int32_t generation_id = -1;
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::vector<GroupProtocolBytes> assignments;  // (member id, assignment); the leader's only.
};
struct SyncGroupResponse {
  int16_t error_code = 0;
  std::vector<uint8_t> assignment;
};

struct HeartbeatRequest {
  std::string group_id;
  int32_t generation_id = -1;
  std::string member_id;
  std::optional<std::string> group_instance_id;
};

struct LeaveGroupRequest {
  std::string group_id;
  std::vector<std::string> member_ids;  // v0-2: one; v3: a batch.
};
struct LeaveGroupResponse {
  int16_t error_code = 0;
  std::vector<std::pair<std::string, int16_t>> members;  // v3: each member's error.
};

struct OffsetCommitPartition {
  int32_t partition = 0;
  int64_t offset = 0;
  std::optional<std::string> metadata;
};
struct OffsetCommitRequest {
  std::string group_id;
  int32_t generation_id = -1;
  std::string member_id;
  std::vector<std::pair<std::string, std::vector<OffsetCommitPartition>>> topics;
};
// Per topic, per partition: the error code.
using OffsetCommitResponse =
    std::vector<std::pair<std::string, std::vector<std::pair<int32_t, int16_t>>>>;

struct OffsetFetchRequest {
  std::string group_id;
  // nullopt (a null array, v2+): every committed partition.
  std::optional<std::vector<std::pair<std::string, std::vector<int32_t>>>> topics;
};
struct OffsetFetchPartition {
  int32_t partition = 0;
  int64_t offset = -1;  // -1: nothing committed.
  std::optional<std::string> metadata;
  int16_t error_code = 0;
};
struct OffsetFetchResponse {
  std::vector<std::pair<std::string, std::vector<OffsetFetchPartition>>> topics;
  int16_t error_code = 0;
};

absl::StatusOr<FindCoordinatorRequest> DecodeFindCoordinatorRequest(std::span<const uint8_t> body,
                                                                    int16_t v);
absl::StatusOr<JoinGroupRequest> DecodeJoinGroupRequest(std::span<const uint8_t> body, int16_t v);
absl::StatusOr<SyncGroupRequest> DecodeSyncGroupRequest(std::span<const uint8_t> body, int16_t v);
absl::StatusOr<HeartbeatRequest> DecodeHeartbeatRequest(std::span<const uint8_t> body, int16_t v);
absl::StatusOr<LeaveGroupRequest> DecodeLeaveGroupRequest(std::span<const uint8_t> body, int16_t v);
absl::StatusOr<OffsetCommitRequest> DecodeOffsetCommitRequest(std::span<const uint8_t> body,
                                                              int16_t v);
absl::StatusOr<OffsetFetchRequest> DecodeOffsetFetchRequest(std::span<const uint8_t> body,
                                                            int16_t v);

std::vector<uint8_t> EncodeFindCoordinatorResponse(const FindCoordinatorResponse& response,
                                                   int16_t v);
std::vector<uint8_t> EncodeJoinGroupResponse(const JoinGroupResponse& response, int16_t v);
std::vector<uint8_t> EncodeSyncGroupResponse(const SyncGroupResponse& response, int16_t v);
std::vector<uint8_t> EncodeHeartbeatResponse(int16_t error_code, int16_t v);
std::vector<uint8_t> EncodeLeaveGroupResponse(const LeaveGroupResponse& response, int16_t v);
std::vector<uint8_t> EncodeOffsetCommitResponse(const OffsetCommitResponse& response, int16_t v);
std::vector<uint8_t> EncodeOffsetFetchResponse(const OffsetFetchResponse& response, int16_t v);

// ListGroups v0-2: an empty request body; the groups this broker coordinates.
struct ListedGroup {
  std::string group_id;
  std::string protocol_type;
};
struct ListGroupsResponse {
  int16_t error_code = 0;
  std::vector<ListedGroup> groups;
};
std::vector<uint8_t> EncodeListGroupsResponse(const ListGroupsResponse& response, int16_t v);

// DescribeGroups v0-4: the named groups as their coordinator sees them.
struct DescribeGroupsRequest {
  std::vector<std::string> groups;
  bool include_authorized_operations = false;  // v3+: answered "not computed" (INT32_MIN).
};
struct DescribedMember {
  std::string member_id;
  std::string client_id;
  std::string client_host;
  std::vector<uint8_t> metadata;    // The chosen protocol's (a ConsumerProtocol subscription).
  std::vector<uint8_t> assignment;  // A ConsumerProtocol assignment.
};
struct DescribedGroup {
  int16_t error_code = 0;
  std::string group_id;
  std::string state;  // Kafka's names: Empty, PreparingRebalance, CompletingRebalance, ...
  std::string protocol_type;
  std::string protocol;
  std::vector<DescribedMember> members;
};
absl::StatusOr<DescribeGroupsRequest> DecodeDescribeGroupsRequest(std::span<const uint8_t> body,
                                                                  int16_t v);
std::vector<uint8_t> EncodeDescribeGroupsResponse(const std::vector<DescribedGroup>& groups,
                                                  int16_t v);

// DeleteGroups v0-1: the named groups, deleted by their coordinator; per group an error code.
struct DeleteGroupsRequest {
  std::vector<std::string> groups;
};
using DeleteGroupsResponse = std::vector<std::pair<std::string, int16_t>>;
absl::StatusOr<DeleteGroupsRequest> DecodeDeleteGroupsRequest(std::span<const uint8_t> body,
                                                              int16_t v);
std::vector<uint8_t> EncodeDeleteGroupsResponse(const DeleteGroupsResponse& results, int16_t v);

}  // namespace meridian::core::kafka
