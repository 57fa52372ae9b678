// MemEnv: an in-memory Env for tests that can simulate power loss and failing disks.
//
// Every file keeps two images: the durable one (what survives a power cut) and the
// current one. Writes, truncates and hole punches since the file's last Sync are
// kept as a list of pending operations. SimulateCrash() rebuilds every file from
// its durable image plus a random subset of its pending operations (each kept,
// dropped, or - for writes - torn at a 512-byte boundary), which models a disk
// that reorders and loses unsynced writes. Directory operations (create, delete)
// are durable at once.
//
// Fault injection: SetReadErrorRate / SetWriteErrorRate make I/O fail with EIO at
// random (seeded); SetCapacity makes writes fail with ENOSPC past a total size;
// SetDead makes every operation fail (a crashed process must not write again).
//
// Thread-safety: all methods are thread-safe (one internal mutex).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "vmstore/env.h"

namespace vmstore {

class MemEnv final : public Env {
 public:
  MemEnv();
  ~MemEnv() override;

  StatusOr<std::unique_ptr<File>> OpenFile(const std::string& path, bool create) override;
  bool FileExists(const std::string& path) override;
  Status DeleteFile(const std::string& path) override;
  Status CreateDir(const std::string& path) override;
  StatusOr<std::vector<std::string>> ListDir(const std::string& path) override;
  Status SyncDir(const std::string& path) override;
  StatusOr<std::unique_ptr<Lock>> LockFile(const std::string& path) override;
  // Total = the capacity (SetCapacity; 1 PiB when unlimited), available = what
  // is left of it.
  StatusOr<FsSpace> FileSystemSpace(const std::string& path) override;
  int64_t NowNanos() override;

  // Power loss: drops or tears unsynced operations chosen with `seed`, releases
  // locks and makes the env dead (every thread of the crashed process stops at
  // once); SetDead(false) before "rebooting".
  void SimulateCrash(uint64_t seed);
  // Every later operation fails with kIOError while dead.
  void SetDead(bool dead);
  // The process "dies" after `n` more mutating calls (writes, syncs, truncates,
  // punches, deletes): that call and every later one fail until SetDead(false).
  // 0 disables.
  void KillAfter(uint64_t n);
  // Random EIO with the given probability per call (0 disables), seeded.
  void SetReadErrorRate(double p, uint64_t seed);
  void SetWriteErrorRate(double p, uint64_t seed);
  // Writes that would grow the total allocated bytes past `bytes` fail with ENOSPC
  // (0 = unlimited).
  void SetCapacity(uint64_t bytes);
  // Direct access for corruption tests: flips bit `bit` of byte `offset`.
  Status FlipBit(const std::string& path, uint64_t offset, int bit);
  StatusOr<uint64_t> FileSize(const std::string& path);
  uint64_t TotalAllocatedBytes();
  // For another in-memory device that shares this env's fate (MemBlockStore):
  // a read or a mutating call of that device, failing as one of this env's
  // would (dead, killed by KillAfter, injected EIO). Capacity is not counted.
  Status InjectRead();
  Status InjectWrite();
  // Number of operations that failed through injection so far.
  uint64_t injected_failures() const { return injected_; }

  struct Node;  // a file's images (internal)

 private:
  friend class MemFile;
  Status CheckRead();
  Status CheckWrite(uint64_t grow_bytes);
  uint64_t AllocatedLocked() const;  // every file's allocated bytes; mu_ held

  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Node>> files_;
  std::set<std::string> dirs_;
  std::set<std::string> locks_;
  bool dead_ = false;
  double read_err_ = 0, write_err_ = 0;
  std::mt19937_64 rng_;
  uint64_t capacity_ = 0;
  uint64_t kill_countdown_ = 0;
  uint64_t injected_ = 0;
  int64_t clock_ = 1'600'000'000'000'000'000;
};

}  // namespace vmstore
