#include "metrics/pool_metrics.h"

#include <functional>
#include <vector>

#include "metrics/prom_text.h"
#include "vmstore/env.h"
#include "vmstore/pool.h"

namespace vmstore::metrics {

namespace {

// Writes one family whose samples come from `items`: `value` returns nullopt to skip one.
template <typename T, typename V>
void PerItem(PromText* t, const std::string& name, const char* type, const std::string& help,
             const std::vector<T>& items, const std::function<Labels(const T&)>& labels,
             const std::function<std::optional<V>(const T&)>& value) {
  bool any = false;
  for (const T& item : items) {
    std::optional<V> v = value(item);
    if (!v) continue;
    if (!any) t->Family(name, type, help);
    any = true;
    t->Sample(name, labels(item), *v);
  }
}

// Per VM: disks, snapshots, the newest snapshot.
void VmFamilies(PromText* t, const std::vector<VmSummary>& vms) {
  uint64_t live = 0, deleted = 0;
  std::vector<VmSummary> shown;  // per-VM series: live VMs only
  for (const VmSummary& v : vms) {
    (v.deleted ? deleted : live) += 1;
    if (!v.deleted) shown.push_back(v);
  }
  t->Family("vmstore_vms", "gauge", "VMs in the catalog (not counting those marked deleted)");
  t->Sample("vmstore_vms", {}, live);
  t->Family("vmstore_vms_deleted", "gauge", "VMs marked deleted, kept until their clones are gone");
  t->Sample("vmstore_vms_deleted", {}, deleted);

  using VmLabels = std::function<Labels(const VmSummary&)>;
  using VmValue = std::function<std::optional<uint64_t>(const VmSummary&)>;
  VmLabels vm_label = [](const VmSummary& v) { return Labels{{"vm", v.name}}; };
  PerItem(t, "vmstore_vm_disks", "gauge", "Disks attached to the VM", shown, vm_label,
          VmValue([](const VmSummary& v) { return v.disks; }));
  PerItem(t, "vmstore_vm_snapshots", "gauge", "Snapshots of the VM (not counting those marked deleted)", shown,
          vm_label, VmValue([](const VmSummary& v) { return v.snapshots; }));
  PerItem(t, "vmstore_vm_snapshots_deleted", "gauge", "Snapshots of the VM marked deleted, kept for their clones",
          shown, vm_label, VmValue([](const VmSummary& v) { return v.deleted_snapshots; }));
  PerItem(t, "vmstore_vm_newest_snapshot_timestamp_seconds", "gauge",
          "Creation time of the VM's newest snapshot (Unix seconds); absent without snapshots", shown, vm_label,
          std::function<std::optional<double>(const VmSummary&)>([](const VmSummary& v) -> std::optional<double> {
            if (!v.snapshots) return std::nullopt;
            return static_cast<double>(v.newest_snapshot_ns / 1000000) / 1000.0;
          }));
}

// Per SR: what it is, whether it is up, its file system.
void SrFamilies(PromText* t, const std::vector<SrFigures>& srs) {
  using SrLabels = std::function<Labels(const SrFigures&)>;
  using SrValue = std::function<std::optional<uint64_t>(const SrFigures&)>;
  SrLabels sr_label = [](const SrFigures& f) { return Labels{{"sr", f.sr.name}}; };
  t->Family("vmstore_sr_info", "gauge", "One series per SR (value 1): its type, location and deduplication mode");
  for (const SrFigures& f : srs) {
    t->Sample("vmstore_sr_info",
              {{"sr", f.sr.name},
               {"type", f.sr.type},
               {"location", f.sr.location},
               {"dedup", f.stats ? DedupModeName(f.stats->dedup) : "off"}},
              uint64_t{1});
  }
  PerItem(t, "vmstore_sr_up", "gauge",
          "1 when the SR's storage opened and answered, 0 when not (vmstore status says why)", srs, sr_label,
          SrValue([](const SrFigures& f) -> std::optional<uint64_t> { return f.up() ? 1 : 0; }));
  PerItem(t, "vmstore_sr_vdis", "gauge", "Disks and disk snapshots stored in the SR", srs, sr_label,
          SrValue([](const SrFigures& f) { return f.sr.vdis; }));
  PerItem(t, "vmstore_sr_fs_size_bytes", "gauge", "Size of the file system holding the SR", srs, sr_label,
          SrValue([](const SrFigures& f) -> std::optional<uint64_t> {
            if (!f.fs) return std::nullopt;
            return f.fs->total;
          }));
  PerItem(t, "vmstore_sr_fs_avail_bytes", "gauge", "Bytes the SR may still use on its file system", srs, sr_label,
          SrValue([](const SrFigures& f) -> std::optional<uint64_t> {
            if (!f.fs) return std::nullopt;
            return f.fs->available;
          }));
}

// Per native SR: the engine's space, node cache and deduplication figures.
void EngineFamilies(PromText* t, const std::vector<SrFigures>& srs) {
  using SrLabels = std::function<Labels(const SrFigures&)>;
  using SrValue = std::function<std::optional<uint64_t>(const SrFigures&)>;
  using SrDouble = std::function<std::optional<double>(const SrFigures&)>;
  SrLabels sr_label = [](const SrFigures& f) { return Labels{{"sr", f.sr.name}}; };
  // The native engine's own figures.
  auto native = [](uint64_t PoolStats::*field) {
    return SrValue([field](const SrFigures& f) -> std::optional<uint64_t> {
      if (!f.stats) return std::nullopt;
      return (*f.stats).*field;
    });
  };
  PerItem(t, "vmstore_sr_live_bytes", "gauge", "Native SR: bytes of referenced blocks (data and index)", srs, sr_label,
          native(&PoolStats::live_bytes));
  PerItem(t, "vmstore_sr_data_bytes", "gauge",
          "Native SR: bytes of referenced data blocks, each counted once however many disks share it", srs, sr_label,
          native(&PoolStats::data_bytes));
  PerItem(t, "vmstore_sr_physical_bytes", "gauge", "Native SR: bytes its files take on disk", srs, sr_label,
          native(&PoolStats::physical_bytes));
  PerItem(t, "vmstore_sr_wal_bytes", "gauge", "Native SR: bytes in the write-ahead log", srs, sr_label,
          native(&PoolStats::wal_bytes));
  PerItem(
      t, "vmstore_node_cache_hits_total", "counter",
      "Native SR: index node loads answered from memory (new, being written or cached nodes) since the SR was opened",
      srs, sr_label, native(&PoolStats::node_cache_hits));
  PerItem(t, "vmstore_node_cache_misses_total", "counter",
          "Native SR: index node loads that read the node from disk since the SR was opened", srs, sr_label,
          native(&PoolStats::node_cache_misses));
  PerItem(t, "vmstore_node_cache_nodes", "gauge", "Native SR: clean index nodes held in the node cache", srs, sr_label,
          native(&PoolStats::node_cache_nodes));
  PerItem(t, "vmstore_node_cache_hit_ratio", "gauge",
          "Native SR: hits / (hits + misses) since the SR was opened; 0 before any lookup", srs, sr_label,
          SrDouble([](const SrFigures& f) -> std::optional<double> {
            if (!f.stats) return std::nullopt;
            uint64_t n = f.stats->node_cache_hits + f.stats->node_cache_misses;
            return n ? static_cast<double>(f.stats->node_cache_hits) / static_cast<double>(n) : 0.0;
          }));
  auto dedup = [](uint64_t DedupStats::*field) {
    return SrValue([field](const SrFigures& f) -> std::optional<uint64_t> {
      if (!f.stats) return std::nullopt;
      return f.stats->dedup_stats.*field;
    });
  };
  PerItem(t, "vmstore_dedup_lookups_total", "counter",
          "Native SR: clusters written with deduplication on (looked up in the index) since the SR was opened", srs,
          sr_label, dedup(&DedupStats::lookups));
  PerItem(t, "vmstore_dedup_hits_total", "counter",
          "Native SR: clusters stored as a reference to an identical stored block since the SR was opened", srs,
          sr_label, dedup(&DedupStats::hits));
  PerItem(t, "vmstore_dedup_saved_bytes_total", "counter",
          "Native SR: bytes not written thanks to deduplication since the SR was opened", srs, sr_label,
          dedup(&DedupStats::hit_bytes));
  PerItem(t, "vmstore_dedup_index_memory_bytes", "gauge",
          "Native SR: memory of the deduplication index (sampled hooks and loaded manifests)", srs, sr_label,
          dedup(&DedupStats::memory_bytes));
  PerItem(t, "vmstore_dedup_ratio", "gauge",
          "Native SR: clusters written with deduplication on / clusters that took new space, since the SR was "
          "opened (1 when nothing was deduplicated)",
          srs, sr_label, SrDouble([](const SrFigures& f) -> std::optional<double> {
            if (!f.stats) return std::nullopt;
            return f.stats->dedup_stats.ratio();
          }));
}

void PoolFamilies(PromText* t, const std::vector<VmSummary>& vms, const std::vector<SrFigures>& srs) {
  VmFamilies(t, vms);
  SrFamilies(t, srs);
  EngineFamilies(t, srs);
}

void ServerFamilies(PromText* t, const ServerView& v) {
  t->Family("process_start_time_seconds", "gauge", "When the server started (Unix seconds)");
  t->Sample("process_start_time_seconds", {}, static_cast<double>(v.started_ns / 1000000) / 1000.0);
  t->Family("vmstore_nbd_connections_total", "counter", "NBD connections accepted since the server started");
  t->Sample("vmstore_nbd_connections_total", {}, v.nbd.connections);
  t->Family("vmstore_nbd_connections_refused_total", "counter",
            "NBD connections closed at once by the connection limits");
  t->Sample("vmstore_nbd_connections_refused_total", {}, v.nbd.refused);
  t->Family("vmstore_nbd_connections_idle_closed_total", "counter",
            "NBD connections closed idle: by the idle timeout, or to make room for a newcomer");
  t->Sample("vmstore_nbd_connections_idle_closed_total", {}, v.nbd.idle_closed + v.nbd.evicted);
  t->Family("vmstore_nbd_request_memory_bytes", "gauge",
            "NBD request and reply data held now (\"limit\": serve.request_memory)");
  t->Sample("vmstore_nbd_request_memory_bytes", {{"kind", "held"}}, v.nbd.request_memory.in_use);
  t->Sample("vmstore_nbd_request_memory_bytes", {{"kind", "peak"}}, v.nbd.request_memory.peak);
  t->Sample("vmstore_nbd_request_memory_bytes", {{"kind", "limit"}}, v.nbd.request_memory.total);
  t->Family("vmstore_nbd_request_memory_waits_total", "counter", "NBD requests that waited for request memory");
  t->Sample("vmstore_nbd_request_memory_waits_total", {}, v.nbd.request_memory.waits);
  t->Family("vmstore_policy_runs_total", "counter", "Passes of the snapshot policies");
  t->Sample("vmstore_policy_runs_total", {}, v.policy.runs);
  t->Family("vmstore_policy_snapshots_created_total", "counter", "Snapshots the policies took");
  t->Sample("vmstore_policy_snapshots_created_total", {}, v.policy.created);
  t->Family("vmstore_policy_snapshots_deleted_total", "counter", "Snapshots the policies pruned");
  t->Sample("vmstore_policy_snapshots_deleted_total", {}, v.policy.deleted);
  t->Family("vmstore_policy_errors_total", "counter", "Policy steps that failed (see the server's log)");
  t->Sample("vmstore_policy_errors_total", {}, v.policy.errors);
  if (!v.exports) return;

  const std::map<std::string, nbd::ExportStats> exports = v.exports->Snapshot();
  t->Family("vmstore_nbd_export_connections_total", "counter", "NBD connections that opened the export");
  for (const auto& [name, s] : exports)
    t->Sample("vmstore_nbd_export_connections_total", {{"export", name}}, s.connections);
  t->Family("vmstore_nbd_export_open_connections", "gauge", "NBD connections using the export now");
  for (const auto& [name, s] : exports) {
    t->Sample("vmstore_nbd_export_open_connections", {{"export", name}}, s.open_connections);
  }
  // Per export and command: read, write and flush always (so rates exist from
  // the first scrape), the other commands once used.
  auto shown = [](int op, const nbd::OpStats& o) {
    auto k = static_cast<nbd::Op>(op);
    return o.requests > 0 || k == nbd::Op::kRead || k == nbd::Op::kWrite || k == nbd::Op::kFlush;
  };
  auto per_op = [&](const std::string& name, const char* type, const std::string& help,
                    const std::function<void(const Labels&, const nbd::OpStats&)>& emit) {
    t->Family(name, type, help);
    for (const auto& [export_name, s] : exports) {
      for (int op = 0; op < nbd::kOpCount; ++op) {
        if (!shown(op, s.ops[op])) continue;
        emit({{"export", export_name}, {"op", nbd::OpName(static_cast<nbd::Op>(op))}}, s.ops[op]);
      }
    }
  };
  per_op("vmstore_nbd_requests_total", "counter", "NBD requests served, by export and command",
         [&](const Labels& l, const nbd::OpStats& o) { t->Sample("vmstore_nbd_requests_total", l, o.requests); });
  per_op("vmstore_nbd_request_errors_total", "counter", "NBD requests answered with an error",
         [&](const Labels& l, const nbd::OpStats& o) { t->Sample("vmstore_nbd_request_errors_total", l, o.errors); });
  per_op("vmstore_nbd_bytes_total", "counter",
         "Bytes the requests covered (read, write, trim, write_zeroes, cache; 0 for flush and block_status)",
         [&](const Labels& l, const nbd::OpStats& o) { t->Sample("vmstore_nbd_bytes_total", l, o.bytes); });
  const std::vector<double> bounds(nbd::kLatencyBounds.begin(), nbd::kLatencyBounds.end());
  per_op("vmstore_nbd_request_duration_seconds", "histogram",
         "Time from a request read off the connection to its reply sent", [&](const Labels& l, const nbd::OpStats& o) {
           t->Histogram("vmstore_nbd_request_duration_seconds", l, bounds,
                        std::vector<uint64_t>(o.buckets.begin(), o.buckets.end()),
                        static_cast<double>(o.latency_ns_sum) / 1e9);
         });
}

}  // namespace

StatusOr<std::vector<SrFigures>> CollectSrFigures(Manager& m, Env* env) {
  ASSIGN_OR_RETURN(auto srs, m.ListSrs());
  std::vector<SrFigures> figures;
  for (SrInfo& sr : srs) {
    SrFigures f;
    if (backend::LocationIsPath(sr.type)) {
      auto fs = env->FileSystemSpace(sr.location);
      if (fs.ok()) f.fs = *fs;  // an SR whose directory is gone shows as down below
    }
    // An SR that cannot be opened (its file system gone, zfs down) is down;
    // the others are still reported. A cluster SR another gateway serves is
    // not taken from it (no engine figures here).
    auto b = m.SrBackendForView(sr.name);
    if (!b.ok()) {
      f.error = b.status();
    } else if (*b != nullptr && (*b)->caps().engine_stats) {
      auto st = (*b)->EngineStats();
      if (st.ok()) {
        f.stats = *st;
      } else {
        f.error = st.status();
      }
    }
    f.sr = std::move(sr);
    figures.push_back(std::move(f));
  }
  return figures;
}

StatusOr<std::string> RenderMetrics(Manager& m, const ServerView* server, Env* env) {
  ASSIGN_OR_RETURN(auto vms, m.SummarizeVms());
  ASSIGN_OR_RETURN(auto figures, CollectSrFigures(m, env));
  PromText t;
  PoolFamilies(&t, vms, figures);
  if (server) ServerFamilies(&t, *server);
  return t.Take();
}

}  // namespace vmstore::metrics
