#include "server/views.h"

#include "metrics/pool_metrics.h"
#include "policy/policy.h"
#include "util/units.h"

namespace vmstore::server {

using json = nlohmann::json;

json ToJson(const SrInfo& s) {
  return {{"uuid", s.uuid},
          {"name", s.name},
          {"type", s.type},
          {"location", s.location},
          {"created", IsoTime(s.created_ns)},
          {"vdis", s.vdis}};
}

json ToJson(const DiskInfo& d) {
  return {{"vm", d.vm},
          {"name", d.name},
          {"vdi_uuid", d.vdi_uuid},
          {"vbd_uuid", d.vbd_uuid},
          {"sr", d.sr},
          {"device", d.device},
          {"size", d.size},
          {"referenced", d.space_known ? json(d.referenced) : json(nullptr)},
          {"exclusive", d.space_known ? json(d.exclusive) : json(nullptr)},
          {"clone_of", d.clone_of.empty() ? json(nullptr) : json(d.clone_of)}};
}

json ToJson(const VmInfo& v) {
  json disks = json::array();
  for (const DiskInfo& d : v.disks) disks.push_back(ToJson(d));
  return {{"uuid", v.uuid},
          {"name", v.name},
          {"created", IsoTime(v.created_ns)},
          {"is_deleted", v.deleted},
          {"parent", v.parent.empty() ? json(nullptr) : json(v.parent)},
          {"snapshots", v.snapshots},
          {"disks", disks}};
}

json ToJson(const SnapshotInfo& s) {
  json disks = json::array();
  for (const auto& d : s.disks) {
    disks.push_back({{"name", d.name},
                     {"vdi_uuid", d.vdi_uuid},
                     {"sr", d.sr},
                     {"size", d.size},
                     {"referenced", d.space_known ? json(d.referenced) : json(nullptr)},
                     {"exclusive", d.space_known ? json(d.exclusive) : json(nullptr)}});
  }
  return {{"uuid", s.uuid},
          {"vm", s.vm},
          {"name", s.name},
          {"full_name", s.full_name},
          {"created", IsoTime(s.created_ns)},
          {"created_ns", s.created_ns},
          {"is_deleted", s.deleted},
          {"referenced", s.space_known ? json(s.referenced) : json(nullptr)},
          {"exclusive", s.space_known ? json(s.exclusive) : json(nullptr)},
          {"children", s.clones},
          {"disks", disks}};
}

json ToJson(const DeleteReport& r) {
  json deferred = json::array();
  for (const auto& d : r.deferred) deferred.push_back({{"object", d.object}, {"kept_by", d.kept_by}});
  return {{"dry_run", r.dry_run}, {"removed", r.removed}, {"deferred", deferred}};
}

json ToJson(const TreeNode& t) {
  json children = json::array();
  for (const TreeNode& c : t.children) children.push_back(ToJson(c));
  return {{"kind", t.is_vm ? "vm" : "snapshot"}, {"name", t.label}, {"is_deleted", t.deleted}, {"children", children}};
}

StatusOr<json> PoolStatus(Manager& m, const Hooks* hooks, Env* env) {
  json srs = json::array();
  ASSIGN_OR_RETURN(auto figures, metrics::CollectSrFigures(m, env));
  for (const metrics::SrFigures& f : figures) {
    json j = ToJson(f.sr);
    if (f.fs) {
      j["fs_total_bytes"] = f.fs->total;
      j["fs_available_bytes"] = f.fs->available;
    }
    if (!f.up()) {
      j["error"] = f.error.ToString();
    } else if (f.stats) {
      const PoolStats& st = *f.stats;
      j["live_bytes"] = st.live_bytes;
      j["data_bytes"] = st.data_bytes;
      j["physical_bytes"] = st.physical_bytes;
      j["cluster_size"] = st.cluster_size;
      j["generation"] = st.generation;
      j["dedup"] = DedupModeName(st.dedup);
      j["dedup_saved_bytes"] = st.dedup_stats.hit_bytes;
      j["dedup_ratio"] = st.dedup_stats.ratio();
      j["node_cache"] = {
          {"hits", st.node_cache_hits}, {"misses", st.node_cache_misses}, {"nodes", st.node_cache_nodes}};
    }
    srs.push_back(j);
  }
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
  json j = {{"srs", srs},
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
    json recent = json::array();
    for (const metrics::PolicyEvent& e : view.policy.recent) {
      recent.push_back({{"at", IsoTime(e.at_ns)}, {"action", e.action}, {"what", e.what}});
    }
    j["server"] = {{"uptime_seconds", (env->NowNanos() - view.started_ns) / 1000000000},
                   {"nbd_url", hooks->nbd_url},
                   {"cluster", static_cast<bool>(hooks->cluster_status)},
                   {"nbd_connections_open", open},
                   {"open_exports", open_exports},
                   {"nbd_connections", view.nbd.connections},
                   {"nbd_requests", view.nbd.requests},
                   {"nbd_errors", view.nbd.errors},
                   {"nbd_refused", view.nbd.refused},
                   {"policy_snapshots_created", view.policy.created},
                   {"policy_snapshots_deleted", view.policy.deleted},
                   {"policy_errors", view.policy.errors},
                   {"policy_recent", recent}};
  }
  return j;
}

}  // namespace vmstore::server
