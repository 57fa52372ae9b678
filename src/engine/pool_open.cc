// Creating, opening, recovering and closing a pool.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <mutex>
#include <random>

#include "engine/pool_impl.h"
#include "util/coding.h"

namespace vmstore {

using internal::PoolImpl;

static Status ValidateGeometry(const PoolOptions& o) {
  uint32_t c = o.cluster_size;
  if (c < 4096 || c > (1u << 20) || (c & (c - 1))) {
    return InvalidArgument("cluster size " + std::to_string(c) + " must be a power of two from 4 KiB to 1 MiB");
  }
  if (o.container_size < c || o.container_size % c || o.container_size / 4096 > internal::kIndexMask) {
    return InvalidArgument("container size " + std::to_string(o.container_size) +
                           " must be a multiple of the cluster size and below 8 TiB");
  }
  return Status::OK();
}

StatusOr<std::unique_ptr<Pool>> Pool::Create(const std::string& dir, const PoolOptions& options) {
  Env* env = options.env ? options.env : Env::Default();
  RETURN_IF_ERROR(ValidateGeometry(options));
  RETURN_IF_ERROR(env->CreateDir(dir));
  if (env->FileExists(dir + "/superblock")) return AlreadyExists("a pool already exists in " + dir);
  ASSIGN_OR_RETURN(auto names, env->ListDir(dir));
  for (auto& n : names) {
    if (n != "pool.lock" && n != "lost+found") {
      return InvalidArgument("directory " + dir + " is not empty (found '" + n + "')");
    }
  }
  auto impl = std::make_unique<PoolImpl>(env, dir, options);
  RETURN_IF_ERROR(impl->InitNew());
  return std::unique_ptr<Pool>(std::move(impl));
}

StatusOr<std::unique_ptr<Pool>> Pool::Open(const std::string& dir, const PoolOptions& options) {
  Env* env = options.env ? options.env : Env::Default();
  auto impl = std::make_unique<PoolImpl>(env, dir, options);
  RETURN_IF_ERROR(impl->OpenExisting());
  return std::unique_ptr<Pool>(std::move(impl));
}

namespace internal {

PoolImpl::PoolImpl(Env* env, std::string dir, PoolOptions opts)
    : env_(env), dir_(std::move(dir)), opts_(opts), refs_(1), cache_(opts.node_cache_bytes / kUnit) {}

PoolImpl::~PoolImpl() { (void)Close(); }

Status PoolImpl::InitNew() {
  ASSIGN_OR_RETURN(lock_, env_->LockFile(dir_ + "/pool.lock"));
  if (!opts_.block_store) RETURN_IF_ERROR(env_->CreateDir(dir_ + "/containers"));
  Superblock sb;
  sb.cluster_size = opts_.cluster_size;
  sb.container_units = static_cast<uint32_t>(opts_.container_size / kUnit);
  std::random_device rd;
  for (auto& b : sb.uuid) b = static_cast<uint8_t>(rd());
  sb.generation = 1;
  sb.cursor = MakeAddr(1, 0);
  sb.next_volume_id = 1;
  sb.created_ns = env_->NowNanos();
  sb.dedup = static_cast<uint32_t>(opts_.dedup);
  char slots[2 * Superblock::kSlotSize] = {};
  sb.EncodeTo(slots);
  sb.EncodeTo(slots + Superblock::kSlotSize);
  {
    ASSIGN_OR_RETURN(auto f, env_->OpenFile(dir_ + "/superblock", true));
    RETURN_IF_ERROR(f->WriteAt(0, slots, sizeof slots));
    RETURN_IF_ERROR(f->Sync());
    for (const char* log : {"/wal", "/wal2"}) {
      ASSIGN_OR_RETURN(auto w, env_->OpenFile(dir_ + log, true));
      RETURN_IF_ERROR(w->Sync());
    }
  }
  RETURN_IF_ERROR(env_->SyncDir(dir_));
  return OpenExisting();
}

StatusOr<std::vector<StatusOr<Superblock>>> PoolImpl::ReadSuperblockSlots() {
  ASSIGN_OR_RETURN(auto f, env_->OpenFile(dir_ + "/superblock", false));
  char slots[2 * Superblock::kSlotSize];
  RETURN_IF_ERROR(f->ReadAt(0, sizeof slots, slots));
  std::vector<StatusOr<Superblock>> out;
  for (int i = 0; i < 2; ++i) out.push_back(Superblock::Decode(slots + i * Superblock::kSlotSize));
  return out;
}

Status PoolImpl::LoadSuperblock() {
  if (!env_->FileExists(dir_ + "/superblock")) {
    return NotFound("no VMStore pool in " + dir_ + " (create one with `vmstore init --pool " + dir_ + "`)");
  }
  ASSIGN_OR_RETURN(auto slots, ReadSuperblockSlots());
  bool found = false;
  Status first_error;
  for (const auto& sb : slots) {
    if (!sb.ok()) {
      if (first_error.ok() || sb.status().code() == Code::kNotSupported) first_error = sb.status();
      continue;
    }
    if (!found || sb->generation > sb_.generation) sb_ = *sb;
    found = true;
  }
  if (!found) {
    if (first_error.code() == Code::kNotSupported) return first_error;
    if (first_error.code() == Code::kInvalidArgument) {
      return InvalidArgument(dir_ + "/superblock is not a VMStore pool superblock");
    }
    return Corruption(dir_ + "/superblock: both copies are damaged; the pool cannot be opened");
  }
  return Status::OK();
}

Status PoolImpl::LoadVolumeTable() {
  if (!IsReal(sb_.vtable.addr)) return Status::OK();
  RETURN_IF_ERROR(CheckBlockAddr(sb_.vtable.addr, sb_.vtable_units, cursor_, sb_.container_units));
  std::string blob(size_t{sb_.vtable_units} * kUnit, '\0');
  RETURN_IF_ERROR(store_->ReadUnits(sb_.vtable.addr, sb_.vtable_units, blob.data()));
  std::vector<uint64_t> sums(sb_.vtable_units);
  if (ChecksumUnits(blob.data(), sb_.vtable_units, sums.data()) != sb_.vtable.csum) {
    return Corruption("volume table block " + Hex(sb_.vtable.addr) + ": checksum mismatch");
  }
  ASSIGN_OR_RETURN(auto recs, DecodeVolumeTable(blob));
  for (auto& r : recs) InsertVolume(r);
  return Status::OK();
}

Status PoolImpl::OpenExisting() {
  if (!lock_) {
    if (!env_->FileExists(dir_)) return NotFound("no VMStore pool in " + dir_ + " (directory does not exist)");
    RETURN_IF_ERROR(LoadSuperblock());  // a clear error before creating a lock file
    ASSIGN_OR_RETURN(lock_, env_->LockFile(dir_ + "/pool.lock"));
  }
  RETURN_IF_ERROR(LoadSuperblock());
  // Opening is single-threaded; the writer lock is held for what the
  // mutations' code expects of its callers.
  MutexLock w(&writer_mu_);
  if (opts_.block_store) {
    store_ = opts_.block_store;
  } else {
    owned_store_ = std::make_unique<FileBlockStore>(env_, dir_ + "/containers");
    store_ = owned_store_.get();
  }
  RETURN_IF_ERROR(store_->Attach({sb_.uuid, sb_.container_units}));
  refs_ = NewRefTable();
  cursor_ = sb_.cursor;
  next_id_ = sb_.next_volume_id;
  ASSIGN_OR_RETURN(auto wf, env_->OpenFile(dir_ + "/wal", true));
  wal_ = std::make_unique<Wal>(std::move(wf));
  ASSIGN_OR_RETURN(auto wf2, env_->OpenFile(dir_ + "/wal2", true));
  spare_wal_ = std::make_unique<Wal>(std::move(wf2));
  Status s = LoadVolumeTable();
  if (!s.ok()) {
    return Status(s.code(), "cannot open pool " + dir_ + ": " + s.message() + " (run `vmstore fsck`)");
  }
  // A volume whose index cannot be read is contained: it fails its reads and
  // writes, the others are served (and the readable part of its tree keeps
  // its blocks allocated).
  std::map<VolumeId, std::string> damaged;
  RebuildRefs(&refs_, &open_problems_, &damaged_nodes_, &damaged);
  for (const auto& [id, why] : damaged) vols_.at(id)->damaged = why;
  RETURN_IF_ERROR(OpenDedup());  // before replay, which deduplicates too
  return Recover();
}

Status PoolImpl::Recover() {
  // The two log files: the one whose records follow the committed generation
  // g, and the one a freeze switched to (generation g+1) if its checkpoint did
  // not commit. Records of any other generation are stale.
  const uint64_t g = sb_.generation;
  ASSIGN_OR_RETURN(uint64_t first_a, wal_->FirstGeneration());
  ASSIGN_OR_RETURN(uint64_t first_b, spare_wal_->FirstGeneration());
  if (first_a == g + 1 || first_b == g) std::swap(wal_, spare_wal_);
  // A log damaged before records said to be durable refuses the open, unless
  // the loss is accepted (PoolOptions::accept_log_loss): then it is reported.
  auto recover = [&](Wal* log, uint64_t gen) -> StatusOr<std::vector<WalRecord>> {
    std::string dropped;
    auto r = log->Recover(gen, opts_.accept_log_loss, &dropped);
    if (!r.ok()) {
      return Status(r.status().code(), "cannot open pool " + dir_ + ": " + r.status().message() +
                                           " (to give those writes up and open it: vmstore fsck --accept-log-loss)");
    }
    if (!dropped.empty()) open_problems_.push_back("accepted the loss: " + dropped);
    return r;
  };
  ASSIGN_OR_RETURN(auto records, recover(wal_.get(), g));
  std::vector<WalRecord> later;
  if (first_a == g + 1 || first_b == g + 1) {
    ASSIGN_OR_RETURN(later, recover(spare_wal_.get(), g + 1));
  }
  // Undo: restore units an interrupted checkpoint may have patched, so the
  // containers hold exactly the committed state before redo.
  std::vector<UnitWrite> undo;
  for (const WalRecord& r : records) {
    if (r.type != WalType::kUndo) continue;
    if (r.payload.size() != 24 + kUnit) return Corruption("malformed undo record in the log");
    const char* p = r.payload.data();
    undo.push_back({GetU64(p) + GetU64(p + 8), p + 24, 1, reinterpret_cast<const uint64_t*>(p + 16)});
  }
  if (!undo.empty()) {
    RETURN_IF_ERROR(store_->WriteBlocks(std::move(undo)));
    RETURN_IF_ERROR(store_->SyncTouched());
  }
  // Everything at or past the committed cursor belongs to the interrupted
  // generation: drop it before replay appends there again.
  {
    ASSIGN_OR_RETURN(auto containers, store_->List());
    const uint64_t cur_c = ContainerOf(cursor_), cur_i = IndexOf(cursor_);
    for (uint64_t c : containers) {
      if (c > cur_c || (c == cur_c && cur_i == 0)) {
        RETURN_IF_ERROR(store_->DeleteContainer(c));
      } else if (c == cur_c) {
        RETURN_IF_ERROR(store_->TruncateAt(c, cur_i));
      }
    }
  }
  for (WalRecord& r : later) {
    if (r.type != WalType::kUndo) records.push_back(std::move(r));
  }
  replaying_ = true;
  size_t replayed = 0;
  for (const WalRecord& r : records) {
    if (r.type == WalType::kUndo) continue;
    ++replayed;
    Status s = Apply(r);
    if (!s.ok() && s.code() != Code::kCorruption && s.code() != Code::kIOError) {
      // Invalid operations were refused before they were logged; anything else
      // is a bug in replay.
      replaying_ = false;
      return s.WithContext("replaying log record " + std::to_string(r.seq));
    }
    if (!s.ok()) {  // damaged data under a logged change: fsck says so
      open_problems_.push_back("log record " + std::to_string(r.seq) + " (type " +
                               std::to_string(static_cast<uint32_t>(r.type)) +
                               ") could not be replayed: " + s.message());
    }
  }
  replaying_ = false;
  auto locks = LockAllVolumes();
  if (replayed || !records.empty()) {
    // Generation g+2: neither log's records match it, so a crash before both
    // logs are reset cannot replay them twice.
    RETURN_IF_ERROR(CheckpointNowLocked(/*gen_step=*/2, /*rotate_log=*/false));
  }
  RETURN_IF_ERROR(wal_->Reset(sb_.generation));
  RETURN_IF_ERROR(spare_wal_->Reset(sb_.generation + 1));
  if (opts_.reclaim_garbage) {
    uint64_t garbage = 0;
    RETURN_IF_ERROR(ReclaimGarbage(&garbage, true));
  }
  return Status::OK();
}

bool PoolImpl::SumPageFree(uint64_t c, uint64_t page) const {
  const uint64_t first = page * kSumsPerPage, end = first + kSumsPerPage;
  const bool below = c < ContainerOf(cursor_) || (c == ContainerOf(cursor_) && end <= IndexOf(cursor_));
  return below && !refs_.AnyInUse(c, first, end);
}

Status PoolImpl::ReclaimGarbage(uint64_t* garbage, bool punch) {
  ASSIGN_OR_RETURN(auto containers, store_->List());
  const uint64_t cur_c = ContainerOf(cursor_), cur_i = IndexOf(cursor_);
  for (uint64_t c : containers) {
    if (c > cur_c || (c != cur_c && refs_.LiveUnitsIn(c) == 0)) {
      ASSIGN_OR_RETURN(auto units, store_->AllocatedUnits(c));
      for (auto& [a, b] : units) *garbage += (b - a) * kUnit;
      if (punch) RETURN_IF_ERROR(store_->DeleteContainer(c));
      continue;
    }
    ASSIGN_OR_RETURN(auto ranges, store_->AllocatedUnits(c));
    for (auto& [a, b] : ranges) {
      uint64_t u = a;
      while (u < b) {
        if (refs_.UnitInUse(c, u)) {
          ++u;
          continue;
        }
        uint64_t start = u;
        while (u < b && !refs_.UnitInUse(c, u)) ++u;
        *garbage += (u - start) * kUnit;
        if (punch) {
          if (c == cur_c && start >= cur_i) {
            RETURN_IF_ERROR(store_->TruncateAt(c, start));
            break;
          }
          RETURN_IF_ERROR(store_->Punch(MakeAddr(c, start), static_cast<uint32_t>(u - start)));
        }
      }
    }
    // Sum pages describing only free units (not counted: they hold no data).
    for (uint64_t p = 0; punch && p * kSumsPerPage < sb_.container_units; ++p) {
      if (SumPageFree(c, p)) RETURN_IF_ERROR(store_->PunchSums(c, p));
    }
  }
  return Status::OK();
}

Status PoolImpl::Close() {
  MutexLock w(&writer_mu_);
  auto locks = LockAllVolumes();
  if (closed_ || !wal_) return Status::OK();
  // A failing disk gets a few tries: each runs the failed checkpoint again.
  closing_ = true;
  Status s = broken_.ok() ? CheckpointNowLocked() : WaitCheckpointLocked();
  for (int i = 0; i < 4 && !s.ok() && broken_.ok(); ++i) s = CheckpointNowLocked();
  closed_ = true;
  broken_ = FailedPrecondition("pool " + dir_ + " is closed");
  lock_.reset();
  return s;
}

}  // namespace internal
}  // namespace vmstore
