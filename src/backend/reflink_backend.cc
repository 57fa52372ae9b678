#include "backend/reflink_backend.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>

#include "backend/file_device.h"

namespace vmstore::backend {
namespace {

constexpr char kMarker[] = "vmstore-reflink-sr";
constexpr char kMarkerText[] = "vmstore reflink SR, format 1\n";
constexpr char kSuffix[] = ".img";
constexpr char kTmpPrefix[] = ".tmp-";

// A volume's file name parts: d|s, number, tag.
struct Name {
  bool snapshot = false;
  uint64_t number = 0, tag = 0;
  std::string handle() const {
    return std::string(snapshot ? "s" : "d") + std::to_string(number) + "-" + std::to_string(tag);
  }
};

std::optional<Name> ParseHandle(const std::string& h) {
  if (h.size() < 4 || (h[0] != 'd' && h[0] != 's')) return std::nullopt;
  size_t dash = h.find('-');
  if (dash == std::string::npos || dash == 1 || dash + 1 == h.size()) return std::nullopt;
  Name n;
  n.snapshot = h[0] == 's';
  try {
    size_t p1 = 0, p2 = 0;
    n.number = std::stoull(h.substr(1, dash - 1), &p1);
    n.tag = std::stoull(h.substr(dash + 1), &p2);
    if (p1 != dash - 1 || p2 != h.size() - dash - 1) return std::nullopt;
  } catch (...) {
    return std::nullopt;
  }
  if (n.handle() != h) return std::nullopt;  // one spelling per volume
  return n;
}

Status Errno(const std::string& what) { return ErrnoStatus(errno, what); }

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("open " + dir);
  int r = ::fsync(fd);
  int e = errno;
  ::close(fd);
  if (r != 0) return ErrnoStatus(e, "fsync " + dir);
  return Status::OK();
}

// Bytes of the file's extents that no other file shares (FIEMAP).
StatusOr<uint64_t> ExclusiveBytes(int fd) {
  constexpr unsigned kBatch = 256;
  std::vector<char> buf(sizeof(fiemap) + kBatch * sizeof(fiemap_extent));
  auto* fm = reinterpret_cast<fiemap*>(buf.data());
  uint64_t start = 0, exclusive = 0;
  for (;;) {
    std::memset(buf.data(), 0, buf.size());
    fm->fm_start = start;
    fm->fm_length = ~0ull - start;
    fm->fm_flags = FIEMAP_FLAG_SYNC;
    fm->fm_extent_count = kBatch;
    if (::ioctl(fd, FS_IOC_FIEMAP, fm) != 0) return Errno("FIEMAP");
    if (fm->fm_mapped_extents == 0) break;
    bool last = false;
    for (unsigned i = 0; i < fm->fm_mapped_extents; ++i) {
      const fiemap_extent& e = fm->fm_extents[i];
      if (!(e.fe_flags & FIEMAP_EXTENT_SHARED)) exclusive += e.fe_length;
      start = e.fe_logical + e.fe_length;
      last |= (e.fe_flags & FIEMAP_EXTENT_LAST) != 0;
    }
    if (last) break;
  }
  return exclusive;
}

class ReflinkBackend final : public Backend {
 public:
  explicit ReflinkBackend(std::string dir) : dir_(std::move(dir)) {}

  // Scans the directory: removes temporaries, finds the next number.
  Status Load() {
    ASSIGN_OR_RETURN(auto names, Entries());
    for (const std::string& n : names) {
      if (n.rfind(kTmpPrefix, 0) == 0) {
        ::unlink((dir_ + "/" + n).c_str());  // an interrupted creation
      } else if (auto name = FromFile(n)) {
        next_ = std::max(next_, name->number + 1);
      }
    }
    return Status::OK();
  }

  std::string type() const override { return "reflink"; }
  Caps caps() const override {
    Caps c;
    c.atomic_multi_snapshot = false;  // one FICLONE per disk; the server's VM gate makes them one point
    c.space_accounting = true;
    c.allocation_map = true;
    return c;
  }

