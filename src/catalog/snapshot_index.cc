#include "catalog/snapshot_index.h"

#include <algorithm>

#include "catalog/naming.h"

namespace vmstore::catalog {

namespace {
bool TimeLess(const SnapshotEntry& a, const SnapshotEntry& b) {
  return a.created_ns != b.created_ns ? a.created_ns < b.created_ns : a.id < b.id;
}
bool NameLess(const SnapshotEntry& a, const SnapshotEntry& b) { return a.full_name < b.full_name; }
}  // namespace

Status SnapshotIndex::Build(std::vector<SnapshotEntry> entries) {
  std::vector<SnapshotEntry> by_name = entries;
  std::sort(by_name.begin(), by_name.end(), NameLess);
  for (size_t i = 1; i < by_name.size(); ++i) {
    if (by_name[i].full_name == by_name[i - 1].full_name) {
      return AlreadyExists("snapshot " + by_name[i].full_name + " appears twice");
    }
  }
  std::sort(entries.begin(), entries.end(), TimeLess);
  by_time_ = std::move(entries);
  by_name_ = std::move(by_name);
  return Status::OK();
}

Status SnapshotIndex::Add(SnapshotEntry e) {
  auto n = std::lower_bound(by_name_.begin(), by_name_.end(), e, NameLess);
  if (n != by_name_.end() && n->full_name == e.full_name) {
    return AlreadyExists("a snapshot named " + e.full_name + " already exists");
  }
  by_name_.insert(n, e);
  by_time_.insert(std::upper_bound(by_time_.begin(), by_time_.end(), e, TimeLess), std::move(e));
  return Status::OK();
}

Status SnapshotIndex::Remove(std::string_view full_name) {
  const SnapshotEntry* e = FindByFullName(full_name);
  if (!e) return NotFound("no snapshot named " + std::string(full_name));
  auto t = by_time_.begin() + (e - by_time_.data());
  SnapshotEntry key;
  key.full_name = std::string(full_name);
  auto n = std::lower_bound(by_name_.begin(), by_name_.end(), key, NameLess);
  by_name_.erase(n);
  by_time_.erase(t);
  return Status::OK();
}

const SnapshotEntry* SnapshotIndex::FindByFullName(std::string_view full_name) const {
  // The time tag gives the second; binary search for it, then compare names
  // among the (few) snapshots taken in that second.
  auto split = SplitFullName(full_name);
  if (!split.ok()) return nullptr;
  const int64_t lo = split->second * 1000000000, hi = lo + 1000000000;
  auto it = std::lower_bound(by_time_.begin(), by_time_.end(), lo,
                             [](const SnapshotEntry& e, int64_t t) { return e.created_ns < t; });
  for (; it != by_time_.end() && it->created_ns < hi; ++it) {
    if (it->full_name == full_name) return &*it;
  }
  return nullptr;
}

const SnapshotEntry* SnapshotIndex::FindAt(int64_t unix_ns) const {
  auto it = std::upper_bound(by_time_.begin(), by_time_.end(), unix_ns,
                             [](int64_t t, const SnapshotEntry& e) { return t < e.created_ns; });
  return it == by_time_.begin() ? nullptr : &*(it - 1);
}

std::vector<const SnapshotEntry*> SnapshotIndex::FindByPrefix(std::string_view prefix, size_t limit) const {
  std::vector<const SnapshotEntry*> out;
  SnapshotEntry key;
  key.full_name = std::string(prefix);
  for (auto it = std::lower_bound(by_name_.begin(), by_name_.end(), key, NameLess);
       it != by_name_.end() && out.size() < limit && it->full_name.compare(0, prefix.size(), prefix) == 0; ++it) {
    out.push_back(&*it);
  }
  return out;
}

const SnapshotEntry* SnapshotIndex::LinearFindByFullName(std::string_view full_name) const {
  for (const SnapshotEntry& e : by_time_) {
    if (e.full_name == full_name) return &e;
  }
  return nullptr;
}

const SnapshotEntry* SnapshotIndex::LinearFindAt(int64_t unix_ns) const {
  const SnapshotEntry* best = nullptr;
  for (const SnapshotEntry& e : by_time_) {
    if (e.created_ns <= unix_ns) best = &e;
  }
  return best;
}

}  // namespace vmstore::catalog
