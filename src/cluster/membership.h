// The cluster's records in etcd (docs/CLUSTER.md, "Keys"): the cluster
// itself, the storage nodes (each under its own lease: a node's key is there
// while its process lives), and the ring's member list with its epoch, which
// only ever changes by compare-and-swap.
//
// Example:
//   ASSIGN_OR_RETURN(ClusterRecord c, LoadCluster(etcd));
//   ASSIGN_OR_RETURN(RingRecord ring, LoadRing(etcd));
//   std::vector<const RingNode*> owners = ring.ring().Place(container, c.replicas);
//
// Errors: NotFound when the cluster was never initialised (the message says
// how), AlreadyExists for a second init, Corruption for a record that does
// not parse, the Etcd interface's otherwise.
// Thread-safety: plain functions over a thread-safe Etcd.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "cluster/etcd.h"
#include "cluster/ring.h"

namespace vmstore::cluster {

inline constexpr char kRoot[] = "/vmstore/";

struct ClusterRecord {
  std::array<uint8_t, 16> uuid{};
  int replicas = 2;
  uint32_t container_units = 16384;  // 64 MiB containers
  int64_t created_ns = 0;
  std::string uuid_text() const;
};

// Creates the cluster's record; AlreadyExists (naming its uuid) if there is one.
// `container_units`: 4 KiB units per container (a power of two, 1 MiB to 1 GiB).
StatusOr<ClusterRecord> InitCluster(Etcd& etcd, int replicas, int64_t now_ns, uint32_t container_units = 16384);
StatusOr<ClusterRecord> LoadCluster(Etcd& etcd);

// Settings every node follows at run time (/vmstore/config; nodes read it
// every 2 s). Defaults when the key is absent.
struct ClusterConfig {
  uint64_t recovery_mib_per_s = 0;  // cap on what repairs and moves write into each node; 0: none
  uint32_t max_moves = 4;           // copies each node serves out and takes in at once; 0: no limit
  // Seconds a ring member may stay down before a move takes its data to the
  // others; 0: each node's --down-out-seconds (default 600).
  uint64_t down_out_s = 0;
};
StatusOr<ClusterConfig> LoadConfig(Etcd& etcd);
Status PutConfig(Etcd& etcd, const ClusterConfig& c);

// The progress of the move under way (ROOT/move), for `cluster status`:
// written when it starts, updated by the node driving it, deleted when it
// ends. Bytes are the allocated bytes of the objects new owners wait for.
struct MoveRecord {
  uint64_t epoch = 0;  // the ring's, while it moves
  int64_t started_ns = 0, updated_ns = 0;
  uint64_t copies = 0, bytes = 0;            // at the start
  uint64_t copies_left = 0, bytes_left = 0;  // at `updated_ns`
  // Bytes per second since the start (0 before any progress), and the
  // seconds left at that rate (-1 when unknown).
  double rate() const;
  double eta_seconds() const;
};
// NotFound when no move is recorded.
StatusOr<MoveRecord> LoadMove(Etcd& etcd);
Status PutMove(Etcd& etcd, const MoveRecord& m);
Status DeleteMove(Etcd& etcd);

// A storage node as it registered (under its lease).
struct NodeRecord {
  RingNode node;
  std::string data_uuid;  // its data directory's
  int64_t started_ns = 0;
};
std::string NodeKey(const std::string& name);
// Every live node registration.
StatusOr<std::vector<NodeRecord>> ListNodes(Etcd& etcd);
// Registers `n` under `lease` (replacing its earlier registration).
Status RegisterNode(Etcd& etcd, const NodeRecord& n, int64_t lease);

// The ring: its members and epoch and, while data moves to a new member
// list (a join, a drain: docs/CLUSTER.md "Moving data"), the members it
// moves from. During a move a container is written on its owners under
// both lists and read from the new owners first.
struct RingRecord {
  uint64_t epoch = 0;
  std::vector<RingNode> members;
  std::vector<RingNode> previous;  // empty: no move under way
  uint64_t previous_epoch = 0;
  int64_t mod_revision = 0;  // of the ring key, for compare-and-swap
  bool moving() const { return !previous.empty(); }
  Ring ring() const { return Ring(members, epoch); }
  Ring previous_ring() const { return Ring(previous, previous_epoch); }
};
// The ring (epoch 0 and no members before any node joined).
StatusOr<RingRecord> LoadRing(Etcd& etcd);
// Puts `n` on the ring (or updates its address, zone or weight), as the next
// epoch, by compare-and-swap; retried while other members change it at the
// same time (at most 50 times). Returns the ring it wrote or found current.
StatusOr<RingRecord> JoinRing(Etcd& etcd, const RingNode& n);
// Writes `r` as the next epoch (r.epoch + 1) if the ring key is still at
// r.mod_revision; false when it changed meanwhile. Validates the members.
StatusOr<bool> PutRing(Etcd& etcd, RingRecord r);

// 32 lower-case hex digits.
std::string UuidText(const std::array<uint8_t, 16>& u);
StatusOr<std::array<uint8_t, 16>> ParseUuidText(const std::string& text);

}  // namespace vmstore::cluster
