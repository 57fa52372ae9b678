// Pool::Diff against an oracle: random change sets between two snapshots, with
// resizes across index heights, clones, rollbacks and deduplication. Every
// cluster whose content differs must be reported, nothing that was not
// touched may be, and the reported ranges of `to` applied to `from` give `to`.
#include <gtest/gtest.h>

#include <set>

#include "engine/test_util.h"

namespace vmstore::testing {
namespace {

struct DiffParam {
  uint32_t cluster;
  DedupMode dedup;
  uint64_t seed;
};

class DiffModelTest : public ::testing::TestWithParam<DiffParam> {};

// The content of `v` padded or cut to `size`.
std::string Resized(std::string v, uint64_t size) {
  v.resize(size, '\0');
  return v;
}

TEST_P(DiffModelTest, ReportsEveryChangeAndOnlyTouchedClusters) {
  const DiffParam prm = GetParam();
  SCOPED_TRACE("seed " + std::to_string(prm.seed) + " cluster " + std::to_string(prm.cluster));
  MemEnv env;
  PoolOptions o = DedupOptions(&env, prm.cluster, prm.dedup);
  auto pool = Unwrap(Pool::Create("/pool", o));
  ASSERT_TRUE(pool);
  std::mt19937_64 rng(prm.seed);
  const uint64_t C = prm.cluster;
  // Sizes cross index heights: 256 clusters fit in one node.
  auto random_size = [&] { return (1 + rng() % (600 * C / 4096)) * 4096; };
  std::string live(random_size(), '\0');
  VolumeId disk = Unwrap(pool->CreateVolume(live.size()));
  // Snapshots kept: id -> content.
  std::vector<std::pair<VolumeId, std::string>> snaps;
  snaps.emplace_back(Unwrap(pool->Snapshot(disk)), live);
  std::set<uint64_t> touched;  // clusters changed since snaps.front()
  bool all_touched = false;    // a rollback since then: anything may differ
  auto touch = [&](uint64_t off, uint64_t len) {
    for (uint64_t c = off / C; c * C < off + len; ++c) touched.insert(c);
  };
  for (int round = 0; round < 120; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    int ops = static_cast<int>(rng() % 7);
    for (int i = 0; i < ops; ++i) {
      int kind = static_cast<int>(rng() % 20);
      uint64_t off = rng() % live.size(), len = 1 + rng() % std::min<uint64_t>(live.size() - off, 3 * C);
      if (kind < 12) {
        std::string buf(len, '\0');
        FillWrite(rng, &buf, off, prm.dedup != DedupMode::kOff);
        ASSERT_OK(pool->Write(disk, off, buf));
        live.replace(off, len, buf);
        touch(off, len);
      } else if (kind < 15) {
        ASSERT_OK(pool->Trim(disk, off, len));
        std::fill_n(live.begin() + off, len, '\0');
        touch(off, len);
      } else if (kind < 17) {
        ASSERT_OK(pool->WriteZeroes(disk, off, len, rng() % 2));
        std::fill_n(live.begin() + off, len, '\0');
        touch(off, len);
      } else if (kind < 19) {
        uint64_t size = random_size();
        ASSERT_OK(pool->ResizeVolume(disk, size));
        if (size < live.size()) touch(size, live.size() - size);
        live.resize(size, '\0');
      } else {
        // Roll back to a random kept snapshot: anything may have changed.
        auto& [sid, content] = snaps[rng() % snaps.size()];
        ASSERT_OK(pool->Rollback(disk, sid));
        live = content;
        all_touched = true;
      }
    }
    VolumeId b = Unwrap(pool->Snapshot(disk));
    // Against the oldest kept snapshot (the touched set covers all since).
    auto [a, a_content] = snaps.front();
    DiffResult d = Unwrap(pool->Diff(a, b));
    EXPECT_EQ(d.to_size, live.size());
    EXPECT_EQ(d.from_size, a_content.size());
    std::string from = Resized(a_content, live.size());
    std::set<uint64_t> reported;
    std::string rebuilt = from;
    uint64_t prev_end = 0;
    for (const Extent& e : d.changed) {
      ASSERT_GE(e.offset, prev_end) << "extents out of order";
      prev_end = e.offset + e.length;
      ASSERT_LE(prev_end, live.size());
      std::string got(e.length, '\0');
      ASSERT_OK(pool->Read(b, e.offset, got));
      if (e.type == ExtentType::kZero) {
        EXPECT_EQ(got, std::string(e.length, '\0')) << "kZero extent at " << e.offset << " holds data";
      } else {
        auto map = Unwrap(pool->Map(b, e.offset, e.length));
        for (const Extent& m : map) EXPECT_EQ(m.type, ExtentType::kData) << "kData extent over a hole";
      }
      rebuilt.replace(e.offset, e.length, got);
      for (uint64_t c = e.offset / C; c * C < e.offset + e.length; ++c) {
        reported.insert(c);
        EXPECT_TRUE(all_touched || touched.count(c)) << "cluster " << c << " reported but never touched";
      }
    }
    ASSERT_EQ(rebuilt, live) << "from + changed ranges != to";
    for (uint64_t c = 0; c * C < live.size(); ++c) {
      uint64_t n = std::min(C, live.size() - c * C);
      if (from.compare(c * C, n, live, c * C, n) != 0) {
        EXPECT_TRUE(reported.count(c)) << "cluster " << c << " differs but is not reported";
      }
    }
    // Keep a window of four snapshots; the touched set restarts from the oldest.
    snaps.emplace_back(b, live);
    if (snaps.size() > 4 || rng() % 3 == 0) {
      // Deleting the oldest: what changed since the new oldest is not known
      // exactly, so start over from the newest.
      for (size_t i = 0; i + 1 < snaps.size(); ++i) ASSERT_OK(pool->DeleteVolume(snaps[i].first));
      snaps.erase(snaps.begin(), snaps.end() - 1);
      touched.clear();
      all_touched = false;
    }
  }
  CheckReport rep;
  ASSERT_OK(pool->Check(true, &rep));
  EXPECT_TRUE(rep.clean()) << rep.errors.front();
}

INSTANTIATE_TEST_SUITE_P(Seeds, DiffModelTest,
                         ::testing::Values(DiffParam{4096, DedupMode::kOff, 1}, DiffParam{4096, DedupMode::kOff, 2},
                                           DiffParam{65536, DedupMode::kOff, 3}, DiffParam{4096, DedupMode::kOn, 4},
                                           DiffParam{16384, DedupMode::kVerify, 5}));

TEST(DiffTest, CostFollowsTheChangeNotTheDiskSize) {
  MemEnv env;
  PoolOptions o = SmallOptions(&env, 65536);
  o.max_dirty_bytes = 8 << 20;
  auto pool = Unwrap(Pool::Create("/pool", o));
  ASSERT_TRUE(pool);
  const uint64_t size = 10ull << 30;  // 163,840 clusters, three index levels
  VolumeId v = Unwrap(pool->CreateVolume(size));
  std::mt19937_64 rng(11);
  for (int i = 0; i < 2000; ++i) ASSERT_OK(pool->Write(v, (rng() % (size / 65536)) * 65536, std::string(65536, 'd')));
  VolumeId a = Unwrap(pool->Snapshot(v));
  DiffResult same = Unwrap(pool->Diff(a, v));
  EXPECT_TRUE(same.changed.empty());
  EXPECT_EQ(same.nodes_visited, 0u) << "identical trees must not be read";
  std::set<uint64_t> written;
  for (int i = 0; i < 5; ++i) {
    uint64_t c = rng() % (size / 65536);
    written.insert(c);
    ASSERT_OK(pool->Write(v, c * 65536 + 100, "x"));
  }
  VolumeId b = Unwrap(pool->Snapshot(v));
  DiffResult d = Unwrap(pool->Diff(a, b));
  EXPECT_EQ(d.changed_bytes(), written.size() * 65536);
  // Both roots, then at most two nodes per level per changed path.
  EXPECT_LE(d.nodes_visited, 2 + written.size() * 4) << "the walk read unchanged subtrees";
  // The whole disk's index is far larger: the first diff from an empty disk reads it.
  VolumeId empty = Unwrap(pool->CreateVolume(size));
  DiffResult all = Unwrap(pool->Diff(empty, b));
  EXPECT_GT(all.nodes_visited, 20 * d.nodes_visited);
  std::printf(
      "10 GiB disk, 2,000 clusters written: diff of %zu changed clusters read %llu index nodes; "
      "from an empty disk %llu\n",
      written.size(), static_cast<unsigned long long>(d.nodes_visited),
      static_cast<unsigned long long>(all.nodes_visited));
  EXPECT_EQ(all.changed_bytes(), Unwrap(pool->Space(b)).referenced);
}

TEST(DiffTest, UnknownVolumeIsNotFound) {
  MemEnv env;
  auto pool = Unwrap(Pool::Create("/pool", SmallOptions(&env, 4096)));
  ASSERT_TRUE(pool);
  VolumeId v = Unwrap(pool->CreateVolume(1 << 20));
  EXPECT_EQ(pool->Diff(v, 99).status().code(), Code::kNotFound);
  EXPECT_EQ(pool->Diff(99, v).status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace vmstore::testing
