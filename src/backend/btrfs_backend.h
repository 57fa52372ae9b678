// The btrfs backend: an SR kept in a directory of a btrfs file system, each
// volume a subvolume holding one raw image (disk.img). A snapshot is a
// read-only subvolume snapshot, a clone a writable one (libbtrfsutil): both
// O(1) in the disk's size, and reading either is one lookup in its own
// B-tree (no chain). Rollback makes a writable snapshot of the snapshot and
// exchanges it with the disk's subvolume (renameat2 RENAME_EXCHANGE).
//
// Layout (docs/FORMAT.md): DIR/vmstore-btrfs-sr (marker), DIR/HANDLE/disk.img
// per volume (backend/volume_name.h). Data checksums are btrfs's.
// Thread-safety: thread-safe. Errors: as Backend; InvalidArgument at creation
// when DIR is not on btrfs (naming the file system it is on).
#pragma once

#include "vmstore/backend.h"

namespace vmstore::backend {

StatusOr<std::unique_ptr<Backend>> OpenBtrfsBackend(const std::string& location, const OpenOptions& options);

}  // namespace vmstore::backend
