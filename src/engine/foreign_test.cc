// Volumes adopted across pools of a shared container space (the cluster's
// clones across SRs): a pool reads another pool's snapshot blocks in place,
// never changes or frees them, and copies what it writes into its own.
#include <gtest/gtest.h>

#include <random>

#include "engine/test_util.h"

namespace vmstore {
namespace {

using testing::Oracle;

constexpr uint64_t kSpan = 64;  // containers per pool in the shared space

// One pool's view of a shared MemBlockStore: its container c is
// base + c there; other pools' blocks are read as they are and never changed
// (a change of one fails the test's pool with Internal).
class SharedSpaceView final : public BlockStore {
 public:
  SharedSpaceView(MemBlockStore* shared, uint64_t pool_index) : s_(shared), base_(pool_index * kSpan) {}

  Status Attach(const ContainerGeometry& g) override {
    ContainerGeometry space = g;
    space.pool_uuid.fill(7);  // the space's, as a cluster's uuid is every pool's
    return s_->Attach(space);
  }
  StatusOr<std::vector<uint64_t>> List() override {
    ASSIGN_OR_RETURN(auto all, s_->List());
    std::vector<uint64_t> own;
    for (uint64_t c : all) {
      if (c >= base_ && c < base_ + kSpan) own.push_back(c - base_);
    }
    return own;
  }
  Status ReadUnits(uint64_t a, uint32_t n, char* dst) override { return s_->ReadUnits(G(a), n, dst); }
  Status ReadSums(uint64_t a, uint32_t n, uint64_t* dst) override { return s_->ReadSums(G(a), n, dst); }
  Status WriteBlocks(std::vector<UnitWrite> writes) override {
    for (UnitWrite& w : writes) {
      RETURN_IF_ERROR(Own(ContainerOfAddress(w.addr)));
      w.addr = G(w.addr);
    }
    return s_->WriteBlocks(std::move(writes));
  }
  Status SyncTouched() override { return s_->SyncTouched(); }
  Status Punch(uint64_t a, uint32_t n) override {
    RETURN_IF_ERROR(Own(ContainerOfAddress(a)));
    return s_->Punch(G(a), n);
  }
  Status PunchSums(uint64_t c, uint64_t page) override {
    RETURN_IF_ERROR(Own(c));
    return s_->PunchSums(base_ + c, page);
  }
  Status DeleteContainer(uint64_t c) override {
    RETURN_IF_ERROR(Own(c));
    return s_->DeleteContainer(base_ + c);
  }
  Status TruncateAt(uint64_t c, uint64_t i) override {
    RETURN_IF_ERROR(Own(c));
    return s_->TruncateAt(base_ + c, i);
  }
  StatusOr<uint64_t> AllocatedBytes() override { return s_->AllocatedBytes(); }
  StatusOr<std::vector<std::pair<uint64_t, uint64_t>>> AllocatedUnits(uint64_t c) override {
    return s_->AllocatedUnits(base_ + c);
  }
  Status CheckHeader(uint64_t c) override { return s_->CheckHeader(base_ + c); }

  uint64_t Shared(uint64_t addr) const { return G(addr); }

