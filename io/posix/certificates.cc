#include "io/posix/certificates.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "absl/status/statusor.h"
#include "io/posix/tls.h"

namespace meridian::io::posix {
namespace {

struct KeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CertDeleter {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct FileCloser {
  void operator()(FILE* file) const { fclose(file); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyDeleter>;
using Cert = std::unique_ptr<X509, CertDeleter>;
using File = std::unique_ptr<FILE, FileCloser>;

absl::Status OpenSslError(std::string_view what) {
  std::string reason;
  while (const unsigned long error = ERR_get_error()) {
    char line[256];
    ERR_error_string_n(error, line, sizeof(line));
    reason += reason.empty() ? line : std::string("; ") + line;
  }
  return absl::InternalError(fmt::format("{}: {}", what, reason.empty() ? "-" : reason));
}

absl::StatusOr<File> OpenForWrite(const std::string& path, mode_t mode) {
  FILE* file = fopen(path.c_str(), "w");
  if (file == nullptr) {
    return absl::PermissionDeniedError(
        fmt::format("cannot write {}: {}", path, std::strerror(errno)));
  }
  fchmod(fileno(file), mode);
  return File(file);
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (extension == nullptr) return OpenSslError(fmt::format("extension {}", value));
  const int added = X509_add_ext(cert, extension, -1);
  X509_EXTENSION_free(extension);
  return added == 1 ? absl::OkStatus() : OpenSslError("X509_add_ext");
}

// A certificate for `key` named `common_name`, not yet signed; its issuer is `issuer` (itself
// when null).
absl::StatusOr<Cert> NewCertificate(EVP_PKEY* key, const std::string& common_name, X509* issuer) {
  Cert cert(X509_new());
  if (cert == nullptr) return OpenSslError("X509_new");
  X509_set_version(cert.get(), 2);
  uint64_t serial = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof(serial)) != 1) {
    return OpenSslError("RAND_bytes");
  }
  ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert.get()), serial >> 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60 * 60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), int64_t{kValidityDays} * 24 * 60 * 60);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("meridian"), -1, -1, 0);
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                 -1, 0) != 1) {
    return OpenSslError("common name " + common_name);
  }
  X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer ? issuer : cert.get()));
  return cert;
}

absl::Status WritePair(const std::string& dir, const std::string& stem, EVP_PKEY* key, X509* cert) {
  absl::StatusOr<File> key_file = OpenForWrite(fmt::format("{}/{}.key", dir, stem), 0600);
  if (!key_file.ok()) return key_file.status();
  if (PEM_write_PrivateKey(key_file->get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslError("write key");
  }
  absl::StatusOr<File> cert_file = OpenForWrite(fmt::format("{}/{}.pem", dir, stem), 0644);
  if (!cert_file.ok()) return cert_file.status();
  if (PEM_write_X509(cert_file->get(), cert) != 1) return OpenSslError("write certificate");
  return absl::OkStatus();
}

absl::Status LoadCa(const std::string& dir, Key& key, Cert& cert) {
  File cert_file(fopen((dir + "/ca.pem").c_str(), "r"));
  File key_file(fopen((dir + "/ca.key").c_str(), "r"));
  if (cert_file == nullptr || key_file == nullptr) {
    return absl::NotFoundError(fmt::format("no CA in {} (ca.pem and ca.key)", dir));
  }
  cert.reset(PEM_read_X509(cert_file.get(), nullptr, nullptr, nullptr));
  key.reset(PEM_read_PrivateKey(key_file.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr || key == nullptr) return OpenSslError("read CA from " + dir);
  return absl::OkStatus();
}

}  // namespace

absl::Status EnsureCertificateAuthority(const std::string& dir, const std::string& ca_name) {
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return absl::PermissionDeniedError(
        fmt::format("cannot create {}: {}", dir, std::strerror(errno)));
  }
  struct stat info {};
  if (stat((dir + "/ca.pem").c_str(), &info) == 0) return absl::OkStatus();
  ERR_clear_error();
  Key key(EVP_EC_gen("P-256"));
  if (key == nullptr) return OpenSslError("EC key");
  absl::StatusOr<Cert> cert = NewCertificate(key.get(), ca_name, nullptr);
  if (!cert.ok()) return cert.status();
  for (const auto& [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                                   std::pair{NID_key_usage, "critical,keyCertSign,cRLSign"},
                                   std::pair{NID_subject_key_identifier, "hash"}}) {
    if (absl::Status s = AddExtension(cert->get(), cert->get(), nid, value); !s.ok()) return s;
  }
  if (X509_sign(cert->get(), key.get(), EVP_sha256()) == 0) return OpenSslError("sign CA");
  return WritePair(dir, "ca", key.get(), cert->get());
}

absl::Status IssueCertificate(const std::string& dir, const std::string& common_name,
                              const std::string& stem) {
  // The name also goes into an OpenSSL config string (the subjectAltName): keep it plain.
  if (common_name.empty() || common_name.size() > 64 ||
      common_name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789.-_") != std::string::npos) {
    return absl::InvalidArgumentError(fmt::format(
        "'{}': a certificate name is 1 to 64 of A-Z, a-z, 0-9, '.', '-' and '_'", common_name));
  }
  ERR_clear_error();
  Key ca_key;
  Cert ca_cert;
  if (absl::Status s = LoadCa(dir, ca_key, ca_cert); !s.ok()) return s;
  Key key(EVP_EC_gen("P-256"));
  if (key == nullptr) return OpenSslError("EC key");
  absl::StatusOr<Cert> cert = NewCertificate(key.get(), common_name, ca_cert.get());
  if (!cert.ok()) return cert.status();
  const std::string san = "DNS:" + common_name;
  for (const auto& [nid, value] :
       {std::pair{NID_basic_constraints, "critical,CA:FALSE"},
        std::pair{NID_key_usage, "critical,digitalSignature,keyEncipherment"},
        std::pair{NID_ext_key_usage, "serverAuth,clientAuth"},
        std::pair{NID_authority_key_identifier, "keyid:always"},
        std::pair{NID_subject_alt_name, san.c_str()}}) {
    if (absl::Status s = AddExtension(cert->get(), ca_cert.get(), nid, value); !s.ok()) return s;
  }
  if (X509_sign(cert->get(), ca_key.get(), EVP_sha256()) == 0) {
    return OpenSslError("sign " + common_name);
  }
  return WritePair(dir, stem, key.get(), cert->get());
}

absl::Status MakeClusterCertificates(const std::string& dir, const std::string& cluster_id,
                                     const std::vector<NodeId>& nodes,
                                     const std::vector<std::string>& clients) {
  if (absl::Status s = CheckClusterId(cluster_id); !s.ok()) return s;
  for (const std::string& client : clients) {
    if (client.rfind("node-", 0) == 0 || client == "ca") {
      return absl::InvalidArgumentError(fmt::format(
          "client name '{}': names starting with 'node-', and 'ca', are reserved", client));
    }
  }
  const std::string ca_name = fmt::format("meridian {} CA", cluster_id);
  if (absl::Status s = EnsureCertificateAuthority(dir, ca_name); !s.ok()) return s;
  for (const NodeId node : nodes) {
    absl::Status s = IssueCertificate(dir, NodeCertificateName(node, cluster_id),
                                      fmt::format("node-{}", node.value()));
    if (!s.ok()) return s;
  }
  for (const std::string& client : clients) {
    if (absl::Status s = IssueCertificate(dir, client, client); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace meridian::io::posix
