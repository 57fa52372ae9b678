#include "cli/control.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/served_commands.h"
#include "nbd/protocol.h"
#include "util/socket_io.h"

namespace vmstore::cli {

using json = nlohmann::json;

namespace {

bool SendMsg(int fd, const std::string& body) {
  std::string m;
  nbd::PutBe32(&m, static_cast<uint32_t>(body.size()));
  m += body;
  return internal::WriteFull(fd, m.data(), m.size());
}

std::optional<std::string> RecvMsg(int fd, uint32_t limit) {
  char h[4];
  if (!internal::ReadFull(fd, h, 4)) return std::nullopt;
  uint32_t n = nbd::GetBe32(h);
  if (n > limit) return std::nullopt;
  std::string body(n, '\0');
  if (!internal::ReadFull(fd, body.data(), n)) return std::nullopt;
  return body;
}

int ConnectUnix(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) return -1;
  std::strcpy(sa.sun_path, path.c_str());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

Status ControlServer::Start() {
  std::string path = SocketPath(commands_->dir());
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) return InvalidArgument("pool path too long for a control socket: " + path);
  std::strcpy(sa.sun_path, path.c_str());
  ::unlink(path.c_str());
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::chmod(path.c_str(), 0600) != 0 ||
      ::listen(fd_, 16) != 0) {
    return ErrnoStatus(errno, "control socket " + path);
  }
  thread_ = std::thread([this] { Loop(); });
  return Status::OK();
}

void ControlServer::Stop() {
  if (stop_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
  ::unlink(SocketPath(commands_->dir()).c_str());
}

void ControlServer::Loop() {
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    timeval tv{10, 0};
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    Handle(c);
    ::close(c);
  }
}

void ControlServer::Handle(int fd) {
  auto req = RecvMsg(fd, 1 << 20);
  if (!req) return;
  json in = json::parse(*req, nullptr, false);
  std::vector<std::string> args;
  if (!in.is_discarded() && in.contains("args") && in["args"].is_array()) {
    for (auto& a : in["args"]) {
      if (a.is_string()) args.push_back(a.get<std::string>());
    }
  }
  ServedCommands::Result r = commands_->Run(args);
  json reply = {{"rc", r.rc}, {"out", r.out}, {"err", r.err}};
  SendMsg(fd, reply.dump());
}

Status CheckNotOpen(Context* ctx, const std::function<bool(const std::string&)>& affected, bool force,
                    const std::string& what) {
  if (!ctx->hooks) return Status::OK();
  std::vector<std::string> busy;
  for (const std::string& e : ctx->hooks->open_exports()) {
    if (affected(e) && std::find(busy.begin(), busy.end(), e) == busy.end()) busy.push_back(e);
  }
  if (busy.empty()) return Status::OK();
  if (force) {
    ctx->hooks->disconnect(busy);
    return Status::OK();
  }
  std::string list;
  for (const std::string& b : busy) list += (list.empty() ? "" : ", ") + b;
  return FailedPrecondition(what + ": export " + list +
                            " is open by an NBD client (use --force to disconnect it first)");
}

Status Quiesced(Context* ctx, const std::string& vm, const std::function<Status()>& fn) {
  if (!ctx->hooks) return fn();
  return ctx->hooks->quiesce(vm, fn);
}

std::optional<int> ForwardToServer(const std::vector<std::string>& args) {
  std::string pool;
  std::string cmd = CommandOf(args, &pool);
  if (cmd.empty() || cmd == "serve" || cmd == "init") return std::nullopt;
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") return std::nullopt;
  }
  if (pool.empty()) {
    const char* e = std::getenv("VMSTORE_POOL");
    if (!e || !*e) return std::nullopt;
    pool = e;
  }
  int fd = ConnectUnix(ControlServer::SocketPath(pool));
  if (fd < 0) return std::nullopt;  // no server: run here
  json req = {{"args", args}};
  std::optional<std::string> reply;
  if (SendMsg(fd, req.dump())) reply = RecvMsg(fd, 1u << 30);
  ::close(fd);
  if (!reply) {
    std::fprintf(stderr, "vmstore: the server on %s did not answer\n", pool.c_str());
    return 2;
  }
  json r = json::parse(*reply, nullptr, false);
  if (r.is_discarded()) {
    std::fprintf(stderr, "vmstore: the server on %s sent a damaged answer\n", pool.c_str());
    return 2;
  }
  std::fputs(r.value("out", "").c_str(), stdout);
  std::fputs(r.value("err", "").c_str(), stderr);
  return r.value("rc", 2);
}

}  // namespace vmstore::cli
