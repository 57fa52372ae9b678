// NodeCache: a bounded LRU cache of clean (committed) index nodes, sharded 16 ways
// so concurrent readers rarely meet on one mutex.
//
// Ownership: entries are shared_ptr<const Node>; a reader keeps its node alive
// after eviction. Thread-safety: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <unordered_map>

#include "engine/format.h"
#include "util/mutex.h"

namespace vmstore::internal {

class NodeCache {
 public:
  explicit NodeCache(size_t capacity_nodes) : per_shard_(capacity_nodes / kShards + 1) {}

  std::shared_ptr<const Node> Get(uint64_t addr);
  void Put(uint64_t addr, std::shared_ptr<const Node> node);
  void Erase(uint64_t addr);
  void Clear();

  size_t size() const;  // nodes held now

 private:
  static constexpr int kShards = 16;
  struct Shard {
    using List = std::list<std::pair<uint64_t, std::shared_ptr<const Node>>>;
    Mutex mu;
    List lru GUARDED_BY(mu);  // front = newest
    std::unordered_map<uint64_t, List::iterator> map GUARDED_BY(mu);
  };
  Shard& ShardOf(uint64_t addr) { return shards_[(addr * 0x9E3779B97F4A7C15ull) >> 60]; }
  size_t per_shard_;
  mutable Shard shards_[kShards];
};

}  // namespace vmstore::internal
