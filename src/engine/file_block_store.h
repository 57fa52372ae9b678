// FileBlockStore: the default BlockStore - a pool's containers as files.
//
// A container is a file named by its 33-bit number (ContainerFileName, 9 hex
// digits + ".ctr") in one directory: a 4 KiB header, then one 8-byte XXH3 sum
// per unit, then the units (docs/FORMAT.md). Writes are coalesced into runs of
// at most 512 KiB; freed blocks are punched out; every file access goes
// through the Env, so MemEnv's crash and fault injection apply.
//
// Thread-safety: as BlockStore. Open container files are kept in a sharded map
// that concurrent readers share; mu_ guards the set of containers to sync.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "engine/format.h"
#include "util/mutex.h"
#include "util/sharded_map.h"
#include "vmstore/block_store.h"
#include "vmstore/env.h"

namespace vmstore::internal {

// The checkpoint's writes: an I/O error is tried up to 3 more times (a disk's
// transient errors), then returned. Syncs are never retried this way: after a
// failed fdatasync the kernel may have dropped the pages.
Status WriteAtRetrying(File* f, uint64_t offset, const char* src, size_t n);

class FileBlockStore final : public BlockStore {
 public:
  // `env` is not owned; `dir` must exist.
  FileBlockStore(Env* env, std::string dir) : env_(env), dir_(std::move(dir)) {}

  Status Attach(const ContainerGeometry& geometry) override;
  StatusOr<std::vector<uint64_t>> List() override;
  Status ReadUnits(uint64_t addr, uint32_t units, char* dst) override;
  Status ReadSums(uint64_t addr, uint32_t units, uint64_t* dst) override;
  Status WriteBlocks(std::vector<UnitWrite> writes) override;
  Status SyncTouched() override;
  Status Punch(uint64_t addr, uint32_t units) override;
  Status PunchSums(uint64_t container, uint64_t page) override;
  Status DeleteContainer(uint64_t container) override;
  Status TruncateAt(uint64_t container, uint64_t index) override;
  StatusOr<uint64_t> AllocatedBytes() override;
  StatusOr<std::vector<std::pair<uint64_t, uint64_t>>> AllocatedUnits(uint64_t container) override;
  Status CheckHeader(uint64_t container) override;

 private:
  std::string PathOf(uint64_t container) const { return dir_ + "/" + ContainerFileName(container); }
  StatusOr<std::shared_ptr<File>> GetFile(uint64_t container, bool create);

  Env* const env_;
  const std::string dir_;
  ContainerGeometry geo_;                              // set by Attach, before any other call
  ShardedMap<uint64_t, std::shared_ptr<File>> files_;  // open containers; readers look up here
  Mutex mu_;
  std::set<uint64_t> touched_ GUARDED_BY(mu_);
  bool created_ GUARDED_BY(mu_) = false;
};

}  // namespace vmstore::internal
