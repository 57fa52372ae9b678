// The reflink backend: an SR kept as raw image files in a directory of a file
// system that can share extents between files (FICLONE: XFS with reflink=1,
// btrfs, OCFS2 - the snapshot paper's cluster file system). A snapshot or a
// clone is a FICLONE copy of the whole file: O(extents), no data copied, and
// reading it is one lookup in the file system's extent map (no chain).
//
// Layout (docs/FORMAT.md): DIR/vmstore-reflink-sr (marker), DIR/HANDLE.img per
// volume (backend/volume_name.h); snapshots have mode 0444.
// Data checksums are the file system's (btrfs has them; XFS and OCFS2 do not).
// Thread-safety: thread-safe. Errors: as Backend; InvalidArgument at creation
// when DIR's file system cannot clone files (with its name and the reason).
#pragma once

#include "vmstore/backend.h"

namespace vmstore::backend {

StatusOr<std::unique_ptr<Backend>> OpenReflinkBackend(const std::string& location, const OpenOptions& options);

}  // namespace vmstore::backend
