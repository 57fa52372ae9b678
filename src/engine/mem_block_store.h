// MemBlockStore: a BlockStore in memory, for the engine's unit, model and
// crash tests - the same engine over a store that is not a directory of files.
//
// Each container keeps two images: the durable one (what survives a power
// cut) and the current one, with the operations since the last SyncTouched as
// a pending list. SimulateCrash() rebuilds every container from its durable
// image plus a random subset of its pending operations, each kept, dropped or
// (writes) torn at unit granularity, data and sums independently - a device
// that reorders and loses unsynced writes. DeleteContainer is durable at once.
//
// Fault injection: with a MemEnv passed as `fate`, every call fails as that
// env's calls do (dead, KillAfter, injected EIO), so one countdown kills a
// pool in the middle of log, superblock and container I/O alike.
//
// Thread-safety: all methods are thread-safe (one internal mutex).
// Ownership: `fate` is not owned and must outlive the store.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "util/mem_env.h"
#include "util/mutex.h"
#include "vmstore/block_store.h"

namespace vmstore {

class MemBlockStore final : public BlockStore {
 public:
  explicit MemBlockStore(MemEnv* fate = nullptr) : fate_(fate) {}

  Status Attach(const ContainerGeometry& geometry) override;
  StatusOr<std::vector<uint64_t>> List() override;
  Status ReadUnits(uint64_t addr, uint32_t units, char* dst) override;
  Status ReadSums(uint64_t addr, uint32_t units, uint64_t* dst) override;
  Status WriteBlocks(std::vector<UnitWrite> writes) override;
  Status SyncTouched() override;
  Status Punch(uint64_t addr, uint32_t units) override;
  Status PunchSums(uint64_t container, uint64_t page) override;
  Status DeleteContainer(uint64_t container) override;
  Status TruncateAt(uint64_t container, uint64_t index) override;
  StatusOr<uint64_t> AllocatedBytes() override;
  StatusOr<std::vector<std::pair<uint64_t, uint64_t>>> AllocatedUnits(uint64_t container) override;
  Status CheckHeader(uint64_t container) override;

  // Power loss: keeps, drops or tears each unsynced operation (seeded).
  void SimulateCrash(uint64_t seed);
  // Corruption tests: flips bit `bit` of byte `byte` of the unit at `addr`
  // (NotFound if that unit holds no data).
  Status FlipDataBit(uint64_t addr, size_t byte, int bit);

 private:
  struct Image {
    bool header = false;
    std::array<uint8_t, 16> uuid{};
    uint32_t units = 0;
    std::map<uint64_t, std::string> data;  // unit index -> 4 KiB
    std::map<uint64_t, uint64_t> sums;     // unit index -> sum
  };
  struct Op {
    enum Kind { kHeader, kData, kSums, kPunch, kPunchSums, kTruncate };
    explicit Op(Kind k, uint64_t f = 0, uint64_t n = 0) : kind(k), first(f), count(n) {}
    Kind kind;
    uint64_t first, count;
    std::string data;            // kData: count units
    std::vector<uint64_t> sums;  // kSums: count sums
    std::array<uint8_t, 16> uuid{};
    uint32_t units = 0;
  };
  struct Container {
    Image current, durable;
    std::vector<Op> pending;
  };
  static void ApplyOp(Image* img, const Op& op, const std::vector<bool>* keep_units);
  void Do(uint64_t container, Op op) REQUIRES(mu_);
  StatusOr<Container*> Find(uint64_t container) REQUIRES(mu_);

  MemEnv* const fate_;
  Mutex mu_;
  ContainerGeometry geo_ GUARDED_BY(mu_);
  std::map<uint64_t, Container> containers_ GUARDED_BY(mu_);
  std::set<uint64_t> touched_ GUARDED_BY(mu_);
};

}  // namespace vmstore
