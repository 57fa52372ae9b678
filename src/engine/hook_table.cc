#include "engine/hook_table.h"

namespace vmstore::internal {

namespace {
uint64_t Normal(uint64_t key) { return key == 0 ? 1 : key; }
}  // namespace

size_t HookTable::Probe(uint64_t key) const {
  const size_t mask = slots_.size() - 1;
  size_t i = static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 17) & mask;
  while (slots_[i].key != 0 && slots_[i].key != key) i = (i + 1) & mask;
  return i;
}

void HookTable::Grow() {
  std::vector<Slot> old;
  old.swap(slots_);
  slots_.assign(old.empty() ? 1024 : old.size() * 2, Slot{});
  for (const Slot& s : old) {
    if (s.key != 0) slots_[Probe(s.key)] = s;
  }
}

void HookTable::Insert(uint64_t key, uint64_t manifest) {
  key = Normal(key);
  if ((used_ + 1) * 4 > slots_.size() * 3) Grow();
  Slot& s = slots_[Probe(key)];
  if (s.key == 0) {
    s.key = key;
    ++used_;
  }
  if (s.m[0] == manifest) return;
  s.m[1] = s.m[0];
  s.m[0] = manifest;
}

std::array<uint64_t, 2> HookTable::Find(uint64_t key) const {
  if (slots_.empty()) return {0, 0};
  const Slot& s = slots_[Probe(Normal(key))];
  if (s.key == 0) return {0, 0};
  return {s.m[0], s.m[1]};
}

void HookTable::Clear() {
  std::vector<Slot>().swap(slots_);
  used_ = 0;
}

}  // namespace vmstore::internal
