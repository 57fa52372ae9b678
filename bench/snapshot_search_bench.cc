// Snapshot lookup against the number of snapshots, up to 1,000,000: binary
// search (snapshot paper, Algorithm 1) against a linear scan, by full name and
// by time. Prints p50/p99 in microseconds and the speed-up, measured in this run.
#include <algorithm>
#include <chrono>
#include <cstdio>
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

int main() {
  std::printf("%-10s %-8s %12s %12s %14s %14s %10s\n", "snapshots", "by", "bsearch p50", "bsearch p99", "linear p50",
              "linear p99", "speed-up");
  for (int n : {1000, 10000, 100000, 1000000}) {
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
    std::printf("%-10d %-8s %12.2f %12.2f %14.1f %14.1f %9.0fx\n", n, "name", bn.first, bn.second, ln.first, ln.second,
                ln.first / bn.first);
    auto bt = Time(20000, [&](int i) { sink = idx.FindAt(v[rng() % n].created_ns + 1); });
    auto lt = Time(q, [&](int i) { sink = idx.LinearFindAt(v[rng() % n].created_ns + 1); });
    std::printf("%-10d %-8s %12.2f %12.2f %14.1f %14.1f %9.0fx\n", n, "time", bt.first, bt.second, lt.first, lt.second,
                lt.first / bt.first);
    (void)sink;
  }
  return 0;
}
