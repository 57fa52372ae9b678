#include "cluster/remote_block_store.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "util/coding.h"

namespace vmstore::cluster {

namespace {

constexpr size_t kUnit = 4096;
constexpr size_t kRunBytes = 512 * 1024;  // the coalescing buffer

std::vector<uint64_t> U64s(const std::string& s) {
  std::vector<uint64_t> v(s.size() / 8);
  for (size_t i = 0; i < v.size(); ++i) v[i] = internal::GetU64(s.data() + i * 8);
  return v;
}

}  // namespace

bool IsFenced(const Status& s) { return s.code() == Code::kFailedPrecondition && s.message().rfind("fenced:", 0) == 0; }

RemoteBlockStore::RemoteBlockStore(Ring ring, RemoteStoreOptions options) : ring_(std::move(ring)), opts_(options) {}

ContainerRequest RemoteBlockStore::Req(ContainerOp op, uint64_t container, uint64_t first, uint32_t count) const {
  ContainerRequest r = MakeRequest(op, container + opts_.container_base, first, count);
  r.fence = opts_.fence;
  return r;
}

Status RemoteBlockStore::Attach(const ContainerGeometry& geometry) {
  if (geometry.container_units != opts_.cluster.container_units) {
    return InvalidArgument("the pool's containers hold " + std::to_string(geometry.container_units) +
                           " units; the cluster's hold " + std::to_string(opts_.cluster.container_units));
  }
  // Made once: a reopened pool attaches again, and touched_ holds pointers to them.
  for (const RingNode& n : ring_.nodes()) {
    if (!clients_.count(n.name)) {
      clients_[n.name] =
          std::make_unique<NodeClient>(n.address, opts_.cluster, opts_.timeout, opts_.connections_per_node, n.name);
    }
  }
  if (clients_.empty()) return FailedPrecondition("the ring has no storage nodes");
  return misses_.Load();
}

std::vector<NodeClient*> RemoteBlockStore::Owners(uint64_t container) {
  std::vector<NodeClient*> out;
  for (const RingNode* n : ring_.Place(container + opts_.container_base, opts_.replicas))
    out.push_back(clients_.at(n->name).get());
  return out;
}

std::string RemoteBlockStore::ContainerObject(uint64_t container) const {
  return "container:" + std::to_string(container + opts_.container_base);
}

std::map<uint64_t, std::set<std::string>> RemoteBlockStore::degraded() const {
  std::map<uint64_t, std::set<std::string>> out;
  for (auto& [number, nodes] : misses_.OfKind("container:")) {
    uint64_t global = 0;
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), global);
    if (ec != std::errc() || end != number.data() + number.size() || global < opts_.container_base) continue;
    out[global - opts_.container_base] = nodes;
  }
  return out;
}

StatusOr<std::string> RemoteBlockStore::ReadFrom(uint64_t container, const ContainerRequest& r) {
  Status first_error;
  const std::set<std::string> stale = misses_.Nodes(ContainerObject(container));
  for (NodeClient* c : Owners(container)) {
    if (stale.count(c->name())) continue;  // it missed a change: its units may be old
    ++round_trips_;
    auto out = c->Call(r);
    if (out.ok()) return out;
    // A damaged replica is worth more than an unreachable one in the report.
    if (first_error.ok() || out.status().code() == Code::kCorruption) first_error = out.status();
  }
  if (first_error.ok()) return IOError("container " + std::to_string(container) + " has no replica to read from");
  return first_error;
}

Status RemoteBlockStore::ToAll(uint64_t container, const ContainerRequest& r, std::string_view payload) {
  Status last;
  int ok = 0;
  for (NodeClient* c : Owners(container)) {
    ++round_trips_;
    Status s = c->Call(r, payload).status();
    if (s.ok()) {
      ++ok;
      MutexLock l(&mu_);
      touched_[c].insert(container);
    } else {
      if (IsFenced(s)) return s;  // this gateway lost the pool: not the replica's miss
      last = s;
      RETURN_IF_ERROR(misses_.Add(ContainerObject(container), c->name()));
    }
  }
  if (ok > 0) return Status::OK();
  return last.ok() ? FailedPrecondition("container " + std::to_string(container) + " has no replica") : last;
}

StatusOr<std::vector<uint64_t>> RemoteBlockStore::List() {
  std::set<uint64_t> all;
  int answered = 0;
  Status last;
  for (auto& [name, c] : clients_) {
    ++round_trips_;
    auto out = c->Call(MakeRequest(ContainerOp::kList, 0, 0, 0));
    if (!out.ok()) {
      last = out.status();
      continue;
    }
    ++answered;
    for (uint64_t x : U64s(*out)) {
      if (opts_.container_span == 0) {
        all.insert(x);
      } else if (x >= opts_.container_base && x - opts_.container_base < opts_.container_span) {
        all.insert(x - opts_.container_base);
      }
    }
  }
  if (!answered) return last;
  return std::vector<uint64_t>(all.begin(), all.end());
}

