// Manager: VMStore's management system (snapshot paper, part 1) over the
// storage backends. It keeps the XenServer object model in a catalog (SQLite,
// `catalog.db` in the pool directory): SRs hold VDIs (virtual disks), VBDs
// attach VDIs to VMs, and VM snapshots hold one disk snapshot per VDI. The
// storage organisation is the tree SR -> VM -> disk -> snapshots; any disk or
// snapshot resolves to its backend and handle in one step.
//
// References: a VM by name (or UUID); a disk as "VM/DISK"; a snapshot as
// "VM@FULLNAME" (FULLNAME = NAME_YYYYMMDDTHH:MM:SS); a disk of a snapshot as
// "VM/DISK@FULLNAME".
//
// Deletion rules (paper, 3.2.4): VMs cloned from a snapshot are its children;
// a VM's snapshots are the VM's children. Deleting an object with children
// marks it deleted (hidden, unusable as a clone source) and removes it for real
// when its last child goes, which can cascade up the tree. A recursive delete
// removes the object and everything that depends on it.
//
// Consistency with the backends: every operation that touches a backend first
// records an intent in the catalog; new volumes carry the intent's number as
// their tag. Open() finishes or undoes whatever intent a crash left, so the
// catalog is always either before or after an operation, and Check() reports
// any volume without a catalog entry and the reverse.
//
// Example:
//   ASSIGN_OR_RETURN(auto m, Manager::Create("/var/lib/vmstore", {}));
//   RETURN_IF_ERROR(m->CreateVm("web").status());
//   RETURN_IF_ERROR(m->CreateDisk("web", "root", 10ull << 30, "").status());
//   ASSIGN_OR_RETURN(SnapshotInfo s, m->CreateSnapshot("web", "before_upgrade", ""));
//   ASSIGN_OR_RETURN(VmInfo clone, m->CloneVm("web@" + s.full_name, "web2"));
//
// Errors: InvalidArgument (bad names, sizes, references), NotFound (unknown
// objects), AlreadyExists (taken names), FailedPrecondition (a rule forbids it;
// the message says what to do), IOError/Corruption from storage.
// Thread-safety: all methods are thread-safe (serialised inside).
// Ownership: the Manager owns the catalog and the backends it opens; one process
// at a time may open a pool directory.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vmstore/backend.h"
#include "vmstore/catalog_store.h"
#include "vmstore/env.h"
#include "vmstore/status.h"

