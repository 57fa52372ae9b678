// Manager: opening, crash recovery, lookups, SRs and VMs.
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "catalog/manager_impl.h"
#include "catalog/naming.h"
#include "catalog/schema.h"
#include "util/log.h"

namespace vmstore {

using catalog::ManagerImpl;
using json = nlohmann::json;

namespace {

constexpr char kCatalogFile[] = "/catalog.db";
constexpr char kLockFile[] = "/catalog.lock";
constexpr char kDefaultSr[] = "default";

StatusOr<std::unique_ptr<ManagerImpl>> OpenImpl(const std::string& dir, const ManagerOptions& options) {
  Env* env = catalog::EnvOf(options);
  auto lock = env->LockFile(dir + kLockFile);
  if (!lock.ok()) {
    if (lock.status().code() == Code::kFailedPrecondition) {
      return FailedPrecondition("pool " + dir + " is in use by another vmstore process");
    }
    return lock.status();
  }
  ASSIGN_OR_RETURN(auto db, catalog::SqliteDb::Open(dir + kCatalogFile));
  RETURN_IF_ERROR(catalog::Migrate(db.get()));
  return std::make_unique<ManagerImpl>(dir, options, std::move(lock).value(), std::move(db));
}

}  // namespace

StatusOr<std::unique_ptr<Manager>> Manager::Create(const std::string& dir, const ManagerOptions& options) {
  Env* env = catalog::EnvOf(options);
  if (env->FileExists(dir + kCatalogFile)) return AlreadyExists("a pool already exists in " + dir);
  if (env->FileExists(dir + "/superblock")) {
    return AlreadyExists(dir +
                         " holds a native store without a catalog (made by an older vmstore, or its catalog "
                         "was lost): rebuild the catalog with 'vmstore catalog import', or use another directory");
  }
  RETURN_IF_ERROR(env->CreateDir(dir));
  // VM data is its owner's alone, whatever the directory was made with.
  if (env == Env::Default() && ::chmod(dir.c_str(), 0700) != 0) return ErrnoStatus(errno, "chmod 700 " + dir);
  // The default SR's engine lives in the pool directory itself; it checks
  // that the directory is empty.
  backend::OpenOptions bo;
  bo.create = true;
  bo.cluster_size = options.cluster_size;
  bo.container_size = options.container_size;
  bo.dedup = options.dedup;
  ASSIGN_OR_RETURN(auto engine, backend::OpenBackend("native", dir, bo));
  RETURN_IF_ERROR(engine->Close());
  ASSIGN_OR_RETURN(auto m, OpenImpl(dir, options));
  RETURN_IF_ERROR(m->InitDefaultSr());
  return std::unique_ptr<Manager>(std::move(m));
}

StatusOr<std::unique_ptr<Manager>> Manager::Open(const std::string& dir, const ManagerOptions& options) {
  Env* env = catalog::EnvOf(options);
  if (!env->FileExists(dir + kCatalogFile)) {
    return NotFound("no pool in " + dir + " (create one with: vmstore --pool " + dir + " init)");
  }
  ASSIGN_OR_RETURN(auto m, OpenImpl(dir, options));
  RETURN_IF_ERROR(m->Recover());
  return std::unique_ptr<Manager>(std::move(m));
}

StatusOr<std::unique_ptr<Manager>> Manager::OpenShared(std::unique_ptr<CatalogStore> store,
                                                       const std::string& default_type,
                                                       const std::string& default_location,
                                                       const ManagerOptions& options) {
  if (!store) return InvalidArgument("OpenShared needs a catalog store");
  ASSIGN_OR_RETURN(auto db, catalog::SqliteDb::Open(":memory:"));
  auto m = std::make_unique<ManagerImpl>("", options, nullptr, std::move(db), std::move(store));
  RETURN_IF_ERROR(m->AttachStore(default_type, default_location));
  return std::unique_ptr<Manager>(std::move(m));
}

namespace catalog {

std::string NewUuid() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  uint64_t a, b;
  {
    std::lock_guard<std::mutex> l(mu);
    a = rng();
    b = rng();
  }
  a = (a & ~0xf000ull) | 0x4000ull;                         // version 4
  b = (b & 0x3fffffffffffffffull) | 0x8000000000000000ull;  // variant 1
  char s[37];
  std::snprintf(s, sizeof s, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
                static_cast<unsigned>(b >> 48), static_cast<unsigned long long>(b & 0xffffffffffffull));
  return s;
}

ManagerImpl::ManagerImpl(std::string dir, ManagerOptions options, std::unique_ptr<Env::Lock> lock,
                         std::unique_ptr<SqliteDb> db, std::unique_ptr<CatalogStore> store)
    : dir_(std::move(dir)),
      opts_(std::move(options)),
      lock_(std::move(lock)),
      db_(std::move(db)),
      cat_(db_.get()),
      store_(std::move(store)) {
  if (store_) db_->SetAfterCommit([this] { return Push(); });
}

// ---- shared catalogs

StatusOr<ManagerImpl::Session> ManagerImpl::Enter(Access access, bool recover) {
  Session s{std::unique_lock<std::mutex>(mu_), nullptr};
  if (!store_) return s;
  if (access == Access::kWrite) {
    ASSIGN_OR_RETURN(s.guard, store_->Lock());
  }
  RETURN_IF_ERROR(Refresh());
  if (access == Access::kWrite && recover) {
    // A shared catalog's writers hold its lock for a whole operation, so an
    // intent found here is one whose operation failed midway (etcd out of
    // reach, say) in this process or another: undone or redone now rather
    // than at the next start. What cannot be yet (an SR another gateway
    // holds) waits for the next write; this one goes on.
    if (Status r = RecoverIntents(); !r.ok()) {
      logging::Warn("catalog", "an interrupted operation is not recovered yet", {{"error", r.ToString()}});
    }
  }
  return s;
}

Status ManagerImpl::Refresh() {
  auto image = store_->Load(stale_ ? 0 : version_);
  if (!image.ok()) return image.status().WithContext("catalog in " + store_->Describe());
  if (image->version == version_ && !stale_) return Status::OK();
  if (image->version == 0) return NotFound("no catalog in " + store_->Describe() + " (it was removed)");
  return Adopt(*image);
}

Status ManagerImpl::Adopt(const CatalogStore::Image& image) {
  RETURN_IF_ERROR(db_->Deserialize(image.bytes).WithContext("catalog in " + store_->Describe()));
  version_ = image.version;
  pushed_ = db_->TotalChanges();
  stale_ = false;
  indexes_.clear();  // snapshot indexes are built from rows that may have changed
  return Status::OK();
}

Status ManagerImpl::Push() {
  if (db_->TotalChanges() == pushed_) return Status::OK();
  auto image = db_->Serialize();
  auto v = image.ok() ? store_->Store(*image, version_) : StatusOr<int64_t>(image.status());
  if (!v.ok()) {
    stale_ = true;
    return v.status().WithContext("saving the catalog to " + store_->Describe());
  }
  version_ = *v;
  pushed_ = db_->TotalChanges();
  return Status::OK();
}

Status ManagerImpl::AttachStore(const std::string& default_type, const std::string& default_location) {
  {
    std::unique_lock<std::mutex> l(mu_);
    ASSIGN_OR_RETURN(auto guard, store_->Lock());
    ASSIGN_OR_RETURN(CatalogStore::Image image, store_->Load(0));
    if (image.version != 0) {
      RETURN_IF_ERROR(Adopt(image));
      RETURN_IF_ERROR(Migrate(db_.get()));  // a newer vmstore's columns; stored by the next commit
      RETURN_IF_ERROR(Push());
    } else {
      // The default SR's store first (or again, after a crash right here).
      backend::OpenOptions bo;
      auto b = OpenBackendOf(default_type, default_location, bo);
      if (!b.ok() && b.status().code() == Code::kNotFound) {
        bo.create = true;
        b = OpenBackendOf(default_type, default_location, bo);
      }
      if (!b.ok()) return b.status().WithContext("making the default SR");
      RETURN_IF_ERROR((*b)->Close());
      RETURN_IF_ERROR(Migrate(db_.get()));
      SqliteTxn txn(db_.get());
      RETURN_IF_ERROR(txn.Begin());
      RETURN_IF_ERROR(cat_.InsertSr({NewUuid(), kDefaultSr, default_type, default_location, Now()}));
      RETURN_IF_ERROR(cat_.SetMeta("pool_uuid", NewUuid()));
      RETURN_IF_ERROR(txn.Commit());  // stores it (CAS on "none yet")
    }
  }
  return Recover();
}

ManagerImpl::~ManagerImpl() { (void)Close(); }

StatusOr<std::unique_ptr<backend::Backend>> ManagerImpl::OpenBackendOf(const std::string& type,
                                                                       const std::string& location,
                                                                       const backend::OpenOptions& options) {
  if (opts_.open_backend) return opts_.open_backend(type, location, options);
  return backend::OpenBackend(type, location, options);
}

int64_t ManagerImpl::Now() const { return opts_.now ? opts_.now() : EnvOf(opts_)->NowNanos(); }

std::string ManagerImpl::AbsLocation(const std::string& type, const std::string& location) const {
  if (!backend::LocationIsPath(type)) return location;  // a name, e.g. a ZFS dataset
  if (!location.empty() && location[0] == '/') return location;
  if (location == "." || location.empty()) return dir_;
  return dir_ + "/" + location;
}

Status ManagerImpl::InitDefaultSr(const std::string& type, const std::string& location) {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kWrite));
  SqliteTxn txn(db_.get());
  RETURN_IF_ERROR(txn.Begin());
  RETURN_IF_ERROR(cat_.InsertSr({NewUuid(), kDefaultSr, type, location, Now()}));
  RETURN_IF_ERROR(cat_.SetMeta("pool_uuid", NewUuid()));
  return txn.Commit();
}

