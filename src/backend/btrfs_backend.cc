#include "backend/btrfs_backend.h"

#include <btrfsutil.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>

#include "backend/dir_backend.h"

namespace vmstore::backend {
namespace {

constexpr char kImage[] = "/disk.img";

Status Errno(const std::string& what) { return ErrnoStatus(errno, what); }

// libbtrfsutil's error, with errno's text where it set one.
Status BtrfsError(btrfs_util_error e, const std::string& what) {
  std::string msg = what + ": " + btrfs_util_strerror(e);
  if (errno != 0) return ErrnoStatus(errno, msg);
  return IOError(msg);
}

class BtrfsLayout final : public DirLayout {
 public:
  std::string type() const override { return "btrfs"; }
  std::string marker() const override { return "vmstore-btrfs-sr"; }
  std::string marker_text() const override { return "vmstore btrfs SR, format 1\n"; }

  Status Probe(const std::string& dir) const override {
    struct statfs s;
    if (::statfs(dir.c_str(), &s) != 0) return Errno("statfs " + dir);
    if (static_cast<unsigned long>(s.f_type) != BTRFS_SUPER_MAGIC) {
      return InvalidArgument(dir + " is on " + FileSystemName(dir) +
                             ", not btrfs; a btrfs SR keeps each disk in a btrfs subvolume (mkfs.btrfs, or use "
                             "--type reflink on XFS)");
    }
    return Status::OK();
  }

  std::string EntryName(const VolumeName& n) const override { return n.handle(); }
  std::optional<VolumeName> FromEntry(const std::string& entry) const override { return ParseVolumeHandle(entry); }
  std::string ImagePath(const std::string& path) const override { return path + kImage; }

  Status BuildEmpty(const std::string& tmp, uint64_t size) const override {
    errno = 0;
    if (auto e = btrfs_util_create_subvolume(tmp.c_str(), 0, nullptr, nullptr); e != BTRFS_UTIL_OK) {
      return BtrfsError(e, "create subvolume " + tmp);
    }
    const std::string image = tmp + kImage;
    int fd = ::open(image.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return Errno("create " + image);
    Status s;
    if (::ftruncate(fd, static_cast<off_t>(size)) != 0) s = Errno("set the size of " + image);
    if (s.ok() && ::fsync(fd) != 0) s = Errno("fsync " + image);
    ::close(fd);
    if (s.ok()) s = SyncDir(tmp);
    return s;
  }

  Status BuildCopy(const std::string& tmp, const std::string& src, bool read_only) const override {
    // Snapshot creation writes the source's dirty data first, so the copy
    // holds every write that completed before it.
    errno = 0;
    int flags = read_only ? BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY : 0;
    if (auto e = btrfs_util_create_snapshot(src.c_str(), tmp.c_str(), flags, nullptr, nullptr); e != BTRFS_UTIL_OK) {
      return BtrfsError(e, "snapshot " + src + " as " + tmp);
    }
    return Status::OK();
  }

  Status Remove(const std::string& path) const override {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return errno == ENOENT ? Status::OK() : Errno("stat " + path);
    errno = 0;
    if (btrfs_util_is_subvolume(path.c_str()) != BTRFS_UTIL_OK) {
      // A temporary left half-made: a plain directory or file.
      std::string image = path + kImage;
      ::unlink(image.c_str());
      if (::remove(path.c_str()) != 0) return Errno("delete " + path);
      return Status::OK();
    }
    errno = 0;
    if (auto e = btrfs_util_delete_subvolume(path.c_str(), 0); e != BTRFS_UTIL_OK) {
      return BtrfsError(e, "delete subvolume " + path);
    }
    return Status::OK();
  }

  Status Replace(const std::string& tmp, const std::string& path) const override {
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_EXCHANGE) != 0) {
      return Errno("exchange " + tmp + " with " + path);
    }
    return Remove(tmp);  // now the old disk
  }

  void CheckEntry(const std::string& path, const VolumeName& n, std::vector<std::string>* errors) const override {
    errno = 0;
    if (btrfs_util_is_subvolume(path.c_str()) != BTRFS_UTIL_OK) {
      errors->push_back(path + " is not a btrfs subvolume");
      return;
    }
    bool ro = false;
    if (btrfs_util_get_subvolume_read_only(path.c_str(), &ro) != BTRFS_UTIL_OK) {
      errors->push_back(path + ": cannot read its read-only flag");
    } else if (ro != n.snapshot) {
      errors->push_back(path + (n.snapshot ? " is a snapshot but writable" : " is a disk but read-only"));
    }
    struct stat st;
    if (::stat(ImagePath(path).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      errors->push_back(ImagePath(path) + " is missing or not a regular file");
    }
  }
};

}  // namespace

StatusOr<std::unique_ptr<Backend>> OpenBtrfsBackend(const std::string& location, const OpenOptions& options) {
  return OpenDirBackend(std::make_unique<BtrfsLayout>(), location, options);
}

}  // namespace vmstore::backend
