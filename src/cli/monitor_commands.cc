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

}  // namespace

Status PrintPoolStatus(Manager& m, bool as_json, const server::Hooks* hooks) {
  ASSIGN_OR_RETURN(json j, server::PoolStatus(m, hooks, Env::Default()));
  if (as_json) {
    PrintJson(j);
    return Status::OK();
  }
  auto u = [](const json& o, const char* k) { return o[k].get<uint64_t>(); };
  // The SR table: space, deduplication and the node cache for native SRs.
  Table t({"sr", "type", "vdis", "live", "data", "physical", "fs free", "cluster", "dedup", "cache hits", "location"});
  std::vector<std::string> unavailable;
  for (const json& sr : j["srs"]) {
    const std::string name = sr["name"];
    std::vector<std::string> row = {name, sr["type"],    std::to_string(u(sr, "vdis")), "-", "-", "-", "-", "-", "-",
                                    "-",  sr["location"]};
    if (sr.contains("fs_available_bytes")) row[6] = Human(u(sr, "fs_available_bytes"));
    if (sr.contains("error")) {
      row[3] = "UNAVAILABLE";
      unavailable.push_back("SR " + name + " is unavailable: " + sr["error"].get<std::string>());
    } else if (sr.contains("live_bytes")) {
      const std::string dedup = sr["dedup"];
      const json& cache = sr["node_cache"];
      row[3] = Human(u(sr, "live_bytes"));
      row[4] = Human(u(sr, "data_bytes"));
      row[5] = Human(u(sr, "physical_bytes"));
      row[7] = Human(u(sr, "cluster_size"));
      row[8] = dedup == "off" ? "off" : dedup + " " + Ratio(sr["dedup_ratio"].get<double>());
      row[9] = Percent(u(cache, "hits"), u(cache, "hits") + u(cache, "misses"));
    }
    t.Add(row);
  }
  t.Print();
  for (const std::string& line : unavailable) Printf("%s\n", line.c_str());
  Printf("\n%" PRIu64 " VMs (%" PRIu64 " marked deleted), %" PRIu64 " disks, %" PRIu64 " snapshots (%" PRIu64
         " marked deleted)\n",
         u(j, "vms"), u(j, "vms_deleted"), u(j, "disks"), u(j, "snapshots"), u(j, "snapshots_deleted"));
  if (j.contains("newest_snapshot")) {
    Printf("newest snapshot: %s\n", j["newest_snapshot"]["snapshot"].get<std::string>().c_str());
  }
  Printf("snapshot policies: %" PRIu64 " VMs\n", u(j, "vms_with_policy"));
  if (j.contains("server")) {
    const json& v = j["server"];
    Printf("server: up %s; NBD: %" PRIu64 " connections open on %zu exports, %" PRIu64 " requests, %" PRIu64
           " errors, %" PRIu64 " refused; policies: %" PRIu64 " snapshots taken, %" PRIu64 " pruned, %" PRIu64
           " errors\n",
           Duration(v["uptime_seconds"].get<int64_t>()).c_str(), u(v, "nbd_connections_open"), v["open_exports"].size(),
           u(v, "nbd_requests"), u(v, "nbd_errors"), u(v, "nbd_refused"), u(v, "policy_snapshots_created"),
           u(v, "policy_snapshots_deleted"), u(v, "policy_errors"));
  }
  return Status::OK();
}

StatusOr<std::string> MetricsText(Manager& m, const server::Hooks* hooks) {
  std::optional<metrics::ServerView> view;
  if (hooks && hooks->server_view) view = hooks->server_view();
  return metrics::RenderMetrics(m, view ? &*view : nullptr, Env::Default());
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
