// Manager::OpenShared: several Managers (as several gateways would) on one
// CatalogStore. The store here is a plain in-memory one with an injectable
// failure; the etcd one is exercised by tests/gateway_test.sh.
#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <random>
#include <set>

#include "catalog/catalog_test_util.h"
#include "util/testing.h"
#include "vmstore/manager.h"

namespace vmstore {
namespace {

using testing::TempDir;
using testing::Unwrap;

// The whole state a store keeps; shared by the stores of one "cluster".
struct Shared {
  std::mutex mu;
  std::condition_variable cv;
  std::string bytes;
  int64_t version = 0;
  bool locked = false;
  int fail_next_store = 0;  // > 0: that many Store() calls fail (as if etcd went away)
  int stores = 0;
};

class MemStore final : public CatalogStore {
 public:
  explicit MemStore(std::shared_ptr<Shared> s) : s_(std::move(s)) {}
  StatusOr<Image> Load(int64_t known) override {
    std::lock_guard<std::mutex> l(s_->mu);
    if (known != 0 && known == s_->version) return Image{"", known};
    return Image{s_->bytes, s_->version};
  }
  StatusOr<int64_t> Store(const std::string& bytes, int64_t expected) override {
    std::lock_guard<std::mutex> l(s_->mu);
    if (s_->fail_next_store > 0) {
      --s_->fail_next_store;
      return IOError("injected: the store is unreachable");
    }
    if (expected != s_->version) return FailedPrecondition("version moved");
    s_->bytes = bytes;
    ++s_->stores;
    return ++s_->version;
  }
  StatusOr<std::unique_ptr<Guard>> Lock() override {
    std::unique_lock<std::mutex> l(s_->mu);
    s_->cv.wait(l, [&] { return !s_->locked; });
    s_->locked = true;
    return std::unique_ptr<Guard>(new Held(s_));
  }
  std::string Describe() const override { return "memory"; }

