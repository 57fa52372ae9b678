// The transmission phase of one connection: a few threads take turns reading
// the next request (under the connection's read lock) and each then runs its
// own through the export's layers (nbd/layers.h) and sends the reply (under
// the write lock), so a client's queue is served in parallel without a
// hand-off between threads. What the protocol refuses before the layers (an
// unknown command, a read over 32 MiB, block status without a context, fast
// zeroing where it is not fast) is answered and counted here.
//
// Thread-safety: Transmit runs on the connection's thread and starts its
// workers; `c` is not shared with other connections. Ownership: borrows `c`.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "nbd/metrics.h"
#include "nbd/payload_buffer.h"
#include "nbd/request_budget.h"
#include "nbd/stream.h"
#include "util/mutex.h"
#include "vmstore/backend.h"

namespace vmstore::nbd {

// One client connection, from accept to close.
struct Connection {
  int fd = -1;
  std::string client;              // peer IP, "unix" or "admin"
  std::unique_ptr<Stream> stream;  // the socket, or TLS over it, once the handshake is done
  // Set once, under Server::mu_, by the connection's thread when transmission
  // starts (before its workers run, so they read it freely); other threads
  // read it under Server::mu_.
  std::string export_name;
  bool structured = false;
  bool meta_alloc = false;               // base:allocation selected
  std::unique_ptr<backend::Device> dev;  // the export's device under its layers
  ExportMetrics* metrics = nullptr;      // the export's counters (what the protocol refuses)
  RequestBudget* budget = nullptr;       // the server's, for payload bytes (not owned)
  BufferCache* buffers = nullptr;        // the server's large payload buffers (not owned)

  // What the server's idle timeout and eviction look at: requests read and
  // not yet answered, and when the last one began or ended (steady clock, ns).
  std::atomic<int> in_flight{0};
  std::atomic<int64_t> last_active_ns{0};
  std::atomic<bool> evicted{false};  // closed by the server to make room (Server::Admit)
  void Touch();

  // Sends one reply (header and payload in one write); false if the client is gone.
  bool Send(std::string_view head, std::string_view body) EXCLUDES(wmu);

 private:
  Mutex wmu;  // one reply at a time
};

// Server-wide request counters (ServerStats).
struct RequestCounters {
  std::atomic<uint64_t>* requests;
  std::atomic<uint64_t>* errors;
};

// Serves `c`'s requests with `workers` threads until the client disconnects
// (or sends garbage, or does not take a reply), then flushes the device: what
// was written is durable whether the end was clean or not. Each request's
// payload bytes are taken from c->budget before its buffer is allocated and
// given back once its reply is sent.
void Transmit(Connection* c, int workers, RequestCounters counters);

}  // namespace vmstore::nbd
