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
#include <map>

#include "nbd/handshake.h"
#include "nbd/layers.h"
#include "nbd/transmission.h"
#include "util/log.h"
#include "util/socket_io.h"
#include "util/steady_clock.h"
#include "util/tcp_socket.h"
#include "util/unix_socket.h"

namespace vmstore::nbd {

Server::Server(ExportSource* exports, ServerOptions options)
    : exports_(exports),
      opts_(std::move(options)),
      budget_(opts_.request_memory, opts_.request_memory / 2),
      buffers_(opts_.request_memory / 8) {}

Server::~Server() { Stop(); }

bool Allowed(const std::vector<std::pair<std::string, std::string>>& allow, const std::string& client,
             const std::string& export_name) {
  if (allow.empty() || client == "admin") return true;
  for (const auto& [who, glob] : allow) {
    if ((who == "*" || who == client) && ::fnmatch(glob.c_str(), export_name.c_str(), 0) == 0) return true;
  }
  return false;
}

ServerStats Server::stats() const {
  return {n_conns_.load(),   n_requests_.load(),    n_errors_.load(), n_refused_.load(),
          n_evicted_.load(), n_idle_closed_.load(), budget_.stats()};
}

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
  if (opts_.idle_timeout.count() > 0) reaper_ = std::thread([this] { ReapIdle(); });
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
    c->Touch();
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
                                 // Closed under mu_: no shutdown of a reused descriptor.
                                 MutexLock l2(&mu_);
                                 conns_.erase(c);
                                 ::close(c->fd);
                               }
                               *done = true;
                             }),
                             done});
  }
}

namespace {
bool Local(const std::string& client) { return client == "unix" || client == "admin"; }
}  // namespace

bool Server::Admit(const std::shared_ptr<Connection>& c) {
  // TCP clients share what the local sockets' reserve leaves.
  const size_t all = static_cast<size_t>(std::max(1, opts_.max_connections));
  // (at most an eighth of the limit: a small limit keeps its slots for all)
  const size_t reserve = std::min<size_t>(static_cast<size_t>(std::max(0, opts_.reserved_local_connections)), all / 8);
  size_t same = 0, remote = 0, open = 0;
  auto count = [&] {
    mu_.AssertHeld();
    same = remote = open = 0;
    for (const auto& o : conns_) {
      if (o->evicted) continue;  // on its way out
      ++open;
      same += o->client == c->client;
      remote += !Local(o->client);
    }
  };
  auto full = [&] { return open >= all || (!Local(c->client) && remote >= all - reserve); };
  count();
  // A full server makes room by closing an idle connection of its heaviest client.
  if (full() && same < static_cast<size_t>(std::max(1, opts_.max_client_connections)) &&
      EvictFor(c->client, open < all)) {
    count();
  }
  if (full() || same >= static_cast<size_t>(std::max(1, opts_.max_client_connections))) {
    ++n_refused_;  // counted before the client can see the close
    ::close(c->fd);
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

bool Server::EvictFor(const std::string& newcomer, bool remote_only) {
  std::map<std::string, size_t> held;
  for (const auto& o : conns_) {
    if (!o->evicted && !(remote_only && Local(o->client))) ++held[o->client];
  }
  std::string heaviest;
  size_t most = 0;
  for (const auto& [client, n] : held) {
    if (n > most) most = n, heaviest = client;
  }
  if (most <= held[newcomer] + 1) return false;  // no client holds more than its fair part
  std::shared_ptr<Connection> victim;
  for (const auto& o : conns_) {
    if (o->evicted || o->client != heaviest || o->in_flight.load() > 0) continue;
    if (!victim || o->last_active_ns.load() < victim->last_active_ns.load()) victim = o;
  }
  if (!victim) return false;
  victim->evicted = true;
  ::shutdown(victim->fd, SHUT_RDWR);
  ++n_evicted_;
  logging::Warn("nbd", "idle connection of " + heaviest + " closed to make room for " + newcomer,
                {{"client", heaviest},
                 {"export", victim->export_name},
                 {"idle_ms", (internal::SteadyNowNs() - victim->last_active_ns.load()) / 1000000},
                 {"held", most}});
  return true;
}

void Server::ReapIdle() {
  const int64_t limit_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(opts_.idle_timeout).count();
  const auto tick = std::clamp<std::chrono::milliseconds>(opts_.idle_timeout / 4, std::chrono::milliseconds(50),
                                                          std::chrono::milliseconds(1000));
  while (!stopping_) {
    {
      MutexLock l(&reaper_mu_);
      if (!stopping_) reaper_cv_.WaitFor(&reaper_mu_, tick);
    }
    MutexLock l(&mu_);
    const int64_t now = internal::SteadyNowNs();
    for (const auto& c : conns_) {
      // Only connections in transmission (the handshake has its own deadline).
      if (c->export_name.empty() || c->evicted || c->in_flight.load() > 0) continue;
      if (now - c->last_active_ns.load() < limit_ns) continue;
      c->evicted = true;
      ::shutdown(c->fd, SHUT_RDWR);
      ++n_idle_closed_;
      logging::Info(
          "nbd", "idle connection closed",
          {{"client", c->client}, {"export", c->export_name}, {"idle_timeout_ms", opts_.idle_timeout.count()}});
    }
  }
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
  {
    MutexLock l(&reaper_mu_);
    reaper_cv_.NotifyAll();
  }
  if (reaper_.joinable()) reaper_.join();
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

void Server::Serve(std::shared_ptr<Connection> c) {
  // The handshake's reads and writes each wait at most the deadline, and the
  // whole handshake is cut at it (a client sending a byte at a time).
  const auto deadline = opts_.handshake_timeout;
  std::atomic<bool> shaking{true};
  std::thread watchdog;
  if (deadline.count() > 0) {
    internal::SetSocketTimeouts(c->fd, deadline, deadline);
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
  }
  if (!shook) {
    logging::Debug("nbd", "handshake failed or timed out", {{"client", c->client}});
    hs.TakeStream().reset();  // before the descriptor is closed (by the caller)
    return;
  }
  // Transmission: idle clients (VMs) may wait for as long as they like (the
  // idle timeout aside), but a reply must be taken within send_timeout.
  internal::SetSocketTimeouts(c->fd, std::chrono::milliseconds(0), opts_.send_timeout);
  c->stream = hs.TakeStream();
  {
    MutexLock l(&mu_);
    c->export_name = hs.export_name;
  }
  c->structured = hs.structured;
  c->meta_alloc = hs.meta_alloc;
  c->metrics = metrics_.For(hs.export_name);
  c->budget = &budget_;
  c->buffers = &buffers_;
  c->Touch();
  // Every export's device passes the same layers, stacked here and only here.
  c->dev = StackLayers(std::move(hs.dev), c->metrics, exports_->WriteGate(hs.export_name));
  c->metrics->Opened();
  logging::Debug("nbd", "connection opened", {{"client", c->client}, {"export", hs.export_name}});
  Transmit(c.get(), opts_.workers_per_connection, {&n_requests_, &n_errors_});
  c->metrics->Closed();
  logging::Debug("nbd", "connection closed", {{"client", c->client}, {"export", c->export_name}});
  c->stream.reset();  // TLS says goodbye before the socket closes (in the caller)
}

}  // namespace vmstore::nbd