 private:
  struct Held final : Guard {
    explicit Held(std::shared_ptr<Shared> s) : s(std::move(s)) {}
    ~Held() override {
      {
        std::lock_guard<std::mutex> l(s->mu);
        s->locked = false;
      }
      s->cv.notify_all();
    }
    std::shared_ptr<Shared> s;
  };
  std::shared_ptr<Shared> s_;
};

std::unique_ptr<Manager> OpenOn(const std::shared_ptr<Shared>& s, const std::string& sr_dir) {
  std::filesystem::create_directories(std::filesystem::path(sr_dir).parent_path());
  return Unwrap(Manager::OpenShared(std::make_unique<MemStore>(s), "native", sr_dir, ManagerOptions{}));
}

std::set<std::string> VmNames(Manager& m) {
  std::set<std::string> out;
  for (const VmInfo& v : Unwrap(m.ListVms(false))) out.insert(v.name);
  return out;
}

TEST(SharedCatalogTest, EveryManagerSeesWhatAnotherCommitted) {
  TempDir dir;
  auto s = std::make_shared<Shared>();
  auto a = OpenOn(s, dir.path() + "/sr");
  auto b = OpenOn(s, dir.path() + "/sr");  // found the catalog a made: no second default SR
  EXPECT_EQ(Unwrap(b->ListSrs()).size(), 1u);
  Unwrap(a->CreateVm("web"));
  EXPECT_EQ(VmNames(*b), (std::set<std::string>{"web"}));
}

TEST(SharedCatalogTest, NamesStayUniqueAcrossManagers) {
  TempDir dir;
  auto s = std::make_shared<Shared>();
  auto a = OpenOn(s, dir.path() + "/sr");
  auto b = OpenOn(s, dir.path() + "/sr");
  Unwrap(a->CreateVm("web"));
  auto again = b->CreateVm("web");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Code::kAlreadyExists) << again.status().ToString();
}

TEST(SharedCatalogTest, AFailedStoreLeavesNothingAndTheNextSessionReloads) {
  TempDir dir;
  auto s = std::make_shared<Shared>();
  auto a = OpenOn(s, dir.path() + "/sr");
  Unwrap(a->CreateVm("kept"));
  s->fail_next_store = 1;
  auto lost = a->CreateVm("lost");
  ASSERT_FALSE(lost.ok());
  EXPECT_NE(lost.status().ToString().find("saving the catalog to memory"), std::string::npos)
      << lost.status().ToString();
  // The local copy had committed it; the next session reloads the store's.
  EXPECT_EQ(VmNames(*a), (std::set<std::string>{"kept"}));
  auto b = OpenOn(s, dir.path() + "/sr");
  EXPECT_EQ(VmNames(*b), (std::set<std::string>{"kept"}));
  Unwrap(a->CreateVm("lost"));  // and works again
  EXPECT_EQ(VmNames(*b), (std::set<std::string>{"kept", "lost"}));
}

// Randomized: three Managers on one store create and delete VMs and set
// properties, some stores failing; after every step every Manager's view
// equals the oracle's.
// A gateway's views (lists, metrics, its policy thread) must not take an SR
// another gateway serves: opening a cluster SR takes its lock, and a view that
// grabbed a dead gateway's SR kept its successor out (gateway_test found it).
TEST(SharedCatalogTest, ViewsNeverOpenAnSrThatIsNotHeldHere) {
  TempDir dir;
  auto s = std::make_shared<Shared>();
  auto a = OpenOn(s, dir.path() + "/sr");
  Unwrap(a->CreateVm("web"));
  Unwrap(a->CreateDisk("web", "root", 1 << 20, ""));
  Unwrap(a->CreateSnapshot("web", "s1", ""));
  int opens = 0;
  ManagerOptions o;
  o.open_backend = [&](const std::string& type, const std::string& location, const backend::OpenOptions& bo) {
    ++opens;
    return backend::OpenBackend(type, location, bo);
  };
  auto b = Unwrap(Manager::OpenShared(std::make_unique<MemStore>(s), "native", dir.path() + "/sr", o));
  EXPECT_FALSE(Unwrap(b->ListVms(false))[0].disks[0].space_known);
  EXPECT_FALSE(Unwrap(b->ListDisks(""))[0].space_known);
  EXPECT_FALSE(Unwrap(b->ListSnapshots("web", false))[0].space_known);
  EXPECT_EQ(Unwrap(b->SrBackendForView("default")), nullptr);
  EXPECT_EQ(opens, 0);
  // The Manager that holds the SR knows its figures.
  EXPECT_TRUE(Unwrap(a->ListDisks(""))[0].space_known);
  // Asked for the disk itself (a client of this gateway), b opens the SR.
  a.reset();
  Unwrap(b->Resolve("web/root"));
  EXPECT_EQ(opens, 1);
  EXPECT_TRUE(Unwrap(b->ListDisks(""))[0].space_known);
  EXPECT_NE(Unwrap(b->SrBackendForView("default")), nullptr);
}

TEST(SharedCatalogTest, RandomOperationsFromThreeManagersMatchAnOracle) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    TempDir dir;
    auto s = std::make_shared<Shared>();
    std::vector<std::unique_ptr<Manager>> ms;
    for (int i = 0; i < 3; ++i) ms.push_back(OpenOn(s, dir.path() + "/sr"));
    std::mt19937 rng(seed);
    std::set<std::string> vms;
    std::map<std::string, std::string> props;  // vm -> value of key "k"
    for (int step = 0; step < 150; ++step) {
      Manager& m = *ms[rng() % 3];
      const std::string name = "vm" + std::to_string(rng() % 12);
      const bool fail = rng() % 8 == 0;
      s->fail_next_store = fail ? 1 : 0;
      switch (rng() % 3) {
        case 0: {
          auto r = m.CreateVm(name);
          if (r.ok()) {
            ASSERT_FALSE(fail);
            ASSERT_TRUE(vms.insert(name).second) << "step " << step << ": created " << name << " twice";
          } else {
            ASSERT_TRUE(fail || vms.count(name)) << "step " << step << ": " << r.status().ToString();
          }
          break;
        }
        case 1: {
          auto r = m.DeleteVm(name, true, false);
          if (r.ok()) {
            ASSERT_FALSE(fail);
            ASSERT_EQ(vms.erase(name), 1u) << "step " << step;
            props.erase(name);
          } else {
            ASSERT_TRUE(fail || !vms.count(name)) << "step " << step << ": " << r.status().ToString();
          }
          break;
        }
        default: {
          const std::string v = std::to_string(step);
          Status st = m.SetProperty(name, "k", v);
          if (st.ok()) {
            ASSERT_FALSE(fail);
            ASSERT_TRUE(vms.count(name)) << "step " << step;
            props[name] = v;
          } else {
            ASSERT_TRUE(fail || !vms.count(name)) << "step " << step << ": " << st.ToString();
          }
        }
      }
      s->fail_next_store = 0;
      for (auto& other : ms) {
        ASSERT_EQ(VmNames(*other), vms) << "step " << step;
      }
      for (auto& [vm, v] : props) {
        auto got = Unwrap(ms[step % 3]->Properties(vm));
        ASSERT_EQ(got["k"], v) << "step " << step << " vm " << vm;
      }
    }
  }
}

// Writers in several threads (as several gateways): the store's lock
// serialises them, so none is lost.
TEST(SharedCatalogTest, ConcurrentWritersAllLand) {
  TempDir dir;
  auto s = std::make_shared<Shared>();
  std::vector<std::unique_ptr<Manager>> ms;
  for (int i = 0; i < 4; ++i) ms.push_back(OpenOn(s, dir.path() + "/sr"));
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i) {
    ts.emplace_back([&, i] {
      for (int j = 0; j < 10; ++j)
        ASSERT_OK(ms[i]->CreateVm("t" + std::to_string(i) + "-" + std::to_string(j)).status());
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(VmNames(*ms[0]).size(), 40u);
}

}  // namespace
}  // namespace vmstore
