// Snapshot operations in-process, through the Manager (catalog + native SR),
// against the number of snapshots N: the in-process half of bench/paper.sh.
//
// A disk of --size bytes filled with random data; snapshots are added one at
// a time, each followed by 16 scattered 4 KiB writes (as in paper.sh). After
// every snapshot a 2 MiB read at a random 64 KiB-aligned offset is timed (the
// VMStore article's test: read latency must not grow with the snapshots).
// After one untimed warm-up cycle, at each N in --counts, --cycles times: create a snapshot, clone a VM from it,
// delete that clone, roll back to the snapshot, delete the snapshot, each
// timed; the median per operation is recorded. Every figure is measured in
// this run.
//
// Usage: snapshot_ops_bench --pool DIR --size BYTES --counts 0,1,10,100
//                           --ops-csv FILE --read-csv FILE [--cycles 5]
// DIR must not exist (a pool is made there and left for inspection). Rows are
// appended to the CSV files: ops "vmstore_native,N,OP,inprocess,MS" and reads
// "vmstore_native,K,MICROSECONDS" (K = snapshots taken before the read).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "bench_util.h"
#include "vmstore/manager.h"
#include "vmstore/pool.h"

using namespace vmstore;
using vmstore::bench::Clock;
using vmstore::bench::Die;
using vmstore::bench::Median;

namespace {

struct Args {
  std::string pool, ops_csv, read_csv;
  uint64_t size = 1ull << 30;
  std::vector<int> counts;
  int cycles = 5;
};

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr,
               "snapshot_ops_bench: %s\nusage: snapshot_ops_bench --pool DIR --size BYTES --counts 0,1,10 "
               "--ops-csv FILE --read-csv FILE [--cycles N]\n",
               why);
  std::exit(2);
}

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (i + 1 >= argc) Usage(("missing value for " + k).c_str());
    std::string v = argv[++i];
    if (k == "--pool") {
      a.pool = v;
    } else if (k == "--size") {
      a.size = std::strtoull(v.c_str(), nullptr, 10);
    } else if (k == "--counts") {
      std::stringstream ss(v);
      for (std::string n; std::getline(ss, n, ',');) a.counts.push_back(std::atoi(n.c_str()));
    } else if (k == "--ops-csv") {
      a.ops_csv = v;
    } else if (k == "--read-csv") {
      a.read_csv = v;
    } else if (k == "--cycles") {
      a.cycles = std::atoi(v.c_str());
    } else {
      Usage(("unknown option " + k).c_str());
    }
  }
  if (a.pool.empty() || a.ops_csv.empty() || a.read_csv.empty() || a.counts.empty()) Usage("missing options");
  if (a.size < (64ull << 20) || a.size % (64 << 10) != 0) Usage("--size must be a multiple of 64 KiB, >= 64 MiB");
  if (a.cycles < 1) Usage("--cycles must be at least 1");
  return a;
}

template <typename T>
T Unwrap(StatusOr<T> v, const char* what) {
  Die(v.status(), what);
  return std::move(*v);
}

