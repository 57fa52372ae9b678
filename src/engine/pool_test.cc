// Pool API semantics and bad inputs, each asserting the exact error.
#include <gtest/gtest.h>

#include <thread>

#include "engine/format.h"
#include "engine/test_util.h"

namespace vmstore::testing {
namespace {

class PoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    opts_ = SmallOptions(&env_, 65536);
    pool_ = Unwrap(Pool::Create("/pool", opts_));
    ASSERT_TRUE(pool_);
    vol_ = Unwrap(pool_->CreateVolume(1 << 20));
  }
  MemEnv env_;
  PoolOptions opts_;
  std::unique_ptr<Pool> pool_;
  VolumeId vol_ = 0;
};

TEST_F(PoolTest, SizeNotMultipleOf512IsRefused) {
  auto r = pool_->CreateVolume(1000);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "volume size 1000 is not a positive multiple of 512");
  EXPECT_EQ(pool_->ResizeVolume(vol_, 0).code(), Code::kInvalidArgument);
  EXPECT_EQ(pool_->CreateVolume(uint64_t{1} << 51).status().code(), Code::kInvalidArgument);
}

TEST_F(PoolTest, ReadPastEndIsOutOfRange) {
  std::string buf(512, '\0');
  Status s = pool_->Read(vol_, (1 << 20) - 256, buf);
  EXPECT_EQ(s.code(), Code::kOutOfRange);
  EXPECT_EQ(s.message(), "volume 1: range 1048320+512 beyond size 1048576");
  EXPECT_EQ(pool_->Write(vol_, 1 << 20, std::string(1, 'x')).code(), Code::kOutOfRange);
  EXPECT_EQ(pool_->Trim(vol_, 1 << 19, 1 << 20).code(), Code::kOutOfRange);
}

TEST_F(PoolTest, UnknownVolumeIsNotFound) {
  std::string buf(1, '\0');
  Status s = pool_->Read(77, 0, buf);
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(s.message(), "volume 77 does not exist");
  EXPECT_EQ(pool_->Snapshot(77).status().code(), Code::kNotFound);
  EXPECT_EQ(pool_->DeleteVolume(77).code(), Code::kNotFound);
}

TEST_F(PoolTest, SnapshotsAreReadOnly) {
  VolumeId s = Unwrap(pool_->Snapshot(vol_));
  Status st = pool_->Write(s, 0, std::string(10, 'x'));
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_EQ(st.message(), "volume 2 is a read-only snapshot");
  EXPECT_EQ(pool_->Trim(s, 0, 512).code(), Code::kFailedPrecondition);
  EXPECT_EQ(pool_->ResizeVolume(s, 4096).code(), Code::kFailedPrecondition);
  EXPECT_EQ(pool_->Rollback(s, vol_).code(), Code::kFailedPrecondition);
}

TEST_F(PoolTest, RollbackToItselfIsRefused) {
  Status s = pool_->Rollback(vol_, vol_);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "cannot roll volume 1 back to itself");
}

TEST_F(PoolTest, SnapshotManyTakesAllOrRefusesBadInput) {
  VolumeId second = Unwrap(pool_->CreateVolume(1 << 20));
  ASSERT_OK(pool_->Write(vol_, 0, std::string(4096, 'a')));
  ASSERT_OK(pool_->Write(second, 0, std::string(4096, 'b')));
  std::vector<VolumeId> both = {vol_, second};
  std::vector<VolumeId> ids = Unwrap(pool_->SnapshotMany(both, 42));
  ASSERT_EQ(ids.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    VolumeInfo info = Unwrap(pool_->Info(ids[i]));
    EXPECT_TRUE(info.read_only);
    EXPECT_EQ(info.parent, both[i]);
    EXPECT_EQ(info.tag, 42u);
    std::string buf(4096, '\0');
    ASSERT_OK(pool_->Read(ids[i], 0, buf));
    EXPECT_EQ(buf, std::string(4096, i == 0 ? 'a' : 'b'));
  }
  size_t before = pool_->ListVolumes().size();
  std::vector<VolumeId> twice = {vol_, vol_};
  Status s = pool_->SnapshotMany(twice, 0).status();
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "volume 1 is listed twice");
  std::vector<VolumeId> unknown = {vol_, 99};
  EXPECT_EQ(pool_->SnapshotMany(unknown, 0).status().code(), Code::kNotFound);
  EXPECT_EQ(pool_->ListVolumes().size(), before);  // nothing taken by a refused call
}

