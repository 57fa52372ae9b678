// send / receive round trips between two pools: 1,000 random change sets sent
// incrementally (and every 100th whole) must rebuild the source's snapshots
// exactly; damaged streams, a wrong base, a changed target and repeats are
// refused with the target left as it was.
#include "transfer/send_receive.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "catalog/catalog_test_util.h"
#include "transfer/diff.h"
#include "transfer/test_util.h"
#include "util/test_scale.h"

namespace vmstore::transfer {
namespace {

using testing::Scaled;
using testing::TempDir;
using testing::Unwrap;

#define ASSERT_OK(expr)                                     \
  do {                                                      \
    ::vmstore::Status _s = (expr);                          \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)

// A pool whose clock moves one second per reading (snapshot names carry seconds).
struct TestPool {
  TempDir dir;
  int64_t now = testing::kPaperTime;
  std::unique_ptr<Manager> m;
  explicit TestPool(uint32_t cluster = 4096) {
    ManagerOptions o;
    o.cluster_size = cluster;
    o.now = [this] { return now += 1'000'000'000; };
    m = Unwrap(Manager::Create(dir.path(), o));
  }
};

StatusOr<std::string> ReadAll(Manager& m, const std::string& ref) {
  ASSIGN_OR_RETURN(DiskRef r, m.Resolve(ref));
  ASSIGN_OR_RETURN(auto dev, r.backend->OpenDevice(r.handle));
  std::string buf(r.size, '\0');
  RETURN_IF_ERROR(dev->Read(0, buf));
  return buf;
}

StatusOr<std::string> SendToString(Manager& m, const std::string& to, const std::string& from,
                                   TransferStats* stats = nullptr) {
  std::string out;
  ASSIGN_OR_RETURN(TransferStats st, Send(m, SendOptions{to, from, {}}, AppendTo(&out)));
  if (stats) *stats = st;
  return out;
}

StatusOr<TransferStats> ReceiveString(Manager& m, const std::string& target, const std::string& stream,
                                      bool force = false) {
  size_t pos = 0;
  StreamReader r(ReadFrom(&stream, &pos));
  ReceiveOptions o;
  o.target = target;
  o.force = force;
  return Receive(m, o, r);
}

// A random change set on `disk` (and its oracle `data`); returns the bytes touched.
uint64_t RandomChanges(std::mt19937_64& rng, Manager& m, const std::string& disk, std::string* data) {
  DiskRef r = Unwrap(m.Resolve(disk));
  auto dev = Unwrap(r.backend->OpenDevice(r.handle));
  uint64_t touched = 0;
  int ops = 1 + static_cast<int>(rng() % 8);
  for (int i = 0; i < ops; ++i) {
    int kind = static_cast<int>(rng() % 20);
    if (kind == 19) {
      uint64_t size = (256 + rng() % 512) * 4096;  // 1-3 MiB
      // As a guest does before a disk shrinks: nothing left past the new end.
      if (size < data->size()) {
        EXPECT_TRUE(dev->Trim(size, data->size() - size, false).ok());
      }
      EXPECT_TRUE(m.ResizeDisk(disk, size).ok());
      data->resize(size, '\0');
      r = Unwrap(m.Resolve(disk));
      dev = Unwrap(r.backend->OpenDevice(r.handle));
      continue;
    }
    uint64_t off = rng() % data->size(), len = 1 + rng() % std::min<uint64_t>(data->size() - off, 40000);
    touched += len;
    if (kind < 12) {
      std::string buf(len, '\0');
      testing::FillPattern(rng, &buf);
      EXPECT_TRUE(dev->Write(off, buf, false).ok());
      data->replace(off, len, buf);
    } else if (kind < 16) {
      EXPECT_TRUE(dev->Trim(off, len, false).ok());
      std::fill_n(data->begin() + off, len, '\0');
    } else {
      EXPECT_TRUE(dev->WriteZeroes(off, len, rng() % 2, false).ok());
      std::fill_n(data->begin() + off, len, '\0');
    }
  }
  EXPECT_TRUE(dev->Flush().ok());
  return touched;
}

TEST(SendReceiveTest, ThousandRandomChangeSetsRoundTrip) {
  const uint64_t seed = 20261124;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  TestPool src, dst;
  ASSERT_OK(src.m->CreateVm("web").status());
  ASSERT_OK(src.m->CreateDisk("web", "root", 2 << 20, "").status());
  std::string data(2 << 20, '\0');
  std::vector<std::string> src_snaps, dst_snaps;  // "VM@FULL", oldest first
  uint64_t stream_data = 0, touched_total = 0;
  const int kRounds = Scaled(1000);
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    touched_total += RandomChanges(rng, *src.m, "web/root", &data);
    SnapshotInfo s = Unwrap(src.m->CreateSnapshot("web", "r", ""));
    const std::string to = "web/root@" + s.full_name;
    std::string from = src_snaps.empty() ? "" : "@" + src_snaps.back().substr(4);
    TransferStats sent;
    std::string stream = Unwrap(SendToString(*src.m, to, from, &sent));
    if (!from.empty()) {
      EXPECT_EQ(sent.method, "index");
      stream_data += sent.data_bytes;
    }
    TransferStats got = Unwrap(ReceiveString(*dst.m, "backup/root", stream));
    ASSERT_FALSE(got.snapshot.empty());
    EXPECT_EQ(got.data_bytes, sent.data_bytes);
    std::string received = Unwrap(ReadAll(*dst.m, "backup/root"));
    ASSERT_EQ(received.size(), data.size());
    ASSERT_TRUE(received == data) << "the received disk differs from the source";
    ASSERT_TRUE(Unwrap(ReadAll(*dst.m, "backup/root" + got.snapshot.substr(got.snapshot.find('@')))) == data);
    src_snaps.push_back("web@" + s.full_name);
    dst_snaps.push_back(got.snapshot);
    // Keep two snapshots on each side; the stream's base is the newest.
    for (auto* v : {&src_snaps, &dst_snaps}) {
      Manager& m = v == &src_snaps ? *src.m : *dst.m;
      while (v->size() > 2) {
        ASSERT_OK(m.DeleteSnapshot(v->front(), false, false).status());
        v->erase(v->begin());
      }
    }
    if (round % 100 == 99) {
      // A whole stream of the same snapshot into a new disk.
      std::string full = Unwrap(SendToString(*src.m, to, ""));
      ASSERT_OK(ReceiveString(*dst.m, "full/root", full).status());
      ASSERT_TRUE(Unwrap(ReadAll(*dst.m, "full/root")) == data);
      ASSERT_OK(dst.m->DeleteVm("full", true, false).status());
    }
  }
  // Incremental streams carried about what changed, not the disk each time.
  std::printf("%d rounds: %llu bytes touched, %llu bytes of data in the incremental streams (disk ~2 MiB)\n", kRounds,
              static_cast<unsigned long long>(touched_total), static_cast<unsigned long long>(stream_data));
  EXPECT_LT(stream_data, touched_total * 2 + static_cast<uint64_t>(kRounds) * 2 * 4096);
  ConsistencyReport rep;
  ASSERT_OK(dst.m->Check(true, &rep));
  EXPECT_TRUE(rep.clean()) << rep.errors.front();
}

class ReceiveRefusalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(src.m->CreateVm("web").status());
    ASSERT_OK(src.m->CreateDisk("web", "root", 1 << 20, "").status());
    ASSERT_OK(testing::WriteDisk(*src.m, "web/root", 0, std::string(100000, 'a')));
    a = "web/root@" + Unwrap(src.m->CreateSnapshot("web", "a", "")).full_name;
    ASSERT_OK(testing::WriteDisk(*src.m, "web/root", 50000, std::string(300000, 'b')));
    b = "web/root@" + Unwrap(src.m->CreateSnapshot("web", "b", "")).full_name;
    full_a = Unwrap(SendToString(*src.m, a, ""));
    inc_ab = Unwrap(SendToString(*src.m, b, a));
    ASSERT_OK(ReceiveString(*dst.m, "bk/root", full_a).status());
    base = Unwrap(ReadAll(*dst.m, "bk/root"));
  }
  size_t DstSnapshots() { return Unwrap(dst.m->ListSnapshots("bk", false)).size(); }

