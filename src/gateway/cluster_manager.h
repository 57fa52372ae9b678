// Opening a cluster as a Manager: what `--etcd URL` gives every command and
// `vmstore serve --etcd` (a gateway) serves. The catalog is the cluster's
// (in etcd: cluster/etcd_catalog_store.h); SRs are of type "cluster"
// (gateway/cluster_backend.h) and the default one is made with the catalog.
//
// Errors: IOError when etcd cannot be reached (the message names the
// endpoints), NotFound when the cluster was never initialised (the message
// says how), the Manager's otherwise.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "vmstore/manager.h"

namespace vmstore::gateway {

struct GatewayOptions {
  std::string endpoints;  // etcd, comma-separated
  int lock_ttl_s = 10;    // SR writer locks (a dead gateway's expire after this)
  std::chrono::milliseconds etcd_timeout{5000};
  std::chrono::milliseconds node_timeout{5000};
};

StatusOr<std::unique_ptr<Manager>> OpenClusterManager(const GatewayOptions& options, ManagerOptions manager_options);

// "HOST pid N", how this process names itself on the locks it takes.
std::string ProcessHolderName();

}  // namespace vmstore::gateway
