// In-process engine benchmark (issue: chain-free volume engine).
//
// On a 10 GiB volume in a pool on the local file system:
//  1. snapshot creation p50/p99 with 0, 1,000 and 10,000 existing snapshots,
//     with the log fsync (the default) and without it;
//  2. 4 KiB random read and write IOPS with 0 and with 1,000 snapshots (each
//     snapshot followed by 16 scattered 4 KiB writes), and their ratio.
// Every figure is measured in this run; nothing is typed in.
//
// Usage: engine_bench [--dir DIR] [--quick]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
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

struct SnapFigures {
  double p50, p99;
};

// Takes `n` snapshots of `v`, timing each.
static SnapFigures TimeSnapshots(Pool& pool, VolumeId v, int n) {
  std::vector<double> us;
  for (int i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    auto id = pool.Snapshot(v);
    auto t1 = Clock::now();
    Die(id.status(), "snapshot");
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  return {vmstore::bench::Percentile(us, 0.5), vmstore::bench::Percentile(us, 0.99)};
}

struct IoFigures {
  double read_iops, write_iops;
};

// One pool measured for I/O: a 10 GiB volume with `span` bytes written, then a
// history of scattered 4 KiB writes (the same in every subject) with a snapshot
// before each batch of 16 where `snapshots` asks for them.
struct Subject {
  std::string label;
  std::unique_ptr<Pool> pool;
  VolumeId vol = 0;
  std::mt19937_64 rng;
  std::vector<double> read_iops, write_iops;  // one entry per round
};

static void Fill(Pool& pool, VolumeId v, uint64_t span) {
  std::string mb(1 << 20, '\0');
  std::mt19937_64 fill(1);
  for (uint64_t off = 0; off < span; off += mb.size()) {
    for (size_t i = 0; i < mb.size(); i += 8) {
      uint64_t x = fill();
      std::memcpy(&mb[i], &x, 8);
    }
    Die(pool.Write(v, off, mb), "fill");
  }
  Die(pool.Checkpoint(), "checkpoint");
}

// `batches` batches of 16 scattered writes, each preceded by a snapshot when
// `snapshot` is set; the write offsets depend only on `seed`.
static void History(Pool& pool, VolumeId v, uint64_t span, int batches, bool snapshot, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string small(4096, 's');
  for (int i = 0; i < batches; ++i) {
    if (snapshot) Die(pool.Snapshot(v).status(), "snapshot");
    for (int k = 0; k < 16; ++k) Die(pool.Write(v, (rng() % (span / 4096)) * 4096, small), "scatter");
  }
}

// Rewrites one unit of every cluster, so none is shared any more (the steady
// state of a disk that keeps many old snapshots).
static void Diverge(Pool& pool, VolumeId v, uint64_t span) {
  std::string buf(4096, 'd');
  for (uint64_t off = 0; off < span; off += 65536) Die(pool.Write(v, off, buf), "diverge");
  Die(pool.Checkpoint(), "checkpoint");
}

// Random 4 KiB reads for `seconds`; returns IOPS.
static double ReadPass(Subject& s, uint64_t span, double seconds) {
  std::string buf(4096, '\0');
  uint64_t n = 0;
  double el = 0;
  auto t0 = Clock::now();
  while ((el = vmstore::bench::SecondsSince(t0)) < seconds) {
    for (int k = 0; k < 256; ++k, ++n) Die(s.pool->Read(s.vol, (s.rng() % (span / 4096)) * 4096, buf), "read");
  }
  return n / el;
}

// `count` random 4 KiB writes timed through the flush and the checkpoint that
// makes them durable in the containers, so every pass does the same work.
static double WritePass(Subject& s, uint64_t span, uint64_t count) {
  std::string buf(4096, 'w');
  // No dirty page cache left by earlier passes: kernel writeback throttling
  // otherwise penalises whichever pass runs later.
  ::sync();
  auto t0 = Clock::now();
  for (uint64_t n = 0; n < count; ++n) {
    buf[0] = static_cast<char>(n);
    Die(s.pool->Write(s.vol, (s.rng() % (span / 4096)) * 4096, buf), "write");
  }
  Die(s.pool->Flush(), "flush");
  Die(s.pool->Checkpoint(), "checkpoint");
  return count / vmstore::bench::SecondsSince(t0);
}

// Interleaved rounds over the subjects, the order rotating each round, so
// drift on a shared machine falls on all of them alike.
static void MeasureInterleaved(std::vector<Subject*> subjects, uint64_t span, int rounds, double read_secs,
                               uint64_t writes) {
  for (int r = 0; r < rounds; ++r) {
    for (size_t k = 0; k < subjects.size(); ++k) {
      Subject& s = *subjects[(r + k) % subjects.size()];
      s.read_iops.push_back(ReadPass(s, span, read_secs));
      s.write_iops.push_back(WritePass(s, span, writes));
    }
  }
}

int main(int argc, char** argv) {
  std::string dir = "/var/tmp/vmstore-bench-" + std::to_string(getpid());
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--dir") && i + 1 < argc)
      dir = argv[++i];
    else if (!std::strcmp(argv[i], "--quick"))
      quick = true;
  }
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const uint64_t kSize = 10ull << 30;
  const uint64_t span = quick ? (512ull << 20) : (2ull << 30);  // data written and exercised
  const int rounds = quick ? 3 : 5;
  const double read_secs = quick ? 0.3 : 1;
  const uint64_t writes = quick ? 6000 : 15000;

  PoolOptions o;
  auto open_subject = [&](Subject* s, const std::string& label, uint64_t seed, uint64_t ballast) {
    s->label = label;
    s->rng.seed(seed);
    auto pool = Pool::Create(dir + "/" + label, o);
    Die(pool.status(), "create pool");
    s->pool = std::move(pool).value();
    if (ballast) {
      auto other = s->pool->CreateVolume(kSize);
      Die(other.status(), "create volume");
      Fill(*s->pool, *other, ballast);
    }
    auto vol = s->pool->CreateVolume(kSize);
    Die(vol.status(), "create volume");
    s->vol = *vol;
    Fill(*s->pool, s->vol, span);
  };
  std::printf("# engine_bench: 10 GiB volume, %llu MiB written, cluster %u KiB, dir %s\n",
              (unsigned long long)(span >> 20), o.cluster_size / 1024, dir.c_str());

  // Pools with the same history of writes; one keeps a snapshot before every
  // batch of 16 scattered writes (snapshot creation is timed on the way). Where
  // a volume's containers lie in the pool's history changes what the file
  // system charges for syncing in-place patches (BENCHMARKS.md), so the
  // reference without snapshots has its data after as much older data as the
  // snapshot pool keeps before its live data (the fill and the copies the
  // snapshots hold); a second one, the first data of its pool, is shown too.
  Subject first, none, many;
  open_subject(&first, "first", 11, 0);
  History(*first.pool, first.vol, span, 800, false, 3);
  Diverge(*first.pool, first.vol, span);
  open_subject(&none, "0", 11, span + 800ull * 16 * 65536);
  History(*none.pool, none.vol, span, 800, false, 3);
  Diverge(*none.pool, none.vol, span);

  open_subject(&many, "1000", 11, 0);
  std::printf("\nsnapshot creation (in-process)\n%-22s %10s %10s\n", "existing snapshots", "p50 us", "p99 us");
  SnapFigures s0 = TimeSnapshots(*many.pool, many.vol, 200);
  std::printf("%-22s %10.1f %10.1f   (with log fsync)\n", "0", s0.p50, s0.p99);
  History(*many.pool, many.vol, span, 800, true, 3);
  SnapFigures s1k = TimeSnapshots(*many.pool, many.vol, 200);
  int have = 1200;
  std::printf("%-22s %10.1f %10.1f   (with log fsync)\n", "1000", s1k.p50, s1k.p99);
  Diverge(*many.pool, many.vol, span);

  // Steady state, interleaved; a short warm-up pass first fills the caches.
  ReadPass(first, span, read_secs);
  ReadPass(none, span, read_secs);
  ReadPass(many, span, read_secs);
  MeasureInterleaved({&first, &none, &many}, span, rounds, read_secs, writes);
  IoFigures io_first{Median(first.read_iops), Median(first.write_iops)};
  Die(first.pool->Close(), "close");
  first.pool.reset();
  std::filesystem::remove_all(dir + "/first");
  IoFigures io0{Median(none.read_iops), Median(none.write_iops)};
  IoFigures io1k_steady{Median(many.read_iops), Median(many.write_iops)};

  // Right after a snapshot: the first write to each cluster copies it. One
  // pass each, since only the first pays the copy being measured.
  Die(none.pool->Snapshot(none.vol).status(), "snapshot");
  Die(many.pool->Snapshot(many.vol).status(), "snapshot");
  ++have;
  IoFigures io1{ReadPass(none, span, read_secs), WritePass(none, span, writes)};
  IoFigures io1k{ReadPass(many, span, read_secs), WritePass(many, span, writes)};
  Die(none.pool->Close(), "close");
  none.pool.reset();
  std::filesystem::remove_all(dir + "/0");

  const int target = quick ? 2000 : 10000;
  std::mt19937_64 rng(5);
  std::string small(4096, 's');
  while (have < target) {
    Die(many.pool->Snapshot(many.vol).status(), "snapshot");
    ++have;
    if (have % 10 == 0) Die(many.pool->Write(many.vol, (rng() % (span / 4096)) * 4096, small), "scatter");
  }
  SnapFigures s10k = TimeSnapshots(*many.pool, many.vol, 200);
  have += 200;
  std::printf("%-22s %10.1f %10.1f   (with log fsync)\n", std::to_string(target).c_str(), s10k.p50, s10k.p99);
  Die(many.pool->Close(), "close");
  many.pool.reset();

  // Without fsync: the same pool reopened with metadata sync off.
  o.sync_metadata_ops = false;
  auto pool_or = Pool::Open(dir + "/1000", o);
  Die(pool_or.status(), "reopen");
  auto pool = std::move(pool_or).value();
  SnapFigures sn = TimeSnapshots(*pool, many.vol, 1000);
  std::printf("%-22s %10.1f %10.1f   (no fsync; durable at next flush)\n", std::to_string(have).c_str(), sn.p50,
              sn.p99);

  std::printf(
      "\n4 KiB random I/O over %llu MiB (single thread, in-process; steady state: median of %d interleaved "
      "rounds)\n%-28s %12s %12s\n",
      (unsigned long long)(span >> 20), rounds, "snapshots", "read IOPS", "write IOPS");
  std::printf("%-28s %12.0f %12.0f\n", "0 (first data in its pool)", io_first.read_iops, io_first.write_iops);
  std::printf("%-28s %12.0f %12.0f\n", "0", io0.read_iops, io0.write_iops);
  std::printf("%-28s %12.0f %12.0f\n", "1000 (steady state)", io1k_steady.read_iops, io1k_steady.write_iops);
  std::printf("%-28s %12.0f %12.0f\n", "1 (taken just before)", io1.read_iops, io1.write_iops);
  std::printf("%-28s %12.0f %12.0f\n", "1000 (newest just before)", io1k.read_iops, io1k.write_iops);
  std::printf("ratio 1000/0 steady state:      read %.3f, write %.3f\n", io1k_steady.read_iops / io0.read_iops,
              io1k_steady.write_iops / io0.write_iops);
  std::printf("ratio 1000/1 after a snapshot:  read %.3f, write %.3f  (first writes copy shared clusters)\n",
              io1k.read_iops / io1.read_iops, io1k.write_iops / io1.write_iops);
  auto st = pool->Stats();
  if (st.ok()) {
    std::printf("\npool with snapshots: %llu volumes, live %.1f MiB, physical %.1f MiB\n",
                (unsigned long long)st->volumes, st->live_bytes / 1048576.0, st->physical_bytes / 1048576.0);
  }
  Die(pool->Close(), "close");
  pool.reset();
  std::filesystem::remove_all(dir);
  return 0;
}
