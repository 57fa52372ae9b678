// The management system's rules, each as a scenario asserting the exact error.
#include <gtest/gtest.h>

#include "backend/native_backend.h"
#include "catalog/catalog_test_util.h"
#include "catalog/naming.h"
#include "catalog/schema.h"

namespace vmstore::testing {
namespace {

class ManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    opts_.now = [this] { return now_; };
    m_ = Unwrap(Manager::Create(dir_.path(), opts_));
    ASSERT_TRUE(m_);
  }
  void Reopen() {
    ASSERT_OK(m_->Close());
    m_.reset();
    m_ = Unwrap(Manager::Open(dir_.path(), opts_));
    ASSERT_TRUE(m_);
  }
  // A VM with disks "a" (1 MiB) and "b" (2 MiB), each holding `tag` at offset 0.
  void MakeVm(const std::string& vm, const std::string& tag) {
    ASSERT_OK(m_->CreateVm(vm).status());
    ASSERT_OK(m_->CreateDisk(vm, "a", 1 << 20, "").status());
    ASSERT_OK(m_->CreateDisk(vm, "b", 2 << 20, "").status());
    ASSERT_OK(WriteDisk(*m_, vm + "/a", 0, tag + "-a"));
    ASSERT_OK(WriteDisk(*m_, vm + "/b", 0, tag + "-b"));
  }
  std::string Read(const std::string& name, size_t n) { return Unwrap(ReadDisk(*m_, name, 0, n)); }
  std::string Snap(const std::string& vm, const std::string& name) {
    now_ += 1000000000;  // one second per snapshot
    return Unwrap(m_->CreateSnapshot(vm, name, "")).full_name;
  }
  void ExpectConsistent() {
    ConsistencyReport rep;
    ASSERT_OK(m_->Check(true, &rep));
    for (auto& e : rep.errors) ADD_FAILURE() << e;
    EXPECT_EQ(rep.vdis, rep.volumes);
  }

  TempDir dir_;
  int64_t now_ = kPaperTime;
  ManagerOptions opts_;
  std::unique_ptr<Manager> m_;
};