Status ManagerImpl::Close() {
  std::lock_guard<std::mutex> l(mu_);
  Status first;
  for (auto& [uuid, b] : backends_) {
    Status s = b->Close();
    if (first.ok() && !s.ok()) first = s;
  }
  backends_.clear();
  return first;
}

// ---- crash recovery

StatusOr<int64_t> ManagerImpl::BeginIntent(const std::string& kind, const std::string& body) {
  SqliteTxn txn(db_.get());
  RETURN_IF_ERROR(txn.Begin());
  ASSIGN_OR_RETURN(int64_t id, cat_.InsertIntent(kind, body, Now()));
  RETURN_IF_ERROR(txn.Commit());
  Step("intent");
  return id;
}

Status ManagerImpl::UndoCreate(int64_t id, const std::vector<std::string>& srs) {
  for (const std::string& sr : srs) {
    ASSIGN_OR_RETURN(backend::Backend * b, BackendFor(sr));
    ASSIGN_OR_RETURN(auto vols, b->List());
    for (const backend::VolumeStat& v : vols) {
      if (v.tag == static_cast<uint64_t>(id)) RETURN_IF_ERROR(b->Delete(v.handle));
    }
  }
  return Status::OK();
}

Status ManagerImpl::Recover() {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kWrite, /*recover=*/false));
  return RecoverIntents();
}

