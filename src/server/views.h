// Views: the JSON the CLI's --json prints and the HTTP API answers, built in
// one place so the two cannot drift. docs/CLI.md shows them.
//
// Thread-safety: pure functions, except PoolStatus, which reads the Manager
// and the hooks (thread-safe). Errors: PoolStatus returns the catalog's.
#pragma once

#include <nlohmann/json.hpp>

#include "server/hooks.h"
#include "vmstore/env.h"
#include "vmstore/manager.h"

namespace vmstore::server {

nlohmann::json ToJson(const SrInfo& s);
nlohmann::json ToJson(const DiskInfo& d);
nlohmann::json ToJson(const VmInfo& v);
nlohmann::json ToJson(const SnapshotInfo& s);
nlohmann::json ToJson(const DeleteReport& r);
nlohmann::json ToJson(const TreeNode& t);
// An array of the items' views.
template <typename T>
nlohmann::json ToJsonArray(const std::vector<T>& items) {
  nlohmann::json a = nlohmann::json::array();
  for (const T& i : items) a.push_back(ToJson(i));
  return a;
}

// The pool at a glance (`vmstore status`, GET /v1/status): every SR with its
// space, deduplication and cache figures (or why it is down: "error"), the
// VM, disk and snapshot counts, the newest snapshot, and with `hooks` (a
// running server) the server's counters. `env` answers file-system space and
// the clock.
StatusOr<nlohmann::json> PoolStatus(Manager& m, const Hooks* hooks, Env* env);

}  // namespace vmstore::server
