#include "io/network.h"

#include <fmt/format.h>

#include <charconv>

namespace meridian::io {

absl::StatusOr<Address> ParseAddress(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(fmt::format("address '{}' is not host:port", text));
  }
  const std::string_view port_text = text.substr(colon + 1);
  uint32_t port = 0;
  const auto [end, error] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (error != std::errc() || end != port_text.data() + port_text.size() || port > 65535 ||
      port_text.empty()) {
    return absl::InvalidArgumentError(fmt::format("address '{}' has a bad port", text));
  }
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);  // "[::1]:80" names the IPv6 host "::1".
  }
  return Address{std::string(host), static_cast<uint16_t>(port)};
}

std::string_view PeerAddress(std::string_view peer) {
  const size_t colon = peer.rfind(':');
  // "[v6]:port" and "v4:port" end in a port; a bare v6 address has colons but no "]:".
  if (colon == std::string_view::npos || (peer[0] != '[' && peer.find(':') != colon)) {
    return peer;
  }
  return peer.substr(0, colon);
}

}  // namespace meridian::io
