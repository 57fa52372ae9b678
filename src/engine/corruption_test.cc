// Corruption suite: bit flips in data blocks, unit checksums, index nodes, the
// volume table and the superblock give I/O errors naming the block or a clear
// refusal to open - never wrong bytes - and fsck reports each.
#include <gtest/gtest.h>

#include "engine/format.h"
#include "engine/pool_impl.h"
#include "engine/test_util.h"
#include "util/coding.h"

namespace vmstore::internal {
// Damage a checksum cannot see: a pointer the engine itself wrote wrong (a
// bug), signed by the next checkpoint like any other.
class PoolImplTestPeer {
 public:
  // Points cluster `cluster` of volume `id` at `addr`.
  static Status PointClusterAt(Pool* pool, VolumeId id, uint64_t cluster, uint64_t addr) {
    auto* p = static_cast<PoolImpl*>(pool);
    MutexLock w(&p->writer_mu_);
    auto it = p->vols_.find(id);
    if (it == p->vols_.end()) return NotFound("no volume " + std::to_string(id));
    ASSIGN_OR_RETURN(auto leaf, p->LeafForWrite(&it->second->rec, cluster));
    leaf.first->e[leaf.second] = BlockPtr{addr, 0};
    p->vtable_dirty_ = true;
    return Status::OK();
  }
  // Points the root of volume `id` at `addr`.
  static Status PointRootAt(Pool* pool, VolumeId id, uint64_t addr) {
    auto* p = static_cast<PoolImpl*>(pool);
    MutexLock w(&p->writer_mu_);
    auto it = p->vols_.find(id);
    if (it == p->vols_.end()) return NotFound("no volume " + std::to_string(id));
    it->second->rec.root = BlockPtr{addr, 0};
    p->vtable_dirty_ = true;
    return Status::OK();
  }
};
}  // namespace vmstore::internal

namespace vmstore::testing {
namespace {

using internal::DataOffset;
using internal::GetU32;
using internal::GetU64;
using internal::kWalHeader;
using internal::kWalTrailer;
using internal::SumOffset;

constexpr uint32_t kCluster = 65536;
const char* kContainer = "/pool/containers/000000001.ctr";

class CorruptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    opts_ = SmallOptions(&env_, kCluster);
    opts_.container_size = 16 << 20;
    auto pool = Unwrap(Pool::Create("/pool", opts_));
    ASSERT_TRUE(pool);
    vol_ = Unwrap(pool->CreateVolume(8 * kCluster));
    data_.resize(4 * kCluster);
    for (size_t i = 0; i < data_.size(); ++i) data_[i] = static_cast<char>('a' + (i / 4096) % 26);
    ASSERT_OK(pool->Write(vol_, 0, data_));
    ASSERT_OK(pool->Close());
    units_ = static_cast<uint32_t>(opts_.container_size / 4096);
  }

  // Byte offset in the container of the unit holding `needle` at its start.
  uint64_t FindUnit(const std::string& needle) {
    auto f = Unwrap(env_.OpenFile(kContainer, false));
    uint64_t size = Unwrap(f->Size());
    std::string unit(4096, '\0');
    for (uint64_t off = DataOffset(units_, 0); off < size; off += 4096) {
      EXPECT_OK(f->ReadAt(off, 4096, unit.data()));
      if (unit.compare(0, needle.size(), needle) == 0) return off;
    }
    ADD_FAILURE() << "unit not found";
    return 0;
  }
  // Byte offset of the only index node: a unit that is neither data, nor zero,
  // nor the volume table.
  uint64_t FindNode() {
    auto f = Unwrap(env_.OpenFile(kContainer, false));
    uint64_t size = Unwrap(f->Size());
    std::string unit(4096, '\0');
    for (uint64_t off = DataOffset(units_, 0); off < size; off += 4096) {
      EXPECT_OK(f->ReadAt(off, 4096, unit.data()));
      bool letters = unit[0] >= 'a' && unit[0] <= 'z' && unit[1] == unit[0];
      if (!letters && unit.compare(0, 4, "VTB1") != 0 &&
          !std::all_of(unit.begin(), unit.end(), [](char c) { return c == 0; })) {
        return off;
      }
    }
    ADD_FAILURE() << "node not found";
    return 0;
  }
  std::vector<std::string> Fsck() {
    auto pool = Pool::Open("/pool", opts_);
    if (!pool.ok()) return {pool.status().ToString()};
    CheckReport r;
    EXPECT_OK((*pool)->Check(true, &r));
    return r.errors;
  }

