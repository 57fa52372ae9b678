#include "backend/zfs_backend.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <map>
#include <mutex>
#include <string_view>
#include <thread>

#include "backend/file_device.h"
#include "backend/volume_name.h"
#include "util/subprocess.h"

namespace vmstore::backend {
namespace {

constexpr char kImage[] = "/disk.img";
constexpr char kSrProp[] = "org.vmstore:sr";
constexpr char kDeletedProp[] = "org.vmstore:deleted";
constexpr char kSizeProp[] = "org.vmstore:size";
constexpr char kIncompleteProp[] = "org.vmstore:incomplete";
constexpr char kSettleProp[] = "org.vmstore:settle";
// Properties of the datasets this backend makes: zle stores runs of zeroes
// as holes, so writing zeroes releases space even where fallocate cannot.
const std::vector<std::string> kDatasetOpts = {"-o", "compression=zle", "-o", "atime=off"};

// `zfs ARGS...`: the standard output, or an error with zfs's message. zfs-fuse
// reports a dataset "busy" for a moment after its last file is closed (FUSE
// forgets inodes lazily): such calls are retried for up to 5 s.
StatusOr<std::string> Zfs(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"zfs"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string cmd;
  for (const std::string& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  for (int attempt = 0;; ++attempt) {
    auto r = RunCommand(argv);
    if (!r.ok()) {
      if (r.status().code() == Code::kNotFound) {
        return NotSupported("the zfs command is not installed (install zfs-fuse or OpenZFS's zfsutils-linux)");
      }
      return r.status();
    }
    if (r->exit_code == 0) return r->out;
    if (r->err.find("busy") != std::string::npos && attempt < 50) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    if (r->err.find("does not exist") != std::string::npos) return NotFound(cmd + ": " + r->err);
    return IOError(cmd + ": " + r->err);
  }
}

// One dataset or snapshot of `zfs get -r` with the properties we read.
struct ZfsObject {
  std::string name;
  std::map<std::string, std::string> props;
  const std::string& Get(const std::string& p) const {
    static const std::string none = "-";
    auto it = props.find(p);
    return it == props.end() ? none : it->second;
  }
  uint64_t Bytes(const std::string& p) const {
    const std::string& v = Get(p);
    return v.empty() || v == "-" ? 0 : std::strtoull(v.c_str(), nullptr, 10);
  }
};

// Every object under `root` (itself included), in zfs's order.
StatusOr<std::vector<ZfsObject>> ListTree(const std::string& root) {
  ASSIGN_OR_RETURN(std::string out,
                   Zfs({"get", "-r", "-H", "-p", "-o", "name,property,value",
                        std::string("type,used,referenced,usedbydataset,defer_destroy,mountpoint,mounted,") +
                            kDeletedProp + "," + kSizeProp + "," + kSrProp + "," + kIncompleteProp,
                        root}));
  std::vector<ZfsObject> objs;
  size_t pos = 0;
  while (pos < out.size()) {
    size_t nl = out.find('\n', pos);
    if (nl == std::string::npos) nl = out.size();
    std::string line = out.substr(pos, nl - pos);
    pos = nl + 1;
    size_t t1 = line.find('\t'), t2 = t1 == std::string::npos ? t1 : line.find('\t', t1 + 1);
    if (t2 == std::string::npos) continue;
    std::string name = line.substr(0, t1);
    if (objs.empty() || objs.back().name != name) objs.push_back({name, {}});
    objs.back().props[line.substr(t1 + 1, t2 - t1 - 1)] = line.substr(t2 + 1);
  }
  return objs;
}

bool ProcessAlive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

// "r<PID>-<SEQ>": the PID of a snapshot reader's clone, or 0.
pid_t TempOwner(const std::string& leaf) {
  if (leaf.size() < 4 || leaf[0] != 'r') return 0;
  size_t dash = leaf.find('-');
  if (dash == std::string::npos) return 0;
  return static_cast<pid_t>(std::strtol(leaf.c_str() + 1, nullptr, 10));
}

// Unmounts (ignoring "not mounted") and destroys a dataset.
Status DestroyDataset(const std::string& name) {
  (void)Zfs({"umount", name});
  return Zfs({"destroy", name}).status();
}

// A snapshot opened through its temporary read-only clone; destroys the clone
// when closed.
class CloneDevice final : public Device {
 public:
  CloneDevice(std::unique_ptr<Device> file, std::string clone) : file_(std::move(file)), clone_(std::move(clone)) {}
  ~CloneDevice() override {
    file_.reset();  // close the image before the clone goes
    (void)DestroyDataset(clone_);
  }
  uint64_t size() const override { return file_->size(); }
  bool read_only() const override { return true; }
  bool can_trim() const override { return false; }
  Status Read(uint64_t offset, std::span<char> buf) override { return file_->Read(offset, buf); }
  Status Write(uint64_t offset, std::span<const char> data, bool fua) override {
    return file_->Write(offset, data, fua);
  }
  Status Trim(uint64_t offset, uint64_t length, bool fua) override { return file_->Trim(offset, length, fua); }
  Status WriteZeroes(uint64_t offset, uint64_t length, bool may_punch, bool fua) override {
    return file_->WriteZeroes(offset, length, may_punch, fua);
  }
  Status Flush() override { return Status::OK(); }
  StatusOr<std::vector<Extent>> Map(uint64_t offset, uint64_t length) override { return file_->Map(offset, length); }

 private:
  std::unique_ptr<Device> file_;
  std::string clone_;
};

class ZfsBackend final : public Backend {
 public:
  ZfsBackend(std::string root, bool can_trim) : root_(std::move(root)), can_trim_(can_trim) {}

  // Removes what crashed processes left (temporary datasets, deleted disks
  // whose last snapshot is gone) and finds the next volume number.
  Status Load() {
    ASSIGN_OR_RETURN(auto objs, ListTree(root_));
    for (const ZfsObject& o : objs) {
      std::string leaf = Leaf(o.name);
      if (leaf.empty()) continue;
      pid_t owner = TempOwner(leaf);
      if (owner && !ProcessAlive(owner)) {
        RETURN_IF_ERROR(DestroyDataset(o.name));  // a snapshot reader's clone
        continue;
      }
      if (o.Get(kIncompleteProp) == "1") {
        RETURN_IF_ERROR(DestroyDataset(o.name));  // a creation a crash interrupted
        continue;
      }
      if (auto n = HandleOf(o)) next_ = std::max(next_, n->number + 1);
    }
    return SweepDeleted();
  }

  std::string type() const override { return "zfs"; }
  Caps caps() const override {
    Caps c;
    c.atomic_multi_snapshot = false;  // one zfs snapshot per disk; the server's VM gate makes them one point
    c.space_accounting = true;
    c.allocation_map = false;
    c.can_clone = true;
    c.can_rollback_keeping_newer = false;
    c.can_trim = can_trim_;
    c.exact_disk_exclusive = false;  // usedbydataset counts blocks the disk shares with its snapshots
    return c;
  }

  StatusOr<std::string> CreateDisk(uint64_t size, uint64_t tag) override {
    std::lock_guard<std::mutex> l(mu_);
    VolumeName n{false, next_++, tag};
    // Marked incomplete until its image is made, so a crash never leaves a
    // disk without its image (a rename would need the new file system
    // unmounted, which zfs-fuse refuses while FUSE still holds its inodes).
    const std::string ds = Dataset(n);
    std::vector<std::string> args = {"create", "-o", std::string(kIncompleteProp) + "=1"};
    args.insert(args.end(), kDatasetOpts.begin(), kDatasetOpts.end());
    args.push_back(ds);
    RETURN_IF_ERROR(Zfs(args).status());
    Status s = MakeImage(ds, size);
    if (s.ok()) s = Zfs({"inherit", kIncompleteProp, ds}).status();
    if (!s.ok()) {
      (void)DestroyDataset(ds);
      return s;
    }
    return n.handle();
  }

  Status Delete(const std::string& handle) override {
    std::lock_guard<std::mutex> l(mu_);
    ASSIGN_OR_RETURN(auto objs, ListTree(root_));
    ASSIGN_OR_RETURN(const ZfsObject* o, Find(objs, handle));
    if (o->name.find('@') != std::string::npos) {
      // Deferred: ZFS destroys it when its last clone goes, or now if none.
      RETURN_IF_ERROR(Zfs({"destroy", "-d", o->name}).status());
    } else if (HasSnapshots(objs, o->name)) {
      // ZFS cannot keep a dataset's snapshots without the dataset: keep it
      // hidden, without its image, until the last snapshot goes.
      RETURN_IF_ERROR(Zfs({"set", std::string(kDeletedProp) + "=1", o->name}).status());
      ASSIGN_OR_RETURN(std::string image, ImageOf(*o));
      if (::unlink(image.c_str()) != 0 && errno != ENOENT) return ErrnoStatus(errno, "delete " + image);
    } else {
      RETURN_IF_ERROR(DestroyDataset(o->name));
    }
    return SweepDeleted();
  }

  Status Resize(const std::string& disk, uint64_t size) override {
    std::lock_guard<std::mutex> l(mu_);
    ASSIGN_OR_RETURN(auto objs, ListTree(root_));
    ASSIGN_OR_RETURN(const ZfsObject* o, FindDisk(objs, disk));
    ASSIGN_OR_RETURN(std::string image, ImageOf(*o));
    if (::truncate(image.c_str(), static_cast<off_t>(size)) != 0) return ErrnoStatus(errno, "resize " + image);
    return Status::OK();
  }

  StatusOr<std::vector<std::string>> Snapshot(std::span<const std::string> disks, uint64_t tag) override {
    std::lock_guard<std::mutex> l(mu_);
    ASSIGN_OR_RETURN(auto objs, ListTree(root_));
    // One disk: its zfs snapshot's full name.
    auto snapshot_one = [&](const std::string& d, const VolumeName& n) -> StatusOr<std::string> {
      ASSIGN_OR_RETURN(const ZfsObject* o, FindDisk(objs, d));
      ASSIGN_OR_RETURN(std::string image, ImageOf(*o));
      ASSIGN_OR_RETURN(uint64_t size, SyncedSize(image));
      std::string snap = o->name + "@" + n.handle();
      RETURN_IF_ERROR(Zfs({"snapshot", "-o", std::string(kSizeProp) + "=" + std::to_string(size), snap}).status());
      return snap;
    };
    std::vector<std::string> made, out;
    for (const std::string& d : disks) {
      VolumeName n{true, next_++, tag};
      auto snap = snapshot_one(d, n);
      if (!snap.ok()) {
        for (const std::string& m : made) (void)Zfs({"destroy", m});  // all or nothing
        return snap.status();
      }
      made.push_back(*snap);
      out.push_back(n.handle());
    }
    return out;
  }

  StatusOr<std::string> Clone(const std::string& snapshot, uint64_t tag) override {
    std::lock_guard<std::mutex> l(mu_);
    ASSIGN_OR_RETURN(auto objs, ListTree(root_));
    ASSIGN_OR_RETURN(const ZfsObject* o, FindSnapshot(objs, snapshot));
    VolumeName n{false, next_++, tag};
    std::vector<std::string> args = {"clone"};
    args.insert(args.end(), kDatasetOpts.begin(), kDatasetOpts.end());
    args.push_back(o->name);
    args.push_back(Dataset(n));
    RETURN_IF_ERROR(Zfs(args).status());
    return n.handle();
  }

  Status Rollback(const std::string& disk, const std::string& snapshot) override {
    std::lock_guard<std::mutex> l(mu_);
    ASSIGN_OR_RETURN(auto objs, ListTree(root_));
    ASSIGN_OR_RETURN(const ZfsObject* d, FindDisk(objs, disk));
    ASSIGN_OR_RETURN(const ZfsObject* s, FindSnapshot(objs, snapshot));
    if (s->name.rfind(d->name + "@", 0) != 0) {
      return FailedPrecondition("snapshot " + snapshot + " was not taken of disk " + disk +
                                "; ZFS rolls a dataset back only to its own snapshots");
    }
    const uint64_t target = ParseVolumeHandle(snapshot)->number;
    std::string newer;
    for (const ZfsObject& o : objs) {
      if (o.name.rfind(d->name + "@", 0) != 0) continue;
      auto n = ParseVolumeHandle(o.name.substr(d->name.size() + 1));
      if (n && n->number > target) newer += (newer.empty() ? "" : ", ") + n->handle();
    }
    if (!newer.empty()) {
      return FailedPrecondition("ZFS cannot roll disk " + disk + " back to " + snapshot +
                                " while newer snapshots of it exist (" + newer + "): it would destroy them");
    }
    RETURN_IF_ERROR(Zfs({"rollback", s->name}).status());
    return Status::OK();
  }

  StatusOr<VolumeStat> Stat(const std::string& handle) override {
    RETURN_IF_ERROR(SettleSpace());
    ASSIGN_OR_RETURN(auto objs, ListTree(root_));
    ASSIGN_OR_RETURN(const ZfsObject* o, Find(objs, handle));
    return StatOf(*o);
  }

  StatusOr<std::vector<VolumeStat>> List() override {
    RETURN_IF_ERROR(SettleSpace());
    ASSIGN_OR_RETURN(auto objs, ListTree(root_));
    std::vector<VolumeStat> out;
    for (const ZfsObject& o : objs) {
      if (!Visible(o)) continue;
      auto s = StatOf(o);
      if (s.status().code() == Code::kNotFound) continue;  // deleted meanwhile
      if (!s.ok()) return s.status();
      out.push_back(*s);
    }
    return out;
  }

  StatusOr<std::vector<Extent>> Map(const std::string& handle, uint64_t offset, uint64_t length) override {
    ASSIGN_OR_RETURN(auto dev, OpenDevice(handle));
    return dev->Map(offset, length);
  }

  StatusOr<std::unique_ptr<Device>> OpenDevice(const std::string& handle) override {
    std::unique_lock<std::mutex> l(mu_);
    ASSIGN_OR_RETURN(auto objs, ListTree(root_));
    ASSIGN_OR_RETURN(const ZfsObject* o, Find(objs, handle));
    if (o->name.find('@') == std::string::npos) {
      ASSIGN_OR_RETURN(std::string image, ImageOf(*o));
      return OpenFileDevice(image, false, can_trim_);
    }
    std::string clone = root_ + "/r" + std::to_string(::getpid()) + "-" + std::to_string(seq_++);
    RETURN_IF_ERROR(Zfs({"clone", "-o", "readonly=on", o->name, clone}).status());
    auto file = [&]() -> StatusOr<std::unique_ptr<Device>> {
      ASSIGN_OR_RETURN(std::string image, ImageOfDataset(clone));
      return OpenFileDevice(image, true, false);
    }();
    if (!file.ok()) {
      (void)DestroyDataset(clone);
      return file.status();
    }
    return std::unique_ptr<Device>(new CloneDevice(std::move(file).value(), clone));
  }

  Status Check(bool /*structure*/, CheckReport* report) override {
    ASSIGN_OR_RETURN(auto objs, ListTree(root_));
    if (objs.empty() || objs[0].Get(kSrProp) != "1") {
      report->errors.push_back(root_ + ": the SR property " + kSrProp + "=1 is missing");
    }
    for (const ZfsObject& o : objs) {
      if (!Visible(o)) continue;
      ++report->volumes;
      if (o.name.find('@') != std::string::npos) {
        if (o.Get(kSizeProp) == "-") report->errors.push_back(o.name + ": the snapshot has no " + kSizeProp);
        continue;
      }
      auto image = ImageOf(o);
      struct stat st;
      if (!image.ok()) {
        report->errors.push_back(image.status().ToString());
      } else if (::stat(image->c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
        report->errors.push_back(*image + " is missing or not a regular file");
      }
    }
    return Status::OK();
  }

  Status Close() override { return Status::OK(); }

 private:
  std::string Dataset(const VolumeName& n) const { return root_ + "/" + n.handle(); }

  // The direct child's name under root_ ("" for root_ itself or deeper names).
  std::string Leaf(const std::string& name) const {
    if (name.size() <= root_.size() + 1 || name.compare(0, root_.size() + 1, root_ + "/") != 0) return "";
    std::string leaf = name.substr(root_.size() + 1);
    return leaf.find_first_of("/@") == std::string::npos ? leaf : "";
  }

  // The volume an object is: a disk dataset root_/d..., or a snapshot
  // root_/X@s... of one of our datasets.
  std::optional<VolumeName> HandleOf(const ZfsObject& o) const {
    size_t at = o.name.find('@');
    if (at == std::string::npos) {
      auto n = ParseVolumeHandle(Leaf(o.name));
      return n && !n->snapshot ? n : std::nullopt;
    }
    if (Leaf(o.name.substr(0, at)).empty()) return std::nullopt;
    auto n = ParseVolumeHandle(o.name.substr(at + 1));
    return n && n->snapshot ? n : std::nullopt;
  }

  // A volume the catalog sees: not a deleted disk, not a snapshot waiting
  // for its clones to go.
  bool Visible(const ZfsObject& o) const {
    if (!HandleOf(o)) return false;
    if (o.name.find('@') != std::string::npos) return o.Get("defer_destroy") != "on";
    return o.Get(kDeletedProp) != "1" && o.Get(kIncompleteProp) != "1";
  }

  StatusOr<const ZfsObject*> Find(const std::vector<ZfsObject>& objs, const std::string& handle) const {
    ASSIGN_OR_RETURN(VolumeName want, ParseVolumeHandleFor("zfs", handle));
    for (const ZfsObject& o : objs) {
      auto n = HandleOf(o);
      if (n && n->handle() == want.handle() && Visible(o)) return &o;
    }
    return NotFound("no volume " + handle + " in " + root_);
  }
  StatusOr<const ZfsObject*> FindDisk(const std::vector<ZfsObject>& objs, const std::string& handle) const {
    ASSIGN_OR_RETURN(const ZfsObject* o, Find(objs, handle));
    if (o->name.find('@') != std::string::npos) return FailedPrecondition("volume " + handle + " is a snapshot");
    return o;
  }
  StatusOr<const ZfsObject*> FindSnapshot(const std::vector<ZfsObject>& objs, const std::string& handle) const {
    ASSIGN_OR_RETURN(const ZfsObject* o, Find(objs, handle));
    if (o->name.find('@') == std::string::npos) return FailedPrecondition("volume " + handle + " is not a snapshot");
    return o;
  }

  static bool HasSnapshots(const std::vector<ZfsObject>& objs, const std::string& dataset) {
    for (const ZfsObject& o : objs) {
      if (o.name.rfind(dataset + "@", 0) == 0) return true;
    }
    return false;
  }

  // The image of a mounted dataset (mounting it if needed).
  StatusOr<std::string> ImageOf(const ZfsObject& o) const {
    const std::string& mnt = o.Get("mountpoint");
    if (mnt.empty() || mnt[0] != '/') {
      return FailedPrecondition("dataset " + o.name + " has mountpoint=" + mnt + "; its image needs it mounted");
    }
    if (o.Get("mounted") != "yes") RETURN_IF_ERROR(Zfs({"mount", o.name}).status());
    return mnt + kImage;
  }

  // The image of the dataset named `dataset` (looked up).
  StatusOr<std::string> ImageOfDataset(const std::string& dataset) const {
    ASSIGN_OR_RETURN(auto objs, ListTree(dataset));
    if (objs.empty()) return NotFound("dataset " + dataset + " vanished");
    return ImageOf(objs[0]);
  }

  Status MakeImage(const std::string& dataset, uint64_t size) const {
    ASSIGN_OR_RETURN(const std::string image, ImageOfDataset(dataset));
    int fd = ::open(image.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return ErrnoStatus(errno, "create " + image);
    Status s;
    if (::ftruncate(fd, static_cast<off_t>(size)) != 0) s = ErrnoStatus(errno, "set the size of " + image);
    if (s.ok() && ::fsync(fd) != 0) s = ErrnoStatus(errno, "fsync " + image);
    ::close(fd);
    return s;
  }

  // Syncs an image (so a snapshot holds every completed write) and returns its size.
  static StatusOr<uint64_t> SyncedSize(const std::string& image) {
    int fd = ::open(image.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, "open " + image);
    struct stat st;
    Status s;
    if (::fdatasync(fd) != 0) s = ErrnoStatus(errno, "fdatasync " + image);
    if (s.ok() && ::fstat(fd, &st) != 0) s = ErrnoStatus(errno, "stat " + image);
    ::close(fd);
    if (!s.ok()) return s;
    return static_cast<uint64_t>(st.st_size);
  }

  StatusOr<VolumeStat> StatOf(const ZfsObject& o) const {
    VolumeName n = *HandleOf(o);
    VolumeStat v;
    v.handle = n.handle();
    v.read_only = n.snapshot;
    v.tag = n.tag;
    v.referenced = o.Bytes("referenced");
    if (n.snapshot) {
      v.size = o.Bytes(kSizeProp);
      v.exclusive = o.Bytes("used");
    } else {
      ASSIGN_OR_RETURN(std::string image, ImageOf(o));
      struct stat st;
      if (::stat(image.c_str(), &st) != 0) {
        if (errno == ENOENT) return NotFound("no image " + image);
        return ErrnoStatus(errno, "stat " + image);
      }
      v.size = static_cast<uint64_t>(st.st_size);
      v.exclusive = std::min(o.Bytes("usedbydataset"), v.referenced);
    }
    return v;
  }

  // ZFS accounts space when a transaction group commits, which can be 30 s
  // after a write: setting a property commits one now.
  Status SettleSpace() {
    return Zfs({"set", std::string(kSettleProp) + "=" + std::to_string(++settles_), root_}).status();
  }

  // Destroys deleted disks whose last snapshot has gone.
  Status SweepDeleted() {
    ASSIGN_OR_RETURN(auto objs, ListTree(root_));
    for (const ZfsObject& o : objs) {
      if (o.name.find('@') == std::string::npos && o.Get(kDeletedProp) == "1" && !HasSnapshots(objs, o.name)) {
        RETURN_IF_ERROR(DestroyDataset(o.name));
      }
    }
    return Status::OK();
  }

  const std::string root_;
  const bool can_trim_;
  std::mutex mu_;  // numbering and dataset changes
  uint64_t next_ = 1;
  uint64_t seq_ = 0;
  std::atomic<uint64_t> settles_{0};
};

// Does the file system under `dir` punch holes? (OpenZFS yes, zfs-fuse no.)
bool PunchesHoles(const std::string& dir) {
  std::string probe = dir + "/.vmstore-probe-" + std::to_string(::getpid());
  int fd = ::open(probe.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool ok = ::ftruncate(fd, 1 << 20) == 0 && ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096) == 0;
  ::close(fd);
  ::unlink(probe.c_str());
  return ok;
}

// ZFS's own rule for file system names: components of letters, digits, '_',
// '-', ':' and '.' separated by single '/' (no '@' or '#': those name
// snapshots and bookmarks), at most 255 bytes.
bool IsDatasetName(const std::string& name) {
  if (name.empty() || name.size() > 255 || name.front() == '/' || name.back() == '/') return false;
  if (name.find("//") != std::string::npos) return false;
  // ZFS's own rule: every component begins with a letter or digit - so no
  // name can reach the zfs command looking like an option ("-V").
  for (size_t i = 0; i < name.size();
       i = name.find('/', i) == std::string::npos ? name.size() : name.find('/', i) + 1) {
    if (!std::isalnum(static_cast<unsigned char>(name[i]))) return false;
  }
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::string_view("_-:./").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

}  // namespace

StatusOr<std::unique_ptr<Backend>> OpenZfsBackend(const std::string& location, const OpenOptions& options) {
  if (!IsDatasetName(location)) {
    return InvalidArgument(
        "'" + location +
        "' is not a ZFS dataset name (POOL/PATH of letters, digits, '_', '-', ':' and '.', each part "
        "beginning with a letter or digit, e.g. tank/vmstore)");
  }
  auto objs = ListTree(location);
  if (!objs.ok()) {
    if (objs.status().code() == Code::kNotFound) {
      return InvalidArgument("ZFS dataset '" + location + "' does not exist (make it with zfs create " + location +
                             ")");
    }
    return objs.status();
  }
  if (objs->empty()) return InvalidArgument("zfs lists nothing for '" + location + "'");
  const ZfsObject& root = (*objs)[0];
  if (root.Get("type") != "filesystem") {
    return InvalidArgument("'" + location + "' is a ZFS " + root.Get("type") + ", not a file system dataset");
  }
  if (options.create) {
    if (root.Get(kSrProp) == "1") return AlreadyExists("ZFS dataset " + location + " already holds a zfs SR");
    if (objs->size() > 1) {
      return InvalidArgument("ZFS dataset " + location + " already holds datasets or snapshots (" + (*objs)[1].name +
                             "); give an empty one");
    }
    const std::string& mnt = root.Get("mountpoint");
    if (mnt.empty() || mnt[0] != '/' || root.Get("mounted") != "yes") {
      return InvalidArgument("ZFS dataset " + location + " is not mounted (mountpoint=" + mnt +
                             "); a zfs SR keeps raw images in mounted datasets");
    }
    RETURN_IF_ERROR(Zfs({"set", std::string(kSrProp) + "=1", location}).status());
  } else if (root.Get(kSrProp) != "1") {
    return NotFound("ZFS dataset " + location + " holds no zfs SR (" + kSrProp + " is not set)");
  }
  auto b = std::make_unique<ZfsBackend>(location, PunchesHoles(root.Get("mountpoint")));
  RETURN_IF_ERROR(b->Load());
  return std::unique_ptr<Backend>(std::move(b));
}

}  // namespace vmstore::backend
