// One conformance suite for every SR type, on real file systems: the native
// engine (in a temporary directory) and the reflink backend on XFS
// (mkfs.xfs -m reflink=1) and on btrfs, each made on a loop device for the
// run. Under CI=true a file system that cannot be made or mounted fails the
// suite; elsewhere those cases are skipped with the reason.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>

#include "catalog/catalog_test_util.h"
#include "vmstore/backend.h"
#include "vmstore/manager.h"

namespace vmstore::backend {
namespace {

using vmstore::testing::TempDir;
using vmstore::testing::Unwrap;

bool InCi() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

// A file system of `type` on a loop device, mounted for the whole run.
class LoopFs {
 public:
  explicit LoopFs(const std::string& type) {
    static int n = 0;
    std::string base = "/var/tmp/vmstore-conf-" + std::to_string(getpid()) + "-" + std::to_string(n++);
    image_ = base + ".img";
    mnt_ = base + ".mnt";
    std::filesystem::create_directories(mnt_);
    std::string mkfs = type == "xfs" ? "mkfs.xfs -q -f -m reflink=1" : "mkfs.btrfs -q -f";
    std::string cmd = "truncate -s 512M " + image_ + " && " + mkfs + " " + image_ +
                      " >/dev/null 2>&1 && mount -o loop " + image_ + " " + mnt_;
    if (std::system(cmd.c_str()) != 0) {
      error_ = "cannot make and mount " + type + " on a loop device (" + cmd + "); needs root, xfsprogs/btrfs-progs";
    } else {
      mounted_ = true;
    }
  }
  ~LoopFs() {
    if (mounted_) std::system(("umount " + mnt_).c_str());
    std::filesystem::remove(image_);
    std::filesystem::remove(mnt_);
  }
  const std::string& error() const { return error_; }
  const std::string& mnt() const { return mnt_; }

 private:
  std::string image_, mnt_, error_;
  bool mounted_ = false;
};

// Runs a zfs/zpool command until it succeeds, for up to 10 s: zfs-fuse calls
// a dataset busy for a while after its files are closed.
bool ZfsRetry(const std::string& cmd) {
  for (int i = 0; i < 100; ++i) {
    if (std::system((cmd + " >/dev/null 2>&1").c_str()) == 0) return true;
    usleep(100000);
  }
  return false;
}

// A zfs-fuse pool on a file, for the run. Starts the zfs-fuse daemon when
// none runs (it stays up: other test processes may be using it; the test
// script stops it).
class ZfsPool {
 public:
  ZfsPool() {
    name_ = "vmsconf" + std::to_string(getpid());
    image_ = "/var/tmp/" + name_ + ".zpool";
    mnt_ = "/var/tmp/" + name_ + ".mnt";
    if (std::system("zpool list >/dev/null 2>&1") != 0) {
      std::system("zfs-fuse --no-kstat-mount >/dev/null 2>&1");
      for (int i = 0; i < 100 && std::system("zpool list >/dev/null 2>&1") != 0; ++i) usleep(100000);
    }
    std::string cmd =
        "truncate -s 512M " + image_ + " && zpool create -m " + mnt_ + " " + name_ + " " + image_ + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      error_ = "cannot make a zfs-fuse pool (" + cmd + "); needs root, /dev/fuse and the zfs-fuse package";
    } else {
      made_ = true;
    }
  }
  ~ZfsPool() {
    if (made_) ZfsRetry("zpool destroy -f " + name_);
    std::filesystem::remove(image_);
    std::filesystem::remove_all(mnt_);
  }
  const std::string& error() const { return error_; }
  // A new empty dataset of the pool.
  std::string NewDataset() {
    std::string ds = name_ + "/sr" + std::to_string(n_++);
    if (std::system(("zfs create " + ds).c_str()) != 0) return "";
    return ds;
  }