TEST_F(PoolTest, TagsSurviveReplayAndCheckpoint) {
  VolumeId tagged = Unwrap(pool_->CreateVolume(1 << 20, 7));
  VolumeId snap = Unwrap(pool_->Snapshot(tagged, 8));
  VolumeId clone = Unwrap(pool_->Clone(snap, 9));
  for (bool checkpoint : {false, true}) {
    if (checkpoint) ASSERT_OK(pool_->Checkpoint());
    pool_ = Unwrap(CrashAndReopen(env_, pool_, opts_, 1));
    ASSERT_TRUE(pool_);
    EXPECT_EQ(Unwrap(pool_->Info(tagged)).tag, 7u);
    EXPECT_EQ(Unwrap(pool_->Info(snap)).tag, 8u);
    EXPECT_EQ(Unwrap(pool_->Info(clone)).tag, 9u);
    EXPECT_EQ(Unwrap(pool_->Info(vol_)).tag, 0u);
  }
}

TEST_F(PoolTest, NodeLoadsCountMemoryHitsAndDiskReads) {
  // A cache that holds the whole index (the small test one would evict).
  opts_.node_cache_bytes = 64 << 20;
  pool_ = Unwrap(CrashAndReopen(env_, pool_, opts_, 1));
  ASSERT_TRUE(pool_);
  // 64 clusters 32 MiB apart: each in a leaf of its own.
  VolumeId big = Unwrap(pool_->CreateVolume(2ull << 30));
  std::string block(65536, 'n');
  for (uint64_t i = 0; i < 64; ++i) ASSERT_OK(pool_->Write(big, i << 25, block));
  std::string buf(65536, '\0');
  auto read_all = [&] {
    for (uint64_t i = 0; i < 64; ++i) ASSERT_OK(pool_->Read(big, i << 25, buf));
  };
  PoolStats before = Unwrap(pool_->Stats());
  read_all();
  PoolStats after = Unwrap(pool_->Stats());
  EXPECT_GE(after.node_cache_hits - before.node_cache_hits, 64u);  // the new (dirty) nodes are in memory
  EXPECT_EQ(after.node_cache_misses, before.node_cache_misses);
  // Committed and reopened with a cache of one node per shard: most of the
  // index is read from disk again.
  ASSERT_OK(pool_->Checkpoint());
  opts_.node_cache_bytes = 1;
  pool_ = Unwrap(CrashAndReopen(env_, pool_, opts_, 1));
  ASSERT_TRUE(pool_);
  before = Unwrap(pool_->Stats());
  read_all();
  after = Unwrap(pool_->Stats());
  EXPECT_GE(after.node_cache_misses - before.node_cache_misses, 64u - 16u);
  EXPECT_LE(after.node_cache_nodes, 16u);
}

TEST_F(PoolTest, SecondOpenOfALockedPoolIsRefused) {
  auto second = Pool::Open("/pool", opts_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(second.status().message(), "pool is in use by another process (lock held on /pool/pool.lock)");
}

TEST_F(PoolTest, OpeningSomethingThatIsNotAPoolSaysSo) {
  auto r = Pool::Open("/nothing", opts_);
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  ASSERT_OK(env_.CreateDir("/empty"));
  r = Pool::Open("/empty", opts_);
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(r.status().message(), "no VMStore pool in /empty (create one with `vmstore init --pool /empty`)");
  auto c = Pool::Create("/pool", opts_);
  EXPECT_EQ(c.status().code(), Code::kAlreadyExists);
}

TEST_F(PoolTest, PoolOfAnotherFormatVersionIsRefused) {
  ASSERT_OK(pool_->Close());
  pool_.reset();
  auto f = Unwrap(env_.OpenFile("/pool/superblock", false));
  char slot[internal::Superblock::kSlotSize];
  for (int i = 0; i < 2; ++i) {
    ASSERT_OK(f->ReadAt(i * sizeof slot, sizeof slot, slot));
    auto sb = Unwrap(internal::Superblock::Decode(slot));
    sb.format_version = 3;
    sb.EncodeTo(slot);
    ASSERT_OK(f->WriteAt(i * sizeof slot, slot, sizeof slot));
  }
  auto r = Pool::Open("/pool", opts_);
  EXPECT_EQ(r.status().code(), Code::kNotSupported);
  EXPECT_EQ(r.status().message(), "pool has format version 3; this vmstore reads versions 1 to 2");
}

TEST_F(PoolTest, BadGeometryIsRefused) {
  MemEnv env;
  PoolOptions o = SmallOptions(&env, 3000);
  auto r = Pool::Create("/p", o);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "cluster size 3000 must be a power of two from 4 KiB to 1 MiB");
  o.cluster_size = 2 << 20;
  EXPECT_EQ(Pool::Create("/p", o).status().code(), Code::kInvalidArgument);
}

