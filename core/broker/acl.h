// Per-principal access control on topics (issue 10 item 2): who may produce to, consume from
// and administer which topics. Pure: parsing and matching, no I/O (meridian-node reads the file
// given by --acl_file and hands the text to Parse).
//
// A principal is who a connection speaks for: the CN of the client certificate under mutual TLS
// (node/meridian_node.cc decides), else "anonymous". A node of the cluster (its node
// certificate) is `cluster_node`: it may do everything, as the cluster's own traffic (a node
// registering with the controller, a Kafka listener forwarding to the controller leader after
// its own node authorised the client) must not be subject to client rules.
//
// The rules file, one rule a line, `#` comments:
//     PRINCIPAL  TOPIC  OPERATIONS
//     alice      orders     produce,consume
//     analytics  logs-*     consume
//     ops        *          admin
//     *          public     consume
// PRINCIPAL is a name or `*` (anyone, anonymous included); TOPIC a name, `*` or a prefix ending
// in `*`; OPERATIONS a comma-separated subset of produce, consume, admin (or `all`). A request is
// allowed when some rule matches its principal, topic and operation; nothing else is (deny by
// default). Without rules (no --acl_file) the broker does not check at all.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/wire/client_generated.h"

namespace meridian::core::broker {

inline constexpr char kAnonymousPrincipal[] = "anonymous";

struct Principal {
  std::string name = kAnonymousPrincipal;
  bool cluster_node = false;  // A node of this cluster: not subject to the rules.
};

enum class Operation : uint8_t { kProduce = 1, kConsume = 2, kAdmin = 4 };
std::string_view OperationName(Operation operation);

// What a request needs from its principal.
struct RequiredAccess {
  enum class Kind { kOpen, kTopic, kClusterNode };
  Kind kind = Kind::kOpen;
  Operation operation = Operation::kAdmin;  // kTopic only.
  std::string topic;                        // kTopic only.
};

// Produce: produce on its topic. Fetch and ListOffsets: consume. CreateTopic, DeleteTopic,
// CreatePartitions, AlterTopicConfig: admin on the topic. RegisterNode: cluster nodes only (a
// client must not announce nodes). Hello, Metadata, InitProducerId, ReplicaStatus: open (they
// read cluster shape, not records; an id alone writes nothing). The consumer-group requests,
// DeleteGroup included, are open too: the rules name topics, not groups (an admin offset reset
// is as open). Anything else: open here, and the handler refuses what it does not serve.
RequiredAccess AccessFor(const wire::ClientMessageT& request);

class AccessControl {
 public:
  static constexpr size_t kRulesMax = 10'000;
  static constexpr size_t kNameBytesMax = 256;

  // InvalidArgument naming the line and what is wrong with it.
  static absl::StatusOr<AccessControl> Parse(std::string_view text);

  bool Allows(const Principal& principal, const RequiredAccess& access) const;
  size_t rule_count() const { return rules_.size(); }

 private:
  struct Rule {
    std::string principal;   // A name, or "*".
    std::string topic;       // A name, "*", or "prefix*".
    uint8_t operations = 0;  // Operation bits.
  };
  std::vector<Rule> rules_;
};

}  // namespace meridian::core::broker
