#include "cli/cli_util.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <ctime>

namespace vmstore::cli {

using json = nlohmann::json;

namespace {
thread_local FILE* t_out = nullptr;
thread_local FILE* t_err = nullptr;
thread_local Status t_failure;
}  // namespace

Status TakeLastFailure() {
  Status s = t_failure;
  t_failure = Status::OK();
  return s;
}

FILE* Out() { return t_out ? t_out : stdout; }
FILE* Err() { return t_err ? t_err : stderr; }
void SetOutput(FILE* out, FILE* err) {
  t_out = out;
  t_err = err;
}

void Printf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(Out(), fmt, ap);
  va_end(ap);
}

int ExitCode(const Status& s) {
  switch (s.code()) {
    case Code::kOk:
      return 0;
    case Code::kInvalidArgument:
    case Code::kNotFound:
    case Code::kAlreadyExists:
    case Code::kFailedPrecondition:
    case Code::kOutOfRange:
    case Code::kNotSupported:
      return 1;
    default:
      return 2;
  }
}

int Fail(const Status& s) {
  t_failure = s;
  std::fprintf(Err(), "vmstore: %s\n", s.ToString().c_str());
  return ExitCode(s);
}

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

void Table::Print() const {
  std::vector<size_t> w;
  for (const auto& r : rows_) {
    if (w.size() < r.size()) w.resize(r.size(), 0);
    for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], r[i].size());
  }
  for (size_t k = 0; k < rows_.size(); ++k) {
    std::string line;
    for (size_t i = 0; i < rows_[k].size(); ++i) {
      std::string cell = rows_[k][i];
      if (k == 0) std::transform(cell.begin(), cell.end(), cell.begin(), ::toupper);
      line += cell;
      if (i + 1 < rows_[k].size()) line += std::string(w[i] - cell.size() + 2, ' ');
    }
    std::fprintf(Out(), "%s\n", line.c_str());
  }
}

json ToJson(const SrInfo& s) {
  return {{"uuid", s.uuid},
          {"name", s.name},
          {"type", s.type},
          {"location", s.location},
          {"created", IsoTime(s.created_ns)},
          {"vdis", s.vdis}};
}

json ToJson(const DiskInfo& d) {
  return {{"vm", d.vm},
          {"name", d.name},
          {"vdi_uuid", d.vdi_uuid},
          {"vbd_uuid", d.vbd_uuid},
          {"sr", d.sr},
          {"device", d.device},
          {"size", d.size},
          {"referenced", d.referenced},
          {"exclusive", d.exclusive},
          {"clone_of", d.clone_of.empty() ? json(nullptr) : json(d.clone_of)}};
}

json ToJson(const VmInfo& v) {
  json disks = json::array();
  for (const DiskInfo& d : v.disks) disks.push_back(ToJson(d));
  return {{"uuid", v.uuid},
          {"name", v.name},
          {"created", IsoTime(v.created_ns)},
          {"is_deleted", v.deleted},
          {"parent", v.parent.empty() ? json(nullptr) : json(v.parent)},
          {"snapshots", v.snapshots},
          {"disks", disks}};
}

json ToJson(const SnapshotInfo& s) {
  json disks = json::array();
  for (const auto& d : s.disks) {
    disks.push_back({{"name", d.name},
                     {"vdi_uuid", d.vdi_uuid},
                     {"sr", d.sr},
                     {"size", d.size},
                     {"referenced", d.referenced},
                     {"exclusive", d.exclusive}});
  }
  return {{"uuid", s.uuid},
          {"vm", s.vm},
          {"name", s.name},
          {"full_name", s.full_name},
          {"created", IsoTime(s.created_ns)},
          {"created_ns", s.created_ns},
          {"is_deleted", s.deleted},
          {"referenced", s.referenced},
          {"exclusive", s.exclusive},
          {"children", s.clones},
          {"disks", disks}};
}

json ToJson(const DeleteReport& r) {
  json deferred = json::array();
  for (const auto& d : r.deferred) deferred.push_back({{"object", d.object}, {"kept_by", d.kept_by}});
  return {{"dry_run", r.dry_run}, {"removed", r.removed}, {"deferred", deferred}};
}

json ToJson(const TreeNode& t) {
  json children = json::array();
  for (const TreeNode& c : t.children) children.push_back(ToJson(c));
  return {{"kind", t.is_vm ? "vm" : "snapshot"}, {"name", t.label}, {"is_deleted", t.deleted}, {"children", children}};
}

void PrintJson(const json& j) { std::fprintf(Out(), "%s\n", j.dump(2).c_str()); }

}  // namespace vmstore::cli
