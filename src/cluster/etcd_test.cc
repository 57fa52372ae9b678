// The etcd client against a real etcd: reads, compare-and-swap, leases that
// expire with their keys, watches, several endpoints, and an unreachable etcd.
#include "cluster/etcd.h"

#include <gtest/gtest.h>

#include <thread>

#include "cluster/test_etcd.h"
#include "cluster/writer_lock.h"
#include "util/testing.h"

namespace vmstore::cluster {
namespace {

using vmstore::testing::EtcdProcess;
using vmstore::testing::Unwrap;

class EtcdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    etcd_.Start();
    if (IsSkipped() || HasFatalFailure()) return;
    client_ = Unwrap(ConnectEtcd(etcd_.endpoint()));
  }
  EtcdProcess etcd_;
  std::unique_ptr<Etcd> client_;
};

TEST_F(EtcdTest, PutGetListAndDeleteWithBinaryKeysAndValues) {
  const std::string bin("a\0b\xff", 4);
  Unwrap(client_->Put("/t/a", "1"));
  Unwrap(client_->Put("/t/b", bin));
  Unwrap(client_->Put("/u/c", "3"));
  auto a = Unwrap(client_->Get("/t/a"));
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->value, "1");
  EXPECT_GT(a->mod_revision, 0);
  EXPECT_EQ(Unwrap(client_->Get("/t/b"))->value, bin);
  EXPECT_FALSE(Unwrap(client_->Get("/t/none")).has_value());
  int64_t rev = 0;
  auto list = Unwrap(client_->List("/t/", &rev));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].key, "/t/a");
  EXPECT_EQ(list[1].key, "/t/b");
  EXPECT_GE(rev, list[1].mod_revision);
  ASSERT_OK(client_->Delete("/t/a"));
  ASSERT_OK(client_->Delete("/t/a"));  // absent: still OK
  EXPECT_EQ(Unwrap(client_->List("/t/")).size(), 1u);
}

TEST_F(EtcdTest, CompareAndPutLetsExactlyOneWriterWin) {
  EXPECT_TRUE(Unwrap(client_->CompareAndPut("/lock", 0, "gw1")));   // created
  EXPECT_FALSE(Unwrap(client_->CompareAndPut("/lock", 0, "gw2")));  // exists now
  auto kv = Unwrap(client_->Get("/lock"));
  EXPECT_EQ(kv->value, "gw1");
  EXPECT_FALSE(Unwrap(client_->CompareAndPut("/lock", kv->mod_revision + 100, "gw2")));
  EXPECT_TRUE(Unwrap(client_->CompareAndPut("/lock", kv->mod_revision, "gw2")));
  EXPECT_FALSE(Unwrap(client_->CompareAndDelete("/lock", kv->mod_revision)));  // stale
  auto now = Unwrap(client_->Get("/lock"));
  EXPECT_TRUE(Unwrap(client_->CompareAndDelete("/lock", now->mod_revision)));
  EXPECT_FALSE(Unwrap(client_->Get("/lock")).has_value());
  // Racing writers: of 8 threads that read the same revision, one wins.
  Unwrap(client_->Put("/epoch", "1"));
  const int64_t seen = Unwrap(client_->Get("/epoch"))->mod_revision;
  std::atomic<int> wins{0};
  std::vector<std::thread> t;
  for (int i = 0; i < 8; ++i) {
    t.emplace_back([&, i] {
      if (Unwrap(client_->CompareAndPut("/epoch", seen, std::to_string(i + 2)))) ++wins;
    });
  }
  for (auto& th : t) th.join();
  EXPECT_EQ(wins.load(), 1);
}

TEST_F(EtcdTest, KeysOfAnExpiredLeaseVanish) {
  const int64_t lease = Unwrap(client_->GrantLease(2));
  Unwrap(client_->Put("/nodes/n1", "10.0.0.1:7000", lease));
  EXPECT_EQ(Unwrap(client_->Get("/nodes/n1"))->lease, lease);
  EXPECT_GT(Unwrap(client_->KeepAlive(lease)), 0);
  // Without keep-alives it expires (bounded wait: TTL 2 s, up to 10 s).
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    gone = !Unwrap(client_->Get("/nodes/n1")).has_value();
  }
  EXPECT_TRUE(gone);
  EXPECT_EQ(client_->KeepAlive(lease).status().code(), Code::kNotFound);
  const int64_t other = Unwrap(client_->GrantLease(30));
  Unwrap(client_->Put("/nodes/n2", "x", other));
  ASSERT_OK(client_->Revoke(other));
  EXPECT_FALSE(Unwrap(client_->Get("/nodes/n2")).has_value());
}

