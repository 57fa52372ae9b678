// Space accounting on a real file system (POSIX env, punched holes):
// overwriting or deleting frees exactly what nobody else references.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "engine/test_util.h"

namespace vmstore::testing {
namespace {

class SpaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("vmstore-space-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(SpaceTest, OverwriteAfterSnapshotThenDeleteSnapshotReturnsToOneCopy) {
  constexpr uint64_t kMiB = 1 << 20;
  auto pool = Unwrap(Pool::Create(dir_, PoolOptions{}));
  ASSERT_TRUE(pool);
  uint64_t empty = Unwrap(pool->Stats()).physical_bytes;
  VolumeId v = Unwrap(pool->CreateVolume(128 * kMiB));
  std::string a(kMiB, 'a'), b(kMiB, 'b');
  for (uint64_t i = 0; i < 64; ++i) ASSERT_OK(pool->Write(v, i * kMiB, a));
  ASSERT_OK(pool->Checkpoint());
  uint64_t one_copy = Unwrap(pool->Stats()).physical_bytes;
  EXPECT_GE(one_copy, 64 * kMiB);
  EXPECT_LE(one_copy, 64 * kMiB + 2 * kMiB) << "metadata of a 64 MiB volume is far below 2 MiB";

  VolumeId snap = Unwrap(pool->Snapshot(v));
  SpaceInfo s = Unwrap(pool->Space(snap));
  EXPECT_EQ(s.referenced, 64 * kMiB);
  EXPECT_EQ(s.exclusive, 0u) << "a fresh snapshot shares everything";
  for (uint64_t i = 0; i < 64; ++i) ASSERT_OK(pool->Write(v, i * kMiB, b));
  ASSERT_OK(pool->Checkpoint());
  uint64_t two_copies = Unwrap(pool->Stats()).physical_bytes;
  EXPECT_GE(two_copies, 128 * kMiB);
  s = Unwrap(pool->Space(snap));
  EXPECT_EQ(s.exclusive, 64 * kMiB) << "the old data (index nodes are not counted)";

  ASSERT_OK(pool->DeleteVolume(snap));
  ASSERT_OK(pool->Checkpoint());
  uint64_t after = Unwrap(pool->Stats()).physical_bytes;
  EXPECT_LE(after, one_copy + kMiB) << "deleting the snapshot frees its 64 MiB";
  std::string buf(kMiB, '\0');
  ASSERT_OK(pool->Read(v, 5 * kMiB, buf));
  EXPECT_EQ(buf, b);

  ASSERT_OK(pool->DeleteVolume(v));
  ASSERT_OK(pool->Checkpoint());
  uint64_t end = Unwrap(pool->Stats()).physical_bytes;
  EXPECT_LE(end, empty + 256 * 1024) << "an empty pool keeps only its superblock, table and one container header";
  std::printf(
      "physical bytes: empty %llu, 64 MiB written %llu, overwritten after snapshot %llu, snapshot deleted "
      "%llu, everything deleted %llu\n",
      (unsigned long long)empty, (unsigned long long)one_copy, (unsigned long long)two_copies,
      (unsigned long long)after, (unsigned long long)end);
  ASSERT_OK(pool->Close());
  // The same after reopening (and its garbage scan).
  pool = Unwrap(Pool::Open(dir_, PoolOptions{}));
  ASSERT_TRUE(pool);
  EXPECT_LE(Unwrap(pool->Stats()).physical_bytes, empty + 256 * 1024);
}

// A container that keeps a few live blocks gives back the pages of its sum
// area that describe only freed units (after the checkpoint, and at open for
// pools that kept them).
TEST_F(SpaceTest, SumPagesOfFreedUnitsAreGivenBack) {
  PoolOptions o;
  o.container_size = 4 << 20;                // 1,024 units: two pages of sums
  constexpr uint64_t kC = 65536, kPer = 64;  // clusters per container
  auto pool = Unwrap(Pool::Create(dir_, o));
  ASSERT_TRUE(pool);
  VolumeId v = Unwrap(pool->CreateVolume(16 * kPer * kC));
  std::string a(16 * kPer * kC, 'a');
  ASSERT_OK(pool->Write(v, 0, a));
  ASSERT_OK(pool->Checkpoint());
  // Keep only the cluster at the end of each container's data (its sums are in
  // page 1); the rest is rewritten elsewhere.
  for (uint64_t i = 0; i < 16 * kPer; ++i) {
    if (i % kPer != kPer - 1) ASSERT_OK(pool->Write(v, i * kC, std::string(kC, 'b')));
  }
  ASSERT_OK(pool->Checkpoint());
  // Containers 2 .. 15 hold data only (container 1 also the first index nodes):
  // each keeps one live cluster, so exactly the sum page describing it stays.
  const uint64_t data_start = 4096 + 8192;  // header, then 1,024 sums = two pages
  auto check = [&](const char* when) {
    for (int c = 2; c <= 15; ++c) {
      char name[32];
      std::snprintf(name, sizeof name, "/containers/%09x.ctr", c);
      auto f = Unwrap(Env::Default()->OpenFile(dir_ + name, false));
      std::set<uint64_t> sum_pages, pages_needed;
      uint64_t data_bytes = 0;
      for (const ByteRange& r : Unwrap(f->DataRanges())) {
        for (uint64_t off = r.offset; off < r.offset + r.length; off += 4096) {
          if (off >= data_start) {
            data_bytes += 4096;
            pages_needed.insert((off - data_start) / 4096 / 512);
          } else if (off >= 4096) {
            sum_pages.insert((off - 4096) / 4096);
          }
        }
      }
      EXPECT_EQ(data_bytes, kC) << when << ": container " << c;
      EXPECT_EQ(sum_pages, pages_needed) << when << ": container " << c << " keeps sum pages of freed units";
    }
  };
  check("after the checkpoint");
  ASSERT_OK(pool->Close());
  pool = Unwrap(Pool::Open(dir_, o));
  ASSERT_TRUE(pool);
  check("after reopening");
  std::string got(kC, '\0');
  ASSERT_OK(pool->Read(v, (2 * kPer - 1) * kC, got));
  EXPECT_EQ(got, std::string(kC, 'a'));
  CheckReport r;
  ASSERT_OK(pool->Check(true, &r));
  EXPECT_TRUE(r.clean()) << r.errors[0];
}

TEST_F(SpaceTest, TrimFreesUnsharedClusters) {
  auto pool = Unwrap(Pool::Create(dir_, PoolOptions{}));
  ASSERT_TRUE(pool);
  VolumeId v = Unwrap(pool->CreateVolume(32 << 20));
  ASSERT_OK(pool->Write(v, 0, std::string(16 << 20, 'x')));
  ASSERT_OK(pool->Checkpoint());
  uint64_t full = Unwrap(pool->Stats()).physical_bytes;
  ASSERT_OK(pool->Trim(v, 0, 16 << 20));
  ASSERT_OK(pool->Checkpoint());
  uint64_t trimmed = Unwrap(pool->Stats()).physical_bytes;
  EXPECT_LE(trimmed + (15 << 20), full);
  auto map = Unwrap(pool->Map(v, 0, 32 << 20));
  ASSERT_EQ(map.size(), 1u);
  EXPECT_EQ(map[0].type, ExtentType::kHole);
}

}  // namespace
}  // namespace vmstore::testing

