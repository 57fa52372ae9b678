// ContainerStore: the pool's block containers and the append cursor.
//
// A container is a file of at most `container_units` 4 KiB units named by its
// 33-bit number; a header, then one 8-byte XXH3 sum per unit, then the units.
// New blocks are placed at the cursor, which only moves forward (append-mostly);
// freed blocks are punched out of their container and a container with no live
// block is deleted. Writes are coalesced into runs of at most 512 KiB.
//
// Thread-safety: ReadUnits/ReadSums may run concurrently with each other and with
// writes to other blocks; everything else is called with the pool's exclusive lock.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "engine/format.h"
#include "util/sharded_map.h"
#include "vmstore/env.h"

namespace vmstore::internal {

// One block to be written by a checkpoint: `units` units starting at `addr`
// (data may be shorter than the block only for in-place unit patches, where
// units == 1 and `addr` is the patched unit's address).
struct UnitWrite {
  uint64_t addr;
  const char* data;
  uint32_t units;
  const uint64_t* sums;
};

// The checkpoint's writes: an I/O error is tried up to 3 more times (a disk's
// transient errors), then returned. Syncs are never retried this way: after a
// failed fdatasync the kernel may have dropped the pages.
Status WriteAtRetrying(File* f, uint64_t offset, const char* src, size_t n);

class ContainerStore {
 public:
  ContainerStore(Env* env, std::string dir, std::array<uint8_t, 16> uuid, uint32_t container_units)
      : env_(env), dir_(std::move(dir)), uuid_(uuid), units_(container_units) {}

  uint32_t container_units() const { return units_; }
  const std::string& dir() const { return dir_; }
  std::string PathOf(uint64_t container) const { return dir_ + "/" + ContainerFileName(container); }

  // Numbers of the container files present.
  StatusOr<std::vector<uint64_t>> List();
  // Returns the address for a new block of `units` units and advances `*cursor`.
  uint64_t Allocate(uint64_t* cursor, uint32_t units) const;
  // Checks that [addr, addr+units) lies inside a container below `cursor`.
  Status CheckAddr(uint64_t addr, uint32_t units, uint64_t cursor) const;

  Status ReadUnits(uint64_t addr, uint32_t units, char* dst);
  Status ReadSums(uint64_t addr, uint32_t units, uint64_t* dst);
  // Writes blocks and their unit sums (sorted and coalesced), creating containers
  // as needed; records every container touched for SyncTouched().
  Status WriteBlocks(std::vector<UnitWrite> writes);
  Status SyncTouched();
  Status Punch(uint64_t addr, uint32_t units);
  // Punches page `page` of a container's sum area (the sums of units
  // [page * kSumsPerPage, (page + 1) * kSumsPerPage)), once none is in use.
  Status PunchSums(uint64_t container, uint64_t page);
  Status DeleteContainer(uint64_t container);
  // Drops every byte of container `c` at or after unit `index`.
  Status TruncateAt(uint64_t container, uint64_t index);
  StatusOr<uint64_t> AllocatedBytes();
  // Data ranges of a container file expressed as unit index ranges [first, last).
  StatusOr<std::vector<std::pair<uint64_t, uint64_t>>> AllocatedUnits(uint64_t container);
  // Verifies the container's header; Corruption if damaged.
  Status CheckHeader(uint64_t container);

 private:
  StatusOr<std::shared_ptr<File>> GetFile(uint64_t container, bool create);

  Env* env_;
  std::string dir_;
  std::array<uint8_t, 16> uuid_;
  uint32_t units_;
  ShardedMap<uint64_t, std::shared_ptr<File>> files_;  // open containers; readers look up here
  std::mutex mu_;                                      // guards touched_ and created_ (writers)
  std::set<uint64_t> touched_;
  bool created_ = false;
};

}  // namespace vmstore::internal
