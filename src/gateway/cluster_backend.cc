#include "gateway/cluster_backend.h"

#include <signal.h>

#include <charconv>
#include <nlohmann/json.hpp>

#include "backend/native_backend.h"
#include "cluster/lock_keeper.h"
#include "cluster/miss_log.h"
#include "cluster/remote_block_store.h"
#include "cluster/remote_env.h"
#include "cluster/writer_lock.h"
#include "util/log.h"
#include "util/periodic.h"

namespace vmstore::gateway {
namespace {

using json = nlohmann::json;

Status CheckLocation(const std::string& location) {
  if (location.empty() || location.size() > 64) {
    return InvalidArgument("a cluster SR's location must be 1 to 64 characters");
  }
  for (char c : location) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return InvalidArgument("a cluster SR's location may hold letters, digits, '.', '_' and '-' only: '" + location +
                             "'");
    }
  }
  if (location[0] == '.' || location[0] == '-') {
    return InvalidArgument("a cluster SR's location must begin with a letter, digit or '_'");
  }
  return Status::OK();
}

// The pool's index: read from its record, or (create) allocated from the
// cluster's counter and recorded, both by compare-and-swap. *existed tells
// which.
StatusOr<uint64_t> PoolIndex(cluster::Etcd& etcd, const std::string& location, bool create, bool* existed) {
  ASSIGN_OR_RETURN(auto kv, etcd.Get(PoolKey(location)));
  *existed = kv.has_value();
  if (kv) {
    json j = json::parse(kv->value, nullptr, false);
    if (j.is_discarded() || !j.contains("index") || !j["index"].is_number_unsigned()) {
      return Corruption("the record " + PoolKey(location) + " in etcd does not parse");
    }
    return j["index"].get<uint64_t>();
  }
  if (!create) return NotFound("the cluster holds no pool named '" + location + "'");
  for (int attempt = 0; attempt < 50; ++attempt) {
    ASSIGN_OR_RETURN(auto counter, etcd.Get("/vmstore/alloc/pools"));
    uint64_t next = 1;  // 0 stays unused: a whole-space store (tests) has base 0
    if (counter) {
      const std::string& v = counter->value;
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), next);
      if (ec != std::errc() || end != v.data() + v.size()) {
        return Corruption("the pool counter /vmstore/alloc/pools in etcd holds '" + v + "', not a number");
      }
    }
    if (next >= kMaxPools) return NoSpace("the cluster has made all of its " + std::to_string(kMaxPools) + " pools");
    ASSIGN_OR_RETURN(int64_t won, etcd.CompareAndPut("/vmstore/alloc/pools", counter ? counter->mod_revision : 0,
                                                     std::to_string(next + 1)));
    if (!won) continue;
    json rec = {{"index", next}};
    ASSIGN_OR_RETURN(int64_t put, etcd.CompareAndPut(PoolKey(location), 0, rec.dump()));
    if (!put) return AlreadyExists("another gateway made the cluster pool '" + location + "' at the same time");
    return next;
  }
  return FailedPrecondition("the cluster's pool counter kept changing; try again");
}

// Snapshot `handle`'s root as pool `location` last committed it, read beside
// the gateway that may hold it, in the cluster's container numbering.
StatusOr<VolumeRoot> SharedSnapshotRoot(const std::shared_ptr<ClusterContext>& ctx, const std::string& location,
                                        const std::string& handle) {
  RETURN_IF_ERROR(CheckLocation(location));
  ASSIGN_OR_RETURN(VolumeId id, backend::NativeVolumeId(handle));
  bool existed = false;
  ASSIGN_OR_RETURN(uint64_t index, PoolIndex(*ctx->etcd, location, false, &existed));
  cluster::RemoteStoreOptions ro = PoolStoreOptions(ctx, index, 0);
  cluster::RemoteEnv env(ctx->ring, ro);
  RETURN_IF_ERROR(env.LoadMisses());
  cluster::RemoteBlockStore store(ctx->ring, ro);
  PoolOptions po;
  po.env = &env;
  po.block_store = &store;
  po.container_span = ro.container_span;
  auto root = ReadCommittedRoot("pool-" + std::to_string(index), po, id);
  if (!root.ok()) return root.status().WithContext("snapshot volume " + handle + " of cluster SR '" + location + "'");
  root->addr = SharedAddress(root->addr, ro.container_base, ro.container_span);
  return root;
}