double MsSince(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

FILE* OpenAppend(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "a");
  if (f == nullptr) Die(ErrnoStatus(errno, "open " + path), "csv");
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = ParseArgs(argc, argv);
  std::unique_ptr<Manager> m = Unwrap(Manager::Create(a.pool, ManagerOptions{}), "create pool");
  Unwrap(m->CreateVm("p"), "create vm");
  Unwrap(m->CreateDisk("p", "d", a.size, ""), "create disk");
  DiskRef ref = Unwrap(m->Resolve("p/d"), "resolve");
  std::unique_ptr<backend::Device> dev = Unwrap(ref.backend->OpenDevice(ref.handle), "open");

  std::mt19937_64 rng(42);
  std::vector<char> buf(2 << 20);
  for (uint64_t off = 0; off < a.size; off += buf.size()) {
    for (char& c : buf) c = static_cast<char>(rng());
    Die(dev->Write(off, std::span<const char>(buf.data(), std::min<uint64_t>(buf.size(), a.size - off)), false),
        "fill");
  }
  Die(dev->Flush(), "flush");
  // Start from a committed pool with no checkpoint in flight and, after
  // sync(), nothing else's writeback (e.g. a large file written just before)
  // competes with the fsyncs being timed. One untimed cycle below keeps
  // first-use costs (catalog pages, code paths) out of the figures.
  // Closing the pool checkpoints it; the benchmark goes on with it reopened.
  dev.reset();
  Die(m->Close(), "close");
  m = Unwrap(Manager::Open(a.pool, ManagerOptions{}), "reopen pool");
  ref = Unwrap(m->Resolve("p/d"), "resolve");
  dev = Unwrap(ref.backend->OpenDevice(ref.handle), "open");
  ::sync();

  FILE* ops = OpenAppend(a.ops_csv);
  FILE* reads = OpenAppend(a.read_csv);
  const uint64_t clusters = a.size / (64 << 10);
  // One 2 MiB read at a random 64 KiB-aligned offset: its microseconds.
  auto read_2m = [&]() {
    uint64_t off = (rng() % (clusters - 32)) * (64 << 10);
    auto t0 = Clock::now();
    Die(dev->Read(off, std::span<char>(buf.data(), 2 << 20)), "read 2 MiB");
    return MsSince(t0) * 1000;
  };
  auto record_read = [&](int k) { std::fprintf(reads, "vmstore_native,%d,%.1f\n", k, read_2m()); };
  std::vector<char> small(4096);
  auto scatter = [&]() {
    for (int i = 0; i < 16; ++i) {
      for (char& c : small) c = static_cast<char>(rng());
      Die(dev->Write((rng() % (a.size / 4096)) * 4096, small, false), "scattered write");
    }
  };

  // One cycle on a new snapshot `name`: ms of create, clone, rollback, delete.
  struct Cycle {
    double create, clone, rollback, del;
  };
  auto cycle = [&](const std::string& name) {
    Cycle c;
    auto t0 = Clock::now();
    SnapshotInfo s = Unwrap(m->CreateSnapshot("p", name, ""), "create");
    c.create = MsSince(t0);
    const std::string full = "p@" + s.full_name;
    t0 = Clock::now();
    Unwrap(m->CloneVm(full, "c"), "clone");
    c.clone = MsSince(t0);
    Unwrap(m->DeleteVm("c", true, false), "delete clone");
    t0 = Clock::now();
    Die(m->Rollback(full), "rollback");
    c.rollback = MsSince(t0);
    t0 = Clock::now();
    Unwrap(m->DeleteSnapshot(full, false, false), "delete");
    c.del = MsSince(t0);
    return c;
  };

  (void)cycle("warmup");
  std::printf("%-10s %12s %12s %12s %12s %14s\n", "snapshots", "create ms", "clone ms", "rollback ms", "delete ms",
              "2 MiB read us");
  record_read(0);
  int have = 0;
  for (int n : a.counts) {
    while (have < n) {
      Unwrap(m->CreateSnapshot("p", "s" + std::to_string(have), ""), "snapshot");
      ++have;
      scatter();
      record_read(have);
    }
    std::vector<double> create, clone, rollback, del;
    for (int i = 0; i < a.cycles; ++i) {
      const Cycle c = cycle("x" + std::to_string(n) + "_" + std::to_string(i));
      create.push_back(c.create);
      clone.push_back(c.clone);
      rollback.push_back(c.rollback);
      del.push_back(c.del);
    }
    const double row[] = {Median(create), Median(clone), Median(rollback), Median(del)};
    const char* names[] = {"create", "clone", "rollback", "delete"};
    for (int i = 0; i < 4; ++i) std::fprintf(ops, "vmstore_native,%d,%s,inprocess,%.3f\n", n, names[i], row[i]);
    // The table's read figure: one more 2 MiB read at this N (every read is in the CSV).
    std::printf("%-10d %12.3f %12.3f %12.3f %12.3f %14.1f\n", n, row[0], row[1], row[2], row[3], read_2m());
    std::fflush(stdout);
  }
  dev.reset();
  Die(m->Close(), "close");
  std::fclose(ops);
  std::fclose(reads);
  return 0;
}
