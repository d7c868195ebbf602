// The `meridian` tool's TLS: `meridian certs` (a local CA and certificates for a cluster) and the
// client side of a TLS client port (--tls-ca, --tls-cert, --tls-key). Kept out of meridian_cli.cc
// so that file only dispatches to it.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "io/posix/tls.h"

namespace meridian::node {

inline constexpr char kCertsUsage[] =
    "Usage: meridian certs --dir=DIR --cluster-id=ID --nodes=1,2,3 [--clients=NAME,...]\n\n"
    "Makes a local certificate authority for cluster ID in DIR (ca.pem, ca.key; an existing\n"
    "CA there is kept) and issues node-N.pem/.key (CN node-N.ID.meridian) for each node id and\n"
    "NAME.pem/.key (CN NAME, the client's principal) for each client. Start each node with\n"
    "--tls_ca=DIR/ca.pem --tls_cert=DIR/node-N.pem --tls_key=DIR/node-N.key --cluster_id=ID.\n"
    "For a demo or tests: no revocation, keys unencrypted (mode 0600).\n";

// Runs `meridian certs` from its flag values; returns the exit code (0, 1, or 2 for bad flags),
// having printed one line.
int RunCerts(const std::string& dir, const std::string& cluster_id, const std::string& nodes,
             const std::string& clients);

// The client TLS context from --tls-ca/--tls-cert/--tls-key: null when none is given;
// InvalidArgument when they are incomplete or unusable.
absl::StatusOr<std::shared_ptr<io::posix::TlsContext>> ClientTlsFromFlags(const std::string& ca,
                                                                          const std::string& cert,
                                                                          const std::string& key);

}  // namespace meridian::node
