#include "backend/reflink_backend.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "backend/dir_backend.h"

namespace vmstore::backend {
namespace {

constexpr char kSuffix[] = ".img";

Status Errno(const std::string& what) { return ErrnoStatus(errno, what); }

// Creates `path`, lets `fill` write it, syncs it and makes it read-only if
// asked. Removes the file again on failure.
Status MakeFile(const std::string& path, bool read_only, const std::function<Status(int)>& fill) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("create " + path);
  Status s = fill(fd);
  if (s.ok() && ::fsync(fd) != 0) s = Errno("fsync " + path);
  if (s.ok() && read_only && ::fchmod(fd, 0400) != 0) s = Errno("chmod " + path);
  ::close(fd);
  if (!s.ok()) ::unlink(path.c_str());
  return s;
}

// Shares src's extents with the file `fd`.
Status CloneInto(const std::string& src, int fd) {
  int s = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
  if (s < 0) return Errno("open " + src);
  int r = ::ioctl(fd, FICLONE, s);
  int e = errno;
  ::close(s);
  if (r != 0) return ErrnoStatus(e, "FICLONE from " + src);
  return Status::OK();
}

class ReflinkLayout final : public DirLayout {
 public:
  std::string type() const override { return "reflink"; }
  std::string marker() const override { return "vmstore-reflink-sr"; }
  std::string marker_text() const override { return "vmstore reflink SR, format 1\n"; }

  Status Probe(const std::string& dir) const override {
    std::string a = dir + "/.tmp-probe-a", b = dir + "/.tmp-probe-b";
    ::unlink(a.c_str());
    ::unlink(b.c_str());
    std::string block(4096, 'p');
    Status s = MakeFile(a, false, [&](int fd) {
      if (::pwrite(fd, block.data(), block.size(), 0) != static_cast<ssize_t>(block.size())) return Errno("write");
      return Status::OK();
    });
    if (!s.ok()) return Status(s.code(), "cannot write a probe file in " + dir + ": " + s.message());
    s = MakeFile(b, false, [&](int fd) { return CloneInto(a, fd); });
    ::unlink(a.c_str());
    ::unlink(b.c_str());
    if (!s.ok()) {
      return InvalidArgument(dir + " is on " + FileSystemName(dir) + ", which cannot share extents between files (" +
                             s.message() +
                             "); a reflink SR needs XFS made with reflink=1, btrfs or OCFS2 with refcount trees");
    }
    return Status::OK();
  }

  std::string EntryName(const VolumeName& n) const override { return n.handle() + kSuffix; }
  std::optional<VolumeName> FromEntry(const std::string& file) const override {
    const size_t n = sizeof kSuffix - 1;
    if (file.size() <= n || file.compare(file.size() - n, n, kSuffix) != 0) return std::nullopt;
    return ParseVolumeHandle(file.substr(0, file.size() - n));
  }
  std::string ImagePath(const std::string& path) const override { return path; }

  Status BuildEmpty(const std::string& tmp, uint64_t size) const override {
    return MakeFile(tmp, false, [&](int fd) -> Status {
      if (::ftruncate(fd, static_cast<off_t>(size)) != 0) return Errno("set the size of a new disk");
      return Status::OK();
    });
  }
  Status BuildCopy(const std::string& tmp, const std::string& src, bool read_only) const override {
    return MakeFile(tmp, read_only, [&](int fd) { return CloneInto(src, fd); });
  }
  Status Remove(const std::string& path) const override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Errno("delete " + path);
    return Status::OK();
  }
  Status Replace(const std::string& tmp, const std::string& path) const override {
    if (::rename(tmp.c_str(), path.c_str()) != 0) return Errno("rename to " + path);
    return Status::OK();
  }

  void CheckEntry(const std::string& path, const VolumeName& n, std::vector<std::string>* errors) const override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      errors->push_back(path + " is not a regular file");
    } else if (n.snapshot && (st.st_mode & 0222)) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(st.st_mode & 0777));
      errors->push_back(path + " is a snapshot but writable (mode " + mode + ")");
    }
  }
};

}  // namespace

StatusOr<std::unique_ptr<Backend>> OpenReflinkBackend(const std::string& location, const OpenOptions& options) {
  return OpenDirBackend(std::make_unique<ReflinkLayout>(), location, options);
}

}  // namespace vmstore::backend
