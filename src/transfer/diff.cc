#include "transfer/diff.h"

#include <algorithm>
#include <cstring>

#include "util/coding.h"

namespace vmstore::transfer {

namespace {

constexpr uint64_t kPiece = 64 * 1024;    // the comparison's granularity
constexpr uint64_t kChunk = 1024 * 1024;  // read at a time

// Reads both devices and compares them piece by piece.
StatusOr<DiffResult> CompareDevices(backend::Device& a, backend::Device& b) {
  DiffResult r;
  r.from_size = a.size();
  r.to_size = b.size();
  std::string ba(kChunk, '\0'), bb(kChunk, '\0');
  for (uint64_t off = 0; off < r.to_size; off += kChunk) {
    uint64_t n = std::min(kChunk, r.to_size - off);
    RETURN_IF_ERROR(b.Read(off, std::span<char>(bb.data(), n)));
    uint64_t na = off < r.from_size ? std::min(n, r.from_size - off) : 0;
    if (na) RETURN_IF_ERROR(a.Read(off, std::span<char>(ba.data(), na)));
    std::memset(ba.data() + na, 0, n - na);
    for (uint64_t p = 0; p < n; p += kPiece) {
      uint64_t len = std::min(kPiece, n - p);
      if (std::memcmp(ba.data() + p, bb.data() + p, len) == 0) continue;
      AppendExtent(&r.changed, off + p, len,
                   internal::IsAllZero(bb.data() + p, len) ? ExtentType::kZero : ExtentType::kData);
    }
  }
  return r;
}

}  // namespace

StatusOr<DiskDiff> DiffDisks(Manager& m, const std::string& from, const std::string& to) {
  ASSIGN_OR_RETURN(DiskRef b, m.Resolve(to));
  if (from.empty()) return DiffResolved(nullptr, b);
  ASSIGN_OR_RETURN(DiskRef a, m.Resolve(from));
  return DiffResolved(&a, b);
}

StatusOr<DiskDiff> DiffResolved(const DiskRef* from, const DiskRef& to) {
  const DiskRef& b = to;
  DiskDiff d;
  if (!from) {
    d.method = "map";
    d.result.to_size = b.size;
    if (!b.backend->caps().allocation_map) {
      if (b.size) d.result.changed.push_back({0, b.size, ExtentType::kData});
      return d;
    }
    ASSIGN_OR_RETURN(auto map, b.backend->Map(b.handle, 0, b.size));
    for (const Extent& e : map) {
      if (e.type == ExtentType::kData) AppendExtent(&d.result.changed, e.offset, e.length, ExtentType::kData);
    }
    return d;
  }
  const DiskRef& a = *from;
  if (a.backend == b.backend) {
    auto r = b.backend->Diff(a.handle, b.handle);
    if (r.ok()) {
      d.method = "index";
      d.result = std::move(r).value();
      return d;
    }
    if (r.status().code() != Code::kNotSupported) return r.status();
  }
  ASSIGN_OR_RETURN(auto da, a.backend->OpenDevice(a.handle));
  ASSIGN_OR_RETURN(auto db, b.backend->OpenDevice(b.handle));
  d.method = "compare";
  ASSIGN_OR_RETURN(d.result, CompareDevices(*da, *db));
  return d;
}

StatusOr<std::string> SnapshotGuid(Manager& m, const std::string& vm_disk_at_full) {
  ASSIGN_OR_RETURN(auto props, m.Properties(vm_disk_at_full));
  if (auto it = props.find("vmstore:guid"); it != props.end()) return it->second;
  ASSIGN_OR_RETURN(DiskRef r, m.Resolve(vm_disk_at_full));
  return r.vdi_uuid;
}

}  // namespace vmstore::transfer
