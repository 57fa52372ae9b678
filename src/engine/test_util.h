// Test helpers: a plain in-memory oracle of volumes and a random operation
// generator shared by the model and crash tests.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "engine/mem_block_store.h"
#include "util/mem_env.h"
#include "util/testing.h"
#include "vmstore/pool.h"

namespace vmstore::testing {

// The oracle: every volume as a plain string.
struct OracleVolume {
  std::string data;
  bool read_only = false;
};
using Oracle = std::map<VolumeId, OracleVolume>;

inline PoolOptions SmallOptions(MemEnv* env, uint32_t cluster) {
  PoolOptions o;
  o.env = env;
  o.cluster_size = cluster;
  o.container_size = std::max<uint64_t>(uint64_t{cluster} * 8, 1 << 20);
  o.max_dirty_bytes = uint64_t{cluster} * 24;
  o.max_wal_bytes = 4 << 20;
  o.node_cache_bytes = 64 * 4096;
  return o;
}

// A random volume of the oracle (only writable ones if `writable`); 0 if none.
inline VolumeId PickVolume(std::mt19937_64& rng, const Oracle& oracle, bool writable) {
  std::vector<VolumeId> ids;
  for (auto& [id, v] : oracle) {
    if (!writable || !v.read_only) ids.push_back(id);
  }
  return ids.empty() ? 0 : ids[rng() % ids.size()];
}

// Power loss: drops or tears the env's unsynced writes (seeded) - and the
// block store's, when `opts` has a MemBlockStore - destroys the pool without
// letting it write, and reopens it from "/pool".
inline StatusOr<std::unique_ptr<Pool>> CrashAndReopen(MemEnv& env, std::unique_ptr<Pool>& pool, const PoolOptions& opts,
                                                      uint64_t seed) {
  env.SimulateCrash(seed);
  if (auto* store = dynamic_cast<MemBlockStore*>(opts.block_store)) store->SimulateCrash(seed + 1);
  env.SetDead(true);
  pool.reset();  // must not write: the env is dead
  env.SetDead(false);
  return Pool::Open("/pool", opts);
}

// Fills `buf` from a small alphabet of patterns (so contents repeat) or random bytes.
inline void FillPattern(std::mt19937_64& rng, std::string* buf) {
  int kind = static_cast<int>(rng() % 4);
  if (kind == 0) {
    std::fill(buf->begin(), buf->end(), '\0');
  } else if (kind == 1) {
    char c = static_cast<char>('a' + rng() % 4);
    std::fill(buf->begin(), buf->end(), c);
  } else {
    for (auto& ch : *buf) ch = static_cast<char>(rng());
  }
}

// Fills `buf`, to be written at byte `offset` of a volume, from an alphabet of
// five 4 KiB unit contents (the first all zero), so that whole clusters repeat
// across writes and volumes: the deduplication tests' data. Half the writes
// repeat one content throughout; the others change it at unit boundaries.
inline void FillFromAlphabet(std::mt19937_64& rng, std::string* buf, uint64_t offset) {
  static const std::vector<std::string> kUnits = [] {
    std::mt19937_64 r(4242);
    std::vector<std::string> u(5, std::string(4096, '\0'));
    for (size_t i = 1; i < u.size(); ++i) {
      for (char& c : u[i]) c = static_cast<char>(r());
    }
    return u;
  }();
  const bool one = rng() % 2;
  size_t k = rng() % kUnits.size();
  for (size_t pos = 0; pos < buf->size();) {
    const size_t in = (offset + pos) % 4096, n = std::min<size_t>(4096 - in, buf->size() - pos);
    std::memcpy(buf->data() + pos, kUnits[k].data() + in, n);
    pos += n;
    if (!one) k = rng() % kUnits.size();
  }
}

// Options of a test pool deduplicating in `mode` (SmallOptions when off):
// every other fingerprint a hook and two manifests cached, so lookups go to the
// file often.
inline PoolOptions DedupOptions(MemEnv* env, uint32_t cluster, DedupMode mode) {
  PoolOptions o = SmallOptions(env, cluster);
  if (mode == DedupMode::kOff) return o;
  o.dedup = mode;
  o.dedup_hook_bits = 1;
  o.dedup_cache_manifests = 2;
  return o;
}

// The data of a random write at `offset`: FillFromAlphabet for a deduplicating
// pool (duplicates are frequent), FillPattern otherwise.
inline void FillWrite(std::mt19937_64& rng, std::string* buf, uint64_t offset, bool dedup) {
  if (dedup) {
    FillFromAlphabet(rng, buf, offset);
  } else {
    FillPattern(rng, buf);
  }
}

// Compares every volume of the pool with the oracle; returns "" or a description.
inline std::string CompareAll(Pool& pool, const Oracle& oracle) {
  auto vols = pool.ListVolumes();
  if (vols.size() != oracle.size()) {
    return "pool has " + std::to_string(vols.size()) + " volumes, oracle " + std::to_string(oracle.size());
  }
  for (const VolumeInfo& v : vols) {
    auto it = oracle.find(v.id);
    if (it == oracle.end()) return "unexpected volume " + std::to_string(v.id);
    if (v.size != it->second.data.size()) {
      return "volume " + std::to_string(v.id) + " size " + std::to_string(v.size) +
             " != " + std::to_string(it->second.data.size());
    }
    if (v.read_only != it->second.read_only) return "volume " + std::to_string(v.id) + " read-only flag differs";
    std::string got(v.size, '\0');
    Status s = pool.Read(v.id, 0, got);
    if (!s.ok()) return "read volume " + std::to_string(v.id) + ": " + s.ToString();
    if (got != it->second.data) {
      size_t i = 0;
      while (got[i] == it->second.data[i]) ++i;
      return "volume " + std::to_string(v.id) + " differs at byte " + std::to_string(i);
    }
  }
  return "";
}

}  // namespace vmstore::testing
