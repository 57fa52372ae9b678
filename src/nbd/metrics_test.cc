#include "nbd/metrics.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

namespace vmstore::nbd {
namespace {

TEST(ExportMetricsTest, LatencyFallsInTheFirstBucketThatHoldsIt) {
  EXPECT_EQ(LatencyBucket(0), 0u);
  EXPECT_EQ(LatencyBucket(25000), 0u);  // le=25us includes 25us
  EXPECT_EQ(LatencyBucket(25001), 1u);
  EXPECT_EQ(LatencyBucket(1000000), 5u);                                // 1 ms
  EXPECT_EQ(LatencyBucket(10000000000ull), kLatencyBounds.size() - 1);  // 10 s
  EXPECT_EQ(LatencyBucket(10000000001ull), kLatencyBounds.size());      // +Inf
  EXPECT_EQ(LatencyBucket(UINT64_MAX), kLatencyBounds.size());
}

TEST(ExportMetricsTest, ConcurrentRecordsAllCount) {
  ExportMetricsRegistry reg;
  constexpr int kThreads = 4, kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&reg, t] {
      ExportMetrics* m = reg.For(t % 2 ? "a/disk" : "b/disk");
      m->Opened();
      for (int i = 0; i < kPerThread; ++i) {
        m->Record(i % 3 ? Op::kRead : Op::kWrite, 4096, static_cast<uint64_t>(i) * 1000, i % 100 == 0);
      }
      m->Closed();
    });
  }
  for (auto& t : threads) t.join();
  auto snap = reg.Snapshot();
  ASSERT_EQ(snap.size(), 2u);
  for (const auto& [name, s] : snap) {
    SCOPED_TRACE(name);
    EXPECT_EQ(s.connections, 2u);
    EXPECT_EQ(s.open_connections, 0u);
    const OpStats& r = s.ops[static_cast<int>(Op::kRead)];
    const OpStats& w = s.ops[static_cast<int>(Op::kWrite)];
    uint64_t reads = 0, writes = 0, errors = 0;
    for (int i = 0; i < kPerThread; ++i) {
      (i % 3 ? reads : writes) += 2;
      if (i % 100 == 0 && i % 3) errors += 2;
    }
    EXPECT_EQ(r.requests, reads);
    EXPECT_EQ(w.requests, writes);
    EXPECT_EQ(r.errors, errors);
    EXPECT_EQ(r.bytes, reads * 4096);
    uint64_t in_buckets = 0;
    for (uint64_t b : r.buckets) in_buckets += b;
    EXPECT_EQ(in_buckets, r.requests);
    EXPECT_EQ(s.ops[static_cast<int>(Op::kFlush)].requests, 0u);
  }
}

TEST(ExportMetricsTest, OpNamesAreDistinct) {
  std::set<std::string> names;
  for (int i = 0; i < kOpCount; ++i) names.insert(OpName(static_cast<Op>(i)));
  EXPECT_EQ(names.size(), static_cast<size_t>(kOpCount));
}

}  // namespace
}  // namespace vmstore::nbd
