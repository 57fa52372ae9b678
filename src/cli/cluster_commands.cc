// vmstore cluster init | status and vmstore node serve | list | show: the
// cluster's records in etcd and the storage node daemon (docs/CLUSTER.md).
#include <unistd.h>

#include <cinttypes>
#include <cstdlib>
#include <map>
#include <optional>
#include <thread>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cluster/membership.h"
#include "cluster/miss_log.h"
#include "cluster/node_client.h"
#include "cluster/replica_check.h"
#include "gateway/cluster_manager.h"
#include "gateway/cluster_view.h"
#include "gateway/move.h"
#include "node/node_daemon.h"
#include "util/coding.h"

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

using gateway::ClusterView;
using gateway::NodeRow;

StatusOr<ClusterView> LoadView(const std::string& etcd_flag) {
  ASSIGN_OR_RETURN(auto e, Connect(etcd_flag));
  return gateway::LoadClusterView(*e);
}

// A subcommand callback running `body`, its error turned into the exit code.
std::function<void()> Running(Context* ctx, std::function<Status()> body) {
  return [ctx, body] {
    Status s = body();
    ctx->rc = s.ok() ? 0 : Fail(s);
  };
}

void AddClusterInit(CLI::App* cl, Context* ctx) {
  auto* c = cl->add_subcommand("init",
                               "Create the cluster's records in etcd (once)\n"
                               "  example: vmstore cluster init --etcd http://127.0.0.1:2379 --replicas 2");
  auto etcd = std::make_shared<std::string>();
  auto replicas = std::make_shared<int>(2);
  auto container_size = std::make_shared<std::string>("64M");
  c->add_option("--etcd", *etcd, "etcd endpoints, comma-separated (default: $VMSTORE_ETCD)");
  c->add_option("--replicas", *replicas, "Copies of every block, on distinct nodes (and zones): 1, 2 or 3 (default 2)");
  c->add_option("--container-size", *container_size,
                "Bytes per container, the unit of placement and of moves: a power of two, 1M to 1G (default 64M)");
  c->callback(Running(ctx, [=]() -> Status {
    ASSIGN_OR_RETURN(auto e, Connect(*etcd));
    ASSIGN_OR_RETURN(uint64_t bytes, ParseSize(*container_size));
    if (bytes % 4096 != 0 || bytes / 4096 > UINT32_MAX) {
      return InvalidArgument("--container-size " + *container_size + ": a power of two from 1M to 1G");
    }
    ASSIGN_OR_RETURN(cluster::ClusterRecord rec, cluster::InitCluster(*e, *replicas, Env::Default()->NowNanos(),
                                                                      static_cast<uint32_t>(bytes / 4096)));
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

// One look at the cluster, as `cluster status` prints it.
Status PrintClusterStatus(Context* ctx, const std::string& etcd_endpoints) {
  ASSIGN_OR_RETURN(ClusterView v, LoadView(etcd_endpoints));
  const cluster::ClusterRecord& rec = v.record;
  const cluster::RingRecord& ring = v.ring;
  if (ctx->json) {
    PrintJson(v.ToJson());
    return Status::OK();
  }
  Printf("cluster   %s\nreplicas  %d\nepoch     %" PRIu64
         "\nnodes     %d up, %d down, %d on the ring\n"
         "balance   %.2f (largest ring share / mean)\n",
         rec.uuid_text().c_str(), rec.replicas, ring.epoch, v.up, static_cast<int>(v.rows.size()) - v.up, v.on_ring,
         v.balance);
  if (ring.moving()) {
    Printf("moving    from the members of epoch %" PRIu64 ": %" PRIu64
           " copies to make on new owners (old copies kept until then)\n",
           ring.previous_epoch, v.waiting);
    if (const auto& move = v.move) {
      const uint64_t done = move->bytes - std::min(move->bytes, move->bytes_left);
      const double eta = move->eta_seconds();
      Printf("progress  %s of %s copied or verified (%.0f %%), %s/s, %s\n", Human(done).c_str(),
             Human(move->bytes).c_str(), move->bytes ? 100.0 * static_cast<double>(done) / move->bytes : 100.0,
             Human(static_cast<uint64_t>(move->rate())).c_str(),
             eta < 0 ? "time left unknown yet"
                     : ("about " + std::to_string(static_cast<uint64_t>(eta + 0.5)) + " s left").c_str());
    }
  }
  if (v.stale == 0) {
    Printf("replicas  healthy (no copy waiting for repair)\n");
  } else {
    Printf("replicas  degraded: %" PRIu64 " copies missed changes and wait for their gateway's repair\n", v.stale);
  }
  return Status::OK();
}

void AddClusterStatus(CLI::App* cl, Context* ctx) {
  auto* c = cl->add_subcommand("status",
                               "The cluster at a glance: nodes, ring epoch and balance, a move's progress\n"
                               "  example: vmstore cluster status --etcd http://127.0.0.1:2379 --watch");
  auto etcd = std::make_shared<std::string>();
  auto watch = std::make_shared<bool>(false);
  auto interval = std::make_shared<double>(2);
  auto count = std::make_shared<uint64_t>(0);
  c->add_option("--etcd", *etcd, "etcd endpoints, comma-separated (default: $VMSTORE_ETCD)");
  c->add_flag("--watch", *watch, "Redraw every --interval seconds until interrupted (or --count times)");
  c->add_option("--interval", *interval, "Seconds between redraws with --watch (0.2 to 3600; default 2)")
      ->check(CLI::Range(0.2, 3600.0));
  c->add_option("--count", *count, "With --watch: stop after this many looks (default 0: never)");
  c->callback(Running(ctx, [=]() -> Status {
    if (!*watch) return PrintClusterStatus(ctx, *etcd);
    const bool tty = ::isatty(STDOUT_FILENO) == 1;
    for (uint64_t n = 1;; ++n) {
      if (tty) Printf("\033[H\033[2J");  // redraw in place
      RETURN_IF_ERROR(PrintClusterStatus(ctx, *etcd));
      std::fflush(stdout);
      if (*count && n >= *count) return Status::OK();
      if (!tty && !ctx->json) Printf("\n");
      std::this_thread::sleep_for(std::chrono::duration<double>(*interval));
    }
  }));
}

void AddClusterFsck(CLI::App* cl, Context* ctx) {
  auto* c =
      cl->add_subcommand("fsck",
                         "Check every copy on the storage nodes: R copies of each container and pool file where the\n"
                         "ring says, each read whole and verified against its checksums, copies equal; strays listed.\n"
                         "Read-only, while gateways serve. Exit 2 on damage or copies short of R\n"
                         "  example: vmstore cluster fsck --etcd http://127.0.0.1:2379");
  auto etcd = std::make_shared<std::string>();
  auto repair = std::make_shared<bool>(false);
  c->add_option("--etcd", *etcd, "etcd endpoints, comma-separated (default: $VMSTORE_ETCD)");
  c->add_flag("--repair", *repair,
              "Record each damaged copy that has good copies beside it as stale: the gateway holding its SR\n"
              "then copies a good one over it (within seconds; `cluster status` says degraded until then)");
  c->callback([=] {
    auto run = [&]() -> StatusOr<int> {
      ASSIGN_OR_RETURN(auto e, Connect(*etcd));
      ASSIGN_OR_RETURN(cluster::ClusterRecord rec, cluster::LoadCluster(*e));
      ASSIGN_OR_RETURN(cluster::RingRecord ring_record, cluster::LoadRing(*e));
      const cluster::Ring ring = ring_record.ring();
      cluster::ReplicaCheckOptions o;
      o.ring = &ring;
      o.replicas = rec.replicas;
      ASSIGN_OR_RETURN(o.misses, cluster::LoadAllMisses(e.get()));
      std::vector<std::unique_ptr<cluster::NodeClient>> clients;
      for (const cluster::RingNode& n : ring.nodes()) {
        clients.push_back(std::make_unique<cluster::NodeClient>(
            n.address, ContainerGeometry{rec.uuid, rec.container_units}, std::chrono::seconds(5), 2, n.name));
        o.nodes[n.name] = clients.back().get();
      }
      ASSIGN_OR_RETURN(cluster::ReplicaReport r, cluster::CheckReplicas(o));
      size_t recorded = 0;
      if (*repair) {
        for (auto& [object, node] : r.repairable) {
          ASSIGN_OR_RETURN(uint64_t pool, cluster::PoolOfObject(object));
          RETURN_IF_ERROR(cluster::NewEtcdMissLog(e.get(), cluster::PoolMissPrefix(pool))->Record(object, node));
          ++recorded;
        }
      }
      const std::vector<std::pair<const char*, const std::vector<std::string>*>> problems = {
          {"unreachable", &r.unreachable},
          {"missing", &r.missing},
          {"damaged", &r.damaged},
          {"differ", &r.differ},
          {"degraded", &r.degraded}};
      size_t count = 0;
      for (auto& [name, list] : problems) count += list->size();
      if (ctx->json) {
        json j = {{"nodes", ring.nodes().size()},
                  {"containers", r.containers},
                  {"files", r.files},
                  {"copies_verified", r.copies_verified},
                  {"bytes_verified", r.bytes_verified},
                  {"strays", r.strays},
                  {"recorded_for_repair", recorded},
                  {"clean", r.clean()}};
        for (auto& [name, list] : problems) j[name] = *list;
        PrintJson(j);
      } else {
        Printf("%" PRIu64 " containers and %" PRIu64 " pool files on %zu nodes (R = %d): %" PRIu64
               " copies verified, %s read\n",
               r.containers, r.files, ring.nodes().size(), rec.replicas, r.copies_verified,
               Human(r.bytes_verified).c_str());
        for (auto& [name, list] : problems) {
          for (const std::string& p : *list) Printf("  %s: %s\n", name, p.c_str());
        }
        for (const std::string& p : r.strays) Printf("  stray: %s\n", p.c_str());
        if (*repair) {
          Printf("%zu damaged copies recorded for repair by the gateways holding their SRs\n", recorded);
        } else if (!r.repairable.empty()) {
          Printf(
              "%zu damaged copies have good copies beside them: `vmstore cluster fsck --repair` has them "
              "copied back\n",
              r.repairable.size());
        }
        if (r.clean()) {
          Printf("clean\n");
        } else {
          Printf("%zu problem(s) found\n", count);
        }
      }
      return r.clean() ? 0 : 2;
    };
    auto rc = run();
    ctx->rc = rc.ok() ? *rc : Fail(rc.status());
  });
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
  c->add_option("--down-out-seconds", o->down_out_s,
                "A ring member down this long is out: its data is copied again to the other nodes (default 600)")
      ->check(CLI::Range(5, 30 * 86400));
  c->add_option("--stray-grace-seconds", o->stray_grace_s,
                "Copies a finished move left here go once the ring has stayed still this long (default 30)")
      ->check(CLI::Range(1, 86400));
  auto reserve = std::make_shared<std::string>("0");
  c->add_option("--reserve", *reserve,
                "Space kept free for clients: copies from repairs and moves wait below it, and the node does not "
                "join a ring that would fill it (default 0: 5 % of the file system, at most 1G)");
  c->callback(Running(ctx, [=]() -> Status {
    node::NodeOptions opts = *o;
    ASSIGN_OR_RETURN(opts.reserve_bytes, ParseSize(*reserve));
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
      for (const NodeRow& r : rows) a.push_back(r.ToJson());
      PrintJson(a);
      return Status::OK();
    }
    Table t({"name", "address", "zone", "weight", "state", "containers", "bytes", "ring share"});
    for (const NodeRow& r : rows) {
      char share[32];
      std::snprintf(share, sizeof share, "%.1f%%", 100.0 * r.share);
      t.Add({r.node.name, r.node.address, r.node.zone.empty() ? "-" : r.node.zone, std::to_string(r.node.weight),
             r.state(), r.containers ? std::to_string(*r.containers) : "?", r.bytes ? Human(*r.bytes) : "?",
             r.on_ring ? share : "-"});
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
        PrintJson(r.ToJson());
      } else {
        Printf(
            "name        %s\naddress     %s\nzone        %s\nweight      %u\nstate       %s\n"
            "containers  %s\nbytes       %s\nstale       %" PRIu64 " (copies waiting for repair)\nring share  %.1f%%\n",
            r.node.name.c_str(), r.node.address.c_str(), r.node.zone.empty() ? "-" : r.node.zone.c_str(), r.node.weight,
            r.state().c_str(), r.containers ? std::to_string(*r.containers).c_str() : "?",
            r.bytes ? Human(*r.bytes).c_str() : "?", r.stale, 100.0 * r.share);
      }
      return Status::OK();
    }
    return NotFound("no node named or at '" + *which + "' (vmstore node list shows them)");
  }));
}

void AddClusterConfig(CLI::App* cl, Context* ctx) {
  auto* c =
      cl->add_subcommand("config",
                         "Settings the nodes follow at run time (within 2 s)\n"
                         "  example: vmstore cluster config --etcd http://127.0.0.1:2379 --recovery-mib-per-s 50");
  auto etcd = std::make_shared<std::string>();
  auto rate = std::make_shared<int64_t>(-1);
  auto moves = std::make_shared<int64_t>(-1);
  c->add_option("--etcd", *etcd, "etcd endpoints, comma-separated (default: $VMSTORE_ETCD)");
  c->add_option("--recovery-mib-per-s", *rate,
                "Cap on what repairs and moves write into each node, MiB/s (0: none); client writes are never held")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  c->add_option("--max-moves", *moves,
                "Copies (containers, pool files) each node serves out and takes in at once for repairs and moves\n"
                "(0: no limit; default 4); the others wait for their copier's next pass")
      ->check(CLI::Range(int64_t{0}, int64_t{1024}));
  auto out = std::make_shared<int64_t>(-1);
  c->add_option("--down-out-seconds", *out,
                "Seconds a node may stay down before its data is copied to the others (0: each node's\n"
                "--down-out-seconds, default 600)")
      ->check(CLI::Range(int64_t{0}, int64_t{30} * 86400));
  c->callback(Running(ctx, [=]() -> Status {
    ASSIGN_OR_RETURN(auto e, Connect(*etcd));
    ASSIGN_OR_RETURN(cluster::ClusterConfig cfg, cluster::LoadConfig(*e));
    if (*rate >= 0) cfg.recovery_mib_per_s = static_cast<uint64_t>(*rate);
    if (*moves >= 0) cfg.max_moves = static_cast<uint32_t>(*moves);
    if (*out >= 0) cfg.down_out_s = static_cast<uint64_t>(*out);
    if (*rate >= 0 || *moves >= 0 || *out >= 0) RETURN_IF_ERROR(cluster::PutConfig(*e, cfg));
    if (ctx->json) {
      PrintJson({{"recovery_mib_per_s", cfg.recovery_mib_per_s},
                 {"max_moves", cfg.max_moves},
                 {"down_out_seconds", cfg.down_out_s}});
      return Status::OK();
    }
    if (cfg.recovery_mib_per_s == 0) {
      Printf("recovery-mib-per-s  0 (no cap)\n");
    } else {
      Printf("recovery-mib-per-s  %" PRIu64 "\n", cfg.recovery_mib_per_s);
    }
    Printf("max-moves           %u%s\n", cfg.max_moves, cfg.max_moves ? "" : " (no limit)");
    if (cfg.down_out_s == 0) {
      Printf("down-out-seconds    0 (each node's --down-out-seconds)\n");
    } else {
      Printf("down-out-seconds    %" PRIu64 "\n", cfg.down_out_s);
    }
    return Status::OK();
  }));
}

// What starting or cancelling a move needs: etcd, the cluster, the ring.
StatusOr<std::shared_ptr<gateway::ClusterContext>> MoveContext(const std::string& etcd_flag) {
  auto g = std::make_shared<gateway::ClusterContext>();
  ASSIGN_OR_RETURN(g->etcd, Connect(etcd_flag));
  ASSIGN_OR_RETURN(g->cluster, cluster::LoadCluster(*g->etcd));
  ASSIGN_OR_RETURN(cluster::RingRecord ring, cluster::LoadRing(*g->etcd));
  g->ring = std::make_shared<cluster::RingView>(ring);
  g->holder = gateway::ProcessHolderName();
  return g;
}

void AddClusterCancelMove(CLI::App* cl, Context* ctx) {
  auto* c = cl->add_subcommand("cancel-move",
                               "Give up the move under way: the ring goes back to its previous members, which were\n"
                               "written all along (the copies made so far become strays)\n"
                               "  example: vmstore cluster cancel-move --etcd http://127.0.0.1:2379");
  auto etcd = std::make_shared<std::string>();
  c->add_option("--etcd", *etcd, "etcd endpoints, comma-separated (default: $VMSTORE_ETCD)");
  c->callback(Running(ctx, [=]() -> Status {
    ASSIGN_OR_RETURN(auto g, MoveContext(*etcd));
    ASSIGN_OR_RETURN(cluster::RingRecord now, gateway::CancelMove(g));
    Printf("move cancelled: the ring has its previous %zu members again (epoch %" PRIu64
           "); a joining node that still runs tries again - stop it first\n",
           now.members.size(), now.epoch);
    return Status::OK();
  }));
}

// `node drain` and `node remove`: a move of the data to the ring without NODE.
void AddNodeMoveOff(CLI::App* nd, Context* ctx, bool remove) {
  auto* c = nd->add_subcommand(
      remove ? "remove" : "drain",
      remove ? "Declare a dead node gone: its data is copied again from the surviving copies to the ring's\n"
               "new owners (it must be down; a live node is drained)\n"
               "  example: vmstore node remove node3 --etcd http://127.0.0.1:2379"
             : "Move every copy off a node (copy first, switch after; old copies kept until then); once\n"
               "`cluster status` no longer says moving, the node may stop\n"
               "  example: vmstore node drain node3 --etcd http://127.0.0.1:2379 --wait");
  auto etcd = std::make_shared<std::string>();
  auto which = std::make_shared<std::string>();
  auto wait = std::make_shared<bool>(false);
  auto timeout = std::make_shared<int>(3600);
  c->add_option("NODE", *which, "The node's name or HOST:PORT")->required();
  c->add_option("--etcd", *etcd, "etcd endpoints, comma-separated (default: $VMSTORE_ETCD)");
  c->add_flag("--wait", *wait, "Return when the move has finished (progress on stderr)");
  c->add_option("--timeout", *timeout, "With --wait: give up waiting after this many seconds (default 3600)");
  c->callback(Running(ctx, [=]() -> Status {
    ASSIGN_OR_RETURN(auto g, MoveContext(*etcd));
    const cluster::RingRecord ring = g->ring->Get()->record;
    std::vector<cluster::RingNode> members;
    std::string name;
    for (const cluster::RingNode& m : ring.members) {
      if (m.name == *which || m.address == *which) {
        name = m.name;
      } else {
        members.push_back(m);
      }
    }
    if (name.empty()) return NotFound("no node named or at '" + *which + "' on the ring (vmstore node list)");
    ASSIGN_OR_RETURN(auto live, cluster::ListNodes(*g->etcd));
    const bool up =
        std::any_of(live.begin(), live.end(), [&](const cluster::NodeRecord& n) { return n.node.name == name; });
    if (remove && up) {
      return FailedPrecondition("node " + name + " is up; move its data off with: vmstore node drain " + name);
    }
    ASSIGN_OR_RETURN(gateway::MoveStart m, gateway::StartMove(g, members));
    if (ctx->json && !*wait) {
      PrintJson({{"node", name}, {"epoch", m.ring.epoch}, {"objects", m.moving}, {"copies", m.recorded}});
      return Status::OK();
    }
    if (!ctx->json) {
      Printf("%s %s: %" PRIu64 " objects move, %" PRIu64 " copies to make (ring epoch %" PRIu64
             "); the storage nodes copy them, `vmstore cluster status` shows progress\n",
             remove ? "removing" : "draining", name.c_str(), m.moving, m.recorded, m.ring.epoch);
    }
    if (!*wait) return Status::OK();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(*timeout);
    for (;;) {
      ASSIGN_OR_RETURN(cluster::RingRecord now, cluster::LoadRing(*g->etcd));
      if (!now.moving()) break;
      if (std::chrono::steady_clock::now() > deadline) {
        return FailedPrecondition("still moving after " + std::to_string(*timeout) +
                                  " s (the move goes on; `vmstore cluster status` shows it)");
      }
      ASSIGN_OR_RETURN(auto misses, cluster::LoadAllMisses(g->etcd.get()));
      std::fprintf(stderr, "moving: %" PRIu64 " copies to make\n",
                   gateway::WaitingCopies(now, g->cluster.replicas, misses));
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    if (ctx->json) {
      PrintJson({{"node", name}, {"objects", m.moving}, {"copies", m.recorded}, {"finished", true}});
    } else {
      Printf("%s is off the ring: every copy it held has a verified replacement\n", name.c_str());
    }
    return Status::OK();
  }));
}

}  // namespace

void AddClusterCommands(CLI::App& app, Context* ctx) {
  auto* cl = app.add_subcommand("cluster", "The cluster's records in etcd (docs/CLUSTER.md)");
  cl->require_subcommand(1);
  AddClusterInit(cl, ctx);
  AddClusterStatus(cl, ctx);
  AddClusterFsck(cl, ctx);
  AddClusterConfig(cl, ctx);
  AddClusterCancelMove(cl, ctx);
  auto* nd = app.add_subcommand("node", "Storage nodes of the cluster");
  nd->require_subcommand(1);
  AddNodeServe(nd, ctx);
  AddNodeList(nd, ctx);
  AddNodeShow(nd, ctx);
  AddNodeMoveOff(nd, ctx, /*remove=*/false);
  AddNodeMoveOff(nd, ctx, /*remove=*/true);
}

}  // namespace vmstore::cli