Status ManagerImpl::RecoverIntents() {
  ASSIGN_OR_RETURN(auto intents, cat_.Intents());
  for (const IntentRow& in : intents) {
    json body = json::parse(in.body, nullptr, false);
    if (body.is_discarded()) return Corruption("catalog: intent " + std::to_string(in.id) + " has a damaged body");
    Status s;
    if (in.kind == "create") {
      s = UndoCreate(in.id, body["srs"].get<std::vector<std::string>>());
    } else if (in.kind == "delete") {
      std::vector<std::pair<std::string, std::string>> vols;
      for (auto& v : body["volumes"]) vols.emplace_back(v[0].get<std::string>(), v[1].get<std::string>());
      s = DeleteVolumes(vols);
    } else if (in.kind == "rollback" || in.kind == "resize") {
      SqliteTxn txn(db_.get());
      s = txn.Begin();
      for (auto& p : body["disks"]) {
        if (!s.ok()) break;
        auto b = BackendFor(p["sr"].get<std::string>());
        s = b.status();
        if (!s.ok()) break;
        if (in.kind == "rollback") {
          s = (*b)->Rollback(p["disk"].get<std::string>(), p["snapshot"].get<std::string>());
        } else {
          s = (*b)->Resize(p["disk"].get<std::string>(), p["size"].get<uint64_t>());
        }
        if (s.ok()) s = cat_.SetVdiSize(p["vdi"].get<std::string>(), p["size"].get<uint64_t>());
      }
      if (s.ok()) s = cat_.DeleteIntent(in.id);
      if (s.ok()) s = txn.Commit();
      if (!s.ok()) return s.WithContext("recovering " + in.kind + " intent " + std::to_string(in.id));
      continue;
    } else {
      return Corruption("catalog: intent " + std::to_string(in.id) + " has unknown kind '" + in.kind + "'");
    }
    if (!s.ok()) return s.WithContext("recovering " + in.kind + " intent " + std::to_string(in.id));
    RETURN_IF_ERROR(cat_.DeleteIntent(in.id));
  }
  return Status::OK();
}

