// Randomized test of the management system against a plain model: sequences
// of create / write / snapshot / clone / rollback / delete / reopen, checking
// after every step that the catalog agrees with the model (which objects exist,
// which are marked deleted), that the catalog and the engine agree (Check),
// that every disk and every surviving snapshot reads what the model says, and
// at the end that deleting everything gives all space back. Seeds are printed.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "backend/native_backend.h"
#include "catalog/catalog_test_util.h"

namespace vmstore::testing {
namespace {

constexpr uint64_t kDiskSize = 256 << 10;

// The model: the paper's rules written as directly as possible.
struct Model {
  struct Vm {
    bool deleted = false;
    std::string parent;                        // snapshot key "vm#n@full" or ""
    std::map<std::string, std::string> disks;  // name -> content
    std::vector<std::string> snapshots;        // keys, oldest first
  };
  struct Snap {
    std::string vm;  // vm key
    std::string full;
    bool deleted = false;
    std::map<std::string, std::string> disks;
    std::set<std::string> clones;  // vm keys
  };
  // VM keys are "name#generation" because a deleted VM's name can be reused.
  std::map<std::string, Vm> vms;
  std::map<std::string, Snap> snaps;
  std::map<std::string, std::string> live;  // name -> key of the live VM

  static std::string Name(const std::string& key) { return key.substr(0, key.find('#')); }

