// A local certificate authority for a Meridian cluster, with the OpenSSL API: what `meridian
// certs` writes, and what the TLS tests make in their temporary directories.
//
// Keys are ECDSA P-256; certificates are X.509 v3 valid for kValidityDays. The CA is
// `<dir>/ca.pem` + `<dir>/ca.key`; each issued certificate is `<dir>/<stem>.pem` + `<stem>.key`
// (keys mode 0600), with the common name as its CN and a DNS subjectAltName, and both
// serverAuth and clientAuth usage (a node is a TLS server to clients and peers, and a TLS
// client of its peers). These are for a demo and tests, not a production PKI: no revocation.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "io/node_id.h"

namespace meridian::io::posix {

inline constexpr int kValidityDays = 825;

// Creates <dir> (if missing) and a new CA in it named `ca_name`, unless <dir>/ca.pem exists
// (then the existing CA is kept and reused).
absl::Status EnsureCertificateAuthority(const std::string& dir, const std::string& ca_name);

// Issues <dir>/<stem>.pem and <dir>/<stem>.key for `common_name`, signed by <dir>/ca.{pem,key}.
// Overwrites an existing pair of that stem.
absl::Status IssueCertificate(const std::string& dir, const std::string& common_name,
                              const std::string& stem);

// What `meridian certs` writes into <dir>: the CA (kept if present), node-<id>.{pem,key} with
// CN node-<id>.<cluster_id>.meridian for each node, and <name>.{pem,key} with CN <name> for each
// client principal. A client name may not start with "node-" (it would read as a node's) nor be
// "ca".
absl::Status MakeClusterCertificates(const std::string& dir, const std::string& cluster_id,
                                     const std::vector<NodeId>& nodes,
                                     const std::vector<std::string>& clients);

}  // namespace meridian::io::posix
