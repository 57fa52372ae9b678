// The metrics of a pool and, when it is being served, of its server, in the
// Prometheus text format: what `vmstore metrics` prints and GET /metrics
// answers. docs/MONITORING.md lists every metric.
//
// Example:
//   ServerView view{.exports = &server.metrics(), .nbd = server.stats(), .started_ns = t0};
//   ASSIGN_OR_RETURN(std::string text, RenderMetrics(*manager, &view, env));
//
// Cost of a scrape: a few catalog queries and, per native SR, its counters
// and a stat of its files; no index is walked, so scraping does not disturb
// the cache figures it reports.
// Errors: whatever the catalog or a backend reports (the scrape then fails as
// a whole rather than show a partial picture).
// Thread-safety: as the Manager's (RenderMetrics may run beside anything).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nbd/metrics.h"
#include "nbd/server.h"
#include "vmstore/env.h"
#include "vmstore/manager.h"
#include "vmstore/pool.h"
#include "vmstore/status.h"

namespace vmstore::metrics {

// One thing a snapshot policy did: "created" or "deleted" a snapshot
// (`what` is its VM@NAME), or "failed" (`what` is the error).
struct PolicyEvent {
  int64_t at_ns = 0;  // wall clock
  std::string action, what;
};

// What the snapshot policies did since the server started.
struct PolicyTotals {
  static constexpr size_t kRecent = 20;
  uint64_t runs = 0, created = 0, deleted = 0, errors = 0;
  std::vector<PolicyEvent> recent;  // the newest kRecent at most, oldest first
};

// A running server's side; not owned.
struct ServerView {
  const nbd::ExportMetricsRegistry* exports = nullptr;
  nbd::ServerStats nbd;
  int64_t started_ns = 0;  // wall clock, ns since the epoch
  PolicyTotals policy;
};

// One SR's figures as metrics and `vmstore status` show them, read once.
struct SrFigures {
  SrInfo sr;
  std::optional<FsSpace> fs;       // SRs on a path whose file system answered
  std::optional<PoolStats> stats;  // native SRs that answered
  Status error;                    // why the SR could not be opened or asked; OK when it is up
  bool up() const { return error.ok(); }
};
// Every SR's figures. Only the catalog's errors fail it; an SR's own go in
// its `error`.
StatusOr<std::vector<SrFigures>> CollectSrFigures(Manager& m, Env* env);

// `server` null: the pool's metrics only (an idle pool). `env` (not owned)
// answers the SRs' file-system space.
StatusOr<std::string> RenderMetrics(Manager& m, const ServerView* server, Env* env);

}  // namespace vmstore::metrics
