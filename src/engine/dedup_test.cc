// Deduplication: identical clusters stored once across volumes, snapshots and
// clones; exact reference counts through overwrite, trim, delete and rollback;
// the sparse index across reopen; verify mode; damage to the index or to a
// shared block. (The random model and crash suites run with dedup on too.)
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "engine/dedup_file.h"
#include "engine/fingerprint.h"
#include "engine/format.h"
#include "engine/hook_table.h"
#include "engine/test_util.h"

namespace vmstore::testing {
namespace {

using internal::FingerprintKey;
using internal::Sha256;

constexpr uint64_t kC = 4096;

// `n` clusters of distinct random content.
std::string Unique(uint64_t n, uint64_t seed, uint64_t cluster = kC) {
  std::mt19937_64 rng(seed);
  std::string s(n * cluster, '\0');
  for (size_t i = 0; i < s.size(); i += 8) {
    uint64_t v = rng();
    std::memcpy(&s[i], &v, 8);
  }
  return s;
}

// Distinct non-zero cluster contents over every volume of the oracle: what a
// perfect deduplication stores.
uint64_t DistinctClusters(const Oracle& o, uint64_t cluster) {
  std::set<std::string> seen;
  for (auto& [id, v] : o) {
    for (uint64_t off = 0; off < v.data.size(); off += cluster) {
      std::string c = v.data.substr(off, cluster);
      c.resize(cluster, '\0');
      if (!std::all_of(c.begin(), c.end(), [](char x) { return x == 0; })) seen.insert(std::move(c));
    }
  }
  return seen.size();
}

class DedupTest : public ::testing::TestWithParam<DedupMode> {
 protected:
  PoolOptions Options(uint32_t cluster = kC) {
    PoolOptions o = SmallOptions(&env_, cluster);
    o.dedup = GetParam();
    o.max_dirty_bytes = 8 << 20;
    return o;
  }
  void Reopen(const PoolOptions& o) {
    ASSERT_OK(pool_->Close());
    pool_.reset();
    pool_ = Unwrap(Pool::Open("/pool", o));
    ASSERT_TRUE(pool_);
  }
  PoolStats Stats() {
    EXPECT_OK(pool_->Checkpoint());
    return Unwrap(pool_->Stats());
  }
  void ExpectConsistent(const Oracle& o) {
    EXPECT_EQ(CompareAll(*pool_, o), "");
    EXPECT_OK(pool_->VerifyRefcounts());
    CheckReport r;
    ASSERT_OK(pool_->Check(true, &r));
    EXPECT_TRUE(r.clean()) << r.errors[0];
  }
  MemEnv env_;
  std::unique_ptr<Pool> pool_;
};

TEST_P(DedupTest, IdenticalContentInDifferentVolumesIsStoredOnce) {
  pool_ = Unwrap(Pool::Create("/pool", Options()));
  ASSERT_TRUE(pool_);
  const std::string data = Unique(256, 1);
  Oracle o;
  VolumeId a = Unwrap(pool_->CreateVolume(data.size())), b = Unwrap(pool_->CreateVolume(2 * data.size()));
  ASSERT_OK(pool_->Write(a, 0, data));
  EXPECT_EQ(Stats().data_bytes, data.size());
  // In pieces of other sizes, and at another (cluster-aligned) place.
  ASSERT_OK(pool_->Write(b, 0, std::string_view(data).substr(0, 100 * kC)));
  ASSERT_OK(pool_->Write(b, 100 * kC, std::string_view(data).substr(100 * kC)));
  ASSERT_OK(pool_->Write(b, data.size() + 3 * kC, std::string_view(data).substr(0, 64 * kC)));
  o[a] = {data, false};
  o[b] = {data + std::string(3 * kC, '\0') + data.substr(0, 64 * kC) + std::string(data.size() - 67 * kC, '\0'), false};
  PoolStats s = Stats();
  EXPECT_EQ(s.data_bytes, data.size()) << "the second and third copies are references";
  EXPECT_EQ(s.dedup_stats.hits, 256u + 64u);
  EXPECT_EQ(s.dedup, GetParam());
  ExpectConsistent(o);
  SpaceInfo sa = Unwrap(pool_->Space(a));
  EXPECT_EQ(sa.referenced, data.size());
  EXPECT_EQ(sa.exclusive, 0u) << "every block of a is shared with b";
}

TEST_P(DedupTest, OverwriteTrimDeleteAndRollbackOfOneCopyLeaveTheOthersIntact) {
  pool_ = Unwrap(Pool::Create("/pool", Options()));
  ASSERT_TRUE(pool_);
  const std::string data = Unique(64, 2);
  Oracle o;
  std::vector<VolumeId> v;
  for (int i = 0; i < 3; ++i) {
    v.push_back(Unwrap(pool_->CreateVolume(data.size())));
    ASSERT_OK(pool_->Write(v[i], 0, data));
    o[v[i]] = {data, false};
  }
  VolumeId snap = Unwrap(pool_->Snapshot(v[0]));
  o[snap] = {data, true};
  const std::string other = Unique(32, 3);
  ASSERT_OK(pool_->Write(v[0], 0, other));  // overwrite half of one copy
  o[v[0]].data.replace(0, other.size(), other);
  ASSERT_OK(pool_->Trim(v[1], 16 * kC, 16 * kC));  // trim a quarter of another
  std::fill(o[v[1]].data.begin() + 16 * kC, o[v[1]].data.begin() + 32 * kC, '\0');
  ASSERT_OK(pool_->DeleteVolume(v[2]));  // delete the third
  o.erase(v[2]);
  ExpectConsistent(o);
  EXPECT_EQ(Stats().data_bytes, DistinctClusters(o, kC) * kC);
  ASSERT_OK(pool_->Rollback(v[0], snap));
  o[v[0]].data = data;
  VolumeId clone = Unwrap(pool_->Clone(snap));
  o[clone] = {data, false};
  ASSERT_OK(pool_->Write(clone, 5 * kC, other.substr(0, kC)));  // content stored already: shared
  o[clone].data.replace(5 * kC, kC, other.substr(0, kC));
  ExpectConsistent(o);
  EXPECT_EQ(Stats().data_bytes, DistinctClusters(o, kC) * kC);
  for (auto& [id, vol] : o) ASSERT_OK(pool_->DeleteVolume(id));
  o.clear();
  EXPECT_EQ(Stats().data_bytes, 0u);
  ExpectConsistent(o);
}

TEST_P(DedupTest, PartialWritesNeverChangeASharedBlockInPlace) {
  constexpr uint32_t kBig = 65536;
  pool_ = Unwrap(Pool::Create("/pool", Options(kBig)));
  ASSERT_TRUE(pool_);
  const std::string data = Unique(4, 4, kBig);
  VolumeId a = Unwrap(pool_->CreateVolume(data.size())), b = Unwrap(pool_->CreateVolume(data.size()));
  ASSERT_OK(pool_->Write(a, 0, data));
  ASSERT_OK(pool_->Checkpoint());  // committed: a partial write would be an in-place patch without dedup
  ASSERT_OK(pool_->Write(b, 0, data));
  const std::string patch(1000, 'p');
  ASSERT_OK(pool_->Write(a, kBig + 100, patch));
  Oracle o{{a, {data, false}}, {b, {data, false}}};
  o[a].data.replace(kBig + 100, patch.size(), patch);
  ExpectConsistent(o);
  // The same patch on b makes the cluster equal again: stored once.
  ASSERT_OK(pool_->Write(b, kBig + 100, patch));
  o[b].data = o[a].data;
  EXPECT_EQ(Stats().data_bytes, 4u * kBig);
  Reopen(Options(kBig));
  ExpectConsistent(o);
}

TEST_P(DedupTest, ZeroClustersAreNeverStored) {
  pool_ = Unwrap(Pool::Create("/pool", Options()));
  ASSERT_TRUE(pool_);
  VolumeId a = Unwrap(pool_->CreateVolume(64 * kC));
  ASSERT_OK(pool_->Write(a, 0, std::string(64 * kC, '\0')));
  ASSERT_OK(pool_->Write(a, 0, std::string(kC, 'x')));
  ASSERT_OK(pool_->Write(a, 0, std::string(kC, '\0')));  // back to zero, whole
  ASSERT_OK(pool_->Write(a, kC, std::string(kC, 'y')));
  ASSERT_OK(pool_->Write(a, kC + 512, std::string(kC - 512, '\0')));
  ASSERT_OK(pool_->Write(a, kC, std::string(512, '\0')));  // back to zero, in pieces
  EXPECT_EQ(Stats().data_bytes, 0u);
  for (const Extent& e : Unwrap(pool_->Map(a, 0, 64 * kC))) EXPECT_NE(e.type, ExtentType::kData);
}

// After a reopen memory holds only the hooks: the first hook of a run loads the
// manifest that holds it, and every later cluster of the run is found there.
TEST_P(DedupTest, AfterReopenARunIsFoundFromItsFirstHook) {
  PoolOptions opts = Options();
  pool_ = Unwrap(Pool::Create("/pool", opts));
  ASSERT_TRUE(pool_);
  const uint64_t n = 512;
  const std::string data = Unique(n, 5);
  VolumeId a = Unwrap(pool_->CreateVolume(data.size()));
  ASSERT_OK(pool_->Write(a, 0, data));
  Reopen(opts);
  EXPECT_EQ(Unwrap(pool_->Stats()).dedup_stats.cached_manifests, 0u);
  uint64_t first_hook = n;
  for (uint64_t i = 0; i < n && first_hook == n; ++i) {
    if (internal::IsHook(FingerprintKey(Sha256(data.data() + i * kC, kC)), opts.dedup_hook_bits)) first_hook = i;
  }
  ASSERT_LT(first_hook, n);
  VolumeId b = Unwrap(pool_->CreateVolume(data.size()));
  for (uint64_t i = 0; i < n; i += 16)
    ASSERT_OK(pool_->Write(b, i * kC, std::string_view(data).substr(i * kC, 16 * kC)));
  PoolStats s = Stats();
  std::printf("first hook at cluster %llu of %llu; hits %llu, manifests loaded %llu, hooks %llu\n",
              static_cast<unsigned long long>(first_hook), static_cast<unsigned long long>(n),
              static_cast<unsigned long long>(s.dedup_stats.hits),
              static_cast<unsigned long long>(s.dedup_stats.manifest_loads),
              static_cast<unsigned long long>(s.dedup_stats.hooks));
  EXPECT_EQ(s.dedup_stats.hits, n - first_hook);
  EXPECT_EQ(s.data_bytes, (n + first_hook) * kC);
  EXPECT_GE(s.dedup_stats.manifest_loads, 1u);
  // About one fingerprint in 2^hook_bits is a hook (a's manifest; b's is
  // still open: its stream is writing).
  EXPECT_GT(s.dedup_stats.hooks, n / 64);
  EXPECT_LT(s.dedup_stats.hooks, n / 16);
  ExpectConsistent({{a, {data, false}}, {b, {data, false}}});
}

TEST_P(DedupTest, ACorruptSharedCandidateIsNeverReturnedAsData) {
  PoolOptions opts = Options();
  pool_ = Unwrap(Pool::Create("/pool", opts));
  ASSERT_TRUE(pool_);
  std::string data(kC, 'd');
  data.replace(0, 6, "needle");
  VolumeId a = Unwrap(pool_->CreateVolume(kC));
  ASSERT_OK(pool_->Write(a, 0, data));
  ASSERT_OK(pool_->Checkpoint());
  // Damage a's block on disk.
  auto f = Unwrap(env_.OpenFile("/pool/containers/000000001.ctr", false));
  const uint64_t units = opts.container_size / kC, size = Unwrap(f->Size());
  uint64_t at = 0;
  std::string unit(kC, '\0');
  for (uint64_t off = internal::DataOffset(static_cast<uint32_t>(units), 0); off < size && !at; off += kC) {
    ASSERT_OK(f->ReadAt(off, kC, unit.data()));
    if (unit == data) at = off;
  }
  ASSERT_NE(at, 0u);
  ASSERT_OK(env_.FlipBit("/pool/containers/000000001.ctr", at + 100, 3));
  VolumeId b = Unwrap(pool_->CreateVolume(kC));
  ASSERT_OK(pool_->Write(b, 0, data));
  std::string got(kC, '\0');
  Status s = pool_->Read(b, 0, got);
  if (GetParam() == DedupMode::kVerify) {
    ASSERT_OK(s);  // the candidate was read and refused: b has its own copy
    EXPECT_EQ(got, data);
    EXPECT_EQ(Unwrap(pool_->Stats()).dedup_stats.verify_mismatches, 1u);
  } else {
    EXPECT_EQ(s.code(), Code::kCorruption) << "shared without reading: the damage shows as an error, never as data";
  }
  EXPECT_EQ(pool_->Read(a, 0, got).code(), Code::kCorruption);
}

TEST_P(DedupTest, ADamagedIndexCostsOnlyDuplicatesAndFsckReportsIt) {
  PoolOptions opts = Options();
  pool_ = Unwrap(Pool::Create("/pool", opts));
  ASSERT_TRUE(pool_);
  const std::string data = Unique(128, 6);
  VolumeId a = Unwrap(pool_->CreateVolume(data.size()));
  ASSERT_OK(pool_->Write(a, 0, data));
  ASSERT_OK(pool_->Close());
  pool_.reset();
  // A bit in the middle of the manifest's entries (past the batch's header and hooks).
  auto f = Unwrap(env_.OpenFile("/pool/dedup.idx", false));
  const uint64_t size = Unwrap(f->Size());
  ASSERT_OK(env_.FlipBit("/pool/dedup.idx", size - 100 * 48, 0));
  pool_ = Unwrap(Pool::Open("/pool", opts));
  ASSERT_TRUE(pool_);
  VolumeId b = Unwrap(pool_->CreateVolume(data.size()));
  ASSERT_OK(pool_->Write(b, 0, data));
  PoolStats s = Stats();
  EXPECT_EQ(s.dedup_stats.hits, 0u) << "its manifest is damaged";
  EXPECT_GE(s.dedup_stats.load_failures, 1u);
  CheckReport r;
  ASSERT_OK(pool_->Check(true, &r));
  ASSERT_FALSE(r.clean());
  EXPECT_NE(r.errors[0].find("dedup index: manifest at"), std::string::npos) << r.errors[0];
  EXPECT_EQ(CompareAll(*pool_, {{a, {data, false}}, {b, {data, false}}}), "");
  // Switching deduplication off and on again starts a clean index.
  ASSERT_OK(pool_->SetDedup(DedupMode::kOff));
  EXPECT_FALSE(env_.FileExists("/pool/dedup.idx"));
  ASSERT_OK(pool_->SetDedup(GetParam()));
  r = CheckReport{};
  ASSERT_OK(pool_->Check(true, &r));
  EXPECT_TRUE(r.clean()) << r.errors[0];
}

TEST_P(DedupTest, TheModeIsDurableAndOffDropsTheIndex) {
  PoolOptions opts = SmallOptions(&env_, kC);
  pool_ = Unwrap(Pool::Create("/pool", opts));
  ASSERT_TRUE(pool_);
  EXPECT_EQ(Unwrap(pool_->Stats()).dedup, DedupMode::kOff);
  const std::string data = Unique(16, 7);
  VolumeId a = Unwrap(pool_->CreateVolume(data.size())), b = Unwrap(pool_->CreateVolume(data.size()));
  ASSERT_OK(pool_->Write(a, 0, data));
  ASSERT_OK(pool_->SetDedup(GetParam()));
  // Durable on return: a power loss right after keeps the mode.
  pool_ = Unwrap(CrashAndReopen(env_, pool_, opts, 1));
  ASSERT_TRUE(pool_);
  EXPECT_EQ(Unwrap(pool_->Stats()).dedup, GetParam());
  ASSERT_OK(pool_->Write(a, 0, data));  // indexed now
  ASSERT_OK(pool_->Write(b, 0, data));
  ASSERT_OK(pool_->Flush());
  // The replay after a crash deduplicates the same way.
  pool_ = Unwrap(CrashAndReopen(env_, pool_, opts, 2));
  ASSERT_TRUE(pool_);
  EXPECT_EQ(Stats().data_bytes, data.size());
  ASSERT_OK(pool_->SetDedup(DedupMode::kOff));
  EXPECT_FALSE(env_.FileExists("/pool/dedup.idx"));
  pool_ = Unwrap(CrashAndReopen(env_, pool_, opts, 3));
  ASSERT_TRUE(pool_);
  EXPECT_EQ(Unwrap(pool_->Stats()).dedup, DedupMode::kOff);
  // Off: a private block is patched in place again; the shared ones are copied.
  Oracle o{{a, {data, false}}, {b, {data, false}}};
  ASSERT_OK(pool_->Write(a, 100, std::string(10, 'z')));
  o[a].data.replace(100, 10, std::string(10, 'z'));
  ExpectConsistent(o);
}

INSTANTIATE_TEST_SUITE_P(Modes, DedupTest, ::testing::Values(DedupMode::kOn, DedupMode::kVerify),
                         [](const auto& info) { return std::string(DedupModeName(info.param)); });

TEST(HookTableTest, KeepsTheTwoNewestManifestsOfEachHookThroughGrowth) {
  internal::HookTable t;
  std::mt19937_64 rng(9);
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> model;  // key -> newest, second
  for (int i = 0; i < 20000; ++i) {
    uint64_t key = rng() % 5000 * 0x100000001ull;  // repeats, and key 0
    uint64_t m = 1 + rng() % 100000;
    t.Insert(key, m);
    auto& [a, b] = model[key == 0 ? 1 : key];
    if (a != m) {
      b = a;
      a = m;
    }
  }
  EXPECT_EQ(t.size(), model.size());
  for (auto& [key, want] : model) {
    auto got = t.Find(key);
    ASSERT_EQ(got[0], want.first) << key;
    ASSERT_EQ(got[1], want.second) << key;
  }
  EXPECT_EQ(t.Find(12345)[0], 0u);
  t.Clear();
  EXPECT_EQ(t.Find(model.begin()->first)[0], 0u);
}

TEST(DedupModeTest, NamesRoundTripAndBadNamesAreRefused) {
  for (DedupMode m : {DedupMode::kOff, DedupMode::kOn, DedupMode::kVerify}) {
    EXPECT_EQ(Unwrap(ParseDedupMode(DedupModeName(m))), m);
  }
  auto bad = ParseDedupMode("yes");
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "deduplication mode 'yes' is not one of off, on, verify");
}

}  // namespace
}  // namespace vmstore::testing
