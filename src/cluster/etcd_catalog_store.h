// EtcdCatalogStore: a cluster's catalog (vmstore/catalog_store.h) kept in
// etcd - the SQLite image, deflated, as one key whose mod_revision is the
// catalog's version, and a writers' lock held under a lease (docs/CLUSTER.md,
// "Catalog in etcd").
//
// Limits: the deflated image must fit one etcd request (etcd's
// --max-request-bytes, 1.5 MiB by default); Store() refuses a larger one with
// NoSpace, naming the size. Every store is a new etcd revision: run etcd with
// --auto-compaction-retention so old images do not fill its quota.
// Errors: as CatalogStore. Thread-safety: thread-safe.
// Ownership: borrows the Etcd, which must outlive the store.
#pragma once

#include <memory>
#include <string>

#include "cluster/etcd.h"
#include "vmstore/catalog_store.h"

namespace vmstore::cluster {

struct EtcdCatalogOptions {
  std::string holder;  // who takes the lock (shown to whoever waits for it)
  int lock_ttl_s = 15;
  std::chrono::milliseconds lock_wait{20000};  // more than the TTL: a dead holder's lock expires
  size_t max_image_bytes = 1 << 20;            // deflated; below etcd's default request limit
  std::string endpoints;                       // for messages
};

std::unique_ptr<CatalogStore> NewEtcdCatalogStore(Etcd* etcd, EtcdCatalogOptions options);

// The catalog's keys.
inline constexpr char kCatalogImageKey[] = "/vmstore/catalog/image";
inline constexpr char kCatalogLockKey[] = "/vmstore/locks/catalog";

}  // namespace vmstore::cluster
