// Etcd: the cluster's one way to etcd - membership, the ring and its epoch,
// the catalog, locks - as a small key-value interface with compare-and-swap,
// leases and watches. VMStore writes no consensus of its own: every decision
// that must be agreed is a compare-and-swap here.
//
// The implementation speaks etcd v3's JSON gateway over HTTP (etcd 3.4:
// /v3/kv/range, put, txn, deleterange; /v3/lease/grant, keepalive, revoke;
// /v3/watch), keys and values base64-encoded as the gateway wants. Several
// endpoints may be given; a call that cannot reach one tries the next.
//
// Example:
//   ASSIGN_OR_RETURN(auto etcd, ConnectEtcd("http://127.0.0.1:2379"));
//   ASSIGN_OR_RETURN(int64_t lease, etcd->GrantLease(10));
//   ASSIGN_OR_RETURN(bool mine, etcd->CompareAndPut("/vmstore/c1/locks/web/root", 0, "gw1", lease));
//
// Errors: IOError when no endpoint answers in time (the message names them),
// InvalidArgument for a bad endpoint list, Corruption for an answer that is
// not what the gateway sends, NotFound for an expired or unknown lease.
// Thread-safety: all methods are thread-safe (each call is its own request).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vmstore/status.h"

namespace vmstore::cluster {

struct KeyValue {
  std::string key, value;
  int64_t create_revision = 0, mod_revision = 0, version = 0;
  int64_t lease = 0;  // 0: none
};

struct WatchEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;  // for a delete: the key and the revision of the delete
};

class Etcd {
 public:
  virtual ~Etcd() = default;

  // The key's value and revisions; nullopt when it does not exist.
  virtual StatusOr<std::optional<KeyValue>> Get(const std::string& key) = 0;
  // Every key starting with `prefix`, in key order; *revision (if given) gets
  // the store's revision the answer reflects (to watch from).
  virtual StatusOr<std::vector<KeyValue>> List(const std::string& prefix, int64_t* revision = nullptr) = 0;
  // Writes the key (attached to `lease` unless 0); the new store revision.
  virtual StatusOr<int64_t> Put(const std::string& key, const std::string& value, int64_t lease = 0) = 0;
  // Writes the key only if its mod_revision is `expected` (0: only if it does
  // not exist). Returns the key's new mod_revision, or 0 - nothing written -
  // when it was not `expected`.
  virtual StatusOr<int64_t> CompareAndPut(const std::string& key, int64_t expected, const std::string& value,
                                          int64_t lease = 0) = 0;
  // Deletes the key only if its mod_revision is `expected`; false when it was not.
  virtual StatusOr<bool> CompareAndDelete(const std::string& key, int64_t expected) = 0;
  // Deletes the key (OK when it does not exist).
  virtual Status Delete(const std::string& key) = 0;

  // A lease of `ttl_seconds`; keys put with it vanish when it expires.
  virtual StatusOr<int64_t> GrantLease(int64_t ttl_seconds) = 0;
  // Renews the lease; its TTL. NotFound when it already expired (the keys are gone).
  virtual StatusOr<int64_t> KeepAlive(int64_t lease) = 0;
  virtual Status Revoke(int64_t lease) = 0;

  // The changes under `prefix` after `after_revision`, waiting up to
  // `timeout` for the first; empty when none came in time.
  virtual StatusOr<std::vector<WatchEvent>> WaitChanges(const std::string& prefix, int64_t after_revision,
                                                        std::chrono::milliseconds timeout) = 0;
};

// Connects to the etcd at `endpoints` (comma-separated URLs or HOST:PORT;
// http only) and checks that one answers. `timeout` bounds every call.
StatusOr<std::unique_ptr<Etcd>> ConnectEtcd(const std::string& endpoints,
                                            std::chrono::milliseconds timeout = std::chrono::seconds(5));

// The key just after every key starting with `prefix` (etcd's range end).
std::string PrefixEnd(const std::string& prefix);

}  // namespace vmstore::cluster
