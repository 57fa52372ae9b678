#include "nbd/metrics.h"

namespace vmstore::nbd {

const char* OpName(Op op) {
  switch (op) {
    case Op::kRead:
      return "read";
    case Op::kWrite:
      return "write";
    case Op::kFlush:
      return "flush";
    case Op::kTrim:
      return "trim";
    case Op::kWriteZeroes:
      return "write_zeroes";
    case Op::kBlockStatus:
      return "block_status";
    case Op::kCache:
      return "cache";
    case Op::kOther:
      break;
  }
  return "other";
}

size_t LatencyBucket(uint64_t latency_ns) {
  const double s = static_cast<double>(latency_ns) * 1e-9;
  size_t i = 0;
  while (i < kLatencyBounds.size() && s > kLatencyBounds[i]) ++i;
  return i;
}

void ExportMetrics::Record(Op op, uint64_t bytes, uint64_t latency_ns, bool error) {
  Counters& c = ops_[static_cast<int>(op)];
  constexpr auto kRelaxed = std::memory_order_relaxed;
  c.requests.fetch_add(1, kRelaxed);
  if (error) c.errors.fetch_add(1, kRelaxed);
  c.bytes.fetch_add(bytes, kRelaxed);
  c.latency_ns_sum.fetch_add(latency_ns, kRelaxed);
  c.buckets[LatencyBucket(latency_ns)].fetch_add(1, kRelaxed);
}

void ExportMetrics::Opened() {
  connections_.fetch_add(1, std::memory_order_relaxed);
  open_.fetch_add(1, std::memory_order_relaxed);
}

void ExportMetrics::Closed() { open_.fetch_sub(1, std::memory_order_relaxed); }

ExportStats ExportMetrics::Snapshot() const {
  ExportStats s;
  s.connections = connections_.load(std::memory_order_relaxed);
  s.open_connections = open_.load(std::memory_order_relaxed);
  for (int i = 0; i < kOpCount; ++i) {
    const Counters& c = ops_[i];
    OpStats& o = s.ops[i];
    o.requests = c.requests.load(std::memory_order_relaxed);
    o.errors = c.errors.load(std::memory_order_relaxed);
    o.bytes = c.bytes.load(std::memory_order_relaxed);
    o.latency_ns_sum = c.latency_ns_sum.load(std::memory_order_relaxed);
    for (size_t b = 0; b < o.buckets.size(); ++b) o.buckets[b] = c.buckets[b].load(std::memory_order_relaxed);
  }
  return s;
}

ExportMetrics* ExportMetricsRegistry::For(const std::string& export_name) {
  MutexLock l(&mu_);
  auto& slot = exports_[export_name];
  if (!slot) slot = std::make_unique<ExportMetrics>();
  return slot.get();
}

std::map<std::string, ExportStats> ExportMetricsRegistry::Snapshot() const {
  MutexLock l(&mu_);
  std::map<std::string, ExportStats> out;
  for (const auto& [name, m] : exports_) out[name] = m->Snapshot();
  return out;
}

}  // namespace vmstore::nbd
