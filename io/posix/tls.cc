#include "io/posix/tls.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <vector>

#include "absl/strings/numbers.h"
#include "io/assert.h"

namespace meridian::io::posix {
namespace {

// OpenSSL's error queue as one line ("" when empty); clears the queue.
std::string OpenSslErrors() {
  std::string text;
  while (const unsigned long error = ERR_get_error()) {
    char line[256];
    ERR_error_string_n(error, line, sizeof(line));
    if (!text.empty()) text += "; ";
    text += line;
  }
  return text;
}

// The CN of `certificate`'s subject ("" when it has none or it is not UTF-8-convertible).
std::string CommonName(X509* certificate) {
  if (certificate == nullptr) return "";
  X509_NAME* subject = X509_get_subject_name(certificate);
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return "";
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length < 0) return "";
  std::string name(reinterpret_cast<const char*>(utf8), static_cast<size_t>(length));
  OPENSSL_free(utf8);
  // A NUL inside a CN is an old forgery trick; such a name matches nothing.
  if (name.find('\0') != std::string::npos) return "";
  return name;
}

absl::Status FileError(std::string_view what, const std::string& file) {
  return absl::InvalidArgumentError(
      fmt::format("cannot use {} '{}': {}", what, file, OpenSslErrors()));
}

struct CtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};

absl::Status LoadFiles(SSL_CTX* ctx, const TlsFiles& files) {
  if (files.ca_file.empty()) return absl::InvalidArgumentError("a CA file is required");
  if (files.cert_file.empty() != files.key_file.empty()) {
    return absl::InvalidArgumentError("a certificate needs its key and a key its certificate");
  }
  if (SSL_CTX_load_verify_locations(ctx, files.ca_file.c_str(), nullptr) != 1) {
    return FileError("CA file", files.ca_file);
  }
  if (files.cert_file.empty()) return absl::OkStatus();
  if (SSL_CTX_use_certificate_chain_file(ctx, files.cert_file.c_str()) != 1) {
    return FileError("certificate", files.cert_file);
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, files.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return FileError("key", files.key_file);
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return absl::InvalidArgumentError(
        fmt::format("key '{}' does not match certificate '{}'", files.key_file, files.cert_file));
  }
  return absl::OkStatus();
}

}  // namespace

struct TlsContext::Impl {
  std::unique_ptr<SSL_CTX, CtxDeleter> ctx;
};

struct TlsStream::Impl {
  SSL* ssl = nullptr;
  BIO* network_in = nullptr;   // Bytes from the wire, for OpenSSL to read (owned by ssl).
  BIO* network_out = nullptr;  // Bytes OpenSSL wrote, for the wire (owned by ssl).
  ~Impl() { SSL_free(ssl); }
};

absl::StatusOr<std::shared_ptr<TlsContext>> TlsContext::Create(const TlsFiles& files) {
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, CtxDeleter> ctx(SSL_CTX_new(TLS_method()));
  if (ctx == nullptr) return absl::InternalError("SSL_CTX_new: " + OpenSslErrors());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // No session tickets: nothing is sent after the handshake unless a write asks for it.
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_num_tickets(ctx.get(), 0);
  SSL_CTX_set_verify_depth(ctx.get(), 4);
  if (absl::Status s = LoadFiles(ctx.get(), files); !s.ok()) return s;
  std::string common_name = CommonName(SSL_CTX_get0_certificate(ctx.get()));
  if (!files.cert_file.empty() && common_name.empty()) {
    return absl::InvalidArgumentError(
        fmt::format("certificate '{}' has no common name", files.cert_file));
  }
  auto impl = std::make_unique<Impl>();
  impl->ctx = std::move(ctx);
  return std::shared_ptr<TlsContext>(new TlsContext(std::move(impl), std::move(common_name)));
}

TlsContext::TlsContext(std::unique_ptr<Impl> impl, std::string common_name)
    : impl_(std::move(impl)), common_name_(std::move(common_name)) {}

TlsContext::~TlsContext() = default;

