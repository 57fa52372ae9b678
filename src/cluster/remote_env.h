// RemoteEnv: the Env of a gateway's engine - a pool's own files (the
// superblock's two slots, the two logs, the dedup index) kept on storage
// nodes, each file on the R nodes the ring places its name on, so a pool
// lives entirely on the nodes and any gateway can open it after the one that
// served it died (docs/CLUSTER.md, "One engine per VM").
//
//  - Writes, truncates and punches go to every replica; a call succeeds when
//    one took it, and the others are recorded (options.misses, durably) as
//    having missed that file: no RemoteEnv reads from or writes to them again
//    until Repair() has copied the file back to them (ReplicaSet).
//  - Sync returns when every replica that took the writes has synced, or at
//    least one has (the others then count as missing the file).
//  - Reads go to the first replica that has not missed a change.
//  - Directories do not exist: CreateDir and SyncDir succeed, ListDir lists
//    the names under "PATH/". LockFile returns a lock that guards nothing:
//    the VM's writer lock in etcd keeps other gateways off a pool.
//    FileSystemSpace reports 1 PiB free: the nodes refuse what they cannot
//    hold (ENOSPC), and the pool's admission control sees that.
//
// Thread-safety: as Env (thread-safe); Files may be used from several threads.
// Ownership: owns its connections; Files must not outlive it.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>

#include "cluster/replica_set.h"
#include "vmstore/env.h"

namespace vmstore::cluster {

class RemoteEnv final : public Env {
 public:
  RemoteEnv(Ring ring, RemoteStoreOptions options);
  // Places files with `view` as it is at each call (the ring may move).
  RemoteEnv(std::shared_ptr<RingView> view, RemoteStoreOptions options);
  // Loads the misses recorded before (options.misses), by this gateway or a
  // dead one; call once before the first read.
  Status LoadMisses();

  StatusOr<std::unique_ptr<File>> OpenFile(const std::string& path, bool create) override;
  bool FileExists(const std::string& path) override;
  Status DeleteFile(const std::string& path) override;
  Status CreateDir(const std::string& path) override { return Status::OK(); }
  StatusOr<std::vector<std::string>> ListDir(const std::string& path) override;
  Status SyncDir(const std::string& path) override { return Status::OK(); }
  StatusOr<std::unique_ptr<Lock>> LockFile(const std::string& path) override;
  StatusOr<FsSpace> FileSystemSpace(const std::string& path) override;
  int64_t NowNanos() override;

  // Replica calls for RemoteFile (remote_env.cc).
  // The first replica of `path` that has not missed a change and answers.
  StatusOr<std::string> ReadFrom(const std::string& path, ContainerRequest r);
  // Every replica; OK when one took it (the others marked as missing `path`).
  Status ToAll(const std::string& path, ContainerRequest r, std::string_view data);
  // Replicas (node names) that missed a change of a file, by file.
  std::map<std::string, std::set<std::string>> missed() const;
  // Copies every file of the pool (under options' files, all of them) back
  // to the replicas that missed a change of it and are reachable again, and
  // clears their records. Safe while the engine writes.
  RepairReport Repair();
  // The writer lock was taken again (with nobody holding it meanwhile):
  // every call carries its new fence from now on.
  void SetFence(uint64_t fence) { replicas_.SetFence(fence); }

 private:
  // Brings `stale`'s copy of a file (miss record `object`, ring key `key`)
  // to a good replica's: its size and holes, and the 64 KiB chunks whose
  // digests differ. Not `final`: the bulk, while the pool writes on,
  // throttled as a recovery copy; `final`: under the lock, strict, synced.
  Status SyncFile(const std::string& object, uint64_t key, NodeClient* stale, uint64_t* bytes, bool final);

  const RemoteStoreOptions opts_;
  ReplicaSet replicas_;  // objects "file:PATH"
};

// A file's key on the ring: its name's hash, as a 33-bit container number.
uint64_t FileKey(const std::string& path);

}  // namespace vmstore::cluster
