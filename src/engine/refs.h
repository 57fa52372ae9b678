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
// Foreign blocks (containers >= foreign_from, when not 0): blocks of other
// pools in a shared container space (PoolOptions::container_span), which a
// clone across pools references. They are not counted: Get() answers kMany
// for them (so the writer copies instead of changing them in place), Incr
// and Decr change nothing and answer kMany (so they are never freed and a
// walk never descends into them).
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
  static constexpr uint32_t kMany = 1u << 30;

  explicit RefTable(uint32_t container_units, uint64_t foreign_from = 0)
      : units_(container_units), foreign_from_(foreign_from) {}

  bool Foreign(uint64_t addr) const { return foreign_from_ != 0 && ContainerOf(addr) >= foreign_from_; }

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
  uint64_t foreign_from_;
  std::map<uint64_t, PerContainer> c_;
  uint64_t live_ = 0;
  uint64_t data_blocks_ = 0;
};

}  // namespace vmstore::internal
