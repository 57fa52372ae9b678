#include "engine/mem_block_store.h"

#include <cstring>
#include <random>

#include "engine/format.h"
#include "util/coding.h"

namespace vmstore {

using internal::ContainerFileName;
using internal::ContainerOf;
using internal::IndexOf;
using internal::kUnit;

Status MemBlockStore::Attach(const ContainerGeometry& geometry) {
  if (fate_) RETURN_IF_ERROR(fate_->InjectRead());
  MutexLock l(&mu_);
  for (auto& [n, c] : containers_) {
    if (c.current.header && (c.current.uuid != geometry.pool_uuid || c.current.units != geometry.container_units)) {
      return Corruption("block store holds container " + ContainerFileName(n) + " of another pool");
    }
  }
  geo_ = geometry;
  return Status::OK();
}

StatusOr<std::vector<uint64_t>> MemBlockStore::List() {
  if (fate_) RETURN_IF_ERROR(fate_->InjectRead());
  MutexLock l(&mu_);
  std::vector<uint64_t> out;
  for (auto& [n, c] : containers_) out.push_back(n);
  return out;
}

StatusOr<MemBlockStore::Container*> MemBlockStore::Find(uint64_t container) {
  auto it = containers_.find(container);
  if (it == containers_.end()) return Corruption("container " + ContainerFileName(container) + " is missing");
  return &it->second;
}

Status MemBlockStore::ReadUnits(uint64_t addr, uint32_t units, char* dst) {
  if (fate_) RETURN_IF_ERROR(fate_->InjectRead());
  MutexLock l(&mu_);
  ASSIGN_OR_RETURN(Container * c, Find(ContainerOf(addr)));
  for (uint32_t i = 0; i < units; ++i) {
    auto it = c->current.data.find(IndexOf(addr) + i);
    if (it == c->current.data.end()) {
      std::memset(dst + size_t{i} * kUnit, 0, kUnit);
    } else {
      std::memcpy(dst + size_t{i} * kUnit, it->second.data(), kUnit);
    }
  }
  return Status::OK();
}

Status MemBlockStore::ReadSums(uint64_t addr, uint32_t units, uint64_t* dst) {
  if (fate_) RETURN_IF_ERROR(fate_->InjectRead());
  MutexLock l(&mu_);
  ASSIGN_OR_RETURN(Container * c, Find(ContainerOf(addr)));
  for (uint32_t i = 0; i < units; ++i) {
    auto it = c->current.sums.find(IndexOf(addr) + i);
    dst[i] = it == c->current.sums.end() ? 0 : it->second;
  }
  return Status::OK();
}

void MemBlockStore::ApplyOp(Image* img, const Op& op, const std::vector<bool>* keep) {
  auto kept = [&](uint64_t i) { return !keep || (*keep)[i]; };
  switch (op.kind) {
    case Op::kHeader:
      img->header = true;
      img->uuid = op.uuid;
      img->units = op.units;
      break;
    case Op::kData:
      for (uint64_t i = 0; i < op.count; ++i) {
        if (kept(i)) img->data[op.first + i] = op.data.substr(i * kUnit, kUnit);
      }
      break;
    case Op::kSums:
      for (uint64_t i = 0; i < op.count; ++i) {
        if (kept(i)) img->sums[op.first + i] = op.sums[i];
      }
      break;
    case Op::kPunch:
      img->data.erase(img->data.lower_bound(op.first), img->data.lower_bound(op.first + op.count));
      break;
    case Op::kPunchSums:
      img->sums.erase(img->sums.lower_bound(op.first), img->sums.lower_bound(op.first + op.count));
      break;
    case Op::kTruncate:
      img->data.erase(img->data.lower_bound(op.first), img->data.end());
      break;
  }
}

void MemBlockStore::Do(uint64_t container, Op op) {
  Container& c = containers_[container];
  ApplyOp(&c.current, op, nullptr);
  c.pending.push_back(std::move(op));
  touched_.insert(container);
}

Status MemBlockStore::WriteBlocks(std::vector<UnitWrite> writes) {
  for (const UnitWrite& w : writes) {
    if (fate_) RETURN_IF_ERROR(fate_->InjectWrite());
    MutexLock l(&mu_);
    const uint64_t n = ContainerOf(w.addr);
    if (!containers_.count(n) || !containers_[n].current.header) {
      Op h{Op::kHeader};
      h.uuid = geo_.pool_uuid;
      h.units = geo_.container_units;
      Do(n, std::move(h));
    }
    Op d{Op::kData, IndexOf(w.addr), w.units};
    d.data.assign(w.data, size_t{w.units} * kUnit);
    Do(n, std::move(d));
    Op s{Op::kSums, IndexOf(w.addr), w.units};
    s.sums.assign(w.sums, w.sums + w.units);
    Do(n, std::move(s));
  }
  return Status::OK();
}

Status MemBlockStore::SyncTouched() {
  if (fate_) RETURN_IF_ERROR(fate_->InjectWrite());
  MutexLock l(&mu_);
  for (uint64_t n : touched_) {
    auto it = containers_.find(n);
    if (it == containers_.end()) continue;
    it->second.durable = it->second.current;
    it->second.pending.clear();
  }
  touched_.clear();
  return Status::OK();
}

Status MemBlockStore::Punch(uint64_t addr, uint32_t units) {
  if (fate_) RETURN_IF_ERROR(fate_->InjectWrite());
  MutexLock l(&mu_);
  RETURN_IF_ERROR(Find(ContainerOf(addr)).status());
  Do(ContainerOf(addr), Op{Op::kPunch, IndexOf(addr), units});
  return Status::OK();
}

Status MemBlockStore::PunchSums(uint64_t container, uint64_t page) {
  if (fate_) RETURN_IF_ERROR(fate_->InjectWrite());
  MutexLock l(&mu_);
  RETURN_IF_ERROR(Find(container).status());
  Do(container, Op{Op::kPunchSums, page * internal::kSumsPerPage, internal::kSumsPerPage});
  return Status::OK();
}

Status MemBlockStore::DeleteContainer(uint64_t container) {
  if (fate_) RETURN_IF_ERROR(fate_->InjectWrite());
  MutexLock l(&mu_);
  containers_.erase(container);
  touched_.erase(container);
  return Status::OK();
}

Status MemBlockStore::TruncateAt(uint64_t container, uint64_t index) {
  if (fate_) RETURN_IF_ERROR(fate_->InjectWrite());
  MutexLock l(&mu_);
  if (!containers_.count(container)) return Status::OK();
  Do(container, Op{Op::kTruncate, index, 0});
  return Status::OK();
}

StatusOr<uint64_t> MemBlockStore::AllocatedBytes() {
  if (fate_) RETURN_IF_ERROR(fate_->InjectRead());
  MutexLock l(&mu_);
  uint64_t total = 0;
  for (auto& [n, c] : containers_) {
    std::set<uint64_t> pages;
    for (auto& [u, s] : c.current.sums) pages.insert(u / internal::kSumsPerPage);
    total += (c.current.header ? kUnit : 0) + (pages.size() + c.current.data.size()) * kUnit;
  }
  return total;
}

StatusOr<std::vector<std::pair<uint64_t, uint64_t>>> MemBlockStore::AllocatedUnits(uint64_t container) {
  if (fate_) RETURN_IF_ERROR(fate_->InjectRead());
  MutexLock l(&mu_);
  ASSIGN_OR_RETURN(Container * c, Find(container));
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (auto& [u, d] : c->current.data) {
    if (!out.empty() && out.back().second == u) {
      ++out.back().second;
    } else {
      out.emplace_back(u, u + 1);
    }
  }
  return out;
}

Status MemBlockStore::CheckHeader(uint64_t container) {
  if (fate_) RETURN_IF_ERROR(fate_->InjectRead());
  MutexLock l(&mu_);
  ASSIGN_OR_RETURN(Container * c, Find(container));
  if (!c->current.header) return Corruption(ContainerFileName(container) + ": container header missing");
  if (c->current.uuid != geo_.pool_uuid || c->current.units != geo_.container_units) {
    return Corruption(ContainerFileName(container) + ": header belongs to another container or pool");
  }
  return Status::OK();
}

void MemBlockStore::SimulateCrash(uint64_t seed) {
  std::mt19937_64 rng(seed);
  MutexLock l(&mu_);
  for (auto& [n, c] : containers_) {
    Image img = c.durable;
    for (const Op& op : c.pending) {
      const int fate = static_cast<int>(rng() % 3);
      if (fate == 1) continue;  // dropped
      if (fate == 2 && (op.kind == Op::kData || op.kind == Op::kSums)) {
        std::vector<bool> keep(op.count);
        for (uint64_t i = 0; i < op.count; ++i) keep[i] = rng() % 2;
        ApplyOp(&img, op, &keep);  // torn: some units reached the media
      } else {
        ApplyOp(&img, op, nullptr);
      }
    }
    c.current = c.durable = img;
    c.pending.clear();
  }
  touched_.clear();
}

Status MemBlockStore::FlipDataBit(uint64_t addr, size_t byte, int bit) {
  MutexLock l(&mu_);
  ASSIGN_OR_RETURN(Container * c, Find(ContainerOf(addr)));
  auto it = c->current.data.find(IndexOf(addr));
  if (it == c->current.data.end() || byte >= kUnit) return NotFound("no data at " + internal::Hex(addr));
  it->second[byte] = static_cast<char>(it->second[byte] ^ (1 << bit));
  c->durable.data[IndexOf(addr)] = it->second;
  return Status::OK();
}

}  // namespace vmstore
