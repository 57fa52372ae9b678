#include "cluster/remote_block_store.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "util/coding.h"

namespace vmstore::cluster {

namespace {

constexpr size_t kUnit = 4096;
constexpr size_t kRunBytes = 512 * 1024;  // the coalescing buffer

}  // namespace

RemoteBlockStore::RemoteBlockStore(Ring ring, RemoteStoreOptions options)
    : RemoteBlockStore(RingView::Fixed(ring), std::move(options)) {}

RemoteBlockStore::RemoteBlockStore(std::shared_ptr<RingView> view, RemoteStoreOptions options)
    : opts_(std::move(options)), replicas_(std::move(view), opts_) {}

uint64_t RemoteBlockStore::Global(uint64_t container) const {
  return Foreign(container) ? container : container + opts_.container_base;
}

bool RemoteBlockStore::Foreign(uint64_t container) const {
  return opts_.container_span != 0 && container >= opts_.container_span;
}

ContainerRequest RemoteBlockStore::Req(ContainerOp op, uint64_t container, uint64_t first, uint32_t count) const {
  return MakeRequest(op, Global(container), first, count);
}

const MissSet* RemoteBlockStore::ForeignMisses(uint64_t container) {
  if (!Foreign(container)) return nullptr;
  const uint64_t pool = container / opts_.container_span;
  MutexLock l(&foreign_mu_);
  std::unique_ptr<MissSet>& m = foreign_[pool];
  if (!m) {
    m = std::make_unique<MissSet>(opts_.foreign_misses ? opts_.foreign_misses(pool) : nullptr);
    // Unreadable now: read as if none were recorded, and load again at the
    // next repair tick (a replica that did miss answers with old units,
    // which the engine's checksums catch).
    (void)m->Reload();
  }
  return m.get();
}

Status RemoteBlockStore::Attach(const ContainerGeometry& geometry) {
  if (geometry.container_units != opts_.cluster.container_units) {
    return InvalidArgument("the pool's containers hold " + std::to_string(geometry.container_units) +
                           " units; the cluster's hold " + std::to_string(opts_.cluster.container_units));
  }
  if (replicas_.Nodes().empty()) return FailedPrecondition("the ring has no storage nodes");
  return replicas_.misses().Load();
}

std::string RemoteBlockStore::ContainerObject(uint64_t container) const {
  return "container:" + std::to_string(Global(container));
}

bool RemoteBlockStore::OwnContainer(const std::string& number, uint64_t* global) const {
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), *global);
  if (ec != std::errc() || end != number.data() + number.size() || *global < opts_.container_base) return false;
  return opts_.container_span == 0 || *global - opts_.container_base < opts_.container_span;
}

std::map<uint64_t, std::set<std::string>> RemoteBlockStore::degraded() const {
  std::map<uint64_t, std::set<std::string>> out;
  for (auto& [number, nodes] : replicas_.misses().OfKind("container:")) {
    uint64_t global = 0;
    if (OwnContainer(number, &global)) out[global - opts_.container_base] = nodes;
  }
  return out;
}

StatusOr<std::string> RemoteBlockStore::ReadFrom(uint64_t container, const ContainerRequest& r,
                                                 std::string_view payload) {
  return replicas_.Read(ContainerObject(container), Global(container), r, payload, ForeignMisses(container));
}

Status RemoteBlockStore::ToAll(uint64_t container, const ContainerRequest& r, std::string_view payload) {
  if (Foreign(container)) {
    return Internal("the pool tried to change container " + std::to_string(container) +
                    ", another pool's (its share of the container space is used up, or a bug)");
  }
  return replicas_.Change(ContainerObject(container), Global(container), r, payload, [&](NodeClient* c) {
    MutexLock l(&mu_);
    touched_[c].insert(container);
  });
}

