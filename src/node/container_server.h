// ContainerServer: a storage node's service - the container protocol
// (cluster/container_wire.h) over TCP, answered from the node's BlockStore
// (its container files). Each connection starts with kHello, which must name
// this node's cluster and geometry; a node never serves another cluster's
// gateway. Units read are verified against their sums here, so a damaged
// replica answers kCorruption (and the gateway reads another) instead of
// returning bad bytes.
//
// Limits: at most `max_connections` at once (more are closed at once); a
// connection idle for `idle_timeout` is closed; a payload over
// kMaxPayloadBytes ends the connection.
// Thread-safety: Start/Stop from one thread; each connection has a thread.
// The BlockStore is called from several threads: mutating calls are
// serialised here (mu_), as BlockStore asks. Ownership: borrows the store.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cluster/container_wire.h"
#include "node/file_service.h"
#include "node/move_limit.h"
#include "util/mutex.h"
#include "vmstore/block_store.h"

namespace vmstore::node {

struct ContainerServerOptions {
  std::string listen = "127.0.0.1:0";  // HOST:PORT (port 0: any free one)
  std::string name;                    // this node's name, in messages
  ContainerGeometry geometry;          // the cluster's uuid and units per container
  int max_connections = 256;           // each gateway keeps at most NodeClient::kMaxInFlight (32) in use
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
  // Pools' own files (RemoteEnv) in `files_dir` through `env`; "" refuses them.
  Env* env = nullptr;
  std::string files_dir;
  // The newest fence seen per pool, kept in `fences_dir` (a file per pool,
  // docs/FORMAT.md) through `env` so a restarted node still refuses an old
  // lock holder; "" keeps them in memory only. Start() refuses a damaged one.
  std::string fences_dir;
  // Copies from repairs and moves (kFlagRecovery) are refused with NoSpace
  // when the file system holding `space_path` would keep less than
  // `reserve_bytes` free (0: 5 % of it, at most 1 GiB): recovery waits
  // rather than fill a disk. "" checks nothing.
  std::string space_path;
  uint64_t reserve_bytes = 0;
  // A copy in or out (recovery-flagged requests naming one object) counts
  // as under way until idle this long (MoveLimit).
  std::chrono::milliseconds move_idle{5000};
};

struct ContainerServerStats {
  uint64_t connections = 0, requests = 0, errors = 0, refused = 0, corrupt_units = 0;
  uint64_t writes = 0, max_write_bytes = 0;        // write requests and the largest one's data
  uint64_t write_bytes = 0;                        // unit data written by every write request
  uint64_t recovery_bytes = 0;                     // written by repairs and moves (kFlagRecovery)
  uint64_t recovery_wait_ms = 0;                   // ... time they waited for the rate cap
  uint64_t recovery_spell_bytes = 0;               // ... since the last pause of over 5 s
  uint64_t recovery_span_ms = 0;                   // ... from the spell's first such write to its last
  uint64_t moves_in_peak = 0, moves_out_peak = 0;  // most copies under way at once
  uint64_t moves_refused = 0;                      // requests refused by the limit
};

class ContainerServer {
 public:
  ContainerServer(BlockStore* store, ContainerServerOptions options);
  ~ContainerServer();
  ContainerServer(const ContainerServer&) = delete;
  ContainerServer& operator=(const ContainerServer&) = delete;

  // Binds and starts accepting; IOError when the address cannot be bound.
  Status Start();
  // Stops accepting and closes every connection (in-flight calls finish).
  void Stop();
  int port() const { return port_; }
  ContainerServerStats stats() const;
  // Caps the bytes per second that repairs and moves write here (0: no cap);
  // clients' writes are never held. Thread-safe; takes effect at once.
  void SetRecoveryRate(uint64_t bytes_per_second);
  // The newest ring epoch known (from etcd, by the node's daemon; requests
  // carrying a newer one raise it too): changes placed by an older ring are
  // refused ("stale ring:"), so a gateway that missed a ring change cannot
  // write by the old placement once the nodes know the new one.
  void SetRingEpoch(uint64_t epoch);
  uint64_t ring_epoch() const { return ring_epoch_.load(); }
  // Limits the copies for repairs and moves under way in and out at once
  // (0: no limit); a copy over it is refused and its copier tries again.
  void SetMaxMoves(uint32_t n) { moves_.SetLimit(n); }

