// The request budget: the total and the per-client share hold, and a large
// request waiting is not passed by a stream of small ones.
#include "nbd/request_budget.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace vmstore::nbd {
namespace {

using std::chrono::milliseconds;

// Waits (bounded) until `pred` holds.
template <class Pred>
bool Eventually(Pred pred) {
  for (int i = 0; i < 500 && !pred(); ++i) std::this_thread::sleep_for(milliseconds(10));
  return pred();
}

TEST(RequestBudgetTest, OneClientHoldsAtMostItsShareAndOthersGetTheRest) {
  RequestBudget b(100, 50);
  EXPECT_EQ(b.Take("a", 50), 50u);
  std::atomic<bool> a_again{false};
  std::thread t([&] {
    b.Give("a", b.Take("a", 10));
    a_again = true;
  });
  ASSERT_TRUE(Eventually([&] { return b.stats().waits == 1; }));
  EXPECT_FALSE(a_again) << "a client went past its share";
  EXPECT_EQ(b.Take("b", 50), 50u) << "another client was held back by the first one's waiting request";
  EXPECT_EQ(b.stats().in_use, 100u);
  b.Give("a", 50);
  t.join();
  EXPECT_TRUE(a_again);
  b.Give("b", 50);
  EXPECT_EQ(b.stats().in_use, 0u);
  EXPECT_EQ(b.stats().peak, 100u);
}

TEST(RequestBudgetTest, ARequestLargerThanTheShareTakesAllOfIt) {
  RequestBudget b(64, 32);
  EXPECT_EQ(b.Take("a", 1000), 32u);
  b.Give("a", 32);
  RequestBudget unlimited(0, 0);
  EXPECT_EQ(unlimited.Take("a", 1000), 1000u);
  unlimited.Give("a", 1000);
}

TEST(RequestBudgetTest, ALargeWaiterIsNotStarvedBySmallOnes) {
  RequestBudget b(100, 0);
  EXPECT_EQ(b.Take("small", 60), 60u);
  std::atomic<bool> large_in{false};
  std::thread large([&] {
    EXPECT_EQ(b.Take("large", 80), 80u);
    large_in = true;
  });
  ASSERT_TRUE(Eventually([&] { return b.stats().waits == 1; }));
  // 30 would fit in what is free (40) but would keep the waiting 80 out: it waits too.
  std::atomic<bool> small_in{false};
  std::thread small([&] {
    EXPECT_EQ(b.Take("small", 30), 30u);
    small_in = true;
  });
  ASSERT_TRUE(Eventually([&] { return b.stats().waits == 2; }));
  EXPECT_FALSE(small_in) << "a small request passed a waiting large one that then could not fit";
  b.Give("small", 60);
  large.join();
  EXPECT_TRUE(large_in);
  EXPECT_FALSE(small_in) << "80 + 30 > 100: the small one waits for the large one";
  b.Give("large", 80);
  small.join();
  EXPECT_TRUE(small_in);
  b.Give("small", 30);
  EXPECT_EQ(b.stats().in_use, 0u);
}

}  // namespace
}  // namespace vmstore::nbd