TEST_F(EtcdTest, WaitChangesReturnsTheNextChangeOrNothingInTime) {
  int64_t rev = 0;
  Unwrap(client_->List("/ring/", &rev));
  auto none = Unwrap(client_->WaitChanges("/ring/", rev, std::chrono::milliseconds(300)));
  EXPECT_TRUE(none.empty());
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    Unwrap(client_->Put("/other", "x"));
    Unwrap(client_->Put("/ring/epoch", "7"));
  });
  auto got = Unwrap(client_->WaitChanges("/ring/", rev, std::chrono::seconds(10)));
  writer.join();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].type, WatchEvent::Type::kPut);
  EXPECT_EQ(got[0].kv.key, "/ring/epoch");
  EXPECT_EQ(got[0].kv.value, "7");
  // Changes already made before the call are returned at once.
  ASSERT_OK(client_->Delete("/ring/epoch"));
  auto del = Unwrap(client_->WaitChanges("/ring/", got[0].kv.mod_revision, std::chrono::seconds(10)));
  ASSERT_EQ(del.size(), 1u);
  EXPECT_EQ(del[0].type, WatchEvent::Type::kDelete);
}

TEST_F(EtcdTest, ADeadEndpointIsSkippedAndNoEndpointIsAClearError) {
  const std::string dead = "http://127.0.0.1:" + std::to_string(vmstore::testing::FreeLoopbackPort());
  auto both = Unwrap(ConnectEtcd(dead + "," + etcd_.endpoint(), std::chrono::milliseconds(500)));
  Unwrap(both->Put("/x", "y"));
  EXPECT_EQ(Unwrap(both->Get("/x"))->value, "y");
  auto none = ConnectEtcd(dead, std::chrono::milliseconds(300));
  EXPECT_EQ(none.status().code(), Code::kIOError);
  EXPECT_NE(none.status().message().find("cannot reach etcd at " + dead), std::string::npos)
      << none.status().ToString();
  EXPECT_EQ(ConnectEtcd("", std::chrono::milliseconds(300)).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ConnectEtcd("https://a:1").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ConnectEtcd("nohost").status().code(), Code::kInvalidArgument);
}

TEST_F(EtcdTest, APausedEtcdTimesOutInsteadOfHanging) {
  auto c = Unwrap(ConnectEtcd(etcd_.endpoint(), std::chrono::milliseconds(500)));
  etcd_.Pause();
  const auto t0 = std::chrono::steady_clock::now();
  Status s = c->Put("/p", "q").status();
  const auto took = std::chrono::steady_clock::now() - t0;
  etcd_.Resume();
  EXPECT_EQ(s.code(), Code::kIOError) << s.ToString();
  EXPECT_LT(took, std::chrono::seconds(5));  // bounded by the call timeout, not forever
  Unwrap(c->Put("/p", "q"));
}

TEST(PrefixEndTest, IsTheNextKeyAfterThePrefix) {
  EXPECT_EQ(PrefixEnd("/a/"), "/a0");
  EXPECT_EQ(PrefixEnd(std::string("a\xff", 2)), "b");
  EXPECT_EQ(PrefixEnd(""), std::string(1, '\0'));
}

}  // namespace
}  // namespace vmstore::cluster

namespace vmstore::cluster {
namespace {

TEST_F(EtcdTest, AWriterLockHasOneHolderAndPassesOnWhenItDies) {
  auto a = Unwrap(WriterLock::Acquire(client_.get(), "/locks/vm/web", "gw1", 2));
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->held());
  auto b = WriterLock::Acquire(client_.get(), "/locks/vm/web", "gw2", 2);
  EXPECT_EQ(b.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(b.status().message().find("is held by gw1"), std::string::npos) << b.status().ToString();
  ASSERT_OK(a->Renew());
  const uint64_t first_fence = a->fence();
  // gw1 stops renewing (a partition): it counts itself out before etcd lets gw2 in.
  bool self_fenced = false;
  std::unique_ptr<WriterLock> c;
  for (int i = 0; i < 100 && !c; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto got = WriterLock::Acquire(client_.get(), "/locks/vm/web", "gw2", 2);
    if (got.ok()) {
      c = std::move(got).value();
    } else {
      self_fenced |= !a->held();
    }
  }
  ASSERT_TRUE(c) << "the dead holder's lock never passed on";
  EXPECT_TRUE(self_fenced) << "the old holder still thought it held the lock when another could take it";
  EXPECT_FALSE(a->held());
  EXPECT_EQ(a->Renew().code(), Code::kNotFound);
  EXPECT_GT(c->fence(), first_fence);  // nodes can refuse the old holder by its smaller fence
  ASSERT_OK(c->Release());
  auto d = Unwrap(WriterLock::Acquire(client_.get(), "/locks/vm/web", "gw3", 5));
  EXPECT_TRUE(d && d->held());
  EXPECT_EQ(WriterLock::Acquire(client_.get(), "/locks/vm/x", "gw", 1).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace vmstore::cluster
