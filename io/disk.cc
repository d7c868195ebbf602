#include "io/disk.h"

#include <fmt/format.h>

namespace meridian::io {

std::string ParentDir(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

absl::Status ValidatePath(const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("empty path");
  if (path.front() == '/') return absl::InvalidArgumentError(fmt::format("absolute path {}", path));
  size_t begin = 0;
  while (begin <= path.size()) {
    size_t end = path.find('/', begin);
    if (end == std::string::npos) end = path.size();
    const std::string_view part(path.data() + begin, end - begin);
    if (part.empty() || part == "." || part == "..") {
      return absl::InvalidArgumentError(fmt::format("bad path component in '{}'", path));
    }
    begin = end + 1;
  }
  return absl::OkStatus();
}

}  // namespace meridian::io
