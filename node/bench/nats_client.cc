// bench::NatsConnection (nats_client.h): the NATS text protocol over a blocking TCP socket.
#include "node/bench/nats_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace meridian::node::bench {
namespace {

constexpr uint64_t kRequestSid = 1'000'000'000;

absl::Status Errno(std::string_view what) {
  return absl::UnavailableError(fmt::format("{}: {}", what, strerror(errno)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<NatsConnection>> NatsConnection::Connect(
    const std::string& host, uint16_t port, std::chrono::milliseconds timeout) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  std::unique_ptr<NatsConnection> connection(new NatsConnection(fd));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  if (inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
    return absl::InvalidArgumentError("not an IPv4 address: " + host);
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    return Errno(fmt::format("connect {}:{}", host, port));
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  // The server speaks first (INFO); the client then says CONNECT and checks with PING/PONG.
  connection->out_ =
      "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":false,\"no_responders\":false,"
      "\"name\":\"meridian-bench\",\"lang\":\"c++\",\"version\":\"0.1\",\"protocol\":1}\r\n"
      "PING\r\n";
  if (absl::Status flushed = connection->Flush(); !flushed.ok()) return flushed;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string_view buffered = std::string_view(connection->in_);
    if (buffered.find("PONG\r\n") != std::string_view::npos) {
      connection->in_.erase(0, buffered.find("PONG\r\n") + 6);
      return connection;
    }
    if (buffered.find("-ERR") != std::string_view::npos) {
      return absl::UnavailableError("server refused CONNECT: " + connection->in_);
    }
    if (absl::Status filled = connection->Fill(std::chrono::milliseconds(50)); !filled.ok()) {
      return filled;
    }
  }
  return absl::DeadlineExceededError(fmt::format("no PONG from {}:{}", host, port));
}

NatsConnection::~NatsConnection() {
  if (fd_ >= 0) close(fd_);
}

void NatsConnection::Publish(std::string_view subject, std::string_view reply,
                             std::string_view payload) {
  out_ += "PUB ";
  out_ += subject;
  if (!reply.empty()) {
    out_ += ' ';
    out_ += reply;
  }
  out_ += fmt::format(" {}\r\n", payload.size());
  out_ += payload;
  out_ += "\r\n";
}

void NatsConnection::Subscribe(std::string_view subject, uint64_t sid) {
  out_ += fmt::format("SUB {} {}\r\n", subject, sid);
}

absl::Status NatsConnection::Flush() {
  size_t written = 0;
  while (written < out_.size()) {
    const ssize_t n = send(fd_, out_.data() + written, out_.size() - written, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Errno("send");
    written += static_cast<size_t>(n);
  }
  out_.clear();
  return absl::OkStatus();
}

absl::Status NatsConnection::Fill(std::chrono::milliseconds timeout) {
  if (in_start_ > 0) {
    in_.erase(0, in_start_);
    in_start_ = 0;
  }
  if (in_.size() > kPayloadBytesMax + 2 * kLineBytesMax) {
    return absl::DataLossError("NATS read buffer over its bound");
  }
  pollfd ready{.fd = fd_, .events = POLLIN};
  const int polled = poll(&ready, 1, static_cast<int>(timeout.count()));
  if (polled < 0 && errno != EINTR) return Errno("poll");
  if (polled <= 0) return absl::OkStatus();
  const size_t old_size = in_.size();
  in_.resize(old_size + kReadChunkBytes);
  const ssize_t n = recv(fd_, in_.data() + old_size, kReadChunkBytes, 0);
  in_.resize(old_size + static_cast<size_t>(std::max<ssize_t>(n, 0)));
  if (n < 0 && errno == EINTR) return absl::OkStatus();
  if (n < 0) return Errno("recv");
  if (n == 0) return absl::UnavailableError("NATS server closed the connection");
  return absl::OkStatus();
}

absl::StatusOr<std::optional<NatsMessage>> NatsConnection::Parse() {
  while (true) {
    const std::string_view rest = std::string_view(in_).substr(in_start_);
    const size_t eol = rest.find("\r\n");
    if (eol == std::string_view::npos) {
      if (rest.size() > kLineBytesMax) return absl::DataLossError("NATS line too long");
      return std::nullopt;
    }
    const std::string_view line = rest.substr(0, eol);
    if (line.starts_with("MSG ")) {
      std::vector<absl::string_view> words = absl::StrSplit(
          absl::string_view(line.data() + 4, line.size() - 4), ' ', absl::SkipEmpty());
      NatsMessage message;
      size_t bytes = 0;
      if ((words.size() != 3 && words.size() != 4) || !absl::SimpleAtoi(words[1], &message.sid) ||
          !absl::SimpleAtoi(words.back(), &bytes) || bytes > kPayloadBytesMax) {
        return absl::DataLossError(fmt::format("malformed NATS MSG line: {}", line.substr(0, 200)));
      }
      if (rest.size() < eol + 2 + bytes + 2) return std::nullopt;  // Payload not all here.
      if (rest.substr(eol + 2 + bytes, 2) != "\r\n") {
        return absl::DataLossError("NATS payload not followed by CRLF");
      }
      message.subject = std::string(words[0]);
      if (words.size() == 4) message.reply = std::string(words[2]);
      message.payload = std::string(rest.substr(eol + 2, bytes));
      in_start_ += eol + 2 + bytes + 2;
      return message;
    }
    in_start_ += eol + 2;
    if (line == "PING") {
      out_ += "PONG\r\n";
      if (absl::Status flushed = Flush(); !flushed.ok()) return flushed;
    } else if (line.starts_with("-ERR")) {
      return absl::UnavailableError(fmt::format("NATS server: {}", line));
    }
    // PONG, +OK, INFO (cluster topology updates): nothing to do.
  }
}

absl::StatusOr<std::string> NatsConnection::Request(std::string_view subject,
                                                    std::string_view payload,
                                                    std::chrono::milliseconds timeout) {
  if (!request_subscribed_) {
    Subscribe(fmt::format("_INBOX.bench.{}.*", fd_), kRequestSid);
    request_subscribed_ = true;
  }
  const std::string inbox = fmt::format("_INBOX.bench.{}.{}", fd_, ++requests_);
  Publish(subject, inbox, payload);
  if (absl::Status flushed = Flush(); !flushed.ok()) return flushed;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    absl::StatusOr<std::optional<NatsMessage>> message = Parse();
    if (!message.ok()) return message.status();
    if (message->has_value()) {
      if ((*message)->subject == inbox) return std::move((*message)->payload);
      continue;
    }
    if (absl::Status filled = Fill(std::chrono::milliseconds(20)); !filled.ok()) return filled;
  }
  return absl::DeadlineExceededError(fmt::format("no answer to {}", subject));
}

}  // namespace meridian::node::bench