TEST_F(PoolTest, CreateRefusesANonEmptyDirectory) {
  auto f = Unwrap(env_.OpenFile("/other/file", true));
  ASSERT_OK(env_.CreateDir("/other"));
  auto r = Pool::Create("/other", opts_);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "directory /other is not empty (found 'file')");
}

TEST_F(PoolTest, SnapshotSeesOldDataLiveVolumeSeesNew) {
  ASSERT_OK(pool_->Write(vol_, 100, std::string("before")));
  VolumeId s = Unwrap(pool_->Snapshot(vol_));
  ASSERT_OK(pool_->Write(vol_, 100, std::string("after!")));
  std::string a(6, '\0'), b(6, '\0');
  ASSERT_OK(pool_->Read(vol_, 100, a));
  ASSERT_OK(pool_->Read(s, 100, b));
  EXPECT_EQ(a, "after!");
  EXPECT_EQ(b, "before");
}

TEST_F(PoolTest, RollbackKeepsNewerSnapshots) {
  ASSERT_OK(pool_->Write(vol_, 0, std::string("one")));
  VolumeId s1 = Unwrap(pool_->Snapshot(vol_));
  ASSERT_OK(pool_->Write(vol_, 0, std::string("two")));
  VolumeId s2 = Unwrap(pool_->Snapshot(vol_));
  ASSERT_OK(pool_->Write(vol_, 0, std::string("three")));
  ASSERT_OK(pool_->Rollback(vol_, s1));
  std::string buf(3, '\0');
  ASSERT_OK(pool_->Read(vol_, 0, buf));
  EXPECT_EQ(buf, "one");
  ASSERT_OK(pool_->Read(s2, 0, buf));
  EXPECT_EQ(buf, "two") << "the newer snapshot survives the rollback";
  ASSERT_OK(pool_->Rollback(vol_, s2));
  ASSERT_OK(pool_->Read(vol_, 0, buf));
  EXPECT_EQ(buf, "two");
}

TEST_F(PoolTest, ClonesAreIndependent) {
  ASSERT_OK(pool_->Write(vol_, 0, std::string("base")));
  VolumeId s = Unwrap(pool_->Snapshot(vol_));
  VolumeId c = Unwrap(pool_->Clone(s));
  ASSERT_OK(pool_->Write(c, 0, std::string("CLON")));
  ASSERT_OK(pool_->Write(vol_, 0, std::string("VOLU")));
  std::string buf(4, '\0');
  ASSERT_OK(pool_->Read(c, 0, buf));
  EXPECT_EQ(buf, "CLON");
  ASSERT_OK(pool_->Read(s, 0, buf));
  EXPECT_EQ(buf, "base");
  EXPECT_EQ(Unwrap(pool_->Info(c)).parent, s);
  // Deleting the snapshot leaves the clone intact: blocks are reference counted.
  ASSERT_OK(pool_->DeleteVolume(s));
  ASSERT_OK(pool_->Read(c, 0, buf));
  EXPECT_EQ(buf, "CLON");
  ASSERT_OK(pool_->VerifyRefcounts());
}

TEST_F(PoolTest, SnapshotIsConstantTimeAndCopiesNothing) {
  std::string data(1 << 20, 'd');
  ASSERT_OK(pool_->Write(vol_, 0, data));
  ASSERT_OK(pool_->Checkpoint());
  PoolStats before = Unwrap(pool_->Stats());
  for (int i = 0; i < 100; ++i) ASSERT_OK(Unwrap(pool_->Snapshot(vol_)) ? Status::OK() : Internal("no id"));
  PoolStats after = Unwrap(pool_->Stats());
  EXPECT_EQ(after.live_bytes, before.live_bytes) << "snapshots share the whole tree";
  EXPECT_EQ(after.dirty_bytes, 0u);
}

