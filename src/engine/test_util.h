// Test helpers: a plain in-memory oracle of volumes and a random operation
// generator shared by the model and crash tests.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "util/mem_env.h"
#include "vmstore/pool.h"

namespace vmstore::testing {

#define ASSERT_OK(expr)                                     \
  do {                                                      \
    ::vmstore::Status _s = (expr);                          \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)
#define EXPECT_OK(expr)                                     \
  do {                                                      \
    ::vmstore::Status _s = (expr);                          \
    EXPECT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)

template <typename T>
T Unwrap(StatusOr<T> v) {
  if (!v.ok()) {
    ADD_FAILURE() << v.status().ToString();
    return T{};
  }
  return std::move(v).value();
}

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

// Power loss: drops or tears the env's unsynced writes (seeded), destroys the
// pool without letting it write, and reopens it from "/pool".
inline StatusOr<std::unique_ptr<Pool>> CrashAndReopen(MemEnv& env, std::unique_ptr<Pool>& pool, const PoolOptions& opts,
                                                      uint64_t seed) {
  env.SimulateCrash(seed);
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
