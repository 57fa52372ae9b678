// Ring: placement of block containers on storage nodes - a consistent-hash
// ring with virtual nodes, as the VMStore article describes: the 33-bit
// container number (the high bits of every block address) is the key, and
// the first R distinct nodes clockwise from its hash hold its replicas.
//
// Each node puts kVnodesPerWeight * weight points on the ring, so a node's
// share follows its weight and a join or leave moves only the keys between
// the changed points and their predecessors (about 1/N of the data). With
// zones, the R replicas go to R distinct zones when there are that many;
// otherwise to distinct nodes. Everyone who knows the members of an epoch
// computes the same placement, with no lookup.
//
// Example:
//   Ring ring({{"n1", "a:7000", "rack1", 1}, {"n2", "b:7000", "rack2", 1}}, /*epoch=*/3);
//   std::vector<const RingNode*> owners = ring.Place(container, 2);  // primary first
//
// Thread-safety: immutable after construction; any thread may call Place.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vmstore/status.h"

namespace vmstore::cluster {

struct RingNode {
  std::string name;     // unique in the cluster
  std::string address;  // HOST:PORT of its container service
  std::string zone;     // "" = no zone
  uint32_t weight = 1;  // in units of kVnodesPerWeight points (0: holds nothing)
};

class Ring {
 public:
  static constexpr uint32_t kVnodesPerWeight = 256;

  Ring() = default;
  Ring(std::vector<RingNode> nodes, uint64_t epoch);

  uint64_t epoch() const { return epoch_; }
  const std::vector<RingNode>& nodes() const { return nodes_; }
  // The nodes holding `container`'s replicas, primary first: min(replicas,
  // nodes with weight) distinct nodes, in distinct zones as far as the zones allow.
  std::vector<const RingNode*> Place(uint64_t container, int replicas) const;
  // Checks the members: names unique and non-empty, weights at most 1000.
  static Status Validate(const std::vector<RingNode>& nodes);

 private:
  struct Point {
    uint64_t hash;
    uint32_t node;  // index into nodes_
  };
  std::vector<RingNode> nodes_;
  std::vector<Point> points_;  // sorted by hash
  uint64_t epoch_ = 0;
};

// The ring position of a container key (XXH3 of its 8 little-endian bytes).
uint64_t ContainerHash(uint64_t container);

}  // namespace vmstore::cluster
