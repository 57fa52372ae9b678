// Failing disk: random operations while reads, writes and syncs fail with EIO
// at random (MemEnv), against an oracle. A failed operation may have happened
// or not, nothing in between:
//   - a write, trim or zeroing changed a prefix of its range that ends at a
//     cluster boundary (or all of it, or none);
//   - a create, snapshot, clone or delete happened or not (the volume list says);
//   - a rollback left the volume as it was or as the snapshot.
// After each failure the outcome is read back with the faults paused, checked
// against those choices, and adopted. Reads that succeed must match exactly.
// At the end, without faults: the pool matches the oracle, its reference
// counts and fsck are clean, and after a reopen (replaying the log) it still
// matches. The seed is printed on failure.
#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "engine/test_util.h"

namespace vmstore::testing {
namespace {

struct FaultParams {
  uint32_t cluster;
  uint64_t seed;
  int steps;
  double rate;
};

class FaultTest : public ::testing::TestWithParam<FaultParams> {};

TEST_P(FaultTest, FailedOperationsAreAllOrPrefix) {
  const FaultParams p = GetParam();
  SCOPED_TRACE("seed=" + std::to_string(p.seed) + " cluster=" + std::to_string(p.cluster));
  std::mt19937_64 rng(p.seed);
  MemEnv env;
  PoolOptions opts = SmallOptions(&env, p.cluster);
  auto pool = Unwrap(Pool::Create("/pool", opts));
  ASSERT_TRUE(pool);
  Oracle oracle;
  const uint64_t C = p.cluster;
  uint64_t fault_seed = p.seed * 7919;
  auto faults = [&](bool on) {
    env.SetReadErrorRate(on ? p.rate : 0, ++fault_seed);
    env.SetWriteErrorRate(on ? p.rate : 0, ++fault_seed);
  };
  auto pick = [&](bool writable) { return PickVolume(rng, oracle, writable); };
  // A random range of up to 4 clusters inside volume `id`.
  auto random_range = [&](VolumeId id) {
    const uint64_t size = oracle[id].data.size();
    const uint64_t off = rng() % size;
    return std::pair<uint64_t, uint64_t>{off, 1 + rng() % std::min<uint64_t>(size - off, 4 * C)};
  };
  // Reads a volume whole with the faults paused.
  auto read_all = [&](VolumeId id, std::string* out) {
    faults(false);
    auto info = pool->Info(id);
    Status s = info.status();
    if (s.ok()) {
      out->assign(info->size, '\0');
      s = pool->Read(id, 0, *out);
    }
    faults(true);
    return s;
  };
  // After a failed create / snapshot / clone / delete: adopt what the volume
  // list says, `make` giving a new volume's oracle.
  auto adopt_list = [&](const std::function<OracleVolume(const VolumeInfo&)>& make) {
    std::set<VolumeId> now;
    for (const VolumeInfo& v : pool->ListVolumes()) {
      now.insert(v.id);
      if (!oracle.count(v.id)) oracle[v.id] = make(v);
    }
    for (auto it = oracle.begin(); it != oracle.end();) it = now.count(it->first) ? std::next(it) : oracle.erase(it);
  };
  int failed_ops = 0, failed_reads = 0, partial = 0, crashes = 0;
  {
    VolumeId id = Unwrap(pool->CreateVolume(64 * C));
    oracle[id] = {std::string(64 * C, '\0'), false};
  }
  faults(true);
  for (int step = 0; step < p.steps; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    const int op = static_cast<int>(rng() % 100);
    if (op < 45) {  // write / trim / zero
      VolumeId id = pick(true);
      if (!id) continue;
      auto [off, len] = random_range(id);
      std::string after = oracle[id].data;
      Status s;
      if (op < 35) {
        std::string buf(len, '\0');
        FillPattern(rng, &buf);
        s = pool->Write(id, off, buf);
        after.replace(off, len, buf);
      } else {
        int kind = static_cast<int>(rng() % 3);
        s = kind == 0 ? pool->Trim(id, off, len) : pool->WriteZeroes(id, off, len, kind == 1);
        std::fill(after.begin() + off, after.begin() + off + len, '\0');
      }
      if (s.ok()) {
        oracle[id].data = after;
        continue;
      }
      ++failed_ops;
      ASSERT_TRUE(s.code() == Code::kIOError) << s.ToString();
      std::string got;
      ASSERT_OK(read_all(id, &got));
      // Some prefix [off, b) with b = off + len or a cluster boundary inside.
      bool ok = false;
      for (uint64_t b = off;; b = std::min(off + len, (b / C + 1) * C)) {
        std::string want = oracle[id].data;
        want.replace(off, b - off, after, off, b - off);
        if (got == want) {
          ok = true;
          if (b != off && b != off + len) ++partial;
          break;
        }
        if (b == off + len) break;
      }
      ASSERT_TRUE(ok) << "a failed change of [" << off << ", +" << len << ") left something else than a prefix";
      oracle[id].data = got;
    } else if (op < 55) {  // snapshot / clone
      VolumeId src = pick(false);
      const bool snap = op < 51;
      auto r = snap ? pool->Snapshot(src) : pool->Clone(src);
      if (r.ok()) {
        oracle[*r] = {oracle[src].data, snap};
        continue;
      }
      ++failed_ops;
      adopt_list([&](const VolumeInfo& v) { return OracleVolume{oracle[src].data, v.read_only}; });
    } else if (op < 59) {  // rollback
      VolumeId v = pick(true), s = pick(false);
      if (!v || v == s) continue;
      Status st = pool->Rollback(v, s);
      if (!st.ok()) {
        ++failed_ops;
        std::string got;
        ASSERT_OK(read_all(v, &got));
        ASSERT_TRUE(got == oracle[v].data || got == oracle[s].data) << "a failed rollback left a mix";
      }
      oracle[v].data = oracle[s].data;
      if (!st.ok()) ASSERT_OK(read_all(v, &oracle[v].data));
    } else if (op < 63) {  // delete
      if (oracle.size() < 3) continue;
      VolumeId id = pick(false);
      if (pool->DeleteVolume(id).ok()) {
        oracle.erase(id);
        continue;
      }
      ++failed_ops;
      adopt_list([](const VolumeInfo&) -> OracleVolume { return {}; });
    } else if (op < 66) {  // create
      if (oracle.size() >= 10) continue;
      uint64_t size = (1 + rng() % 40) * C;
      auto r = pool->CreateVolume(size);
      if (r.ok()) {
        oracle[*r] = {std::string(size, '\0'), false};
        continue;
      }
      ++failed_ops;
      adopt_list([](const VolumeInfo& v) { return OracleVolume{std::string(v.size, '\0'), false}; });
    } else if (op < 72) {
      if (!(rng() % 2 ? pool->Flush() : pool->Checkpoint()).ok()) ++failed_ops;
    } else if (op < 74) {
      // A crash right after a flush (faults paused): the log must replay to
      // exactly what memory held, the prefixes of failed changes included.
      faults(false);
      ASSERT_OK(pool->Flush());
      pool = Unwrap(CrashAndReopen(env, pool, opts, rng()));
      ASSERT_TRUE(pool);
      ASSERT_EQ(CompareAll(*pool, oracle), "") << "after a crash and reopen";
      ++crashes;
      faults(true);
    } else {  // read
      VolumeId id = pick(false);
      auto [off, len] = random_range(id);
      std::string got(len, '\0');
      Status s = pool->Read(id, off, got);
      if (!s.ok()) {
        ++failed_reads;
        ASSERT_TRUE(s.code() == Code::kIOError) << s.ToString();
        continue;
      }
      ASSERT_EQ(got, oracle[id].data.substr(off, len)) << "read of [" << off << ", +" << len << ")";
    }
  }
  faults(false);
  std::printf(
      "[ seed %llu ] %d failed operations (%d changed a prefix), %d failed reads, %d crashes, %llu faults injected\n",
      static_cast<unsigned long long>(p.seed), failed_ops, partial, failed_reads, crashes,
      static_cast<unsigned long long>(env.injected_failures()));
  EXPECT_GT(failed_ops, 0) << "the faults never reached an operation";
  EXPECT_GT(failed_reads, 0) << "the faults never reached a read";
  ASSERT_EQ(CompareAll(*pool, oracle), "");
  ASSERT_OK(pool->Checkpoint());
  ASSERT_OK(pool->VerifyRefcounts());
  CheckReport report;
  ASSERT_OK(pool->Check(true, &report));
  EXPECT_TRUE(report.clean()) << report.errors[0];
  ASSERT_OK(pool->Flush());
  // The log replays to the same state: a crash now loses nothing.
  pool = Unwrap(CrashAndReopen(env, pool, opts, rng()));
  ASSERT_TRUE(pool);
  ASSERT_EQ(CompareAll(*pool, oracle), "") << "after a crash and reopen";
  ASSERT_OK(pool->Check(true, &report));
  EXPECT_TRUE(report.clean()) << report.errors[0];
}

INSTANTIATE_TEST_SUITE_P(Rates, FaultTest,
                         ::testing::Values(FaultParams{4096, 11, 2500, 0.01}, FaultParams{65536, 12, 2500, 0.01},
                                           FaultParams{65536, 13, 1500, 0.05}, FaultParams{4096, 14, 1500, 0.05}),
                         [](const auto& info) {
                           return "C" + std::to_string(info.param.cluster) + "_seed" + std::to_string(info.param.seed);
                         });

}  // namespace
}  // namespace vmstore::testing
