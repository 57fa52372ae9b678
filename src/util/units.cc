#include "util/units.h"

#include <cstdio>
#include <ctime>
#include <stdexcept>

namespace vmstore {

StatusOr<uint64_t> ParseSize(const std::string& text) {
  if (text.empty()) return InvalidArgument("empty size");
  size_t pos = 0;
  unsigned long long v;
  try {
    if (text[0] == '-') throw std::invalid_argument("negative");
    v = std::stoull(text, &pos);
  } catch (...) {
    return InvalidArgument("size '" + text + "' is not a number (examples: 512, 64K, 10G)");
  }
  std::string suf = text.substr(pos);
  int shift = 0;
  if (suf == "" || suf == "B")
    shift = 0;
  else if (suf == "K" || suf == "k" || suf == "KiB")
    shift = 10;
  else if (suf == "M" || suf == "MiB")
    shift = 20;
  else if (suf == "G" || suf == "GiB")
    shift = 30;
  else if (suf == "T" || suf == "TiB")
    shift = 40;
  else
    return InvalidArgument("size '" + text + "' has an unknown suffix (use K, M, G or T)");
  if (shift && v > (UINT64_MAX >> shift)) return InvalidArgument("size '" + text + "' is too large");
  return uint64_t{v} << shift;
}

std::string Human(uint64_t b) {
  const char* u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double d = static_cast<double>(b);
  int i = 0;
  while (d >= 1024 && i < 4) {
    d /= 1024;
    ++i;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, i ? "%.1f %s" : "%.0f %s", d, u[i]);
  return buf;
}

std::string IsoTime(int64_t unix_ns) {
  time_t secs = static_cast<time_t>(unix_ns / 1000000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace vmstore