TEST_F(PoolTest, SubClusterOverwriteOfPrivateClusterDoesNotCopyIt) {
  MemEnv env;
  PoolOptions o = SmallOptions(&env, 1 << 20);
  o.max_dirty_bytes = 64 << 20;
  auto pool = Unwrap(Pool::Create("/big", o));
  VolumeId v = Unwrap(pool->CreateVolume(4 << 20));
  ASSERT_OK(pool->Write(v, 0, std::string(1 << 20, 'x')));
  ASSERT_OK(pool->Checkpoint());
  ASSERT_OK(pool->Write(v, 5000, std::string(512, 'y')));
  PoolStats st = Unwrap(pool->Stats());
  // One 4 KiB unit patched (before and after images) plus the copied leaf node.
  EXPECT_EQ(st.dirty_bytes, 2 * 4096u + 4096u);
  // Shared after a snapshot: now the cluster must be copied.
  ASSERT_OK(pool->Checkpoint());
  ASSERT_OK(Unwrap(pool->Snapshot(v)) ? Status::OK() : Internal("snapshot"));
  ASSERT_OK(pool->Write(v, 9000, std::string(512, 'z')));
  st = Unwrap(pool->Stats());
  EXPECT_EQ(st.dirty_bytes, (1u << 20) + 4096u);
  std::string buf(16384, '\0');
  ASSERT_OK(pool->Read(v, 0, buf));
  EXPECT_EQ(buf.substr(5000, 512), std::string(512, 'y'));
  EXPECT_EQ(buf.substr(9000, 512), std::string(512, 'z'));
  EXPECT_EQ(buf[4999], 'x');
}

TEST_F(PoolTest, MapReportsDataZeroAndHoles) {
  ASSERT_OK(pool_->Write(vol_, 0, std::string(65536, 'a')));
  ASSERT_OK(pool_->WriteZeroes(vol_, 65536, 65536, /*may_punch=*/false));
  auto map = Unwrap(pool_->Map(vol_, 0, 1 << 20));
  ASSERT_EQ(map.size(), 3u);
  EXPECT_EQ(map[0].type, ExtentType::kData);
  EXPECT_EQ(map[0].length, 65536u);
  EXPECT_EQ(map[1].type, ExtentType::kZero);
  EXPECT_EQ(map[2].type, ExtentType::kHole);
  EXPECT_EQ(map[2].offset + map[2].length, 1u << 20);
  ASSERT_OK(pool_->Trim(vol_, 0, 131072));
  map = Unwrap(pool_->Map(vol_, 0, 1 << 20));
  ASSERT_EQ(map.size(), 1u);
  EXPECT_EQ(map[0].type, ExtentType::kHole);
}

TEST_F(PoolTest, ResizeGrowsReadsZeroAndShrinkDropsTail) {
  ASSERT_OK(pool_->Write(vol_, (1 << 20) - 10, std::string(10, 't')));
  ASSERT_OK(pool_->ResizeVolume(vol_, 1 << 30));
  EXPECT_EQ(Unwrap(pool_->Info(vol_)).height, 2u);
  std::string buf(20, '\0');
  ASSERT_OK(pool_->Read(vol_, (1 << 20) - 10, buf));
  EXPECT_EQ(buf, std::string(10, 't') + std::string(10, '\0'));
  ASSERT_OK(pool_->ResizeVolume(vol_, (1 << 20) - 512));
  EXPECT_EQ(Unwrap(pool_->Info(vol_)).height, 1u);
  ASSERT_OK(pool_->ResizeVolume(vol_, 1 << 20));
  ASSERT_OK(pool_->Read(vol_, (1 << 20) - 20, buf));
  EXPECT_EQ(buf, std::string(20, '\0')) << "bytes beyond a shrink read as zero after growing again";
  ASSERT_OK(pool_->VerifyRefcounts());
}

