#include "catalog/naming.h"

#include <gtest/gtest.h>

#include <random>

namespace vmstore::catalog {
namespace {

TEST(NamingTest, PaperExampleFullName) {
  EXPECT_EQ(FullSnapshotName("snapshot_1", 1392778364LL * 1000000000 + 123456789), "snapshot_1_20140219T02:52:44");
  auto split = SplitFullName("snapshot_1_20140219T02:52:44");
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  EXPECT_EQ(split->first, "snapshot_1");
  EXPECT_EQ(split->second, 1392778364);
}

TEST(NamingTest, NamesOutsideTheRuleAreRefusedWithTheRule) {
  for (const char* bad : {"", "has space", "dash-name", "dot.name", "slash/x", "../etc", "semi;colon", "naïve"}) {
    Status s = ValidateSnapshotName(bad);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("use 1-64 letters, digits or underscores"), std::string::npos) << s.message();
  }
  EXPECT_EQ(ValidateSnapshotName(std::string(65, 'a')).code(), Code::kInvalidArgument);
  EXPECT_EQ(ValidateSnapshotName(std::string("nul\0x", 5)).code(), Code::kInvalidArgument);
  EXPECT_TRUE(ValidateSnapshotName(std::string(64, 'a')).ok());
  EXPECT_TRUE(ValidateSnapshotName("Daily_2").ok());
}

TEST(NamingTest, ParseTimeAcceptsBothFormsAndRefusesImpossibleDates) {
  EXPECT_EQ(*ParseTimeTag("19700101T00:00:00"), 0);
  EXPECT_EQ(*ParseTimeTag("2014-02-19T02:52:44Z"), 1392778364);
  EXPECT_EQ(*ParseTimeTag("20000229T12:00:00"), 951825600);
  for (const char* bad : {"20010229T00:00:00", "20141301T00:00:00", "20140132T00:00:00", "20140101T24:00:00",
                          "2014010T00:00:00", "20140101 00:00:00", "yesterday"}) {
    EXPECT_EQ(ParseTimeTag(bad).status().code(), Code::kInvalidArgument) << bad;
  }
  EXPECT_EQ(SplitFullName("snap_2014").status().code(), Code::kInvalidArgument);
}

TEST(NamingTest, TimeTagRoundTripsForRandomTimes) {
  std::mt19937_64 rng(11);  // seed printed by the trace on failure
  for (int i = 0; i < 10000; ++i) {
    int64_t secs = static_cast<int64_t>(rng() % 4102444800ULL);  // 1970 .. 2100
    std::string tag = TimeTag(secs * 1000000000);
    auto back = ParseTimeTag(tag);
    ASSERT_TRUE(back.ok()) << "seed=11 " << tag;
    ASSERT_EQ(*back, secs) << "seed=11 " << tag;
  }
}

}  // namespace
}  // namespace vmstore::catalog
