// Snapshot lookup against the number of snapshots, up to 1,000,000: binary
// search (snapshot paper, Algorithm 1) against a linear scan, by full name and
// by time. Prints p50/p99 in microseconds and the speed-up, measured in this run.
//
// Usage: snapshot_search_bench [--csv FILE]   (FILE: rows appended as
//        "snapshots,by,bsearch_p50_us,bsearch_p99_us,linear_p50_us,linear_p99_us")
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "catalog/naming.h"
#include "catalog/snapshot_index.h"

using namespace vmstore::catalog;
using Clock = std::chrono::steady_clock;

template <typename F>
static std::pair<double, double> Time(int n, F f) {
  std::vector<double> us;
  for (int i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    f(i);
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[us.size() * 99 / 100]};
}

int main(int argc, char** argv) {
  FILE* csv = nullptr;
  if (argc == 3 && std::strcmp(argv[1], "--csv") == 0) {
    csv = std::fopen(argv[2], "a");
    if (csv == nullptr) {
      std::perror(argv[2]);
      return 1;
    }
  } else if (argc != 1) {
    std::fprintf(stderr, "usage: snapshot_search_bench [--csv FILE]\n");
    return 2;
  }
  auto row = [&](int n, const char* by, std::pair<double, double> b, std::pair<double, double> l) {
    std::printf("%-10d %-8s %12.2f %12.2f %14.1f %14.1f %9.0fx\n", n, by, b.first, b.second, l.first, l.second,
                l.first / b.first);
    if (csv) std::fprintf(csv, "%d,%s,%.3f,%.3f,%.3f,%.3f\n", n, by, b.first, b.second, l.first, l.second);
  };
  std::printf("%-10s %-8s %12s %12s %14s %14s %10s\n", "snapshots", "by", "bsearch p50", "bsearch p99", "linear p50",
              "linear p99", "speed-up");
  for (int n : {10, 100, 1000, 10000, 100000, 1000000}) {
    std::vector<SnapshotEntry> v;
    v.reserve(n);
    int64_t t = 1392778364LL * 1000000000;
    std::mt19937_64 rng(n);
    for (int i = 0; i < n; ++i) {
      t += 1000000000 + static_cast<int64_t>(rng() % 60000000000LL);
      v.push_back({t, FullSnapshotName("snapshot_" + std::to_string(i % 7), t), static_cast<uint64_t>(i + 1)});
    }
    SnapshotIndex idx;
    if (!idx.Build(v).ok()) return 1;
    const int q = n >= 100000 ? 200 : 2000;  // the linear scan is slow at a million
    volatile const SnapshotEntry* sink = nullptr;
    auto bn = Time(20000, [&](int i) { sink = idx.FindByFullName(v[rng() % n].full_name); });
    auto ln = Time(q, [&](int i) { sink = idx.LinearFindByFullName(v[rng() % n].full_name); });
    row(n, "name", bn, ln);
    auto bt = Time(20000, [&](int i) { sink = idx.FindAt(v[rng() % n].created_ns + 1); });
    auto lt = Time(q, [&](int i) { sink = idx.LinearFindAt(v[rng() % n].created_ns + 1); });
    row(n, "time", bt, lt);
    (void)sink;
  }
  if (csv && std::fclose(csv) != 0) return 1;
  return 0;
}