  MemEnv env_;
  PoolOptions opts_;
  VolumeId vol_ = 0;
  std::string data_;
  uint32_t units_ = 0;
};

TEST_F(CorruptionTest, FlippedDataBitIsAnIOErrorNamingTheBlock) {
  uint64_t off = FindUnit(std::string(16, 'b'));  // unit 1 of the first cluster
  ASSERT_OK(env_.FlipBit(kContainer, off + 100, 3));
  auto pool = Unwrap(Pool::Open("/pool", opts_));
  ASSERT_TRUE(pool);
  std::string buf(4096, '\0');
  Status s = pool->Read(vol_, 4096, buf);
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find("data block 0x"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("unit 1"), std::string::npos) << s.message();
  // Other units of the same cluster still verify and read.
  ASSERT_OK(pool->Read(vol_, 8192, buf));
  EXPECT_EQ(buf, data_.substr(8192, 4096));
  // A whole-cluster read fails too; a partial overwrite of the damaged unit repairs nothing silently.
  std::string big(kCluster, '\0');
  EXPECT_EQ(pool->Read(vol_, 0, big).code(), Code::kCorruption);
  pool.reset();
  auto errors = Fsck();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("checksum mismatch"), std::string::npos) << errors[0];
}

TEST_F(CorruptionTest, FlippedUnitChecksumIsDetected) {
  uint64_t off = FindUnit(std::string(16, 'c'));  // unit 2 of cluster 0
  uint64_t index = (off - DataOffset(units_, 0)) / 4096;
  ASSERT_OK(env_.FlipBit(kContainer, SumOffset(index) + 2, 0));
  auto pool = Unwrap(Pool::Open("/pool", opts_));
  ASSERT_TRUE(pool);
  std::string buf(4096, '\0');
  Status s = pool->Read(vol_, 2 * 4096, buf);
  EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find("unit checksums damaged"), std::string::npos) << s.message();
  // Regression (issue 24, item 5): fsck and scrub said "clean" - a whole
  // block's read checks the block's checksum, not its units' sums.
  pool.reset();
  auto errors = Fsck();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("unit 2 of the block at"), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("unit checksum area is damaged"), std::string::npos) << errors[0];
  auto again = Unwrap(Pool::Open("/pool", opts_));
  CheckReport scrub;
  ASSERT_OK(again->Check(false, &scrub));
  ASSERT_EQ(scrub.errors.size(), 1u);
  EXPECT_NE(scrub.errors[0].find("unit checksum area is damaged"), std::string::npos) << scrub.errors[0];
}

// Regression (issue 24, item 5): scrub (not fsck) missed a damaged container
// header.
TEST_F(CorruptionTest, ScrubFindsADamagedContainerHeader) {
  ASSERT_OK(env_.FlipBit(kContainer, 20, 1));
  auto pool = Unwrap(Pool::Open("/pool", opts_));
  CheckReport scrub;
  ASSERT_OK(pool->Check(false, &scrub));
  ASSERT_FALSE(scrub.errors.empty());
  EXPECT_NE(scrub.errors[0].find(".ctr"), std::string::npos) << scrub.errors[0];
}

