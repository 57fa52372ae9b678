// A Device over a raw image file (file-backed SR types): pread / pwrite,
// FUA as fdatasync, trim and zeroing as fallocate, the allocation map from
// SEEK_DATA / SEEK_HOLE.
// Thread-safety: thread-safe (positional I/O only). Ownership: owns the fd.
#pragma once

#include <memory>
#include <string>

#include "vmstore/backend.h"

namespace vmstore::backend {

// Opens `path` read-write, or read-only when `read_only`. Without
// `can_trim` (a file system that cannot punch holes) Trim is NotSupported and
// zeroing writes zeroes. IOError/NotFound.
StatusOr<std::unique_ptr<Device>> OpenFileDevice(const std::string& path, bool read_only, bool can_trim = true);

// The allocation map of [offset, offset+length) of an open file.
StatusOr<std::vector<Extent>> FileMap(int fd, uint64_t offset, uint64_t length);

}  // namespace vmstore::backend
