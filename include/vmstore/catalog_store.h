// CatalogStore: where a catalog shared by several processes lives when it is
// not a file in a pool directory - in cluster mode, the cluster's etcd
// (cluster/etcd_catalog_store.h). The catalog stays an SQLite database; the
// store keeps its whole image under one version number, and a Manager opened
// on a store (Manager::OpenShared) loads the image when the version moved and
// stores it after every commit, compare-and-swap on the version it loaded.
//
// Errors: IOError when the store cannot be reached, FailedPrecondition when
// Lock() times out (naming the holder) or Store() lost a race (the version
// moved), Corruption for an image that does not decode.
// Thread-safety: implementations are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "vmstore/status.h"

namespace vmstore {

class CatalogStore {
 public:
  struct Image {
    std::string bytes;    // SQLite's file format
    int64_t version = 0;  // 0: no catalog stored yet
  };
  // Held while an operation may change the catalog; destroying it lets the
  // next writer in.
  class Guard {
   public:
    virtual ~Guard() = default;
  };

  virtual ~CatalogStore() = default;
  // The stored image. When its version is `known` (not 0), the bytes are left
  // empty: the caller has them already, and nothing is decoded.
  virtual StatusOr<Image> Load(int64_t known) = 0;
  // Stores `bytes` if the stored version is still `expected` (0: none stored
  // yet); returns the new version.
  virtual StatusOr<int64_t> Store(const std::string& bytes, int64_t expected) = 0;
  // Keeps every other process's writers out until the guard is destroyed.
  // Waits a bounded time for a holder to finish (or to die and its lock to
  // expire).
  virtual StatusOr<std::unique_ptr<Guard>> Lock() = 0;
  // Where the catalog is, for messages ("etcd http://...").
  virtual std::string Describe() const = 0;
};

}  // namespace vmstore