Status RemoteBlockStore::ReadUnits(uint64_t addr, uint32_t units, char* dst) {
  ASSIGN_OR_RETURN(std::string data,
                   ReadFrom(ContainerOfAddress(addr),
                            Req(ContainerOp::kReadUnits, ContainerOfAddress(addr), UnitOfAddress(addr), units)));
  if (data.size() != size_t{units} * kUnit) return Corruption("a node answered a read with the wrong length");
  std::memcpy(dst, data.data(), data.size());
  return Status::OK();
}

Status RemoteBlockStore::ReadSums(uint64_t addr, uint32_t units, uint64_t* dst) {
  ASSIGN_OR_RETURN(std::string sums,
                   ReadFrom(ContainerOfAddress(addr),
                            Req(ContainerOp::kReadSums, ContainerOfAddress(addr), UnitOfAddress(addr), units)));
  if (sums.size() != size_t{units} * 8) return Corruption("a node answered a sums read with the wrong length");
  for (uint32_t i = 0; i < units; ++i) dst[i] = internal::GetU64(sums.data() + size_t{i} * 8);
  return Status::OK();
}

Status RemoteBlockStore::WriteBlocks(std::vector<UnitWrite> writes) {
  // One request per replica for each run (the article's 512 KiB buffer).
  return ForEachRun(std::move(writes), kRunBytes, [&](const UnitRun& run) {
    return ToAll(run.container, Req(ContainerOp::kWrite, run.container, run.first, run.units), run.data + run.sums);
  });
}

Status RemoteBlockStore::SyncTouched() {
  std::map<NodeClient*, std::set<uint64_t>> touched;
  {
    MutexLock l(&mu_);
    touched.swap(touched_);
  }
  std::map<uint64_t, int> synced;  // container -> replicas that synced it
  Status last, unrecorded;
  for (auto& [c, containers] : touched) {
    ++round_trips_;
    Status s = c->Call(MakeRequest(ContainerOp::kSync, 0, 0, 0)).status();
    for (uint64_t k : containers) {
      synced[k] += s.ok();
      if (!s.ok()) {
        Status d = misses_.Add(ContainerObject(k), c->name());
        if (!d.ok() && unrecorded.ok()) unrecorded = d;
      }
    }
    if (!s.ok()) last = s;
  }
  // Nothing durable anywhere, or a miss that is not recorded (a later reader
  // could take the stale replica): the sync fails and is run again.
  auto put_back = [&](bool all, uint64_t k) {
    MutexLock l(&mu_);
    for (auto& [c, containers] : touched) {
      for (uint64_t x : containers) {
        if (all || x == k) touched_[c].insert(x);
      }
    }
  };
  if (!unrecorded.ok()) {
    put_back(true, 0);
    return unrecorded;
  }
  for (auto& [k, n] : synced) {
    if (n == 0) {
      put_back(false, k);
      return last.WithContext("container " + std::to_string(k) + " synced on no replica");
    }
  }
  return Status::OK();
}

Status RemoteBlockStore::Punch(uint64_t addr, uint32_t units) {
  return ToAll(ContainerOfAddress(addr), Req(ContainerOp::kPunch, ContainerOfAddress(addr), UnitOfAddress(addr), units),
               {});
}

Status RemoteBlockStore::PunchSums(uint64_t container, uint64_t page) {
  return ToAll(container, Req(ContainerOp::kPunchSums, container, page, 0), {});
}

Status RemoteBlockStore::DeleteContainer(uint64_t container) {
  return ToAll(container, Req(ContainerOp::kDelete, container, 0, 0), {});
}

Status RemoteBlockStore::TruncateAt(uint64_t container, uint64_t index) {
  return ToAll(container, Req(ContainerOp::kTruncate, container, index, 0), {});
}

StatusOr<uint64_t> RemoteBlockStore::AllocatedBytes() {
  uint64_t total = 0;
  for (auto& [name, c] : clients_) {
    ++round_trips_;
    // With a span: the bytes of the pool's own containers (every replica).
    auto out =
        c->Call(opts_.container_span ? MakeRequest(ContainerOp::kStat, opts_.container_base, opts_.container_span, 1)
                                     : MakeRequest(ContainerOp::kStat, 0, 0, 0));
    if (out.ok() && out->size() == 8) total += internal::GetU64(out->data());
  }
  return total;
}

StatusOr<std::vector<std::pair<uint64_t, uint64_t>>> RemoteBlockStore::AllocatedUnits(uint64_t container) {
  ASSIGN_OR_RETURN(std::string s, ReadFrom(container, Req(ContainerOp::kAllocatedUnits, container, 0, 0)));
  std::vector<uint64_t> v = U64s(s);
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (size_t i = 0; i + 1 < v.size(); i += 2) out.emplace_back(v[i], v[i + 1]);
  return out;
}

Status RemoteBlockStore::CheckHeader(uint64_t container) {
  return ReadFrom(container, Req(ContainerOp::kCheckHeader, container, 0, 0)).status();
}

}  // namespace vmstore::cluster
