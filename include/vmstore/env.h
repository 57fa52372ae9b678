// Env: the only way VMStore touches files (cf. LevelDB's Env).
//
// The engine receives an Env* through PoolOptions; production uses
// Env::Default() (POSIX), tests use MemEnv (src/util/mem_env.h), an in-memory
// file system that can simulate power loss (dropping unsynced writes) and inject
// EIO / ENOSPC.
//
// Ownership: Env::Default() is a process-lifetime singleton; File objects are
// owned by the caller through unique_ptr and must not outlive their Env.
// Thread-safety: Env methods are thread-safe. A File may be used from several
// threads at once for ReadAt/WriteAt at different offsets (like pread/pwrite);
// Sync, Truncate and PunchHole are also safe to call concurrently.
// Errors: every call returns Status; ENOSPC maps to Code::kNoSpace.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "vmstore/status.h"

namespace vmstore {

// The file system holding a path: its size and the bytes a writer may still use.
struct FsSpace {
  uint64_t total = 0;
  uint64_t available = 0;
};

// A half-open byte range [offset, offset + length).
struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;
};

class File {
 public:
  virtual ~File() = default;
  // Reads exactly n bytes at offset; bytes past the end of file read as zero.
  virtual Status ReadAt(uint64_t offset, size_t n, char* dst) = 0;
  virtual Status WriteAt(uint64_t offset, const char* src, size_t n) = 0;
  // Makes every completed write durable (fdatasync).
  virtual Status Sync() = 0;
  virtual Status Truncate(uint64_t size) = 0;
  // Deallocates [offset, offset+length); the range then reads as zero.
  virtual Status PunchHole(uint64_t offset, uint64_t length) = 0;
  virtual StatusOr<uint64_t> Size() = 0;
  // Bytes of storage actually allocated to the file (st_blocks * 512).
  virtual StatusOr<uint64_t> AllocatedBytes() = 0;
  // The ranges that hold data (not holes), in order, at 4 KiB granularity or finer.
  virtual StatusOr<std::vector<ByteRange>> DataRanges() = 0;
};

class Env {
 public:
  virtual ~Env() = default;
  static Env* Default();

  // Opens (creating if `create`) a file for reading and writing.
  virtual StatusOr<std::unique_ptr<File>> OpenFile(const std::string& path, bool create) = 0;
  virtual bool FileExists(const std::string& path) = 0;
  virtual Status DeleteFile(const std::string& path) = 0;  // NotFound if there is none
  virtual Status CreateDir(const std::string& path) = 0;   // ok if it exists
  virtual StatusOr<std::vector<std::string>> ListDir(const std::string& path) = 0;
  // Makes the directory's entries (creations, deletions) durable.
  virtual Status SyncDir(const std::string& path) = 0;
  // Takes an exclusive advisory lock on `path` for this process. The returned
  // object releases it when destroyed. Fails with kFailedPrecondition if held.
  class Lock {
   public:
    virtual ~Lock() = default;
  };
  virtual StatusOr<std::unique_ptr<Lock>> LockFile(const std::string& path) = 0;
  // Size and free space of the file system holding `path` (statvfs).
  virtual StatusOr<FsSpace> FileSystemSpace(const std::string& path) = 0;
  // Wall clock, nanoseconds since the Unix epoch.
  virtual int64_t NowNanos() = 0;
};

}  // namespace vmstore
