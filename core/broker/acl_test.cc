// AccessControl: the rules file and what each request needs. Deny by default; a cluster node
// passes; RegisterNode is for cluster nodes only; malformed files are refused with the line.
#include "core/broker/acl.h"

#include <gtest/gtest.h>

#include "core/wire/client_codec.h"

namespace meridian::core::broker {
namespace {

constexpr char kRules[] = R"(
# principal  topic     operations
alice        orders    produce,consume
analytics    logs-*    consume
ops          *         admin
*            public    consume
)";

RequiredAccess Topic(Operation operation, std::string topic) {
  return {RequiredAccess::Kind::kTopic, operation, std::move(topic)};
}

AccessControl Rules() {
  absl::StatusOr<AccessControl> acl = AccessControl::Parse(kRules);
  EXPECT_TRUE(acl.ok()) << acl.status();
  return *acl;
}

TEST(AccessControl, AllowsOnlyWhatARuleGrants) {
  const AccessControl acl = Rules();
  EXPECT_EQ(acl.rule_count(), 4u);
  const Principal alice{"alice"}, analytics{"analytics"}, ops{"ops"}, anonymous{};
  EXPECT_TRUE(acl.Allows(alice, Topic(Operation::kProduce, "orders")));
  EXPECT_TRUE(acl.Allows(alice, Topic(Operation::kConsume, "orders")));
  EXPECT_FALSE(acl.Allows(alice, Topic(Operation::kAdmin, "orders")));
  EXPECT_FALSE(acl.Allows(alice, Topic(Operation::kProduce, "orders2")));
  EXPECT_TRUE(acl.Allows(analytics, Topic(Operation::kConsume, "logs-web")));
  EXPECT_FALSE(acl.Allows(analytics, Topic(Operation::kConsume, "logs")));
  EXPECT_FALSE(acl.Allows(analytics, Topic(Operation::kProduce, "logs-web")));
  EXPECT_TRUE(acl.Allows(ops, Topic(Operation::kAdmin, "anything")));
  EXPECT_FALSE(acl.Allows(ops, Topic(Operation::kProduce, "anything")));
  EXPECT_TRUE(acl.Allows(anonymous, Topic(Operation::kConsume, "public")));
  EXPECT_FALSE(acl.Allows(anonymous, Topic(Operation::kProduce, "public")));
  EXPECT_FALSE(acl.Allows(Principal{"mallory"}, Topic(Operation::kConsume, "orders")));
}

TEST(AccessControl, ClusterNodesPassAndOnlyThemRegisterNodes) {
  const AccessControl acl = Rules();
  const Principal node{"node-2.test.meridian", /*cluster_node=*/true};
  EXPECT_TRUE(acl.Allows(node, Topic(Operation::kAdmin, "orders")));
  const RequiredAccess register_node{RequiredAccess::Kind::kClusterNode};
  EXPECT_TRUE(acl.Allows(node, register_node));
  EXPECT_FALSE(acl.Allows(Principal{"ops"}, register_node));
  // The name alone makes nobody a node: that is the certificate's business.
  EXPECT_FALSE(acl.Allows(Principal{"node-2.test.meridian"}, register_node));
}

TEST(AccessControl, EmptyRulesDenyEveryTopicOperation) {
  absl::StatusOr<AccessControl> acl = AccessControl::Parse("# nothing\n\n");
  ASSERT_TRUE(acl.ok());
  EXPECT_FALSE(acl->Allows(Principal{"alice"}, Topic(Operation::kConsume, "orders")));
  EXPECT_TRUE(acl->Allows(Principal{"alice"}, RequiredAccess{}));  // Open requests stay open.
}

TEST(AccessControl, RefusesMalformedLinesNamingThem) {
  for (const auto& [text, reason] :
       {std::pair{"alice orders", "line 1: expected PRINCIPAL TOPIC OPERATIONS"},
        std::pair{"\nalice orders write", "line 2: 'write' is not an operation"},
        std::pair{"alice orders ,", "line 1: no operation"},
        std::pair{"a b c d", "line 1: expected"}}) {
    absl::StatusOr<AccessControl> acl = AccessControl::Parse(text);
    ASSERT_FALSE(acl.ok()) << text;
    EXPECT_NE(acl.status().message().find(reason), std::string::npos) << acl.status();
  }
}

// The file's limits are inclusive: names of kNameBytesMax bytes and kRulesMax rules are
// taken, one byte or one rule more is refused with the line.
TEST(AccessControl, LimitsAreInclusive) {
  const std::string longest(AccessControl::kNameBytesMax, 'n');
  const std::string too_long(AccessControl::kNameBytesMax + 1, 'n');
  absl::StatusOr<AccessControl> acl = AccessControl::Parse(longest + " " + longest + " consume");
  ASSERT_TRUE(acl.ok()) << acl.status();
  EXPECT_TRUE(acl->Allows(Principal{longest}, Topic(Operation::kConsume, longest)));
  for (const std::string& line : {too_long + " t consume", "p " + too_long + " consume",
                                  too_long + " " + too_long + " consume"}) {
    acl = AccessControl::Parse("p t consume\n" + line);
    ASSERT_FALSE(acl.ok()) << line.size();
    EXPECT_NE(acl.status().message().find("line 2: name too long"), std::string::npos)
        << acl.status();
  }
  std::string rules;
  for (size_t i = 0; i < AccessControl::kRulesMax; i++)
    rules += "p t" + std::to_string(i) + " consume\n";
  acl = AccessControl::Parse(rules);
  ASSERT_TRUE(acl.ok()) << acl.status();
  acl = AccessControl::Parse(rules + "p more consume\n");
  ASSERT_FALSE(acl.ok());
  EXPECT_NE(acl.status().message().find("too many rules"), std::string::npos) << acl.status();
}

TEST(AccessFor, MapsRequestsToOperations) {
  wire::ProduceRequestT produce;
  produce.topic = "orders";
  RequiredAccess access = AccessFor(wire::Message(1, std::move(produce)));
  EXPECT_EQ(access.kind, RequiredAccess::Kind::kTopic);
  EXPECT_EQ(access.operation, Operation::kProduce);
  EXPECT_EQ(access.topic, "orders");
  wire::FetchRequestT fetch;
  fetch.topic = "orders";
  EXPECT_EQ(AccessFor(wire::Message(2, std::move(fetch))).operation, Operation::kConsume);
  wire::DeleteTopicRequestT remove;
  remove.name = "orders";
  EXPECT_EQ(AccessFor(wire::Message(3, std::move(remove))).operation, Operation::kAdmin);
  EXPECT_EQ(AccessFor(wire::Message(4, wire::RegisterNodeRequestT{})).kind,
            RequiredAccess::Kind::kClusterNode);
  EXPECT_EQ(AccessFor(wire::Message(5, wire::MetadataRequestT{})).kind,
            RequiredAccess::Kind::kOpen);
  wire::AlterTopicConfigRequestT alter;
  alter.topic = "orders";
  access = AccessFor(wire::Message(6, std::move(alter)));
  EXPECT_EQ(access.kind, RequiredAccess::Kind::kTopic);
  EXPECT_EQ(access.operation, Operation::kAdmin);
  EXPECT_EQ(access.topic, "orders");
  wire::DeleteGroupRequestT delete_group;
  delete_group.group = "orders-readers";
  EXPECT_EQ(AccessFor(wire::Message(7, std::move(delete_group))).kind, RequiredAccess::Kind::kOpen)
      << "the rules name topics, not groups";
}

}  // namespace
}  // namespace meridian::core::broker
