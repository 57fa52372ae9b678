#include "backend/native_backend.h"

#include <charconv>

#include "util/fault_env.h"
#include "util/log.h"

namespace vmstore::backend {
namespace {

class NativeDevice : public Device {
 public:
  NativeDevice(Pool* pool, VolumeId id, uint64_t size, bool read_only)
      : pool_(pool), id_(id), size_(size), read_only_(read_only) {}
  uint64_t size() const override { return size_; }
  bool read_only() const override { return read_only_; }
  bool can_trim() const override { return true; }
  Status Read(uint64_t offset, std::span<char> buf) override { return pool_->Read(id_, offset, buf); }
  Status Write(uint64_t offset, std::span<const char> data, bool fua) override {
    RETURN_IF_ERROR(pool_->Write(id_, offset, data));
    return fua ? pool_->Flush() : Status::OK();
  }
  Status Trim(uint64_t offset, uint64_t length, bool fua) override {
    RETURN_IF_ERROR(pool_->Trim(id_, offset, length));
    return fua ? pool_->Flush() : Status::OK();
  }
  Status WriteZeroes(uint64_t offset, uint64_t length, bool may_punch, bool fua) override {
    RETURN_IF_ERROR(pool_->WriteZeroes(id_, offset, length, may_punch));
    return fua ? pool_->Flush() : Status::OK();
  }
  Status Flush() override { return pool_->Flush(); }
  StatusOr<std::vector<Extent>> Map(uint64_t offset, uint64_t length) override {
    return pool_->Map(id_, offset, length);
  }

 private:
  Pool* pool_;
  VolumeId id_;
  uint64_t size_;
  bool read_only_;
};

class NativeBackend : public Backend {
 public:
  explicit NativeBackend(std::unique_ptr<Pool> pool) : pool_(std::move(pool)) {}
  ~NativeBackend() override { (void)Close(); }

  std::string type() const override { return "native"; }
  Caps caps() const override { return Caps::All(); }

  StatusOr<std::string> CreateDisk(uint64_t size, uint64_t tag) override {
    ASSIGN_OR_RETURN(VolumeId id, pool_->CreateVolume(size, tag));
    return std::to_string(id);
  }

  Status Delete(const std::string& handle) override {
    ASSIGN_OR_RETURN(VolumeId id, NativeVolumeId(handle));
    return pool_->DeleteVolume(id);
  }

  Status Resize(const std::string& disk, uint64_t size) override {
    ASSIGN_OR_RETURN(VolumeId id, NativeVolumeId(disk));
    return pool_->ResizeVolume(id, size);
  }

  StatusOr<std::vector<std::string>> Snapshot(std::span<const std::string> disks, uint64_t tag) override {
    std::vector<VolumeId> ids;
    for (const std::string& d : disks) {
      ASSIGN_OR_RETURN(VolumeId id, NativeVolumeId(d));
      ids.push_back(id);
    }
    ASSIGN_OR_RETURN(std::vector<VolumeId> snaps, pool_->SnapshotMany(ids, tag));
    std::vector<std::string> out;
    for (VolumeId s : snaps) out.push_back(std::to_string(s));
    return out;
  }

  StatusOr<std::string> Clone(const std::string& snapshot, uint64_t tag) override {
    ASSIGN_OR_RETURN(VolumeId id, NativeVolumeId(snapshot));
    ASSIGN_OR_RETURN(VolumeId c, pool_->Clone(id, tag));
    return std::to_string(c);
  }

  Status Rollback(const std::string& disk, const std::string& snapshot) override {
    ASSIGN_OR_RETURN(VolumeId d, NativeVolumeId(disk));
    ASSIGN_OR_RETURN(VolumeId s, NativeVolumeId(snapshot));
    return pool_->Rollback(d, s);
  }

