// The HTTP API's front door: it reads each request whole (head and body)
// before the HTTP library sees it, so slow or silent clients cannot hold the
// library's worker threads.
//
// The library (cpp-httplib, a thread per request being read) listens on a
// Unix socket in a private directory; the gate listens on the public TCP
// address. One thread reads every pending request with non-blocking sockets
// (epoll) under a deadline for the whole request (`request_timeout`; a
// client sending a byte every few seconds is cut there) and size limits
// (head, body); a complete request goes to a bounded pool of forwarders,
// which pass it to the library with `Connection: close` and the client's
// address in `X-Forwarded-For` (any the client sent are dropped), and relay
// the answer, each read and write bounded by `io_timeout`. Connections are
// limited per client address and in all; past a limit, or when every
// forwarder is busy and the queue is full, a connection gets 503 and is
// closed. A request that takes too long gets 408, a head or body too large
// 431 or 413, a chunked body 411.
//
// Thread-safety: Start/Stop from one thread. Ownership: none shared.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "util/mutex.h"
#include "vmstore/status.h"

namespace vmstore::server {

struct HttpGateOptions {
  std::string upstream;  // the library's Unix socket
  int max_connections = 256;
  int max_client_connections = 32;
  std::chrono::milliseconds request_timeout = std::chrono::seconds(10);
  std::chrono::milliseconds io_timeout = std::chrono::seconds(30);  // each read and write of a client
  // How long a forwarder waits for the library's answer: the handler's own
  // work (a long command through POST /v1/cli), not the client's doing.
  std::chrono::milliseconds answer_timeout = std::chrono::hours(1);
  size_t max_head = 16 << 10;
  size_t max_body = 1 << 20;
  int forwarders = 16;
  int queue = 64;  // complete requests waiting for a forwarder
};

struct HttpGateStats {
  uint64_t accepted = 0, forwarded = 0, timed_out = 0, refused = 0, too_large = 0;
};

class HttpGate {
 public:
  explicit HttpGate(HttpGateOptions options);
  ~HttpGate();
  HttpGate(const HttpGate&) = delete;
  HttpGate& operator=(const HttpGate&) = delete;

  // Listens on HOST:PORT (port 0: any free one). InvalidArgument for a bad
  // address, IOError if it cannot be bound.
  Status Start(const std::string& listen);
  void Stop();
  int port() const { return port_; }
  HttpGateStats stats() const;

 private:
  struct Pending;
  struct Job {
    int fd;
    std::string client;
    std::string request;  // rewritten head and the body
  };
  void Loop();
  void Forward();
  // A pending connection's bytes: is the request whole (then *job is set),
  // still coming (false, OK), or refused (an error answer in *refusal)?
  bool Parse(Pending* p, Job* job, std::string* refusal);
  void Close(int fd, const std::string& client) EXCLUDES(mu_);

  const HttpGateOptions opts_;
  int listen_fd_ = -1, epoll_fd_ = -1, wake_fd_ = -1;
  int port_ = 0;
  std::thread loop_;
  std::vector<std::thread> forwarders_;
  mutable Mutex mu_;
  CondVar cv_;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::deque<Job> jobs_ GUARDED_BY(mu_);
  std::map<std::string, int> per_client_ GUARDED_BY(mu_);  // open connections by address
  int open_ GUARDED_BY(mu_) = 0;
  HttpGateStats stats_ GUARDED_BY(mu_);
};

}  // namespace vmstore::server