// ---- lookups

StatusOr<std::optional<backend::VolumeStat>> ManagerImpl::SpaceOf(const std::string& sr_uuid,
                                                                  const std::string& handle) {
  ASSIGN_OR_RETURN(backend::Backend * b, ViewBackendFor(sr_uuid));
  if (b == nullptr) return std::optional<backend::VolumeStat>();
  ASSIGN_OR_RETURN(backend::VolumeStat st, b->Stat(handle));
  return std::optional<backend::VolumeStat>(st);
}

StatusOr<backend::Backend*> ManagerImpl::ViewBackendFor(const std::string& sr_uuid) {
  if (!store_) return BackendFor(sr_uuid);
  auto it = backends_.find(sr_uuid);
  return it == backends_.end() ? nullptr : it->second.get();
}

StatusOr<backend::Backend*> ManagerImpl::BackendFor(const std::string& sr_uuid) {
  if (auto it = backends_.find(sr_uuid); it != backends_.end()) return it->second.get();
  ASSIGN_OR_RETURN(auto rows, cat_.Srs("uuid = ?", sr_uuid));
  if (rows.empty()) return NotFound("SR " + sr_uuid + " does not exist");
  backend::OpenOptions bo;
  auto b = OpenBackendOf(rows[0].type, AbsLocation(rows[0].type, rows[0].location), bo);
  if (!b.ok()) return b.status().WithContext("SR '" + rows[0].name + "'");
  backend::Backend* raw = b->get();
  backends_[sr_uuid] = std::move(b).value();
  return raw;
}

StatusOr<VmRow> ManagerImpl::FindVm(const std::string& ref) {
  if (ref.empty()) return InvalidArgument("no VM named (give a VM name)");
  ASSIGN_OR_RETURN(auto rows, cat_.Vms("name = ? AND deleted = 0", ref));
  if (rows.empty()) {
    ASSIGN_OR_RETURN(rows, cat_.Vms("uuid = ?", ref));
  }
  if (rows.empty()) return NotFound("VM '" + ref + "' does not exist (see: vmstore vm list)");
  return rows[0];
}

StatusOr<SrRow> ManagerImpl::FindSr(const std::string& name) {
  ASSIGN_OR_RETURN(auto rows, cat_.Srs("name = ? OR uuid = ?", name));
  if (rows.empty()) return NotFound("SR '" + name + "' does not exist (see: vmstore sr list)");
  return rows[0];
}

