// The NBD export's layers: their order (a test that fails when they are
// stacked differently) and what each refuses.
#include "nbd/layers.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "util/testing.h"

namespace vmstore::nbd {
namespace {

// A device of `size` bytes that counts the calls that reach it.
class CountingDevice : public backend::Device {
 public:
  CountingDevice(uint64_t size, bool read_only, bool can_trim)
      : size_(size), read_only_(read_only), can_trim_(can_trim) {}
  uint64_t size() const override { return size_; }
  bool read_only() const override { return read_only_; }
  bool can_trim() const override { return can_trim_; }
  Status Read(uint64_t, std::span<char>) override { return Count(); }
  Status Write(uint64_t, std::span<const char>, bool) override { return Count(); }
  Status Trim(uint64_t, uint64_t, bool) override { return Count(); }
  Status WriteZeroes(uint64_t, uint64_t, bool, bool) override { return Count(); }
  Status Flush() override { return Count(); }
  StatusOr<std::vector<Extent>> Map(uint64_t offset, uint64_t length) override {
    RETURN_IF_ERROR(Count());
    return std::vector<Extent>{{offset, length, ExtentType::kData}};
  }
  std::atomic<int> calls{0};

 private:
  Status Count() {
    ++calls;
    return Status::OK();
  }
  uint64_t size_;
  bool read_only_, can_trim_;
};

struct Stack {
  Stack(bool read_only, bool can_trim, bool gated) {
    auto dev = std::make_unique<CountingDevice>(1 << 20, read_only, can_trim);
    device = dev.get();
    if (gated) gate = std::make_shared<SharedMutex>();
    top = StackLayers(std::move(dev), &metrics, gate);
  }
  ExportMetrics metrics;
  std::shared_ptr<SharedMutex> gate;
  CountingDevice* device;
  std::unique_ptr<backend::Device> top;
};

TEST(LayersTest, StackedMetricsAccessBoundsGateOutermostFirst) {
  Stack disk(false, true, true);
  EXPECT_EQ(LayerNames(*disk.top), (std::vector<std::string>{"metrics", "access", "bounds", "gate"}));
  EXPECT_EQ(&Innermost(*disk.top), disk.device);
  Stack snapshot(true, true, false);
  EXPECT_EQ(LayerNames(*snapshot.top), (std::vector<std::string>{"metrics", "access", "bounds"}));
}

TEST(LayersTest, ReadOnlyIsCheckedBeforeBoundsAndCountedByMetrics) {
  Stack s(/*read_only=*/true, true, false);
  std::string data(4096, 'x');
  // Past the end of a read-only export: the access layer answers first (EPERM, not ENOSPC).
  Status st = s.top->Write(2 << 20, data, false);
  EXPECT_EQ(st.code(), Code::kFailedPrecondition) << st.ToString();
  EXPECT_EQ(s.device->calls.load(), 0);
  // The refusal is counted: metrics sits above every refusing layer.
  ExportStats m = s.metrics.Snapshot();
  EXPECT_EQ(m.ops[static_cast<int>(Op::kWrite)].requests, 1u);
  EXPECT_EQ(m.ops[static_cast<int>(Op::kWrite)].errors, 1u);
  EXPECT_EQ(m.ops[static_cast<int>(Op::kWrite)].bytes, 4096u);
}

TEST(LayersTest, BoundsRefuseWritesWithNoSpaceAndReadsWithOutOfRange) {
  Stack s(false, true, false);
  std::string data(4096, 'x');
  EXPECT_EQ(s.top->Write((1 << 20) - 2048, data, false).code(), Code::kNoSpace);
  EXPECT_EQ(s.top->WriteZeroes(1 << 20, 1, true, false).code(), Code::kNoSpace);
  std::string buf(4096, '\0');
  EXPECT_EQ(s.top->Read(1 << 20, buf).code(), Code::kOutOfRange);
  EXPECT_EQ(s.top->Map(UINT64_MAX, 2).status().code(), Code::kOutOfRange);
  EXPECT_EQ(s.top->Cache((1 << 20) - 1, 2).code(), Code::kOutOfRange);
  EXPECT_EQ(s.device->calls.load(), 0);
  ASSERT_OK(s.top->Write((1 << 20) - 4096, data, false));
  ASSERT_OK(s.top->Cache(0, 1 << 20));  // reaches the device's default (a hint)
  EXPECT_EQ(s.device->calls.load(), 1);
  ExportStats m = s.metrics.Snapshot();
  EXPECT_EQ(m.ops[static_cast<int>(Op::kWrite)].requests, 2u);
  EXPECT_EQ(m.ops[static_cast<int>(Op::kWrite)].errors, 1u);
  EXPECT_EQ(m.ops[static_cast<int>(Op::kCache)].requests, 2u);
  EXPECT_EQ(m.ops[static_cast<int>(Op::kBlockStatus)].errors, 1u);
}

TEST(LayersTest, TrimIsRefusedWhereNotOfferedBeforeReadOnly) {
  Stack s(/*read_only=*/true, /*can_trim=*/false, false);
  Status st = s.top->Trim(0, 4096, false);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_EQ(st.message(), "trim is not offered on this export");
}

TEST(LayersTest, TheGateHoldsWritesButNotReads) {
  Stack s(false, true, true);
  std::string data(4096, 'x'), buf(4096, '\0');
  std::atomic<bool> written{false};
  std::thread writer;
  {
    WriterLock quiesced(s.gate.get());  // as ManagerExports::Quiesce does
    ASSERT_OK(s.top->Read(0, buf));     // reads pass
    writer = std::thread([&] {
      EXPECT_OK(s.top->Write(0, data, false));
      written = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_FALSE(written.load()) << "a write passed a held gate";
  }
  writer.join();
  EXPECT_TRUE(written.load());
  EXPECT_EQ(s.device->calls.load(), 2);
}

}  // namespace
}  // namespace vmstore::nbd