namespace vmstore {

struct ManagerOptions {
  // File access for the catalog's directory and lock (not owned); nullptr:
  // Env::Default(). The SRs' backends use their own storage.
  Env* env = nullptr;
  // Wall clock in ns since the Unix epoch for creation times and snapshot time
  // tags (tests set it); empty: the system clock.
  std::function<int64_t()> now;
  // Geometry of the default native SR made by Create().
  uint32_t cluster_size = 64 * 1024;
  uint64_t container_size = 64ull << 20;
  DedupMode dedup = DedupMode::kOff;
  // Test hook, called between the steps of every operation that touches a
  // backend: "intent" (the intent is committed), "backend" (the backend steps
  // are done), "done" (the catalog is final). Crash tests exit there.
  std::function<void(const char* point)> step_hook;
  // Opens the backend of an SR instead of backend::OpenBackend (the cluster's
  // gateway opens "cluster" SRs with its connections); empty: OpenBackend.
  std::function<StatusOr<std::unique_ptr<backend::Backend>>(const std::string& type, const std::string& location,
                                                            const backend::OpenOptions& options)>
      open_backend;
};

struct SrInfo {
  std::string uuid, name, type, location;
  int64_t created_ns = 0;
  uint64_t vdis = 0;  // disks and disk snapshots stored in it
};

struct DiskInfo {
  std::string vm, name, vdi_uuid, vbd_uuid, sr;
  int device = 0;
  uint64_t size = 0;
  uint64_t referenced = 0, exclusive = 0;
  // False (figures 0) when the catalog is shared (a cluster) and this Manager
  // does not hold the SR: views never take an SR (SrBackendForView), and
  // background work (snapshot policies) leaves such VMs to their gateway.
  bool space_known = true;
  std::string clone_of;  // "VM/DISK@FULL" it was cloned from, or ""
};

struct VmInfo {
  std::string uuid, name;
  int64_t created_ns = 0;
  bool deleted = false;
  std::string parent;                  // "VM@FULL" it was cloned from, or ""
  std::vector<std::string> snapshots;  // full names, oldest first (deleted ones too)
  std::vector<DiskInfo> disks;
};

// A VM as counted by monitoring: from the catalog alone (no backend is asked).
struct VmSummary {
  std::string name;
  bool deleted = false;
  uint64_t disks = 0;
  uint64_t snapshots = 0;          // live ones
  uint64_t deleted_snapshots = 0;  // marked deleted, kept for their clones
  std::string newest_snapshot;     // the newest live snapshot's full name; "" if none
  int64_t newest_snapshot_ns = 0;  // ... and its creation time; 0 if none
};

struct SnapshotInfo {
  struct Disk {
    std::string name, vdi_uuid, sr;
    uint64_t size = 0, referenced = 0, exclusive = 0;
    bool space_known = true;  // as DiskInfo's
  };
  std::string uuid, vm, name, full_name;
  int64_t created_ns = 0;
  bool deleted = false;
  std::vector<Disk> disks;
  uint64_t referenced = 0, exclusive = 0;  // sums over the disks
  bool space_known = true;                 // false if any disk's is not
  std::vector<std::string> clones;         // names of the VMs cloned from it
};

// What a delete did (or, for a dry run, would do).
struct DeleteReport {
  struct Deferred {
    std::string object;                // "VM" or "VM@FULL"
    std::vector<std::string> kept_by;  // the VMs (clones) that keep it
  };
  bool dry_run = false;
  std::vector<std::string> removed;  // objects removed, children first
  std::vector<Deferred> deferred;    // marked deleted, kept for their children
};

// The tree of a VM's snapshots and the VMs cloned from them.
struct TreeNode {
  bool is_vm = false;
  std::string label;  // VM name, or snapshot full name
  bool deleted = false;
  std::vector<TreeNode> children;
};

// A disk or disk snapshot, resolved to where its data lives.
struct DiskRef {
  backend::Backend* backend = nullptr;  // owned by the Manager
  std::string sr_uuid, handle, vdi_uuid;
  bool read_only = false;
  uint64_t size = 0;
};

// Which snapshot `snapshot find` looks for: exactly one field set.
struct SnapshotQuery {
  std::string full_name;              // exact full name
  std::optional<int64_t> at_ns;       // the newest at or before this time
  std::optional<std::string> prefix;  // every full name starting with it
};

// One problem found by Check().
struct ConsistencyReport {
  uint64_t vdis = 0, volumes = 0;
  std::vector<std::string> errors;
  bool clean() const { return errors.empty(); }
};

class Manager {
 public:
  // Creates a pool: the directory (must be empty or absent), its catalog, and a
  // native SR named "default" kept in the directory itself.
  static StatusOr<std::unique_ptr<Manager>> Create(const std::string& dir, const ManagerOptions& options);
  // Opens a pool, finishing or undoing any operation a crash interrupted.
  static StatusOr<std::unique_ptr<Manager>> Open(const std::string& dir, const ManagerOptions& options);
  // Opens the catalog kept in `store` (cluster mode), creating it - with a
  // default SR of `default_type` at `default_location` - when the store holds
  // none yet. Several processes may open one store at once: each operation
  // loads what the others committed and stores its own changes under the
  // store's lock (vmstore/catalog_store.h).
  static StatusOr<std::unique_ptr<Manager>> OpenShared(std::unique_ptr<CatalogStore> store,
                                                       const std::string& default_type,
                                                       const std::string& default_location,
                                                       const ManagerOptions& options);
  virtual ~Manager() = default;

  // SRs. `location` "" puts a native SR in DIR/srs/NAME.
  virtual StatusOr<SrInfo> CreateSr(const std::string& name, const std::string& type, const std::string& location) = 0;
  virtual StatusOr<std::vector<SrInfo>> ListSrs() = 0;
  virtual StatusOr<SrInfo> GetSr(const std::string& name) = 0;
  virtual Status DeleteSr(const std::string& name) = 0;  // only an SR holding no VDIs
  // The backend of an SR, opened if needed; owned by the Manager.
  virtual StatusOr<backend::Backend*> SrBackend(const std::string& name) = 0;
  // The same for views and monitoring, which must not take a cluster SR from
  // the gateway that serves it: with a shared catalog (OpenShared) only an SR
  // this Manager already holds is answered; nullptr for the others.
  virtual StatusOr<backend::Backend*> SrBackendForView(const std::string& name) = 0;

