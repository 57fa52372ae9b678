// On-disk structures of a native pool. docs/FORMAT.md describes each byte by byte;
// this header is the single source of the constants.
//
// A pool directory holds:
//   superblock        two 4 KiB slots; the valid one with the highest generation wins
//   wal               the redo/undo log of operations since the last checkpoint
//   containers/NNNNNNNNN.ctr   block containers named by their 33-bit number (9 hex digits)
//   pool.lock         flock()ed while a process has the pool open
//
// Block addresses (VMStore): addr = container << 31 | unit index in the container.
// A unit is 4 KiB. Address 0 is a hole, address 1 an allocated all-zero cluster;
// real addresses start at container 1.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "vmstore/status.h"

namespace vmstore::internal {

// Superblock format: 2 adds the deduplication mode (offset 20); a version 1
// superblock (mode off) is read and rewritten as 2 at the next checkpoint.
constexpr uint32_t kFormatVersion = 2;
constexpr uint32_t kOldestFormatVersion = 1;
constexpr uint32_t kContainerVersion = 1;
constexpr uint32_t kUnit = 4096;
constexpr int kIndexBits = 31;
constexpr uint64_t kIndexMask = (uint64_t{1} << kIndexBits) - 1;
constexpr uint64_t kMaxContainer = (uint64_t{1} << 33) - 1;
constexpr uint64_t kHoleAddr = 0;
constexpr uint64_t kZeroAddr = 1;
constexpr int kFanout = 256;  // entries per index node (4096 / 16)
constexpr int kFanoutBits = 8;
constexpr uint32_t kWalBufferBytes = 512 * 1024;  // VMStore's write-coalescing buffer

inline uint64_t MakeAddr(uint64_t container, uint64_t index) { return container << kIndexBits | index; }
inline uint64_t ContainerOf(uint64_t addr) { return addr >> kIndexBits; }
inline uint64_t IndexOf(uint64_t addr) { return addr & kIndexMask; }
inline bool IsReal(uint64_t addr) { return addr > kZeroAddr; }

// A pointer to a block: its address and the checksum of the block. The block
// checksum is XXH3-64 over the XXH3-64 sums of the block's 4 KiB units, so a
// partial read can verify just the units it reads (docs/FORMAT.md, "Checksums").
struct BlockPtr {
  uint64_t addr = kHoleAddr;
  uint64_t csum = 0;
  bool operator==(const BlockPtr&) const = default;
};

// An index node: 256 block pointers, exactly one unit, no header.
struct Node {
  std::array<BlockPtr, kFanout> e{};
  void EncodeTo(char* unit) const;
  static Node Decode(const char* unit);
};

// Block checksum from unit sums.
uint64_t BlockChecksum(const uint64_t* unit_sums, size_t n);
// Unit sums and block checksum of a buffer of n units.
uint64_t ChecksumUnits(const char* data, size_t units, uint64_t* sums_out);

struct Superblock {
  static constexpr size_t kSlotSize = 4096;
  static constexpr size_t kEncodedSize = 104;
  uint32_t format_version = kFormatVersion;
  uint32_t cluster_size = 0;
  uint32_t container_units = 0;
  uint32_t dedup = 0;  // DedupMode (version 2; 0 in version 1)
  std::array<uint8_t, 16> uuid{};
  uint64_t generation = 0;
  uint64_t cursor = 0;  // next free block address
  uint64_t next_volume_id = 1;
  BlockPtr vtable;
  uint32_t vtable_units = 0;
  int64_t created_ns = 0;

  void EncodeTo(char* slot) const;  // writes kSlotSize bytes
  // Fails with Corruption (bad checksum), InvalidArgument (not a pool) or
  // NotSupported (another format version).
  static StatusOr<Superblock> Decode(const char* slot);
};

struct ContainerHeader {
  static constexpr size_t kSize = 4096;
  uint32_t units = 0;
  uint64_t number = 0;
  std::array<uint8_t, 16> uuid{};
  void EncodeTo(char* buf) const;
  static StatusOr<ContainerHeader> Decode(const char* buf);
};

// Where things live inside a container file.
inline uint64_t SumsBytes(uint32_t container_units) {
  return (uint64_t{container_units} * 8 + kUnit - 1) / kUnit * kUnit;
}
inline uint64_t SumOffset(uint64_t index) { return ContainerHeader::kSize + index * 8; }
constexpr uint32_t kSumsPerPage = kUnit / 8;  // units whose sums share one 4 KiB page of the sum area
inline uint64_t DataOffset(uint32_t container_units, uint64_t index) {
  return ContainerHeader::kSize + SumsBytes(container_units) + index * kUnit;
}
std::string ContainerFileName(uint64_t number);  // "00000002a.ctr"
bool ParseContainerFileName(const std::string& name, uint64_t* number);

// Placement: the address for a new block of `units` units at `*cursor`
// (moved to the next container when the block would not fit), advancing it.
uint64_t PlaceBlock(uint64_t* cursor, uint32_t units, uint32_t container_units);
// Corruption unless [addr, addr + units) lies inside a container below `cursor`.
Status CheckBlockAddr(uint64_t addr, uint32_t units, uint64_t cursor, uint32_t container_units);

// One volume (a writable disk or a read-only snapshot) in the volume table.
struct VolumeRecord {
  static constexpr size_t kSize = 64;
  uint64_t id = 0;
  uint64_t size = 0;
  BlockPtr root;
  uint32_t height = 1;
  uint32_t flags = 0;  // bit 0: read-only
  uint64_t parent = 0;
  int64_t created_ns = 0;
  uint64_t tag = 0;  // opaque, for the layer above (0: none)
  bool read_only() const { return flags & 1; }
};
std::string EncodeVolumeTable(const std::vector<VolumeRecord>& vols);  // padded to units
StatusOr<std::vector<VolumeRecord>> DecodeVolumeTable(const std::string& blob);

// WAL record types.
enum class WalType : uint32_t {
  kCreate = 1,    // id, size, time
  kDelete = 2,    // id
  kResize = 3,    // id, size
  kSnapshot = 4,  // new id, source id, time
  kClone = 5,     // new id, source id, time
  kRollback = 6,  // volume id, snapshot id
  kWrite = 7,     // id, offset, bytes
  kTrim = 8,      // id, offset, length
  kZero = 9,      // id, offset, length, flags (bit 0: may punch)
  kUndo = 10,     // block addr, unit, old sum, 4096 bytes of before-image
  kAdopt = 11,    // new id, time, tag, root addr, root csum, height, size (a foreign root)
};
constexpr uint32_t kWalMagic = 0x4c41574d;  // "MWAL"
constexpr size_t kWalHeader = 32;           // magic u32, type u32, gen u64, seq u64, len u32, pad u32
constexpr size_t kWalTrailer = 8;           // XXH3-64 of header + payload

}  // namespace vmstore::internal
