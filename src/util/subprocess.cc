#include "util/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace vmstore {
namespace {

// Both ends close-on-exec; the child's copies are made by dup2.
bool MakePipe(int fds[2]) { return ::pipe2(fds, O_CLOEXEC) == 0; }

}  // namespace

StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv, int stdout_fd) {
  if (argv.empty()) return InvalidArgument("RunCommand: no program given");
  int out[2], err[2];
  if (!MakePipe(out)) return ErrnoStatus(errno, "pipe");
  if (!MakePipe(err)) {
    int e = errno;
    ::close(out[0]);
    ::close(out[1]);
    return ErrnoStatus(e, "pipe");
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, stdout_fd >= 0 ? stdout_fd : out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(out[1]);
  ::close(err[1]);
  if (rc != 0) {
    ::close(out[0]);
    ::close(err[0]);
    if (rc == ENOENT) return NotFound("the command '" + argv[0] + "' is not installed (not in PATH)");
    return ErrnoStatus(rc, "start " + argv[0]);
  }
  CommandResult r;
  pollfd p[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* dst[2] = {&r.out, &r.err};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0) {
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(p[i].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::close(p[i].fd);
        p[i].fd = -1;
        --open_fds;
      } else {
        dst[i]->append(buf, static_cast<size_t>(n));
      }
    }
  }
  for (auto& q : p) {
    if (q.fd >= 0) ::close(q.fd);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return ErrnoStatus(errno, "wait for " + argv[0]);
  }
  while (!r.err.empty() && r.err.back() == '\n') r.err.pop_back();
  if (WIFSIGNALED(status)) {
    return IOError(argv[0] + " was killed by signal " + std::to_string(WTERMSIG(status)) +
                   (r.err.empty() ? "" : ": " + r.err));
  }
  r.exit_code = WEXITSTATUS(status);
  return r;
}

}  // namespace vmstore