StatusOr<std::vector<uint64_t>> RemoteBlockStore::List() {
  std::set<uint64_t> all;
  int answered = 0;
  Status last;
  for (NodeClient* c : replicas_.Nodes()) {
    auto out = c->Call(MakeRequest(ContainerOp::kList, 0, 0, 0));
    if (!out.ok()) {
      last = out.status();
      continue;
    }
    ++answered;
    for (uint64_t x : DecodeU64List(*out)) {
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

Status RemoteBlockStore::ReadPartOfBlock(uint64_t addr, uint32_t block_units, uint32_t u0, uint32_t u1, char* dst,
                                         uint64_t* sums) {
  std::string range;
  AppendU64List(&range, {u0, u1});
  const uint64_t c = ContainerOfAddress(addr);
  ASSIGN_OR_RETURN(std::string got,
                   ReadFrom(c, Req(ContainerOp::kReadBlockPart, c, UnitOfAddress(addr), block_units), range));
  const size_t data = size_t{u1 - u0} * kUnit;
  if (got.size() != data + size_t{block_units} * 8) return Corruption("a node answered a read with the wrong length");
  std::memcpy(dst, got.data(), data);
  for (uint32_t i = 0; i < block_units; ++i) sums[i] = internal::GetU64(got.data() + data + size_t{i} * 8);
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
  std::map<uint64_t, int> synced;                       // container -> replicas that synced it
  std::map<uint64_t, std::vector<std::string>> behind;  // container -> replicas that did not
  Status last;
  // Every node's sync in flight at once: one round trip for the lot.
  std::vector<NodeClient::Sent> calls;
  for (auto& [c, containers] : touched) calls.push_back(c->Start(MakeRequest(ContainerOp::kSync, 0, 0, 0)));
  size_t i = 0;
  for (auto& [c, containers] : touched) {
    Status s = c->Finish(&calls[i++]).status();
    if (!s.ok()) last = s;
    for (uint64_t k : containers) {
      synced[k] += s.ok();
      if (!s.ok()) behind[k].push_back(c->name());
    }
  }
  // A client the ring no longer uses (its node restarted at another
  // address) is not asked again: its process is gone, and the checkpoint run
  // again writes its containers anew, to the nodes as they are now.
  auto put_back = [&] {
    MutexLock l(&mu_);
    for (auto& [c, containers] : touched) {
      if (replicas_.IsCurrent(c)) touched_[c].insert(containers.begin(), containers.end());
    }
  };
  // Nothing durable anywhere: the sync fails (and is run again), and no
  // replica is marked - none is behind another.
  for (auto& [k, n] : synced) {
    if (n == 0) {
      put_back();
      return last.WithContext("container " + std::to_string(k) + " synced on no replica");
    }
  }
  // The replicas that did not sync are recorded before the sync counts, so a
  // later reader cannot take their copies; unrecorded, the sync fails.
  for (auto& [k, nodes] : behind) {
    for (const std::string& n : nodes) {
      Status d = replicas_.misses().Add(ContainerObject(k), n);
      if (!d.ok()) {
        put_back();
        return d;
      }
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
  for (NodeClient* c : replicas_.Nodes()) {
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
  std::vector<uint64_t> v = DecodeU64List(s);
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (size_t i = 0; i + 1 < v.size(); i += 2) out.emplace_back(v[i], v[i + 1]);
  return out;
}

Status RemoteBlockStore::CheckHeader(uint64_t container) {
  return ReadFrom(container, Req(ContainerOp::kCheckHeader, container, 0, 0)).status();
}

RepairReport RemoteBlockStore::Repair() {
  {
    // Other pools' records, for reads of their blocks, as they are now.
    MutexLock l(&foreign_mu_);
    for (auto& [pool, m] : foreign_) (void)m->Reload();
  }
  auto key_of = [&](const std::string& number, uint64_t* key) { return OwnContainer(number, key); };
  return replicas_.Repair(
      "container:", key_of,
      [&](const std::string& object, uint64_t global, NodeClient* stale, uint64_t* bytes, bool final) {
        return SyncContainer(object, global, stale, bytes, final);
      },
      [&](const std::string& object) {
        uint64_t global = 0;
        (void)OwnContainer(object.substr(std::string("container:").size()), &global);
        return std::make_pair(MakeRequest(ContainerOp::kReadSums, global, 0, 1), std::string());
      });
}

Status RemoteBlockStore::SyncContainer(const std::string& object, uint64_t global, NodeClient* stale, uint64_t* bytes,
                                       bool final) {
  // The bulk is a recovery copy (throttled by the node, not yet under the
  // stripe lock: writes may land meanwhile, so what does not read whole is
  // left to the catching up, and is no sign of damage).
  // Recovery-flagged (bulk only): the reads from the good copy and the
  // changes to the stale one - what the nodes throttle and count as copies
  // out and in (not the stale node's own reads).
  auto req = [&](ContainerOp op, uint64_t first, uint32_t count, uint8_t flags = 0) {
    ContainerRequest r = MakeRequest(op, global, first, count);
    r.fence = replicas_.fence();
    r.flags = flags | (final ? 0 : kFlagRecovery);
    return r;
  };
  auto stale_read = [&](ContainerOp op, uint64_t first, uint32_t count, uint8_t flags = 0) {
    ContainerRequest r = req(op, first, count, flags);
    r.flags &= static_cast<uint8_t>(~kFlagRecovery);
    return r;
  };
  // From an owner's good copy - or, when no owner holds the object, from a
  // copy on a node the ring no longer names (a fault in the middle of a
  // move; ReplicaSet::Read falls back to it): copied from there, never given
  // up for gone.
  auto good_read = [&](const ContainerRequest& r, std::string_view payload = {}) -> StatusOr<std::string> {
    return replicas_.Read(object, global, r, payload, nullptr, /*record_damage=*/final);
  };
  using Ranges = std::vector<std::pair<uint64_t, uint64_t>>;
  auto ranges_of = [](const std::string& list) {
    Ranges out;
    const std::vector<uint64_t> v = DecodeU64List(list);
    for (size_t i = 0; i + 1 < v.size(); i += 2) out.emplace_back(v[i], v[i + 1]);
    return out;
  };
  auto listed = good_read(req(ContainerOp::kAllocatedUnits, 0, 0));
  if (!listed.ok() && listed.status().code() != Code::kNotFound) return listed.status();
  if (!listed.ok()) {
    // No node but the stale one holds it: deleted on every other since, so on it.
    Status gone = stale->Call(req(ContainerOp::kDelete, 0, 0)).status();
    return gone.ok() || gone.code() == Code::kNotFound ? Status::OK() : gone;
  }
  const Ranges good = ranges_of(*listed);
  Ranges mine;
  if (auto l = stale->Call(stale_read(ContainerOp::kAllocatedUnits, 0, 0)); l.ok()) {
    mine = ranges_of(*l);
  } else if (l.status().code() != Code::kNotFound) {
    if (final) return l.status();
    // A copy that cannot even list its units (a damaged header, say) is
    // made again whole.
    Status gone = stale->Call(req(ContainerOp::kDelete, 0, 0)).status();
    if (!gone.ok() && gone.code() != Code::kNotFound) return gone;
  }
  // Only the units whose sums differ from a good copy's travel: a node back
  // after a short absence takes what changed meanwhile, not the container.
  // The bulk also has the stale node check its units against their sums
  // (locally), so a damaged unit with an intact sum is copied too.
  constexpr uint32_t kSumRun = 512;  // sums per read (a request carries at most ~1,000 units)
  constexpr uint32_t kRunUnits = kRunBytes / kUnit;
  for (auto [begin, end] : good) {
    for (uint64_t first = begin; first < end;) {
      const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(kSumRun, end - first));
      auto theirs = good_read(req(ContainerOp::kReadSums, first, n));
      if (!theirs.ok() && (final || CopyWaits(theirs.status()))) return theirs.status();
      if (!theirs.ok() || theirs->size() != size_t{n} * 8) {
        if (final) return Corruption("a node answered a sums read of " + object + " wrongly");
        first += n;  // torn by a write meanwhile: left to the catching up
        continue;
      }
      auto ours = stale->Call(stale_read(ContainerOp::kReadSums, first, n, final ? 0 : kFlagVerify));
      const size_t ours_bytes = size_t{n} * (final ? 8 : 16);
      auto same = [&](uint32_t u) {
        if (!ours.ok() || ours->size() != ours_bytes) return false;
        if (!final && internal::GetU64(ours->data() + size_t{n} * 8 + size_t{u} * 8) != 1) return false;
        return std::memcmp(ours->data() + size_t{u} * 8, theirs->data() + size_t{u} * 8, 8) == 0;
      };
      for (uint32_t u = 0; u < n;) {
        if (same(u)) {
          ++u;
          continue;
        }
        uint32_t k = 1;  // a run of differing units, at most one write long
        while (u + k < n && k < kRunUnits && !same(u + k)) ++k;
        std::string range;
        AppendU64List(&range, {0, k});
        auto units_and_sums = good_read(req(ContainerOp::kReadBlockPart, first + u, k), range);
        if (!units_and_sums.ok() && (final || CopyWaits(units_and_sums.status()))) {
          return units_and_sums.status();  // (in the bulk: a node's copy limit, say - the copy waits)
        }
        if (final && units_and_sums->size() != size_t{k} * (kUnit + 8)) {
          return Corruption("a node answered a read of " + object + " with the wrong length");
        }
        if (units_and_sums.ok() && units_and_sums->size() == size_t{k} * (kUnit + 8)) {
          RETURN_IF_ERROR(stale->Call(req(ContainerOp::kWrite, first + u, k), *units_and_sums).status());
          *bytes += size_t{k} * kUnit;
        }
        u += k;
      }
      first += n;
    }
  }
  // Units only this copy holds (freed on the good ones meanwhile) go.
  auto held = [&](uint64_t u) {
    return std::any_of(good.begin(), good.end(), [&](const auto& r) { return u >= r.first && u < r.second; });
  };
  for (auto [begin, end] : mine) {
    for (uint64_t u = begin; u < end;) {
      const bool h = held(u);
      uint64_t v = u + 1;
      while (v < end && held(v) == h) ++v;
      if (!h) RETURN_IF_ERROR(stale->Call(req(ContainerOp::kPunch, u, static_cast<uint32_t>(v - u))).status());
      u = v;
    }
  }
  return final ? stale->Call(req(ContainerOp::kSync, 0, 0)).status() : Status::OK();
}

}  // namespace vmstore::cluster
