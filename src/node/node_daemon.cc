#include "node/node_daemon.h"

#include <unistd.h>

#include <csignal>
#include <ctime>

#include "cluster/membership.h"
#include "node/container_server.h"
#include "node/node_dir.h"
#include "util/log.h"

namespace vmstore::node {

namespace {

std::string HostName() {
  char b[256] = {};
  ::gethostname(b, sizeof b - 1);
  return b[0] ? b : "node";
}

// Waits up to `seconds` for SIGTERM / SIGINT (blocked in every thread);
// the signal, or 0 when the time ran out.
int WaitSignal(const sigset_t& set, int seconds) {
  timespec ts{seconds, 0};
  const int sig = sigtimedwait(&set, nullptr, &ts);
  return sig > 0 ? sig : 0;
}

}  // namespace

Status RunNode(const NodeOptions& o) {
  Env* env = o.env ? o.env : Env::Default();
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  if (o.data_dir.empty()) return InvalidArgument("--data DIR is required (where the node keeps its containers)");
  if (o.weight > 1000) return InvalidArgument("--weight " + std::to_string(o.weight) + " is over 1000");
  ASSIGN_OR_RETURN(auto etcd, cluster::ConnectEtcd(o.etcd));
  ASSIGN_OR_RETURN(cluster::ClusterRecord c, cluster::LoadCluster(*etcd));
  const std::string name = o.name.empty() ? HostName() : o.name;
  ASSIGN_OR_RETURN(auto dir, NodeDir::Open(env, o.data_dir, c.uuid_text(), name));
  std::unique_ptr<BlockStore> store = NewFileBlockStore(env, dir->containers());
  ContainerGeometry g{c.uuid, c.container_units};
  RETURN_IF_ERROR(store->Attach(g));
  ContainerServerOptions so;
  so.listen = o.listen;
  so.name = name;
  so.geometry = g;
  so.env = env;
  so.files_dir = dir->files();    // the pools' own files (RemoteEnv)
  so.fences_dir = dir->fences();  // kept across restarts
  RETURN_IF_ERROR(env->CreateDir(so.files_dir));
  ContainerServer server(store.get(), so);
  RETURN_IF_ERROR(server.Start());
  const std::string host = o.listen.substr(0, o.listen.rfind(':'));
  cluster::NodeRecord rec;
  rec.node = {name, host + ":" + std::to_string(server.port()), o.zone, o.weight};
  rec.data_uuid = dir->identity().data_uuid;
  rec.started_ns = env->NowNanos();
  ASSIGN_OR_RETURN(int64_t lease, etcd->GrantLease(o.lease_ttl_s));
  RETURN_IF_ERROR(cluster::RegisterNode(*etcd, rec, lease));
  ASSIGN_OR_RETURN(cluster::RingRecord ring, cluster::JoinRing(*etcd, rec.node));
  logging::Info("node", "serving",
                {{"name", name},
                 {"address", rec.node.address},
                 {"zone", o.zone},
                 {"weight", static_cast<uint64_t>(o.weight)},
                 {"cluster", c.uuid_text()},
                 {"ring_epoch", ring.epoch},
                 {"data", o.data_dir}});
  int sig = 0;
  const int every = std::max(1, o.lease_ttl_s / 3);
  while ((sig = WaitSignal(set, every)) == 0) {
    auto ttl = etcd->KeepAlive(lease);
    if (ttl.ok()) continue;
    if (ttl.status().code() == Code::kNotFound) {
      // The lease expired (etcd unreachable for longer than the TTL): register again.
      logging::Warn("node", "lease expired; registering again", {{"name", name}});
      auto fresh = etcd->GrantLease(o.lease_ttl_s);
      if (fresh.ok() && cluster::RegisterNode(*etcd, rec, *fresh).ok()) lease = *fresh;
    } else {
      logging::Warn("node", "cannot renew the lease", {{"error", ttl.status().ToString()}});
    }
  }
  logging::Info("node", "stopping", {{"signal", sig}});
  (void)etcd->Revoke(lease);  // gone at once, not after the TTL
  server.Stop();
  auto st = server.stats();
  logging::Info("node", "stopped", {{"connections", st.connections}, {"requests", st.requests}, {"errors", st.errors}});
  return Status::OK();
}

}  // namespace vmstore::node
