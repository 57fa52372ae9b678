#include "backend/dir_backend.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "backend/file_device.h"

namespace vmstore::backend {
namespace {

constexpr char kTmpPrefix[] = ".tmp-";

Status Errno(const std::string& what) { return ErrnoStatus(errno, what); }

class DirBackend final : public Backend {
 public:
  DirBackend(std::unique_ptr<DirLayout> layout, std::string dir) : l_(std::move(layout)), dir_(std::move(dir)) {}

  // Scans the directory: removes temporaries, finds the next number.
  Status Load() {
    ASSIGN_OR_RETURN(auto names, Entries());
    for (const std::string& n : names) {
      if (n.rfind(kTmpPrefix, 0) == 0) {
        RETURN_IF_ERROR(l_->Remove(dir_ + "/" + n));  // an interrupted creation
      } else if (auto name = l_->FromEntry(n)) {
        next_ = std::max(next_, name->number + 1);
      }
    }
    return Status::OK();
  }

  std::string type() const override { return l_->type(); }
  Caps caps() const override {
    Caps c = Caps::All();
    c.atomic_multi_snapshot = false;  // one copy per disk; the server's VM gate makes them one point
    c.engine_stats = false;           // the file system keeps the figures
    c.dedup = false;
    return c;
  }

  StatusOr<std::string> CreateDisk(uint64_t size, uint64_t tag) override {
    std::lock_guard<std::mutex> l(mu_);
    VolumeName n{false, next_++, tag};
    return Make(n, [&](const std::string& tmp) { return l_->BuildEmpty(tmp, size); });
  }

  Status Delete(const std::string& handle) override {
    std::lock_guard<std::mutex> l(mu_);
    ASSIGN_OR_RETURN(std::string path, PathOf(handle));
    RETURN_IF_ERROR(l_->Remove(path));
    return SyncDir(dir_);
  }

  Status Resize(const std::string& disk, uint64_t size) override {
    std::lock_guard<std::mutex> l(mu_);
    ASSIGN_OR_RETURN(VolumeName n, Parse(disk));
    if (n.snapshot) return FailedPrecondition("volume " + disk + " is a snapshot");
    ASSIGN_OR_RETURN(std::string path, PathOf(disk));
    std::string image = l_->ImagePath(path);
    if (::truncate(image.c_str(), static_cast<off_t>(size)) != 0) return Errno("resize " + image);
    return Status::OK();
  }

  StatusOr<std::vector<std::string>> Snapshot(std::span<const std::string> disks, uint64_t tag) override {
    std::lock_guard<std::mutex> l(mu_);
    auto snapshot_one = [&](const std::string& d) -> StatusOr<std::string> {
      ASSIGN_OR_RETURN(VolumeName dn, Parse(d));
      if (dn.snapshot) return FailedPrecondition("volume " + d + " is a snapshot; only disks are snapshotted");
      ASSIGN_OR_RETURN(std::string src, PathOf(d));
      return Make(VolumeName{true, next_++, tag},
                  [&](const std::string& tmp) { return l_->BuildCopy(tmp, src, true); });
    };
    std::vector<std::string> out;
    for (const std::string& d : disks) {
      auto h = snapshot_one(d);
      if (!h.ok()) {
        for (const std::string& made : out) (void)l_->Remove(Path(made));  // all or nothing
        return h.status();
      }
      out.push_back(*h);
    }
    return out;
  }

  StatusOr<std::string> Clone(const std::string& snapshot, uint64_t tag) override {
    std::lock_guard<std::mutex> l(mu_);
    ASSIGN_OR_RETURN(std::string src, PathOf(snapshot));
    VolumeName n{false, next_++, tag};
    return Make(n, [&](const std::string& tmp) { return l_->BuildCopy(tmp, src, false); });
  }

  Status Rollback(const std::string& disk, const std::string& snapshot) override {
    std::lock_guard<std::mutex> l(mu_);
    ASSIGN_OR_RETURN(VolumeName dn, Parse(disk));
    if (dn.snapshot) return FailedPrecondition("volume " + disk + " is a snapshot");
    ASSIGN_OR_RETURN(std::string src, PathOf(snapshot));
    ASSIGN_OR_RETURN(std::string dst, PathOf(disk));
    // A fresh copy replaces the disk's entry.
    std::string tmp = TempPath();
    Status s = l_->BuildCopy(tmp, src, false);
    if (s.ok()) s = l_->Replace(tmp, dst);
    if (!s.ok()) {
      (void)l_->Remove(tmp);
      return s;
    }
    return SyncDir(dir_);
  }

