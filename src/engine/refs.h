// RefTable: reference counts and live units of every block, in memory.
//
// The counts are lazy in Rodeh's sense (shadowed B-trees, as btrfs uses them):
// a block's count is the number of distinct live references to it - volume
// roots plus entries of live index nodes - not the number of volumes that can
// reach it. They are not stored on disk: opening a pool rebuilds them by walking
// every tree once (a shared node is descended only the first time it is met),
// and tests compare the incrementally maintained table with a fresh walk.
//
// Per container: one uint32 count per 4 KiB unit (set at a block's first unit)
// and a per-unit "in use" byte for overlap checks; 5 bytes of memory per 4 KiB
// of container space (0.12 %).
//
// Thread-safety: none; the pool's exclusive lock guards every mutation.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/format.h"

namespace vmstore::internal {

class RefTable {
 public:
  explicit RefTable(uint32_t container_units) : units_(container_units) {}

  uint32_t Get(uint64_t addr) const;
  // Increments; returns the new count. A count going 0 -> 1 marks `units` in use
  // and returns false in *overlap if any of them already was.
  uint32_t Incr(uint64_t addr, uint32_t units = 0, bool* overlap = nullptr);
  // Decrements; returns the new count. At 0 the block's `units` are released.
  uint32_t Decr(uint64_t addr, uint32_t units);
  uint64_t live_units() const { return live_; }
  // Live data blocks (not index nodes), each counted once however shared;
  // kept by the callers, which know what a block is.
  uint64_t data_blocks() const { return data_blocks_; }
  void AddDataBlocks(int64_t n) { data_blocks_ += static_cast<uint64_t>(n); }
  uint64_t LiveUnitsIn(uint64_t container) const;
  bool UnitInUse(uint64_t container, uint64_t index) const;
  // Whether any unit in [first, end) of the container is in use.
  bool AnyInUse(uint64_t container, uint64_t first, uint64_t end) const;
  std::vector<uint64_t> Containers() const;
  // Describes the first difference from `other`, or returns "" if equal.
  std::string Diff(const RefTable& other) const;

 private:
  struct PerContainer {
    std::vector<uint32_t> ref;
    std::vector<uint8_t> used;
    uint64_t live = 0;
  };
  PerContainer& At(uint64_t c);
  uint32_t units_;
  std::map<uint64_t, PerContainer> c_;
  uint64_t live_ = 0;
  uint64_t data_blocks_ = 0;
};

}  // namespace vmstore::internal
