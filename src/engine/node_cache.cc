#include "engine/node_cache.h"

namespace vmstore::internal {

std::shared_ptr<const Node> NodeCache::Get(uint64_t addr) {
  Shard& s = ShardOf(addr);
  MutexLock l(&s.mu);
  auto it = s.map.find(addr);
  if (it == s.map.end()) return nullptr;
  s.lru.splice(s.lru.begin(), s.lru, it->second);
  return it->second->second;
}

void NodeCache::Put(uint64_t addr, std::shared_ptr<const Node> node) {
  Shard& s = ShardOf(addr);
  MutexLock l(&s.mu);
  auto it = s.map.find(addr);
  if (it != s.map.end()) {
    it->second->second = std::move(node);
    s.lru.splice(s.lru.begin(), s.lru, it->second);
    return;
  }
  s.lru.emplace_front(addr, std::move(node));
  s.map[addr] = s.lru.begin();
  while (s.map.size() > per_shard_) {
    s.map.erase(s.lru.back().first);
    s.lru.pop_back();
  }
}

void NodeCache::Erase(uint64_t addr) {
  Shard& s = ShardOf(addr);
  MutexLock l(&s.mu);
  auto it = s.map.find(addr);
  if (it == s.map.end()) return;
  s.lru.erase(it->second);
  s.map.erase(it);
}

void NodeCache::Clear() {
  for (Shard& s : shards_) {
    MutexLock l(&s.mu);
    s.lru.clear();
    s.map.clear();
  }
}

size_t NodeCache::size() const {
  size_t n = 0;
  for (Shard& s : shards_) {
    MutexLock l(&s.mu);
    n += s.map.size();
  }
  return n;
}

}  // namespace vmstore::internal
