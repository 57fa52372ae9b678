// BlockStore: where a pool's block containers live - the engine's only way to them.
//
// A block address is 64 bits: the high 33 bits name a container (numbers from
// 1 up), the low 31 bits a 4 KiB unit inside it (docs/FORMAT.md). A container
// holds `container_units` units and one 8-byte sum per unit. The engine decides
// every address (it appends at a cursor that only moves forward) and keeps the
// checksums that verify what it reads back; a store only keeps bytes. The
// default store is a directory of container files (PoolOptions::block_store
// nullptr); tests use an in-memory one (src/engine/mem_block_store.h); the
// cluster's gateways will use one whose containers live on storage nodes.
//
// What each call promises:
//  - Durability: WriteBlocks, Punch, PunchSums and TruncateAt may be lost or
//    torn (at 4 KiB unit granularity, data and sums independently) by a crash
//    until SyncTouched() returns OK; after that every write before it survives.
//    DeleteContainer is durable on return. The engine never relies on the order
//    in which unsynced writes reach the media.
//  - Reads: ReadUnits / ReadSums return what the latest writes put there, or
//    zeroes for units punched, truncated away or never written. The store does
//    not verify data; the engine does (and reports kCorruption).
//  - Errors: kIOError for a failing device (the engine retries checkpoint steps
//    and never takes a failed sync for success), kNoSpace when the media is
//    full, kCorruption when a container is missing or its header belongs to
//    another container or pool. A failed call may have done part of its work.
//
// Thread-safety: ReadUnits and ReadSums may be called concurrently with each
// other and with any call on other addresses. The engine serialises every
// other call (its checkpoint or its exclusive lock) - an implementation need
// not support two mutating calls at once.
// Ownership: a store passed in PoolOptions is owned by the caller and must
// outlive every pool opened on it.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "vmstore/env.h"
#include "vmstore/status.h"

namespace vmstore {

// A block address: container number (33 bits) and unit index (31 bits).
inline constexpr int kUnitIndexBits = 31;
inline constexpr uint64_t BlockAddress(uint64_t container, uint64_t index) {
  return container << kUnitIndexBits | index;
}
inline constexpr uint64_t ContainerOfAddress(uint64_t addr) { return addr >> kUnitIndexBits; }
inline constexpr uint64_t UnitOfAddress(uint64_t addr) { return addr & ((uint64_t{1} << kUnitIndexBits) - 1); }

// A container space shared by pools of `span` containers each (pool p's own
// container c is p * span + c there; PoolOptions::container_span): the shared
// address of the block at `addr` of the pool whose first container is
// `base`. An address already past the span (another pool's block) stays as
// it is; so do 0 (a hole) and 1 (zeroes), and everything when span is 0.
inline constexpr uint64_t SharedAddress(uint64_t addr, uint64_t base, uint64_t span) {
  return addr <= 1 || span == 0 || ContainerOfAddress(addr) >= span ? addr : addr + BlockAddress(base, 0);
}

// What a pool tells its store before any other call (Attach).
struct ContainerGeometry {
  std::array<uint8_t, 16> pool_uuid{};  // every container's header carries it
  uint32_t container_units = 0;         // 4 KiB units per container
};

// One block to write: `units` units from `data` starting at `addr`, with one
// sum per unit in `sums`. Both buffers stay valid for the call.
struct UnitWrite {
  uint64_t addr;
  const char* data;
  uint32_t units;
  const uint64_t* sums;
};

// One run of WriteBlocks' coalescing: adjacent units of one container.
struct UnitRun {
  uint64_t container = 0, first = 0;  // the run's first unit
  uint32_t units = 0;
  std::string data;  // units * 4 KiB
  std::string sums;  // units u64 sums, in memory order (little-endian, as on disk)
};

// The write coalescing every store does (VMStore's write buffer): `writes`,
// sorted by address, cut into runs of adjacent blocks in one container of at
// most `max_bytes` each (a larger block is a run alone); `fn` is called for
// each run in address order, and its first error is returned.
inline Status ForEachRun(std::vector<UnitWrite> writes, size_t max_bytes,
                         const std::function<Status(const UnitRun& run)>& fn) {
  constexpr size_t kUnitBytes = 4096;
  std::sort(writes.begin(), writes.end(), [](const UnitWrite& a, const UnitWrite& b) { return a.addr < b.addr; });
  UnitRun run;
  size_t i = 0;
  while (i < writes.size()) {
    run.container = ContainerOfAddress(writes[i].addr);
    run.first = UnitOfAddress(writes[i].addr);
    run.units = 0;
    run.data.clear();
    run.sums.clear();
    while (i < writes.size() && ContainerOfAddress(writes[i].addr) == run.container &&
           UnitOfAddress(writes[i].addr) == run.first + run.units &&
           (run.data.empty() || run.data.size() + size_t{writes[i].units} * kUnitBytes <= max_bytes)) {
      run.data.append(writes[i].data, size_t{writes[i].units} * kUnitBytes);
      run.sums.append(reinterpret_cast<const char*>(writes[i].sums), size_t{writes[i].units} * 8);
      run.units += writes[i].units;
      ++i;
    }
    RETURN_IF_ERROR(fn(run));
  }
  return Status::OK();
}

class BlockStore {
 public:
  virtual ~BlockStore() = default;

