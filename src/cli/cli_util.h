// Helpers shared by the vmstore commands: exit codes, sizes, times, tables and
// JSON output.
#pragma once

#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server/views.h"
#include "util/units.h"
#include "vmstore/manager.h"
#include "vmstore/status.h"

namespace vmstore::cli {

// Where a command's output goes: stdout / stderr, or the buffers of a command
// that the server runs for a client (cli/served_commands.h). Per thread.
FILE* Out();
FILE* Err();
void SetOutput(FILE* out, FILE* err);  // nullptr: back to stdout / stderr
// printf to Out().
void Printf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// 0 ok, 1 user error, 2 internal or I/O error.
int ExitCode(const Status& s);
// Prints "vmstore: <error>" to stderr and returns the exit code.
int Fail(const Status& s);
// The last Status given to Fail on this thread (OK if none), and forgets it.
Status TakeLastFailure();

using vmstore::Human;
using vmstore::IsoTime;
using vmstore::ParseSize;

// Aligned text columns; the header is printed in capitals.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void Print() const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

using server::ToJson;
void PrintJson(const nlohmann::json& j);

}  // namespace vmstore::cli
