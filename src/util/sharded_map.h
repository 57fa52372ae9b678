// ShardedMap: a hash map split into 16 independently locked shards, so threads
// looking up different keys rarely share a mutex and no single lock serialises
// them. Values are returned by copy (use shared_ptr values for objects).
//
// Thread-safety: every method is thread-safe. ForEach holds one shard lock at a
// time and must not call back into the map.
#pragma once

#include <array>
#include <cstdint>
#include <unordered_map>

#include "util/mutex.h"

namespace vmstore::internal {

template <typename K, typename V>
class ShardedMap {
 public:
  // Returns the value, or a default-constructed V when absent.
  V Get(const K& k) const {
    const Shard& s = ShardOf(k);
    MutexLock l(&s.mu);
    auto it = s.m.find(k);
    return it == s.m.end() ? V{} : it->second;
  }
  bool Contains(const K& k) const {
    const Shard& s = ShardOf(k);
    MutexLock l(&s.mu);
    return s.m.count(k) != 0;
  }
  void Put(const K& k, V v) {
    Shard& s = ShardOf(k);
    MutexLock l(&s.mu);
    s.m[k] = std::move(v);
  }
  bool Erase(const K& k) {
    Shard& s = ShardOf(k);
    MutexLock l(&s.mu);
    return s.m.erase(k) != 0;
  }
  size_t Size() const {
    size_t n = 0;
    for (const Shard& s : shards_) {
      MutexLock l(&s.mu);
      n += s.m.size();
    }
    return n;
  }
  bool Empty() const { return Size() == 0; }
  template <typename F>
  void ForEach(F f) const {
    for (const Shard& s : shards_) {
      MutexLock l(&s.mu);
      for (const auto& [k, v] : s.m) f(k, v);
    }
  }
  void Clear() {
    for (Shard& s : shards_) {
      MutexLock l(&s.mu);
      s.m.clear();
    }
  }

 private:
  static constexpr int kShards = 16;
  struct Shard {
    mutable Mutex mu;
    std::unordered_map<K, V> m GUARDED_BY(mu);
  };
  Shard& ShardOf(const K& k) { return shards_[(static_cast<uint64_t>(k) * 0x9E3779B97F4A7C15ull) >> 60]; }
  const Shard& ShardOf(const K& k) const { return shards_[(static_cast<uint64_t>(k) * 0x9E3779B97F4A7C15ull) >> 60]; }
  std::array<Shard, kShards> shards_;
};

}  // namespace vmstore::internal
