// Write cost against the number of snapshots, split into its two parts: the
// write path (log append + in-memory copy-on-write) and the checkpoint that
// writes the data into the containers.
//
// One pool per subject, each with 512 MiB (--span) written on a 10 GiB volume
// and the same history of 16,000 scattered 4 KiB writes; the pools with
// snapshots (100, 1,000) take one before every 16 of those writes. Three
// controls have no snapshots when measured (see main()). Then every cluster is
// rewritten once (the steady state: nothing the next writes touch is shared),
// and the pools are measured in interleaved rounds, the order rotating each
// round, so drift on a shared machine (page-cache writeback, neighbours) falls
// on every pool alike instead of on whichever is measured last. A round is
// 4,000 random 4 KiB writes and the checkpoint that puts them into the
// containers; figures are the median round, in microseconds per write.
//
// Usage: write_cost_bench [--dir DIR] [--rounds N] [--span MiB]
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "vmstore/pool.h"

using namespace vmstore;
using vmstore::bench::Clock;
using vmstore::bench::Die;
using vmstore::bench::Median;

namespace {

uint64_t kSpan = 512ull << 20;  // --span MiB
constexpr int kWritesPerRound = 4000;

struct Subject {
  std::string label;
  int snapshots = 0;         // taken during the history
  bool delete_them = false;  // ... and deleted before measuring
  uint64_t ballast = 0;      // bytes of another volume written first
  std::unique_ptr<Pool> pool;
  VolumeId vol = 0;
  std::mt19937_64 rng{7};
  std::vector<double> path_us, ckpt_us;  // per write, one entry per round
};

void Prepare(Subject* s, const std::string& dir) {
  std::filesystem::remove_all(dir);
  PoolOptions o;
  o.max_dirty_bytes = 8ull << 30;  // checkpoints only where this benchmark calls them
  o.max_wal_bytes = 8ull << 30;
  auto pool = Pool::Create(dir, o);
  Die(pool.status(), "create");
  s->pool = std::move(pool).value();
  auto vol = s->pool->CreateVolume(10ull << 30);
  Die(vol.status(), "volume");
  s->vol = *vol;
  std::string mb(1 << 20, 'x');
  if (s->ballast) {
    auto other = s->pool->CreateVolume(10ull << 30);
    Die(other.status(), "volume");
    for (uint64_t off = 0; off < s->ballast; off += mb.size()) Die(s->pool->Write(*other, off, mb), "ballast");
  }
  for (uint64_t off = 0; off < kSpan; off += mb.size()) Die(s->pool->Write(s->vol, off, mb), "fill");
  // The same 16,000 scattered writes in every pool; snapshots in between where asked.
  std::mt19937_64 scatter(1);
  std::string b(4096, 's');
  for (int i = 0; i < 1000; ++i) {
    if (i < s->snapshots) Die(s->pool->Snapshot(s->vol).status(), "snapshot");
    for (int k = 0; k < 16; ++k) Die(s->pool->Write(s->vol, (scatter() % (kSpan / 4096)) * 4096, b), "scatter");
    if (i % 250 == 249) Die(s->pool->Checkpoint(), "checkpoint");
  }
  for (uint64_t off = 0; off < kSpan; off += 65536) Die(s->pool->Write(s->vol, off, b), "diverge");
  if (s->delete_them) {
    for (const VolumeInfo& v : s->pool->ListVolumes()) {
      if (v.read_only) Die(s->pool->DeleteVolume(v.id), "delete snapshot");
    }
  }
  Die(s->pool->Checkpoint(), "checkpoint");
}

void Round(Subject* s) {
  std::string b(4096, 'w');
  ::sync();  // no dirty page cache left over from the previous subject
  auto t0 = Clock::now();
  for (int k = 0; k < kWritesPerRound; ++k) {
    b[0] = static_cast<char>(k);
    Die(s->pool->Write(s->vol, (s->rng() % (kSpan / 4096)) * 4096, b), "write");
  }
  double tw = vmstore::bench::SecondsSince(t0);
  t0 = Clock::now();
  Die(s->pool->Checkpoint(), "checkpoint");
  double tc = vmstore::bench::SecondsSince(t0);
  s->path_us.push_back(tw / kWritesPerRound * 1e6);
  s->ckpt_us.push_back(tc / kWritesPerRound * 1e6);
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/var/tmp/vmstore-wcost-" + std::to_string(getpid());
  int rounds = 9;
  for (int i = 1; i + 1 < argc; ++i) {
    if (!std::strcmp(argv[i], "--dir")) dir = argv[i + 1];
    if (!std::strcmp(argv[i], "--rounds")) rounds = std::max(1, std::atoi(argv[i + 1]));
    if (!std::strcmp(argv[i], "--span")) kSpan = std::max(64ull, std::strtoull(argv[i + 1], nullptr, 10)) << 20;
  }
  std::filesystem::create_directories(dir);
  // Where a volume's containers lie in the pool's history changes what the
  // file system charges for syncing in-place patches (see BENCHMARKS.md), so
  // two controls with no snapshots put the data where the 1,000-snapshot pool
  // has it: one with the same history and the snapshots deleted, one after as
  // much data of another volume as the snapshot pool keeps before it.
  std::vector<Subject> subjects(5);
  auto set = [&](size_t i, const char* label, int snapshots, bool delete_them, uint64_t ballast) {
    subjects[i].label = label;
    subjects[i].snapshots = snapshots;
    subjects[i].delete_them = delete_them;
    subjects[i].ballast = ballast;
  };
  set(0, "0 (first data)", 0, false, 0);
  set(1, "0 (1000 deleted)", 1000, true, 0);
  set(2, "0 (placed later)", 0, false, kSpan + (1000ull * 16 << 16));
  set(3, "100", 100, false, 0);
  set(4, "1000", 1000, false, 0);
  for (size_t i = 0; i < subjects.size(); ++i) Prepare(&subjects[i], dir + "/" + std::to_string(i));
  for (int r = 0; r < rounds; ++r) {
    for (size_t k = 0; k < subjects.size(); ++k) Round(&subjects[(r + k) % subjects.size()]);
  }
  std::printf("%-18s %14s %14s %10s\n", "snapshots", "write path us", "checkpoint us", "IOPS");
  std::vector<double> iops;
  for (Subject& s : subjects) {
    std::vector<double> total;
    for (size_t i = 0; i < s.path_us.size(); ++i) total.push_back(s.path_us[i] + s.ckpt_us[i]);
    iops.push_back(1e6 / Median(total));
    std::printf("%-18s %14.2f %14.2f %10.0f\n", s.label.c_str(), Median(s.path_us), Median(s.ckpt_us), iops.back());
    Die(s.pool->Close(), "close");
    s.pool.reset();
  }
  std::printf("ratio IOPS 1000 / 0 (first data in the pool): %.3f\n", iops[4] / iops[0]);
  std::printf("ratio IOPS 1000 / 0 (same history, deleted):  %.3f\n", iops[4] / iops[1]);
  std::printf("ratio IOPS 1000 / 0 (placed later):           %.3f  (median of %d interleaved rounds each)\n",
              iops[4] / iops[2], rounds);
  std::filesystem::remove_all(dir);
  return 0;
}
