// The Snapshot API (snapshot paper, section 3): one small interface over the
// different places a storage repository (SR) can keep disks and snapshots. The
// catalog decides what a disk or snapshot is; a backend only holds volumes,
// named by handles it chooses. Backends register by SR type.
//
// Example:
//   ASSIGN_OR_RETURN(auto b, OpenBackend("native", "/srv/pool", {.create = true}));
//   ASSIGN_OR_RETURN(std::string disk, b->CreateDisk(10ull << 30, /*tag=*/0));
//   std::vector<std::string> disks = {disk};
//   ASSIGN_OR_RETURN(auto snaps, b->Snapshot(disks, /*tag=*/0));
//
// Capabilities are asked once (caps()) and checked by the caller before it
// relies on them. Tags: an opaque number stored with a new volume and listed
// by List(), so the catalog can find the volumes of an operation a crash
// interrupted. Errors: NotFound for an unknown handle; others as the storage
// reports them. Thread-safety: implementations are thread-safe.
// Ownership: a Backend owns what it opened; Close() or destruction releases it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "vmstore/pool.h"
#include "vmstore/status.h"

namespace vmstore::backend {

// What a backend can do; Backend::caps() is asked once and the caller checks
// the answer before each call that needs it.
struct Caps {
  bool atomic_multi_snapshot = false;  // Snapshot() of several disks is one point in time
  bool space_accounting = false;       // Stat() fills referenced/exclusive
  bool allocation_map = false;         // Map() tells holes from data
  bool can_clone = false;              // Clone() works
  // Rollback() leaves snapshots newer than its target in place. Without it,
  // Rollback() refuses (FailedPrecondition) while newer snapshots exist.
  bool can_rollback_keeping_newer = false;
  bool can_trim = false;  // Device::Trim() releases space (else it is refused)
  // A disk's VolumeStat.exclusive is exact; without it, an upper bound (the
  // space charged to the disk, part of which its snapshots may share).
  bool exact_disk_exclusive = false;
  bool engine_stats = false;  // EngineStats() reports the engine's figures (space, caches, dedup)
  bool dedup = false;         // SetDedup() works
  // CloneFromSr() works: a clone here may share the blocks of a snapshot in
  // another SR of the same type (cluster SRs: one container space).
  bool clone_across_srs = false;

  // Every capability (what the native engine has).
  static Caps All() { return Caps{true, true, true, true, true, true, true, true, true}; }
};

struct VolumeStat {
  std::string handle;
  uint64_t size = 0;
  bool read_only = false;
  uint64_t tag = 0;
  uint64_t referenced = 0;
  uint64_t exclusive = 0;
};

// One disk or disk snapshot opened for I/O (what the NBD server serves).
// Thread-safety: all methods may be called concurrently. Errors: OutOfRange
// past the end, FailedPrecondition for writes to a snapshot, Corruption for
// damaged data (never returned as bytes), IOError/NoSpace from storage.
class Device {
 public:
  virtual ~Device() = default;
  virtual uint64_t size() const = 0;
  virtual bool read_only() const = 0;
  // Trim() releases space; false: Trim() is NotSupported (the NBD server
  // does not offer it) and WriteZeroes() writes zeroes.
  virtual bool can_trim() const = 0;
  virtual Status Read(uint64_t offset, std::span<char> buf) = 0;
  // With `fua`, durable on return.
  virtual Status Write(uint64_t offset, std::span<const char> data, bool fua) = 0;
  virtual Status Trim(uint64_t offset, uint64_t length, bool fua) = 0;
  // Zeroes a range; `may_punch` lets it become a hole.
  virtual Status WriteZeroes(uint64_t offset, uint64_t length, bool may_punch, bool fua) = 0;
  // Makes every completed write of every device of the backend durable.
  virtual Status Flush() = 0;
  virtual StatusOr<std::vector<Extent>> Map(uint64_t offset, uint64_t length) = 0;
  // A hint that the range will be read soon (NBD_CMD_CACHE); by default nothing.
  virtual Status Cache(uint64_t offset, uint64_t length) { return Status::OK(); }
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string type() const = 0;
  virtual Caps caps() const = 0;

