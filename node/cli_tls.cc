#include "node/cli_tls.h"

#include <fmt/format.h>

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "io/posix/certificates.h"

namespace meridian::node {

int RunCerts(const std::string& dir, const std::string& cluster_id, const std::string& nodes,
             const std::string& clients) {
  constexpr int kExitFailure = 1;
  constexpr int kExitUsage = 2;
  if (dir.empty() || cluster_id.empty() || nodes.empty()) {
    fmt::print(stderr, "meridian certs: --dir, --cluster-id and --nodes are required\n");
    return kExitUsage;
  }
  std::vector<io::NodeId> node_ids;
  for (absl::string_view part : absl::StrSplit(nodes, ',', absl::SkipWhitespace())) {
    uint32_t id = 0;
    if (!absl::SimpleAtoi(part, &id) || id == 0) {
      fmt::print(stderr, "meridian certs: --nodes: '{}' is not a node id >= 1\n",
                 std::string(part));
      return kExitUsage;
    }
    node_ids.push_back(io::NodeId(id));
  }
  std::vector<std::string> client_names;
  for (absl::string_view part : absl::StrSplit(clients, ',', absl::SkipWhitespace())) {
    client_names.emplace_back(part);
  }
  absl::Status made = io::posix::MakeClusterCertificates(dir, cluster_id, node_ids, client_names);
  if (!made.ok()) {
    fmt::print(stderr, "meridian certs: {}\n", std::string(made.message()));
    return absl::IsInvalidArgument(made) ? kExitUsage : kExitFailure;
  }
  fmt::print("meridian certs: CA {0}/ca.pem; {1} node and {2} client certificates in {0}\n", dir,
             node_ids.size(), client_names.size());
  return 0;
}

absl::StatusOr<std::shared_ptr<io::posix::TlsContext>> ClientTlsFromFlags(const std::string& ca,
                                                                          const std::string& cert,
                                                                          const std::string& key) {
  if (ca.empty()) {
    if (!cert.empty() || !key.empty()) {
      return absl::InvalidArgumentError("--tls-cert and --tls-key need --tls-ca");
    }
    return std::shared_ptr<io::posix::TlsContext>();
  }
  absl::StatusOr<std::shared_ptr<io::posix::TlsContext>> context =
      io::posix::TlsContext::Create({.ca_file = ca, .cert_file = cert, .key_file = key});
  if (!context.ok()) {
    return absl::InvalidArgumentError("TLS: " + std::string(context.status().message()));
  }
  return context;
}

}  // namespace meridian::node
