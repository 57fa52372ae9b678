#include "server/control.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "util/coding.h"
#include "util/socket_io.h"
#include "util/unix_socket.h"

namespace vmstore::server {

using json = nlohmann::json;

namespace {

constexpr size_t kMaxFds = 3;

// Sends a message; `fds` (at most kMaxFds) ride with its length prefix.
bool SendMsg(int fd, const std::string& body, const std::vector<int>& fds = {}) {
  std::string m;
  internal::PutBe32(&m, static_cast<uint32_t>(body.size()));
  if (!fds.empty()) {
    char ctl[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
    iovec iov{m.data(), m.size()};
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    if (::sendmsg(fd, &mh, MSG_NOSIGNAL) != static_cast<ssize_t>(m.size())) return false;
    m.clear();
  }
  m += body;
  return internal::WriteFull(fd, m.data(), m.size());
}

// Receives a message; descriptors passed with it go to *fds (close-on-exec).
std::optional<std::string> RecvMsg(int fd, uint32_t limit, std::vector<int>* fds = nullptr) {
  char h[4];
  char ctl[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  iovec iov{h, sizeof h};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = ctl;
  mh.msg_controllen = sizeof ctl;
  ssize_t got = ::recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
  if (got <= 0) return std::nullopt;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    std::vector<int> got_fds(n);
    std::memcpy(got_fds.data(), CMSG_DATA(c), n * sizeof(int));
    for (int f : got_fds) {
      if (fds) {
        fds->push_back(f);
      } else {
        ::close(f);
      }
    }
  }
  if (got < 4 && !internal::ReadFull(fd, h + got, 4 - got)) return std::nullopt;
  uint32_t n = internal::GetBe32(h);
  if (n > limit) return std::nullopt;
  std::string body(n, '\0');
  if (!internal::ReadFull(fd, body.data(), n)) return std::nullopt;
  return body;
}

}  // namespace

Status ControlServer::Start() {
  auto fd = internal::ListenUnix(SocketPath(dir_), 0600, 16);
  if (!fd.ok()) return fd.status().WithContext("control socket");
  fd_ = *fd;
  thread_ = std::thread([this] { Loop(); });
  return Status::OK();
}

void ControlServer::Stop() {
  if (stop_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
  ::unlink(SocketPath(dir_).c_str());
}

void ControlServer::Loop() {
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    timeval tv{10, 0};
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ReapClients(false);
    std::lock_guard<std::mutex> l(clients_mu_);
    if (clients_.size() >= kMaxClients) {
      SendMsg(c, json{{"rc", 2},
                      {"out", ""},
                      {"err", "vmstore: the server is busy (" + std::to_string(kMaxClients) +
                                  " commands running); try again\n"}}
                     .dump());
      ::close(c);
      continue;
    }
    // Each client on its own thread: a long transfer does not hold up the others.
    auto done = std::make_shared<std::atomic<bool>>(false);
    clients_.push_back({std::thread([this, c, done] {
                          Handle(c);
                          ::close(c);
                          *done = true;
                        }),
                        done});
  }
  ReapClients(true);
}

void ControlServer::ReapClients(bool all) {
  std::lock_guard<std::mutex> l(clients_mu_);
  for (size_t i = 0; i < clients_.size();) {
    if (all || clients_[i].done->load()) {
      clients_[i].thread.join();
      clients_[i] = std::move(clients_.back());
      clients_.pop_back();
    } else {
      ++i;
    }
  }
}

void ControlServer::Handle(int fd) {
  std::vector<int> fds;
  auto req = RecvMsg(fd, 1 << 20, &fds);
  ClientStreams streams;
  if (fds.size() == 3) {
    streams.in_fd = fds[0];
    streams.out_fd = fds[1];
    streams.err_fd = fds[2];
  } else {
    for (int f : fds) ::close(f);
    fds.clear();
  }
  auto close_fds = [&] {
    for (int f : fds) ::close(f);
  };
  if (!req) return close_fds();
  json in = json::parse(*req, nullptr, false);
  std::vector<std::string> args;
  if (!in.is_discarded() && in.contains("args") && in["args"].is_array()) {
    for (auto& a : in["args"]) {
      if (a.is_string()) args.push_back(a.get<std::string>());
    }
  }
  if (!in.is_discarded() && in.contains("cwd") && in["cwd"].is_string()) streams.cwd = in["cwd"].get<std::string>();
  CommandResult r = commands_->Run(args, fds.empty() ? nullptr : &streams);
  close_fds();
  json reply = {{"rc", r.rc}, {"out", r.out}, {"err", r.err}};
  SendMsg(fd, reply.dump());
}

std::optional<RemoteResult> RunOnServer(const std::string& dir, const std::vector<std::string>& args,
                                        bool pass_streams) {
  int fd = internal::ConnectUnix(ControlServer::SocketPath(dir));
  if (fd < 0) return std::nullopt;
  json req = {{"args", args}};
  if (char* cwd = ::getcwd(nullptr, 0)) {
    req["cwd"] = cwd;
    std::free(cwd);
  }
  std::optional<std::string> reply;
  std::vector<int> fds;
  if (pass_streams) fds = {0, 1, 2};
  if (SendMsg(fd, req.dump(), fds)) {
    // A transfer takes as long as it takes; other commands answer in time.
    if (pass_streams) {
      timeval none{0, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
    }
    reply = RecvMsg(fd, 1u << 30);
  }
  ::close(fd);
  RemoteResult out;
  if (!reply) {
    out.err = "vmstore: the server on " + dir + " did not answer\n";
    return out;
  }
  json r = json::parse(*reply, nullptr, false);
  if (r.is_discarded()) {
    out.err = "vmstore: the server on " + dir + " sent a damaged answer\n";
    return out;
  }
  out.rc = r.value("rc", 2);
  out.out = r.value("out", "");
  out.err = r.value("err", "");
  return out;
}

}  // namespace vmstore::server
