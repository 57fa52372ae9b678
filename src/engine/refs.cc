#include "engine/refs.h"

#include "util/coding.h"

namespace vmstore::internal {

RefTable::PerContainer& RefTable::At(uint64_t c) {
  PerContainer& p = c_[c];
  if (p.ref.empty()) {
    p.ref.assign(units_, 0);
    p.used.assign(units_, 0);
  }
  return p;
}

uint32_t RefTable::Get(uint64_t addr) const {
  if (Foreign(addr)) return kMany;
  auto it = c_.find(ContainerOf(addr));
  if (it == c_.end()) return 0;
  return it->second.ref[IndexOf(addr)];
}

uint32_t RefTable::Incr(uint64_t addr, uint32_t units, bool* overlap) {
  if (Foreign(addr)) return kMany;
  PerContainer& p = At(ContainerOf(addr));
  uint64_t i = IndexOf(addr);
  uint32_t r = ++p.ref[i];
  if (r == 1) {
    for (uint64_t u = i; u < i + units && u < units_; ++u) {
      if (p.used[u] && overlap) *overlap = true;
      p.used[u] = 1;
    }
    p.live += units;
    live_ += units;
  }
  return r;
}

uint32_t RefTable::Decr(uint64_t addr, uint32_t units) {
  if (Foreign(addr)) return kMany;
  PerContainer& p = At(ContainerOf(addr));
  uint64_t i = IndexOf(addr);
  if (p.ref[i] == 0) return UINT32_MAX;  // caller reports: freeing a free block
  uint32_t r = --p.ref[i];
  if (r == 0) {
    for (uint64_t u = i; u < i + units && u < units_; ++u) p.used[u] = 0;
    p.live -= units;
    live_ -= units;
  }
  return r;
}

uint64_t RefTable::LiveUnitsIn(uint64_t c) const {
  auto it = c_.find(c);
  return it == c_.end() ? 0 : it->second.live;
}

bool RefTable::UnitInUse(uint64_t c, uint64_t index) const {
  auto it = c_.find(c);
  return it != c_.end() && index < units_ && it->second.used[index];
}

bool RefTable::AnyInUse(uint64_t c, uint64_t first, uint64_t end) const {
  auto it = c_.find(c);
  if (it == c_.end()) return false;
  end = std::min<uint64_t>(end, units_);
  for (uint64_t i = first; i < end; ++i) {
    if (it->second.used[i]) return true;
  }
  return false;
}

std::vector<uint64_t> RefTable::Containers() const {
  std::vector<uint64_t> out;
  for (auto& [c, p] : c_) out.push_back(c);
  return out;
}

std::string RefTable::Diff(const RefTable& o) const {
  if (live_ != o.live_) {
    return "live units " + std::to_string(live_) + " != " + std::to_string(o.live_);
  }
  if (data_blocks_ != o.data_blocks_) {
    return "data blocks " + std::to_string(data_blocks_) + " != " + std::to_string(o.data_blocks_);
  }
  auto check = [&](const RefTable& a, const RefTable& b) -> std::string {
    for (auto& [c, p] : a.c_) {
      auto it = b.c_.find(c);
      for (uint64_t i = 0; i < units_; ++i) {
        uint32_t other = it == b.c_.end() ? 0 : it->second.ref[i];
        if (p.ref[i] != other) {
          return "block " + Hex(MakeAddr(c, i)) + " count " + std::to_string(p.ref[i]) + " != " + std::to_string(other);
        }
      }
    }
    return "";
  };
  std::string d = check(*this, o);
  if (d.empty()) d = check(o, *this);
  return d;
}

}  // namespace vmstore::internal
