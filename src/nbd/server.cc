// The NBD server: listening sockets, connection limits, and each
// connection's life (handshake.cc, then the layers and transmission.cc).
#include "nbd/server.h"

#include <arpa/inet.h>
#include <fnmatch.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "nbd/handshake.h"
#include "nbd/layers.h"
#include "nbd/transmission.h"
#include "util/log.h"
#include "util/socket_io.h"
#include "util/tcp_socket.h"
#include "util/unix_socket.h"

namespace vmstore::nbd {

Server::Server(ExportSource* exports, ServerOptions options) : exports_(exports), opts_(std::move(options)) {}

Server::~Server() { Stop(); }

bool Allowed(const std::vector<std::pair<std::string, std::string>>& allow, const std::string& client,
             const std::string& export_name) {
  if (allow.empty() || client == "admin") return true;
  for (const auto& [who, glob] : allow) {
    if ((who == "*" || who == client) && ::fnmatch(glob.c_str(), export_name.c_str(), 0) == 0) return true;
  }
  return false;
}

ServerStats Server::stats() const { return {n_conns_.load(), n_requests_.load(), n_errors_.load(), n_refused_.load()}; }

Status Server::Start() {
  if (!opts_.listen.empty()) {
    ASSIGN_OR_RETURN(int fd, internal::ListenTcp(opts_.listen, "listen address", 64, &tcp_port_));
    listen_fds_.push_back(fd);
  }
  // The admin socket is root's alone (mode 0600 before it listens).
  for (const std::string* path : {&opts_.unix_socket, &opts_.admin_socket}) {
    if (path->empty()) continue;
    const bool admin = path == &opts_.admin_socket;
    ASSIGN_OR_RETURN(int fd, internal::ListenUnix(*path, admin ? 0600 : -1, 64));
    if (admin) admin_fd_ = fd;
    listen_fds_.push_back(fd);
  }
  if (listen_fds_.empty()) return InvalidArgument("nothing to listen on (give --listen or --socket)");
  for (int fd : listen_fds_) acceptors_.emplace_back([this, fd] { AcceptLoop(fd); });
  return Status::OK();
}

void Server::AcceptLoop(int listen_fd) {
  while (!stopping_) {
    pollfd p{listen_fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    sockaddr_storage peer{};
    socklen_t plen = sizeof peer;
    int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &plen, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::string client = listen_fd == admin_fd_ ? "admin" : "unix";
    char ip[INET6_ADDRSTRLEN] = "";
    if (peer.ss_family == AF_INET) {
      ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&peer)->sin_addr, ip, sizeof ip);
      client = ip;
    } else if (peer.ss_family == AF_INET6) {
      ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&peer)->sin6_addr, ip, sizeof ip);
      client = ip;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto c = std::make_shared<Connection>();
    c->fd = fd;
    c->client = client;
    MutexLock l(&mu_);
    if (stopping_) {
      ::close(fd);
      break;
    }
    if (!Admit(c)) continue;
    // Reap threads whose connection has ended.
    for (size_t i = 0; i < conn_threads_.size();) {
      if (conn_threads_[i].done->load()) {
        conn_threads_[i].thread.join();
        conn_threads_[i] = std::move(conn_threads_.back());
        conn_threads_.pop_back();
      } else {
        ++i;
      }
    }
    auto done = std::make_shared<std::atomic<bool>>(false);
    conn_threads_.push_back({std::thread([this, c, done] {
                               Serve(c);
                               {
                                 MutexLock l2(&mu_);
                                 conns_.erase(c);
                               }
                               *done = true;
                             }),
                             done});
  }
}

bool Server::Admit(const std::shared_ptr<Connection>& c) {
  size_t same = 0, remote = 0;
  const auto local = [](const std::string& client) { return client == "unix" || client == "admin"; };
  for (const auto& o : conns_) {
    same += o->client == c->client;
    remote += !local(o->client);
  }
  // TCP clients share what the local sockets' reserve leaves.
  const size_t all = static_cast<size_t>(std::max(1, opts_.max_connections));
  // (at most an eighth of the limit: a small limit keeps its slots for all)
  const size_t reserve = std::min<size_t>(static_cast<size_t>(std::max(0, opts_.reserved_local_connections)), all / 8);
  if (conns_.size() >= all || (!local(c->client) && remote >= all - reserve) ||
      same >= static_cast<size_t>(std::max(1, opts_.max_client_connections))) {
    ::close(c->fd);
    ++n_refused_;
    logging::Warn(
        "nbd",
        "connection from " + c->client + " refused: " + std::to_string(same) + " open from it, " +
            std::to_string(conns_.size()) + " in all",
        {{"client", c->client}, {"limit_client", opts_.max_client_connections}, {"limit", opts_.max_connections}});
    return false;
  }
  conns_.insert(c);
  ++n_conns_;
  return true;
}