// Regression (issue 24, item 4): 1,024 blocks in 64 flushed records, the
// process killed, one byte flipped in record 2 - replay stopped at it and
// the 1,008 flushed blocks after it read their older contents, silently.
// A bad record followed by records that say it was durable is damage.
TEST_F(CorruptionTest, DamageMidLogRefusesTheOpenAndTheLossCanBeAccepted) {
  PoolOptions o = opts_;
  o.max_dirty_bytes = 1 << 30;  // everything stays in the log
  o.max_wal_bytes = 1 << 30;
  std::string want = data_;
  {
    auto pool = Unwrap(Pool::Open("/pool", o));
    for (int r = 0; r < 64; ++r) {
      const std::string blocks(16 * 4096, static_cast<char>('A' + r % 26));
      const uint64_t at = (static_cast<uint64_t>(r) * 16 * 4096) % (8 * kCluster - blocks.size());
      ASSERT_OK(pool->Write(vol_, at, blocks));
      want.resize(std::max<size_t>(want.size(), at + blocks.size()), '\0');
      want.replace(at, blocks.size(), blocks);
      ASSERT_OK(pool->Flush());
    }
    env_.SimulateCrash(7);  // killed: nothing unsynced survives, nothing checkpointed
    env_.SetDead(true);
    pool.reset();
    env_.SetDead(false);
  }
  // Record 2 of the log: find the third record header and flip a payload byte.
  auto wal = Unwrap(env_.OpenFile("/pool/wal", false));
  const uint64_t size = Unwrap(wal->Size());
  std::string log(size, '\0');
  ASSERT_OK(wal->ReadAt(0, size, log.data()));
  uint64_t pos = 0;
  for (int r = 0; r < 2; ++r) pos += kWalHeader + GetU32(log.data() + pos + 24) + kWalTrailer;
  ASSERT_EQ(GetU64(log.data() + pos + 16), 2u) << "not record 2";
  ASSERT_OK(env_.FlipBit("/pool/wal", pos + kWalHeader + 100, 4));
  auto refused = Pool::Open("/pool", o);
  ASSERT_FALSE(refused.ok()) << "damage mid-log taken for a torn tail";
  EXPECT_EQ(refused.status().code(), Code::kCorruption);
  EXPECT_NE(refused.status().message().find("write-ahead log is damaged at byte " + std::to_string(pos)),
            std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("vmstore fsck --accept-log-loss"), std::string::npos);
  // Refused again (nothing was cut), then opened by accepting the loss.
  EXPECT_FALSE(Pool::Open("/pool", o).ok());
  o.accept_log_loss = true;
  auto accepted = Unwrap(Pool::Open("/pool", o));
  CheckReport r;
  ASSERT_OK(accepted->Check(true, &r));
  ASSERT_FALSE(r.errors.empty());
  EXPECT_NE(r.errors[0].find("accepted the loss"), std::string::npos) << r.errors[0];
  ASSERT_OK(accepted->Close());
  o.accept_log_loss = false;
  auto after = Unwrap(Pool::Open("/pool", o));
  CheckReport clean;
  ASSERT_OK(after->Check(true, &clean));
  EXPECT_TRUE(clean.errors.empty()) << clean.errors[0];
}

