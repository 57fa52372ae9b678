#include "catalog/naming.h"

#include <cstdio>
#include <ctime>

namespace vmstore::catalog {

namespace {
constexpr size_t kMaxName = 64;
constexpr size_t kTagLen = 17;  // YYYYMMDDTHH:MM:SS

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}
}  // namespace

namespace {

bool IsWordChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// The name as it can be shown in a message: at most 80 bytes, no control characters.
std::string Printable(std::string_view name) {
  std::string shown(name.substr(0, 80));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return shown;
}

}  // namespace

Status ValidateSnapshotName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= kMaxName;
  for (char c : name) ok = ok && IsWordChar(c);
  if (ok) return Status::OK();
  return InvalidArgument("invalid snapshot name '" + Printable(name) +
                         "': use 1-64 letters, digits or underscores (e.g. snapshot_1); the time tag is added "
                         "automatically");
}

Status ValidateObjectName(std::string_view kind, std::string_view name) {
  bool ok = !name.empty() && name.size() <= kMaxName && IsWordChar(name[0]);
  for (char c : name) ok = ok && (IsWordChar(c) || c == '-' || c == '.');
  if (ok) return Status::OK();
  return InvalidArgument("invalid " + std::string(kind) + " name '" + Printable(name) +
                         "': use 1-64 letters, digits, '_', '-' or '.', starting with a letter, digit or '_'");
}

std::string TimeTag(int64_t unix_ns) {
  time_t secs = static_cast<time_t>(unix_ns >= 0 ? unix_ns / 1000000000 : (unix_ns - 999999999) / 1000000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[80];  // room for any int fields, so the compiler can prove no truncation
  std::snprintf(buf, sizeof buf, "%04d%02d%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string FullSnapshotName(std::string_view name, int64_t unix_ns) {
  return std::string(name) + "_" + TimeTag(unix_ns);
}

StatusOr<int64_t> ParseTimeTag(std::string_view tag) {
  std::string t(tag);
  if (!t.empty() && t.back() == 'Z') t.pop_back();
  if (t.size() == 19 && t[4] == '-' && t[7] == '-') t = t.substr(0, 4) + t.substr(5, 2) + t.substr(8);
  int Y, M, D, h, m, s;
  if (t.size() != kTagLen || t[8] != 'T' || t[11] != ':' || t[14] != ':' || !Digits(t, 0, 4, &Y) ||
      !Digits(t, 4, 2, &M) || !Digits(t, 6, 2, &D) || !Digits(t, 9, 2, &h) || !Digits(t, 12, 2, &m) ||
      !Digits(t, 15, 2, &s)) {
    return InvalidArgument("time '" + std::string(tag) + "' is not of the form YYYYMMDDTHH:MM:SS (UTC)");
  }
  static const int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
  if (M < 1 || M > 12 || D < 1 || D > kDays[M - 1] || (M == 2 && D == 29 && !leap) || h > 23 || m > 59 || s > 59) {
    return InvalidArgument("time '" + std::string(tag) + "' is not a valid date and time");
  }
  return DaysFromCivil(Y, M, D) * 86400 + h * 3600 + m * 60 + s;
}

StatusOr<std::pair<std::string, int64_t>> SplitFullName(std::string_view full) {
  if (full.size() < kTagLen + 2 || full[full.size() - kTagLen - 1] != '_') {
    return InvalidArgument("'" + std::string(full) + "' is not a full snapshot name (NAME_YYYYMMDDTHH:MM:SS)");
  }
  ASSIGN_OR_RETURN(int64_t secs, ParseTimeTag(full.substr(full.size() - kTagLen)));
  std::string name(full.substr(0, full.size() - kTagLen - 1));
  RETURN_IF_ERROR(ValidateSnapshotName(name));
  return std::make_pair(name, secs);
}

}  // namespace vmstore::catalog