 private:
  uint64_t G(uint64_t a) const { return SharedAddress(a, base_, kSpan); }
  Status Own(uint64_t c) const {
    if (c < kSpan) return Status::OK();
    return Internal("pool changed container " + std::to_string(c) + ", another pool's");
  }
  MemBlockStore* s_;
  uint64_t base_;
};

// A pool of the shared space, in its own MemEnv.
struct SpacePool {
  SpacePool(MemBlockStore* shared, uint64_t index) : view(shared, index) {
    opts = testing::SmallOptions(&env, 4096 * 4);
    opts.block_store = &view;
    opts.container_span = kSpan;
  }
  MemEnv env;
  SharedSpaceView view;
  PoolOptions opts;
  std::unique_ptr<Pool> pool;
  Oracle oracle;
};

// Snapshot `snap` of `from` as `to` can adopt it: committed, then read beside
// the pool through a fresh view (as another gateway would), in shared numbering.
StatusOr<VolumeRoot> ShareSnapshot(SpacePool& from, VolumeId snap, MemBlockStore* shared, uint64_t from_index) {
  RETURN_IF_ERROR(from.pool->Checkpoint());
  SharedSpaceView reader(shared, from_index);
  PoolOptions ro = from.opts;
  ro.block_store = &reader;
  ASSIGN_OR_RETURN(VolumeRoot root, ReadCommittedRoot("/pool", ro, snap));
  root.addr = reader.Shared(root.addr);
  return root;
}

std::string ReadAll(Pool& p, VolumeId id, uint64_t size) {
  std::string got(size, '\0');
  Status s = p.Read(id, 0, got);
  return s.ok() ? got : "error: " + s.ToString();
}

TEST(ForeignTest, AdoptedVolumesMatchAnOracleThroughWritesReopensAndDeletes) {
  for (uint64_t seed : {20261207u, 7u, 99u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    MemBlockStore shared;
    SpacePool a(&shared, 1), b(&shared, 2), c(&shared, 3);
    const uint64_t size = 48 * 16384 + 4096;  // not a whole number of clusters
    ASSERT_OK_AND_ASSIGN(a.pool, Pool::Create("/pool", a.opts));
    ASSERT_OK_AND_ASSIGN(b.pool, Pool::Create("/pool", b.opts));
    ASSERT_OK_AND_ASSIGN(c.pool, Pool::Create("/pool", c.opts));
    ASSERT_OK_AND_ASSIGN(VolumeId gold, a.pool->CreateVolume(size));
    a.oracle[gold].data.assign(size, '\0');
    auto write = [&](SpacePool& p, VolumeId v) {
      const uint64_t off = rng() % size, len = std::min<uint64_t>(size - off, 1 + rng() % 40000);
      std::string buf(len, '\0');
      testing::FillPattern(rng, &buf);
      ASSERT_OK(p.pool->Write(v, off, buf));
      p.oracle[v].data.replace(off, len, buf);
    };
    for (int i = 0; i < 30; ++i) write(a, gold);
    ASSERT_OK_AND_ASSIGN(VolumeId snap, a.pool->Snapshot(gold));
    a.oracle[snap] = testing::OracleVolume{a.oracle[gold].data, true};

    // Not committed yet: the reader beside the pool does not see it.
    {
      SharedSpaceView reader(&shared, 1);
      PoolOptions ro = a.opts;
      ro.block_store = &reader;
      EXPECT_EQ(ReadCommittedRoot("/pool", ro, snap).status().code(), Code::kNotFound);
    }
    ASSERT_OK_AND_ASSIGN(VolumeRoot root, ShareSnapshot(a, snap, &shared, 1));
    ASSERT_OK_AND_ASSIGN(VolumeId bv, b.pool->AdoptVolume(root, 5));
    b.oracle[bv] = testing::OracleVolume{a.oracle[snap].data, false};
    EXPECT_EQ(ReadAll(*b.pool, bv, size), a.oracle[snap].data);
    EXPECT_EQ(b.pool->Info(bv)->tag, 5u);
    {
      ASSERT_OK_AND_ASSIGN(PoolStats adopted, b.pool->Stats());
      EXPECT_EQ(adopted.data_bytes, 0u);  // nothing copied: B reads A's blocks in place
    }

    // B's volume, B's snapshots of it and C's clone of one of them; the
    // gold disk keeps changing in A meanwhile.
    VolumeId b_snap = 0, cv = 0;
    for (int round = 0; round < 120; ++round) {
      const int op = static_cast<int>(rng() % 10);
      if (op < 4) {
        write(b, bv);
      } else if (op < 6) {
        write(a, gold);
      } else if (op == 6) {
        const uint64_t off = (rng() % size) & ~uint64_t{4095}, len = std::min<uint64_t>(size - off, 4096 * (1 + rng() % 8));
        ASSERT_OK(b.pool->Trim(bv, off, len));
        b.oracle[bv].data.replace(off, len, std::string(len, '\0'));
      } else if (op == 7 && !b_snap) {
        ASSERT_OK_AND_ASSIGN(b_snap, b.pool->Snapshot(bv));
        b.oracle[b_snap] = testing::OracleVolume{b.oracle[bv].data, true};
        ASSERT_OK_AND_ASSIGN(VolumeRoot r2, ShareSnapshot(b, b_snap, &shared, 2));
        ASSERT_OK_AND_ASSIGN(cv, c.pool->AdoptVolume(r2, 0));
        c.oracle[cv] = testing::OracleVolume{b.oracle[b_snap].data, false};
      } else if (op == 8 && cv) {
        write(c, cv);
      } else if (op == 9) {
        // B forgets everything but what its superblock and log say.
        ASSERT_OK(b.pool->Close());
        ASSERT_OK_AND_ASSIGN(b.pool, Pool::Open("/pool", b.opts));
      } else {
        ASSERT_OK(b.pool->Checkpoint());
      }
      ASSERT_OK(b.pool->VerifyRefcounts());
    }
    for (SpacePool* p : {&a, &b, &c}) {
      EXPECT_EQ(testing::CompareAll(*p->pool, p->oracle), "");
      ASSERT_OK(p->pool->VerifyRefcounts());
      CheckReport report;
      ASSERT_OK(p->pool->Check(true, &report));
      EXPECT_TRUE(report.clean()) << report.errors[0];
    }
    // A pool's space counts only its own blocks: deleting the adopted
    // volumes frees B's and C's copies and leaves A's snapshot whole.
    if (cv) {
      ASSERT_OK(c.pool->DeleteVolume(cv));
      c.oracle.erase(cv);
    }
    if (b_snap) {
      ASSERT_OK(b.pool->DeleteVolume(b_snap));
      b.oracle.erase(b_snap);
    }
    ASSERT_OK(b.pool->DeleteVolume(bv));
    b.oracle.erase(bv);
    ASSERT_OK(b.pool->Checkpoint());
    ASSERT_OK_AND_ASSIGN(PoolStats bstats, b.pool->Stats());
    EXPECT_EQ(bstats.data_bytes, 0u);
    EXPECT_EQ(bstats.live_bytes, 4096u);  // the (empty) volume table alone
    ASSERT_OK(a.pool->Close());
    ASSERT_OK_AND_ASSIGN(a.pool, Pool::Open("/pool", a.opts));
    EXPECT_EQ(testing::CompareAll(*a.pool, a.oracle), "");
    CheckReport report;
    ASSERT_OK(a.pool->Check(true, &report));
    EXPECT_TRUE(report.clean()) << report.errors[0];
  }
}

TEST(ForeignTest, BadAdoptionsAreRefused) {
  MemBlockStore shared;
  SpacePool a(&shared, 1), b(&shared, 2);
  ASSERT_OK_AND_ASSIGN(a.pool, Pool::Create("/pool", a.opts));
  ASSERT_OK_AND_ASSIGN(b.pool, Pool::Create("/pool", b.opts));
  ASSERT_OK_AND_ASSIGN(VolumeId v, a.pool->CreateVolume(1 << 20));
  ASSERT_OK(a.pool->Write(v, 0, std::string(70000, 'x')));
  ASSERT_OK_AND_ASSIGN(VolumeId s, a.pool->Snapshot(v));
  ASSERT_OK(a.pool->Checkpoint());
  SharedSpaceView reader(&shared, 1);
  PoolOptions ro = a.opts;
  ro.block_store = &reader;
  EXPECT_EQ(ReadCommittedRoot("/pool", ro, v).status().code(), Code::kFailedPrecondition);  // writable
  EXPECT_EQ(ReadCommittedRoot("/pool", ro, 99).status().code(), Code::kNotFound);
  ASSERT_OK_AND_ASSIGN(VolumeRoot local, ReadCommittedRoot("/pool", ro, s));
  // In the pool's own numbering it is an address of B's own containers.
  EXPECT_EQ(b.pool->AdoptVolume(local, 0).status().code(), Code::kInvalidArgument);
  VolumeRoot root = local;
  root.addr = reader.Shared(local.addr);
  VolumeRoot bad = root;
  bad.height = root.height + 1;
  EXPECT_EQ(b.pool->AdoptVolume(bad, 0).status().code(), Code::kInvalidArgument);
  bad = root;
  bad.cluster_size = 65536;
  EXPECT_EQ(b.pool->AdoptVolume(bad, 0).status().code(), Code::kInvalidArgument);
  // A pool outside any shared space adopts nothing.
  MemEnv env;
  MemBlockStore alone;
  PoolOptions o = testing::SmallOptions(&env, 4096 * 4);
  o.block_store = &alone;
  ASSERT_OK_AND_ASSIGN(auto solo, Pool::Create("/pool", o));
  EXPECT_EQ(solo->AdoptVolume(root, 0).status().code(), Code::kInvalidArgument);
  // The adoption survives a crash of B (it is in B's log, synced).
  ASSERT_OK_AND_ASSIGN(VolumeId bv, b.pool->AdoptVolume(root, 0));
  ASSERT_OK_AND_ASSIGN(b.pool, testing::CrashAndReopen(b.env, b.pool, b.opts, 3));
  EXPECT_EQ(ReadAll(*b.pool, bv, 1 << 20).substr(0, 70001), std::string(70000, 'x') + '\0');
}

}  // namespace
}  // namespace vmstore