std::vector<std::string> Server::OpenExports() const {
  MutexLock l(&mu_);
  std::vector<std::string> out;
  for (const auto& c : conns_) {
    if (!c->export_name.empty()) out.push_back(c->export_name);
  }
  return out;
}

void Server::Disconnect(const std::vector<std::string>& exports) {
  auto matching = [&] {
    mu_.AssertHeld();  // called with mu_ held
    std::vector<int> fds;
    for (const auto& c : conns_) {
      if (std::find(exports.begin(), exports.end(), c->export_name) != exports.end()) fds.push_back(c->fd);
    }
    return fds;
  };
  {
    MutexLock l(&mu_);
    for (int fd : matching()) ::shutdown(fd, SHUT_RDWR);
  }
  for (int i = 0; i < 1000; ++i) {
    {
      MutexLock l(&mu_);
      if (matching().empty()) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void Server::Stop() {
  if (stopping_.exchange(true)) return;
  for (auto& t : acceptors_) t.join();
  acceptors_.clear();
  for (int fd : listen_fds_) ::close(fd);
  listen_fds_.clear();
  for (const std::string* path : {&opts_.unix_socket, &opts_.admin_socket}) {
    if (!path->empty()) ::unlink(path->c_str());
  }
  {
    // Wake every reader; workers finish what was read and the connection flushes.
    MutexLock l(&mu_);
    for (auto& c : conns_) ::shutdown(c->fd, SHUT_RD);
  }
  std::vector<ConnThread> threads;
  {
    MutexLock l(&mu_);
    threads.swap(conn_threads_);
  }
  for (auto& t : threads) t.thread.join();
}

namespace {
// Bounds each blocking read and write on `fd` (0: none).
void SetIoTimeout(int fd, std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}
}  // namespace

void Server::Serve(std::shared_ptr<Connection> c) {
  // The handshake's reads and writes each wait at most the deadline, and the
  // whole handshake is cut at it (a client sending a byte at a time).
  const auto deadline = opts_.handshake_timeout;
  std::atomic<bool> shaking{true};
  std::thread watchdog;
  if (deadline.count() > 0) {
    SetIoTimeout(c->fd, deadline);
    watchdog = std::thread([&, fd = c->fd] {
      MutexLock l(&hs_mu_);
      const auto until = std::chrono::steady_clock::now() + deadline;
      while (shaking.load() && !stopping_.load() && std::chrono::steady_clock::now() < until) {
        hs_cv_.WaitFor(&hs_mu_, std::chrono::milliseconds(100));
      }
      if (shaking.load()) ::shutdown(fd, SHUT_RDWR);  // the handshake's reads end at once
    });
  }
  Handshake hs(c->fd, exports_, opts_, c->client);
  const bool shook = hs.Run();
  if (deadline.count() > 0) {
    {
      MutexLock l(&hs_mu_);
      shaking = false;
      hs_cv_.NotifyAll();
    }
    watchdog.join();
    SetIoTimeout(c->fd, std::chrono::milliseconds(0));  // transmission: idle clients (VMs) stay
  }
  if (!shook) {
    logging::Debug("nbd", "handshake failed or timed out", {{"client", c->client}});
    hs.TakeStream().reset();  // before the descriptor can be reused
    ::close(c->fd);
    return;
  }
  c->stream = hs.TakeStream();
  {
    MutexLock l(&mu_);
    c->export_name = hs.export_name;
  }
  c->structured = hs.structured;
  c->meta_alloc = hs.meta_alloc;
  c->metrics = metrics_.For(hs.export_name);
  // Every export's device passes the same layers, stacked here and only here.
  c->dev = StackLayers(std::move(hs.dev), c->metrics, exports_->WriteGate(hs.export_name));
  c->metrics->Opened();
  logging::Debug("nbd", "connection opened", {{"client", c->client}, {"export", hs.export_name}});
  Transmit(c.get(), opts_.workers_per_connection, {&n_requests_, &n_errors_});
  c->metrics->Closed();
  logging::Debug("nbd", "connection closed", {{"client", c->client}, {"export", c->export_name}});
  c->stream.reset();  // TLS says goodbye before the socket closes
  ::close(c->fd);
}

}  // namespace vmstore::nbd