// Whether `holder` ("HOST pid N") is a process of this host that is gone.
bool DeadHereBefore(const std::string& holder, const std::string& me) {
  auto host = [](const std::string& h) { return h.substr(0, h.find(' ')); };
  if (host(holder) != host(me)) return false;
  auto p = holder.rfind(' ');
  if (p == std::string::npos) return false;
  const int pid = std::atoi(holder.c_str() + p + 1);
  return pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH;
}

// The SR's writer lock as it is now. Lost (its lease ended while etcd was
// out of reach, say) and taken again, it is a new WriterLock: a new lease
// and a new fence. Thread-safe.
class LockSlot {
 public:
  explicit LockSlot(std::unique_ptr<cluster::WriterLock> lock) : lock_(std::move(lock)) {}
  bool held() const {
    MutexLock l(&mu_);
    return lock_->held();
  }
  uint64_t fence() const {
    MutexLock l(&mu_);
    return lock_->fence();
  }
  const std::string& key() const { return key_; }
  // The lock itself, for its keeper and its release (valid until Swap).
  cluster::WriterLock* get() {
    MutexLock l(&mu_);
    return lock_.get();
  }
  // Puts `next` in place; the lost lock is dropped.
  void Swap(std::unique_ptr<cluster::WriterLock> next) {
    std::unique_ptr<cluster::WriterLock> old;
    {
      MutexLock l(&mu_);
      old = std::exchange(lock_, std::move(next));
    }
  }

 private:
  mutable Mutex mu_;
  std::unique_ptr<cluster::WriterLock> lock_ GUARDED_BY(mu_);
  const std::string key_ = lock_->key();
};

// Writes are acknowledged only while the lock is surely held.
class FencedDevice final : public backend::Device {
 public:
  FencedDevice(std::unique_ptr<backend::Device> d, const LockSlot* lock) : d_(std::move(d)), lock_(lock) {}
  uint64_t size() const override { return d_->size(); }
  bool read_only() const override { return d_->read_only(); }
  bool can_trim() const override { return d_->can_trim(); }
  Status Read(uint64_t offset, std::span<char> buf) override { return d_->Read(offset, buf); }
  Status Write(uint64_t offset, std::span<const char> data, bool fua) override {
    return Fenced(d_->Write(offset, data, fua));
  }
  Status Trim(uint64_t offset, uint64_t length, bool fua) override { return Fenced(d_->Trim(offset, length, fua)); }
  Status WriteZeroes(uint64_t offset, uint64_t length, bool may_punch, bool fua) override {
    return Fenced(d_->WriteZeroes(offset, length, may_punch, fua));
  }
  Status Flush() override { return Fenced(d_->Flush()); }
  StatusOr<std::vector<Extent>> Map(uint64_t offset, uint64_t length) override { return d_->Map(offset, length); }
  Status Cache(uint64_t offset, uint64_t length) override { return d_->Cache(offset, length); }

 private:
  Status Fenced(Status s) const {
    if (!lock_->held())
      return IOError("this gateway lost the SR's writer lock " + lock_->key() + "; write not acknowledged");
    return s;
  }
  std::unique_ptr<backend::Device> d_;
  const LockSlot* lock_;
};

class ClusterBackend final : public backend::Backend {
 public:
  ClusterBackend(std::shared_ptr<ClusterContext> ctx, std::string location, std::shared_ptr<LockSlot> lock,
                 std::unique_ptr<cluster::RemoteEnv> env, std::unique_ptr<cluster::RemoteBlockStore> store)
      : ctx_(std::move(ctx)),
        location_(std::move(location)),
        lock_(std::move(lock)),
        keeper_(std::make_unique<cluster::LockKeeper>(lock_->get(), ctx_->lock_ttl_s)),
        env_(std::move(env)),
        store_(std::move(store)) {}
  ~ClusterBackend() override { (void)Close(); }
  // The opened pool; from now on replicas that missed changes are repaired
  // in the background (every 2 s, while the lock is ours).
  void SetInner(std::unique_ptr<Pool> pool) {
    pool_ = pool.get();
    inner_ = backend::NewNativeBackend(std::move(pool));
    repairer_ = std::make_unique<Periodic>(std::chrono::seconds(2), [this] {
      if (lock_->held()) {
        RepairOnce();
      } else {
        Retake();
      }
      return true;
    });
  }

