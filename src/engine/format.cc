#include "engine/format.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "util/coding.h"

namespace vmstore::internal {

void Node::EncodeTo(char* unit) const {
  for (int i = 0; i < kFanout; ++i) {
    PutU64(unit + i * 16, e[i].addr);
    PutU64(unit + i * 16 + 8, e[i].csum);
  }
}

Node Node::Decode(const char* unit) {
  Node n;
  for (int i = 0; i < kFanout; ++i) {
    n.e[i].addr = GetU64(unit + i * 16);
    n.e[i].csum = GetU64(unit + i * 16 + 8);
  }
  return n;
}

uint64_t BlockChecksum(const uint64_t* unit_sums, size_t n) { return Hash64(unit_sums, n * 8); }

uint64_t ChecksumUnits(const char* data, size_t units, uint64_t* sums_out) {
  for (size_t i = 0; i < units; ++i) sums_out[i] = Hash64(data + i * kUnit, kUnit);
  return BlockChecksum(sums_out, units);
}

static const char kSuperMagic[8] = {'V', 'M', 'S', 'T', 'O', 'R', 'E', '\0'};
static const char kContainerMagic[8] = {'V', 'M', 'S', 'C', 'T', 'R', '\0', '\0'};

void Superblock::EncodeTo(char* s) const {
  std::memset(s, 0, kSlotSize);
  std::memcpy(s, kSuperMagic, 8);
  PutU32(s + 8, format_version);
  PutU32(s + 12, cluster_size);
  PutU32(s + 16, container_units);
  PutU32(s + 20, dedup);
  std::memcpy(s + 24, uuid.data(), 16);
  PutU64(s + 40, generation);
  PutU64(s + 48, cursor);
  PutU64(s + 56, next_volume_id);
  PutU64(s + 64, vtable.addr);
  PutU64(s + 72, vtable.csum);
  PutU32(s + 80, vtable_units);
  PutU64(s + 88, static_cast<uint64_t>(created_ns));
  PutU64(s + 96, Hash64(s, 96));
}

StatusOr<Superblock> Superblock::Decode(const char* s) {
  if (std::memcmp(s, kSuperMagic, 8) != 0) return InvalidArgument("not a VMStore superblock (bad magic)");
  if (GetU64(s + 96) != Hash64(s, 96)) return Corruption("superblock checksum mismatch");
  Superblock sb;
  sb.format_version = GetU32(s + 8);
  if (sb.format_version < kOldestFormatVersion || sb.format_version > kFormatVersion) {
    return NotSupported("pool has format version " + std::to_string(sb.format_version) +
                        "; this vmstore reads versions " + std::to_string(kOldestFormatVersion) + " to " +
                        std::to_string(kFormatVersion));
  }
  sb.dedup = GetU32(s + 20);
  if (sb.dedup > 2 || (sb.format_version == 1 && sb.dedup != 0)) {
    return Corruption("superblock has an unknown deduplication mode " + std::to_string(sb.dedup));
  }
  sb.cluster_size = GetU32(s + 12);
  sb.container_units = GetU32(s + 16);
  std::memcpy(sb.uuid.data(), s + 24, 16);
  sb.generation = GetU64(s + 40);
  sb.cursor = GetU64(s + 48);
  sb.next_volume_id = GetU64(s + 56);
  sb.vtable.addr = GetU64(s + 64);
  sb.vtable.csum = GetU64(s + 72);
  sb.vtable_units = GetU32(s + 80);
  sb.created_ns = static_cast<int64_t>(GetU64(s + 88));
  if (sb.cluster_size < 4096 || sb.cluster_size > (1u << 20) || (sb.cluster_size & (sb.cluster_size - 1)) ||
      sb.container_units < sb.cluster_size / kUnit || sb.container_units > kIndexMask) {
    return Corruption("superblock has impossible geometry");
  }
  return sb;
}

void ContainerHeader::EncodeTo(char* b) const {
  std::memset(b, 0, kSize);
  std::memcpy(b, kContainerMagic, 8);
  PutU32(b + 8, kContainerVersion);
  PutU32(b + 12, units);
  PutU64(b + 16, number);
  std::memcpy(b + 24, uuid.data(), 16);
  PutU64(b + 40, Hash64(b, 40));
}

StatusOr<ContainerHeader> ContainerHeader::Decode(const char* b) {
  if (std::memcmp(b, kContainerMagic, 8) != 0) return Corruption("container header: bad magic");
  if (GetU64(b + 40) != Hash64(b, 40)) return Corruption("container header: checksum mismatch");
  ContainerHeader h;
  h.units = GetU32(b + 12);
  h.number = GetU64(b + 16);
  std::memcpy(h.uuid.data(), b + 24, 16);
  return h;
}

std::string ContainerFileName(uint64_t number) {
  char b[32];
  std::snprintf(b, sizeof b, "%09" PRIx64 ".ctr", number);
  return b;
}

uint64_t PlaceBlock(uint64_t* cursor, uint32_t units, uint32_t container_units) {
  uint64_t c = ContainerOf(*cursor), i = IndexOf(*cursor);
  if (i + units > container_units) {
    ++c;
    i = 0;
  }
  *cursor = MakeAddr(c, i + units);
  return MakeAddr(c, i);
}

Status CheckBlockAddr(uint64_t addr, uint32_t units, uint64_t cursor, uint32_t container_units) {
  uint64_t c = ContainerOf(addr), i = IndexOf(addr);
  if (c < 1 || c > ContainerOf(cursor) || i + units > container_units ||
      (c == ContainerOf(cursor) && i + units > IndexOf(cursor))) {
    return Corruption("block pointer " + Hex(addr) + " (" + std::to_string(units) + " units) is outside the pool");
  }
  return Status::OK();
}

bool ParseContainerFileName(const std::string& name, uint64_t* number) {
  if (name.size() != 13 || name.substr(9) != ".ctr") return false;
  uint64_t v = 0;
  for (int i = 0; i < 9; ++i) {
    char c = name[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return false;
    v = v * 16 + static_cast<uint64_t>(d);
  }
  *number = v;
  return v >= 1 && v <= kMaxContainer;
}

static constexpr uint32_t kVtableMagic = 0x31425456;  // "VTB1"

std::string EncodeVolumeTable(const std::vector<VolumeRecord>& vols) {
  std::string s;
  AppendU32(&s, kVtableMagic);
  AppendU32(&s, static_cast<uint32_t>(vols.size()));
  AppendU64(&s, 0);
  for (const VolumeRecord& v : vols) {
    AppendU64(&s, v.id);
    AppendU64(&s, v.size);
    AppendU64(&s, v.root.addr);
    AppendU64(&s, v.root.csum);
    AppendU32(&s, v.height);
    AppendU32(&s, v.flags);
    AppendU64(&s, v.parent);
    AppendU64(&s, static_cast<uint64_t>(v.created_ns));
    AppendU64(&s, v.tag);
  }
  s.resize((s.size() + kUnit - 1) / kUnit * kUnit, '\0');
  return s;
}

StatusOr<std::vector<VolumeRecord>> DecodeVolumeTable(const std::string& b) {
  if (b.size() < 16 || GetU32(b.data()) != kVtableMagic) return Corruption("volume table: bad magic");
  uint32_t n = GetU32(b.data() + 4);
  if (16 + uint64_t{n} * VolumeRecord::kSize > b.size()) return Corruption("volume table: truncated");
  std::vector<VolumeRecord> out(n);
  for (uint32_t i = 0; i < n; ++i) {
    const char* p = b.data() + 16 + i * VolumeRecord::kSize;
    VolumeRecord& v = out[i];
    v.id = GetU64(p);
    v.size = GetU64(p + 8);
    v.root.addr = GetU64(p + 16);
    v.root.csum = GetU64(p + 24);
    v.height = GetU32(p + 32);
    v.flags = GetU32(p + 36);
    v.parent = GetU64(p + 40);
    v.created_ns = static_cast<int64_t>(GetU64(p + 48));
    v.tag = GetU64(p + 56);
    if (v.height < 1 || v.height > 8) return Corruption("volume table: impossible tree height");
  }
  return out;
}

}  // namespace vmstore::internal
