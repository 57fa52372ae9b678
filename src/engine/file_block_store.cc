#include "engine/file_block_store.h"

#include <algorithm>
#include <cstring>

#include "util/coding.h"

namespace vmstore::internal {

Status WriteAtRetrying(File* f, uint64_t offset, const char* src, size_t n) {
  Status s;
  for (int attempt = 0; attempt < 4; ++attempt) {
    s = f->WriteAt(offset, src, n);
    if (s.ok() || s.code() != Code::kIOError) break;
  }
  return s;
}

Status FileBlockStore::Attach(const ContainerGeometry& geometry) {
  geo_ = geometry;
  return Status::OK();
}

StatusOr<std::vector<uint64_t>> FileBlockStore::List() {
  ASSIGN_OR_RETURN(auto names, env_->ListDir(dir_));
  std::vector<uint64_t> out;
  for (auto& n : names) {
    uint64_t c;
    if (ParseContainerFileName(n, &c)) out.push_back(c);
  }
  std::sort(out.begin(), out.end());
  return out;
}

StatusOr<std::shared_ptr<File>> FileBlockStore::GetFile(uint64_t c, bool create) {
  if (auto f = files_.Get(c)) return f;
  std::string path = PathOf(c);
  bool existed = env_->FileExists(path);
  if (!existed && !create) return Corruption("container " + ContainerFileName(c) + " is missing");
  ASSIGN_OR_RETURN(std::unique_ptr<File> f, env_->OpenFile(path, create));
  // Only the (serialised) checkpoint creates containers. A header write that
  // failed left an empty file: the checkpoint's retry writes the header then.
  bool needs_header = !existed;
  if (existed && create) {
    ASSIGN_OR_RETURN(uint64_t size, f->Size());
    needs_header = size < ContainerHeader::kSize;
  }
  if (needs_header) {
    ContainerHeader h;
    h.units = geo_.container_units;
    h.number = c;
    h.uuid = geo_.pool_uuid;
    char buf[ContainerHeader::kSize];
    h.EncodeTo(buf);
    RETURN_IF_ERROR(WriteAtRetrying(f.get(), 0, buf, sizeof buf));
    MutexLock l(&mu_);
    created_ = true;
    touched_.insert(c);
  }
  std::shared_ptr<File> shared(std::move(f));
  files_.Put(c, shared);  // two readers racing here both get a valid file
  return shared;
}

Status FileBlockStore::ReadUnits(uint64_t addr, uint32_t units, char* dst) {
  ASSIGN_OR_RETURN(std::shared_ptr<File> f, GetFile(ContainerOf(addr), false));
  return f->ReadAt(DataOffset(geo_.container_units, IndexOf(addr)), size_t{units} * kUnit, dst);
}

Status FileBlockStore::ReadSums(uint64_t addr, uint32_t units, uint64_t* dst) {
  ASSIGN_OR_RETURN(std::shared_ptr<File> f, GetFile(ContainerOf(addr), false));
  return f->ReadAt(SumOffset(IndexOf(addr)), size_t{units} * 8, reinterpret_cast<char*>(dst));
}

Status FileBlockStore::WriteBlocks(std::vector<UnitWrite> writes) {
  return ForEachRun(std::move(writes), kWalBufferBytes, [&](const UnitRun& run) -> Status {
    ASSIGN_OR_RETURN(std::shared_ptr<File> f, GetFile(run.container, true));
    RETURN_IF_ERROR(
        WriteAtRetrying(f.get(), DataOffset(geo_.container_units, run.first), run.data.data(), run.data.size()));
    RETURN_IF_ERROR(WriteAtRetrying(f.get(), SumOffset(run.first), run.sums.data(), run.sums.size()));
    MutexLock l(&mu_);
    touched_.insert(run.container);
    return Status::OK();
  });
}

Status FileBlockStore::SyncTouched() {
  std::set<uint64_t> t;
  bool created;
  {
    MutexLock l(&mu_);
    t.swap(touched_);
    created = created_;
    created_ = false;
  }
  for (uint64_t c : t) {
    ASSIGN_OR_RETURN(std::shared_ptr<File> f, GetFile(c, false));
    RETURN_IF_ERROR(f->Sync());
  }
  if (created) RETURN_IF_ERROR(env_->SyncDir(dir_));
  return Status::OK();
}

Status FileBlockStore::Punch(uint64_t addr, uint32_t units) {
  ASSIGN_OR_RETURN(std::shared_ptr<File> f, GetFile(ContainerOf(addr), false));
  return f->PunchHole(DataOffset(geo_.container_units, IndexOf(addr)), uint64_t{units} * kUnit);
}

Status FileBlockStore::PunchSums(uint64_t container, uint64_t page) {
  ASSIGN_OR_RETURN(std::shared_ptr<File> f, GetFile(container, false));
  return f->PunchHole(SumOffset(page * kSumsPerPage), kUnit);
}

Status FileBlockStore::DeleteContainer(uint64_t c) {
  files_.Erase(c);
  {
    MutexLock l(&mu_);
    touched_.erase(c);
  }
  Status s = env_->DeleteFile(PathOf(c));
  return s.code() == Code::kNotFound ? Status::OK() : s;
}

Status FileBlockStore::TruncateAt(uint64_t c, uint64_t index) {
  if (!env_->FileExists(PathOf(c))) return Status::OK();
  ASSIGN_OR_RETURN(std::shared_ptr<File> f, GetFile(c, false));
  ASSIGN_OR_RETURN(uint64_t size, f->Size());
  uint64_t end = DataOffset(geo_.container_units, index);
  if (size > end) RETURN_IF_ERROR(f->Truncate(end));
  return Status::OK();
}

StatusOr<uint64_t> FileBlockStore::AllocatedBytes() {
  ASSIGN_OR_RETURN(auto list, List());
  uint64_t total = 0;
  for (uint64_t c : list) {
    ASSIGN_OR_RETURN(std::shared_ptr<File> f, GetFile(c, false));
    ASSIGN_OR_RETURN(uint64_t b, f->AllocatedBytes());
    total += b;
  }
  return total;
}

StatusOr<std::vector<std::pair<uint64_t, uint64_t>>> FileBlockStore::AllocatedUnits(uint64_t c) {
  ASSIGN_OR_RETURN(std::shared_ptr<File> f, GetFile(c, false));
  ASSIGN_OR_RETURN(auto ranges, f->DataRanges());
  std::vector<std::pair<uint64_t, uint64_t>> out;
  uint64_t base = DataOffset(geo_.container_units, 0);
  for (const ByteRange& r : ranges) {
    uint64_t end = r.offset + r.length;
    if (end <= base) continue;
    uint64_t first = (std::max(r.offset, base) - base) / kUnit;
    uint64_t last = (end - base + kUnit - 1) / kUnit;
    out.emplace_back(first, last);
  }
  return out;
}

Status FileBlockStore::CheckHeader(uint64_t c) {
  ASSIGN_OR_RETURN(std::shared_ptr<File> f, GetFile(c, false));
  char buf[ContainerHeader::kSize];
  RETURN_IF_ERROR(f->ReadAt(0, sizeof buf, buf));
  auto h = ContainerHeader::Decode(buf);
  if (!h.ok()) return h.status().WithContext(ContainerFileName(c));
  if (h->number != c || h->uuid != geo_.pool_uuid || h->units != geo_.container_units) {
    return Corruption(ContainerFileName(c) + ": header belongs to another container or pool");
  }
  return Status::OK();
}

}  // namespace vmstore::internal

namespace vmstore {

std::unique_ptr<BlockStore> NewFileBlockStore(Env* env, std::string dir) {
  return std::make_unique<internal::FileBlockStore>(env, std::move(dir));
}

}  // namespace vmstore
