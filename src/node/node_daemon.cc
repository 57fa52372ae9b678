#include "node/node_daemon.h"

#include <unistd.h>

#include <csignal>
#include <ctime>
#include <map>

#include "cluster/membership.h"
#include "cluster/node_client.h"
#include "cluster/replica_check.h"
#include "gateway/move.h"
#include "node/container_server.h"
#include "node/node_dir.h"
#include "util/coding.h"
#include "util/log.h"
#include "util/periodic.h"

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

// How this node takes its place on the ring: at once while the cluster holds
// no data (nothing to move); by a move (gateway/move.h) once it does, when it
// joins or its zone or weight changes. False while another move is under way
// (tried again later).
// Whether about what the ring would place on a new member fits on its file
// system above the reserve: the nodes' bytes today over one more node.
Status RoomToJoin(const gateway::ClusterContext& ctx, const cluster::RingRecord& ring, Env* env,
                  const std::string& path, uint64_t reserve) {
  uint64_t total = 0;
  for (const cluster::RingNode& m : ring.members) {
    cluster::NodeClient c(m.address, ContainerGeometry{ctx.cluster.uuid, ctx.cluster.container_units},
                          std::chrono::seconds(5), 1, m.name);
    auto st = c.Call(cluster::MakeRequest(cluster::ContainerOp::kStat, 0, 0, 0));
    if (st.ok() && st->size() == 8) total += internal::GetU64(st->data());
  }
  const uint64_t share = total / (ring.members.size() + 1);
  ASSIGN_OR_RETURN(FsSpace fs, env->FileSystemSpace(path));
  if (reserve == 0) reserve = std::min<uint64_t>(fs.total / 20, 1ull << 30);
  if (fs.available >= share + reserve) return Status::OK();
  return NoSpace("not joining the ring: it would place about " + std::to_string(share) + " bytes here, and " + path +
                 " has " + std::to_string(fs.available) + " free of which " + std::to_string(reserve) +
                 " are kept for clients");
}

StatusOr<bool> TakePlace(const std::shared_ptr<gateway::ClusterContext>& ctx, const cluster::RingNode& me, Env* env,
                         const std::string& path, uint64_t reserve) {
  ASSIGN_OR_RETURN(cluster::RingRecord ring, cluster::LoadRing(*ctx->etcd));
  ASSIGN_OR_RETURN(auto pools, ctx->etcd->Get(std::string(cluster::kRoot) + "alloc/pools"));
  std::vector<cluster::RingNode> members = ring.members;
  bool found = false, placement = false;
  for (cluster::RingNode& m : members) {
    if (m.name != me.name) continue;
    found = true;
    placement = m.zone != me.zone || m.weight != me.weight;
    m = me;
  }
  if (!found) members.push_back(me);
  const bool moves = pools.has_value() && !ring.members.empty() && (!found || placement);
  if (!moves) {
    RETURN_IF_ERROR(cluster::JoinRing(*ctx->etcd, me).status());
    return true;
  }
  if (!found) RETURN_IF_ERROR(RoomToJoin(*ctx, ring, env, path, reserve));
  auto started = gateway::StartMove(ctx, members);
  if (started.ok()) {
    logging::Info("node", "joining the ring: data moves to it", {{"name", me.name}, {"copies", started->recorded}});
    return true;
  }
  if (started.status().code() == Code::kFailedPrecondition &&
      started.status().message().find("a move is under way") != std::string::npos) {
    return false;
  }
  return started.status();
}

// Deletes the copies here that the ring places elsewhere, once the ring has
// been still for the grace period and every owner holds the object with no
// miss record against it. Returns the copies deleted.
class StrayCollector {
 public:
  StrayCollector(std::shared_ptr<gateway::ClusterContext> ctx, std::string me, int grace_s)
      : ctx_(std::move(ctx)), me_(std::move(me)), grace_(std::chrono::seconds(grace_s)) {}

