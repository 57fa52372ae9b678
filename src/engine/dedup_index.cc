#include "engine/dedup_index.h"

#include <algorithm>

namespace vmstore::internal {

DedupIndex::DedupIndex(Env* env, std::string path, Options options)
    : env_(env), path_(std::move(path)), opts_(options) {}

Status DedupIndex::OpenFile() {
  if (file_) return Status::OK();
  ASSIGN_OR_RETURN(file_, env_->OpenFile(path_, true));
  return Status::OK();
}

Status DedupIndex::Load(uint64_t committed_generation) {
  RETURN_IF_ERROR(OpenFile());
  ASSIGN_OR_RETURN(uint64_t size, file_->Size());
  uint64_t at = 0;
  std::vector<Hook> hooks;
  while (at < size) {
    size_t before = hooks.size();
    auto b = ReadBatch(file_.get(), at, size, &hooks);
    if (!b.ok() && b.status().code() != Code::kCorruption) return b.status();
    if (!b.ok() || b->generation > committed_generation) {
      hooks.resize(before);
      break;
    }
    at += b->length;
  }
  if (at < size) {
    // The batch of a checkpoint that did not commit, or its torn end. (A
    // damaged batch in the middle looks the same: it costs duplicates only.)
    RETURN_IF_ERROR(file_->Truncate(at));
    RETURN_IF_ERROR(file_->Sync());
  }
  for (const Hook& h : hooks) hooks_.Insert(h.key, h.manifest);
  end_ = at;
  readable_end_ = at;
  return Status::OK();
}

void DedupIndex::Index(Manifest* m, uint32_t i) { table_[FingerprintKey(m->entries[i].fp)] = Loc{m, i}; }

const DedupEntry* DedupIndex::Lookup(const Fingerprint& fp) {
  auto it = table_.find(FingerprintKey(fp));
  if (it == table_.end()) return nullptr;
  Manifest* m = it->second.m;
  const DedupEntry& e = m->entries[it->second.i];
  if (e.fp != fp || e.addr == 0) return nullptr;
  if (auto o = by_offset_.find(m->offset); m->offset != 0 && o != by_offset_.end()) {
    lru_.splice(lru_.begin(), lru_, o->second);  // keep the champions of a run loaded
  }
  return &e;
}

void DedupIndex::LoadManifest(uint64_t offset) {
  if (offset == 0 || by_offset_.count(offset)) return;
  const uint64_t readable = readable_end_.load();
  if (offset >= readable) return;  // in memory still (written by the checkpoint in flight)
  ++loads_;
  auto m = ReadManifest(file_.get(), offset, readable);
  if (!m.ok()) {
    ++load_failures_;
    return;
  }
  lru_.push_front(std::make_unique<Manifest>(std::move(*m)));
  by_offset_[offset] = lru_.begin();
  Manifest* p = lru_.front().get();
  for (uint32_t i = 0; i < p->entries.size(); ++i) {
    // Older content of a key stays found where it was indexed first.
    table_.try_emplace(FingerprintKey(p->entries[i].fp), Loc{p, i});
  }
  Evict();
}

void DedupIndex::Evict() {
  while (lru_.size() > opts_.cache_manifests) {
    Manifest* m = lru_.back().get();
    for (const DedupEntry& e : m->entries) {
      auto it = table_.find(FingerprintKey(e.fp));
      if (it != table_.end() && it->second.m == m) table_.erase(it);
    }
    by_offset_.erase(m->offset);
    lru_.pop_back();
  }
}

const DedupEntry* DedupIndex::Find(const Fingerprint& fp) {
  ++lookups_;
  const DedupEntry* e = Lookup(fp);
  const uint64_t key = FingerprintKey(fp);
  if (!e && IsHook(key, opts_.hook_bits) && file_) {
    for (uint64_t m : hooks_.Find(key)) LoadManifest(m);
    e = Lookup(fp);
  }
  found_ += e != nullptr;
  return e;
}

void DedupIndex::Record(uint64_t stream, const Fingerprint& fp, uint64_t addr, uint64_t csum) {
  Open& open = open_[stream];
  if (!open.m) {
    open.m = std::make_unique<Manifest>();
    open.m->stream = stream;
    open.m->entries.reserve(opts_.manifest_entries);
  }
  open.touched = true;
  open.m->entries.push_back({fp, addr, csum});
  ++pinned_entries_;
  Index(open.m.get(), static_cast<uint32_t>(open.m->entries.size() - 1));
  if (open.m->entries.size() >= opts_.manifest_entries) full_.push_back(std::move(open.m));
}

DedupIndex::Batch DedupIndex::Freeze(uint64_t generation,
                                     const std::function<std::optional<uint64_t>(uint64_t)>& csum_of, bool seal_all) {
  // Every pending entry of a block this freeze writes gets its checksum now:
  // afterwards the block is no longer dirty and only the entry knows it.
  auto fill = [&](Manifest* m) {
    for (DedupEntry& e : m->entries) {
      if (e.csum != 0 || e.addr == 0) continue;
      if (std::optional<uint64_t> c = csum_of(e.addr)) {
        e.csum = *c;
      } else {
        e.addr = 0;  // the block was freed before its checkpoint
      }
    }
  };
  std::vector<std::unique_ptr<Manifest>> sealed = std::move(full_);
  full_.clear();
  for (auto& m : sealed) fill(m.get());
  for (auto it = open_.begin(); it != open_.end();) {
    Open& o = it->second;
    if (o.m) fill(o.m.get());
    if (o.m && (seal_all || !o.touched)) {
      sealed.push_back(std::move(o.m));
    }
    o.touched = false;
    it = o.m ? std::next(it) : open_.erase(it);
  }
  Batch batch;
  if (sealed.empty()) return batch;
  std::vector<Manifest*> ms;
  for (auto& m : sealed) {
    pinned_entries_ -= m->entries.size();
    ms.push_back(m.get());
  }
  std::vector<Hook> hooks;
  batch.offset = end_;
  batch.bytes = EncodeBatch(end_, generation, ms, opts_.hook_bits, &hooks);
  end_ += batch.bytes.size();
  for (const Hook& h : hooks) hooks_.Insert(h.key, h.manifest);
  // The sealed manifests join the cache as if just loaded (newest first).
  for (auto& m : sealed) {
    uint64_t off = m->offset;
    lru_.push_front(std::move(m));
    by_offset_[off] = lru_.begin();
  }
  Evict();
  return batch;
}

Status DedupIndex::WriteBatch(const Batch& batch) {
  if (batch.bytes.empty()) return Status::OK();
  RETURN_IF_ERROR(OpenFile());
  RETURN_IF_ERROR(file_->WriteAt(batch.offset, batch.bytes.data(), batch.bytes.size()));
  RETURN_IF_ERROR(file_->Sync());
  uint64_t end = batch.offset + batch.bytes.size();
  uint64_t cur = readable_end_.load();
  while (cur < end && !readable_end_.compare_exchange_weak(cur, end)) {
  }
  return Status::OK();
}

Status DedupIndex::Reset() {
  hooks_.Clear();
  lru_.clear();
  by_offset_.clear();
  open_.clear();
  full_.clear();
  table_.clear();
  pinned_entries_ = 0;
  end_ = 0;
  readable_end_ = 0;
  RETURN_IF_ERROR(OpenFile());
  RETURN_IF_ERROR(file_->Truncate(0));
  return file_->Sync();
}

Status DedupIndex::ForEachManifest(const std::function<Status(const Manifest&)>& fn,
                                   std::vector<std::string>* problems) {
  RETURN_IF_ERROR(OpenFile());
  const uint64_t size = readable_end_.load();
  uint64_t at = 0;
  while (at < size) {
    std::vector<Hook> hooks;
    auto b = ReadBatch(file_.get(), at, size, &hooks);
    if (!b.ok()) {
      problems->push_back(b.status().message());
      return Status::OK();
    }
    uint64_t m = at + kBatchHeader + b->hooks * kHookSize + 8;
    for (uint64_t i = 0; i < b->manifests; ++i) {
      auto man = ReadManifest(file_.get(), m, at + b->length);
      if (!man.ok()) {
        problems->push_back(man.status().message());
        break;
      }
      RETURN_IF_ERROR(fn(*man));
      m += kManifestHeader + man->entries.size() * kDedupEntrySize + 8;
    }
    for (const Hook& h : hooks) {
      if (h.manifest < at || h.manifest >= at + b->length) {
        problems->push_back("dedup index: batch at " + std::to_string(at) + " has a hook outside it");
        break;
      }
    }
    at += b->length;
  }
  return Status::OK();
}

DedupStats DedupIndex::stats() const {
  DedupStats s;
  s.hooks = hooks_.size();
  s.cached_manifests = lru_.size();
  s.hook_bytes = hooks_.memory_bytes();
  uint64_t cached_entries = 0;
  for (const auto& m : lru_) cached_entries += m->entries.capacity();
  s.memory_bytes = s.hook_bytes + (cached_entries + pinned_entries_) * sizeof(DedupEntry) +
                   table_.size() * (sizeof(uint64_t) + sizeof(Loc) + 2 * sizeof(void*)) +
                   table_.bucket_count() * sizeof(void*);
  s.file_bytes = end_;
  s.lookups = lookups_;
  s.candidates = found_;
  s.manifest_loads = loads_;
  s.load_failures = load_failures_;
  return s;
}

}  // namespace vmstore::internal