 private:
  std::string name_, image_, mnt_, error_;
  bool made_ = false;
  int n_ = 0;
};

ZfsPool* SharedZfs() {
  static std::unique_ptr<ZfsPool> pool = std::make_unique<ZfsPool>();
  return pool.get();
}

// One per file system type, made on first use and unmounted at exit.
LoopFs* SharedFs(const std::string& type) {
  static std::map<std::string, std::unique_ptr<LoopFs>> fss;
  auto& fs = fss[type];
  if (!fs) fs = std::make_unique<LoopFs>(type);
  return fs.get();
}

// Removes an SR directory, read-only btrfs subvolumes included.
void RemoveSr(const std::string& dir) {
  std::system(("btrfs subvolume delete " + dir + "/[ds]*[0-9] >/dev/null 2>&1").c_str());
  std::filesystem::remove_all(dir);
}

struct Kind {
  std::string name, sr_type, fs;  // fs "" = the temp directory
};

void PrintTo(const Kind& k, std::ostream* os) { *os << k.name; }

class BackendConformance : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    const Kind& k = GetParam();
    static int n = 0;
    if (k.fs.empty()) {
      std::filesystem::create_directories(tmp_.path());
      location_ = tmp_.path() + "/sr";
    } else if (k.fs == "zfs") {
      ZfsPool* zp = SharedZfs();
      if (!zp->error().empty()) {
        if (InCi()) {
          FAIL() << zp->error();
        }
        GTEST_SKIP() << "SKIPPED (fails under CI=true): " << zp->error();
      }
      location_ = zp->NewDataset();
      ASSERT_FALSE(location_.empty()) << "zfs create failed";
    } else {
      LoopFs* fs = SharedFs(k.fs);
      if (!fs->error().empty()) {
        if (InCi()) {
          FAIL() << fs->error();
        }
        GTEST_SKIP() << "SKIPPED (fails under CI=true): " << fs->error();
      }
      location_ = fs->mnt() + "/sr" + std::to_string(n++);
    }
    b_ = Unwrap(OpenBackend(k.sr_type, location_, {.create = true}));
    ASSERT_TRUE(b_);
  }
  void TearDown() override {
    if (b_) {
      ASSERT_TRUE(b_->Close().ok());
    }
    if (GetParam().fs == "zfs") {
      b_.reset();
      if (!location_.empty()) ZfsRetry("zfs destroy -r -f " + location_);
    } else if (!GetParam().fs.empty() && !location_.empty()) {
      RemoveSr(location_);
    }
  }

  void Write(const std::string& h, uint64_t off, const std::string& data) {
    auto dev = Unwrap(b_->OpenDevice(h));
    ASSERT_TRUE(dev);
    ASSERT_TRUE(dev->Write(off, data, false).ok());
    ASSERT_TRUE(dev->Flush().ok());
  }
  std::string Read(const std::string& h, uint64_t off, size_t len) {
    auto dev = Unwrap(b_->OpenDevice(h));
    if (!dev) return "<open failed>";
    std::string buf(len, '\0');
    Status s = dev->Read(off, buf);
    return s.ok() ? buf : "<" + s.ToString() + ">";
  }

  TempDir tmp_;
  std::string location_;
  std::unique_ptr<Backend> b_;
};

const std::string A(65536, 'a'), B(65536, 'b'), C(4096, 'c');

TEST_P(BackendConformance, ASnapshotKeepsTheOldDataAndTheDiskGetsTheNew) {
  std::string d = Unwrap(b_->CreateDisk(8 << 20, 11));
  Write(d, 0, A);
  auto snaps = Unwrap(b_->Snapshot(std::vector<std::string>{d}, 12));
  ASSERT_EQ(snaps.size(), 1u);
  Write(d, 0, B);
  Write(d, 1 << 20, C);
  EXPECT_EQ(Read(snaps[0], 0, A.size()), A);
  EXPECT_EQ(Read(snaps[0], 1 << 20, C.size()), std::string(C.size(), '\0'));
  EXPECT_EQ(Read(d, 0, B.size()), B);
  EXPECT_EQ(Read(d, 1 << 20, C.size()), C);
  auto st = Unwrap(b_->Stat(snaps[0]));
  EXPECT_TRUE(st.read_only);
  EXPECT_EQ(st.tag, 12u);
  EXPECT_EQ(st.size, 8u << 20);
}