  TestPool src, dst;
  std::string a, b, full_a, inc_ab, base;
};

TEST_F(ReceiveRefusalTest, DamagedStreamLeavesTheDiskAsItWas) {
  std::mt19937_64 rng(5);
  for (int i = 0; i < 20; ++i) {
    std::string bad = inc_ab;
    size_t at = 200 + rng() % (bad.size() - 200);  // past the header: records are applied, then undone
    bad[at] ^= 0x40;
    Status s = ReceiveString(*dst.m, "bk/root", bad).status();
    EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
    ASSERT_TRUE(Unwrap(ReadAll(*dst.m, "bk/root")) == base) << "a failed receive changed the disk";
    EXPECT_EQ(DstSnapshots(), 1u);
  }
  Status s = ReceiveString(*dst.m, "bk/root", inc_ab.substr(0, inc_ab.size() - 5)).status();
  EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
  ASSERT_TRUE(Unwrap(ReadAll(*dst.m, "bk/root")) == base);
  // A damaged full stream leaves neither disk nor VM.
  std::string bad = full_a;
  bad[bad.size() - 20] ^= 1;
  EXPECT_EQ(ReceiveString(*dst.m, "new/root", bad).status().code(), Code::kCorruption);
  EXPECT_EQ(dst.m->GetVm("new").status().code(), Code::kNotFound);
  // And the good stream still applies.
  ASSERT_OK(ReceiveString(*dst.m, "bk/root", inc_ab).status());
  EXPECT_TRUE(Unwrap(ReadAll(*dst.m, "bk/root")) == Unwrap(ReadAll(*src.m, b)));
}