  StatusOr<uint64_t> Pass() {
    ASSIGN_OR_RETURN(cluster::RingRecord ring, cluster::LoadRing(*ctx_->etcd));
    const auto now = std::chrono::steady_clock::now();
    if (ring.epoch != epoch_ || ring.moving()) {
      epoch_ = ring.moving() ? 0 : ring.epoch;
      since_ = now;
      return 0;
    }
    if (now - since_ < grace_) return 0;
    cluster::RingView view(ring);
    auto st = view.Get();
    std::map<std::string, std::unique_ptr<cluster::NodeClient>> owned;
    std::map<std::string, cluster::NodeClient*> clients;
    for (const cluster::RingNode* n : st->AllNodes()) {
      owned[n->name] = std::make_unique<cluster::NodeClient>(
          n->address, ContainerGeometry{ctx_->cluster.uuid, ctx_->cluster.container_units}, ctx_->node_timeout, 1,
          n->name);
      clients[n->name] = owned[n->name].get();
    }
    if (!clients.count(me_)) return 0;  // off the ring: its copies are the operator's to drop
    std::map<std::string, Status> down;
    ASSIGN_OR_RETURN(auto objects, cluster::ListObjects(clients, "pool-", &down));
    if (!down.empty()) return 0;  // every owner must be seen holding it
    ASSIGN_OR_RETURN(auto misses, cluster::LoadAllMisses(ctx_->etcd.get()));
    uint64_t deleted = 0;
    for (auto& [object, o] : objects) {
      if (!o.holders.count(me_) || misses.count(object)) continue;
      bool mine = false, held = true;
      for (const cluster::RingNode* n : st->current.Place(o.key, ctx_->cluster.replicas)) {
        mine |= n->name == me_;
        held &= o.holders.count(n->name) > 0;
      }
      if (mine || !held) continue;
      // Fence 0: not a pool's writer; the object is no longer placed here.
      cluster::NodeClient* self = clients.at(me_);
      Status s;
      if (object.rfind("file:", 0) == 0) {
        s = self->Call(cluster::MakeRequest(cluster::ContainerOp::kFileDelete, 0, 0, 0),
                       cluster::FileNamePayload(object.substr(5)))
                .status();
      } else {
        s = self->Call(cluster::MakeRequest(cluster::ContainerOp::kDelete, o.key, 0, 0)).status();
      }
      if (s.ok()) ++deleted;
    }
    return deleted;
  }

