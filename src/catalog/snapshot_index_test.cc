// Randomized test of the binary-search index against its linear scans.
#include "catalog/snapshot_index.h"

#include <gtest/gtest.h>

#include <random>

#include "catalog/naming.h"

namespace vmstore::catalog {
namespace {

TEST(SnapshotIndexTest, BinarySearchAgreesWithLinearScan) {
  for (uint64_t seed : {1, 2, 3}) {
    SCOPED_TRACE("seed=" + std::to_string(seed));
    std::mt19937_64 rng(seed);
    SnapshotIndex idx;
    std::vector<std::string> names;
    int64_t t = 1392778364LL * 1000000000;
    uint64_t id = 1;
    for (int step = 0; step < 3000; ++step) {
      int op = static_cast<int>(rng() % 10);
      if (op < 6 || names.empty()) {
        // Mostly increasing times, sometimes several in one second, sometimes out of order.
        int64_t when = rng() % 8 == 0 ? t - static_cast<int64_t>(rng() % 100) * 1000000000 : (t += rng() % 3000000000);
        std::string full = FullSnapshotName("s" + std::to_string(rng() % 5), when);
        Status s = idx.Add({when, full, id++});
        if (s.ok()) {
          names.push_back(full);
        } else {
          ASSERT_EQ(s.code(), Code::kAlreadyExists);
          ASSERT_NE(idx.LinearFindByFullName(full), nullptr);
        }
      } else if (op < 7) {
        size_t i = rng() % names.size();
        ASSERT_TRUE(idx.Remove(names[i]).ok());
        names.erase(names.begin() + i);
      } else if (op < 9) {
        int64_t q = t - static_cast<int64_t>(rng() % 200) * 1000000000 + static_cast<int64_t>(rng() % 1000000000);
        ASSERT_EQ(idx.FindAt(q), idx.LinearFindAt(q)) << "at " << q;
      } else {
        const std::string& n = names[rng() % names.size()];
        ASSERT_EQ(idx.FindByFullName(n), idx.LinearFindByFullName(n));
        ASSERT_NE(idx.FindByFullName(n), nullptr);
        std::string prefix = n.substr(0, 1 + rng() % n.size());
        size_t expect = 0;
        for (const auto& e : idx.by_time()) expect += e.full_name.rfind(prefix, 0) == 0;
        ASSERT_EQ(idx.FindByPrefix(prefix).size(), expect) << prefix;
      }
      ASSERT_EQ(idx.size(), names.size());
    }
    ASSERT_TRUE(std::is_sorted(idx.by_time().begin(), idx.by_time().end(),
                               [](const auto& a, const auto& b) { return a.created_ns < b.created_ns; }));
  }
}

TEST(SnapshotIndexTest, UnknownAndMalformedNamesAreNotFound) {
  SnapshotIndex idx;
  ASSERT_TRUE(idx.Add({5'000'000'000, FullSnapshotName("a", 5'000'000'000), 1}).ok());
  EXPECT_EQ(idx.FindByFullName("a"), nullptr);
  EXPECT_EQ(idx.FindByFullName("b_19700101T00:00:05"), nullptr);
  EXPECT_NE(idx.FindByFullName("a_19700101T00:00:05"), nullptr);
  EXPECT_EQ(idx.FindAt(4'999'999'999), nullptr);
  EXPECT_EQ(idx.Remove("zzz").code(), Code::kNotFound);
  Status dup = idx.Build({{1, "x_19700101T00:00:00", 1}, {2, "x_19700101T00:00:00", 2}});
  EXPECT_EQ(dup.code(), Code::kAlreadyExists);
}

}  // namespace
}  // namespace vmstore::catalog