  // Binds the store to a pool's geometry; called by Pool::Create and Pool::Open
  // before anything else (again on every open). Errors: kCorruption if the
  // store already holds containers of another pool.
  virtual Status Attach(const ContainerGeometry& geometry) = 0;

  // Numbers of the containers that exist, ascending.
  virtual StatusOr<std::vector<uint64_t>> List() = 0;
  // Reads `units` units (data, or their sums) starting at `addr`.
  // kCorruption if the container does not exist.
  virtual Status ReadUnits(uint64_t addr, uint32_t units, char* dst) = 0;
  virtual Status ReadSums(uint64_t addr, uint32_t units, uint64_t* dst) = 0;
  // Units [u0, u1) of the block of `block_units` units at `addr`, and the
  // sums of all its units (what a read of part of a block checks it with).
  // The default makes the two calls; a remote store answers both in one
  // round trip.
  virtual Status ReadPartOfBlock(uint64_t addr, uint32_t block_units, uint32_t u0, uint32_t u1, char* dst,
                                 uint64_t* sums) {
    Status s = ReadUnits(addr + u0, u1 - u0, dst);
    if (!s.ok()) return s;
    return ReadSums(addr, block_units, sums);
  }
  // Writes blocks with their sums, creating containers (with their headers)
  // as needed. Remembers every container touched for SyncTouched().
  virtual Status WriteBlocks(std::vector<UnitWrite> writes) = 0;
  // Makes every write, punch and truncate so far durable.
  virtual Status SyncTouched() = 0;
  // Frees `units` units of data at `addr` (they read as zeroes).
  virtual Status Punch(uint64_t addr, uint32_t units) = 0;
  // Frees sum page `page` of a container: the sums of units
  // [page * 512, (page + 1) * 512).
  virtual Status PunchSums(uint64_t container, uint64_t page) = 0;
  // Removes a container and everything in it. OK if it does not exist.
  virtual Status DeleteContainer(uint64_t container) = 0;
  // Drops the data of every unit at or after `index` (sums stay). OK if the
  // container does not exist.
  virtual Status TruncateAt(uint64_t container, uint64_t index) = 0;
  // Bytes the store holds for the pool's containers (headers and sums included).
  virtual StatusOr<uint64_t> AllocatedBytes() = 0;
  // The unit ranges [first, last) of a container that hold data.
  virtual StatusOr<std::vector<std::pair<uint64_t, uint64_t>>> AllocatedUnits(uint64_t container) = 0;
  // Verifies a container's header against the geometry; kCorruption if damaged.
  virtual Status CheckHeader(uint64_t container) = 0;
};

// The default store: containers as files in `dir` (which must exist),
// through `env` (not owned). A storage node serves its containers with it.
std::unique_ptr<BlockStore> NewFileBlockStore(Env* env, std::string dir);

}  // namespace vmstore
