// Test helpers for the catalog: a temporary pool directory, a settable clock,
// and disk I/O through Manager::Resolve.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "engine/test_util.h"
#include "vmstore/manager.h"

namespace vmstore::testing {

// 2014-02-19T02:52:44Z, the paper's example time.
constexpr int64_t kPaperTime = 1392778364ll * 1000000000ll;

// Writes to a disk (or clone) through its SR's Device and flushes.
inline Status WriteDisk(Manager& m, const std::string& name, uint64_t off, const std::string& data) {
  ASSIGN_OR_RETURN(DiskRef r, m.Resolve(name));
  ASSIGN_OR_RETURN(auto dev, r.backend->OpenDevice(r.handle));
  RETURN_IF_ERROR(dev->Write(off, data, /*fua=*/false));
  return dev->Flush();
}

inline StatusOr<std::string> ReadDisk(Manager& m, const std::string& name, uint64_t off, size_t len) {
  ASSIGN_OR_RETURN(DiskRef r, m.Resolve(name));
  ASSIGN_OR_RETURN(auto dev, r.backend->OpenDevice(r.handle));
  std::string buf(len, '\0');
  RETURN_IF_ERROR(dev->Read(off, buf));
  return buf;
}

}  // namespace vmstore::testing