TEST_P(BackendConformance, RollbackKeepsNewerSnapshotsOrRefusesNamingThem) {
  std::string d = Unwrap(b_->CreateDisk(4 << 20, 0));
  Write(d, 0, A);
  std::string s1 = Unwrap(b_->Snapshot(std::vector<std::string>{d}, 0))[0];
  Write(d, 0, B);
  std::string s2 = Unwrap(b_->Snapshot(std::vector<std::string>{d}, 0))[0];
  Write(d, 0, C);
  if (!b_->caps().can_rollback_keeping_newer) {
    Status refused = b_->Rollback(d, s1);
    EXPECT_EQ(refused.code(), Code::kFailedPrecondition) << refused.ToString();
    EXPECT_NE(refused.message().find(s2), std::string::npos) << refused.ToString();
    EXPECT_EQ(Read(d, 0, C.size()), C) << "a refused rollback changes nothing";
    EXPECT_EQ(Read(s2, 0, B.size()), B);
    ASSERT_TRUE(b_->Rollback(d, s2).ok()) << "to the newest snapshot it works";
    EXPECT_EQ(Read(d, 0, B.size()), B);
    ASSERT_TRUE(b_->Delete(s2).ok());
  }
  ASSERT_TRUE(b_->Rollback(d, s1).ok());
  EXPECT_EQ(Read(d, 0, A.size()), A);
  if (!b_->caps().can_rollback_keeping_newer) return;
  EXPECT_EQ(Read(s2, 0, B.size()), B);  // the newer snapshot is still there
  ASSERT_TRUE(b_->Rollback(d, s2).ok());
  EXPECT_EQ(Read(d, 0, B.size()), B);
}

TEST_P(BackendConformance, DeletingADiskKeepsItsSnapshotsAndTheirClones) {
  std::string d = Unwrap(b_->CreateDisk(4 << 20, 0));
  Write(d, 0, A);
  std::string s = Unwrap(b_->Snapshot(std::vector<std::string>{d}, 0))[0];
  std::string c = Unwrap(b_->Clone(s, 0));
  ASSERT_TRUE(b_->Delete(d).ok());
  EXPECT_EQ(b_->Stat(d).status().code(), Code::kNotFound);
  EXPECT_EQ(Read(s, 0, A.size()), A);
  EXPECT_EQ(Read(c, 0, A.size()), A);
  ASSERT_TRUE(b_->Delete(s).ok());
  EXPECT_EQ(Read(c, 0, A.size()), A);
  ASSERT_TRUE(b_->Delete(c).ok());
  EXPECT_TRUE(Unwrap(b_->List()).empty()) << "nothing is left once every volume is deleted";
}

TEST_P(BackendConformance, ClonesAreIndependentOfTheirSourceAndOfEachOther) {
  std::string d = Unwrap(b_->CreateDisk(4 << 20, 0));
  Write(d, 0, A);
  std::string s = Unwrap(b_->Snapshot(std::vector<std::string>{d}, 0))[0];
  std::string c1 = Unwrap(b_->Clone(s, 21)), c2 = Unwrap(b_->Clone(s, 22));
  Write(c1, 0, B);
  Write(c2, 4096, C);
  EXPECT_EQ(Read(c1, 0, B.size()), B);
  EXPECT_EQ(Read(c2, 0, 4096), A.substr(0, 4096));
  EXPECT_EQ(Read(c2, 4096, C.size()), C);
  EXPECT_EQ(Read(d, 0, A.size()), A);
  EXPECT_EQ(Read(s, 0, A.size()), A);
  EXPECT_FALSE(Unwrap(b_->Stat(c1)).read_only);
  ASSERT_TRUE(b_->Delete(s).ok());  // the backend keeps clones readable without their snapshot
  EXPECT_EQ(Read(c2, 4096, C.size()), C);
}

