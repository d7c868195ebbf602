// Kafka consumer-group request decoders and response encoders (group_messages.h).
#include "core/kafka/group_messages.h"

#include <fmt/format.h>

#include "core/kafka/bytes.h"

namespace meridian::core::kafka {
namespace {

// int32-length bytes, copied, at most kGroupBytesMax.
std::vector<uint8_t> GroupBytes(Reader& reader) {
  const std::span<const uint8_t> bytes = reader.Bytes();
  if (bytes.size() > kGroupBytesMax) {
    reader.Fail(
        fmt::format("{} bytes of group metadata (at most {})", bytes.size(), kGroupBytesMax));
    return {};
  }
  return {bytes.begin(), bytes.end()};
}

std::vector<GroupProtocolBytes> ReadNamedBytes(Reader& reader, size_t count_max,
                                               bool with_instance_id) {
  std::vector<GroupProtocolBytes> out(reader.ArrayCount(count_max));
  for (GroupProtocolBytes& entry : out) {
    entry.name = reader.String();
    if (with_instance_id) (void)reader.NullableString();
    entry.bytes = GroupBytes(reader);
    if (!reader.ok()) break;
  }
  return out;
}

std::vector<int32_t> ReadPartitionIndexes(Reader& reader) {
  std::vector<int32_t> values(reader.ArrayCount(kArrayElementsMax));
  for (int32_t& value : values) value = reader.Int32();
  return values;
}

}  // namespace

absl::StatusOr<FindCoordinatorRequest> DecodeFindCoordinatorRequest(std::span<const uint8_t> body,
                                                                    int16_t v) {
  Reader reader(body);
  FindCoordinatorRequest request;
  request.key = reader.String();
  if (v >= 1) request.key_type = reader.Int8();
  return Finish(reader, std::move(request), "FindCoordinator");
}

absl::StatusOr<JoinGroupRequest> DecodeJoinGroupRequest(std::span<const uint8_t> body, int16_t v) {
  Reader reader(body);
  JoinGroupRequest request;
  request.group_id = reader.String();
  request.session_timeout_ms = reader.Int32();
  request.rebalance_timeout_ms = v >= 1 ? reader.Int32() : request.session_timeout_ms;
  request.member_id = reader.String();
  if (v >= 5) request.group_instance_id = reader.NullableString();
  request.protocol_type = reader.String();
  request.protocols = ReadNamedBytes(reader, kGroupProtocolsMax, false);
  return Finish(reader, std::move(request), "JoinGroup");
}

absl::StatusOr<SyncGroupRequest> DecodeSyncGroupRequest(std::span<const uint8_t> body, int16_t v) {
  Reader reader(body);
  SyncGroupRequest request;
  request.group_id = reader.String();
  request.generation_id = reader.Int32();
  request.member_id = reader.String();
  if (v >= 3) request.group_instance_id = reader.NullableString();
  request.assignments = ReadNamedBytes(reader, kGroupMembersMax, false);
  return Finish(reader, std::move(request), "SyncGroup");
}

absl::StatusOr<HeartbeatRequest> DecodeHeartbeatRequest(std::span<const uint8_t> body, int16_t v) {
  Reader reader(body);
  HeartbeatRequest request;
  request.group_id = reader.String();
  request.generation_id = reader.Int32();
  request.member_id = reader.String();
  if (v >= 3) request.group_instance_id = reader.NullableString();
  return Finish(reader, std::move(request), "Heartbeat");
}

absl::StatusOr<LeaveGroupRequest> DecodeLeaveGroupRequest(std::span<const uint8_t> body,
                                                          int16_t v) {
  Reader reader(body);
  LeaveGroupRequest request;
  request.group_id = reader.String();
  if (v <= 2) {
    request.member_ids.push_back(reader.String());
  } else {
    request.member_ids.resize(reader.ArrayCount(kGroupMembersMax));
    for (std::string& member : request.member_ids) {
      member = reader.String();
      (void)reader.NullableString();  // group_instance_id: static membership is not served.
    }
  }
  return Finish(reader, std::move(request), "LeaveGroup");
}

absl::StatusOr<OffsetCommitRequest> DecodeOffsetCommitRequest(std::span<const uint8_t> body,
                                                              int16_t v) {
  Reader reader(body);
  OffsetCommitRequest request;
  request.group_id = reader.String();
  request.generation_id = reader.Int32();
  request.member_id = reader.String();
  if (v >= 7) (void)reader.NullableString();   // group_instance_id.
  if (v >= 2 && v <= 4) (void)reader.Int64();  // retention_time_ms: offsets are kept.
  request.topics.resize(reader.ArrayCount(kArrayElementsMax));
  for (auto& [name, partitions] : request.topics) {
    name = reader.String();
    partitions.resize(reader.ArrayCount(kArrayElementsMax));
    for (OffsetCommitPartition& partition : partitions) {
      partition.partition = reader.Int32();
      partition.offset = reader.Int64();
      if (v >= 6) (void)reader.Int32();  // committed_leader_epoch.
      partition.metadata = reader.NullableString();
    }
    if (!reader.ok()) break;
  }
  return Finish(reader, std::move(request), "OffsetCommit");
}

absl::StatusOr<OffsetFetchRequest> DecodeOffsetFetchRequest(std::span<const uint8_t> body,
                                                            int16_t v) {
  Reader reader(body);
  OffsetFetchRequest request;
  request.group_id = reader.String();
  const bool null_topics =
      Reader(body.subspan(std::min(body.size(), reader.position()))).Int32() == -1;
  const size_t topics = reader.ArrayCount(kArrayElementsMax);
  if (!null_topics) {
    request.topics.emplace(topics);
    for (auto& [name, partitions] : *request.topics) {
      name = reader.String();
      partitions = ReadPartitionIndexes(reader);
      if (!reader.ok()) break;
    }
  }
  return Finish(reader, std::move(request), "OffsetFetch");
}

std::vector<uint8_t> EncodeFindCoordinatorResponse(const FindCoordinatorResponse& response,
                                                   int16_t v) {
  Writer writer;
  if (v >= 1) writer.Int32(0);  // throttle_time_ms.
  writer.Int16(response.error_code);
  if (v >= 1) writer.NullableString(response.error_message);
  writer.Int32(response.node_id);
  writer.String(response.host);
  writer.Int32(response.port);
  return writer.Take();
}

std::vector<uint8_t> EncodeJoinGroupResponse(const JoinGroupResponse& response, int16_t v) {
  Writer writer;
  if (v >= 2) writer.Int32(0);  // throttle_time_ms.
  writer.Int16(response.error_code);
  writer.Int32(response.generation_id);
  writer.String(response.protocol_name);
  writer.String(response.leader);
  writer.String(response.member_id);
  writer.ArrayCount(response.members.size());
  for (const GroupProtocolBytes& member : response.members) {
    writer.String(member.name);
    if (v >= 5) writer.NullableString(std::nullopt);  // group_instance_id.
    writer.Bytes(member.bytes);
  }
  return writer.Take();
}

std::vector<uint8_t> EncodeSyncGroupResponse(const SyncGroupResponse& response, int16_t v) {
  Writer writer;
  if (v >= 1) writer.Int32(0);  // throttle_time_ms.
  writer.Int16(response.error_code);
  writer.Bytes(response.assignment);
  return writer.Take();
}

std::vector<uint8_t> EncodeHeartbeatResponse(int16_t error_code, int16_t v) {
  Writer writer;
  if (v >= 1) writer.Int32(0);  // throttle_time_ms.
  writer.Int16(error_code);
  return writer.Take();
}

std::vector<uint8_t> EncodeLeaveGroupResponse(const LeaveGroupResponse& response, int16_t v) {
  Writer writer;
  if (v >= 1) writer.Int32(0);  // throttle_time_ms.
  writer.Int16(response.error_code);
  if (v >= 3) {
    writer.ArrayCount(response.members.size());
    for (const auto& [member_id, error_code] : response.members) {
      writer.String(member_id);
      writer.NullableString(std::nullopt);  // group_instance_id.
      writer.Int16(error_code);
    }
  }
  return writer.Take();
}

std::vector<uint8_t> EncodeOffsetCommitResponse(const OffsetCommitResponse& response, int16_t v) {
  Writer writer;
  if (v >= 3) writer.Int32(0);  // throttle_time_ms.
  writer.ArrayCount(response.size());
  for (const auto& [name, partitions] : response) {
    writer.String(name);
    writer.ArrayCount(partitions.size());
    for (const auto& [partition, error_code] : partitions) {
      writer.Int32(partition);
      writer.Int16(error_code);
    }
  }
  return writer.Take();
}

std::vector<uint8_t> EncodeOffsetFetchResponse(const OffsetFetchResponse& response, int16_t v) {
  Writer writer;
  if (v >= 3) writer.Int32(0);  // throttle_time_ms.
  writer.ArrayCount(response.topics.size());
  for (const auto& [name, partitions] : response.topics) {
    writer.String(name);
    writer.ArrayCount(partitions.size());
    for (const OffsetFetchPartition& partition : partitions) {
      writer.Int32(partition.partition);
      writer.Int64(partition.offset);
      if (v >= 5) writer.Int32(-1);  // committed_leader_epoch: not tracked.
      writer.NullableString(partition.metadata);
      writer.Int16(partition.error_code);
    }
  }
  if (v >= 2) writer.Int16(response.error_code);
  return writer.Take();
}

std::vector<uint8_t> EncodeListGroupsResponse(const ListGroupsResponse& response, int16_t v) {
  Writer writer;
  if (v >= 1) writer.Int32(0);  // throttle_time_ms.
  writer.Int16(response.error_code);
  writer.ArrayCount(response.groups.size());
  for (const ListedGroup& group : response.groups) {
    writer.String(group.group_id);
    writer.String(group.protocol_type);
  }
  return writer.Take();
}

absl::StatusOr<DescribeGroupsRequest> DecodeDescribeGroupsRequest(std::span<const uint8_t> body,
                                                                  int16_t v) {
  Reader reader(body);
  DescribeGroupsRequest request;
  request.groups.resize(reader.ArrayCount(kArrayElementsMax));
  for (std::string& group : request.groups) group = reader.String();
  if (v >= 3) request.include_authorized_operations = reader.Bool();
  return Finish(reader, std::move(request), "DescribeGroups");
}

std::vector<uint8_t> EncodeDescribeGroupsResponse(const std::vector<DescribedGroup>& groups,
                                                  int16_t v) {
  Writer writer;
  if (v >= 1) writer.Int32(0);  // throttle_time_ms.
  writer.ArrayCount(groups.size());
  for (const DescribedGroup& group : groups) {
    writer.Int16(group.error_code);
    writer.String(group.group_id);
    writer.String(group.state);
    writer.String(group.protocol_type);
    writer.String(group.protocol);
    writer.ArrayCount(group.members.size());
    for (const DescribedMember& member : group.members) {
      writer.String(member.member_id);
      if (v >= 4) writer.NullableString(std::nullopt);  // group_instance_id: no static members.
      writer.String(member.client_id);
      writer.String(member.client_host);
      writer.Bytes(member.metadata);
      writer.Bytes(member.assignment);
    }
    if (v >= 3) writer.Int32(INT32_MIN);  // authorized_operations: not computed.
  }
  return writer.Take();
}

absl::StatusOr<DeleteGroupsRequest> DecodeDeleteGroupsRequest(std::span<const uint8_t> body,
                                                              int16_t v) {
  (void)v;  // v0 and v1 have the same layout.
  Reader reader(body);
  DeleteGroupsRequest request;
  request.groups.resize(reader.ArrayCount(kArrayElementsMax));
  for (std::string& group : request.groups) {
    group = reader.String();
    if (!reader.ok()) break;
  }
  return Finish(reader, std::move(request), "DeleteGroups");
}

std::vector<uint8_t> EncodeDeleteGroupsResponse(const DeleteGroupsResponse& results, int16_t v) {
  (void)v;
  Writer writer;
  writer.Int32(0);  // throttle_time_ms.
  writer.ArrayCount(results.size());
  for (const auto& [group, error_code] : results) {
    writer.String(group);
    writer.Int16(error_code);
  }
  return writer.Take();
}

}  // namespace meridian::core::kafka