std::unique_ptr<TlsStream> TlsContext::Wrap(Runtime& runtime, std::unique_ptr<Stream> stream,
                                            TlsRole role, ClientCertificate client_certificate) {
  auto impl = std::make_unique<TlsStream::Impl>();
  impl->ssl = SSL_new(impl_->ctx.get());
  MERIDIAN_CHECK(impl->ssl != nullptr, "SSL_new: {}", OpenSslErrors());
  impl->network_in = BIO_new(BIO_s_mem());
  impl->network_out = BIO_new(BIO_s_mem());
  MERIDIAN_CHECK(impl->network_in != nullptr && impl->network_out != nullptr, "BIO_new");
  // An empty memory BIO means "no bytes yet", not end of file.
  BIO_set_mem_eof_return(impl->network_in, -1);
  SSL_set_bio(impl->ssl, impl->network_in, impl->network_out);
  int verify = SSL_VERIFY_PEER;
  if (role == TlsRole::kServer) {
    SSL_set_accept_state(impl->ssl);
    verify = client_certificate == ClientCertificate::kRequired
                 ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                 : SSL_VERIFY_NONE;
  } else {
    SSL_set_connect_state(impl->ssl);
  }
  SSL_set_verify(impl->ssl, verify, nullptr);
  return std::make_unique<TlsStream>(runtime, std::move(stream), std::move(impl));
}

TlsStream::TlsStream(Runtime& runtime, std::unique_ptr<Stream> stream, std::unique_ptr<Impl> impl)
    : runtime_(runtime), stream_(std::move(stream)), impl_(std::move(impl)) {}

TlsStream::~TlsStream() { Close(); }

absl::Status TlsStream::OpenSslFailure(int result, std::string_view what) {
  const int error = SSL_get_error(impl_->ssl, result);
  const std::string reason = OpenSslErrors();
  const long verify = SSL_get_verify_result(impl_->ssl);
  if (verify != X509_V_OK) {
    return absl::PermissionDeniedError(fmt::format("tls {} with {}: certificate refused: {}", what,
                                                   peer(), X509_verify_cert_error_string(verify)));
  }
  if (error == SSL_ERROR_ZERO_RETURN) return absl::OutOfRangeError("tls: closed by the peer");
  return absl::UnavailableError(fmt::format("tls {} with {} failed (ssl error {}): {}", what,
                                            peer(), error, reason.empty() ? "-" : reason));
}

