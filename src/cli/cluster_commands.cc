// vmstore cluster init | status and vmstore node serve | list | show: the
// cluster's records in etcd and the storage node daemon (docs/CLUSTER.md).
#include <cinttypes>
#include <cstdlib>
#include <map>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cluster/membership.h"
#include "node/node_daemon.h"

namespace vmstore::cli {

namespace {

using json = nlohmann::json;

// --etcd, else $VMSTORE_ETCD.
StatusOr<std::string> EtcdEndpoints(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* e = std::getenv("VMSTORE_ETCD");
  if (e && *e) return std::string(e);
  return InvalidArgument("no etcd given: --etcd http://HOST:PORT[,...] or VMSTORE_ETCD");
}

StatusOr<std::unique_ptr<cluster::Etcd>> Connect(const std::string& flag) {
  ASSIGN_OR_RETURN(std::string endpoints, EtcdEndpoints(flag));
  return cluster::ConnectEtcd(endpoints);
}

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

struct NodeRow {
  cluster::RingNode node;
  bool on_ring = false, up = false;
  double share = 0;
};

// The ring's members and every registered node, joined by name.
StatusOr<std::vector<NodeRow>> NodeRows(cluster::Etcd& etcd, const cluster::ClusterRecord& c,
                                        cluster::RingRecord* ring) {
  ASSIGN_OR_RETURN(*ring, cluster::LoadRing(etcd));
  ASSIGN_OR_RETURN(auto live, cluster::ListNodes(etcd));
  std::map<std::string, NodeRow> rows;
  const auto shares = RingShares(ring->ring(), c.replicas);
  for (const cluster::RingNode& m : ring->members) rows[m.name] = {m, true, false, shares.at(m.name)};
  for (const cluster::NodeRecord& n : live) {
    NodeRow& r = rows[n.node.name];
    if (!r.on_ring) r.node = n.node;
    r.up = true;
  }
  std::vector<NodeRow> out;
  for (auto& [name, r] : rows) out.push_back(r);
  return out;
}

// What status, list and show read: the cluster, its ring and its nodes.
struct ClusterView {
  cluster::ClusterRecord record;
  cluster::RingRecord ring;
  std::vector<NodeRow> rows;
};
StatusOr<ClusterView> LoadView(const std::string& etcd_flag) {
  ASSIGN_OR_RETURN(auto e, Connect(etcd_flag));
  ClusterView v;
  ASSIGN_OR_RETURN(v.record, cluster::LoadCluster(*e));
  ASSIGN_OR_RETURN(v.rows, NodeRows(*e, v.record, &v.ring));
  return v;
}

// A subcommand callback running `body`, its error turned into the exit code.
std::function<void()> Running(Context* ctx, std::function<Status()> body) {
  return [ctx, body] {
    Status s = body();
    ctx->rc = s.ok() ? 0 : Fail(s);
  };
}

json RowJson(const NodeRow& r) {
  return {{"name", r.node.name},     {"address", r.node.address},     {"zone", r.node.zone},
          {"weight", r.node.weight}, {"state", r.up ? "up" : "down"}, {"on_ring", r.on_ring},
          {"ring_share", r.share}};
}

void AddClusterInit(CLI::App* cl, Context* ctx) {
  auto* c = cl->add_subcommand("init",
                               "Create the cluster's records in etcd (once)\n"
                               "  example: vmstore cluster init --etcd http://127.0.0.1:2379 --replicas 2");
  auto etcd = std::make_shared<std::string>();
  auto replicas = std::make_shared<int>(2);
  c->add_option("--etcd", *etcd, "etcd endpoints, comma-separated (default: $VMSTORE_ETCD)");
  c->add_option("--replicas", *replicas, "Copies of every block, on distinct nodes (and zones): 1, 2 or 3 (default 2)");
  c->callback(Running(ctx, [=]() -> Status {
    ASSIGN_OR_RETURN(auto e, Connect(*etcd));
    ASSIGN_OR_RETURN(cluster::ClusterRecord rec, cluster::InitCluster(*e, *replicas, Env::Default()->NowNanos()));
    if (ctx->json) {
      PrintJson({{"uuid", rec.uuid_text()}, {"replicas", rec.replicas}, {"container_units", rec.container_units}});
    } else {
      Printf(
          "created cluster %s (%d replicas); start nodes with: vmstore node serve --etcd URL --listen HOST:PORT "
          "--data DIR\n",
          rec.uuid_text().c_str(), rec.replicas);
    }
    return Status::OK();
  }));
}

void AddClusterStatus(CLI::App* cl, Context* ctx) {
  auto* c = cl->add_subcommand("status",
                               "The cluster at a glance: nodes, ring epoch and balance\n"
                               "  example: vmstore cluster status --etcd http://127.0.0.1:2379");
  auto etcd = std::make_shared<std::string>();
  c->add_option("--etcd", *etcd, "etcd endpoints, comma-separated (default: $VMSTORE_ETCD)");
  c->callback(Running(ctx, [=]() -> Status {
    ASSIGN_OR_RETURN(ClusterView v, LoadView(*etcd));
    const cluster::ClusterRecord& rec = v.record;
    const cluster::RingRecord& ring = v.ring;
    const std::vector<NodeRow>& rows = v.rows;
    int up = 0, on_ring = 0;
    double max_share = 0, sum_share = 0;
    for (const NodeRow& r : rows) {
      up += r.up;
      on_ring += r.on_ring;
      max_share = std::max(max_share, r.share);
      sum_share += r.share;
    }
    const double balance = on_ring ? max_share / (sum_share / on_ring) : 0;
    if (ctx->json) {
      json nodes = json::array();
      for (const NodeRow& r : rows) nodes.push_back(RowJson(r));
      PrintJson({{"uuid", rec.uuid_text()},
                 {"replicas", rec.replicas},
                 {"epoch", ring.epoch},
                 {"nodes_up", up},
                 {"nodes_down", static_cast<int>(rows.size()) - up},
                 {"ring_balance", balance},
                 {"nodes", nodes}});
      return Status::OK();
    }
    Printf("cluster   %s\nreplicas  %d\nepoch     %" PRIu64
           "\nnodes     %d up, %d down, %d on the ring\n"
           "balance   %.2f (largest ring share / mean)\n",
           rec.uuid_text().c_str(), rec.replicas, ring.epoch, up, static_cast<int>(rows.size()) - up, on_ring, balance);
    return Status::OK();
  }));
}

void AddNodeServe(CLI::App* nd, Context* ctx) {
  auto* c = nd->add_subcommand("serve",
                               "Run a storage node: serve its containers and register in the cluster until SIGTERM\n"
                               "  example: vmstore node serve --etcd http://10.0.0.1:2379 --listen 10.0.0.5:7000 "
                               "--data /srv/vmstore-node --zone rack1");
  auto o = std::make_shared<node::NodeOptions>();
  o->listen = "127.0.0.1:7000";
  c->add_option("--etcd", o->etcd, "etcd endpoints, comma-separated (default: $VMSTORE_ETCD)");
  c->add_option("--listen", o->listen, "HOST:PORT the gateways reach (default 127.0.0.1:7000)");
  c->add_option("--data", o->data_dir, "Directory of the node's containers (made 0700)")->required();
  c->add_option("--name", o->name, "The node's name (default: the host name)");
  c->add_option("--zone", o->zone, "Failure zone (rack, room): replicas go to distinct zones");
  c->add_option("--weight", o->weight, "Share of the ring, in units (default 1; 0 holds nothing)")
      ->check(CLI::Range(0, 1000));
  c->add_option("--lease-ttl", o->lease_ttl_s,
                "Seconds after which a node that stopped answering etcd counts as down (default 10)")
      ->check(CLI::Range(2, 600));
  c->callback(Running(ctx, [=]() -> Status {
    node::NodeOptions opts = *o;
    ASSIGN_OR_RETURN(opts.etcd, EtcdEndpoints(o->etcd));
    return node::RunNode(opts);
  }));
}

void AddNodeList(CLI::App* nd, Context* ctx) {
  auto* c = nd->add_subcommand("list",
                               "The storage nodes: address, zone, weight, state, ring share\n"
                               "  example: vmstore node list --etcd http://127.0.0.1:2379");
  auto etcd = std::make_shared<std::string>();
  c->add_option("--etcd", *etcd, "etcd endpoints, comma-separated (default: $VMSTORE_ETCD)");
  c->callback(Running(ctx, [=]() -> Status {
    ASSIGN_OR_RETURN(ClusterView v, LoadView(*etcd));
    const std::vector<NodeRow>& rows = v.rows;
    if (ctx->json) {
      json a = json::array();
      for (const NodeRow& r : rows) a.push_back(RowJson(r));
      PrintJson(a);
      return Status::OK();
    }
    Table t({"name", "address", "zone", "weight", "state", "ring share"});
    for (const NodeRow& r : rows) {
      char share[32];
      std::snprintf(share, sizeof share, "%.1f%%", 100.0 * r.share);
      t.Add({r.node.name, r.node.address, r.node.zone.empty() ? "-" : r.node.zone, std::to_string(r.node.weight),
             r.up ? "up" : "down", r.on_ring ? share : "-"});
    }
    t.Print();
    return Status::OK();
  }));
}

void AddNodeShow(CLI::App* nd, Context* ctx) {
  auto* c = nd->add_subcommand("show",
                               "One storage node, by name or address\n"
                               "  example: vmstore node show node1 --etcd http://127.0.0.1:2379");
  auto etcd = std::make_shared<std::string>();
  auto which = std::make_shared<std::string>();
  c->add_option("NODE", *which, "The node's name or HOST:PORT")->required();
  c->add_option("--etcd", *etcd, "etcd endpoints, comma-separated (default: $VMSTORE_ETCD)");
  c->callback(Running(ctx, [=]() -> Status {
    ASSIGN_OR_RETURN(ClusterView v, LoadView(*etcd));
    const std::vector<NodeRow>& rows = v.rows;
    for (const NodeRow& r : rows) {
      if (r.node.name != *which && r.node.address != *which) continue;
      if (ctx->json) {
        PrintJson(RowJson(r));
      } else {
        Printf("name        %s\naddress     %s\nzone        %s\nweight      %u\nstate       %s\nring share  %.1f%%\n",
               r.node.name.c_str(), r.node.address.c_str(), r.node.zone.empty() ? "-" : r.node.zone.c_str(),
               r.node.weight, r.up ? "up" : "down", 100.0 * r.share);
      }
      return Status::OK();
    }
    return NotFound("no node named or at '" + *which + "' (vmstore node list shows them)");
  }));
}

}  // namespace

void AddClusterCommands(CLI::App& app, Context* ctx) {
  auto* cl = app.add_subcommand("cluster", "The cluster's records in etcd (docs/CLUSTER.md)");
  cl->require_subcommand(1);
  AddClusterInit(cl, ctx);
  AddClusterStatus(cl, ctx);
  auto* nd = app.add_subcommand("node", "Storage nodes of the cluster");
  nd->require_subcommand(1);
  AddNodeServe(nd, ctx);
  AddNodeList(nd, ctx);
  AddNodeShow(nd, ctx);
}

}  // namespace vmstore::cli