  void RemoveSnap(std::string key) {  // by value: callers pass keys stored in the maps
    Snap s = snaps.at(key);
    snaps.erase(key);
    Vm& v = vms.at(s.vm);
    v.snapshots.erase(std::find(v.snapshots.begin(), v.snapshots.end(), key));
    if (v.deleted && v.snapshots.empty()) RemoveVm(s.vm);
  }
  void RemoveVm(std::string key) {
    Vm v = vms.at(key);
    vms.erase(key);
    if (v.parent.empty()) return;
    Snap& p = snaps.at(v.parent);
    p.clones.erase(key);
    if (p.deleted && p.clones.empty()) RemoveSnap(v.parent);
  }
  void DeleteSnap(std::string key, bool recursive) {
    if (recursive) {
      for (const std::string& c : std::set<std::string>(snaps.at(key).clones)) DeleteVm(c, true);
      if (!snaps.count(key)) return;
    }
    if (snaps.at(key).clones.empty()) {
      RemoveSnap(key);
    } else {
      snaps.at(key).deleted = true;
    }
  }
  void DeleteVm(std::string key, bool recursive) {
    Vm& v = vms.at(key);
    v.disks.clear();
    if (!v.deleted && live.count(Name(key)) && live[Name(key)] == key) live.erase(Name(key));
    for (const std::string& s : std::vector<std::string>(v.snapshots)) {
      if (snaps.count(s)) DeleteSnap(s, recursive);
    }
    if (!vms.count(key)) return;
    if (vms.at(key).snapshots.empty()) {
      RemoveVm(key);
    } else {
      vms.at(key).deleted = true;
    }
  }
};

class ManagerModelTest : public ::testing::TestWithParam<uint64_t> {};

TEST_P(ManagerModelTest, RandomSequencesMatchTheModel) {
  const uint64_t seed = GetParam();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::printf("manager model test seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  TempDir dir;
  int64_t now = kPaperTime;
  ManagerOptions opts;
  opts.now = [&now] { return now; };
  auto m = Unwrap(Manager::Create(dir.path(), opts));
  ASSERT_TRUE(m);
  // A probe disk, to find the engine and its empty size.
  ASSERT_OK(m->CreateVm("probe").status());
  ASSERT_OK(m->CreateDisk("probe", "p", 4096, "").status());
  ASSERT_OK(backend::NativePoolForTesting(Unwrap(m->Resolve("probe/p")).backend)->Checkpoint());
  const uint64_t empty_live =
      Unwrap(backend::NativePoolForTesting(Unwrap(m->Resolve("probe/p")).backend)->Stats()).live_bytes;

  Model model;
  int generation = 0;
  auto pick = [&](auto& container) {
    auto it = container.begin();
    std::advance(it, rng() % container.size());
    return it->first;
  };
  auto live_snaps = [&] {
    std::vector<std::string> out;
    for (auto& [k, s] : model.snaps) {
      if (!s.deleted) out.push_back(k);
    }
    return out;
  };
  auto label = [&](const std::string& snap_key) {
    const Model::Snap& s = model.snaps.at(snap_key);
    // A deleted VM is reached by its UUID; the test looks it up by name among all VMs.
    const std::string& vm_key = s.vm;
    if (!model.vms.at(vm_key).deleted) return Model::Name(vm_key) + "@" + s.full;
    for (const VmInfo& v : Unwrap(m->ListVms(true))) {
      if (v.deleted && v.name == Model::Name(vm_key) &&
          std::find(v.snapshots.begin(), v.snapshots.end(), s.full) != v.snapshots.end()) {
        return v.uuid + "@" + s.full;
      }
    }
    ADD_FAILURE() << "no deleted VM holds " << snap_key;
    return std::string();
  };

  const int steps = 300;
  for (int step = 0; step < steps; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    now += 1000000000;
    int op = static_cast<int>(rng() % 100);
    if (op < 10 || model.live.empty()) {  // create a VM with one or two disks
      std::string name = "vm" + std::to_string(rng() % 8);
      if (model.live.count(name) || name == "probe") continue;
      std::string key = name + "#" + std::to_string(generation++);
      ASSERT_OK(m->CreateVm(name).status());
      model.vms[key];
      model.live[name] = key;
      int disks = 1 + static_cast<int>(rng() % 2);
      for (int d = 0; d < disks; ++d) {
        std::string dn = "d" + std::to_string(d);
        ASSERT_OK(m->CreateDisk(name, dn, kDiskSize, "").status());
        model.vms[key].disks[dn] = std::string(kDiskSize, '\0');
      }
    } else if (op < 40) {  // write into a live disk
      std::string name = pick(model.live);
      Model::Vm& v = model.vms.at(model.live[name]);
      if (v.disks.empty()) continue;
      std::string dn = pick(v.disks);
      uint64_t off = (rng() % (kDiskSize / 512)) * 512;
      size_t len = std::min<uint64_t>(kDiskSize - off, 512 * (1 + rng() % 40));
      std::string data(len, static_cast<char>('A' + rng() % 26));
      ASSERT_OK(WriteDisk(*m, name + "/" + dn, off, data));
      v.disks[dn].replace(off, len, data);
    } else if (op < 55) {  // snapshot a VM
      std::string name = pick(model.live);
      std::string key = model.live[name];
      if (model.vms.at(key).disks.empty()) continue;
      SnapshotInfo s = Unwrap(m->CreateSnapshot(name, "s" + std::to_string(step), ""));
      std::string sk = key + "@" + s.full_name;
      model.snaps[sk] = Model::Snap{key, s.full_name, false, model.vms.at(key).disks, {}};
      model.vms.at(key).snapshots.push_back(sk);
    } else if (op < 65) {  // clone a live snapshot
      auto ls = live_snaps();
      if (ls.empty()) continue;
      std::string sk = ls[rng() % ls.size()];
      std::string name = "vm" + std::to_string(rng() % 8);
      if (model.live.count(name)) continue;
      std::string key = name + "#" + std::to_string(generation++);
      ASSERT_OK(m->CloneVm(label(sk), name).status());
      Model::Vm v;
      v.parent = sk;
      v.disks = model.snaps.at(sk).disks;
      model.vms[key] = v;
      model.live[name] = key;
      model.snaps.at(sk).clones.insert(key);
    } else if (op < 72) {  // roll a VM back to one of its live snapshots
      std::string name = pick(model.live);
      Model::Vm& v = model.vms.at(model.live[name]);
      std::vector<std::string> mine;
      for (auto& k : v.snapshots) {
        if (!model.snaps.at(k).deleted) mine.push_back(k);
      }
      if (mine.empty()) continue;
      std::string sk = mine[rng() % mine.size()];
      const Model::Snap& s = model.snaps.at(sk);
      bool all_present = true;
      for (auto& [dn, c] : s.disks) all_present = all_present && v.disks.count(dn);
      Status st = m->Rollback(label(sk));
      if (!all_present) {  // a disk of the snapshot was deleted since
        EXPECT_EQ(st.code(), Code::kFailedPrecondition);
        continue;
      }
      ASSERT_OK(st);
      for (auto& [dn, c] : s.disks) v.disks[dn] = c;
    } else if (op < 80) {  // delete a snapshot (live or deferred)
      if (model.snaps.empty()) continue;
      std::string sk = pick(model.snaps);
      bool rec = rng() % 3 == 0;
      ASSERT_OK(m->DeleteSnapshot(label(sk), rec, false).status());
      model.DeleteSnap(sk, rec);
    } else if (op < 90) {  // delete a VM
      std::string name = pick(model.live);
      bool rec = rng() % 3 == 0;
      ASSERT_OK(m->DeleteVm(name, rec, false).status());
      model.DeleteVm(model.live.at(name), rec);
    } else if (op < 95) {  // delete one disk
      std::string name = pick(model.live);
      Model::Vm& v = model.vms.at(model.live[name]);
      if (v.disks.empty()) continue;
      std::string dn = pick(v.disks);
      ASSERT_OK(m->DeleteDisk(name + "/" + dn));
      v.disks.erase(dn);
    } else {  // reopen
      ASSERT_OK(m->Close());
      m.reset();
      m = Unwrap(Manager::Open(dir.path(), opts));
      ASSERT_TRUE(m);
    }

    // The catalog against the model.
    std::multiset<std::string> want, got;
    for (auto& [k, v] : model.vms) want.insert(Model::Name(k) + (v.deleted ? " deleted" : ""));
    want.insert("probe");
    for (const VmInfo& v : Unwrap(m->ListVms(true))) got.insert(v.name + (v.deleted ? " deleted" : ""));
    ASSERT_EQ(got, want);
    for (auto& [k, s] : model.snaps) {
      SnapshotInfo info = Unwrap(m->GetSnapshot(label(k)));
      ASSERT_EQ(info.deleted, s.deleted) << k;
      for (auto& [dn, c] : s.disks) {
        ASSERT_EQ(Unwrap(ReadDisk(*m, label(k).replace(label(k).find('@'), 0, "/" + dn), 0, kDiskSize)), c)
            << k << "/" << dn;
      }
    }
    for (auto& [name, key] : model.live) {
      const Model::Vm& v = model.vms.at(key);
      ASSERT_EQ(Unwrap(m->GetVm(name)).disks.size(), v.disks.size());
      for (auto& [dn, c] : v.disks) ASSERT_EQ(Unwrap(ReadDisk(*m, name + "/" + dn, 0, kDiskSize)), c) << name;
    }
    ConsistencyReport rep;
    ASSERT_OK(m->Check(false, &rep));
    for (auto& e : rep.errors) ADD_FAILURE() << e;
    ASSERT_TRUE(rep.clean());
  }

  // Delete everything; all space comes back.
  for (const VmInfo& v : Unwrap(m->ListVms(true))) {
    if (v.name == "probe") continue;
    auto r = m->DeleteVm(v.uuid, true, false);
    if (!r.ok()) {
      ASSERT_EQ(r.status().code(), Code::kNotFound);  // gone with an earlier one
    }
  }
  EXPECT_EQ(Unwrap(m->ListVms(true)).size(), 1u);
  Pool* pool = backend::NativePoolForTesting(Unwrap(m->Resolve("probe/p")).backend);
  ASSERT_OK(pool->Checkpoint());
  EXPECT_EQ(Unwrap(pool->Stats()).live_bytes, empty_live);
  EXPECT_EQ(pool->ListVolumes().size(), 1u);
  ASSERT_OK(pool->VerifyRefcounts());
}

INSTANTIATE_TEST_SUITE_P(Seeds, ManagerModelTest, ::testing::Values(1, 2, 3, 4, 5, 6));

}  // namespace
}  // namespace vmstore::testing