absl::Status TlsStream::FlushOutput(Instant deadline) {
  // Owned by the stream, not the fiber stack (fiber stacks are small); one writer at a time.
  output_.resize(kRecordBytesMax + 1024);
  while (BIO_ctrl_pending(impl_->network_out) > 0) {
    const int n = BIO_read(impl_->network_out, output_.data(), static_cast<int>(output_.size()));
    if (n <= 0) break;
    if (absl::Status s = stream_->Write({output_.data(), static_cast<size_t>(n)}, deadline);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

// Moves what the wire has (at least one byte) into OpenSSL's input.
absl::Status TlsStream::ReadInput(Instant deadline) {
  input_.resize(kRecordBytesMax);
  absl::StatusOr<size_t> n = stream_->Read(input_, deadline);
  if (!n.ok()) return n.status();
  if (*n == 0) return absl::OutOfRangeError("tls: connection closed by the peer");
  const int written = BIO_write(impl_->network_in, input_.data(), static_cast<int>(*n));
  MERIDIAN_CHECK(written == static_cast<int>(*n), "memory BIO took {} of {}", written, *n);
  return absl::OkStatus();
}

absl::Status TlsStream::Handshake(Instant deadline) {
  if (handshake_done_) return handshake_;
  while (true) {
    ERR_clear_error();
    const int result = SSL_do_handshake(impl_->ssl);
    absl::Status flushed = FlushOutput(deadline);
    if (result == 1 && flushed.ok()) break;
    absl::Status failure = flushed;
    if (failure.ok() && SSL_get_error(impl_->ssl, result) == SSL_ERROR_WANT_READ) {
      failure = ReadInput(deadline);
      if (failure.ok()) continue;
      if (absl::IsOutOfRange(failure)) {
        failure = absl::UnavailableError(fmt::format(
            "tls handshake with {}: closed by the peer ({})", peer(),
            SSL_get_verify_result(impl_->ssl) == X509_V_OK ? "it may have refused our certificate"
                                                           : "certificate refused"));
      }
    } else if (failure.ok()) {
      failure = OpenSslFailure(result, "handshake");
    }
    // A cancelled wait (shutdown) may be retried by nobody; a real failure sticks.
    handshake_done_ = !absl::IsCancelled(failure);
    handshake_ = failure;
    stream_->Close();
    return failure;
  }
  peer_common_name_ = CommonName(SSL_get0_peer_certificate(impl_->ssl));
  handshake_done_ = true;
  handshake_ = absl::OkStatus();
  return handshake_;
}

absl::Status TlsStream::EnsureHandshake(Instant deadline) {
  if (handshake_done_) return handshake_;
  return Handshake(std::min(deadline, runtime_.Now() + TlsContext::kHandshakeTimeout));
}

absl::StatusOr<size_t> TlsStream::Read(std::span<uint8_t> buffer, Instant deadline) {
  MERIDIAN_CHECK(!buffer.empty());
  if (absl::Status s = EnsureHandshake(deadline); !s.ok()) return s;
  const int wanted = static_cast<int>(std::min(buffer.size(), kRecordBytesMax));
  while (true) {
    ERR_clear_error();
    const int n = SSL_read(impl_->ssl, buffer.data(), wanted);
    if (n > 0) return static_cast<size_t>(n);
    const int error = SSL_get_error(impl_->ssl, n);
    if (error == SSL_ERROR_ZERO_RETURN) return 0;  // close_notify: a clean end.
    if (error != SSL_ERROR_WANT_READ) return OpenSslFailure(n, "read");
    // Post-handshake replies (key updates) wait for the next Write, within a bound.
    if (BIO_ctrl_pending(impl_->network_out) > kPendingOutputBytesMax) {
      Close();
      return absl::ResourceExhaustedError("tls: the peer makes us queue too much output");
    }
    absl::Status input = ReadInput(deadline);
    if (absl::IsOutOfRange(input)) return 0;  // TCP end without close_notify: the end too.
    if (!input.ok()) return input;
  }
}

absl::Status TlsStream::Write(std::span<const uint8_t> data, Instant deadline) {
  if (absl::Status s = EnsureHandshake(deadline); !s.ok()) return s;
  size_t done = 0;
  while (done < data.size()) {
    const int chunk = static_cast<int>(std::min(data.size() - done, kRecordBytesMax));
    ERR_clear_error();
    // Memory BIOs take everything: SSL_write either writes the whole chunk or fails.
    const int n = SSL_write(impl_->ssl, data.data() + done, chunk);
    if (n <= 0) return OpenSslFailure(n, "write");
    done += static_cast<size_t>(n);
    if (absl::Status s = FlushOutput(deadline); !s.ok()) return s;
  }
  return FlushOutput(deadline);
}

void TlsStream::Close() { stream_->Close(); }

std::string NodeCertificateName(NodeId id, std::string_view cluster_id) {
  return fmt::format("node-{}.{}.meridian", id.value(), cluster_id);
}

std::optional<NodeCertificateIdentity> ParseNodeCertificateName(std::string_view common_name) {
  constexpr std::string_view kPrefix = "node-";
  constexpr std::string_view kSuffix = ".meridian";
  if (common_name.size() <= kPrefix.size() + kSuffix.size()) return std::nullopt;
  if (common_name.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  if (common_name.substr(common_name.size() - kSuffix.size()) != kSuffix) return std::nullopt;
  std::string_view middle =
      common_name.substr(kPrefix.size(), common_name.size() - kPrefix.size() - kSuffix.size());
  const size_t dot = middle.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  uint32_t id = 0;
  if (!absl::SimpleAtoi(std::string(middle.substr(0, dot)), &id) || id == 0) return std::nullopt;
  std::string cluster(middle.substr(dot + 1));
  if (!CheckClusterId(cluster).ok()) return std::nullopt;
  return NodeCertificateIdentity{NodeId(id), std::move(cluster)};
}

absl::Status CheckClusterId(std::string_view cluster_id) {
  constexpr size_t kClusterIdBytesMax = 64;
  if (cluster_id.empty() || cluster_id.size() > kClusterIdBytesMax) {
    return absl::InvalidArgumentError("a cluster id is 1 to 64 characters");
  }
  for (const char c : cluster_id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return absl::InvalidArgumentError(
          fmt::format("cluster id '{}': only a-z, 0-9 and '-' are allowed", cluster_id));
    }
  }
  return absl::OkStatus();
}

}  // namespace meridian::io::posix
