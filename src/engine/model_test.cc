// Randomized model test: thousands of mixed operations over several volumes,
// compared with a plain in-memory oracle. The seed is printed on failure.
#include <gtest/gtest.h>

#include "engine/test_util.h"
#include "util/test_scale.h"

namespace vmstore::testing {
namespace {

struct ModelParams {
  uint32_t cluster;
  uint64_t seed;
  int steps;
  DedupMode dedup = DedupMode::kOff;  // on: data from a small alphabet, and the mode switched now and then
  bool mem_store = false;             // containers in a MemBlockStore instead of files in the MemEnv
};

class ModelTest : public ::testing::TestWithParam<ModelParams> {};

TEST_P(ModelTest, RandomOperationsMatchOracle) {
  const ModelParams p = GetParam();
  SCOPED_TRACE("seed=" + std::to_string(p.seed) + " cluster=" + std::to_string(p.cluster) +
               " dedup=" + DedupModeName(p.dedup) + (p.mem_store ? " mem_store" : ""));
  std::mt19937_64 rng(p.seed);
  MemEnv env;
  MemBlockStore store(&env);
  const bool dedup = p.dedup != DedupMode::kOff;
  PoolOptions opts = DedupOptions(&env, p.cluster, p.dedup);
  if (p.mem_store) opts.block_store = &store;
  auto pool = Unwrap(Pool::Create("/pool", opts));
  ASSERT_TRUE(pool);
  Oracle oracle;
  const uint64_t C = p.cluster;
  // Sizes up to ~300 clusters so trees have two levels.
  auto random_size = [&] {
    const uint64_t big = std::max<uint64_t>(20, std::min<uint64_t>(300, (24u << 20) / C));
    uint64_t clusters = 1 + rng() % (rng() % 4 == 0 ? big : 20);
    uint64_t size = clusters * C - (rng() % (C / 512)) * 512;
    return size;
  };
  auto pick = [&](bool writable) { return PickVolume(rng, oracle, writable); };
  auto random_range = [&](uint64_t size, uint64_t* off, uint64_t* len) {
    *off = rng() % size;
    uint64_t max = std::min<uint64_t>(size - *off, 3 * C);
    *len = 1 + rng() % max;
    if (rng() % 3 == 0) {  // cluster-aligned, whole clusters
      *off = *off / C * C;
      *len = std::min<uint64_t>(size - *off, (1 + rng() % 3) * C);
    }
  };

  // A quarter under the sanitizers (util/test_scale.h): the release run does them all.
  const int steps = Scaled(p.steps);
  for (int step = 0; step < steps; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    int op = static_cast<int>(rng() % 100);
    if (oracle.empty() || (op < 5 && oracle.size() < 8)) {
      uint64_t size = random_size();
      VolumeId id = Unwrap(pool->CreateVolume(size));
      ASSERT_NE(id, 0u);
      oracle[id] = {std::string(size, '\0'), false};
    } else if (op < 45) {
      VolumeId id = pick(true);
      if (!id) continue;
      uint64_t off, len;
      random_range(oracle[id].data.size(), &off, &len);
      std::string buf(len, '\0');
      FillWrite(rng, &buf, off, dedup);
      ASSERT_OK(pool->Write(id, off, buf));
      oracle[id].data.replace(off, len, buf);
    } else if (op < 52) {
      VolumeId id = pick(true);
      if (!id) continue;
      uint64_t off, len;
      random_range(oracle[id].data.size(), &off, &len);
      int kind = static_cast<int>(rng() % 3);
      if (kind == 0) {
        ASSERT_OK(pool->Trim(id, off, len));
      } else {
        ASSERT_OK(pool->WriteZeroes(id, off, len, kind == 1));
      }
      std::fill(oracle[id].data.begin() + off, oracle[id].data.begin() + off + len, '\0');
    } else if (op < 60) {
      VolumeId src = pick(false);
      VolumeId id = Unwrap(pool->Snapshot(src));
      oracle[id] = {oracle[src].data, true};
    } else if (op < 64) {
      VolumeId src = pick(false);
      VolumeId id = Unwrap(pool->Clone(src));
      oracle[id] = {oracle[src].data, false};
    } else if (op < 68) {
      VolumeId v = pick(true), s = pick(false);
      if (!v || v == s) continue;
      ASSERT_OK(pool->Rollback(v, s));
      oracle[v].data = oracle[s].data;
    } else if (op < 73) {
      if (oracle.size() < 3) continue;
      VolumeId id = pick(false);
      ASSERT_OK(pool->DeleteVolume(id));
      oracle.erase(id);
    } else if (op < 77) {
      VolumeId id = pick(true);
      if (!id) continue;
      uint64_t size = random_size();
      ASSERT_OK(pool->ResizeVolume(id, size));
      oracle[id].data.resize(size, '\0');
    } else if (op < 80) {
      if (dedup && rng() % 8 == 0) {
        const DedupMode modes[] = {DedupMode::kOff, DedupMode::kOn, DedupMode::kVerify};
        ASSERT_OK(pool->SetDedup(modes[rng() % 3]));
      } else if (rng() % 2) {
        ASSERT_OK(pool->Flush());
      } else {
        ASSERT_OK(pool->Checkpoint());
      }
    } else if (op < 83) {
      // Reopen: cleanly, or after a simulated crash right after a flush.
      if (rng() % 2) {
        ASSERT_OK(pool->Close());
        pool.reset();
        pool = Unwrap(Pool::Open("/pool", opts));
      } else {
        ASSERT_OK(pool->Flush());
        pool = Unwrap(CrashAndReopen(env, pool, opts, rng()));
      }
      ASSERT_TRUE(pool);
      std::string diff = CompareAll(*pool, oracle);
      ASSERT_EQ(diff, "") << "after reopen";
    } else {
      // Read a random range and check the allocation map against the oracle.
      VolumeId id = pick(false);
      uint64_t off, len;
      random_range(oracle[id].data.size(), &off, &len);
      std::string got(len, '\0');
      ASSERT_OK(pool->Read(id, off, got));
      ASSERT_EQ(got, oracle[id].data.substr(off, len));
      auto map = Unwrap(pool->Map(id, off, len));
      uint64_t pos = off;
      for (const Extent& e : map) {
        ASSERT_EQ(e.offset, pos);
        pos += e.length;
        if (e.type != ExtentType::kData) {
          ASSERT_TRUE(std::all_of(oracle[id].data.begin() + e.offset, oracle[id].data.begin() + e.offset + e.length,
                                  [](char c) { return c == 0; }))
              << "map says zero/hole at " << e.offset;
        }
      }
      ASSERT_EQ(pos, off + len);
    }
    if (step % 50 == 49) {
      ASSERT_EQ(CompareAll(*pool, oracle), "");
      ASSERT_OK(pool->VerifyRefcounts());
    }
  }
  ASSERT_EQ(CompareAll(*pool, oracle), "");
  ASSERT_OK(pool->VerifyRefcounts());
  CheckReport report;
  ASSERT_OK(pool->Check(true, &report));
  EXPECT_TRUE(report.clean()) << report.errors[0];
  // Deleting everything returns the pool to its empty size.
  for (auto& [id, v] : oracle) ASSERT_OK(pool->DeleteVolume(id));
  ASSERT_OK(pool->Checkpoint());
  auto stats = Unwrap(pool->Stats());
  EXPECT_EQ(stats.live_bytes, 4096u) << "only the volume table block stays live";
}

INSTANTIATE_TEST_SUITE_P(Clusters, ModelTest,
                         ::testing::Values(ModelParams{4096, 1, 3000}, ModelParams{4096, 2, 3000},
                                           ModelParams{65536, 3, 3000}, ModelParams{65536, 4, 2000},
                                           ModelParams{1 << 20, 5, 800}, ModelParams{4096, 6, 3000, DedupMode::kOn},
                                           ModelParams{4096, 7, 2000, DedupMode::kVerify},
                                           ModelParams{65536, 8, 2000, DedupMode::kOn},
                                           ModelParams{4096, 11, 3000, DedupMode::kOff, true},
                                           ModelParams{65536, 13, 2000, DedupMode::kOff, true},
                                           ModelParams{4096, 16, 2000, DedupMode::kOn, true}),
                         [](const auto& info) {
                           std::string dedup = info.param.dedup == DedupMode::kOff
                                                   ? ""
                                                   : std::string("_dedup_") + DedupModeName(info.param.dedup);
                           return "C" + std::to_string(info.param.cluster) + "_seed" + std::to_string(info.param.seed) +
                                  dedup + (info.param.mem_store ? "_mem_store" : "");
                         });

}  // namespace
}  // namespace vmstore::testing