TEST_F(ReceiveRefusalTest, ChangedTargetNeedsForce) {
  ASSERT_OK(testing::WriteDisk(*dst.m, "bk/root", 700000, "local change"));
  Status s = ReceiveString(*dst.m, "bk/root", inc_ab).status();
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("--force"), std::string::npos) << s.message();
  ASSERT_OK(ReceiveString(*dst.m, "bk/root", inc_ab, /*force=*/true).status());
  EXPECT_TRUE(Unwrap(ReadAll(*dst.m, "bk/root")) == Unwrap(ReadAll(*src.m, b)));
}

TEST_F(ReceiveRefusalTest, WrongBaseRepeatsAndExistingDisksAreRefused) {
  EXPECT_EQ(ReceiveString(*dst.m, "bk/root", full_a).status().code(), Code::kAlreadyExists);
  EXPECT_EQ(ReceiveString(*dst.m, "other/root", inc_ab).status().code(), Code::kNotFound);
  ASSERT_OK(ReceiveString(*dst.m, "bk/root", inc_ab).status());
  EXPECT_EQ(ReceiveString(*dst.m, "bk/root", inc_ab).status().code(), Code::kAlreadyExists);
  // A stream from a base the target never received.
  ASSERT_OK(testing::WriteDisk(*src.m, "web/root", 0, "c"));
  std::string c = "web/root@" + Unwrap(src.m->CreateSnapshot("web", "c", "")).full_name;
  ASSERT_OK(testing::WriteDisk(*src.m, "web/root", 1, "d"));
  std::string d = "web/root@" + Unwrap(src.m->CreateSnapshot("web", "d", "")).full_name;
  Status s = ReceiveString(*dst.m, "bk/root", Unwrap(SendToString(*src.m, d, c))).status();
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  // Sending needs snapshots.
  EXPECT_EQ(SendToString(*src.m, "web/root", "").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(SendToString(*src.m, d, "web/root").status().code(), Code::kInvalidArgument);
}

TEST(DiffDisksTest, DisksInDifferentSrsAreCompared) {
  // Two SRs are two block indexes: nothing is shared, so the content is compared.
  TestPool p;
  ASSERT_OK(p.m->CreateSr("other", "native", "").status());
  ASSERT_OK(p.m->CreateVm("vm").status());
  ASSERT_OK(p.m->CreateDisk("vm", "d", 4 << 20, "").status());
  ASSERT_OK(p.m->CreateDisk("vm", "e", 4 << 20, "other").status());
  for (const char* disk : {"vm/d", "vm/e"}) ASSERT_OK(testing::WriteDisk(*p.m, disk, 0, std::string(70000, 'x')));
  ASSERT_OK(testing::WriteDisk(*p.m, "vm/e", 3 << 20, std::string(10, 'y')));
  ASSERT_OK(testing::WriteDisk(*p.m, "vm/e", 0, std::string(65536, '\0')));
  std::string full = Unwrap(p.m->CreateSnapshot("vm", "s", "")).full_name;
  DiskDiff d = Unwrap(DiffDisks(*p.m, "vm/d@" + full, "vm/e@" + full));
  EXPECT_EQ(d.method, "compare");
  ASSERT_EQ(d.result.changed.size(), 2u);
  EXPECT_EQ(d.result.changed[0].offset, 0u);
  EXPECT_EQ(d.result.changed[0].length, 65536u);
  EXPECT_EQ(d.result.changed[0].type, ExtentType::kZero);
  EXPECT_EQ(d.result.changed[1].offset, 3u << 20);
  EXPECT_EQ(d.result.changed[1].type, ExtentType::kData);
  // Within one SR the index answers, and agrees.
  ASSERT_OK(testing::WriteDisk(*p.m, "vm/d", 3 << 20, std::string(10, 'y')));
  ASSERT_OK(testing::WriteDisk(*p.m, "vm/d", 0, std::string(65536, '\0')));
  DiskDiff i = Unwrap(DiffDisks(*p.m, "vm/d@" + full, "vm/d"));
  EXPECT_EQ(i.method, "index");
  ASSERT_EQ(i.result.changed.size(), 2u);
  EXPECT_EQ(i.result.changed[1].offset, 3u << 20);
}

}  // namespace
}  // namespace vmstore::transfer
