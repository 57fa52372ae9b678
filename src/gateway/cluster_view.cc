#include "gateway/cluster_view.h"

#include <algorithm>
#include <chrono>

#include "cluster/miss_log.h"
#include "cluster/node_client.h"
#include "gateway/move.h"
#include "util/coding.h"
#include "util/mutex.h"
#include "util/steady_clock.h"

namespace vmstore::gateway {

namespace {

using json = nlohmann::json;

// Each member's share of the replicas of 65,536 sampled containers.
std::map<std::string, double> RingShares(const cluster::Ring& ring, int replicas) {
  std::map<std::string, double> share;
  for (const cluster::RingNode& n : ring.nodes()) share[n.name] = 0;
  const int samples = 65536;
  for (int i = 1; i <= samples; ++i) {
    for (const cluster::RingNode* n :
         ring.Place(static_cast<uint64_t>(i) * 2654435761u % ((1ull << 33) - 1) + 1, replicas)) {
      share[n->name] += 1.0 / samples;
    }
  }
  return share;
}

// What a node holds, asked of it directly (no answer: unknown).
void AskNode(const cluster::ClusterRecord& c, NodeRow* r) {
  cluster::NodeClient client(r->node.address, ContainerGeometry{c.uuid, c.container_units}, std::chrono::seconds(2), 1,
                             r->node.name);
  auto list = client.Call(cluster::MakeRequest(cluster::ContainerOp::kList, 0, 0, 0));
  if (list.ok()) r->containers = list->size() / 8;
  auto stat = client.Call(cluster::MakeRequest(cluster::ContainerOp::kStat, 0, 0, 0));
  if (stat.ok() && stat->size() == 8) r->bytes = internal::GetU64(stat->data());
}

}  // namespace

json NodeRow::ToJson() const {
  auto opt = [](const std::optional<uint64_t>& v) { return v ? json(*v) : json(nullptr); };
  return {{"name", node.name},     {"address", node.address}, {"zone", node.zone},
          {"weight", node.weight}, {"state", state()},        {"stale_objects", stale},
          {"on_ring", on_ring},    {"ring_share", share},     {"containers", opt(containers)},
          {"bytes", opt(bytes)}};
}

json ClusterView::ToJson() const {
  json nodes = json::array();
  for (const NodeRow& r : rows) nodes.push_back(r.ToJson());
  json moving = nullptr;
  if (ring.moving()) {
    moving = {{"from_epoch", ring.previous_epoch}, {"copies_waiting", waiting}};
    if (move) {
      moving["bytes_total"] = move->bytes;
      moving["bytes_left"] = move->bytes_left;
      moving["bytes_per_s"] = move->rate();
      moving["eta_s"] = move->eta_seconds();
      moving["started_ns"] = move->started_ns;
      moving["updated_ns"] = move->updated_ns;
    }
  }
  return {{"uuid", record.uuid_text()},
          {"replicas", record.replicas},
          {"epoch", ring.epoch},
          {"nodes_up", up},
          {"nodes_down", static_cast<int>(rows.size()) - up},
          {"ring_balance", balance},
          {"stale_copies", stale},
          {"moving", moving},
          {"nodes", nodes}};
}

StatusOr<ClusterView> LoadClusterView(cluster::Etcd& etcd) {
  ClusterView v;
  ASSIGN_OR_RETURN(v.record, cluster::LoadCluster(etcd));
  ASSIGN_OR_RETURN(v.ring, cluster::LoadRing(etcd));
  ASSIGN_OR_RETURN(auto live, cluster::ListNodes(etcd));
  ASSIGN_OR_RETURN(auto misses, cluster::LoadAllMisses(&etcd));
  // The ring's members and every registered node, joined by name.
  std::map<std::string, NodeRow> rows;
  const auto shares = RingShares(v.ring.ring(), v.record.replicas);
  for (const cluster::RingNode& m : v.ring.members) {
    NodeRow& r = rows[m.name];
    r.node = m;
    r.on_ring = true;
    r.share = shares.at(m.name);
  }
  for (const cluster::NodeRecord& n : live) {
    NodeRow& r = rows[n.node.name];
    if (!r.on_ring) r.node = n.node;
    r.up = true;
  }
  for (auto& [object, nodes] : misses) {
    for (const std::string& n : nodes) {
      if (auto it = rows.find(n); it != rows.end()) ++it->second.stale;
    }
  }
  double max_share = 0, sum_share = 0;
  for (auto& [name, r] : rows) {
    if (r.up) AskNode(v.record, &r);
    v.up += r.up;
    v.stale += r.stale;
    v.on_ring += r.on_ring;
    max_share = std::max(max_share, r.share);
    sum_share += r.share;
    v.rows.push_back(r);
  }
  v.balance = v.on_ring ? max_share / (sum_share / v.on_ring) : 0;
  v.waiting = WaitingCopies(v.ring, v.record.replicas, misses);
  v.stale -= std::min(v.stale, v.waiting);  // those are the move's, shown on their own
  if (v.ring.moving()) {
    if (auto m = cluster::LoadMove(etcd); m.ok() && m->epoch == v.ring.epoch) v.move = *m;
  }
  return v;
}

std::function<StatusOr<std::string>()> CachedClusterStatus(std::string endpoints, int64_t max_age_ms) {
  struct Cache {
    Mutex mu;  // held through a load: one at a time
    int64_t at_ns GUARDED_BY(mu) = 0;
    std::optional<StatusOr<std::string>> last GUARDED_BY(mu);
  };
  auto cache = std::make_shared<Cache>();
  return [cache, endpoints = std::move(endpoints), max_age_ms]() -> StatusOr<std::string> {
    MutexLock l(&cache->mu);
    if (cache->last && internal::SteadyNowNs() - cache->at_ns < max_age_ms * 1000000) return *cache->last;
    auto load = [&]() -> StatusOr<std::string> {
      ASSIGN_OR_RETURN(auto e, cluster::ConnectEtcd(endpoints));
      ASSIGN_OR_RETURN(ClusterView v, LoadClusterView(*e));
      return v.ToJson().dump();
    };
    cache->last = load();
    cache->at_ns = internal::SteadyNowNs();
    return *cache->last;
  };
}

}  // namespace vmstore::gateway
