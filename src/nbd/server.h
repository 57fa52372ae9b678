// An NBD server (fixed newstyle handshake, structured replies, base:allocation)
// over Devices found by export name.
//
// Example:
//   ManagerExports exports(manager.get());
//   nbd::Server server(&exports, {.listen = "127.0.0.1:10809"});
//   RETURN_IF_ERROR(server.Start());
//   ...                       // serve until told to stop
//   server.Stop();            // no new connections; in-flight requests finish; flushes
//
// Each connection has a few threads (workers_per_connection) that take turns
// reading the next request (and its write payload) under the connection's read
// lock, then each runs its own and sends the reply under the write lock: a
// client's queue of requests is served in parallel without a hand-off between
// threads. A malformed request gets the protocol's
// error reply or, when the stream cannot be trusted any more (bad magic, a
// length over the limit), a disconnect; other connections are not affected.
// Thread-safety: Start/Stop from one thread. Ownership: the Server does not
// own the ExportSource, which must outlive it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "nbd/metrics.h"
#include "nbd/payload_buffer.h"
#include "nbd/request_budget.h"
#include "util/mutex.h"
#include "util/shared_mutex.h"
#include "vmstore/backend.h"
#include "vmstore/status.h"

namespace vmstore::nbd {

class TlsServer;
struct Connection;

// Where exports come from.
class ExportSource {
 public:
  virtual ~ExportSource() = default;
  struct Entry {
    std::string name, description;
  };
  virtual StatusOr<std::vector<Entry>> List() = 0;
  // NotFound for an unknown name.
  virtual StatusOr<std::unique_ptr<backend::Device>> Open(const std::string& name) = 0;
  // The gate that writes to the export pass (held shared per write; see
  // nbd/layers.h), or nullptr for none.
  virtual std::shared_ptr<SharedMutex> WriteGate(const std::string& name) { return nullptr; }
};

struct ServerOptions {
  std::string listen = "127.0.0.1:10809";  // HOST:PORT for TCP ("" = none; port 0 = any free one)
  std::string unix_socket;                 // path of a Unix socket ("" = none)
  // A second Unix socket for vmstore's own tools on this host (import, export,
  // send, receive): its clients ("admin") see every export whatever `allow`
  // says and need no TLS. The caller makes it reachable by root only (the
  // pool directory's mode). "" = none.
  std::string admin_socket;
  // Limits, so one client cannot take the server from the others: each
  // connection has at most `workers_per_connection` requests in flight (so at
  // most that many payload buffers of up to 32 MiB), and a client (an IP,
  // or "unix") at most `max_client_connections` connections at once; past
  // either connection limit a new connection is closed at once, logged
  // (unless an idle connection is closed for it: see idle_timeout).
  int workers_per_connection = 4;  // threads serving one connection
  int max_connections = 256;
  int max_client_connections = 32;
  // Of max_connections, kept for the Unix and admin sockets (at most an
  // eighth of it): TCP clients filling the rest cannot lock the host's own
  // tools out.
  int reserved_local_connections = 16;
  // A connection that has not finished its handshake (export chosen) in
  // this long is closed: connections that send nothing hold no slot.
  std::chrono::milliseconds handshake_timeout = std::chrono::seconds(10);
  // A connection in transmission with nothing in flight for this long is
  // closed (0: never; a VM's disk may rest for hours, hence off by default).
  // Whatever this says, when the connection limit is reached a new
  // connection is made room for by closing the longest-idle connection of the
  // client holding the most (if it holds more than the newcomer's client
  // would): idle connections cannot lock others out.
  std::chrono::milliseconds idle_timeout{0};
  // A reply the client does not take in this long ends the connection (and
  // frees what it held): a client that asks and never reads cannot pin memory.
  std::chrono::milliseconds send_timeout = std::chrono::seconds(60);
  // Payload bytes (write data, read data) held at once in all, whatever the
  // clients do; one client holds at most half of it. Requests past it wait
  // (nbd/request_budget.h). The server's request memory is at most this,
  // plus an eighth of it in free large buffers kept for reuse, plus 64 KiB
  // per worker (nbd/payload_buffer.h).
  uint64_t request_memory = uint64_t{256} << 20;
  // Which exports each client may see and open: (client, glob) pairs, the
  // client being an IP address as the server sees it, "unix" for the Unix
  // socket, or "*". Empty: every client may use every export.
  std::vector<std::pair<std::string, std::string>> allow;
  // TLS (NBD_OPT_STARTTLS) when set; not owned, must outlive the Server.
  const TlsServer* tls = nullptr;
  // Refuse every option but STARTTLS and ABORT before TLS (needs `tls`).
  bool tls_required = false;
};

// True if `client` may use `export_name` under `allow` (see ServerOptions);
// always for "admin" (ServerOptions::admin_socket).
bool Allowed(const std::vector<std::pair<std::string, std::string>>& allow, const std::string& client,
             const std::string& export_name);

struct ServerStats {
  uint64_t connections = 0, requests = 0, errors = 0;
  uint64_t refused = 0;                 // connections closed at once by the limits
  uint64_t evicted = 0;                 // idle connections closed to make room for a new one
  uint64_t idle_closed = 0;             // closed by the idle timeout
  RequestBudget::Stats request_memory;  // payload bytes held (now, peak) and requests that waited
};

class Server {
 public:
  Server(ExportSource* exports, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts accepting. Errors: InvalidArgument (bad address),
  // IOError (bind/listen failed, e.g. the port is taken).
  Status Start();
  // Stops accepting, lets in-flight requests finish, flushes, closes.
  void Stop();
  // The TCP port actually bound (useful with port 0); 0 without TCP.
  int tcp_port() const { return tcp_port_; }
  ServerStats stats() const;
  // Per-export counters (requests, bytes, latency) since Start.
  const ExportMetricsRegistry& metrics() const { return metrics_; }
  // Export names of the connections in transmission now.
  std::vector<std::string> OpenExports() const;
  // Disconnects the connections using these exports and waits (up to 10 s)
  // until their in-flight requests are done.
  void Disconnect(const std::vector<std::string>& exports);

 private:
  void AcceptLoop(int listen_fd);
  // Takes an accepted connection unless a limit says no; mu_ held.
  bool Admit(const std::shared_ptr<Connection>& c) REQUIRES(mu_);
  void Serve(std::shared_ptr<Connection> c);
  // Closes the longest-idle connection of the client holding the most, if it
  // holds more than `newcomer`'s client would (among TCP clients when
  // `remote_only`); false if there is none.
  bool EvictFor(const std::string& newcomer, bool remote_only) REQUIRES(mu_);
  // Closes connections idle past opts_.idle_timeout, until Stop.
  void ReapIdle();

  ExportSource* exports_;
  ServerOptions opts_;
  std::vector<int> listen_fds_;
  int admin_fd_ = -1;  // the admin socket's listener, among listen_fds_
  std::vector<std::thread> acceptors_;
  int tcp_port_ = 0;
  std::atomic<bool> stopping_{false};
  mutable Mutex mu_;
  std::set<std::shared_ptr<Connection>> conns_ GUARDED_BY(mu_);
  Mutex hs_mu_;  // the handshake watchdogs' (Serve)
  CondVar hs_cv_;
  // Connection threads; those whose connection ended are joined at the next accept.
  struct ConnThread {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<ConnThread> conn_threads_ GUARDED_BY(mu_);
  std::thread reaper_;
  Mutex reaper_mu_;
  CondVar reaper_cv_;
  RequestBudget budget_;
  BufferCache buffers_;  // free large payload buffers, at most request_memory / 8
  std::atomic<uint64_t> n_conns_{0}, n_requests_{0}, n_errors_{0}, n_refused_{0}, n_evicted_{0}, n_idle_closed_{0};
  ExportMetricsRegistry metrics_;
};

}  // namespace vmstore::nbd