TEST_P(BackendConformance, SpaceFiguresAreSane) {
  if (!b_->caps().space_accounting) GTEST_SKIP() << "no space accounting on " << b_->type();
  std::string d = Unwrap(b_->CreateDisk(16 << 20, 0));
  std::string data(4 << 20, 'x');
  Write(d, 0, data);
  // ZFS accounts space when a transaction group commits; the backend forces
  // one before it reports, but allow the figures up to 30 s to settle.
  auto settled = [&](const std::string& h, const std::function<bool(const VolumeStat&)>& ready) {
    VolumeStat st = Unwrap(b_->Stat(h));
    for (int i = 0; i < 300 && !ready(st) && GetParam().fs == "zfs"; ++i) {
      usleep(100000);
      st = Unwrap(b_->Stat(h));
    }
    return st;
  };
  auto live = settled(d, [&](const VolumeStat& v) { return v.referenced >= data.size(); });
  EXPECT_GE(live.referenced, data.size());
  EXPECT_LE(live.referenced, 16u << 20);
  EXPECT_LE(live.exclusive, live.referenced);
  std::string s = Unwrap(b_->Snapshot(std::vector<std::string>{d}, 0))[0];
  Write(d, 0, std::string(1 << 20, 'y'));  // 1 MiB now differs
  auto snap = settled(s, [](const VolumeStat& v) { return v.exclusive >= (1u << 20); });
  EXPECT_GE(snap.referenced, data.size());
  EXPECT_LE(snap.exclusive, 2u << 20);
  // btrfs shares whole extents: the live disk still uses the rest of the
  // extent that held the old MiB, so deleting the snapshot would free nothing.
  if (GetParam().fs != "btrfs") {
    EXPECT_GE(snap.exclusive, 1u << 20) << "the overwritten MiB belongs to the snapshot alone";
  }
  auto after = settled(d, [](const VolumeStat& v) { return v.exclusive >= (1u << 20); });
  EXPECT_GE(after.exclusive, 1u << 20) << "the new MiB belongs to the disk alone";
  EXPECT_LE(after.exclusive, after.referenced);
}

TEST_P(BackendConformance, TrimMakesHolesInTheAllocationMap) {
  std::string d = Unwrap(b_->CreateDisk(8 << 20, 0));
  Write(d, 0, std::string(2 << 20, 'm'));
  auto dev = Unwrap(b_->OpenDevice(d));
  EXPECT_EQ(dev->can_trim(), b_->caps().can_trim);
  if (!b_->caps().can_trim) {
    EXPECT_EQ(dev->Trim(1 << 20, 1 << 20, false).code(), Code::kNotSupported);
    ASSERT_TRUE(dev->WriteZeroes(1 << 20, 1 << 20, true, false).ok()) << "zeroing writes zeroes instead";
    EXPECT_EQ(Read(d, 1 << 20, 4096), std::string(4096, '\0'));
    EXPECT_EQ(Read(d, 0, 4096), std::string(4096, 'm'));
    return;
  }
  ASSERT_TRUE(dev->Trim(1 << 20, 1 << 20, false).ok());
  EXPECT_EQ(Read(d, 1 << 20, 4096), std::string(4096, '\0'));
  if (!b_->caps().allocation_map) return;
  auto map = Unwrap(b_->Map(d, 0, 8 << 20));
  ASSERT_FALSE(map.empty());
  EXPECT_EQ(map.front().type, ExtentType::kData);
  EXPECT_EQ(map.front().offset, 0u);
  EXPECT_EQ(map.front().length, 1u << 20);
  for (const Extent& e : map) {
    if (e.offset >= (1u << 20)) {
      EXPECT_NE(e.type, ExtentType::kData) << e.offset;
    }
  }
}

TEST_P(BackendConformance, BadInputsGetClearErrors) {
  std::string d = Unwrap(b_->CreateDisk(1 << 20, 0));
  std::string s = Unwrap(b_->Snapshot(std::vector<std::string>{d}, 0))[0];
  auto sdev = Unwrap(b_->OpenDevice(s));
  EXPECT_EQ(sdev->Write(0, C, false).code(), Code::kFailedPrecondition);
  auto ddev = Unwrap(b_->OpenDevice(d));
  std::string buf(4096, '\0');
  EXPECT_EQ(ddev->Read((1 << 20) - 100, buf).code(), Code::kOutOfRange);
  EXPECT_NE(b_->Stat("999999").status().code(), Code::kOk);
  EXPECT_NE(b_->Stat("d999-0").status().code(), Code::kOk);
  EXPECT_NE(b_->Delete("no such volume").code(), Code::kOk);
  EXPECT_NE(b_->Clone("nonsense", 0).status().code(), Code::kOk);
  EXPECT_NE(b_->Rollback(s, d).code(), Code::kOk) << "rolling a snapshot back is refused";
}

