// Volume handles of the file-backed SR types (reflink, btrfs, zfs):
// d<N>-<TAG> for a disk, s<N>-<TAG> for a snapshot. N numbers the SR's
// volumes; TAG is the backend tag the catalog passes (an intent number).
// The handle is the volume's name on disk, so a listing alone gives every
// volume with its tag. One spelling per volume: "d01-2" is not a handle.
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "vmstore/status.h"

namespace vmstore::backend {

struct VolumeName {
  bool snapshot = false;
  uint64_t number = 0;
  uint64_t tag = 0;
  std::string handle() const;
};

// nullopt unless `h` is exactly a handle's spelling.
std::optional<VolumeName> ParseVolumeHandle(const std::string& h);

// As ParseVolumeHandle, InvalidArgument naming `type` when it is not one.
StatusOr<VolumeName> ParseVolumeHandleFor(const std::string& type, const std::string& h);

}  // namespace vmstore::backend