  StatusOr<std::string> CreateDisk(uint64_t size, uint64_t tag) override {
    std::lock_guard<std::mutex> l(mu_);
    Name n{false, next_++, tag};
    return Make(n, [&](int fd) -> Status {
      if (::ftruncate(fd, static_cast<off_t>(size)) != 0) return Errno("set the size of a new disk");
      return Status::OK();
    });
  }

  Status Delete(const std::string& handle) override {
    std::lock_guard<std::mutex> l(mu_);
    ASSIGN_OR_RETURN(std::string path, PathOf(handle));
    if (::unlink(path.c_str()) != 0) return Errno("delete " + path);
    return SyncDir(dir_);
  }

  Status Resize(const std::string& disk, uint64_t size) override {
    std::lock_guard<std::mutex> l(mu_);
    ASSIGN_OR_RETURN(Name n, Parse(disk));
    if (n.snapshot) return FailedPrecondition("volume " + disk + " is a snapshot");
    std::string path = Path(disk);
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) return Errno("resize " + path);
    return Status::OK();
  }

  StatusOr<std::vector<std::string>> Snapshot(std::span<const std::string> disks, uint64_t tag) override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<std::string> out;
    for (const std::string& d : disks) {
      ASSIGN_OR_RETURN(std::string src, PathOf(d));
      Name n{true, next_++, tag};
      auto h = Make(n, [&](int fd) { return CloneInto(src, fd); });
      if (!h.ok()) {
        for (const std::string& made : out) ::unlink(Path(made).c_str());
        return h.status();
      }
      out.push_back(*h);
    }
    return out;
  }

  StatusOr<std::string> Clone(const std::string& snapshot, uint64_t tag) override {
    std::lock_guard<std::mutex> l(mu_);
    ASSIGN_OR_RETURN(std::string src, PathOf(snapshot));
    Name n{false, next_++, tag};
    return Make(n, [&](int fd) { return CloneInto(src, fd); });
  }

  Status Rollback(const std::string& disk, const std::string& snapshot) override {
    std::lock_guard<std::mutex> l(mu_);
    ASSIGN_OR_RETURN(Name dn, Parse(disk));
    if (dn.snapshot) return FailedPrecondition("volume " + disk + " is a snapshot");
    ASSIGN_OR_RETURN(std::string src, PathOf(snapshot));
    ASSIGN_OR_RETURN(std::string dst, PathOf(disk));
    // A fresh clone replaces the disk's file in one rename.
    return Replace(dst, false, [&](int fd) { return CloneInto(src, fd); });
  }

  StatusOr<VolumeStat> Stat(const std::string& handle) override {
    ASSIGN_OR_RETURN(Name n, Parse(handle));
    std::string path = Path(handle);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? NotFound("no volume " + handle + " in " + dir_) : Errno("open " + path);
    struct stat st;
    VolumeStat v;
    Status s;
    if (::fstat(fd, &st) != 0) {
      s = Errno("stat " + path);
    } else {
      v.handle = handle;
      v.size = static_cast<uint64_t>(st.st_size);
      v.read_only = n.snapshot;
      v.tag = n.tag;
      v.referenced = static_cast<uint64_t>(st.st_blocks) * 512;
      auto ex = ExclusiveBytes(fd);
      if (ex.ok()) {
        v.exclusive = std::min(*ex, v.referenced);
      } else {
        s = ex.status();
      }
    }
    ::close(fd);
    if (!s.ok()) return s;
    return v;
  }

  StatusOr<std::vector<VolumeStat>> List() override {
    ASSIGN_OR_RETURN(std::vector<std::string> handles, Handles());
    std::vector<VolumeStat> out;
    for (const std::string& h : handles) {
      auto s = Stat(h);
      if (s.status().code() == Code::kNotFound) continue;  // deleted meanwhile
      if (!s.ok()) return s.status();
      out.push_back(*s);
    }
    return out;
  }

  StatusOr<std::vector<Extent>> Map(const std::string& handle, uint64_t offset, uint64_t length) override {
    ASSIGN_OR_RETURN(std::string path, PathOf(handle));
    ASSIGN_OR_RETURN(auto dev, OpenFileDevice(path, true));
    return dev->Map(offset, length);
  }

  StatusOr<std::unique_ptr<Device>> OpenDevice(const std::string& handle) override {
    ASSIGN_OR_RETURN(Name n, Parse(handle));
    ASSIGN_OR_RETURN(std::string path, PathOf(handle));
    return OpenFileDevice(path, n.snapshot);
  }

  Status Check(bool /*structure*/, CheckReport* report) override {
    struct stat st;
    if (::stat((dir_ + "/" + kMarker).c_str(), &st) != 0) {
      report->errors.push_back(dir_ + ": the SR marker " + kMarker + " is missing");
    }
    ASSIGN_OR_RETURN(std::vector<std::string> handles, Handles());
    for (const std::string& h : handles) {
      ++report->volumes;
      const std::string path = Path(h);
      struct stat fst;
      if (::stat(path.c_str(), &fst) != 0 || !S_ISREG(fst.st_mode)) {
        report->errors.push_back(path + " is not a regular file");
      } else if (ParseHandle(h)->snapshot && (fst.st_mode & 0222)) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(fst.st_mode & 0777));
        report->errors.push_back(path + " is a snapshot but writable (mode " + mode + ")");
      }
    }
    return Status::OK();
  }

  Status Close() override { return Status::OK(); }

 private:
  std::string Path(const std::string& handle) const { return dir_ + "/" + handle + kSuffix; }

  // The names in the SR directory.
  StatusOr<std::vector<std::string>> Entries() const {
    DIR* d = ::opendir(dir_.c_str());
    if (!d) return Errno("open SR directory " + dir_);
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
    ::closedir(d);
    return names;
  }

  // The handles of the volume files in the SR directory.
  StatusOr<std::vector<std::string>> Handles() const {
    ASSIGN_OR_RETURN(auto names, Entries());
    std::vector<std::string> handles;
    for (const std::string& n : names) {
      if (auto name = FromFile(n)) handles.push_back(name->handle());
    }
    return handles;
  }

  static std::optional<Name> FromFile(const std::string& file) {
    const size_t n = sizeof kSuffix - 1;
    if (file.size() <= n || file.compare(file.size() - n, n, kSuffix) != 0) return std::nullopt;
    return ParseHandle(file.substr(0, file.size() - n));
  }

  StatusOr<Name> Parse(const std::string& handle) const {
    auto n = ParseHandle(handle);
    if (!n) return InvalidArgument("'" + handle + "' is not a reflink volume handle (d<N>-<TAG> or s<N>-<TAG>)");
    return *n;
  }

  // The existing file of a handle; NotFound if it does not exist.
  StatusOr<std::string> PathOf(const std::string& handle) const {
    RETURN_IF_ERROR(Parse(handle).status());
    std::string path = Path(handle);
    if (::access(path.c_str(), F_OK) != 0) return NotFound("no volume " + handle + " in " + dir_);
    return path;
  }

  // Copies src's extents into fd (sharing them).
  static Status CloneInto(const std::string& src, int fd) {
    int s = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
    if (s < 0) return Errno("open " + src);
    int r = ::ioctl(fd, FICLONE, s);
    int e = errno;
    ::close(s);
    if (r != 0) return ErrnoStatus(e, "FICLONE from " + src);
    return Status::OK();
  }

  // Makes a new volume file: `fill` writes it under a temporary name, then it
  // is synced and renamed into place.
  StatusOr<std::string> Make(const Name& n, const std::function<Status(int)>& fill) {
    RETURN_IF_ERROR(Replace(Path(n.handle()), n.snapshot, fill));
    return n.handle();
  }

  Status Replace(const std::string& final_path, bool read_only, const std::function<Status(int)>& fill) {
    std::string tmp = dir_ + "/" + kTmpPrefix + std::to_string(::getpid()) + "-" + std::to_string(tmp_seq_++);
    int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return Errno("create " + tmp);
    Status s = fill(fd);
    if (s.ok() && ::fsync(fd) != 0) s = Errno("fsync " + tmp);
    if (s.ok() && read_only && ::fchmod(fd, 0444) != 0) s = Errno("chmod " + tmp);
    ::close(fd);
    if (s.ok() && ::rename(tmp.c_str(), final_path.c_str()) != 0) s = Errno("rename to " + final_path);
    if (!s.ok()) {
      ::unlink(tmp.c_str());
      return s;
    }
    return SyncDir(dir_);
  }

  std::string dir_;
  std::mutex mu_;  // numbering and directory changes
  uint64_t next_ = 1;
  uint64_t tmp_seq_ = 0;
};

