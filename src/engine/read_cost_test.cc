// Read cost is independent of the number of snapshots, counted, not timed:
// index nodes visited per read are equal with 0 and 1000 snapshots and on a
// clone of a clone of a clone.
#include <gtest/gtest.h>

#include "engine/test_util.h"

namespace vmstore::testing {
namespace {

uint64_t NodesPerRead(Pool& pool, VolumeId v, uint64_t offset) {
  ReadStats st;
  std::string buf(4096, '\0');
  EXPECT_OK(pool.Read(v, offset, buf, &st));
  return st.nodes_visited;
}

TEST(ReadCostTest, NodesVisitedDoNotGrowWithSnapshotsOrCloneDepth) {
  MemEnv env;
  PoolOptions o = SmallOptions(&env, 65536);
  o.max_dirty_bytes = 8 << 20;
  o.container_size = 64 << 20;
  auto pool = Unwrap(Pool::Create("/pool", o));
  ASSERT_TRUE(pool);
  const uint64_t size = 10ull << 30;  // 10 GiB: 163840 clusters, three index levels
  VolumeId v = Unwrap(pool->CreateVolume(size));
  EXPECT_EQ(Unwrap(pool->Info(v)).height, 3u);
  std::mt19937_64 rng(9);
  std::vector<uint64_t> offsets;
  for (int i = 0; i < 64; ++i) offsets.push_back((rng() % (size / 4096)) * 4096);
  for (uint64_t off : offsets) ASSERT_OK(pool->Write(v, off, std::string(4096, 'q')));

  std::vector<uint64_t> base;
  for (uint64_t off : offsets) base.push_back(NodesPerRead(*pool, v, off));
  for (uint64_t n : base) EXPECT_EQ(n, 3u);

  VolumeId last_snap = 0;
  for (int s = 0; s < 1000; ++s) {
    last_snap = Unwrap(pool->Snapshot(v));
    // Scattered writes between snapshots.
    ASSERT_OK(pool->Write(v, (rng() % (size / 4096)) * 4096, std::string(4096, static_cast<char>(s))));
  }
  for (size_t i = 0; i < offsets.size(); ++i) {
    EXPECT_EQ(NodesPerRead(*pool, v, offsets[i]), base[i]) << "live volume, offset " << offsets[i];
    EXPECT_EQ(NodesPerRead(*pool, last_snap, offsets[i]), base[i]) << "newest snapshot";
  }
  VolumeId first_snap = v + 1;
  EXPECT_EQ(NodesPerRead(*pool, first_snap, offsets[0]), base[0]) << "oldest snapshot";

  VolumeId c = v;
  for (int depth = 0; depth < 3; ++depth) {
    VolumeId s = Unwrap(pool->Snapshot(c));
    c = Unwrap(pool->Clone(s));
    ASSERT_OK(pool->Write(c, offsets[depth], std::string(4096, 'c')));
  }
  for (size_t i = 0; i < offsets.size(); ++i) {
    EXPECT_EQ(NodesPerRead(*pool, c, offsets[i]), base[i]) << "clone of a clone of a clone";
  }
  ASSERT_OK(pool->Checkpoint());
  for (size_t i = 0; i < offsets.size(); ++i) EXPECT_EQ(NodesPerRead(*pool, c, offsets[i]), base[i]);
}

}  // namespace
}  // namespace vmstore::testing
