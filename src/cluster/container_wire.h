// The container protocol between gateways and storage nodes: one request,
// one response, on a TCP connection that carries many in turn.
//
//   request  (56 bytes, big-endian)   response (24 bytes, big-endian)
//   u32 magic "VMQ2"                  u32 magic "VMCR"
//   u8  op, u8[3] zero                u32 code (vmstore::Code; 0 = OK)
//   u64 request id                    u64 request id (echoed)
//   u64 fence (the caller's epoch)    u32 payload bytes
//   u64 container                     u32 message bytes (an error's text)
//   u64 first (unit, or sum page)     then the payload, then the message
//   u32 count (units)
//   u32 payload bytes
//   u64 ring epoch (0 none), then the payload
//
// Payloads: kHello carries the cluster's 16-byte uuid and the units per
// container; kWrite `count` units of data then `count` u64 sums (little-endian,
// as on disk); kSync the u64 container numbers to sync. Answers: kReadUnits
// the data; kReadSums the sums; kList and kAllocatedUnits u64 lists; kStat the
// allocated bytes (count 0: the whole node's; count 1: those of containers
// [container, container + first), one pool's share). docs/FORMAT.md has the same table.
// The file ops' payloads start with the file name: u32 length, then the bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vmstore/status.h"

namespace vmstore::cluster {

// Pools share the cluster's container space in fixed spans: pool N holds
// containers [N << kPoolSpanBits, (N + 1) << kPoolSpanBits) and its files are
// named "pool-N/..." (docs/CLUSTER.md). Nodes fence by pool.
inline constexpr int kPoolSpanBits = 17;
inline constexpr uint64_t kMaxPools = uint64_t{1} << 16;

enum class ContainerOp : uint8_t {
  kHello = 1,
  kReadUnits = 2,
  kReadSums = 3,
  kWrite = 4,
  kSync = 5,
  kPunch = 6,
  kPunchSums = 7,
  kDelete = 8,
  kTruncate = 9,
  kList = 10,
  kAllocatedUnits = 11,
  kCheckHeader = 12,
  kStat = 13,
  // A pool's own files (superblock, logs, dedup index) kept on the nodes for
  // RemoteEnv: the payload starts with the file's name (u32 length, bytes);
  // `first` is the offset (or the new size), `count` the length to read, and
  // for kFilePunch `container` the length to punch.
  kFileRead = 14,
  kFileWrite = 15,
  kFileSync = 16,
  kFileTruncate = 17,
  kFilePunch = 18,
  kFileSize = 19,
  kFileAllocated = 20,
  kFileRanges = 21,
  kFileDelete = 22,
  kFileExists = 23,
  kFileList = 24,  // names starting with the payload's name, each as u32 length + bytes (count 1: then u64 bytes)
  // Part of a block: `first` is the block's first unit and `count` its units;
  // the payload is u0 and u1 (u64 each): the answer is units [u0, u1) of the
  // block, verified, then the sums of all `count` units.
  kReadBlockPart = 25,
  // The digests of a file's 64 KiB chunks (kFileChunkBytes): `first` is a
  // chunk-aligned offset, `count` the chunks (at most 1,024); the answer is
  // `count` u64s, each the hash of the chunk's bytes up to the file's end.
  kFileSums = 26,
};
const char* ContainerOpName(ContainerOp op);
// Whether `op` changes what a node holds (writes, punches, deletes, syncs...).
bool IsChange(ContainerOp op);

inline constexpr uint32_t kRequestMagic = 0x564d5132;   // "VMQ2" (2: with the ring epoch)
inline constexpr uint32_t kResponseMagic = 0x564d4352;  // "VMCR"
inline constexpr size_t kRequestHeaderBytes = 56;
inline constexpr size_t kResponseHeaderBytes = 24;
// The largest payload either side accepts: a coalesced run of 512 KiB plus
// its sums, with room to spare; a longer one ends the connection.
inline constexpr uint32_t kMaxPayloadBytes = 4u << 20;
inline constexpr uint32_t kMaxMessageBytes = 4096;
inline constexpr uint32_t kFileChunkBytes = 64 << 10;
inline constexpr uint32_t kMaxFileSumChunks = 1024;

// Request flags (header byte 5).
inline constexpr uint8_t kFlagRecovery = 1;  // a copy made by a repair or a move: throttled by the node
// On kReadSums: the node also reads the units and checks them; the answer is
// the `count` sums, then `count` u64s, each 1 when the unit matches its sum.
inline constexpr uint8_t kFlagVerify = 2;
// On any request: the copier is done with the object it names (a container,
// or a file by the payload's name); the node stops counting that copy as
// under way and performs nothing else.
inline constexpr uint8_t kFlagCopyEnd = 4;

struct ContainerRequest {
  ContainerOp op = ContainerOp::kHello;
  uint8_t flags = 0;
  uint64_t id = 0, fence = 0, container = 0, first = 0;
  uint32_t count = 0;
  uint32_t payload_bytes = 0;
  // The ring epoch the caller placed the object by (0: none - a repair, a
  // tool). A node refuses a change placed by an older ring than it knows.
  uint64_t ring_epoch = 0;
};

// A request of `op` with its fields (id, fence and payload size left 0).
inline ContainerRequest MakeRequest(ContainerOp op, uint64_t container, uint64_t first, uint32_t count) {
  ContainerRequest r;
  r.op = op;
  r.container = container;
  r.first = first;
  r.count = count;
  return r;
}

struct ContainerResponse {
  Code code = Code::kOk;
  uint64_t id = 0;
  uint32_t payload_bytes = 0, message_bytes = 0;
};

// The u64 lists of payloads and answers (sums, container numbers, unit
// ranges, sizes): little-endian, 8 bytes each. Decoding ignores a partial
// trailing value.
void AppendU64List(std::string* out, const std::vector<uint64_t>& v);
std::vector<uint64_t> DecodeU64List(std::string_view s);

// The file ops' payload prefix, and its inverse: (name, the rest).
std::string FileNamePayload(const std::string& name);
StatusOr<std::pair<std::string, std::string_view>> SplitFilePayload(std::string_view payload);

std::string EncodeRequest(const ContainerRequest& r);
// InvalidArgument for a bad magic, an unknown op or a payload over the limit.
StatusOr<ContainerRequest> DecodeRequest(std::string_view header);
std::string EncodeResponse(const ContainerResponse& r);
StatusOr<ContainerResponse> DecodeResponse(std::string_view header);

}  // namespace vmstore::cluster