StatusOr<std::vector<DiskRow>> ManagerImpl::DisksOf(const VmRow& vm) {
  ASSIGN_OR_RETURN(auto vbds, cat_.Vbds("vm_uuid = ?", vm.uuid));
  std::vector<DiskRow> out;
  for (const VbdRow& b : vbds) {
    ASSIGN_OR_RETURN(auto vdis, cat_.Vdis("uuid = ?", b.vdi_uuid));
    if (vdis.empty()) return Corruption("catalog: VBD " + b.uuid + " refers to missing VDI " + b.vdi_uuid);
    out.push_back({vm, b, vdis[0]});
  }
  return out;
}

static StatusOr<std::pair<std::string, std::string>> SplitAt(const std::string& ref, char sep, const char* what,
                                                             const char* example) {
  size_t p = ref.find(sep);
  if (p == std::string::npos || p == 0 || p + 1 == ref.size()) {
    return InvalidArgument("'" + ref + "' is not a " + what + " reference (expected " + example + ")");
  }
  return std::make_pair(ref.substr(0, p), ref.substr(p + 1));
}

StatusOr<DiskRow> ManagerImpl::FindDisk(const std::string& vm_disk) {
  ASSIGN_OR_RETURN(auto parts, SplitAt(vm_disk, '/', "disk", "VM/DISK"));
  ASSIGN_OR_RETURN(VmRow vm, FindVm(parts.first));
  ASSIGN_OR_RETURN(auto disks, DisksOf(vm));
  for (DiskRow& d : disks) {
    if (d.vbd.name == parts.second) return d;
  }
  return NotFound("VM '" + vm.name + "' has no disk '" + parts.second + "' (see: vmstore disk list " + vm.name + ")");
}

StatusOr<std::pair<VmRow, SnapRow>> ManagerImpl::FindSnap(const std::string& vm_at_full) {
  ASSIGN_OR_RETURN(auto parts, SplitAt(vm_at_full, '@', "snapshot", "VM@NAME_YYYYMMDDTHH:MM:SS"));
  ASSIGN_OR_RETURN(VmRow vm, FindVm(parts.first));
  ASSIGN_OR_RETURN(auto snaps, cat_.Snaps("vm_uuid = ?", vm.uuid));
  for (SnapRow& s : snaps) {
    if (s.full_name == parts.second || s.uuid == parts.second) return std::make_pair(vm, s);
  }
  std::string msg = "VM '" + vm.name + "' has no snapshot '" + parts.second + "'";
  ASSIGN_OR_RETURN(auto elsewhere, cat_.Snaps("full_name = ?", parts.second));
  if (!elsewhere.empty()) {
    ASSIGN_OR_RETURN(auto owner, cat_.Vms("uuid = ?", elsewhere[0].vm_uuid));
    if (!owner.empty()) {
      msg += "; it belongs to VM '" + owner[0].name +
             "' (a snapshot is used only with its own VM; to start a VM from it: vmstore vm clone " + owner[0].name +
             "@" + parts.second + " NEWVM)";
    }
  } else {
    msg += " (see: vmstore snapshot list " + vm.name + ")";
  }
  return NotFound(msg);
}

StatusOr<SnapshotIndex*> ManagerImpl::IndexOf(const VmRow& vm) {
  auto it = indexes_.find(vm.uuid);
  if (it != indexes_.end()) return &it->second;
  ASSIGN_OR_RETURN(auto snaps, cat_.Snaps("vm_uuid = ? AND deleted = 0", vm.uuid));
  std::vector<SnapshotEntry> entries;
  for (const SnapRow& s : snaps) entries.push_back({s.created_ns, s.full_name, static_cast<uint64_t>(s.rowid)});
  SnapshotIndex idx;
  RETURN_IF_ERROR(idx.Build(std::move(entries)));
  return &indexes_.emplace(vm.uuid, std::move(idx)).first->second;
}

// ---- views

