// The copy-on-write radix trees: lookups, path copying and reference counting.
#include <cstring>

#include "engine/pool_impl.h"
#include "util/coding.h"

namespace vmstore::internal {

static inline int Digit(uint64_t cluster, int level) {
  return static_cast<int>((cluster >> (kFanoutBits * level)) & (kFanout - 1));
}

Status PoolImpl::CheckAddr(uint64_t addr, uint32_t units) const {
  if (!Foreign(addr)) return CheckBlockAddr(addr, units, cursor_.load(), sb_.container_units);
  if (IndexOf(addr) + units > sb_.container_units || ContainerOf(addr) >> 33 != 0) {
    return Corruption("foreign block address " + Hex(addr) + " is outside any container");
  }
  return Status::OK();
}

StatusOr<std::shared_ptr<const Node>> PoolImpl::LoadNode(const BlockPtr& p, ReadStats* stats) const {
  if (stats) ++stats->nodes_visited;
  std::shared_ptr<const Node> found;
  if (auto d = dirty_nodes_.Get(p.addr)) {
    found = std::move(d);
  } else if (auto f = frozen_nodes_.Get(p.addr)) {
    found = std::move(f);
  } else {
    found = cache_.Get(p.addr);
  }
  if (found) {
    node_hits_.fetch_add(1, std::memory_order_relaxed);
    return found;
  }
  node_misses_.fetch_add(1, std::memory_order_relaxed);
  RETURN_IF_ERROR(CheckAddr(p.addr, 1));
  char buf[kUnit];
  RETURN_IF_ERROR(store_->ReadUnits(p.addr, 1, buf));
  uint64_t sum;
  if (ChecksumUnits(buf, 1, &sum) != p.csum) {
    return Corruption("index node " + Hex(p.addr) + " (container " + ContainerFileName(ContainerOf(p.addr)) +
                      "): checksum mismatch");
  }
  Node decoded = Node::Decode(buf);
  if (Foreign(p.addr)) {
    // Another pool's node names its own blocks in its own numbering.
    const uint64_t base = MakeAddr(ContainerOf(p.addr) / opts_.container_span * opts_.container_span, 0);
    for (BlockPtr& e : decoded.e) {
      if (IsReal(e.addr) && !Foreign(e.addr)) e.addr += base;
    }
  }
  auto n = std::make_shared<const Node>(std::move(decoded));
  cache_.Put(p.addr, n);
  return n;
}

StatusOr<Node*> PoolImpl::MutableNode(BlockPtr* ref) {
  if (ref->addr == kHoleAddr) {
    uint64_t a = AllocateAddr(1);
    refs_.Incr(a, 1);
    auto n = std::make_shared<Node>();
    dirty_nodes_.Put(a, n);
    dirty_bytes_ += kUnit;
    *ref = {a, 0};
    return n.get();
  }
  uint32_t rc = refs_.Get(ref->addr);
  if (rc == 1) {
    if (auto d = dirty_nodes_.Get(ref->addr)) return d.get();
  }
  ASSIGN_OR_RETURN(auto old, LoadNode(*ref, nullptr));
  auto n = std::make_shared<Node>(*old);
  uint64_t a = AllocateAddr(1);
  refs_.Incr(a, 1);
  if (rc > 1) {
    // Shared: the copy takes its own reference to every child.
    for (const BlockPtr& c : n->e) {
      if (IsReal(c.addr)) refs_.Incr(c.addr);
    }
    refs_.Decr(ref->addr, 1);
  } else {
    // Private but committed: move it; the children keep their single reference.
    refs_.Decr(ref->addr, 1);
    Release(ref->addr, 1);
  }
  dirty_nodes_.Put(a, n);
  dirty_bytes_ += kUnit;
  *ref = {a, 0};
  return n.get();
}

void PoolImpl::Release(uint64_t addr, uint32_t units) {
  if (dirty_nodes_.Erase(addr)) {
    dirty_bytes_ -= kUnit;
  } else if (auto d = dirty_data_.Get(addr)) {
    dirty_bytes_ -= d->size();
    dirty_data_.Erase(addr);
  } else {
    pending_free_.emplace_back(addr, units);
    cache_.Erase(addr);
  }
  if (auto ov = overlays_.Get(addr)) {
    dirty_bytes_ -= ov->units.size() * 2 * kUnit;
    overlays_.Erase(addr);
  }
}

Status PoolImpl::Unref(const BlockPtr& p, int level) {
  if (!IsReal(p.addr)) return Status::OK();
  uint32_t units = level >= 0 ? 1 : cluster_units();
  // A volume's root outside the pool was never counted (WalkRefs refused it,
  // and nothing allocates there): there is nothing to drop. Arithmetic only,
  // before any table lookup on this path every overwrite takes.
  if (!CheckAddr(p.addr, units).ok()) return Status::OK();
  // A node's children must be read before its count reaches zero releases it.
  std::shared_ptr<const Node> node;
  const bool damaged = level >= 0 && damaged_nodes_.count(p.addr);  // its children were never counted
  if (level >= 0 && refs_.Get(p.addr) == 1 && !damaged) {
    auto n = LoadNode(p, nullptr);
    if (!n.ok()) {
      // The node cannot be read now: the reference is dropped later
      // (RetryDeferredUnrefs), so what changed so far stays as it is.
      deferred_unrefs_.emplace_back(p, level);
      return Status::OK();
    }
    node = std::move(*n);
  }
  uint32_t rc = refs_.Decr(p.addr, units);
  if (rc == UINT32_MAX) return Internal("reference count underflow at block " + Hex(p.addr));
  if (rc > 0) return Status::OK();
  if (level < 0) refs_.AddDataBlocks(-1);
  if (damaged) damaged_nodes_.erase(p.addr);  // the address may hold a good node later
  if (node) {
    for (const BlockPtr& c : node->e) RETURN_IF_ERROR(Unref(c, level - 1));
  }
  Release(p.addr, units);
  return Status::OK();
}

void PoolImpl::RetryDeferredUnrefs() {
  std::vector<std::pair<BlockPtr, int>> todo;
  todo.swap(deferred_unrefs_);
  for (auto& [p, level] : todo) (void)Unref(p, level);  // those failing again are deferred again
}

StatusOr<BlockPtr> PoolImpl::Lookup(const VolumeRecord& v, uint64_t cluster, ReadStats* stats) const {
  BlockPtr p = v.root;
  for (int level = static_cast<int>(v.height) - 1; level >= 0; --level) {
    if (!IsReal(p.addr)) return BlockPtr{kHoleAddr, 0};
    ASSIGN_OR_RETURN(auto node, LoadNode(p, stats));
    p = node->e[Digit(cluster, level)];
  }
  return p;
}

StatusOr<std::pair<Node*, int>> PoolImpl::LeafForWrite(VolumeRecord* v, uint64_t cluster) {
  BlockPtr* ref = &v->root;
  Node* n = nullptr;
  for (int level = static_cast<int>(v->height) - 1; level >= 0; --level) {
    ASSIGN_OR_RETURN(n, MutableNode(ref));
    ref = &n->e[Digit(cluster, level)];
  }
  return std::make_pair(n, Digit(cluster, 0));
}

uint64_t PoolImpl::AllocateAddr(uint32_t units) {
  uint64_t c = cursor_.load();
  uint64_t a = PlaceBlock(&c, units, sb_.container_units);
  cursor_.store(c);
  return a;
}

BlockPtr PoolImpl::NewDataBlock(std::string content) {
  uint64_t a = AllocateAddr(cluster_units());
  refs_.Incr(a, cluster_units());
  refs_.AddDataBlocks(1);
  dirty_bytes_ += content.size();
  dirty_data_.Put(a, std::make_shared<std::string>(std::move(content)));
  return {a, 0};
}

Status PoolImpl::WalkRefs(const BlockPtr& p, int level, RefTable* refs, std::vector<std::string>* problems,
                          std::set<uint64_t>& damaged) const {
  if (!IsReal(p.addr)) return Status::OK();
  uint32_t units = level >= 0 ? 1 : cluster_units();
  bool overlap = false;
  if (!dirty_nodes_.Contains(p.addr) && !dirty_data_.Contains(p.addr)) {
    RETURN_IF_ERROR(CheckAddr(p.addr, units));
  }
  if (refs->Incr(p.addr, units, &overlap) > 1) {
    if (damaged.count(p.addr)) {
      return Corruption("index node " + Hex(p.addr) + " cannot be read (shared with another volume)");
    }
    return Status::OK();
  }
  if (overlap && problems) problems->push_back("block " + Hex(p.addr) + " overlaps another block");
  if (level < 0) {
    refs->AddDataBlocks(1);
    return Status::OK();
  }
  auto node = LoadNode(p, nullptr);
  if (!node.ok()) {
    damaged.insert(p.addr);
    return node.status();
  }
  // A node that reads well but points outside the pool (a bug's pointer that
  // was signed) is as damaged as one that cannot be read: none of its
  // children is counted, so deleting its volume drops none of them.
  for (const BlockPtr& c : (*node)->e) {
    if (!IsReal(c.addr) || dirty_nodes_.Contains(c.addr) || dirty_data_.Contains(c.addr)) continue;
    Status s = CheckAddr(c.addr, level > 0 ? 1 : cluster_units());
    if (!s.ok()) {
      damaged.insert(p.addr);
      return Corruption("index node " + Hex(p.addr) + " points outside the pool: " + s.message());
    }
  }
  Status first;
  for (const BlockPtr& c : (*node)->e) {
    Status s = WalkRefs(c, level - 1, refs, problems, damaged);
    if (s.ok()) continue;
    if (first.ok()) first = s;  // the rest is counted still
  }
  return first;
}

void PoolImpl::RebuildRefs(RefTable* refs, std::vector<std::string>* problems, std::set<uint64_t>* damaged_nodes,
                           std::map<VolumeId, std::string>* damaged_volumes) const {
  if (IsReal(sb_.vtable.addr)) refs->Incr(sb_.vtable.addr, sb_.vtable_units);
  for (auto& [id, st] : vols_) {
    Status s = WalkRefs(st->rec.root, static_cast<int>(st->rec.height) - 1, refs, problems, *damaged_nodes);
    if (!s.ok()) (*damaged_volumes)[id] = s.message();
  }
}

Status PoolImpl::Usable(VolumeId id, const VolumeState& st) {
  if (st.damaged.empty()) return Status::OK();
  return Corruption("volume " + std::to_string(id) + " is damaged: " + st.damaged +
                    " (found when the pool opened; run `vmstore fsck`; the volume can only be deleted)");
}

Status PoolImpl::WalkLeaves(const BlockPtr& p, int level, uint64_t base, uint64_t lo, uint64_t hi,
                            const LeafFn& fn) const {
  uint64_t span = uint64_t{1} << (kFanoutBits * (level + 1));  // clusters under this node
  uint64_t first = std::max(lo, base), last = std::min(hi, base + span);
  if (first >= last) return Status::OK();
  if (!IsReal(p.addr)) return fn(first, last - first, BlockPtr{kHoleAddr, 0});
  ASSIGN_OR_RETURN(auto node, LoadNode(p, nullptr));
  uint64_t child_span = span / kFanout;
  int i0 = static_cast<int>((first - base) / child_span), i1 = static_cast<int>((last - 1 - base) / child_span);
  for (int i = i0; i <= i1; ++i) {
    uint64_t cb = base + uint64_t(i) * child_span;
    if (level == 0) {
      RETURN_IF_ERROR(fn(cb, 1, node->e[i]));
    } else {
      RETURN_IF_ERROR(WalkLeaves(node->e[i], level - 1, cb, lo, hi, fn));
    }
  }
  return Status::OK();
}

}  // namespace vmstore::internal