  std::string type() const override { return "cluster"; }
  backend::Caps caps() const override {
    backend::Caps c = inner_->caps();
    c.clone_across_srs = true;
    return c;
  }
  StatusOr<std::string> CreateDisk(uint64_t size, uint64_t tag) override {
    RETURN_IF_ERROR(Held());
    return inner_->CreateDisk(size, tag);
  }
  Status Delete(const std::string& handle) override {
    RETURN_IF_ERROR(Held());
    return inner_->Delete(handle);
  }
  Status Resize(const std::string& disk, uint64_t size) override {
    RETURN_IF_ERROR(Held());
    return inner_->Resize(disk, size);
  }
  StatusOr<std::vector<std::string>> Snapshot(std::span<const std::string> disks, uint64_t tag) override {
    RETURN_IF_ERROR(Held());
    ASSIGN_OR_RETURN(auto handles, inner_->Snapshot(disks, tag));
    // Committed at once, so that gateways holding other SRs can clone it
    // (they read the committed state: CloneFromSr). The snapshot is durable
    // either way (the log); a failed checkpoint only delays that.
    if (Status s = pool_->Checkpoint(); !s.ok()) {
      logging::Warn("snapshot", "not committed yet: clones in other SRs wait for the next checkpoint",
                    {{"sr", location_}, {"error", s.ToString()}});
    }
    return handles;
  }
  StatusOr<std::string> Clone(const std::string& snapshot, uint64_t tag) override {
    RETURN_IF_ERROR(Held());
    return inner_->Clone(snapshot, tag);
  }
  StatusOr<std::string> CloneFromSr(const std::string& type, const std::string& location, const std::string& snapshot,
                                    uint64_t tag) override {
    RETURN_IF_ERROR(Held());
    if (type != "cluster") return NotSupported("a cluster SR cannot share the blocks of a " + type + " SR");
    if (location == location_) return inner_->Clone(snapshot, tag);
    ASSIGN_OR_RETURN(VolumeRoot root, SharedSnapshotRoot(ctx_, location, snapshot));
    ASSIGN_OR_RETURN(VolumeId id, pool_->AdoptVolume(root, tag));
    return std::to_string(id);
  }
  Status Rollback(const std::string& disk, const std::string& snapshot) override {
    RETURN_IF_ERROR(Held());
    return inner_->Rollback(disk, snapshot);
  }
  StatusOr<backend::VolumeStat> Stat(const std::string& handle) override { return inner_->Stat(handle); }
  StatusOr<std::vector<backend::VolumeStat>> List() override { return inner_->List(); }
  StatusOr<std::vector<Extent>> Map(const std::string& handle, uint64_t offset, uint64_t length) override {
    return inner_->Map(handle, offset, length);
  }
  StatusOr<DiffResult> Diff(const std::string& from, const std::string& to) override { return inner_->Diff(from, to); }
  StatusOr<std::unique_ptr<backend::Device>> OpenDevice(const std::string& handle) override {
    ASSIGN_OR_RETURN(auto d, inner_->OpenDevice(handle));
    return std::unique_ptr<backend::Device>(new FencedDevice(std::move(d), lock_.get()));
  }
  Status Check(bool structure, CheckReport* report) override { return inner_->Check(structure, report); }
  Status Close() override {
    if (!inner_) return Status::OK();
    repairer_.reset();
    // The pool's last checkpoint goes out while the lock is still ours.
    Status s = lock_->held() ? inner_->Close() : IOError("closed after losing the writer lock " + lock_->key());
    inner_.reset();
    keeper_.reset();
    if (lock_->held()) (void)lock_->get()->Release();
    return s;
  }
  StatusOr<PoolStats> EngineStats() override { return inner_->EngineStats(); }
  Status SetDedup(DedupMode mode) override {
    RETURN_IF_ERROR(Held());
    return inner_->SetDedup(mode);
  }

 private:
  // The lock was lost - its lease ended while this gateway could not reach
  // etcd. It is taken again only if nobody held it meanwhile (the holder
  // record still names this gateway's fence): then what this gateway holds
  // in memory is still the pool, and it goes on with the new fence. If
  // another gateway took the SR, this one's view is stale: it stays fenced.
  void Retake() {
    if (taken_over_) return;
    cluster::Etcd* etcd = ctx_->etcd.get();
    auto next = cluster::WriterLock::Acquire(etcd, lock_->key(), ctx_->holder, ctx_->lock_ttl_s);
    if (!next.ok()) {
      // etcd still out of reach, or the lock is held: this gateway's old
      // lease (its keeper renews it), another gateway's, or a move driver's
      // copying (it writes no holder record). The record decides, once the
      // lock is free.
      if (next.status().code() == Code::kFailedPrecondition && !said_held_) {
        said_held_ = true;
        logging::Warn("gateway", "lost the SR's writer lock; it is held now - waiting",
                      {{"sr", location_}, {"error", next.status().ToString()}});
      }
      return;
    }
    const uint64_t old_fence = lock_->fence(), fence = (*next)->fence();
    auto rec = etcd->Get(HolderKey(location_));
    if (!rec.ok()) {
      (void)(*next)->Release();
      return;
    }
    if (!*rec || (**rec).value != std::to_string(old_fence)) {
      (void)(*next)->Release();
      taken_over_ = true;
      logging::Error("gateway", "another gateway held the SR while this one was cut off; its disks stay fenced here",
                     {{"sr", location_}, {"holder_fence", *rec ? (**rec).value : std::string("none")}});
      return;
    }
    if (!etcd->Put(HolderKey(location_), std::to_string(fence)).ok()) {
      (void)(*next)->Release();
      return;
    }
    store_->SetFence(fence);
    env_->SetFence(fence);
    keeper_.reset();
    lock_->Swap(std::move(next).value());
    keeper_ = std::make_unique<cluster::LockKeeper>(lock_->get(), ctx_->lock_ttl_s);
    logging::Info("gateway", "took the SR's writer lock again: nobody held it meanwhile",
                  {{"sr", location_}, {"old_fence", old_fence}, {"fence", fence}});
  }