// Regression (issue 24, item 6): one damaged index node refused the whole
// pool's open, so every disk of the storage repository was unavailable.
TEST_F(CorruptionTest, ADamagedIndexNodeFailsItsVolumesOnlyAndTheOthersAreServed) {
  VolumeId other = 0, snap = 0;
  const std::string other_data(3 * kCluster, 'z');
  const uint64_t node = FindNode();  // vol_'s root, the only node so far (it stays where it is)
  {
    auto pool = Unwrap(Pool::Open("/pool", opts_));
    other = Unwrap(pool->CreateVolume(8 * kCluster));
    ASSERT_OK(pool->Write(other, kCluster, other_data));
    snap = Unwrap(pool->SnapshotMany(std::vector<VolumeId>{vol_}, 0))[0];  // shares vol_'s root node
    ASSERT_OK(pool->Close());
  }
  ASSERT_OK(env_.FlipBit(kContainer, node + 17, 5));

  auto pool = Unwrap(Pool::Open("/pool", opts_));
  ASSERT_TRUE(pool) << "one damaged node took the whole pool down";
  std::string buf(data_.size(), '\0');
  for (VolumeId v : {vol_, snap}) {  // the volume and its snapshot sharing the node
    Status s = pool->Read(v, 0, buf);
    EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
    EXPECT_NE(s.message().find("volume " + std::to_string(v) + " is damaged"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("index node 0x"), std::string::npos) << s.message();
    EXPECT_FALSE(Unwrap(pool->Info(v)).damaged.empty());
  }
  EXPECT_EQ(pool->Write(vol_, 0, std::string(4096, 'w')).code(), Code::kCorruption);
  EXPECT_EQ(pool->Clone(snap, 0).status().code(), Code::kCorruption);
  EXPECT_EQ(pool->SnapshotMany(std::vector<VolumeId>{vol_}, 0).status().code(), Code::kCorruption);
  // The other volume is served, reads and writes.
  EXPECT_TRUE(Unwrap(pool->Info(other)).damaged.empty());
  std::string got(other_data.size(), '\0');
  ASSERT_OK(pool->Read(other, kCluster, got));
  EXPECT_EQ(got, other_data);
  ASSERT_OK(pool->Write(other, 0, std::string(kCluster, 'n')));
  ASSERT_OK(pool->VerifyRefcounts());
  // fsck names both damaged volumes.
  CheckReport r;
  ASSERT_OK(pool->Check(true, &r));
  for (VolumeId v : {vol_, snap}) {
    bool named = false;
    for (const auto& e : r.errors) named |= e.find("volume " + std::to_string(v) + ":") != std::string::npos;
    EXPECT_TRUE(named) << "fsck does not name volume " << v;
  }
  // Deleting them leaves a clean pool: the node's children were never counted.
  ASSERT_OK(pool->DeleteVolume(snap));
  ASSERT_OK(pool->DeleteVolume(vol_));
  ASSERT_OK(pool->VerifyRefcounts());
  ASSERT_OK(pool->Close());
  pool.reset();
  EXPECT_TRUE(Fsck().empty()) << Fsck()[0];
  auto again = Unwrap(Pool::Open("/pool", opts_));
  ASSERT_OK(again->Read(other, kCluster, got));
  EXPECT_EQ(got, other_data);
}

// Regression: an index node with a good checksum pointing outside the pool
// failed its volume at open, but deleting the volume then failed with
// "reference count underflow" (the pointer was never counted, and the delete
// dropped it); a root outside the pool did the same.
TEST_F(CorruptionTest, ANodeOrRootPointingOutsideThePoolFailsItsVolumeWhichCanBeDeleted) {
  const uint64_t outside = internal::MakeAddr(1, units_ - 1);  // a cluster's 16 units pass the container's end
  for (bool root : {false, true}) {
    SCOPED_TRACE(root ? "the root" : "a data pointer of a node");
    VolumeId bad = 0, other = 0;
    const std::string other_data(kCluster, 'o');
    {
      auto pool = Unwrap(Pool::Open("/pool", opts_));
      bad = Unwrap(pool->CreateVolume(8 * kCluster));
      ASSERT_OK(pool->Write(bad, 0, std::string(3 * kCluster, 'b')));
      other = Unwrap(pool->CreateVolume(8 * kCluster));
      ASSERT_OK(pool->Write(other, kCluster, other_data));
      ASSERT_OK(pool->Close());
    }
    {
      auto pool = Unwrap(Pool::Open("/pool", opts_));
      ASSERT_OK(root ? internal::PoolImplTestPeer::PointRootAt(pool.get(), bad, outside)
                     : internal::PoolImplTestPeer::PointClusterAt(pool.get(), bad, 1, outside));
      ASSERT_OK(pool->Close());
    }
    auto pool = Unwrap(Pool::Open("/pool", opts_));
    std::string buf(kCluster, '\0');
    Status s = pool->Read(bad, 0, buf);
    EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
    EXPECT_NE(s.message().find("outside the pool"), std::string::npos) << s.message();
    EXPECT_FALSE(Unwrap(pool->Info(bad)).damaged.empty());
    ASSERT_OK(pool->Read(other, kCluster, buf));
    EXPECT_EQ(buf, other_data);
    ASSERT_OK(pool->VerifyRefcounts());
    ASSERT_OK(pool->DeleteVolume(bad));
    ASSERT_OK(pool->VerifyRefcounts());
    ASSERT_OK(pool->DeleteVolume(other));
    ASSERT_OK(pool->Close());
    pool.reset();
    const auto errors = Fsck();
    EXPECT_TRUE(errors.empty()) << errors[0];
  }
}

TEST_F(CorruptionTest, FlippedVolumeTableRefusesToOpen) {
  ASSERT_OK(env_.FlipBit(kContainer, FindUnit("VTB1") + 30, 1));
  auto pool = Pool::Open("/pool", opts_);
  ASSERT_FALSE(pool.ok());
  EXPECT_EQ(pool.status().code(), Code::kCorruption);
  EXPECT_NE(pool.status().message().find("volume table"), std::string::npos) << pool.status().message();
}

TEST_F(CorruptionTest, OneDamagedSuperblockCopyIsSurvivedAndReported) {
  ASSERT_OK(env_.FlipBit("/pool/superblock", 45, 2));
  auto pool = Unwrap(Pool::Open("/pool", opts_));
  ASSERT_TRUE(pool);
  std::string buf(data_.size(), '\0');
  ASSERT_OK(pool->Read(vol_, 0, buf));
  EXPECT_EQ(buf, data_);
  pool.reset();
  auto errors = Fsck();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("superblock copy 0"), std::string::npos) << errors[0];
}

