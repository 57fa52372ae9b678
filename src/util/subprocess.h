// Running a command and collecting what it prints (for backends that drive
// a storage system through its own tools, such as zfs).
//
// Example:
//   ASSIGN_OR_RETURN(CommandResult r, RunCommand({"zfs", "list", "-H"}));
//   if (r.exit_code != 0) return IOError(r.err);
//
// Thread-safety: thread-safe (each call its own child and pipes).
// Errors: NotFound when the program is not installed; IOError when it cannot
// be started or is killed by a signal. A non-zero exit is not an error here:
// the caller reads exit_code and err.
#pragma once

#include <string>
#include <vector>

#include "vmstore/status.h"

namespace vmstore {

struct CommandResult {
  int exit_code = 0;
  std::string out;  // standard output
  std::string err;  // standard error, trailing newline removed
};

// Runs argv[0] (looked up in PATH) with stdin from /dev/null. With
// `stdout_fd` >= 0 the child writes its standard output there (not collected).
StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv, int stdout_fd = -1);

}  // namespace vmstore
