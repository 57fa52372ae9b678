// Crash suite. (1) Simulated power loss through MemEnv at thousands of random
// points - between operations and in the middle of them, checkpoints included -
// with unsynced writes dropped, torn or reordered. After reopen the pool must
// equal the oracle after some prefix of the operations that includes every
// durable one, reference counts must match a fresh walk, and fsck must be clean.
// (2) A real writer process killed with SIGKILL at random moments.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "engine/test_util.h"
#include "util/test_scale.h"

namespace vmstore::testing {
namespace {

// Runs one round; returns "" or a failure description.
// With `mem_store` the containers live in a MemBlockStore sharing the env's
// fate instead of files in the MemEnv.
std::string CrashRound(uint64_t seed, uint32_t cluster, DedupMode dedup = DedupMode::kOff, bool mem_store = false) {
  std::mt19937_64 rng(seed);
  MemEnv env;
  MemBlockStore store(&env);
  PoolOptions opts = DedupOptions(&env, cluster, dedup);
  if (mem_store) opts.block_store = &store;
  opts.max_dirty_bytes = uint64_t{cluster} * (2 + rng() % 8);
  auto created = Pool::Create("/pool", opts);
  if (!created.ok()) return created.status().ToString();
  std::unique_ptr<Pool> pool = std::move(created).value();
  const uint64_t C = cluster;
  std::vector<Oracle> hist{Oracle{}};
  size_t durable = 0;
  const int ops = 10 + static_cast<int>(rng() % 50);
  const bool mid_op = rng() % 2;
  const int kill_at = static_cast<int>(rng() % ops);
  Oracle o;
  VolumeId next_id = 1;  // ids are handed out in order; a failed op's id is predictable
  for (int i = 0; i < ops; ++i) {
    if (mid_op && i == kill_at) env.KillAfter(1 + rng() % 40);
    int op = static_cast<int>(rng() % 100);
    Status s;
    bool syncs = false;
    auto pick = [&](bool writable) -> VolumeId {
      std::vector<VolumeId> ids;
      for (auto& [id, v] : o)
        if (!writable || !v.read_only) ids.push_back(id);
      return ids.empty() ? 0 : ids[rng() % ids.size()];
    };
    Oracle next = o;
    if (o.empty() || op < 6) {
      uint64_t size = (1 + rng() % 40) * C;
      auto id = pool->CreateVolume(size);
      s = id.status();
      if (s.ok() && *id != next_id) return "unexpected volume id";
      next[next_id++] = {std::string(size, '\0'), false};
      syncs = true;
    } else if (op < 65) {
      VolumeId id = pick(true);
      if (!id) continue;
      uint64_t size = o[id].data.size();
      uint64_t off = rng() % size, len = 1 + rng() % std::min<uint64_t>(size - off, 2 * C);
      std::string buf(len, '\0');
      FillWrite(rng, &buf, off, dedup != DedupMode::kOff);
      s = pool->Write(id, off, buf);
      next[id].data.replace(off, len, buf);
    } else if (op < 72) {
      VolumeId id = pick(true);
      if (!id) continue;
      uint64_t size = o[id].data.size();
      uint64_t off = rng() % size, len = 1 + rng() % (size - off);
      s = pool->Trim(id, off, len);
      std::fill(next[id].data.begin() + off, next[id].data.begin() + off + len, '\0');
    } else if (op < 82) {
      VolumeId src = pick(false);
      bool clone = rng() % 3 == 0;
      auto id = clone ? pool->Clone(src) : pool->Snapshot(src);
      s = id.status();
      if (s.ok() && *id != next_id) return "unexpected volume id";
      next[next_id++] = {o[src].data, !clone};
      syncs = true;
    } else if (op < 86) {
      VolumeId v = pick(true), snap = pick(false);
      if (!v || v == snap) continue;
      s = pool->Rollback(v, snap);
      next[v].data = o[snap].data;
      syncs = true;
    } else if (op < 90) {
      if (o.size() < 2) continue;
      VolumeId id = pick(false);
      s = pool->DeleteVolume(id);
      next.erase(id);
      syncs = true;
    } else {
      s = pool->Flush();
      syncs = true;
    }
    hist.push_back(next);
    if (!s.ok()) break;  // the simulated process died in this operation
    o = std::move(next);
    if (syncs) durable = hist.size() - 1;
  }
  const uint64_t crash_seed = rng();
  env.SimulateCrash(crash_seed);
  store.SimulateCrash(crash_seed + 1);
  env.SetDead(true);
  pool.reset();  // must not write: the env is dead
  env.SetDead(false);
  env.KillAfter(0);
  auto reopened = Pool::Open("/pool", opts);
  if (!reopened.ok()) return "reopen: " + reopened.status().ToString();
  pool = std::move(reopened).value();
  std::string last_diff;
  bool matched = false;
  for (size_t i = hist.size(); i-- > durable;) {
    last_diff = CompareAll(*pool, hist[i]);
    if (last_diff.empty()) {
      matched = true;
      break;
    }
  }
  if (!matched) {
    return "state after recovery matches no prefix at or after the last durable operation " + std::to_string(durable) +
           " of " + std::to_string(hist.size() - 1) + " (" + last_diff + ")";
  }
  Status s = pool->VerifyRefcounts();
  if (!s.ok()) return s.ToString();
  CheckReport report;
  s = pool->Check(true, &report);
  if (!s.ok()) return "fsck: " + s.ToString();
  if (!report.clean()) return "fsck: " + report.errors[0];
  if (report.garbage_bytes) return "unreferenced space after reopen: " + std::to_string(report.garbage_bytes);
  return "";
}

TEST(CrashTest, PowerLossAtRandomPointsKeepsEveryFlushedOperation) {
  const int rounds = Scaled(2000);
  std::printf("%d rounds\n", rounds);
  for (int r = 0; r < rounds; ++r) {
    uint64_t seed = 1000 + static_cast<uint64_t>(r);
    uint32_t cluster = r % 2 ? 4096 : 16384;
    std::string err = CrashRound(seed, cluster);
    ASSERT_EQ(err, "") << "seed=" << seed << " cluster=" << cluster;
  }
}

TEST(CrashTest, PowerLossWithDeduplicationKeepsEveryFlushedOperation) {
  const int rounds = Scaled(1000);
  std::printf("%d rounds\n", rounds);
  for (int r = 0; r < rounds; ++r) {
    uint64_t seed = 50000 + static_cast<uint64_t>(r);
    uint32_t cluster = r % 2 ? 4096 : 16384;
    DedupMode mode = r % 3 ? DedupMode::kOn : DedupMode::kVerify;
    std::string err = CrashRound(seed, cluster, mode);
    ASSERT_EQ(err, "") << "seed=" << seed << " cluster=" << cluster << " dedup=" << DedupModeName(mode);
  }
}

TEST(CrashTest, PowerLossOverTheMemoryBlockStoreKeepsEveryFlushedOperation) {
  const int rounds = Scaled(1000);
  std::printf("%d rounds\n", rounds);
  for (int r = 0; r < rounds; ++r) {
    uint64_t seed = 90000 + static_cast<uint64_t>(r);
    uint32_t cluster = r % 2 ? 4096 : 16384;
    DedupMode mode = r % 4 == 3 ? DedupMode::kOn : DedupMode::kOff;
    std::string err = CrashRound(seed, cluster, mode, /*mem_store=*/true);
    ASSERT_EQ(err, "") << "seed=" << seed << " cluster=" << cluster << " dedup=" << DedupModeName(mode);
  }
}

// ---- real kill -9 of a writer process

constexpr uint64_t kBlocks = 2048;
constexpr int kSnapEvery = 150;

std::string Stamp(uint64_t i, uint64_t b) {
  std::string s(4096, '\0');
  for (size_t k = 0; k + 16 <= s.size(); k += 16) {
    std::memcpy(&s[k], &i, 8);
    std::memcpy(&s[k + 8], &b, 8);
  }
  return s;
}

[[noreturn]] void Writer(const std::string& dir, uint64_t seed, int fd) {
  auto pool = Pool::Open(dir, PoolOptions{});
  if (!pool.ok()) _exit(3);
  std::mt19937_64 rng(seed);
  for (uint64_t i = 1;; ++i) {
    uint64_t b = rng() % kBlocks;
    if (!(*pool)->Write(1, b * 4096, Stamp(i, b)).ok()) _exit(4);
    if (i % kSnapEvery == 0 && !(*pool)->Snapshot(1).ok()) _exit(5);
    if (i % 10 == 0) {
      if (!(*pool)->Flush().ok()) _exit(6);
      if (write(fd, &i, 8) != 8) _exit(7);
    }
  }
}

TEST(CrashTest, KillNineDuringWritesKeepsFlushedData) {
  const int rounds = std::max(2, Scaled(6));
  std::printf("%d rounds\n", rounds);
  auto dir = std::filesystem::temp_directory_path() / ("vmstore-kill-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  {
    auto pool = Unwrap(Pool::Create(dir, PoolOptions{}));
    ASSERT_TRUE(pool);
    ASSERT_EQ(Unwrap(pool->CreateVolume(kBlocks * 4096)), 1u);
    ASSERT_OK(pool->Close());
  }
  std::mt19937_64 delays(7);
  for (int round = 0; round < rounds; ++round) {
    uint64_t seed = 500 + static_cast<uint64_t>(round);
    SCOPED_TRACE("round " + std::to_string(round) + " seed=" + std::to_string(seed));
    // Every round restarts the volume from the previous state: record it.
    std::vector<uint64_t> base(kBlocks);
    {
      auto pool = Unwrap(Pool::Open(dir, PoolOptions{}));
      ASSERT_TRUE(pool);
      std::string buf(4096, '\0');
      for (uint64_t b = 0; b < kBlocks; ++b) {
        ASSERT_OK(pool->Read(1, b * 4096, buf));
        std::memcpy(&base[b], buf.data(), 8);
      }
    }
    std::vector<VolumeInfo> before_snaps;
    int pipefd[2];
    ASSERT_EQ(pipe(pipefd), 0);
    pid_t pid = fork();
    if (pid == 0) {
      close(pipefd[0]);
      Writer(dir, seed, pipefd[1]);
    }
    close(pipefd[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + delays() % 400));
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "writer exited early with " << WEXITSTATUS(status);
    uint64_t flushed = 0, v;
    while (read(pipefd[0], &v, 8) == 8) flushed = v;
    close(pipefd[0]);

    auto pool = Unwrap(Pool::Open(dir, PoolOptions{}));
    ASSERT_TRUE(pool);
    // Stamps on the disk: the largest one gives the recovered prefix k.
    std::vector<uint64_t> got(kBlocks);
    std::string buf(4096, '\0');
    uint64_t k = 0;
    for (uint64_t b = 0; b < kBlocks; ++b) {
      ASSERT_OK(pool->Read(1, b * 4096, buf));
      uint64_t i, bb;
      std::memcpy(&i, buf.data(), 8);
      std::memcpy(&bb, buf.data() + 8, 8);
      ASSERT_TRUE(buf == Stamp(i, bb) || i == base[b]) << "block " << b << " is torn";
      got[b] = i;
      if (i != base[b]) k = std::max(k, i);
    }
    ASSERT_GE(k, flushed) << "flushed writes lost";
    // Replay the writer's sequence up to k: every block must hold its last write.
    std::vector<uint64_t> expect = base;
    std::vector<std::vector<uint64_t>> snaps;
    std::mt19937_64 rng(seed);
    for (uint64_t i = 1; i <= k; ++i) {
      expect[rng() % kBlocks] = i;
      if (i % kSnapEvery == 0) snaps.push_back(expect);
    }
    ASSERT_EQ(got, expect) << "recovered state is not a prefix of the writes";
    // Snapshots taken by this round: each holds exactly the writes before it.
    auto vols = pool->ListVolumes();
    std::vector<VolumeId> round_snaps;
    for (auto& vi : vols) {
      if (vi.read_only && vi.created_ns > 0) round_snaps.push_back(vi.id);
    }
    ASSERT_GE(round_snaps.size(), snaps.size());
    for (size_t j = 0; j < snaps.size(); ++j) {
      VolumeId sid = round_snaps[round_snaps.size() - snaps.size() + j];
      for (uint64_t b = 0; b < kBlocks; b += 7) {
        ASSERT_OK(pool->Read(sid, b * 4096, buf));
        uint64_t i;
        std::memcpy(&i, buf.data(), 8);
        ASSERT_EQ(i, snaps[j][b]) << "snapshot " << sid << " block " << b;
      }
    }
    // Drop this round's snapshots so the next round starts from a single disk.
    for (VolumeId sid : round_snaps) ASSERT_OK(pool->DeleteVolume(sid));
    CheckReport report;
    ASSERT_OK(pool->Check(true, &report));
    ASSERT_TRUE(report.clean()) << report.errors[0];
    ASSERT_OK(pool->Close());
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace vmstore::testing
