#include "backend/volume_name.h"

#include <charconv>

namespace vmstore::backend {

std::string VolumeName::handle() const {
  return std::string(snapshot ? "s" : "d") + std::to_string(number) + "-" + std::to_string(tag);
}

std::optional<VolumeName> ParseVolumeHandle(const std::string& h) {
  if (h.size() < 4 || (h[0] != 'd' && h[0] != 's')) return std::nullopt;
  const size_t dash = h.find('-');
  if (dash == std::string::npos || dash == 1 || dash + 1 == h.size()) return std::nullopt;
  VolumeName n;
  n.snapshot = h[0] == 's';
  const char* end = h.data() + h.size();
  auto a = std::from_chars(h.data() + 1, h.data() + dash, n.number);
  auto b = std::from_chars(h.data() + dash + 1, end, n.tag);
  if (a.ec != std::errc() || a.ptr != h.data() + dash || b.ec != std::errc() || b.ptr != end) return std::nullopt;
  if (n.handle() != h) return std::nullopt;  // one spelling per volume
  return n;
}

StatusOr<VolumeName> ParseVolumeHandleFor(const std::string& type, const std::string& h) {
  auto n = ParseVolumeHandle(h);
  if (!n) return InvalidArgument("'" + h + "' is not a " + type + " volume handle (d<N>-<TAG> or s<N>-<TAG>)");
  return *n;
}

}  // namespace vmstore::backend
