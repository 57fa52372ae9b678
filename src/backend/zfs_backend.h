// The zfs backend: an SR kept in a ZFS dataset (OpenZFS, or zfs-fuse, which
// the tests use), driven through the `zfs` command. Each disk is a child
// file system dataset holding one raw image (disk.img); a snapshot is a ZFS
// snapshot of it, a clone `zfs clone`, a rollback `zfs rollback`. ZFS
// snapshots and clones are O(1) and chain-free (block birth times and dead
// lists): a read is one lookup in the dataset's own tree.
//
// Layout (docs/FORMAT.md): ROOT carries the user property org.vmstore:sr=1;
// disks are ROOT/d<N>-<TAG>, snapshots DATASET@s<N>-<TAG> with
// org.vmstore:size (backend/volume_name.h). Snapshots are read through a
// temporary read-only clone ROOT/r<PID>-<SEQ> (zfs-fuse has no .zfs
// directory), destroyed when the device closes or, after a crash, at open.
//
// What ZFS cannot do, and what this backend does instead (docs/ARCHITECTURE.md):
// - roll back past a newer snapshot without destroying it: Rollback refuses
//   (caps().can_rollback_keeping_newer is false) and names the snapshots;
// - delete a dataset and keep its snapshots: a deleted disk with snapshots
//   loses its image and is kept hidden (org.vmstore:deleted=1) until its last
//   snapshot goes;
// - destroy a snapshot a clone depends on: snapshots are destroyed with
//   `zfs destroy -d`, which ZFS completes when the last clone goes.
// Trim is offered only where the file system punches holes (OpenZFS does,
// zfs-fuse does not); allocation maps are not (FUSE has no SEEK_HOLE).
//
// Thread-safety: thread-safe. Errors: as Backend; InvalidArgument at creation
// when the dataset does not exist, is not a mounted file system, or already
// holds datasets; the zfs command's own message otherwise.
#pragma once

#include "vmstore/backend.h"

namespace vmstore::backend {

StatusOr<std::unique_ptr<Backend>> OpenZfsBackend(const std::string& location, const OpenOptions& options);

}  // namespace vmstore::backend
