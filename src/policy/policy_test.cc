// Snapshot policies over simulated weeks: the Manager's clock is injected and
// advanced in 15-minute steps over three weeks, the runner called at each; at every step each
// schedule holds at most `keep` live snapshots, the newest one taken at the
// latest multiple of its interval, and snapshots with clones are kept (marked
// deleted) until the clones go.
#include "policy/policy.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>

#include "catalog/catalog_test_util.h"
#include "util/test_scale.h"

namespace vmstore::policy {
namespace {

using testing::TempDir;
using testing::Unwrap;

TEST(ScheduleTest, ParsesAndRefuses) {
  Schedule s = Unwrap(ParseSchedule("15m:8"));
  EXPECT_EQ(s.interval_s, 900);
  EXPECT_EQ(s.keep, 8);
  EXPECT_EQ(s.SnapshotName(), "auto_15m");
  EXPECT_EQ(Unwrap(ParseSchedule("hourly:24")).interval_s, 3600);
  EXPECT_EQ(Unwrap(ParseSchedule("daily:7")).interval_s, 86400);
  EXPECT_EQ(Unwrap(ParseSchedule("weekly:4")).interval_s, 604800);
  EXPECT_EQ(Unwrap(ParseSchedule("2w:2")).interval_s, 1209600);
  EXPECT_EQ(ScheduleText(Unwrap(ParseSchedule("90s:3"))), "90s:3");
  for (const char* bad : {"", "15m", ":8", "15m:", "15x:8", "m:8", "15m:0", "15m:10001", "5s:1", "400d:1", "hourly:-1",
                          "15m:8:9", "-5m:3"}) {
    EXPECT_EQ(ParseSchedule(bad).status().code(), Code::kInvalidArgument) << bad;
  }
}

struct Sim {
  TempDir dir;
  int64_t now = 1'795'000'000LL * 1'000'000'000LL;  // 2026-11-18T...Z
  std::unique_ptr<Manager> m;
  Sim() {
    ManagerOptions o;
    o.cluster_size = 4096;
    o.now = [this] { return now; };
    m = Unwrap(Manager::Create(dir.path(), o));
  }
};

TEST(PolicyTest, SimulatedWeeksKeepWhatEachScheduleSays) {
  Sim sim;
  Manager& m = *sim.m;
  ASSERT_TRUE(m.CreateVm("web").ok());
  ASSERT_TRUE(m.CreateDisk("web", "root", 1 << 20, "").ok());
  ASSERT_TRUE(m.CreateVm("idle").ok());  // no policy: never touched
  Policy p;
  for (const char* s : {"15m:8", "hourly:24", "daily:7", "weekly:4"}) p.schedules.push_back(Unwrap(ParseSchedule(s)));
  ASSERT_TRUE(SetPolicy(m, "web", p).ok());
  EXPECT_EQ(Unwrap(GetPolicy(m, "web")).schedules.size(), 4u);
  PolicyRunner runner(&m);
  std::map<std::string, int> created, deleted;
  std::string cloned_daily;                    // a daily snapshot a clone was made from
  const int64_t step = 900LL * 1'000'000'000;  // the daemon ticks far more often; one step per 15 minutes here
  const int weeks = vmstore::testing::kSanitized ? 1 : 3;  // the release run does the three
  const int steps = weeks * 7 * 24 * 4;
  std::printf("%d simulated weeks\n", weeks);
  for (int i = 0; i < steps; ++i) {
    sim.now += step;
    RunReport r = runner.RunDue(sim.now);
    ASSERT_TRUE(r.errors.empty()) << "step " << i << ": " << r.errors.front();
    for (auto& c : r.created) ++created[c.substr(c.find('@') + 1, c.rfind('_') - c.find('@') - 1)];
    for (auto& d : r.deleted) ++deleted[d.substr(d.find('@') + 1, d.rfind('_') - d.find('@') - 1)];
    if (i == 2 * 96 && cloned_daily.empty()) {
      // Two days in: clone the oldest daily snapshot.
      for (auto& s : Unwrap(m.ListSnapshots("web", false))) {
        if (s.name == "auto_daily") {
          cloned_daily = "web@" + s.full_name;
          break;
        }
      }
      ASSERT_FALSE(cloned_daily.empty());
      ASSERT_TRUE(m.CloneVm(cloned_daily, "web-test").ok());
    }
    // Invariants at every step.
    const int64_t now_s = sim.now / 1'000'000'000;
    auto snaps = Unwrap(m.ListSnapshots("web", false));
    for (const Schedule& s : p.schedules) {
      int live = 0;
      int64_t newest = -1;
      for (auto& si : snaps) {
        if (si.name != s.SnapshotName()) continue;
        ++live;
        newest = std::max<int64_t>(newest, si.created_ns / 1'000'000'000);
      }
      ASSERT_LE(live, s.keep) << s.label << " at step " << i;
      ASSERT_GE(newest, 0) << s.label;
      ASSERT_EQ(newest / s.interval_s, now_s / s.interval_s)
          << s.label << ": not taken this interval (step " << i << ")";
    }
  }
  // One snapshot per interval since the start (plus the first at once).
  EXPECT_NEAR(created["auto_15m"], steps, 1);
  EXPECT_NEAR(created["auto_hourly"], steps / 4, 1);
  EXPECT_NEAR(created["auto_daily"], 7 * weeks, 1);
  EXPECT_NEAR(created["auto_weekly"], weeks, 1);
  auto live = Unwrap(m.ListSnapshots("web", false));
  std::map<std::string, int> kept;
  for (auto& s : live) ++kept[s.name];
  EXPECT_EQ(kept["auto_15m"], 8);
  EXPECT_EQ(kept["auto_hourly"], 24);
  EXPECT_EQ(kept["auto_daily"], 7);
  EXPECT_EQ(kept["auto_weekly"], std::min(4, created["auto_weekly"]));
  EXPECT_EQ(deleted["auto_15m"], created["auto_15m"] - 8);
  // The cloned daily snapshot was pruned by the rules: marked deleted, kept for its clone.
  auto all = Unwrap(m.ListSnapshots("web", true));
  bool found = false;
  for (auto& s : all) {
    if ("web@" + s.full_name == cloned_daily) {
      found = true;
      EXPECT_TRUE(s.deleted);
    }
  }
  EXPECT_TRUE(found) << "the clone's origin was removed";
  ASSERT_TRUE(m.DeleteVm("web-test", false, false).ok());
  EXPECT_EQ(Unwrap(m.ListSnapshots("web", true)).size(), live.size()) << "the origin went with its last clone";
  EXPECT_TRUE(Unwrap(m.ListSnapshots("idle", true)).empty());
  // Clearing the policy stops it; the snapshots stay.
  ASSERT_TRUE(SetPolicy(m, "web", Policy{}).ok());
  sim.now += 7LL * 86400 * 1'000'000'000;
  RunReport r = runner.RunDue(sim.now);
  EXPECT_TRUE(r.created.empty() && r.deleted.empty());
  EXPECT_EQ(Unwrap(m.ListSnapshots("web", false)).size(), live.size());
}

TEST(PolicyTest, TheDaemonCatchesUpAfterDowntimeWithOneSnapshot) {
  Sim sim;
  ASSERT_TRUE(sim.m->CreateVm("db").ok());
  ASSERT_TRUE(sim.m->CreateDisk("db", "d", 1 << 20, "").ok());
  Policy p;
  p.schedules.push_back(Unwrap(ParseSchedule("hourly:3")));
  ASSERT_TRUE(SetPolicy(*sim.m, "db", p).ok());
  PolicyRunner runner(sim.m.get());
  EXPECT_EQ(runner.RunDue(sim.now).created.size(), 1u);
  EXPECT_EQ(runner.RunDue(sim.now).created.size(), 0u) << "twice in one interval";
  sim.now += 30LL * 3600 * 1'000'000'000;  // a day and more down
  EXPECT_EQ(runner.RunDue(sim.now).created.size(), 1u) << "missed intervals are not made up";
}

TEST(PolicyTest, BadPropertiesAndDuplicatesAreReported) {
  Sim sim;
  ASSERT_TRUE(sim.m->CreateVm("x").ok());
  Policy p;
  p.schedules = {Unwrap(ParseSchedule("hourly:3")), Unwrap(ParseSchedule("hourly:5"))};
  EXPECT_EQ(SetPolicy(*sim.m, "x", p).code(), Code::kInvalidArgument);
  ASSERT_TRUE(sim.m->SetProperty("x", kPolicyKey, "{not json").ok());
  EXPECT_EQ(GetPolicy(*sim.m, "x").status().code(), Code::kCorruption);
  PolicyRunner runner(sim.m.get());
  RunReport r = runner.RunDue(sim.now);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("x: "), std::string::npos);
}

}  // namespace
}  // namespace vmstore::policy
