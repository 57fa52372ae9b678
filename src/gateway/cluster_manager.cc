#include "gateway/cluster_manager.h"

#include <unistd.h>

#include "cluster/etcd_catalog_store.h"
#include "cluster/membership.h"
#include "gateway/cluster_backend.h"
#include "util/log.h"

namespace vmstore::gateway {

std::string ProcessHolderName() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "unknown-host");
  return std::string(host) + " pid " + std::to_string(getpid());
}

StatusOr<std::unique_ptr<Manager>> OpenClusterManager(const GatewayOptions& options, ManagerOptions manager_options) {
  auto ctx = std::make_shared<ClusterContext>();
  ASSIGN_OR_RETURN(ctx->etcd, cluster::ConnectEtcd(options.endpoints, options.etcd_timeout));
  ctx->endpoints = options.endpoints;
  ASSIGN_OR_RETURN(ctx->cluster, cluster::LoadCluster(*ctx->etcd));
  ASSIGN_OR_RETURN(cluster::RingRecord ring, cluster::LoadRing(*ctx->etcd));
  ctx->ring = std::make_shared<cluster::RingView>(ring);
  // Joins and drains move the ring (docs/CLUSTER.md, "Moving data"): every
  // store of the process follows it within a second.
  ctx->ring_poller = std::make_unique<Periodic>(std::chrono::seconds(1), [c = ctx.get()] {
    auto r = cluster::LoadRing(*c->etcd);
    if (r.ok() && c->ring->Update(*r)) {
      logging::Info("ring", "moved to a new epoch",
                    {{"epoch", std::to_string(r->epoch)}, {"moving", r->moving() ? "yes" : "no"}});
    }
    return true;
  });
  ctx->holder = ProcessHolderName();
  ctx->lock_ttl_s = options.lock_ttl_s;
  ctx->node_timeout = options.node_timeout;
  // Known to the registry (its location is a name, not a path); opened only
  // through a cluster's Manager, which has the connections.
  backend::RegisterBackend(
      "cluster",
      [](const std::string& location, const backend::OpenOptions&) -> StatusOr<std::unique_ptr<backend::Backend>> {
        return FailedPrecondition("cluster SR '" + location + "' is reached through the cluster: pass --etcd URL");
      },
      /*location_is_path=*/false);
  manager_options.open_backend = [ctx](const std::string& type, const std::string& location,
                                       const backend::OpenOptions& o) -> StatusOr<std::unique_ptr<backend::Backend>> {
    if (type != "cluster") {
      return FailedPrecondition("a cluster's SRs are of type cluster; this catalog names a " + type + " SR");
    }
    return OpenClusterBackend(ctx, location, o);
  };
  cluster::EtcdCatalogOptions co;
  co.holder = ctx->holder;
  co.endpoints = options.endpoints;
  auto store = cluster::NewEtcdCatalogStore(ctx->etcd.get(), co);
  // The store borrows ctx->etcd: manager_options (which keeps ctx) outlives it in the Manager.
  return Manager::OpenShared(std::move(store), "cluster", "default", manager_options);
}

}  // namespace vmstore::gateway