namespace vmstore::testing {
namespace {

// A full file system (MemEnv capacity): new data is refused with kNoSpace
// while the reserve is still free, so trims, snapshots and deletes go through
// and give the room back.
TEST(FullDiskTest, NewDataStopsAtTheReserveAndTrimsGiveRoomBack) {
  constexpr uint64_t kMiB = 1 << 20;
  MemEnv env;
  env.SetCapacity(48 * kMiB);
  PoolOptions o = SmallOptions(&env, 65536);
  o.space_reserve_bytes = 4 * kMiB;
  auto pool = Unwrap(Pool::Create("/pool", o));
  ASSERT_TRUE(pool);
  VolumeId v = Unwrap(pool->CreateVolume(256 * kMiB));
  std::string a(kMiB, 'a');
  uint64_t written = 0;
  Status s;
  for (; written < 256 * kMiB; written += kMiB) {
    s = pool->Write(v, written, a);
    if (!s.ok()) break;
  }
  ASSERT_EQ(s.code(), Code::kNoSpace) << s.ToString();
  EXPECT_NE(s.message().find("full"), std::string::npos) << s.message();
  EXPECT_GT(written, 16 * kMiB) << "most of the space was usable";
  EXPECT_EQ(env.injected_failures(), 0u) << "the file system itself never ran out";
  // What was written reads back; metadata operations still work.
  std::string got(kMiB, '\0');
  ASSERT_OK(pool->Read(v, 0, got));
  EXPECT_EQ(got, a);
  VolumeId snap = Unwrap(pool->Snapshot(v));
  ASSERT_OK(pool->DeleteVolume(snap));
  ASSERT_OK(pool->Flush());
  EXPECT_EQ(pool->Write(v, written, a).code(), Code::kNoSpace);
  // A trim gives room back (the refused write checkpoints to punch it).
  ASSERT_OK(pool->Trim(v, 0, 8 * kMiB));
  ASSERT_OK(pool->Write(v, written, a));
  CheckReport r;
  ASSERT_OK(pool->Check(true, &r));
  EXPECT_TRUE(r.clean()) << r.errors[0];
  ASSERT_OK(pool->Close());
  pool = Unwrap(Pool::Open("/pool", o));
  ASSERT_TRUE(pool);
  ASSERT_OK(pool->Read(v, written, got));
  EXPECT_EQ(got, a);
}

}  // namespace
}  // namespace vmstore::testing
