// Test helpers for the catalog: a temporary pool directory, a settable clock,
// and disk I/O through Manager::Resolve.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "backend/native_backend.h"
#include "engine/test_util.h"
#include "vmstore/manager.h"

namespace vmstore::testing {

// A fresh directory under the test's temp dir, removed at destruction.
class TempDir {
 public:
  TempDir() {
    static int n = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("vmstore-cat-" + std::to_string(getpid()) + "-" + std::to_string(n++));
    std::filesystem::remove_all(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// 2014-02-19T02:52:44Z, the paper's example time.
constexpr int64_t kPaperTime = 1392778364ll * 1000000000ll;

inline Status WriteDisk(Manager& m, const std::string& name, uint64_t off, const std::string& data) {
  ASSIGN_OR_RETURN(DiskRef r, m.Resolve(name));
  Pool* p = r.backend->native_pool();
  if (!p) return NotSupported("not a native SR");
  ASSIGN_OR_RETURN(VolumeId id, backend::NativeVolumeId(r.handle));
  RETURN_IF_ERROR(p->Write(id, off, data));
  return p->Flush();
}

inline StatusOr<std::string> ReadDisk(Manager& m, const std::string& name, uint64_t off, size_t len) {
  ASSIGN_OR_RETURN(DiskRef r, m.Resolve(name));
  Pool* p = r.backend->native_pool();
  if (!p) return NotSupported("not a native SR");
  ASSIGN_OR_RETURN(VolumeId id, backend::NativeVolumeId(r.handle));
  std::string buf(len, '\0');
  RETURN_IF_ERROR(p->Read(id, off, buf));
  return buf;
}

}  // namespace vmstore::testing