 private:
  struct Conn;
  void AcceptLoop();
  void Serve(int fd);
  // Answers one request; false when the connection must end.
  bool Handle(int fd, bool* hello_done);
  // One request's work, by kind; the answer's payload goes to *out.
  Status Answer(const cluster::ContainerRequest& r, std::string_view payload, std::string* out);
  Status Hello(std::string_view payload, std::string* out);
  // Counts, logs and reports the first of `count` units at `first` whose
  // data does not match its sum.
  Status CheckUnits(uint64_t container, uint64_t first, uint32_t count, const char* data, const uint64_t* sums);
  static bool UnitsMatch(uint32_t count, const char* data, const uint64_t* sums);
  // Reads `sum_count` sums from unit `first` and `count` units from unit
  // first + sum_skip into `data`, each checked against its sum; a mismatch
  // is read again with the writes held off (a write may have come between)
  // before it is reported as damage.
  Status ReadChecked(uint64_t container, uint64_t first, uint32_t count, char* data, uint32_t sum_count,
                     uint32_t sum_skip, uint64_t* sums);
  Status ReadVerified(const cluster::ContainerRequest& r, std::string* out);  // units checked against their sums
  Status ReadBlockPart(const cluster::ContainerRequest& r, std::string_view payload, std::string* out);
  Status Write(const cluster::ContainerRequest& r, std::string_view payload);
  Status Mutate(const cluster::ContainerRequest& r);                   // sync, punch, delete, truncate
  Status Query(const cluster::ContainerRequest& r, std::string* out);  // sums, lists, header, bytes
  // Refuses a change carrying a smaller fence than the newest seen for its
  // pool (a gateway that lost its writer lock); remembers a larger one.
  Status CheckFence(const cluster::ContainerRequest& r, std::string_view payload);
  Status CheckRingEpoch(const cluster::ContainerRequest& r);
  Status LoadFences();
  Status SaveFence(uint64_t pool, uint64_t fence) REQUIRES(fence_mu_);

  BlockStore* store_;
  const ContainerServerOptions opts_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  Mutex mu_;  // the connection list
  std::vector<std::pair<int, std::thread>> conns_ GUARDED_BY(mu_);
  std::vector<int> done_ GUARDED_BY(mu_);  // descriptors whose thread ended
  Mutex store_mu_;                         // mutating store calls, one at a time
  std::unique_ptr<FileService> files_;     // pools' own files (RemoteEnv), when kept
  Mutex fence_mu_;
  std::map<uint64_t, uint64_t> fences_ GUARDED_BY(fence_mu_);  // pool -> newest fence seen (in memory)
  std::atomic<uint64_t> n_conns_{0}, n_requests_{0}, n_errors_{0}, n_refused_{0}, n_corrupt_{0};
  std::atomic<uint64_t> n_writes_{0}, max_write_{0}, n_write_bytes_{0};
  std::atomic<uint64_t> n_recovery_bytes_{0}, n_recovery_wait_ms_{0};
  std::atomic<uint64_t> ring_epoch_{0};
  std::chrono::steady_clock::time_point first_recovery_ GUARDED_BY(rate_mu_), last_recovery_ GUARDED_BY(rate_mu_);
  static constexpr std::chrono::seconds kRecoveryPause{5};
  uint64_t spell_bytes_ GUARDED_BY(rate_mu_) = 0;
  // The recovery rate cap: each copy's bytes take the next slot of the
  // cap's time line, and its request waits for that slot.
  void ThrottleRecovery(size_t bytes);
  Status RoomForRecovery(size_t bytes);
  MoveLimit moves_{opts_.move_idle};
  mutable Mutex rate_mu_;
  uint64_t rate_ GUARDED_BY(rate_mu_) = 0;  // bytes per second; 0: no cap
  std::chrono::steady_clock::time_point next_slot_ GUARDED_BY(rate_mu_);
};

}  // namespace vmstore::node