StatusOr<DiskInfo> ManagerImpl::MakeDiskInfo(const DiskRow& d) {
  DiskInfo info;
  info.vm = d.vm.name;
  info.name = d.vbd.name;
  info.vdi_uuid = d.vdi.uuid;
  info.vbd_uuid = d.vbd.uuid;
  info.device = static_cast<int>(d.vbd.device);
  info.size = d.vdi.size;
  ASSIGN_OR_RETURN(SrRow sr, FindSr(d.vdi.sr_uuid));
  info.sr = sr.name;
  ASSIGN_OR_RETURN(auto st, SpaceOf(d.vdi.sr_uuid, d.vdi.handle));
  info.space_known = st.has_value();
  if (st) {
    info.referenced = st->referenced;
    info.exclusive = st->exclusive;
  }
  if (d.vdi.clone_of) {
    ASSIGN_OR_RETURN(auto src, cat_.Vdis("uuid = ?", *d.vdi.clone_of));
    if (!src.empty() && src[0].snapshot_uuid) {
      ASSIGN_OR_RETURN(std::string label, SnapLabel(*src[0].snapshot_uuid));
      size_t at = label.find('@');
      info.clone_of = label.substr(0, at) + "/" + src[0].name + label.substr(at);
    }
  }
  return info;
}

StatusOr<std::string> ManagerImpl::SnapLabel(const std::string& snap_uuid) {
  ASSIGN_OR_RETURN(auto snaps, cat_.Snaps("uuid = ?", snap_uuid));
  if (snaps.empty()) return NotFound("snapshot " + snap_uuid + " does not exist");
  ASSIGN_OR_RETURN(auto vms, cat_.Vms("uuid = ?", snaps[0].vm_uuid));
  return (vms.empty() ? snaps[0].vm_uuid : vms[0].name) + "@" + snaps[0].full_name;
}

StatusOr<VmInfo> ManagerImpl::MakeVmInfo(const VmRow& vm) {
  VmInfo info;
  info.uuid = vm.uuid;
  info.name = vm.name;
  info.created_ns = vm.created_ns;
  info.deleted = vm.deleted;
  if (vm.parent_snapshot) {
    ASSIGN_OR_RETURN(info.parent, SnapLabel(*vm.parent_snapshot));
  }
  ASSIGN_OR_RETURN(auto snaps, cat_.Snaps("vm_uuid = ?", vm.uuid));
  for (const SnapRow& s : snaps) info.snapshots.push_back(s.full_name);
  ASSIGN_OR_RETURN(auto disks, DisksOf(vm));
  for (const DiskRow& d : disks) {
    ASSIGN_OR_RETURN(DiskInfo di, MakeDiskInfo(d));
    info.disks.push_back(std::move(di));
  }
  return info;
}

// ---- SRs

StatusOr<SrInfo> ManagerImpl::CreateSr(const std::string& name, const std::string& type, const std::string& location) {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kWrite));
  RETURN_IF_ERROR(ValidateObjectName("SR", name));
  ASSIGN_OR_RETURN(auto existing, cat_.Srs("name = ?", name));
  if (!existing.empty()) return AlreadyExists("SR '" + name + "' already exists");
  if (store_ && backend::LocationIsPath(type)) {
    return InvalidArgument("a " + type + " SR keeps its disks on one host; the SRs of a cluster are of type cluster");
  }
  std::string loc = location;
  if (loc.empty() && store_) loc = name;  // a cluster SR is named after itself on the nodes
  if (loc.empty() && !backend::LocationIsPath(type)) {
    return InvalidArgument("a " + type + " SR needs its location (for zfs: --dataset POOL/PATH)");
  }
  if (loc.empty()) loc = "srs/" + name;
  if (loc.find("..") != std::string::npos) return InvalidArgument("SR location '" + loc + "' must not contain '..'");
  std::string abs = AbsLocation(type, loc);
  if (location.empty() && backend::LocationIsPath(type)) {
    // A directory here without a catalog row is what a crash between making
    // the store and committing the row leaves: start again.
    std::error_code ec;
    std::filesystem::remove_all(abs, ec);
    RETURN_IF_ERROR(EnvOf(opts_)->CreateDir(dir_ + "/srs"));
  }
  backend::OpenOptions bo;
  bo.create = true;
  ASSIGN_OR_RETURN(auto b, OpenBackendOf(type, abs, bo));
  SrRow row{NewUuid(), name, type, loc, Now()};
  SqliteTxn txn(db_.get());
  RETURN_IF_ERROR(txn.Begin());
  RETURN_IF_ERROR(cat_.InsertSr(row));
  RETURN_IF_ERROR(txn.Commit());
  backends_[row.uuid] = std::move(b);
  return SrInfo{row.uuid, row.name, row.type, abs, row.created_ns, 0};
}

