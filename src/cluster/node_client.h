// NodeClient: a gateway's connections to one storage node - the container
// protocol's client side. Each call takes a connection (an idle one, or a
// new one that says hello first), sends one request and reads its answer; a
// broken connection is dropped and the call tried once more on a new one.
// Every call is bounded by the timeout.
//
// Limits: at most `max_in_flight` connections are in use at once (the node
// closes those over its own limit, so a burst of calls - a boot storm's
// hundreds of reads - must queue here, not fail there); a call over it waits
// for one to come back, up to the timeout. A thread already holding another
// node's connection (Start on several nodes) does not wait but goes over the
// limit: waiting there could close a cycle of threads each holding what the
// other waits for. At most `connections` idle ones are kept.
//
// Errors: the node's answer (its Status code and message), IOError when the
// node cannot be reached or does not answer in time (or every connection
// stayed busy for the timeout), Corruption for an answer that is not the
// protocol's.
// Thread-safety: thread-safe; a Start and its Finish run on one thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/container_wire.h"
#include "util/mutex.h"
#include "vmstore/block_store.h"

namespace vmstore::cluster {

class NodeClient {
 public:
  static constexpr int kMaxInFlight = 32;
  NodeClient(std::string address, ContainerGeometry geometry, std::chrono::milliseconds timeout, int connections = 4,
             std::string name = "", int max_in_flight = kMaxInFlight);
  ~NodeClient();
  NodeClient(const NodeClient&) = delete;
  NodeClient& operator=(const NodeClient&) = delete;

  // Sends `r` (its id and payload size are filled in) with `payload`; the answer's payload.
  StatusOr<std::string> Call(ContainerRequest r, std::string_view payload = {});

  // A call split in two, so that calls to several nodes are in flight at
  // once (a change sent to every replica waits for one round trip, not R):
  // Start sends it on a connection of its own; Finish reads the answer and
  // must be called exactly once for each Start (it gives the connection
  // back). `payload` must stay valid until Finish, which sends the request
  // once more on a new connection when the first one turns out broken.
  struct Sent {
    int fd = -1;  // -1: the send failed (`error`)
    uint64_t id = 0;
    ContainerRequest request;
    std::string_view payload;
    Status error;
    bool pooled = false;  // on a connection that sat idle (the node may have closed it)
  };
  Sent Start(ContainerRequest r, std::string_view payload = {});
  StatusOr<std::string> Finish(Sent* sent);
  const std::string& address() const { return address_; }
  // The node's name on the ring ("" if not given).
  const std::string& name() const { return name_; }

 private:
  // A connected, greeted socket from the pool (unless `fresh`; *pooled
  // says which), or a new one.
  StatusOr<int> Take(bool fresh, bool* pooled);
  // Gives a connection back for the next call, or closes a broken one.
  void Give(int fd);
  void Drop(int fd);
  // One fewer connection in use (mu_ held).
  void Release() REQUIRES(mu_);
  // One request on `fd` (its id is returned), and the answer to it; a
  // broken connection (cut, timed out, out of step) sets *broken.
  StatusOr<uint64_t> SendOn(int fd, const ContainerRequest& r, std::string_view payload);
  StatusOr<std::string> ReceiveOn(int fd, uint64_t id, ContainerOp op, bool* broken);
  StatusOr<std::string> CallOn(int fd, const ContainerRequest& r, std::string_view payload, bool* broken);

  const std::string address_;
  const std::string name_;
  const ContainerGeometry geometry_;
  const std::chrono::milliseconds timeout_;
  const int max_idle_;
  const int max_in_flight_;
  Mutex mu_;
  CondVar freed_;  // a connection in use came back
  std::vector<int> idle_ GUARDED_BY(mu_);
  int in_use_ GUARDED_BY(mu_) = 0;
  uint64_t next_id_ GUARDED_BY(mu_) = 1;
};

}  // namespace vmstore::cluster
