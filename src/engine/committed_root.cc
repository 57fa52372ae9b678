// ReadCommittedRoot: a snapshot's root from a pool's committed state, read
// beside the process that holds the pool (clones across pools of a shared
// container space).
#include <chrono>
#include <optional>
#include <thread>

#include "engine/format.h"
#include "util/coding.h"
#include "vmstore/pool.h"

namespace vmstore {

namespace {

using internal::BlockPtr;
using internal::kUnit;

// One attempt: the newest valid superblock, its volume table, the record.
StatusOr<VolumeRoot> ReadOnce(const std::string& dir, Env* env, BlockStore* store, VolumeId id) {
  ASSIGN_OR_RETURN(auto f, env->OpenFile(dir + "/superblock", false));
  char slots[2 * internal::Superblock::kSlotSize];
  RETURN_IF_ERROR(f->ReadAt(0, sizeof slots, slots));
  std::optional<internal::Superblock> sb;
  for (int i = 0; i < 2; ++i) {
    auto s = internal::Superblock::Decode(slots + i * internal::Superblock::kSlotSize);
    if (s.ok() && (!sb || s->generation > sb->generation)) sb = *s;
  }
  if (!sb) return Corruption(dir + "/superblock: no valid copy");
  if (!internal::IsReal(sb->vtable.addr)) return NotFound("volume " + std::to_string(id) + " is not committed");
  if (sb->vtable_units == 0 || internal::IndexOf(sb->vtable.addr) + sb->vtable_units > sb->container_units) {
    return Corruption(dir + ": the superblock's volume table address is out of range");
  }
  RETURN_IF_ERROR(store->Attach(ContainerGeometry{sb->uuid, sb->container_units}));
  std::string blob(size_t{sb->vtable_units} * kUnit, '\0');
  RETURN_IF_ERROR(store->ReadUnits(sb->vtable.addr, sb->vtable_units, blob.data()));
  std::vector<uint64_t> sums(sb->vtable_units);
  if (internal::ChecksumUnits(blob.data(), sb->vtable_units, sums.data()) != sb->vtable.csum) {
    return Corruption(dir + ": volume table block " + internal::Hex(sb->vtable.addr) + ": checksum mismatch");
  }
  ASSIGN_OR_RETURN(auto recs, internal::DecodeVolumeTable(blob));
  for (const internal::VolumeRecord& r : recs) {
    if (r.id != id) continue;
    if (!r.read_only()) {
      return FailedPrecondition("volume " + std::to_string(id) + " is writable; only a snapshot can be shared");
    }
    return VolumeRoot{r.root.addr, r.root.csum, r.height, r.size, sb->cluster_size};
  }
  return NotFound("volume " + std::to_string(id) + " is not in the pool's committed state (a new snapshot is "
                  "committed at the pool's next checkpoint)");
}

}  // namespace

StatusOr<VolumeRoot> ReadCommittedRoot(const std::string& dir, const PoolOptions& options, VolumeId id) {
  if (!options.block_store) return InvalidArgument("ReadCommittedRoot needs the pool's block store");
  Env* env = options.env ? options.env : Env::Default();
  // The holder may be checkpointing: the superblock read may name a volume
  // table that the next generation has already freed. Read again.
  Status last;
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (attempt) std::this_thread::sleep_for(std::chrono::milliseconds(100 << attempt));
    auto r = ReadOnce(dir, env, options.block_store, id);
    if (r.ok() || r.status().code() != Code::kCorruption) return r;
    last = r.status();
  }
  return last;
}

}  // namespace vmstore