  void RepairOnce() {
    cluster::RepairReport files = env_->Repair(), blocks = store_->Repair();
    const uint64_t left = files.left + blocks.left;
    if (files.repaired + blocks.repaired > 0) {
      logging::Info("repair", "copied back",
                    {{"sr", lock_->key()},
                     {"files", std::to_string(files.repaired)},
                     {"containers", std::to_string(blocks.repaired)},
                     {"bytes", std::to_string(files.bytes + blocks.bytes)},
                     {"left", std::to_string(left)}});
    }
    if (left > 0 && left != last_left_) {
      const Status& why = files.first_error.ok() ? blocks.first_error : files.first_error;
      logging::Warn("repair", "replicas still stale",
                    {{"sr", lock_->key()}, {"left", std::to_string(left)}, {"first", why.ToString()}});
    }
    last_left_ = left;
  }
  Status Held() const {
    if (lock_->held()) return Status::OK();
    return IOError("this gateway lost the SR's writer lock " + lock_->key() + "; nothing changed");
  }

  std::shared_ptr<ClusterContext> ctx_;
  const std::string location_;
  const std::shared_ptr<LockSlot> lock_;         // shared with the stores' holds_lock
  std::unique_ptr<cluster::LockKeeper> keeper_;  // the repairer's thread remakes it (Retake)
  bool taken_over_ = false;                      // the repairer thread's
  bool said_held_ = false;                       // ... and so
  std::unique_ptr<cluster::RemoteEnv> env_;
  std::unique_ptr<cluster::RemoteBlockStore> store_;
  std::unique_ptr<backend::Backend> inner_;  // destroyed first (Close)
  Pool* pool_ = nullptr;                     // inner_'s engine
  uint64_t last_left_ = 0;                   // the repairer thread's
  std::unique_ptr<Periodic> repairer_;       // stopped before inner_ closes
};

}  // namespace

// The replica options of pool `index` (fence: its writer lock's, 0 to read
// only). Every pool's misses are recorded under ROOT/degraded/pool-N/.
std::shared_ptr<cluster::MissLog> PoolMisses(const std::shared_ptr<ClusterContext>& ctx, uint64_t index) {
  return cluster::NewEtcdMissLog(ctx->etcd.get(), cluster::PoolMissPrefix(index));
}

cluster::RemoteStoreOptions PoolStoreOptions(const std::shared_ptr<ClusterContext>& ctx, uint64_t index,
                                             uint64_t fence) {
  cluster::RemoteStoreOptions ro;
  ro.cluster = ContainerGeometry{ctx->cluster.uuid, ctx->cluster.container_units};
  ro.replicas = ctx->cluster.replicas;
  ro.timeout = ctx->node_timeout;
  ro.container_base = index << kPoolSpanBits;
  ro.container_span = uint64_t{1} << kPoolSpanBits;
  ro.fence = fence;
  ro.misses = PoolMisses(ctx, index);
  // A clone across SRs reads other pools' blocks, skipping their misses.
  ro.foreign_misses = [ctx](uint64_t pool) { return PoolMisses(ctx, pool); };
  // Two copies at once into a node (no gap between them at its recovery
  // cap) where the nodes' copy limit lets two in.
  ro.copiers_per_node = [ctx] {
    auto cfg = cluster::LoadConfig(*ctx->etcd);
    if (!cfg.ok()) return 1;
    return cfg->max_moves == 1 ? 1 : 2;
  };
  ro.refresh_ring = [ctx]() -> Status {
    ASSIGN_OR_RETURN(cluster::RingRecord ring, cluster::LoadRing(*ctx->etcd));
    ctx->ring->Update(ring);
    return Status::OK();
  };
  return ro;
}

