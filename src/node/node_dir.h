// A storage node's data directory: DATA/node.json says which cluster and
// node it belongs to (written once, at the first start), DATA/node.lock keeps
// a second node process off it, DATA/containers holds the container files.
//
// Errors: FailedPrecondition when another process has the directory, when it
// belongs to another cluster, or was another node's (each names what to do).
#pragma once

#include <memory>
#include <string>

#include "vmstore/env.h"
#include "vmstore/status.h"

namespace vmstore::node {

struct NodeIdentity {
  std::string cluster;    // the cluster's uuid (32 hex digits)
  std::string name;       // the node's name
  std::string data_uuid;  // this directory's own uuid
};

class NodeDir {
 public:
  // Opens (creating, mode 0700) `dir` for node `name` of cluster `cluster`.
  static StatusOr<std::unique_ptr<NodeDir>> Open(Env* env, const std::string& dir, const std::string& cluster,
                                                 const std::string& name);
  const NodeIdentity& identity() const { return id_; }
  std::string containers() const { return dir_ + "/containers"; }
  // The pools' own files (superblocks, logs, dedup indexes) a RemoteEnv keeps here.
  std::string files() const { return dir_ + "/files"; }
  // The newest writer-lock fence seen per pool (ContainerServer), one file each.
  std::string fences() const { return dir_ + "/fences"; }

 private:
  NodeDir() = default;
  std::string dir_;
  NodeIdentity id_;
  std::unique_ptr<Env::Lock> lock_;
};

}  // namespace vmstore::node