TEST_F(ManagerTest, NamesAreValidatedAndUnique) {
  ASSERT_OK(m_->CreateVm("web-1.prod").status());
  auto dup = m_->CreateVm("web-1.prod");
  EXPECT_EQ(dup.status().code(), Code::kAlreadyExists);
  EXPECT_EQ(dup.status().message(), "VM 'web-1.prod' already exists");
  auto bad = m_->CreateVm("a/b");
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(bad.status().message(),
            "invalid VM name 'a/b': use 1-64 letters, digits, '_', '-' or '.', starting with a letter, digit or '_'");
  EXPECT_EQ(m_->CreateVm("").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(m_->CreateVm(std::string(65, 'x')).status().code(), Code::kInvalidArgument);
  ASSERT_OK(m_->CreateDisk("web-1.prod", "root", 1 << 20, "").status());
  auto dd = m_->CreateDisk("web-1.prod", "root", 1 << 20, "");
  EXPECT_EQ(dd.status().code(), Code::kAlreadyExists);
  EXPECT_EQ(dd.status().message(), "VM 'web-1.prod' already has a disk 'root'");
  // The same disk name in another VM is fine.
  ASSERT_OK(m_->CreateVm("db").status());
  ASSERT_OK(m_->CreateDisk("db", "root", 1 << 20, "").status());
  auto size = m_->CreateDisk("db", "data", 1000, "");
  EXPECT_EQ(size.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(size.status().message(), "disk size 1000 is not a positive multiple of 512 bytes");
}

TEST_F(ManagerTest, UnknownObjectsAreNotFound) {
  auto vm = m_->GetVm("ghost");
  EXPECT_EQ(vm.status().code(), Code::kNotFound);
  EXPECT_EQ(vm.status().message(), "VM 'ghost' does not exist (see: vmstore vm list)");
  ASSERT_OK(m_->CreateVm("vm1").status());
  auto disk = m_->GetDisk("vm1/nope");
  EXPECT_EQ(disk.status().code(), Code::kNotFound);
  EXPECT_EQ(disk.status().message(), "VM 'vm1' has no disk 'nope' (see: vmstore disk list vm1)");
  auto sr = m_->CreateDisk("vm1", "d", 1 << 20, "fast");
  EXPECT_EQ(sr.status().code(), Code::kNotFound);
  EXPECT_EQ(sr.status().message(), "SR 'fast' does not exist (see: vmstore sr list)");
  auto snap = m_->GetSnapshot("vm1@x_20140219T02:52:44");
  EXPECT_EQ(snap.status().code(), Code::kNotFound);
  EXPECT_EQ(m_->GetSnapshot("vm1").status().code(), Code::kInvalidArgument);
  auto nodisk = m_->CreateSnapshot("vm1", "s", "");
  EXPECT_EQ(nodisk.status().code(), Code::kFailedPrecondition);
}

TEST_F(ManagerTest, SnapshotNamesGetTheTimeTagAndAreSearchable) {
  MakeVm("vm1", "v0");
  auto bad = m_->CreateSnapshot("vm1", "snap-1", "");
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(bad.status().message(),
            "invalid snapshot name 'snap-1': use 1-64 letters, digits or underscores (e.g. snapshot_1); the time tag "
            "is added automatically");
  SnapshotInfo s = Unwrap(m_->CreateSnapshot("vm1", "snapshot_1", ""));
  EXPECT_EQ(s.full_name, "snapshot_1_20140219T02:52:44");
  EXPECT_EQ(s.created_ns, kPaperTime);
  EXPECT_EQ(s.disks.size(), 2u);
  auto dup = m_->CreateSnapshot("vm1", "snapshot_1", "");
  EXPECT_EQ(dup.status().code(), Code::kAlreadyExists);
  std::string t2 = Snap("vm1", "daily");
  std::string t3 = Snap("vm1", "daily");
  EXPECT_EQ(t2, "daily_20140219T02:52:45");
  SnapshotQuery exact;
  exact.full_name = t2;
  auto by_name = Unwrap(m_->FindSnapshots("vm1", exact));
  ASSERT_EQ(by_name.size(), 1u);
  EXPECT_EQ(by_name[0].full_name, t2);
  SnapshotQuery at;
  at.at_ns = kPaperTime + 1500000000;  // between the 2nd and 3rd
  auto by_time = Unwrap(m_->FindSnapshots("vm1", at));
  ASSERT_EQ(by_time.size(), 1u);
  EXPECT_EQ(by_time[0].full_name, t2);
  SnapshotQuery pre;
  pre.prefix = "daily_";
  EXPECT_EQ(Unwrap(m_->FindSnapshots("vm1", pre)).size(), 2u);
  SnapshotQuery before;
  before.at_ns = kPaperTime - 1;
  EXPECT_TRUE(Unwrap(m_->FindSnapshots("vm1", before)).empty());
  auto list = Unwrap(m_->ListSnapshots("vm1", false));
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[2].full_name, t3);  // oldest first
}

TEST_F(ManagerTest, VmSnapshotHoldsEveryDiskAndDiskOptionOnlyOne) {
  MakeVm("vm1", "old");
  std::string full = Snap("vm1", "both");
  ASSERT_OK(WriteDisk(*m_, "vm1/a", 0, "new-a"));
  ASSERT_OK(WriteDisk(*m_, "vm1/b", 0, "new-b"));
  EXPECT_EQ(Read("vm1/a@" + full, 5), "old-a");
  EXPECT_EQ(Read("vm1/b@" + full, 5), "old-b");
  EXPECT_EQ(Read("vm1/a", 5), "new-a");
  now_ += 1000000000;
  SnapshotInfo one = Unwrap(m_->CreateSnapshot("vm1", "only_b", "b"));
  ASSERT_EQ(one.disks.size(), 1u);
  EXPECT_EQ(one.disks[0].name, "b");
  EXPECT_EQ(m_->Resolve("vm1/a@" + one.full_name).status().code(), Code::kNotFound);
  ExpectConsistent();
}

TEST_F(ManagerTest, RollbackKeepsNewerSnapshotsAndStaysInItsVm) {
  MakeVm("vm1", "v1");
  std::string s1 = Snap("vm1", "s1");
  ASSERT_OK(WriteDisk(*m_, "vm1/a", 0, "v2-a"));
  std::string s2 = Snap("vm1", "s2");
  ASSERT_OK(WriteDisk(*m_, "vm1/a", 0, "v3-a"));
  ASSERT_OK(m_->Rollback("vm1@" + s1));
  EXPECT_EQ(Read("vm1/a", 4), "v1-a");
  EXPECT_EQ(Read("vm1/a@" + s2, 4), "v2-a");  // the newer snapshot is kept
  ASSERT_OK(m_->Rollback("vm1@" + s2));
  EXPECT_EQ(Read("vm1/a", 4), "v2-a");
  MakeVm("vm2", "w");
  Status across = m_->Rollback("vm2@" + s1);
  EXPECT_EQ(across.code(), Code::kNotFound);
  EXPECT_EQ(across.message(), "VM 'vm2' has no snapshot '" + s1 +
                                  "'; it belongs to VM 'vm1' (a snapshot is used only with its own VM; to start a VM "
                                  "from it: vmstore vm clone vm1@" +
                                  s1 + " NEWVM)");
  ExpectConsistent();
}

TEST_F(ManagerTest, ClonesOfClonesReadTheirSnapshotAndStayIndependent) {
  MakeVm("gold", "g0");
  std::string s = Snap("gold", "golden");
  VmInfo c1 = Unwrap(m_->CloneVm("gold@" + s, "c1"));
  EXPECT_EQ(c1.parent, "gold@" + s);
  ASSERT_EQ(c1.disks.size(), 2u);
  EXPECT_EQ(c1.disks[0].clone_of, "gold/a@" + s);
  EXPECT_EQ(Read("c1/a", 4), "g0-a");
  ASSERT_OK(WriteDisk(*m_, "c1/a", 0, "c1-a"));
  std::string s1 = Snap("c1", "lvl1");
  ASSERT_OK(m_->CloneVm("c1@" + s1, "c2").status());
  std::string s2 = Snap("c2", "lvl2");
  ASSERT_OK(m_->CloneVm("c2@" + s2, "c3").status());
  EXPECT_EQ(Read("c3/a", 4), "c1-a");
  EXPECT_EQ(Read("c3/b", 4), "g0-b");
  EXPECT_EQ(Read("gold/a", 4), "g0-a");
  auto taken = m_->CloneVm("gold@" + s, "c1");
  EXPECT_EQ(taken.status().code(), Code::kAlreadyExists);
  ExpectConsistent();
}

TEST_F(ManagerTest, DeletingAVmWhoseSnapshotHasClonesIsDeferredUntilTheLastCloneGoes) {
  // A probe disk measures the pool's live bytes before and after.
  ASSERT_OK(m_->CreateVm("probe").status());
  ASSERT_OK(m_->CreateDisk("probe", "p", 4096, "").status());
  Pool* pool = backend::NativePoolForTesting(Unwrap(m_->Resolve("probe/p")).backend);
  ASSERT_TRUE(pool);
  ASSERT_OK(pool->Checkpoint());
  const uint64_t empty_live = Unwrap(pool->Stats()).live_bytes;
  MakeVm("vm1", "v1");
  ASSERT_OK(WriteDisk(*m_, "vm1/b", 65536, std::string(1 << 20, 'z')));
  std::string s = Snap("vm1", "base");
  std::string lonely = Snap("vm1", "lonely");
  ASSERT_OK(m_->CloneVm("vm1@" + s, "clone1").status());
  ASSERT_OK(m_->CloneVm("vm1@" + s, "clone2").status());
  DeleteReport r = Unwrap(m_->DeleteVm("vm1", false, false));
  // Disks and the snapshot nobody depends on go; the VM and `base` wait.
  EXPECT_EQ(r.removed, (std::vector<std::string>{"vm1/a", "vm1/b", "vm1@" + lonely}));
  ASSERT_EQ(r.deferred.size(), 2u);
  EXPECT_EQ(r.deferred[0].object, "vm1@" + s);
  EXPECT_EQ(r.deferred[0].kept_by, (std::vector<std::string>{"clone1", "clone2"}));
  EXPECT_EQ(r.deferred[1].object, "vm1");
  EXPECT_EQ(m_->GetVm("vm1").status().code(), Code::kNotFound);  // hidden
  EXPECT_EQ(Unwrap(m_->ListVms(false)).size(), 3u);
  auto all = Unwrap(m_->ListVms(true));
  ASSERT_EQ(all.size(), 4u);
  // A deleted snapshot is no clone source, and a new VM may take the name.
  VmInfo old = all[3];
  EXPECT_EQ(old.name, "vm1");
  EXPECT_TRUE(old.deleted);
  auto from_deleted = m_->CloneVm(old.uuid + "@" + s, "clone3");
  EXPECT_EQ(from_deleted.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(from_deleted.status().message(),
            "snapshot '" + old.uuid + "@" + s + "' is deleted (kept only while its clones exist) and cannot be cloned");
  EXPECT_EQ(Read("clone2/a", 4), "v1-a");
  ExpectConsistent();
  SrInfo sr = Unwrap(m_->GetSr("default"));
  (void)sr;
  // Deleting clone1 keeps everything else; deleting clone2 cascades.
  DeleteReport r1 = Unwrap(m_->DeleteVm("clone1", false, false));
  EXPECT_EQ(r1.removed, (std::vector<std::string>{"clone1/a", "clone1/b", "clone1"}));
  DeleteReport r2 = Unwrap(m_->DeleteVm("clone2", false, false));
  EXPECT_EQ(r2.removed, (std::vector<std::string>{"clone2/a", "clone2/b", "clone2", "vm1@" + s, "vm1"}));
  EXPECT_EQ(Unwrap(m_->ListVms(true)).size(), 1u);
  ExpectConsistent();
  // Everything is gone, space included.
  ASSERT_OK(pool->Checkpoint());
  EXPECT_EQ(Unwrap(pool->Stats()).live_bytes, empty_live);
  EXPECT_EQ(pool->ListVolumes().size(), 1u);
}

TEST_F(ManagerTest, SummarizeVmsCountsWhatTheCatalogHolds) {
  MakeVm("vm1", "v1");
  std::string base = Snap("vm1", "base");
  Snap("vm1", "mid");
  std::string newest = Snap("vm1", "newest");
  ASSERT_OK(m_->CloneVm("vm1@" + base, "clone1").status());
  ASSERT_OK(m_->DeleteSnapshot("vm1@" + base, false, false).status());  // kept for clone1
  auto sum = Unwrap(m_->SummarizeVms());
  ASSERT_EQ(sum.size(), 2u);
  EXPECT_EQ(sum[0].name, "clone1");
  EXPECT_EQ(sum[0].disks, 2u);
  EXPECT_EQ(sum[0].snapshots, 0u);
  EXPECT_EQ(sum[0].newest_snapshot, "");
  EXPECT_EQ(sum[0].newest_snapshot_ns, 0);
  EXPECT_EQ(sum[1].name, "vm1");
  EXPECT_FALSE(sum[1].deleted);
  EXPECT_EQ(sum[1].disks, 2u);
  EXPECT_EQ(sum[1].snapshots, 2u);
  EXPECT_EQ(sum[1].deleted_snapshots, 1u);
  EXPECT_EQ(sum[1].newest_snapshot, newest);
  EXPECT_EQ(sum[1].newest_snapshot_ns, now_);
  // The VM deleted while its snapshot has a clone: marked, disks gone.
  ASSERT_OK(m_->DeleteVm("vm1", false, false).status());
  sum = Unwrap(m_->SummarizeVms());
  ASSERT_EQ(sum.size(), 2u);
  EXPECT_TRUE(sum[1].deleted);
  EXPECT_EQ(sum[1].disks, 0u);
  EXPECT_EQ(sum[1].snapshots, 0u);
  EXPECT_EQ(sum[1].deleted_snapshots, 1u);
}

TEST_F(ManagerTest, RecursiveDeleteListsThenRemovesEverythingDependent) {
  MakeVm("vm1", "v1");
  std::string s = Snap("vm1", "s");
  ASSERT_OK(m_->CloneVm("vm1@" + s, "c1").status());
  std::string cs = Snap("c1", "cs");
  ASSERT_OK(m_->CloneVm("c1@" + cs, "c2").status());
  DeleteReport dry = Unwrap(m_->DeleteSnapshot("vm1@" + s, true, true));
  EXPECT_TRUE(dry.dry_run);
  // c1's disks go first, then what depends on c1's snapshot, then c1.
  EXPECT_EQ(dry.removed,
            (std::vector<std::string>{"c1/a", "c1/b", "c2/a", "c2/b", "c2", "c1@" + cs, "c1", "vm1@" + s}));
  EXPECT_EQ(Unwrap(m_->ListVms(false)).size(), 3u);  // nothing changed
  ExpectConsistent();
  DeleteReport plain = Unwrap(m_->DeleteSnapshot("vm1@" + s, false, false));
  ASSERT_EQ(plain.deferred.size(), 1u);
  EXPECT_EQ(plain.deferred[0].kept_by, std::vector<std::string>{"c1"});
  DeleteReport real = Unwrap(m_->DeleteSnapshot(Unwrap(m_->GetVm("vm1")).uuid + "@" + s, true, false));
  EXPECT_EQ(real.removed, dry.removed);
  EXPECT_EQ(Unwrap(m_->ListVms(true)).size(), 1u);
  EXPECT_EQ(Read("vm1/a", 4), "v1-a");
  ExpectConsistent();
}

TEST_F(ManagerTest, ResizeGrowsAndRefusesToShrinkOverData) {
  MakeVm("vm1", "v");
  ASSERT_OK(WriteDisk(*m_, "vm1/b", (1 << 20) + 4096, "tail"));
  auto shrink = m_->ResizeDisk("vm1/b", 1 << 20);
  EXPECT_EQ(shrink.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(shrink.status().message(),
            "disk 'vm1/b' holds data at offset 1048576, past the new size 1048576; shrinking would lose it (trim that "
            "range inside the VM first)");
  EXPECT_EQ(Unwrap(m_->ResizeDisk("vm1/b", 4 << 20)).size, 4u << 20);
  EXPECT_EQ(Unwrap(m_->ResizeDisk("vm1/b", 2 << 20)).size, 2u << 20);  // the tail past 2 MiB is empty
  EXPECT_EQ(m_->ResizeDisk("vm1/b", 100).status().code(), Code::kInvalidArgument);
  ExpectConsistent();
}

TEST_F(ManagerTest, SrsHoldDisksAndRefuseDeletionWhileUsed) {
  // What a crash between making an SR's store and recording it leaves behind.
  std::filesystem::create_directories(dir_.path() + "/srs/fast/containers");
  SrInfo fast = Unwrap(m_->CreateSr("fast", "native", ""));
  EXPECT_EQ(fast.location, dir_.path() + "/srs/fast");
  EXPECT_EQ(m_->CreateSr("fast", "native", "").status().code(), Code::kAlreadyExists);
  auto type = m_->CreateSr("z", "nosuch", "");
  EXPECT_EQ(type.status().code(), Code::kNotSupported);
  EXPECT_EQ(type.status().message(), "unknown SR type 'nosuch' (known: btrfs, native, reflink, zfs)");
  ASSERT_OK(m_->CreateVm("vm1").status());
  ASSERT_OK(m_->CreateDisk("vm1", "os", 1 << 20, "").status());
  ASSERT_OK(m_->CreateDisk("vm1", "data", 1 << 20, "fast").status());
  ASSERT_OK(WriteDisk(*m_, "vm1/data", 0, "fast-data"));
  std::string s = Snap("vm1", "s");
  EXPECT_EQ(Unwrap(m_->GetSr("fast")).vdis, 2u);
  Status used = m_->DeleteSr("fast");
  EXPECT_EQ(used.code(), Code::kFailedPrecondition);
  EXPECT_EQ(used.message(), "SR 'fast' still holds 2 disks or disk snapshots; delete them first");
  EXPECT_EQ(m_->DeleteSr("default").code(), Code::kFailedPrecondition);
  Reopen();
  EXPECT_EQ(Read("vm1/data@" + s, 9), "fast-data");
  ExpectConsistent();
  ASSERT_OK(m_->DeleteVm("vm1", false, false).status());
  ASSERT_OK(m_->DeleteSr("fast"));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/srs/fast"));
}

TEST_F(ManagerTest, CheckReportsVolumesWithoutCatalogEntriesAndTheReverse) {
  MakeVm("vm1", "v");
  DiskRef a = Unwrap(m_->Resolve("vm1/a"));
  Pool* pool = backend::NativePoolForTesting(a.backend);
  VolumeId stray = Unwrap(pool->CreateVolume(4096));
  ConsistencyReport rep;
  ASSERT_OK(m_->Check(false, &rep));
  ASSERT_EQ(rep.errors.size(), 1u);
  EXPECT_EQ(rep.errors[0], "SR 'default': volume " + std::to_string(stray) + " belongs to no disk or snapshot (tag 0)");
  ASSERT_OK(pool->DeleteVolume(stray));
  ASSERT_OK(pool->DeleteVolume(Unwrap(backend::NativeVolumeId(a.handle))));
  ConsistencyReport rep2;
  ASSERT_OK(m_->Check(false, &rep2));
  ASSERT_EQ(rep2.errors.size(), 1u);
  EXPECT_EQ(rep2.errors[0], "VDI " + a.vdi_uuid + " ('a') has no volume " + a.handle + " in SR 'default'");
}

TEST_F(ManagerTest, ExportImportRebuildsTheSameCatalog) {
  MakeVm("vm1", "v");
  std::string s = Snap("vm1", "s");
  ASSERT_OK(m_->CloneVm("vm1@" + s, "c1").status());
  ASSERT_OK(m_->DeleteVm("vm1", false, false).status());  // deferred: kept for c1
  std::string exported = Unwrap(m_->ExportCatalog());
  EXPECT_EQ(ImportCatalog(dir_.path(), exported, opts_).code(), Code::kFailedPrecondition);  // in use
  ASSERT_OK(m_->Close());
  m_.reset();
  Status busy = ImportCatalog(dir_.path(), exported, opts_);
  EXPECT_EQ(busy.code(), Code::kFailedPrecondition);
  EXPECT_EQ(busy.message(), "the catalog of " + dir_.path() + " is not empty; import needs a new or empty pool");
  std::filesystem::remove(dir_.path() + "/catalog.db");
  std::filesystem::remove(dir_.path() + "/catalog.db-wal");
  std::filesystem::remove(dir_.path() + "/catalog.db-shm");
  EXPECT_EQ(ImportCatalog(dir_.path(), "{\"format\": 1}", opts_).code(), Code::kInvalidArgument);
  ASSERT_OK(ImportCatalog(dir_.path(), exported, opts_));
  m_ = Unwrap(Manager::Open(dir_.path(), opts_));
  ASSERT_TRUE(m_);
  EXPECT_EQ(Unwrap(m_->ExportCatalog()), exported);
  EXPECT_EQ(Read("c1/a", 3), "v-a");
  ExpectConsistent();
}

TEST(SchemaTest, NewerCatalogIsRefusedAndFreshOneMigratesToLatest) {
  TempDir dir;
  std::filesystem::create_directories(dir.path());
  auto db = Unwrap(catalog::SqliteDb::Open(dir.path() + "/c.db"));
  ASSERT_TRUE(db);
  EXPECT_EQ(Unwrap(catalog::SchemaVersion(db.get())), 0);
  ASSERT_OK(catalog::Migrate(db.get()));
  EXPECT_EQ(Unwrap(catalog::SchemaVersion(db.get())), catalog::LatestSchemaVersion());
  ASSERT_OK(catalog::Migrate(db.get()));  // idempotent
  ASSERT_OK(db->Exec("PRAGMA user_version = 99"));
  Status s = catalog::Migrate(db.get());
  EXPECT_EQ(s.code(), Code::kNotSupported);
  EXPECT_EQ(s.message(), "catalog " + dir.path() + "/c.db has schema version 99; this vmstore knows up to " +
                             std::to_string(catalog::LatestSchemaVersion()) + " (upgrade vmstore)");
}

TEST_F(ManagerTest, SecondOpenIsRefused) {
  auto second = Manager::Open(dir_.path(), opts_);
  EXPECT_EQ(second.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(second.status().message(), "pool " + dir_.path() + " is in use by another vmstore process");
  auto again = Manager::Create(dir_.path(), opts_);
  EXPECT_EQ(again.status().code(), Code::kAlreadyExists);
}

}  // namespace
}  // namespace vmstore::testing