StatusOr<std::map<std::string, uint64_t>> ListPools(cluster::Etcd& etcd) {
  const std::string prefix = std::string(cluster::kRoot) + "pools/";
  ASSIGN_OR_RETURN(auto kvs, etcd.List(prefix));
  std::map<std::string, uint64_t> out;
  for (const cluster::KeyValue& kv : kvs) {
    json j = json::parse(kv.value, nullptr, false);
    if (j.is_discarded() || !j.contains("index") || !j["index"].is_number_unsigned()) {
      return Corruption("the record " + kv.key + " in etcd does not parse");
    }
    out[kv.key.substr(prefix.size())] = j["index"].get<uint64_t>();
  }
  return out;
}

std::string PoolKey(const std::string& location) { return std::string(cluster::kRoot) + "pools/" + location; }
std::string PoolLockKey(const std::string& location) { return std::string(cluster::kRoot) + "locks/pool/" + location; }
std::string HolderKey(const std::string& location) { return std::string(cluster::kRoot) + "holders/pool/" + location; }

StatusOr<std::unique_ptr<backend::Backend>> OpenClusterBackend(std::shared_ptr<ClusterContext> ctx,
                                                               const std::string& location,
                                                               const backend::OpenOptions& options) {
  RETURN_IF_ERROR(CheckLocation(location));
  cluster::Etcd& etcd = *ctx->etcd;
  // The lock first: nobody else may make or change the pool meanwhile. A
  // holder that was a process of this host and is gone waits out its lease.
  auto lock = cluster::WriterLock::Acquire(&etcd, PoolLockKey(location), ctx->holder, ctx->lock_ttl_s);
  if (!lock.ok() && lock.status().code() == Code::kFailedPrecondition) {
    auto kv = etcd.Get(PoolLockKey(location));
    if (kv.ok() && *kv && DeadHereBefore((**kv).value, ctx->holder)) {
      lock = cluster::AcquireWaiting(&etcd, PoolLockKey(location), ctx->holder, ctx->lock_ttl_s,
                                     std::chrono::seconds(ctx->lock_ttl_s + 3));
    }
  }
  if (!lock.ok()) return lock.status().WithContext("cluster SR '" + location + "'");
  bool existed = false;
  ASSIGN_OR_RETURN(uint64_t index, PoolIndex(etcd, location, options.create, &existed));
  if (ctx->ring->Get()->record.members.empty())
    return FailedPrecondition("the cluster's ring has no storage nodes yet");

  const std::string dir = "pool-" + std::to_string(index);  // its files' names on the nodes start so
  // Which holder's state the pool's files hold: a gateway that loses the
  // lock takes it again only while this still names its fence.
  RETURN_IF_ERROR(etcd.Put(HolderKey(location), std::to_string((*lock)->fence())).status());
  auto slot = std::make_shared<LockSlot>(std::move(lock).value());
  cluster::RemoteStoreOptions ro = PoolStoreOptions(ctx, index, slot->fence());
  ro.holds_lock = [slot] { return slot->held(); };
  auto env = std::make_unique<cluster::RemoteEnv>(ctx->ring, ro);
  RETURN_IF_ERROR(env->LoadMisses());
  auto store = std::make_unique<cluster::RemoteBlockStore>(ctx->ring, ro);

  PoolOptions po;
  po.env = env.get();
  po.block_store = store.get();
  po.cluster_size = options.cluster_size;
  po.container_size = uint64_t{ctx->cluster.container_units} * 4096;
  po.dedup = options.dedup;
  po.reclaim_garbage = options.reclaim_garbage;
  po.container_span = ro.container_span;
  if (options.create && existed) {
    // A record without files is what a crash between the two leaves: go on.
    ASSIGN_OR_RETURN(auto files, env->ListDir(dir));
    if (!files.empty()) {
      return AlreadyExists("the cluster already holds a pool named '" + location +
                           "' (an SR was made there before); give the SR another location");
    }
  }
  auto b = std::make_unique<ClusterBackend>(ctx, location, slot, std::move(env), std::move(store));
  auto pool = options.create ? Pool::Create(dir, po) : Pool::Open(dir, po);
  if (!pool.ok()) return pool.status().WithContext("cluster SR '" + location + "'");
  b->SetInner(std::move(pool).value());
  return std::unique_ptr<backend::Backend>(std::move(b));
}

}  // namespace vmstore::gateway