  StatusOr<VolumeStat> Stat(const std::string& handle) override {
    ASSIGN_OR_RETURN(VolumeName n, Parse(handle));
    std::string image = l_->ImagePath(Path(handle));
    int fd = ::open(image.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? NotFound("no volume " + handle + " in " + dir_) : Errno("open " + image);
    struct stat st;
    VolumeStat v;
    Status s;
    if (::fstat(fd, &st) != 0) {
      s = Errno("stat " + image);
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
    ASSIGN_OR_RETURN(auto dev, OpenFileDevice(l_->ImagePath(path), true));
    return dev->Map(offset, length);
  }

  StatusOr<std::unique_ptr<Device>> OpenDevice(const std::string& handle) override {
    ASSIGN_OR_RETURN(VolumeName n, Parse(handle));
    ASSIGN_OR_RETURN(std::string path, PathOf(handle));
    return OpenFileDevice(l_->ImagePath(path), n.snapshot, true);
  }

  Status Check(bool /*structure*/, CheckReport* report) override {
    struct stat st;
    if (::stat((dir_ + "/" + l_->marker()).c_str(), &st) != 0) {
      report->errors.push_back(dir_ + ": the SR marker " + l_->marker() + " is missing");
    }
    ASSIGN_OR_RETURN(std::vector<std::string> handles, Handles());
    for (const std::string& h : handles) {
      ++report->volumes;
      l_->CheckEntry(Path(h), *ParseVolumeHandle(h), &report->errors);
    }
    return Status::OK();
  }

  Status Close() override { return Status::OK(); }

 private:
  std::string Path(const std::string& handle) const { return dir_ + "/" + l_->EntryName(*ParseVolumeHandle(handle)); }
  std::string TempPath() {
    return dir_ + "/" + kTmpPrefix + std::to_string(::getpid()) + "-" + std::to_string(tmp_seq_++);
  }

  // The names in the SR directory.
  StatusOr<std::vector<std::string>> Entries() const {
    DIR* d = ::opendir(dir_.c_str());
    if (!d) return Errno("open SR directory " + dir_);
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
    ::closedir(d);
    return names;
  }

  // The handles of the volumes in the SR directory.
  StatusOr<std::vector<std::string>> Handles() const {
    ASSIGN_OR_RETURN(auto names, Entries());
    std::vector<std::string> handles;
    for (const std::string& n : names) {
      if (auto name = l_->FromEntry(n)) handles.push_back(name->handle());
    }
    return handles;
  }

  StatusOr<VolumeName> Parse(const std::string& handle) const { return ParseVolumeHandleFor(l_->type(), handle); }

  // The existing entry of a handle; NotFound if it does not exist.
  StatusOr<std::string> PathOf(const std::string& handle) const {
    RETURN_IF_ERROR(Parse(handle).status());
    std::string path = Path(handle);
    if (::access(path.c_str(), F_OK) != 0) return NotFound("no volume " + handle + " in " + dir_);
    return path;
  }

  // Builds a new volume under a temporary name and renames it into place.
  StatusOr<std::string> Make(const VolumeName& n, const std::function<Status(const std::string&)>& build) {
    std::string tmp = TempPath(), final_path = Path(n.handle());
    Status s = build(tmp);
    if (s.ok() && ::rename(tmp.c_str(), final_path.c_str()) != 0) s = Errno("rename to " + final_path);
    if (!s.ok()) {
      (void)l_->Remove(tmp);
      return s;
    }
    RETURN_IF_ERROR(SyncDir(dir_));
    return n.handle();
  }

  std::unique_ptr<DirLayout> l_;
  std::string dir_;
  std::mutex mu_;  // numbering and directory changes
  uint64_t next_ = 1;
  uint64_t tmp_seq_ = 0;
};

}  // namespace

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("open " + dir);
  int r = ::fsync(fd);
  int e = errno;
  ::close(fd);
  if (r != 0) return ErrnoStatus(e, "fsync " + dir);
  return Status::OK();
}

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

StatusOr<std::unique_ptr<Backend>> OpenDirBackend(std::unique_ptr<DirLayout> layout, const std::string& dir,
                                                  const OpenOptions& options) {
  const std::string marker = dir + "/" + layout->marker();
  const std::string type = layout->type();
  if (options.create) {
    bool made = ::mkdir(dir.c_str(), 0700) == 0;
    if (!made && errno != EEXIST) return Errno("create SR directory " + dir);
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return InvalidArgument(dir + " is not a directory");
    if (::access(marker.c_str(), F_OK) == 0) return AlreadyExists(dir + " already holds a " + type + " SR");
    if (Status probe = layout->Probe(dir); !probe.ok()) {
      if (made) ::rmdir(dir.c_str());  // leave nothing behind
      return probe;
    }
    const std::string text = layout->marker_text();
    int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return Errno("create " + marker);
    bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) return Errno("write " + marker);
    RETURN_IF_ERROR(SyncDir(dir));
  } else if (::access(marker.c_str(), F_OK) != 0) {
    return NotFound(dir + " holds no " + type + " SR (" + layout->marker() + " is missing)");
  }
  auto b = std::make_unique<DirBackend>(std::move(layout), dir);
  RETURN_IF_ERROR(b->Load());
  return std::unique_ptr<Backend>(std::move(b));
}

}  // namespace vmstore::backend