  StatusOr<VolumeStat> Stat(const std::string& handle) override {
    ASSIGN_OR_RETURN(VolumeId id, NativeVolumeId(handle));
    ASSIGN_OR_RETURN(VolumeInfo info, pool_->Info(id));
    SpaceInfo space;  // a damaged volume's tree cannot be walked: its space is unknown (0)
    if (info.damaged.empty()) {
      ASSIGN_OR_RETURN(space, pool_->Space(id));
    }
    return VolumeStat{handle, info.size, info.read_only, info.tag, space.referenced, space.exclusive};
  }

  StatusOr<std::vector<VolumeStat>> List() override {
    std::vector<VolumeStat> out;
    for (const VolumeInfo& v : pool_->ListVolumes()) {
      out.push_back(VolumeStat{std::to_string(v.id), v.size, v.read_only, v.tag, 0, 0});
    }
    return out;
  }

  StatusOr<std::vector<Extent>> Map(const std::string& handle, uint64_t offset, uint64_t length) override {
    ASSIGN_OR_RETURN(VolumeId id, NativeVolumeId(handle));
    return pool_->Map(id, offset, length);
  }

  StatusOr<DiffResult> Diff(const std::string& from, const std::string& to) override {
    ASSIGN_OR_RETURN(VolumeId a, NativeVolumeId(from));
    ASSIGN_OR_RETURN(VolumeId b, NativeVolumeId(to));
    return pool_->Diff(a, b);
  }

  StatusOr<std::unique_ptr<Device>> OpenDevice(const std::string& handle) override {
    ASSIGN_OR_RETURN(VolumeId id, NativeVolumeId(handle));
    ASSIGN_OR_RETURN(VolumeInfo info, pool_->Info(id));
    return std::unique_ptr<Device>(new NativeDevice(pool_.get(), id, info.size, info.read_only));
  }

  Status Check(bool structure, CheckReport* report) override { return pool_->Check(structure, report); }

  Status Close() override {
    if (!pool_) return Status::OK();
    Status s = pool_->Close();
    pool_.reset();
    return s;
  }

  StatusOr<PoolStats> EngineStats() override { return pool_->Stats(); }
  Status SetDedup(DedupMode mode) override { return pool_->SetDedup(mode); }
  Pool* pool() { return pool_.get(); }

 private:
  std::unique_ptr<Pool> pool_;
};

}  // namespace

std::unique_ptr<Backend> NewNativeBackend(std::unique_ptr<Pool> pool) {
  return std::unique_ptr<Backend>(new NativeBackend(std::move(pool)));
}

Pool* NativePoolForTesting(Backend* b) {
  auto* n = dynamic_cast<NativeBackend*>(b);
  return n ? n->pool() : nullptr;
}

StatusOr<VolumeId> NativeVolumeId(const std::string& handle) {
  VolumeId id = 0;
  auto [p, ec] = std::from_chars(handle.data(), handle.data() + handle.size(), id);
  if (ec != std::errc() || p != handle.data() + handle.size() || handle.empty()) {
    return InvalidArgument("'" + handle + "' is not a native volume handle");
  }
  return id;
}

StatusOr<std::unique_ptr<Backend>> OpenNativeBackend(const std::string& location, const OpenOptions& options) {
  PoolOptions o;
  o.env = FaultEnv::FromEnvironment();  // nullptr (the default Env) unless a test asks for faults
  o.cluster_size = options.cluster_size;
  o.container_size = options.container_size;
  o.dedup = options.dedup;
  o.reclaim_garbage = options.reclaim_garbage;
  o.accept_log_loss = options.accept_log_loss;
  auto pool = options.create ? Pool::Create(location, o) : Pool::Open(location, o);
  if (!pool.ok()) return pool.status();
  for (const VolumeInfo& v : (*pool)->ListVolumes()) {
    if (v.damaged.empty()) continue;  // contained: this volume fails its I/O, the others are served
    logging::Error("engine", "volume " + std::to_string(v.id) + " is damaged and fails its reads and writes",
                   {{"pool", location}, {"volume", v.id}, {"error", v.damaged}});
  }
  return std::unique_ptr<Backend>(new NativeBackend(std::move(pool).value()));
}

}  // namespace vmstore::backend
