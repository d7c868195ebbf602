// client::Client's consumer-group calls (client.h "Consumer groups").
#include <fmt/format.h>

#include "core/client/client.h"
#include "core/client/errors.h"

namespace meridian::core::client {

absl::StatusOr<uint32_t> Client::OffsetsPartitions(const std::string& group, io::Instant deadline) {
  const std::string topic(wire::kOffsetsTopic);
  if (const wire::TopicInfoT* cached = CachedTopic(topic);
      cached != nullptr && !cached->partitions.empty()) {
    return static_cast<uint32_t>(cached->partitions.size());
  }
  wire::FindCoordinatorRequestT request;
  request.group = group;
  absl::StatusOr<wire::FindCoordinatorResponseT> found = TakeBody<wire::FindCoordinatorResponseT>(
      CallController(wire::Message(0, std::move(request)), deadline),
      [](wire::BodyUnion& body) { return body.AsFindCoordinatorResponse(); },
      "FindCoordinatorResponse");
  if (!found.ok()) return found.status();
  // The controller has created the topic; the node that answers the metadata request may not
  // have applied that yet (its copy lags by a few milliseconds): ask again until the deadline.
  while (true) {
    if (absl::StatusOr<wire::MetadataResponseT> refreshed = RefreshMetadata({topic});
        !refreshed.ok()) {
      return refreshed.status();
    }
    const wire::TopicInfoT* cached = CachedTopic(topic);
    if (cached != nullptr && !cached->partitions.empty()) {
      return static_cast<uint32_t>(cached->partitions.size());
    }
    if (runtime_.Now() + options_.retry_backoff >= deadline) {
      return absl::UnavailableError(fmt::format("{} is not in the metadata yet", topic));
    }
    (void)runtime_.Sleep(options_.retry_backoff);
  }
}

Client::Response Client::CallCoordinator(const std::string& group, wire::ClientMessageT request,
                                         io::Instant deadline) {
  absl::StatusOr<uint32_t> partitions = OffsetsPartitions(group, deadline);
  if (!partitions.ok()) return partitions.status();
  return CallPartitionLeader(std::string(wire::kOffsetsTopic),
                             wire::GroupPartition(group, *partitions), std::move(request),
                             deadline);
}

absl::StatusOr<std::vector<std::unique_ptr<wire::PartitionOffsetT>>> Client::CommittedOffsets(
    const std::string& group, std::vector<std::string> topics) {
  wire::OffsetFetchRequestT request;
  request.group = group;
  request.topics = std::move(topics);
  absl::StatusOr<wire::OffsetFetchResponseT> response = TakeBody<wire::OffsetFetchResponseT>(
      CallCoordinator(group, wire::Message(0, std::move(request)),
                      runtime_.Now() + options_.request_timeout),
      [](wire::BodyUnion& body) { return body.AsOffsetFetchResponse(); }, "OffsetFetchResponse");
  if (!response.ok()) return response.status();
  return std::move(response->offsets);
}

absl::Status Client::CommitOffsets(const std::string& group, const std::string& member_id,
                                   int32_t generation,
                                   std::vector<std::unique_ptr<wire::PartitionOffsetT>> offsets,
                                   io::Instant deadline) {
  wire::OffsetCommitRequestT request;
  request.group = group;
  request.member_id = member_id;
  request.generation = generation;
  request.offsets = std::move(offsets);
  return TakeBody<wire::OffsetCommitResponseT>(
             CallCoordinator(group, wire::Message(0, std::move(request)), deadline),
             [](wire::BodyUnion& body) { return body.AsOffsetCommitResponse(); },
             "OffsetCommitResponse")
      .status();
}

absl::Status Client::DeleteGroup(const std::string& group) {
  wire::DeleteGroupRequestT request;
  request.group = group;
  return TakeBody<wire::DeleteGroupResponseT>(
             CallCoordinator(group, wire::Message(0, std::move(request)),
                             runtime_.Now() + options_.request_timeout),
             [](wire::BodyUnion& body) { return body.AsDeleteGroupResponse(); },
             "DeleteGroupResponse")
      .status();
}

absl::StatusOr<std::vector<std::unique_ptr<wire::GroupInfoT>>> Client::DescribeGroups(
    const std::string& group) {
  const io::Instant deadline = runtime_.Now() + options_.request_timeout;
  const std::string topic(wire::kOffsetsTopic);
  std::vector<uint32_t> partitions;
  if (!group.empty()) {
    absl::StatusOr<uint32_t> count = OffsetsPartitions(group, deadline);
    if (!count.ok()) return count.status();
    partitions.push_back(wire::GroupPartition(group, *count));
  } else {
    absl::StatusOr<wire::MetadataResponseT> metadata = RefreshMetadata({topic});
    if (!metadata.ok()) return metadata.status();
    const wire::TopicInfoT* cached = CachedTopic(topic);
    const uint32_t count = cached == nullptr ? 0 : static_cast<uint32_t>(cached->partitions.size());
    for (uint32_t p = 0; p < count; p++) partitions.push_back(p);  // None: no group ever.
  }
  std::vector<std::unique_ptr<wire::GroupInfoT>> groups;
  for (uint32_t partition : partitions) {
    wire::DescribeGroupsRequestT request;
    request.partition = partition;
    request.group = group;
    absl::StatusOr<wire::DescribeGroupsResponseT> response =
        TakeBody<wire::DescribeGroupsResponseT>(
            CallPartitionLeader(topic, partition, wire::Message(0, std::move(request)), deadline),
            [](wire::BodyUnion& body) { return body.AsDescribeGroupsResponse(); },
            "DescribeGroupsResponse");
    if (!response.ok()) return response.status();
    for (auto& info : response->groups) groups.push_back(std::move(info));
  }
  return groups;
}

}  // namespace meridian::core::client
