// The changed ranges between two disk states of a pool, for `vmstore diff`
// and `vmstore send`.
//
// Where both are in one SR whose backend keeps a block index (the native
// engine), the backend's Diff walks the two trees and skips what they share
// (method "index"): the cost follows the change. Otherwise the two are read
// and compared in 64 KiB pieces (method "compare"): the cost follows the
// disk's size.
//
// Thread-safety: as the Manager's. Errors: the Manager's (NotFound for an
// unknown reference), the backends'.
#pragma once

#include <string>

#include "vmstore/manager.h"

namespace vmstore::transfer {

struct DiskDiff {
  DiffResult result;
  std::string method;  // "index", "compare" or "map" (from nothing: what `to` holds)
};

// `from` "" means an empty disk: the ranges where `to` holds data.
StatusOr<DiskDiff> DiffDisks(Manager& m, const std::string& from, const std::string& to);
// The same for disks already resolved; `from` null means an empty disk.
StatusOr<DiskDiff> DiffResolved(const DiskRef* from, const DiskRef& to);

// The identity a send stream gives a disk snapshot: its "vmstore:guid"
// property (set when it was itself received) or else its VDI's uuid.
StatusOr<std::string> SnapshotGuid(Manager& m, const std::string& vm_disk_at_full);

}  // namespace vmstore::transfer