TEST_F(PoolTest, ConcurrentReadersSeeWholeWrites) {
  // Writers replace whole 4 KiB blocks; readers must never see a mix.
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      std::string buf(4096, '\0');
      std::mt19937_64 rng(t);
      while (!stop) {
        uint64_t b = rng() % 256;
        if (!pool_->Read(vol_, b * 4096, buf).ok())
          ++bad;
        else if (buf.find_first_not_of(buf[0]) != std::string::npos)
          ++bad;
      }
    });
  }
  std::mt19937_64 rng(99);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_OK(pool_->Write(vol_, (rng() % 256) * 4096, std::string(4096, static_cast<char>('a' + i % 26))));
    if (i % 250 == 0) ASSERT_OK(Unwrap(pool_->Snapshot(vol_)) ? Status::OK() : Internal("snap"));
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST_F(PoolTest, ConcurrentReadersOfOneVolumeWhileOthersChange) {
  // Readers of a stable volume run while another volume is written, snapshotted,
  // cloned, checkpointed and deleted; they never see anything but their data.
  std::string golden(1 << 20, '\0');
  for (size_t i = 0; i < golden.size(); ++i) golden[i] = static_cast<char>(i * 7 + i / 4096);
  ASSERT_OK(pool_->Write(vol_, 0, golden));
  VolumeId other = Unwrap(pool_->CreateVolume(1 << 20));
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937_64 rng(t + 100);
      std::string buf(8192, '\0');
      while (!stop) {
        uint64_t off = (rng() % 120) * 8192;
        Status s = pool_->Read(vol_, off, buf);
        if (!s.ok() || buf != golden.substr(off, buf.size())) ++bad;
        ++reads;
      }
    });
  }
  std::mt19937_64 rng(5);
  std::vector<VolumeId> snaps;
  for (int i = 0; i < 600; ++i) {
    ASSERT_OK(pool_->Write(other, (rng() % 240) * 4096 + rng() % 100, std::string(1000 + rng() % 9000, 'o')));
    if (i % 50 == 0) snaps.push_back(Unwrap(pool_->Snapshot(other)));
    if (i % 120 == 0) ASSERT_OK(pool_->Checkpoint());
    if (i % 200 == 199) {
      ASSERT_OK(pool_->DeleteVolume(snaps[0]));
      snaps.erase(snaps.begin());
    }
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(reads.load(), 0);
  ASSERT_OK(pool_->VerifyRefcounts());
}

TEST_F(PoolTest, ConcurrentReadersDuringBackgroundCheckpoints) {
  // Unit-sized writes into committed, private clusters make overlays; with
  // SmallOptions a checkpoint starts every few dozen writes and runs in the
  // background while the writer goes on (writes over frozen overlays and
  // frozen blocks) and readers read the same volume. Readers must only ever
  // see whole units; at the end the volume equals the model, before and after
  // a reopen.
  PoolOptions opts = opts_;
  opts.max_dirty_bytes = 128 << 10;  // a checkpoint every 16 new overlay units or so
  auto pool = Unwrap(Pool::Create("/bg", opts));
  ASSERT_TRUE(pool);
  const uint64_t kUnits = 256;  // 1 MiB
  const VolumeId vol = Unwrap(pool->CreateVolume(kUnits * 4096));
  std::string model(kUnits * 4096, '\0');
  for (uint64_t u = 0; u < kUnits; ++u) model.replace(u * 4096, 4096, 4096, static_cast<char>(1 + u % 200));
  ASSERT_OK(pool->Write(vol, 0, model));
  ASSERT_OK(pool->Checkpoint());
  const uint64_t gen0 = Unwrap(pool->Stats()).generation;
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937_64 rng(t + 7);
      std::string buf(3 * 4096, '\0');
      while (!stop) {
        uint64_t u = rng() % (kUnits - 2);
        Status s = pool->Read(vol, u * 4096, buf);
        bool whole = s.ok();
        for (int k = 0; k < 3 && whole; ++k) {
          whole = buf.find_first_not_of(buf[k * 4096], k * 4096) >= size_t(k + 1) * 4096;
        }
        if (!whole) ++bad;
        ++reads;
      }
    });
  }
  std::mt19937_64 rng(17);
  for (int i = 0; i < 3000; ++i) {
    uint64_t u = rng() % kUnits;
    char c = static_cast<char>(1 + rng() % 250);
    ASSERT_OK(pool->Write(vol, u * 4096, std::string(4096, c)));
    model.replace(u * 4096, 4096, 4096, c);
    if (i % 97 == 0) ASSERT_OK(pool->Flush());
    if (i % 700 == 0) {
      ASSERT_TRUE(Unwrap(pool->Snapshot(vol)));
    }
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(reads.load(), 0);
  std::string got(model.size(), '\0');
  ASSERT_OK(pool->Read(vol, 0, got));
  EXPECT_TRUE(got == model) << "the volume differs from the model";
  ASSERT_OK(pool->VerifyRefcounts());
  EXPECT_GE(Unwrap(pool->Stats()).generation - gen0, 50u) << "checkpoints ran during the writes";
  ASSERT_OK(pool->Close());
  pool = Unwrap(Pool::Open("/bg", opts));
  ASSERT_TRUE(pool);
  std::string again(model.size(), '\0');
  ASSERT_OK(pool->Read(vol, 0, again));
  EXPECT_TRUE(again == model) << "the reopened volume differs from the model";
}

}  // namespace
}  // namespace vmstore::testing
