// Catalog crash tests: a child process runs one operation and dies (_exit, as
// kill -9 would leave it: no close, no checkpoint) at each step between the
// catalog and the backend; the parent reopens the pool and requires that the
// result is exactly the state before or after the operation, that the catalog
// and the engine agree, and that the engine's own fsck is clean.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <sstream>

#include "catalog/catalog_test_util.h"

namespace vmstore::testing {
namespace {

using Op = std::function<Status(Manager&, const std::string& snap)>;

// An operation in one or more parts (each passes each step once).
struct Case {
  const char* name;
  std::vector<Op> parts;
};

// Everything a user can see, with the first bytes of every disk and snapshot.
std::string Describe(Manager& m) {
  std::ostringstream out;
  for (const VmInfo& v : Unwrap(m.ListVms(true))) {
    out << "vm " << v.name << (v.deleted ? " deleted" : "") << " parent=" << v.parent << "\n";
    for (const DiskInfo& d : v.disks) {
      out << "  disk " << d.name << " " << d.size << " " << Unwrap(ReadDisk(m, v.name + "/" + d.name, 0, 6)) << "\n";
    }
    for (const SnapshotInfo& s : Unwrap(m.ListSnapshots(v.deleted ? v.uuid : v.name, true))) {
      out << "  snap " << s.full_name << (s.deleted ? " deleted" : "") << "\n";
      for (const auto& d : s.disks) {
        out << "    " << d.name << " " << d.size << " "
            << Unwrap(ReadDisk(m, (v.deleted ? v.uuid : v.name) + "/" + d.name + "@" + s.full_name, 0, 6)) << "\n";
      }
    }
  }
  return out.str();
}

class CatalogCrashTest : public ::testing::Test {
 protected:
  // vm1 (disks a, b) with snapshot s1 (clone c1), then new data on vm1.
  std::string MakePool(const std::string& dir) {
    auto m = Unwrap(Manager::Create(dir, Options()));
    EXPECT_TRUE(m);
    EXPECT_OK(m->CreateVm("vm1").status());
    EXPECT_OK(m->CreateDisk("vm1", "a", 1 << 20, "").status());
    EXPECT_OK(m->CreateDisk("vm1", "b", 1 << 20, "").status());
    EXPECT_OK(WriteDisk(*m, "vm1/a", 0, "old-a!"));
    EXPECT_OK(WriteDisk(*m, "vm1/b", 0, "old-b!"));
    std::string s = Unwrap(m->CreateSnapshot("vm1", "s1", "")).full_name;
    EXPECT_OK(m->CloneVm("vm1@" + s, "c1").status());
    EXPECT_OK(WriteDisk(*m, "vm1/a", 0, "new-a!"));
    EXPECT_OK(m->Close());
    return s;
  }
  ManagerOptions Options() {
    ManagerOptions o;
    o.now = [] { return kPaperTime; };
    return o;
  }
  std::string DescribeDir(const std::string& dir) {
    auto m = Unwrap(Manager::Open(dir, Options()));
    if (!m) return "open failed";
    std::string d = Describe(*m);
    ConsistencyReport rep;
    EXPECT_OK(m->Check(true, &rep));
    for (auto& e : rep.errors) ADD_FAILURE() << dir << ": " << e;
    EXPECT_OK(m->Close());
    return d;
  }
};

TEST_F(CatalogCrashTest, EveryStepOfEveryOperationRecoversToBeforeOrAfter) {
  std::vector<Case> cases = {
      {"disk create", {[](Manager& m, const std::string&) { return m.CreateDisk("vm1", "c", 1 << 20, "").status(); }}},
      {"snapshot create", {[](Manager& m, const std::string&) { return m.CreateSnapshot("vm1", "s2", "").status(); }}},
      {"vm clone", {[](Manager& m, const std::string& s) { return m.CloneVm("vm1@" + s, "c2").status(); }}},
      {"rollback", {[](Manager& m, const std::string& s) { return m.Rollback("vm1@" + s); }}},
      {"resize", {[](Manager& m, const std::string&) { return m.ResizeDisk("vm1/b", 4 << 20).status(); }}},
      {"disk delete", {[](Manager& m, const std::string&) { return m.DeleteDisk("vm1/b"); }}},
      {"vm delete (deferred)",
       {[](Manager& m, const std::string&) { return m.DeleteVm("vm1", false, false).status(); }}},
      {"snapshot delete (deferred)",
       {[](Manager& m, const std::string& s) { return m.DeleteSnapshot("vm1@" + s, false, false).status(); }}},
      {"vm delete, then its last clone (cascade)",
       {[](Manager& m, const std::string&) { return m.DeleteVm("vm1", false, false).status(); },
        [](Manager& m, const std::string&) { return m.DeleteVm("c1", false, false).status(); }}},
      {"snapshot delete (recursive)",
       {[](Manager& m, const std::string& s) { return m.DeleteSnapshot("vm1@" + s, true, false).status(); }}},
  };
  const char* points[] = {"intent", "backend", "done"};
  TempDir root;
  std::filesystem::create_directories(root.path());
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    // The state before and after each part, from a run without a crash.
    std::string ref = root.path() + "/ref";
    std::filesystem::remove_all(ref);
    std::string snap = MakePool(ref);
    std::vector<std::string> states = {DescribeDir(ref)};
    for (const Op& part : c.parts) {
      {
        auto m = Unwrap(Manager::Open(ref, Options()));
        ASSERT_TRUE(m);
        ASSERT_OK(part(*m, snap));
        ASSERT_OK(m->Close());
      }
      states.push_back(DescribeDir(ref));
      ASSERT_NE(states.back(), states[states.size() - 2]);
    }
    const int parts = static_cast<int>(c.parts.size());
    for (const char* point : points) {
      SCOPED_TRACE(point);
      for (int hit = 1; hit <= parts; ++hit) {
        SCOPED_TRACE("in part " + std::to_string(hit));
        std::string dir = root.path() + "/crash";
        std::filesystem::remove_all(dir);
        ASSERT_EQ(MakePool(dir), snap);
        pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
          ManagerOptions o = Options();
          int seen = 0;
          o.step_hook = [&](const char* p) {
            if (!std::strcmp(p, point) && ++seen == hit) _exit(0);
          };
          auto m = Manager::Open(dir, o);
          if (!m.ok()) _exit(3);
          for (const Op& part : c.parts) {
            if (!part(**m, snap).ok()) _exit(5);
          }
          _exit(4);  // finished without reaching the point
        }
        int status = 0;
        waitpid(pid, &status, 0);
        ASSERT_TRUE(WIFEXITED(status));
        int code = WEXITSTATUS(status);
        ASSERT_EQ(code, 0) << "the child did not stop at '" << point << "'";
        // Before or after the part that crashed, nothing in between.
        std::string got = DescribeDir(dir);
        EXPECT_TRUE(got == states[hit - 1] || got == states[hit]) << "got:\n"
                                                                  << got << "before:\n"
                                                                  << states[hit - 1] << "after:\n"
                                                                  << states[hit];
        if (!std::strcmp(point, "done")) {
          EXPECT_EQ(got, states[hit]);
        }
      }
    }
  }
}

}  // namespace
}  // namespace vmstore::testing
