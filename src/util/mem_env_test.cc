#include "util/mem_env.h"

#include <gtest/gtest.h>

namespace vmstore {
namespace {

TEST(MemEnvTest, CrashKeepsSyncedDataAndDropsSomeUnsynced) {
  int dropped = 0;
  for (uint64_t seed = 0; seed < 32; ++seed) {
    MemEnv env;
    auto f = std::move(env.OpenFile("/f", true)).value();
    ASSERT_TRUE(f->WriteAt(0, "synced", 6).ok());
    ASSERT_TRUE(f->Sync().ok());
    ASSERT_TRUE(f->WriteAt(6, "-later", 6).ok());
    env.SimulateCrash(seed);
    env.SetDead(false);
    char buf[12];
    ASSERT_TRUE(f->ReadAt(0, 12, buf).ok());
    EXPECT_EQ(std::string(buf, 6), "synced") << "seed " << seed;
    if (std::string(buf + 6, 6) != "-later") ++dropped;
  }
  EXPECT_GT(dropped, 0) << "some crash must drop the unsynced write";
  EXPECT_LT(dropped, 32) << "some crash must keep it";
}

TEST(MemEnvTest, PunchedPagesAreDeallocatedAndReadZero) {
  MemEnv env;
  auto f = std::move(env.OpenFile("/f", true)).value();
  std::string data(3 * 4096, 'x');
  ASSERT_TRUE(f->WriteAt(0, data.data(), data.size()).ok());
  EXPECT_EQ(f->AllocatedBytes().value(), 3 * 4096u);
  ASSERT_TRUE(f->PunchHole(4096, 4096).ok());
  EXPECT_EQ(f->AllocatedBytes().value(), 2 * 4096u);
  auto ranges = f->DataRanges().value();
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_EQ(ranges[1].offset, 8192u);
  char c;
  ASSERT_TRUE(f->ReadAt(5000, 1, &c).ok());
  EXPECT_EQ(c, 0);
}

TEST(MemEnvTest, InjectedFaults) {
  MemEnv env;
  auto f = std::move(env.OpenFile("/f", true)).value();
  env.SetCapacity(8192);
  std::string page(4096, 'p');
  ASSERT_TRUE(f->WriteAt(0, page.data(), page.size()).ok());
  ASSERT_TRUE(f->WriteAt(4096, page.data(), page.size()).ok());
  EXPECT_EQ(f->WriteAt(8192, page.data(), page.size()).code(), Code::kNoSpace);
  env.SetCapacity(0);
  env.KillAfter(2);
  EXPECT_TRUE(f->WriteAt(0, "a", 1).ok());
  EXPECT_EQ(f->Sync().code(), Code::kIOError);
  EXPECT_EQ(f->WriteAt(0, "a", 1).code(), Code::kIOError) << "stays dead";
}

}  // namespace
}  // namespace vmstore