 private:
  std::shared_ptr<gateway::ClusterContext> ctx_;
  const std::string me_;
  const std::chrono::seconds grace_;
  uint64_t epoch_ = 0;
  std::chrono::steady_clock::time_point since_;
};

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
  so.space_path = dir->containers();
  so.reserve_bytes = o.reserve_bytes;
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
  // Its own connection for joining and moving data (gateway/move.h).
  auto ctx = std::make_shared<gateway::ClusterContext>();
  ASSIGN_OR_RETURN(ctx->etcd, cluster::ConnectEtcd(o.etcd));
  ctx->cluster = c;
  ASSIGN_OR_RETURN(cluster::RingRecord ring0, cluster::LoadRing(*ctx->etcd));
  ctx->ring = std::make_shared<cluster::RingView>(ring0);
  ctx->holder = "node " + name + " pid " + std::to_string(getpid());
  uint64_t rate = 0, recovered = 0;
  uint32_t max_moves = cluster::ClusterConfig{}.max_moves;
  server.SetMaxMoves(max_moves);
  if (auto cfg = cluster::LoadConfig(*etcd); cfg.ok()) {  // before any copy comes in
    rate = cfg->recovery_mib_per_s;
    server.SetRecoveryRate(rate << 20);
    max_moves = cfg->max_moves;
    server.SetMaxMoves(max_moves);
  }
  // A node that cannot join yet (no room, another move) serves and tries again.
  bool placed = false;
  std::string not_placed;  // why, as last logged
  auto take_place = [&] {
    auto p = TakePlace(ctx, rec.node, env, dir->containers(), o.reserve_bytes);
    if (p.ok()) {
      placed = *p;
      return;
    }
    if (p.status().ToString() != not_placed) {
      not_placed = p.status().ToString();
      logging::Warn("node", "not on the ring yet", {{"name", name}, {"why", not_placed}});
    }
  };
  take_place();
  ASSIGN_OR_RETURN(cluster::RingRecord ring, cluster::LoadRing(*etcd));
  server.SetRingEpoch(ring.epoch);
  // Moves are driven by the first registered node by name (any node can:
  // each step is a compare-and-swap or an idempotent copy).
  gateway::MoveDriver driver(ctx);
  uint64_t last_waiting = UINT64_MAX;
  uint64_t down_out_s = static_cast<uint64_t>(o.down_out_s);                // the cluster's setting, else the flag
  std::map<std::string, std::chrono::steady_clock::time_point> down_since;  // ring members not registered
  Periodic mover(std::chrono::seconds(2), [&] {
    if (const ContainerServerStats st = server.stats(); st.recovery_bytes != recovered) {
      recovered = st.recovery_bytes;
      // This spell of copies (since a pause of over 5 s): its bytes and rate.
      const double secs = std::max<double>(st.recovery_span_ms, 1) / 1000.0;
      logging::Info("node", "copies received",
                    {{"bytes", st.recovery_spell_bytes},
                     {"seconds", std::to_string(secs)},
                     {"mib_per_s", std::to_string(static_cast<double>(st.recovery_spell_bytes) / secs / 1048576.0)},
                     {"throttled_ms", st.recovery_wait_ms}});
    }
    if (auto cfg = cluster::LoadConfig(*etcd); cfg.ok()) {
      down_out_s = cfg->down_out_s ? cfg->down_out_s : static_cast<uint64_t>(o.down_out_s);
      if (cfg->recovery_mib_per_s != rate) {
        rate = cfg->recovery_mib_per_s;
        server.SetRecoveryRate(rate << 20);
        logging::Info("node", "recovery rate cap", {{"mib_per_s", rate}});
      }
      if (cfg->max_moves != max_moves) {
        max_moves = cfg->max_moves;
        server.SetMaxMoves(max_moves);
        logging::Info("node", "copies in and out at once", {{"max_moves", uint64_t{max_moves}}});
      }
    }
    // The ring's epoch, within a pass (2 s) of each change: a move waits 3 s
    // after it switches the ring before it counts on the new placement
    // (gateway/move.cc), so by then no node takes a change placed by the old.
    if (!placed) take_place();
    auto ring_now = cluster::LoadRing(*etcd);  // (after a join take_place made)
    if (ring_now.ok()) server.SetRingEpoch(ring_now->epoch);
    auto nodes = cluster::ListNodes(*etcd);
    if (!nodes.ok()) return true;
    std::string first;
    for (const cluster::NodeRecord& n : *nodes) {
      if (first.empty() || n.node.name < first) first = n.node.name;
    }
    if (first != name) return true;
    // Members down past the out time leave the ring by a move from their
    // surviving copies (one move at a time; the next pass retries).
    if (ring_now.ok() && !ring_now->moving()) {
      const auto t = std::chrono::steady_clock::now();
      std::vector<cluster::RingNode> staying;
      std::vector<std::string> out;
      for (const cluster::RingNode& m : ring_now->members) {
        const bool up = std::any_of(nodes->begin(), nodes->end(),
                                    [&](const cluster::NodeRecord& n) { return n.node.name == m.name; });
        if (up) {
          down_since.erase(m.name);
        } else if (!down_since.count(m.name)) {
          down_since[m.name] = t;
        } else if (t - down_since[m.name] >= std::chrono::seconds(down_out_s)) {
          out.push_back(m.name);
          continue;
        }
        staying.push_back(m);
      }
      if (!out.empty()) {
        auto started = gateway::StartMove(ctx, staying);
        logging::Warn(
            "move", "nodes down past the out time leave the ring",
            {{"nodes", out.size() == 1 ? out[0] : std::to_string(out.size()) + " nodes"},
             {"result", started.ok() ? "copies " + std::to_string(started->recorded) : started.status().ToString()}});
        if (started.ok())
          for (const std::string& n : out) down_since.erase(n);
      }
    }
    auto pass = driver.Pass();
    if (!pass.ok()) {
      logging::Warn("move", "pass failed", {{"error", pass.status().ToString()}});
    } else if (pass->moving && (pass->waiting != last_waiting || pass->repaired > 0)) {
      logging::Info("move", "progress",
                    {{"waiting", pass->waiting},
                     {"unverified", pass->unverified},
                     {"copied", pass->repaired},
                     {"bytes", pass->bytes},
                     {"held_by_gateways", pass->held_elsewhere},
                     {"error", pass->first_error.ToString()}});
      last_waiting = pass->waiting;
    }
    return true;
  });
  StrayCollector strays(ctx, name, o.stray_grace_s);
  Periodic collector(std::chrono::seconds(std::min(10, std::max(1, o.stray_grace_s / 3))), [&] {
    auto n = strays.Pass();
    if (!n.ok()) {
      logging::Warn("node", "stray copies not collected", {{"error", n.status().ToString()}});
    } else if (*n > 0) {
      logging::Info("node", "deleted copies the ring places elsewhere", {{"copies", *n}});
    }
    return true;
  });
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
