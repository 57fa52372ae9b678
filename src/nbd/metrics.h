// Per-export NBD counters for monitoring: for each export and each command,
// requests, errors, bytes and a latency histogram; connections per export.
//
// Example:
//   ExportMetrics* m = metrics.For("web/root");   // once, when a client opens it
//   m->Record(Op::kRead, 65536, /*latency_ns=*/120000, /*error=*/false);
//   for (auto& [name, snap] : metrics.Snapshot()) ... snap.ops[kRead].requests ...
//
// Counters only grow while the server runs (a restart starts them from zero,
// as Prometheus expects of counters); an export's entry stays after its disk
// is deleted, until the server stops.
// Thread-safety: all methods are thread-safe; Record is lock-free (relaxed
// atomics), so a Snapshot taken while requests run may see a request's count
// before its bytes, never a torn value. Ownership: pointers from For() stay
// valid as long as the ExportMetricsRegistry.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "util/mutex.h"

namespace vmstore::nbd {

// The commands counted (NBD_CMD_* that carry work; DISC is not counted).
enum class Op { kRead, kWrite, kFlush, kTrim, kWriteZeroes, kBlockStatus, kCache, kOther };
inline constexpr int kOpCount = 8;
// "read", "write", "flush", "trim", "write_zeroes", "block_status", "cache", "other".
const char* OpName(Op op);

// Upper bounds (seconds) of the latency histogram's buckets; one more bucket
// (+Inf) holds the rest. From 25 us (a cached 4 KiB read) to 10 s.
inline constexpr std::array<double, 18> kLatencyBounds = {25e-6,  50e-6,  100e-6, 250e-6, 500e-6, 1e-3,
                                                          2.5e-3, 5e-3,   10e-3,  25e-3,  50e-3,  100e-3,
                                                          250e-3, 500e-3, 1.0,    2.5,    5.0,    10.0};

struct OpStats {
  uint64_t requests = 0, errors = 0;
  uint64_t bytes = 0;           // the request's length (read, write, trim, write_zeroes, cache)
  uint64_t latency_ns_sum = 0;  // through the export's layers (nbd/layers.h), reply not included
  // Non-cumulative counts per bucket; the last one is +Inf.
  std::array<uint64_t, kLatencyBounds.size() + 1> buckets{};
};

struct ExportStats {
  uint64_t connections = 0;       // opened since the server started
  uint64_t open_connections = 0;  // in transmission now
  std::array<OpStats, kOpCount> ops{};
};

class ExportMetrics {
 public:
  void Record(Op op, uint64_t bytes, uint64_t latency_ns, bool error);
  void Opened();
  void Closed();
  ExportStats Snapshot() const;

 private:
  struct Counters {
    std::atomic<uint64_t> requests{0}, errors{0}, bytes{0}, latency_ns_sum{0};
    std::array<std::atomic<uint64_t>, kLatencyBounds.size() + 1> buckets{};
  };
  std::atomic<uint64_t> connections_{0}, open_{0};
  std::array<Counters, kOpCount> ops_;
};

class ExportMetricsRegistry {
 public:
  // The export's counters, made on first use.
  ExportMetrics* For(const std::string& export_name);
  // Every export's counters, by name.
  std::map<std::string, ExportStats> Snapshot() const;

 private:
  mutable Mutex mu_;
  std::map<std::string, std::unique_ptr<ExportMetrics>> exports_ GUARDED_BY(mu_);
};

// The index into kLatencyBounds (or kLatencyBounds.size() for +Inf) of the
// bucket holding `latency_ns`.
size_t LatencyBucket(uint64_t latency_ns);

}  // namespace vmstore::nbd
