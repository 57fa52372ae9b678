// ClusterView: the cluster at one look - its record, the ring, every node
// (on the ring or registered) with its state, ring share and what it holds,
// and a move's progress. What `vmstore cluster status`, `node list` and
// `node show` print, and what a gateway's HTTP API serves at /v1/cluster.
//
// Thread-safety: LoadClusterView may be called from any thread; it asks each
// live node what it holds (2 s per call at most). Errors: those of etcd (the
// records missing: NotFound); a node that does not answer has unknown
// figures, not an error.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cluster/etcd.h"
#include "cluster/membership.h"
#include "vmstore/status.h"

namespace vmstore::gateway {

struct NodeRow {
  cluster::RingNode node;
  bool on_ring = false, up = false;
  double share = 0;                           // of the replicas of sampled containers
  uint64_t stale = 0;                         // objects whose copy here missed a change (repair pending)
  std::optional<uint64_t> containers, bytes;  // as the node answered
  std::string state() const { return !up ? "down" : stale ? "catching up" : "up"; }
  nlohmann::json ToJson() const;
};

struct ClusterView {
  cluster::ClusterRecord record;
  cluster::RingRecord ring;
  std::vector<NodeRow> rows;  // by name
  int up = 0, on_ring = 0;
  double balance = 0;                       // largest ring share / mean
  uint64_t waiting = 0;                     // copies a move still has to make
  uint64_t stale = 0;                       // other copies waiting for their gateway's repair
  std::optional<cluster::MoveRecord> move;  // the move's progress, when recorded for the ring's epoch
  // What `vmstore --json cluster status` prints.
  nlohmann::json ToJson() const;
};

StatusOr<ClusterView> LoadClusterView(cluster::Etcd& etcd);

// A function giving ClusterView::ToJson() as text for the cluster at
// `endpoints`, loaded at most once per `max_age` however many callers ask
// (one load at a time; the others wait for it and share its answer).
// Thread-safe; the function owns its state.
std::function<StatusOr<std::string>()> CachedClusterStatus(std::string endpoints, int64_t max_age_ms);

}  // namespace vmstore::gateway