// Can files in `dir` share extents? OK, or InvalidArgument with the reason.
Status ProbeReflink(const std::string& dir) {
  std::string a = dir + "/" + kTmpPrefix + "probe-a", b = dir + "/" + kTmpPrefix + "probe-b";
  int fa = ::open(a.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fa < 0) return Errno("create a probe file in " + dir);
  std::string block(4096, 'p');
  bool wrote = ::pwrite(fa, block.data(), block.size(), 0) == static_cast<ssize_t>(block.size());
  int fb = ::open(b.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int r = wrote && fb >= 0 ? ::ioctl(fb, FICLONE, fa) : -1;
  int e = errno;
  ::close(fa);
  if (fb >= 0) ::close(fb);
  ::unlink(a.c_str());
  ::unlink(b.c_str());
  if (r != 0) {
    return InvalidArgument(dir + " is on " + FileSystemName(dir) +
                           ", which cannot share extents between files (FICLONE: " + std::strerror(e) +
                           "); a reflink SR needs XFS made with reflink=1, btrfs or OCFS2 with refcount trees");
  }
  return Status::OK();
}

}  // namespace

std::string FileSystemName(const std::string& path) {
  struct statfs s;
  if (::statfs(path.c_str(), &s) != 0) return "an unknown file system";
  switch (static_cast<unsigned long>(s.f_type)) {
    case XFS_SUPER_MAGIC:
      return "xfs";
    case BTRFS_SUPER_MAGIC:
      return "btrfs";
    case EXT4_SUPER_MAGIC:
      return "ext4";
    case TMPFS_MAGIC:
      return "tmpfs";
    case 0x7461636fUL:
      return "ocfs2";
    case 0x2fc12fc1UL:
      return "zfs";
    case OVERLAYFS_SUPER_MAGIC:
      return "overlayfs";
    case FUSE_SUPER_MAGIC:
      return "fuse";
    default: {
      char hex[32];
      std::snprintf(hex, sizeof hex, "0x%lx", static_cast<unsigned long>(s.f_type));
      return std::string("a file system of type ") + hex;
    }
  }
}