  virtual StatusOr<std::string> CreateDisk(uint64_t size, uint64_t tag) = 0;
  // Deletes a disk or a snapshot.
  virtual Status Delete(const std::string& handle) = 0;
  virtual Status Resize(const std::string& disk, uint64_t size) = 0;
  // Read-only copies of `disks`, in their order.
  virtual StatusOr<std::vector<std::string>> Snapshot(std::span<const std::string> disks, uint64_t tag) = 0;
  // A writable disk with the content of `snapshot`.
  virtual StatusOr<std::string> Clone(const std::string& snapshot, uint64_t tag) = 0;
  // A writable disk here with the content of snapshot `snapshot` of the SR
  // of type `type` at `location` - another SR - sharing its blocks, O(1)
  // (needs caps().clone_across_srs). That SR is not opened: the gateway
  // serving it may go on. The caller keeps the snapshot while the clone
  // exists. Errors: NotSupported for another type; NotFound when that SR
  // has not committed the snapshot.
  virtual StatusOr<std::string> CloneFromSr(const std::string& type, const std::string& location,
                                            const std::string& snapshot, uint64_t tag) {
    return NotSupported(this->type() + " SRs cannot clone a snapshot of another SR");
  }
  // Makes `disk` equal to `snapshot`, keeping every other snapshot.
  virtual Status Rollback(const std::string& disk, const std::string& snapshot) = 0;
  virtual StatusOr<VolumeStat> Stat(const std::string& handle) = 0;
  virtual StatusOr<std::vector<VolumeStat>> List() = 0;
  // Allocation map of a byte range (needs caps().allocation_map).
  virtual StatusOr<std::vector<Extent>> Map(const std::string& handle, uint64_t offset, uint64_t length) = 0;
  // The ranges of `to` that differ from `from` (Pool::Diff), from the
  // backend's own block index. NotSupported where the backend has none (the
  // caller then compares content: transfer/diff.h).
  virtual StatusOr<DiffResult> Diff(const std::string& from, const std::string& to) {
    return NotSupported(type() + " SRs cannot diff their volumes' indexes");
  }
  // Opens a disk or snapshot for I/O. The Device must not outlive the Backend.
  virtual StatusOr<std::unique_ptr<Device>> OpenDevice(const std::string& handle) = 0;
  // Verifies the backend's own structures; problems go to report->errors.
  virtual Status Check(bool structure, CheckReport* report) = 0;
  virtual Status Close() = 0;

  // The engine's figures: space, index-node cache, deduplication (needs
  // caps().engine_stats). Walks no index.
  virtual StatusOr<PoolStats> EngineStats() { return NotSupported(type() + " SRs have no engine figures"); }
  // Sets deduplication for the writes that follow (needs caps().dedup).
  virtual Status SetDedup(DedupMode mode) { return NotSupported(type() + " SRs do not deduplicate"); }
};

struct OpenOptions {
  bool create = false;  // make a new, empty store at the location
  // Geometry of a new native store (ignored by other types).
  uint32_t cluster_size = 64 * 1024;
  uint64_t container_size = 64ull << 20;
  DedupMode dedup = DedupMode::kOff;  // native: the initial deduplication mode
  // Native: punch space no block references when opening (fsck opens with
  // false, to report it instead).
  bool reclaim_garbage = true;
  // Native: open a pool whose log is damaged before durable records, giving
  // those writes up (PoolOptions::accept_log_loss).
  bool accept_log_loss = false;
};

// Opens (or creates) the backend of SR type `type` at `location`.
// NotSupported for an unregistered type.
StatusOr<std::unique_ptr<Backend>> OpenBackend(const std::string& type, const std::string& location,
                                               const OpenOptions& options);

using BackendFactory =
    std::function<StatusOr<std::unique_ptr<Backend>>(const std::string& location, const OpenOptions& options)>;
// Registers a type; returns false if it was already registered. A type's
// location is a directory path (relative ones are taken from the pool
// directory) unless `location_is_path` is false (zfs: a dataset name).
bool RegisterBackend(const std::string& type, BackendFactory factory, bool location_is_path = true);
bool LocationIsPath(const std::string& type);
std::vector<std::string> BackendTypes();

}  // namespace vmstore::backend
