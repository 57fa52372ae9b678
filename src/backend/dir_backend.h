// The part the directory-backed SR types share (reflink, btrfs): an SR is a
// directory with a marker file and one entry per volume, named by its handle
// (backend/volume_name.h); each volume is a raw image file. What an entry is
// and how a copy is made is the layout's (DirLayout): a FICLONE'd file for
// reflink, a subvolume snapshot holding the image for btrfs. Both can do
// everything (Caps::All) but snapshot several disks in one atomic step.
//
// Volumes are built under a temporary name (.tmp-PID-SEQ), synced and renamed
// into place, so a crash leaves either no volume or a whole one; temporaries
// are removed at open. Thread-safety: thread-safe. Errors: as Backend.
#pragma once

#include <memory>
#include <string>

#include "backend/volume_name.h"
#include "vmstore/backend.h"

namespace vmstore::backend {

// How volumes of one SR type live in its directory. Paths are absolute.
// Thread-safety: the backend serialises Build*/Remove/Install calls.
class DirLayout {
 public:
  virtual ~DirLayout() = default;
  virtual std::string type() const = 0;
  // The SR's marker file name and its content.
  virtual std::string marker() const = 0;
  virtual std::string marker_text() const = 0;
  // Can `dir` hold this SR type? OK or InvalidArgument with the reason.
  virtual Status Probe(const std::string& dir) const = 0;
  // The entry name of a handle, and the handle of an entry name (nullopt
  // for entries that are not volumes).
  virtual std::string EntryName(const VolumeName& n) const = 0;
  virtual std::optional<VolumeName> FromEntry(const std::string& entry) const = 0;
  // The raw image inside the entry at `path`.
  virtual std::string ImagePath(const std::string& path) const = 0;
  // Make a new entry at `tmp`: an empty disk of `size`, or a copy of the
  // entry at `src` (read-only when `read_only`), durable on return.
  virtual Status BuildEmpty(const std::string& tmp, uint64_t size) const = 0;
  virtual Status BuildCopy(const std::string& tmp, const std::string& src, bool read_only) const = 0;
  // Removes the entry at `path` (also half-built temporaries).
  virtual Status Remove(const std::string& path) const = 0;
  // Puts the built entry `tmp` in place of the existing entry `path`; the old
  // one is gone afterwards.
  virtual Status Replace(const std::string& tmp, const std::string& path) const = 0;
  // Problems with the entry at `path` of volume `n`, appended to `errors`.
  virtual void CheckEntry(const std::string& path, const VolumeName& n, std::vector<std::string>* errors) const = 0;
};

// Opens (or, with options.create, makes) the SR of `layout` at `dir`.
StatusOr<std::unique_ptr<Backend>> OpenDirBackend(std::unique_ptr<DirLayout> layout, const std::string& dir,
                                                  const OpenOptions& options);

// fsync of a directory (after a rename or unlink in it).
Status SyncDir(const std::string& dir);

// Bytes of the file's extents that no other file shares (FIEMAP).
StatusOr<uint64_t> ExclusiveBytes(int fd);

// The name of the file system holding `path` ("xfs", "btrfs", "ext4", ...).
std::string FileSystemName(const std::string& path);

}  // namespace vmstore::backend