StatusOr<std::unique_ptr<Backend>> OpenReflinkBackend(const std::string& location, const OpenOptions& options) {
  std::string marker = location + "/" + kMarker;
  if (options.create) {
    bool made = ::mkdir(location.c_str(), 0755) == 0;
    if (!made && errno != EEXIST) return Errno("create SR directory " + location);
    struct stat st;
    if (::stat(location.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return InvalidArgument(location + " is not a directory");
    }
    if (::access(marker.c_str(), F_OK) == 0) return AlreadyExists(location + " already holds a reflink SR");
    if (Status probe = ProbeReflink(location); !probe.ok()) {
      if (made) ::rmdir(location.c_str());  // leave nothing behind
      return probe;
    }
    int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return Errno("create " + marker);
    bool ok = ::write(fd, kMarkerText, sizeof kMarkerText - 1) == static_cast<ssize_t>(sizeof kMarkerText - 1) &&
              ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) return Errno("write " + marker);
    RETURN_IF_ERROR(SyncDir(location));
  } else if (::access(marker.c_str(), F_OK) != 0) {
    return NotFound(location + " holds no reflink SR (" + kMarker + " is missing)");
  }
  auto b = std::make_unique<ReflinkBackend>(location);
  RETURN_IF_ERROR(b->Load());
  return std::unique_ptr<Backend>(std::move(b));
}

}  // namespace vmstore::backend
