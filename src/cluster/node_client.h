// NodeClient: a gateway's connections to one storage node - the container
// protocol's client side. Each call takes a free connection (up to
// `connections`), sends one request and reads its answer; a broken
// connection is dropped and the call tried once more on a new one (which
// says hello first). Every call is bounded by the timeout.
//
// Errors: the node's answer (its Status code and message), IOError when the
// node cannot be reached or does not answer in time, Corruption for an
// answer that is not the protocol's.
// Thread-safety: thread-safe; calls run in parallel up to `connections`.
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
  NodeClient(std::string address, ContainerGeometry geometry, std::chrono::milliseconds timeout, int connections = 4,
             std::string name = "");
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
  void Give(int fd);
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
  Mutex mu_;
  std::vector<int> idle_ GUARDED_BY(mu_);
  uint64_t next_id_ GUARDED_BY(mu_) = 1;
};

}  // namespace vmstore::cluster