TEST_P(BackendConformance, AReopenedStoreListsItsVolumesWithTheirTags) {
  std::string d = Unwrap(b_->CreateDisk(1 << 20, 7));
  Write(d, 0, C);
  std::string s = Unwrap(b_->Snapshot(std::vector<std::string>{d}, 8))[0];
  ASSERT_TRUE(b_->Close().ok());
  b_ = Unwrap(OpenBackend(GetParam().sr_type, location_, {}));
  ASSERT_TRUE(b_);
  std::map<std::string, uint64_t> tags;
  for (const VolumeStat& v : Unwrap(b_->List())) tags[v.handle] = v.tag;
  EXPECT_EQ(tags, (std::map<std::string, uint64_t>{{d, 7}, {s, 8}}));
  EXPECT_EQ(Read(s, 0, C.size()), C);
  EXPECT_EQ(OpenBackend(GetParam().sr_type, location_, {.create = true}).status().code(), Code::kAlreadyExists);
}

// The catalog's rules hold on every SR type: snapshots by name, clones of
// clones, deletion deferred while clones depend on a snapshot.
TEST_P(BackendConformance, TheCatalogWorksUnchangedOnThisSrType) {
  ASSERT_TRUE(b_->Close().ok());
  b_.reset();
  TempDir pool;
  std::filesystem::create_directories(pool.path());
  auto m = Unwrap(Manager::Create(pool.path() + "/pool", {}));
  ASSERT_TRUE(m);
  const bool zfs = GetParam().fs == "zfs";
  std::string loc = zfs ? SharedZfs()->NewDataset() : location_ + "-catalog";
  ASSERT_TRUE(m->CreateSr("sr1", GetParam().sr_type, loc).ok());
  ASSERT_TRUE(m->CreateVm("web").ok());
  ASSERT_TRUE(m->CreateDisk("web", "root", 4 << 20, "sr1").ok());
  auto write = [&](const std::string& name, const std::string& data) {
    DiskRef r = Unwrap(m->Resolve(name));
    auto dev = Unwrap(r.backend->OpenDevice(r.handle));
    ASSERT_TRUE(dev->Write(0, data, true).ok());
  };
  auto read = [&](const std::string& name) {
    DiskRef r = Unwrap(m->Resolve(name));
    auto dev = Unwrap(r.backend->OpenDevice(r.handle));
    std::string buf(4096, '\0');
    EXPECT_TRUE(dev->Read(0, buf).ok());
    return buf;
  };
  write("web/root", std::string(4096, '1'));
  std::string full = Unwrap(m->CreateSnapshot("web", "s", "")).full_name;
  write("web/root", std::string(4096, '2'));
  EXPECT_EQ(read("web/root@" + full), std::string(4096, '1'));
  ASSERT_TRUE(m->CloneVm("web@" + full, "web2").ok());
  EXPECT_EQ(read("web2/root"), std::string(4096, '1'));
  auto del = Unwrap(m->DeleteSnapshot("web@" + full, false, false));
  ASSERT_EQ(del.deferred.size(), 1u) << "the clone keeps the snapshot";
  EXPECT_EQ(del.deferred[0].kept_by, std::vector<std::string>{"web2"});
  auto gone = Unwrap(m->DeleteVm("web2", false, false));
  EXPECT_FALSE(gone.removed.empty());
  ConsistencyReport report;
  ASSERT_TRUE(m->Check(true, &report).ok());
  EXPECT_TRUE(report.errors.empty()) << report.errors[0];
  ASSERT_TRUE(m->Close().ok());
  if (zfs) {
    ZfsRetry("zfs destroy -r -f " + loc);
  } else {
    RemoveSr(loc);
  }
}

INSTANTIATE_TEST_SUITE_P(Srs, BackendConformance,
                         ::testing::Values(Kind{"native", "native", ""}, Kind{"reflink_xfs", "reflink", "xfs"},
                                           Kind{"reflink_btrfs", "reflink", "btrfs"}, Kind{"btrfs", "btrfs", "btrfs"},
                                           Kind{"zfs", "zfs", "zfs"}),
                         [](const ::testing::TestParamInfo<Kind>& i) { return i.param.name; });

}  // namespace
}  // namespace vmstore::backend
