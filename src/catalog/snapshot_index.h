// SnapshotIndex: one VM's snapshots kept sorted by creation time and found by
// binary search (snapshot paper, Algorithm 1): by full name, by time ("the
// snapshot at or before T") and by name prefix, each O(log n). A second array
// sorted by full name serves prefix queries. Build() sorts a whole list at once
// (the paper's quicksort); Add/Remove keep both arrays sorted (O(n) moves in
// the worst case, O(1) amortised for the usual newest-last insert by time).
//
// Example:
//   SnapshotIndex idx;
//   RETURN_IF_ERROR(idx.Add({now_ns, FullSnapshotName("daily", now_ns), 7}));
//   const SnapshotEntry* s = idx.FindAt(some_time_ns);   // nullptr if none
//
// Thread-safety: none; the owner synchronises. Ownership: entries are copies.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vmstore/status.h"

namespace vmstore::catalog {

struct SnapshotEntry {
  int64_t created_ns = 0;  // full precision; the time tag in the name is this, truncated to seconds
  std::string full_name;   // NAME_YYYYMMDDTHH:MM:SS
  uint64_t id = 0;         // the catalog's id for the snapshot
};

class SnapshotIndex {
 public:
  // Replaces the contents; AlreadyExists if two entries share a full name.
  Status Build(std::vector<SnapshotEntry> entries);
  // AlreadyExists if the full name is taken.
  Status Add(SnapshotEntry e);
  // NotFound if absent.
  Status Remove(std::string_view full_name);

  const SnapshotEntry* FindByFullName(std::string_view full_name) const;
  // The newest snapshot created at or before `unix_ns`; nullptr if none.
  const SnapshotEntry* FindAt(int64_t unix_ns) const;
  // Snapshots whose full name starts with `prefix`, in name order, at most `limit`.
  std::vector<const SnapshotEntry*> FindByPrefix(std::string_view prefix, size_t limit = SIZE_MAX) const;

  // Oldest first.
  const std::vector<SnapshotEntry>& by_time() const { return by_time_; }
  size_t size() const { return by_time_.size(); }

  // Linear scans with the same answers, for tests and as the benchmark's baseline.
  const SnapshotEntry* LinearFindByFullName(std::string_view full_name) const;
  const SnapshotEntry* LinearFindAt(int64_t unix_ns) const;

 private:
  std::vector<SnapshotEntry> by_time_;  // sorted by (created_ns, id)
  std::vector<SnapshotEntry> by_name_;  // sorted by full_name
};

}  // namespace vmstore::catalog
