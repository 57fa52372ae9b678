// FileService: a storage node's side of RemoteEnv - a pool's own files
// (superblock, logs, dedup index) kept as files in DATA/files, each named by
// the hex of its name, answered for the container protocol's file ops.
//
// Thread-safety: Handle may be called from several connections at once;
// mutations are serialised (mu_). Ownership: borrows the Env.
#pragma once

#include <string>
#include <string_view>

#include "cluster/container_wire.h"
#include "util/mutex.h"
#include "vmstore/env.h"

namespace vmstore::node {

class FileService {
 public:
  FileService(Env* env, std::string dir) : env_(env), dir_(std::move(dir)) {}
  // Runs one file op; its answer's payload goes to *out.
  Status Handle(const cluster::ContainerRequest& r, std::string_view payload, std::string* out);

 private:
  std::string PathOf(const std::string& name) const;
  Status Mutate(const cluster::ContainerRequest& r, const std::string& path, std::string_view data);

  Env* const env_;
  const std::string dir_;
  Mutex mu_;  // writes, syncs, truncates, punches, deletes
};

}  // namespace vmstore::node
