#include "core/broker/acl.h"

#include <fmt/format.h>

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "io/assert.h"

namespace meridian::core::broker {
namespace {

absl::StatusOr<uint8_t> ParseOperations(std::string_view text) {
  uint8_t operations = 0;
  for (absl::string_view word :
       absl::StrSplit(absl::string_view(text.data(), text.size()), ',', absl::SkipEmpty())) {
    if (word == "produce") {
      operations |= static_cast<uint8_t>(Operation::kProduce);
    } else if (word == "consume") {
      operations |= static_cast<uint8_t>(Operation::kConsume);
    } else if (word == "admin") {
      operations |= static_cast<uint8_t>(Operation::kAdmin);
    } else if (word == "all") {
      operations |= 7;
    } else {
      return absl::InvalidArgumentError(fmt::format(
          "'{}' is not an operation (produce, consume, admin, all)", std::string(word)));
    }
  }
  if (operations == 0) return absl::InvalidArgumentError("no operation");
  return operations;
}

bool TopicMatches(const std::string& pattern, std::string_view topic) {
  if (pattern == "*") return true;
  if (!pattern.empty() && pattern.back() == '*') {
    const std::string_view prefix(pattern.data(), pattern.size() - 1);
    return topic.substr(0, prefix.size()) == prefix;
  }
  return pattern == topic;
}

}  // namespace

std::string_view OperationName(Operation operation) {
  switch (operation) {
    case Operation::kProduce:
      return "produce";
    case Operation::kConsume:
      return "consume";
    case Operation::kAdmin:
      return "admin";
  }
  return "?";
}

RequiredAccess AccessFor(const wire::ClientMessageT& request) {
  using Kind = RequiredAccess::Kind;
  const wire::BodyUnion& body = request.body;
  switch (body.type) {
    case wire::Body::ProduceRequest:
      return {Kind::kTopic, Operation::kProduce, body.AsProduceRequest()->topic};
    case wire::Body::FetchRequest:
      return {Kind::kTopic, Operation::kConsume, body.AsFetchRequest()->topic};
    case wire::Body::ListOffsetsRequest:
      return {Kind::kTopic, Operation::kConsume, body.AsListOffsetsRequest()->topic};
    case wire::Body::CreateTopicRequest:
      return {Kind::kTopic, Operation::kAdmin, body.AsCreateTopicRequest()->name};
    case wire::Body::DeleteTopicRequest:
      return {Kind::kTopic, Operation::kAdmin, body.AsDeleteTopicRequest()->name};
    case wire::Body::CreatePartitionsRequest:
      return {Kind::kTopic, Operation::kAdmin, body.AsCreatePartitionsRequest()->topic};
    case wire::Body::AlterTopicConfigRequest:
      return {Kind::kTopic, Operation::kAdmin, body.AsAlterTopicConfigRequest()->topic};
    case wire::Body::RegisterNodeRequest:
      return {Kind::kClusterNode};
    case wire::Body::ReassignPartitionRequest: {
      // The completion is a partition leader's report (a node); the target is an admin's.
      const wire::ReassignPartitionRequestT& reassign = *body.AsReassignPartitionRequest();
      if (reassign.complete) return {Kind::kClusterNode};
      return {Kind::kTopic, Operation::kAdmin, reassign.topic};
    }
    default:
      return {Kind::kOpen};
  }
}

absl::StatusOr<AccessControl> AccessControl::Parse(std::string_view text) {
  AccessControl acl;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    line_number++;
    line = line.substr(0, line.find('#'));
    std::vector<absl::string_view> words =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (words.empty()) continue;
    const auto error = [&](const std::string& why) {
      return absl::InvalidArgumentError(fmt::format("line {}: {}", line_number, why));
    };
    if (words.size() != 3) return error("expected PRINCIPAL TOPIC OPERATIONS");
    if (words[0].size() > kNameBytesMax || words[1].size() > kNameBytesMax) {
      return error("name too long");
    }
    absl::StatusOr<uint8_t> operations =
        ParseOperations(std::string_view(words[2].data(), words[2].size()));
    if (!operations.ok()) return error(std::string(operations.status().message()));
    if (acl.rules_.size() == kRulesMax) return error("too many rules");
    acl.rules_.push_back({std::string(words[0]), std::string(words[1]), *operations});
  }
  return acl;
}

bool AccessControl::Allows(const Principal& principal, const RequiredAccess& access) const {
  using Kind = RequiredAccess::Kind;
  if (principal.cluster_node || access.kind == Kind::kOpen) return true;
  if (access.kind == Kind::kClusterNode) return false;
  MERIDIAN_CHECK(access.kind == Kind::kTopic);
  for (const Rule& rule : rules_) {
    if (rule.principal != "*" && rule.principal != principal.name) continue;
    if ((rule.operations & static_cast<uint8_t>(access.operation)) == 0) continue;
    if (TopicMatches(rule.topic, access.topic)) return true;
  }
  return false;
}

}  // namespace meridian::core::broker