StatusOr<std::vector<SrInfo>> ManagerImpl::ListSrs() {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kRead));
  ASSIGN_OR_RETURN(auto rows, cat_.Srs());
  std::vector<SrInfo> out;
  for (const SrRow& r : rows) {
    ASSIGN_OR_RETURN(auto vdis, cat_.Vdis("sr_uuid = ?", r.uuid));
    out.push_back({r.uuid, r.name, r.type, AbsLocation(r.type, r.location), r.created_ns, vdis.size()});
  }
  return out;
}

StatusOr<SrInfo> ManagerImpl::GetSr(const std::string& name) {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kRead));
  ASSIGN_OR_RETURN(SrRow r, FindSr(name));
  ASSIGN_OR_RETURN(auto vdis, cat_.Vdis("sr_uuid = ?", r.uuid));
  return SrInfo{r.uuid, r.name, r.type, AbsLocation(r.type, r.location), r.created_ns, vdis.size()};
}

StatusOr<backend::Backend*> ManagerImpl::SrBackend(const std::string& name) {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kRead));
  ASSIGN_OR_RETURN(SrRow r, FindSr(name));
  return BackendFor(r.uuid);
}

StatusOr<backend::Backend*> ManagerImpl::SrBackendForView(const std::string& name) {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kRead));
  ASSIGN_OR_RETURN(SrRow r, FindSr(name));
  return ViewBackendFor(r.uuid);
}

Status ManagerImpl::DeleteSr(const std::string& name) {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kWrite));
  ASSIGN_OR_RETURN(SrRow r, FindSr(name));
  if (r.name == kDefaultSr) return FailedPrecondition("the default SR holds the pool itself and cannot be deleted");
  ASSIGN_OR_RETURN(auto vdis, cat_.Vdis("sr_uuid = ?", r.uuid));
  if (!vdis.empty()) {
    return FailedPrecondition("SR '" + name + "' still holds " + std::to_string(vdis.size()) +
                              " disks or disk snapshots; delete them first");
  }
  if (auto it = backends_.find(r.uuid); it != backends_.end()) {
    RETURN_IF_ERROR(it->second->Close());
    backends_.erase(it);
  }
  SqliteTxn txn(db_.get());
  RETURN_IF_ERROR(txn.Begin());
  RETURN_IF_ERROR(cat_.DeleteSr(r.uuid));
  RETURN_IF_ERROR(txn.Commit());
  // A store the pool made for the SR goes with it; one at a user's path stays.
  if (r.location.rfind("srs/", 0) == 0) {
    std::error_code ec;
    std::filesystem::remove_all(AbsLocation(r.type, r.location), ec);
  }
  return Status::OK();
}

// ---- VMs

StatusOr<VmInfo> ManagerImpl::CreateVm(const std::string& name) {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kWrite));
  RETURN_IF_ERROR(ValidateObjectName("VM", name));
  ASSIGN_OR_RETURN(auto existing, cat_.Vms("name = ? AND deleted = 0", name));
  if (!existing.empty()) return AlreadyExists("VM '" + name + "' already exists");
  VmRow row{NewUuid(), name, Now(), std::nullopt, false};
  SqliteTxn txn(db_.get());
  RETURN_IF_ERROR(txn.Begin());
  RETURN_IF_ERROR(cat_.InsertVm(row));
  RETURN_IF_ERROR(txn.Commit());
  return MakeVmInfo(row);
}

