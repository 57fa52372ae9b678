// vmstore status (the pool at a glance) and vmstore metrics (Prometheus text).
#include <cinttypes>

#include "cli/commands.h"
#include "metrics/pool_metrics.h"
#include "vmstore/env.h"

namespace vmstore::cli {

namespace {

using json = nlohmann::json;

std::string Ratio(double r) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fx", r);
  return buf;
}

std::string Percent(uint64_t part, uint64_t whole) {
  if (whole == 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
  return buf;
}

std::string Duration(int64_t seconds) {
  char buf[64];
  if (seconds < 3600) {
    std::snprintf(buf, sizeof buf, "%" PRId64 "m%02" PRId64 "s", seconds / 60, seconds % 60);
  } else if (seconds < 86400) {
    std::snprintf(buf, sizeof buf, "%" PRId64 "h%02" PRId64 "m", seconds / 3600, seconds / 60 % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%" PRId64 "d%02" PRId64 "h", seconds / 86400, seconds / 3600 % 24);
  }
  return buf;
}

// The SR table: space, deduplication and the node cache for native SRs.
Status SrSection(Manager& m, json* out, Table* t, std::vector<std::string>* unavailable) {
  ASSIGN_OR_RETURN(auto figures, metrics::CollectSrFigures(m));
  for (const metrics::SrFigures& f : figures) {
    const SrInfo& sr = f.sr;
    json j = ToJson(sr);
    std::vector<std::string> row = {sr.name, sr.type,    std::to_string(sr.vdis), "-", "-", "-", "-", "-", "-",
                                    "-",     sr.location};
    if (f.fs) {
      j["fs_total_bytes"] = f.fs->total;
      j["fs_available_bytes"] = f.fs->available;
      row[6] = Human(f.fs->available);
    }
    if (!f.up()) {
      j["error"] = f.error.ToString();
      row[3] = "UNAVAILABLE";
      unavailable->push_back("SR " + sr.name + " is unavailable: " + f.error.ToString());
    } else if (f.stats) {
      const PoolStats& st = *f.stats;
      const double ratio = st.dedup_stats.ratio();
      j["live_bytes"] = st.live_bytes;
      j["data_bytes"] = st.data_bytes;
      j["physical_bytes"] = st.physical_bytes;
      j["cluster_size"] = st.cluster_size;
      j["generation"] = st.generation;
      j["dedup"] = DedupModeName(st.dedup);
      j["dedup_saved_bytes"] = st.dedup_stats.hit_bytes;
      j["dedup_ratio"] = ratio;
      j["node_cache"] = {
          {"hits", st.node_cache_hits}, {"misses", st.node_cache_misses}, {"nodes", st.node_cache_nodes}};
      row[3] = Human(st.live_bytes);
      row[4] = Human(st.data_bytes);
      row[5] = Human(st.physical_bytes);
      row[7] = Human(st.cluster_size);
      row[8] = st.dedup == DedupMode::kOff ? "off" : std::string(DedupModeName(st.dedup)) + " " + Ratio(ratio);
      row[9] = Percent(st.node_cache_hits, st.node_cache_hits + st.node_cache_misses);
    }
    out->push_back(j);
    t->Add(row);
  }
  return Status::OK();
}

}  // namespace

Status PrintPoolStatus(Manager& m, bool as_json, const ServeHooks* hooks) {
  json jsrs = json::array();
  Table t({"sr", "type", "vdis", "live", "data", "physical", "fs free", "cluster", "dedup", "cache hits", "location"});
  std::vector<std::string> unavailable;
  RETURN_IF_ERROR(SrSection(m, &jsrs, &t, &unavailable));
  ASSIGN_OR_RETURN(auto vms, m.SummarizeVms());
  uint64_t deleted = 0, snapshots = 0, snapshots_deleted = 0, disks = 0, with_policy = 0;
  const VmSummary* newest = nullptr;
  for (const VmSummary& v : vms) {
    deleted += v.deleted;
    snapshots += v.snapshots;
    snapshots_deleted += v.deleted_snapshots;
    disks += v.disks;
    if (v.snapshots && (!newest || v.newest_snapshot_ns > newest->newest_snapshot_ns)) newest = &v;
    if (!v.deleted) {
      ASSIGN_OR_RETURN(policy::Policy p, policy::GetPolicy(m, v.name));
      with_policy += !p.schedules.empty();
    }
  }
  json server;
  std::string server_line;
  if (hooks && hooks->server_view) {
    metrics::ServerView view = hooks->server_view();
    uint64_t open = 0;
    std::vector<std::string> open_exports;
    if (view.exports) {
      for (const auto& [name, s] : view.exports->Snapshot()) {
        open += s.open_connections;
        if (s.open_connections) open_exports.push_back(name);
      }
    }
    const int64_t up_s = (Env::Default()->NowNanos() - view.started_ns) / 1000000000;
    server = {{"uptime_seconds", up_s},
              {"nbd_connections_open", open},
              {"open_exports", open_exports},
              {"nbd_connections", view.nbd.connections},
              {"nbd_requests", view.nbd.requests},
              {"nbd_errors", view.nbd.errors},
              {"nbd_refused", view.nbd.refused},
              {"policy_snapshots_created", view.policy.created},
              {"policy_snapshots_deleted", view.policy.deleted},
              {"policy_errors", view.policy.errors}};
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "server: up %s; NBD: %" PRIu64 " connections open on %zu exports, %" PRIu64 " requests, %" PRIu64
                  " errors, %" PRIu64 " refused; policies: %" PRIu64 " snapshots taken, %" PRIu64 " pruned, %" PRIu64
                  " errors\n",
                  Duration(up_s).c_str(), open, open_exports.size(), view.nbd.requests, view.nbd.errors,
                  view.nbd.refused, view.policy.created, view.policy.deleted, view.policy.errors);
    server_line = buf;
  }
  if (as_json) {
    json j = {{"srs", jsrs},
              {"vms", vms.size() - deleted},
              {"vms_deleted", deleted},
              {"disks", disks},
              {"snapshots", snapshots},
              {"snapshots_deleted", snapshots_deleted},
              {"vms_with_policy", with_policy}};
    if (newest) {
      j["newest_snapshot"] = {{"snapshot", newest->name + "@" + newest->newest_snapshot},
                              {"created", IsoTime(newest->newest_snapshot_ns)}};
    }
    if (!server.is_null()) j["server"] = server;
    PrintJson(j);
    return Status::OK();
  }
  t.Print();
  for (const std::string& u : unavailable) Printf("%s\n", u.c_str());
  Printf("\n%zu VMs (%" PRIu64 " marked deleted), %" PRIu64 " disks, %" PRIu64 " snapshots (%" PRIu64
         " marked deleted)\n",
         static_cast<size_t>(vms.size() - deleted), deleted, disks, snapshots, snapshots_deleted);
  if (newest) {
    Printf("newest snapshot: %s@%s\n", newest->name.c_str(), newest->newest_snapshot.c_str());
  }
  Printf("snapshot policies: %" PRIu64 " VMs\n", with_policy);
  if (!server_line.empty()) Printf("%s", server_line.c_str());
  return Status::OK();
}

StatusOr<std::string> MetricsText(Manager& m, const ServeHooks* hooks) {
  std::optional<metrics::ServerView> view;
  if (hooks && hooks->server_view) view = hooks->server_view();
  return metrics::RenderMetrics(m, view ? &*view : nullptr);
}

void AddMonitorCommands(CLI::App& app, Context* ctx) {
  app.add_subcommand("status",
                     "Show the pool: SRs with their space, deduplication and cache figures, object counts,\n"
                     "and, when it is being served, the server's connections and requests\n"
                     "  example: vmstore --pool /srv/vmstore status")
      ->callback(WithManager(ctx, [=](Manager& m) { return PrintPoolStatus(m, ctx->json, ctx->hooks); }));
  app.add_subcommand("metrics",
                     "Print the metrics in the Prometheus text format (what GET /metrics answers); with a\n"
                     "server running, its NBD counters and latency histograms as well (docs/MONITORING.md)\n"
                     "  example: vmstore --pool /srv/vmstore metrics > /var/lib/node_exporter/vmstore.prom")
      ->callback(WithManager(ctx, [=](Manager& m) -> Status {
        ASSIGN_OR_RETURN(std::string text, MetricsText(m, ctx->hooks));
        Printf("%s", text.c_str());
        return Status::OK();
      }));
}

}  // namespace vmstore::cli
