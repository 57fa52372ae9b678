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

void PrintJson(const json& j) { std::fprintf(Out(), "%s\n", j.dump(2).c_str()); }

}  // namespace vmstore::cli
