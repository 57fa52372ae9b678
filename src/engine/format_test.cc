#include "engine/format.h"

#include <gtest/gtest.h>

#include <cstring>

namespace vmstore::internal {
namespace {

TEST(FormatTest, AddressesSplit33And31Bits) {
  uint64_t a = MakeAddr(kMaxContainer, kIndexMask);
  EXPECT_EQ(a, UINT64_MAX);
  EXPECT_EQ(ContainerOf(MakeAddr(5, 7)), 5u);
  EXPECT_EQ(IndexOf(MakeAddr(5, 7)), 7u);
  EXPECT_FALSE(IsReal(kHoleAddr));
  EXPECT_FALSE(IsReal(kZeroAddr));
  EXPECT_TRUE(IsReal(MakeAddr(1, 0)));
}

TEST(FormatTest, SuperblockRoundTripsAndDetectsDamage) {
  Superblock sb;
  sb.cluster_size = 65536;
  sb.container_units = 16384;
  sb.generation = 42;
  sb.cursor = MakeAddr(3, 99);
  sb.vtable = {MakeAddr(2, 5), 0xabcdef};
  sb.vtable_units = 2;
  char slot[Superblock::kSlotSize];
  sb.EncodeTo(slot);
  auto d = Superblock::Decode(slot);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->generation, 42u);
  EXPECT_EQ(d->cursor, sb.cursor);
  EXPECT_EQ(d->vtable, sb.vtable);
  slot[50] ^= 1;
  EXPECT_EQ(Superblock::Decode(slot).status().code(), Code::kCorruption);
  std::memset(slot, 0, sizeof slot);
  EXPECT_EQ(Superblock::Decode(slot).status().code(), Code::kInvalidArgument);
}

TEST(FormatTest, ContainerNamesAreNineHexDigits) {
  EXPECT_EQ(ContainerFileName(1), "000000001.ctr");
  EXPECT_EQ(ContainerFileName(kMaxContainer), "1ffffffff.ctr");
  uint64_t n;
  EXPECT_TRUE(ParseContainerFileName("00000002a.ctr", &n));
  EXPECT_EQ(n, 42u);
  EXPECT_FALSE(ParseContainerFileName("000000000.ctr", &n));
  EXPECT_FALSE(ParseContainerFileName("200000000.ctr", &n));
  EXPECT_FALSE(ParseContainerFileName("00000002A.ctr", &n));
  EXPECT_FALSE(ParseContainerFileName("pool.lock", &n));
}

TEST(FormatTest, VolumeTableRoundTrips) {
  std::vector<VolumeRecord> v(70);
  for (size_t i = 0; i < v.size(); ++i) {
    v[i].id = i + 1;
    v[i].size = (i + 1) * 512;
    v[i].height = 2;
    v[i].flags = i % 2;
    v[i].parent = i;
    v[i].root = {MakeAddr(1, i), i * 3};
  }
  std::string blob = EncodeVolumeTable(v);
  EXPECT_EQ(blob.size() % kUnit, 0u);
  auto d = DecodeVolumeTable(blob);
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->size(), v.size());
  EXPECT_EQ((*d)[69].root, v[69].root);
  EXPECT_TRUE((*d)[1].read_only());
  blob[0] ^= 1;
  EXPECT_EQ(DecodeVolumeTable(blob).status().code(), Code::kCorruption);
}

}  // namespace
}  // namespace vmstore::internal
