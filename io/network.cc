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
  return Address{std::string(text.substr(0, colon)), static_cast<uint16_t>(port)};
}

}  // namespace meridian::io
