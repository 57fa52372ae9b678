// ManagerImpl: the catalog (SQLite) and the backends behind vmstore::Manager.
//
// Keeping the catalog and the backends in step. A backend call cannot join an
// SQLite transaction, so every operation that touches a backend is cut into
// steps around an intent row (table `intent`, body JSON):
//
//   create-like (disk create, snapshot create, vm clone):
//     1. commit intent {kind: "create", srs}        -> its id is the tag
//     2. backend creates volumes, each tagged with the id
//     3. one transaction: the new rows + delete the intent
//   A crash before 3 leaves tagged volumes no row refers to; Recover() deletes
//   every volume carrying the id of a pending "create" intent (undo).
//
//   delete-like (disk, VM, snapshot delete):
//     1. one transaction: rows removed or marked deleted + intent {kind:
//        "delete", volumes}
//     2. backend deletes the volumes
//     3. delete the intent
//   Recover() repeats 2 (NotFound counts as done) and 3 (redo).
//
//   rollback and resize: 1. intent with the target state; 2. backend; 3. the
//   catalog's sizes + delete the intent. Both backend steps are idempotent, so
//   Recover() redoes them.
//
// So after Open() the catalog is always before or after each operation, and
// every volume in a backend belongs to exactly one VDI row (Check() verifies).
//
// Deletion rules: see DeleteVmTx / DeleteSnapTx in manager_delete.cc. A delete
// plans and applies its changes inside one transaction; a dry run rolls it back.
//
// Shared catalogs (cluster mode, Manager::OpenShared): the SQLite database is
// in memory and its image lives in a CatalogStore. Every public method enters
// a Session: it takes mu_ and, for a method that may change the catalog, the
// store's cross-process lock; it then reloads the image if another process
// stored a newer one. Every commit stores the image (compare-and-swap on the
// version loaded); a failed store marks the local copy stale, so the next
// session reloads what the store holds and the failed operation's rows are
// gone everywhere, as after a crash.
//
// Thread-safety: every public method takes mu_ (through Enter).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "catalog/catalog_db.h"
#include "catalog/snapshot_index.h"
#include "catalog/sqlite_db.h"
#include "vmstore/manager.h"

namespace vmstore::catalog {

// A disk of a live VM: its attachment and its VDI.
struct DiskRow {
  VmRow vm;
  VbdRow vbd;
  VdiRow vdi;
};

// What a delete transaction collects.
struct DeletePlan {
  DeleteReport report;
  std::vector<std::pair<std::string, std::string>> volumes;  // (sr uuid, handle) to delete
};

// The Env a Manager's options name (Env::Default() when none).
inline Env* EnvOf(const ManagerOptions& o) { return o.env ? o.env : Env::Default(); }

class ManagerImpl : public Manager {
 public:
  ManagerImpl(std::string dir, ManagerOptions options, std::unique_ptr<Env::Lock> lock, std::unique_ptr<SqliteDb> db,
              std::unique_ptr<CatalogStore> store = nullptr);
  ~ManagerImpl() override;

  // Finishes or undoes the intents a crash left (see above).
  Status Recover();
  // Registers the default SR (at Create; native, in the pool directory).
  Status InitDefaultSr(const std::string& type = "native", const std::string& location = ".");
  // Shared catalogs: loads the store's image, or makes the catalog (schema and
  // default SR) and stores it when the store holds none.
  Status AttachStore(const std::string& default_type, const std::string& default_location);

  StatusOr<SrInfo> CreateSr(const std::string& name, const std::string& type, const std::string& location) override;
  StatusOr<std::vector<SrInfo>> ListSrs() override;
  StatusOr<SrInfo> GetSr(const std::string& name) override;
  Status DeleteSr(const std::string& name) override;
  StatusOr<backend::Backend*> SrBackend(const std::string& name) override;
  StatusOr<backend::Backend*> SrBackendForView(const std::string& name) override;

  StatusOr<VmInfo> CreateVm(const std::string& name) override;
  StatusOr<std::vector<VmInfo>> ListVms(bool include_deleted) override;
  StatusOr<std::vector<VmSummary>> SummarizeVms() override;
  StatusOr<VmInfo> GetVm(const std::string& vm) override;
  StatusOr<DeleteReport> DeleteVm(const std::string& vm, bool recursive, bool dry_run) override;
  using Manager::CloneVm;
  StatusOr<VmInfo> CloneVm(const std::string& snapshot, const std::string& new_name, const std::string& sr) override;

  StatusOr<DiskInfo> CreateDisk(const std::string& vm, const std::string& disk, uint64_t size,
                                const std::string& sr) override;
  StatusOr<std::vector<DiskInfo>> ListDisks(const std::string& vm) override;
  StatusOr<DiskInfo> GetDisk(const std::string& vm_disk) override;
  StatusOr<DiskInfo> ResizeDisk(const std::string& vm_disk, uint64_t size) override;
  Status DeleteDisk(const std::string& vm_disk) override;

  StatusOr<SnapshotInfo> CreateSnapshot(const std::string& vm, const std::string& name,
                                        const std::string& disk) override;
  StatusOr<std::vector<SnapshotInfo>> ListSnapshots(const std::string& vm, bool include_deleted) override;
  StatusOr<std::vector<SnapshotInfo>> FindSnapshots(const std::string& vm, const SnapshotQuery& q) override;
  StatusOr<SnapshotInfo> GetSnapshot(const std::string& vm_at_full) override;
  StatusOr<TreeNode> SnapshotTree(const std::string& vm, bool include_deleted) override;
  Status Rollback(const std::string& vm_at_full) override;
  StatusOr<DeleteReport> DeleteSnapshot(const std::string& vm_at_full, bool recursive, bool dry_run) override;