TEST_F(CorruptionTest, BothSuperblockCopiesDamagedRefusesToOpen) {
  ASSERT_OK(env_.FlipBit("/pool/superblock", 45, 2));
  ASSERT_OK(env_.FlipBit("/pool/superblock", 4096 + 45, 2));
  auto pool = Pool::Open("/pool", opts_);
  ASSERT_FALSE(pool.ok());
  EXPECT_EQ(pool.status().code(), Code::kCorruption);
  EXPECT_NE(pool.status().message().find("both copies are damaged"), std::string::npos) << pool.status().message();
}

TEST_F(CorruptionTest, DamagedContainerHeaderIsReportedByFsck) {
  ASSERT_OK(env_.FlipBit(kContainer, 3, 0));
  auto errors = Fsck();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("container header"), std::string::npos) << errors[0];
}

TEST_F(CorruptionTest, RandomBitFlipsNeverReturnWrongBytes) {
  // Flip random bits anywhere in the container; every read either fails or
  // returns the original bytes.
  std::mt19937_64 rng(42);
  uint64_t size = Unwrap(env_.FileSize(kContainer));
  for (int round = 0; round < 200; ++round) {
    SCOPED_TRACE("seed=42 round=" + std::to_string(round));
    uint64_t off = rng() % size;
    int bit = static_cast<int>(rng() % 8);
    ASSERT_OK(env_.FlipBit(kContainer, off, bit));
    auto pool = Pool::Open("/pool", opts_);
    if (pool.ok()) {
      for (uint64_t o = 0; o < data_.size(); o += 4096) {
        std::string buf(4096, '\0');
        Status s = (*pool)->Read(vol_, o, buf);
        if (s.ok())
          ASSERT_EQ(buf, data_.substr(o, 4096)) << "wrong bytes at " << o;
        else
          ASSERT_EQ(s.code(), Code::kCorruption) << s.ToString();
      }
    } else {
      ASSERT_EQ(pool.status().code(), Code::kCorruption) << pool.status().ToString();
    }
    pool = StatusOr<std::unique_ptr<Pool>>(Internal("closed"));
    ASSERT_OK(env_.FlipBit(kContainer, off, bit));  // undo
  }
}

}  // namespace
}  // namespace vmstore::testing
