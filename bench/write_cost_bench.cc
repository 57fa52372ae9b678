// Write cost against the number of snapshots, split into its two parts: the
// write path (log append + in-memory copy-on-write) and the checkpoint that
// writes the data into the containers. Checkpoints run at fixed points (every
// 4,000 writes) so every phase does the same work; figures are microseconds of
// wall time per 4 KiB random write over 512 MiB of a 10 GiB volume, after every
// cluster has been written since the newest snapshot (steady state).
//
// Usage: write_cost_bench [--dir DIR]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>

#include "bench_util.h"
#include "vmstore/pool.h"

using namespace vmstore;
using vmstore::bench::Clock;
using vmstore::bench::Die;

int main(int argc, char** argv) {
  std::string dir = "/var/tmp/vmstore-wcost-" + std::to_string(getpid());
  for (int i = 1; i + 1 < argc; ++i) {
    if (!std::strcmp(argv[i], "--dir")) dir = argv[i + 1];
  }
  std::filesystem::remove_all(dir);
  PoolOptions o;
  o.max_dirty_bytes = 8ull << 30;  // checkpoints only where this benchmark calls them
  o.max_wal_bytes = 8ull << 30;
  auto pool_or = Pool::Create(dir, o);
  Die(pool_or.status(), "create");
  auto pool = std::move(pool_or).value();
  const uint64_t span = 512ull << 20;
  auto vol = pool->CreateVolume(10ull << 30);
  Die(vol.status(), "volume");
  VolumeId v = *vol;
  std::string mb(1 << 20, 'x');
  for (uint64_t off = 0; off < span; off += mb.size()) Die(pool->Write(v, off, mb), "fill");
  Die(pool->Checkpoint(), "checkpoint");
  std::mt19937_64 rng(1);
  std::string b(4096, 'w');
  std::printf("%-12s %16s %16s %12s\n", "snapshots", "write path us", "checkpoint us", "IOPS");
  auto phase = [&](int snapshots) {
    for (uint64_t off = 0; off < span; off += 65536) Die(pool->Write(v, off, b), "diverge");
    Die(pool->Checkpoint(), "checkpoint");
    ::sync();
    double tw = 0, tc = 0;
    int n = 0;
    for (int round = 0; round < 6; ++round) {
      auto t0 = Clock::now();
      for (int k = 0; k < 4000; ++k, ++n) Die(pool->Write(v, (rng() % (span / 4096)) * 4096, b), "write");
      tw += vmstore::bench::SecondsSince(t0);
      t0 = Clock::now();
      Die(pool->Checkpoint(), "checkpoint");
      tc += vmstore::bench::SecondsSince(t0);
    }
    std::printf("%-12d %16.2f %16.2f %12.0f\n", snapshots, tw / n * 1e6, tc / n * 1e6, n / (tw + tc));
    return n / (tw + tc);
  };
  double base = phase(0);
  int have = 0;
  double last = base;
  for (int target : {10, 100, 1000}) {
    while (have < target) {
      Die(pool->Snapshot(v).status(), "snapshot");
      ++have;
      for (int k = 0; k < 16; ++k) Die(pool->Write(v, (rng() % (span / 4096)) * 4096, b), "scatter");
    }
    last = phase(have);
  }
  std::printf("ratio IOPS 1000/0: %.3f\n", last / base);
  Die(pool->Close(), "close");
  pool.reset();
  std::filesystem::remove_all(dir);
  return 0;
}