  StatusOr<DiskRef> Resolve(const std::string& name) override;
  Status Check(bool deep, ConsistencyReport* report) override;
  Status SetProperty(const std::string& object, const std::string& key, const std::string& value) override;
  StatusOr<std::map<std::string, std::string>> Properties(const std::string& object) override;
  StatusOr<std::string> ExportCatalog() override;
  Status Close() override;

 private:
  friend Status vmstore::ImportCatalog(const std::string&, const std::string&, const ManagerOptions&);

  // What a public method holds: mu_, and for writers of a shared catalog the
  // store's lock.
  struct Session {
    std::unique_lock<std::mutex> lock;
    std::unique_ptr<CatalogStore::Guard> guard;
  };
  enum class Access { kRead, kWrite };
  // With `recover`, a write session first recovers the intents left by
  // operations that failed midway (shared catalogs; see Enter).
  StatusOr<Session> Enter(Access access, bool recover = true);
  // Undoes or redoes every intent in the catalog (the caller holds a write session).
  Status RecoverIntents();
  // Shared catalogs: loads the stored image when it is newer than ours.
  Status Refresh();
  // Shared catalogs: takes `image` as the catalog (our copy is replaced).
  Status Adopt(const CatalogStore::Image& image);
  // Shared catalogs: stores the image if it changed since the last store.
  Status Push();

  int64_t Now() const;
  void Step(const char* point) const {
    if (opts_.step_hook) opts_.step_hook(point);
  }
  // Where an SR of `type` at `location` is: relative paths are taken from the
  // pool directory; names (zfs datasets) are kept.
  // FailedPrecondition naming the newer snapshots of `d` when its SR cannot
  // roll back to `sv` without destroying them.
  Status CheckRollbackKeepsNewer(const std::string& vm_at_full, const DiskRow& d, const VdiRow& sv);
  std::string AbsLocation(const std::string& type, const std::string& location) const;

  // Lookups (mu_ held). Live objects unless said otherwise.
  StatusOr<VmRow> FindVm(const std::string& ref);
  StatusOr<SrRow> FindSr(const std::string& name);
  StatusOr<DiskRow> FindDisk(const std::string& vm_disk);
  StatusOr<std::pair<VmRow, SnapRow>> FindSnap(const std::string& vm_at_full);
  StatusOr<backend::Backend*> BackendFor(const std::string& sr_uuid);
  // BackendFor for views: with a shared catalog only an SR already open here
  // (nullptr otherwise), since opening a cluster SR takes its lock.
  StatusOr<backend::Backend*> ViewBackendFor(const std::string& sr_uuid);
  // A volume's space figures; nullopt for a shared catalog's volume whose SR
  // is not open here (the views then say the figures are unknown).
  StatusOr<std::optional<backend::VolumeStat>> SpaceOf(const std::string& sr_uuid, const std::string& handle);
  // opts_.open_backend, else backend::OpenBackend.
  StatusOr<std::unique_ptr<backend::Backend>> OpenBackendOf(const std::string& type, const std::string& location,
                                                            const backend::OpenOptions& options);
  StatusOr<DiskRef> ResolveLocked(const std::string& name);
  // The uuid of the object a property reference names (SetProperty).
  StatusOr<std::string> ObjectUuid(const std::string& ref);
  StatusOr<std::vector<DiskRow>> DisksOf(const VmRow& vm);

  // Views.
  StatusOr<DiskInfo> MakeDiskInfo(const DiskRow& d);
  StatusOr<VmInfo> MakeVmInfo(const VmRow& vm);
  StatusOr<SnapshotInfo> MakeSnapInfo(const VmRow& vm, const SnapRow& s);
  StatusOr<TreeNode> TreeOf(const VmRow& vm, bool include_deleted);
  StatusOr<std::string> SnapLabel(const std::string& snap_uuid);  // "VM@FULL"
  StatusOr<SnapshotIndex*> IndexOf(const VmRow& vm);

  // Deletion (manager_delete.cc), inside an open transaction.
  Status DeleteVmTx(const VmRow& vm, bool recursive, DeletePlan* plan);
  Status DeleteSnapTx(const VmRow& vm, const SnapRow& s, bool recursive, DeletePlan* plan);
  Status RemoveSnapTx(const SnapRow& s, DeletePlan* plan);
  Status RemoveVmRowTx(const VmRow& vm, DeletePlan* plan);
  Status RemoveDiskTx(const DiskRow& d, DeletePlan* plan);
  // Commits `plan` with a delete intent, then deletes its volumes (or, for a
  // dry run, rolls everything back).
  StatusOr<DeleteReport> FinishDelete(SqliteTxn* txn, DeletePlan plan, bool dry_run);
  Status DeleteVolumes(const std::vector<std::pair<std::string, std::string>>& volumes);

  // Intent helpers.
  StatusOr<int64_t> BeginIntent(const std::string& kind, const std::string& body);
  Status UndoCreate(int64_t id, const std::vector<std::string>& srs);

  std::mutex mu_;
  const std::string dir_;
  const ManagerOptions opts_;
  std::unique_ptr<Env::Lock> lock_;
  std::unique_ptr<SqliteDb> db_;
  CatalogDb cat_;
  std::map<std::string, std::unique_ptr<backend::Backend>> backends_;  // by SR uuid, opened on first use
  std::map<std::string, SnapshotIndex> indexes_;                       // by VM uuid, live snapshots
  // Shared catalogs only.
  std::unique_ptr<CatalogStore> store_;
  int64_t version_ = 0;  // the store's version our database reflects
  int64_t pushed_ = 0;   // db_->TotalChanges() at the last load or store
  bool stale_ = false;   // a store failed: reload before the next session
};

std::string NewUuid();

}  // namespace vmstore::catalog