StatusOr<std::vector<VmInfo>> ManagerImpl::ListVms(bool include_deleted) {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kRead));
  ASSIGN_OR_RETURN(auto rows, include_deleted ? cat_.Vms() : cat_.Vms("deleted = 0"));
  std::vector<VmInfo> out;
  for (const VmRow& r : rows) {
    ASSIGN_OR_RETURN(VmInfo info, MakeVmInfo(r));
    out.push_back(std::move(info));
  }
  return out;
}

StatusOr<std::vector<VmSummary>> ManagerImpl::SummarizeVms() {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kRead));
  ASSIGN_OR_RETURN(auto vms, cat_.Vms());
  ASSIGN_OR_RETURN(auto snaps, cat_.Snaps());
  ASSIGN_OR_RETURN(auto vbds, cat_.Vbds());
  std::map<std::string, VmSummary> by_uuid;
  for (const VmRow& r : vms) {
    VmSummary& v = by_uuid[r.uuid];
    v.name = r.name;
    v.deleted = r.deleted;
  }
  for (const SnapRow& s : snaps) {
    auto it = by_uuid.find(s.vm_uuid);
    if (it == by_uuid.end()) continue;
    VmSummary& v = it->second;
    if (s.deleted) {
      ++v.deleted_snapshots;
    } else {
      ++v.snapshots;
      if (v.newest_snapshot.empty() || s.created_ns >= v.newest_snapshot_ns) {
        v.newest_snapshot = s.full_name;
        v.newest_snapshot_ns = s.created_ns;
      }
    }
  }
  for (const VbdRow& b : vbds) {
    auto it = by_uuid.find(b.vm_uuid);
    if (it != by_uuid.end()) ++it->second.disks;
  }
  std::vector<VmSummary> out;
  for (auto& [uuid, v] : by_uuid) out.push_back(std::move(v));
  std::sort(out.begin(), out.end(), [](const VmSummary& a, const VmSummary& b) { return a.name < b.name; });
  return out;
}

StatusOr<VmInfo> ManagerImpl::GetVm(const std::string& vm) {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kRead));
  ASSIGN_OR_RETURN(VmRow row, FindVm(vm));
  return MakeVmInfo(row);
}

StatusOr<DiskRef> ManagerImpl::Resolve(const std::string& name) {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kRead));
  return ResolveLocked(name);
}

StatusOr<DiskRef> ManagerImpl::ResolveLocked(const std::string& name) {
  size_t at = name.find('@');
  std::string disk_part = name.substr(0, at);
  ASSIGN_OR_RETURN(auto parts, SplitAt(disk_part, '/', "disk", "VM/DISK or VM/DISK@SNAPSHOT"));
  if (at == std::string::npos) {
    ASSIGN_OR_RETURN(DiskRow d, FindDisk(disk_part));
    ASSIGN_OR_RETURN(backend::Backend * b, BackendFor(d.vdi.sr_uuid));
    return DiskRef{b, d.vdi.sr_uuid, d.vdi.handle, d.vdi.uuid, false, d.vdi.size};
  }
  ASSIGN_OR_RETURN(auto vs, FindSnap(parts.first + name.substr(at)));
  ASSIGN_OR_RETURN(auto vdis, cat_.Vdis("snapshot_uuid = ?", vs.second.uuid));
  for (const VdiRow& v : vdis) {
    if (v.name != parts.second) continue;
    ASSIGN_OR_RETURN(backend::Backend * b, BackendFor(v.sr_uuid));
    return DiskRef{b, v.sr_uuid, v.handle, v.uuid, true, v.size};
  }
  return NotFound("snapshot '" + parts.first + name.substr(at) + "' has no disk '" + parts.second + "'");
}

}  // namespace catalog
}  // namespace vmstore
