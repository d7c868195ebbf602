// posix::TlsContext and posix::TlsStream: TLS (OpenSSL 3, Debian's libssl) over an io::Stream.
//
// The TLS engine runs on memory BIOs: OpenSSL never touches a socket; TlsStream moves the bytes
// between OpenSSL and the wrapped stream (a non-blocking TcpStream on the epoll reactor), so a
// fiber that needs bytes parks in the wrapped stream's Read exactly as a plaintext one does.
//
// Trust: one private CA per cluster (`meridian certs`). Both sides verify the other's chain
// against it. Names: a node's certificate has CN `node-<id>.<cluster-id>.meridian`
// (NodeCertificateName); a client's CN is its principal name, which may not start with "node-".
// What a name is allowed to do is the caller's decision (PosixNetwork checks peer links; the
// broker side reads the principal).
//
// Threading: reactor thread only. One reader fiber and one writer fiber at a time (the callers
// already serialise writes: core/broker's Reply and core/client's Connection do). The handshake
// must finish (Handshake) before reads and writes run concurrently; Read and Write start it
// themselves if nobody did, bounded by kHandshakeTimeout.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "io/network.h"
#include "io/node_id.h"
#include "io/runtime.h"

namespace meridian::io::posix {

struct TlsFiles {
  std::string ca_file;    // PEM: the CA every peer certificate must chain to. Required.
  std::string cert_file;  // PEM: our certificate (chain). Optional for a client without mTLS.
  std::string key_file;   // PEM: its private key. Given exactly when cert_file is.
};

enum class TlsRole { kClient, kServer };
// Server side: whether the connecting side must present a certificate (mutual TLS).
enum class ClientCertificate { kRequired, kNotRequested };

class TlsStream;

// An SSL_CTX: our certificate, key and the CA. Shared by every stream made from it.
class TlsContext {
 public:
  static constexpr Duration kHandshakeTimeout = std::chrono::seconds(10);

  // InvalidArgument naming the file and OpenSSL's reason when a file is missing or bad, or the
  // key does not match the certificate.
  static absl::StatusOr<std::shared_ptr<TlsContext>> Create(const TlsFiles& files);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // CN of our own certificate ("" without one).
  const std::string& common_name() const { return common_name_; }
  bool has_certificate() const { return !common_name_.empty(); }

  std::unique_ptr<TlsStream> Wrap(Runtime& runtime, std::unique_ptr<Stream> stream, TlsRole role,
                                  ClientCertificate client_certificate);

 private:
  struct Impl;
  explicit TlsContext(std::unique_ptr<Impl> impl, std::string common_name);
  std::unique_ptr<Impl> impl_;
  const std::string common_name_;
};

class TlsStream final : public Stream {
 public:
  // Bounds on what a peer can make us hold: plaintext read per record, and TLS output produced
  // by reads (post-handshake messages) that waits for the next Write.
  static constexpr size_t kRecordBytesMax = 16 * 1024;
  static constexpr size_t kPendingOutputBytesMax = 64 * 1024;

  struct Impl;
  TlsStream(Runtime& runtime, std::unique_ptr<Stream> stream, std::unique_ptr<Impl> impl);
  ~TlsStream() override;

  // Runs the handshake to completion (idempotent; a failure sticks). PermissionDenied when the
  // other side's certificate does not verify (with OpenSSL's reason), Unavailable when the
  // connection fails, DeadlineExceeded at the deadline.
  absl::Status Handshake(Instant deadline);
  // CN of the other side's verified certificate, "" when it presented none. After Handshake.
  const std::string& peer_common_name() const { return peer_common_name_; }

  absl::StatusOr<size_t> Read(std::span<uint8_t> buffer, Instant deadline) override;
  absl::Status Write(std::span<const uint8_t> data, Instant deadline) override;
  void Close() override;
  std::string peer() const override { return stream_->peer(); }

 private:
  absl::Status EnsureHandshake(Instant deadline);
  absl::Status FlushOutput(Instant deadline);
  absl::Status ReadInput(Instant deadline);
  absl::Status OpenSslFailure(int result, std::string_view what);

  Runtime& runtime_;
  std::unique_ptr<Stream> stream_;
  std::unique_ptr<Impl> impl_;
  absl::Status handshake_ = absl::UnknownError("no handshake yet");
  bool handshake_done_ = false;
  std::string peer_common_name_;
  std::vector<uint8_t> input_;   // Wire bytes on their way into OpenSSL (the reader's).
  std::vector<uint8_t> output_;  // Wire bytes on their way out of OpenSSL (the writer's).
};

// "node-<id>.<cluster-id>.meridian": the CN of node `id`'s certificate in cluster `cluster_id`.
std::string NodeCertificateName(NodeId id, std::string_view cluster_id);
struct NodeCertificateIdentity {
  NodeId node;
  std::string cluster_id;
};
// The node and cluster a CN names; nullopt when it is not a node name (a client's, say).
std::optional<NodeCertificateIdentity> ParseNodeCertificateName(std::string_view common_name);

// A cluster id: 1..64 of [a-z0-9-] (it is a DNS-style label inside certificate names).
absl::Status CheckClusterId(std::string_view cluster_id);

}  // namespace meridian::io::posix