  // VMs.
  virtual StatusOr<VmInfo> CreateVm(const std::string& name) = 0;
  virtual StatusOr<std::vector<VmInfo>> ListVms(bool include_deleted) = 0;
  virtual StatusOr<VmInfo> GetVm(const std::string& vm) = 0;
  // Every VM (deleted ones too) with its counts, from the catalog only: cheap
  // enough to run on every metrics scrape, unlike ListVms (which asks each
  // backend for each disk's space).
  virtual StatusOr<std::vector<VmSummary>> SummarizeVms() = 0;
  // Deletes the VM, its disks and its snapshots, as the deletion rules allow.
  virtual StatusOr<DeleteReport> DeleteVm(const std::string& vm, bool recursive, bool dry_run) = 0;
  // A new VM whose disks are writable clones of the disks of snapshot
  // "VM@FULL", each in the SR of its snapshot - or all in SR `sr` when given,
  // sharing the snapshot's blocks where the SRs can (cluster SRs: caps
  // clone_across_srs) and refused (NotSupported) where they cannot.
  virtual StatusOr<VmInfo> CloneVm(const std::string& snapshot, const std::string& new_name, const std::string& sr) = 0;
  StatusOr<VmInfo> CloneVm(const std::string& snapshot, const std::string& new_name) {
    return CloneVm(snapshot, new_name, "");
  }

  // Disks. `sr` "" means "default".
  virtual StatusOr<DiskInfo> CreateDisk(const std::string& vm, const std::string& disk, uint64_t size,
                                        const std::string& sr) = 0;
  virtual StatusOr<std::vector<DiskInfo>> ListDisks(const std::string& vm) = 0;  // "" = every VM
  virtual StatusOr<DiskInfo> GetDisk(const std::string& vm_disk) = 0;
  // Growing always works; shrinking only when no data lies past the new end.
  virtual StatusOr<DiskInfo> ResizeDisk(const std::string& vm_disk, uint64_t size) = 0;
  virtual Status DeleteDisk(const std::string& vm_disk) = 0;

  // Snapshots. `disk` "" snapshots every disk of the VM at one point.
  virtual StatusOr<SnapshotInfo> CreateSnapshot(const std::string& vm, const std::string& name,
                                                const std::string& disk) = 0;
  // Oldest first; deleted ones only with `include_deleted`.
  virtual StatusOr<std::vector<SnapshotInfo>> ListSnapshots(const std::string& vm, bool include_deleted) = 0;
  virtual StatusOr<std::vector<SnapshotInfo>> FindSnapshots(const std::string& vm, const SnapshotQuery& q) = 0;
  virtual StatusOr<SnapshotInfo> GetSnapshot(const std::string& vm_at_full) = 0;
  virtual StatusOr<TreeNode> SnapshotTree(const std::string& vm, bool include_deleted) = 0;
  // Rolls every disk of the snapshot's VM back to it; newer snapshots are kept.
  virtual Status Rollback(const std::string& vm_at_full) = 0;
  virtual StatusOr<DeleteReport> DeleteSnapshot(const std::string& vm_at_full, bool recursive, bool dry_run) = 0;

  // "VM/DISK" or "VM/DISK@FULL" to its data.
  virtual StatusOr<DiskRef> Resolve(const std::string& name) = 0;
  // Catalog against backends; with `deep`, each backend's own check as well.
  virtual Status Check(bool deep, ConsistencyReport* report) = 0;

  // Properties: small strings kept with an object and removed with it: a VM
  // ("VM"), a snapshot ("VM@FULL"), a disk or disk snapshot ("VM/DISK",
  // "VM/DISK@FULL"). Keys are 1-64 of [a-z0-9_.:-]; values at most 64 KiB;
  // an empty value removes the key. VMStore's own keys start with "vmstore:"
  // (the snapshot policy, where a received snapshot came from).
  virtual Status SetProperty(const std::string& object, const std::string& key, const std::string& value) = 0;
  virtual StatusOr<std::map<std::string, std::string>> Properties(const std::string& object) = 0;

  // The paper's mapping records (<VM,VBD,VDI>, <SR,VDI>) and every object's
  // attributes, as JSON (format in docs/FORMAT.md).
  virtual StatusOr<std::string> ExportCatalog() = 0;

  virtual Status Close() = 0;
};

// Rebuilds the catalog of the pool in `dir` from ExportCatalog() output. The
// pool's catalog must be empty or absent (the native data may be there); every
// VDI in the export must exist in its SR. Errors: FailedPrecondition (catalog
// not empty), InvalidArgument (bad JSON), NotFound (a VDI's volume is missing).
Status ImportCatalog(const std::string& dir, const std::string& json, const ManagerOptions& options);

}  // namespace vmstore
