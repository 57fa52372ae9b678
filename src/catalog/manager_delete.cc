// Manager: deleting disks, VMs and snapshots under the paper's rules
// (section 3.2.4).
//
// Children: the VMs cloned from a snapshot are its children; a VM's snapshots
// are the VM's children. An object with children is only marked deleted
// (hidden, no longer a clone source); it is removed for real, with its
// volumes, once it is marked and its last child is gone, and a removal climbs
// the tree: removing a clone may remove its deleted parent snapshot, which may
// remove that snapshot's deleted VM, and so on. A VM's own disks never have
// dependants (clones depend on snapshot volumes), so deleting a VM frees them
// at once even when the VM row must stay for its snapshots.
//
// Every delete runs as one SQLite transaction that plans and applies the row
// changes and collects the volumes to free; a dry run rolls it back, a real one
// commits it with a "delete" intent and then frees the volumes.
#include <nlohmann/json.hpp>
#include <set>

#include "catalog/manager_impl.h"

namespace vmstore::catalog {

using json = nlohmann::json;

Status ManagerImpl::RemoveDiskTx(const DiskRow& d, DeletePlan* plan) {
  plan->volumes.emplace_back(d.vdi.sr_uuid, d.vdi.handle);
  RETURN_IF_ERROR(cat_.DeleteVbd(d.vbd.uuid));
  RETURN_IF_ERROR(cat_.DeleteVdi(d.vdi.uuid));
  plan->report.removed.push_back(d.vm.name + "/" + d.vbd.name);
  return Status::OK();
}

Status ManagerImpl::RemoveVmRowTx(const VmRow& vm, DeletePlan* plan) {
  RETURN_IF_ERROR(cat_.DeleteVm(vm.uuid));
  plan->report.removed.push_back(vm.name);
  indexes_.erase(vm.uuid);
  if (!vm.parent_snapshot) return Status::OK();
  // Climb: the parent snapshot may have waited for this child.
  ASSIGN_OR_RETURN(auto parents, cat_.Snaps("uuid = ?", *vm.parent_snapshot));
  if (parents.empty() || !parents[0].deleted) return Status::OK();
  ASSIGN_OR_RETURN(auto siblings, cat_.Vms("parent_snapshot = ?", parents[0].uuid));
  if (!siblings.empty()) return Status::OK();
  return RemoveSnapTx(parents[0], plan);
}

Status ManagerImpl::RemoveSnapTx(const SnapRow& s, DeletePlan* plan) {
  ASSIGN_OR_RETURN(auto vdis, cat_.Vdis("snapshot_uuid = ?", s.uuid));
  for (const VdiRow& v : vdis) {
    plan->volumes.emplace_back(v.sr_uuid, v.handle);
    RETURN_IF_ERROR(cat_.DeleteVdi(v.uuid));
  }
  ASSIGN_OR_RETURN(auto owners, cat_.Vms("uuid = ?", s.vm_uuid));
  if (owners.empty()) return Corruption("catalog: snapshot " + s.uuid + " has no VM");
  const VmRow& vm = owners[0];
  RETURN_IF_ERROR(cat_.DeleteSnap(s.uuid));
  plan->report.removed.push_back(vm.name + "@" + s.full_name);
  indexes_.erase(vm.uuid);
  // Climb: a deleted VM goes with its last snapshot.
  if (!vm.deleted) return Status::OK();
  ASSIGN_OR_RETURN(auto left, cat_.Snaps("vm_uuid = ?", vm.uuid));
  if (!left.empty()) return Status::OK();
  return RemoveVmRowTx(vm, plan);
}

Status ManagerImpl::DeleteSnapTx(const VmRow& vm, const SnapRow& s, bool recursive, DeletePlan* plan) {
  ASSIGN_OR_RETURN(auto clones, cat_.Vms("parent_snapshot = ?", s.uuid));
  if (recursive) {
    for (const VmRow& c : clones) RETURN_IF_ERROR(DeleteVmTx(c, true, plan));
    // A snapshot already marked deleted may just have gone with its last clone.
    ASSIGN_OR_RETURN(auto still, cat_.Snaps("uuid = ?", s.uuid));
    if (still.empty()) return Status::OK();
    ASSIGN_OR_RETURN(clones, cat_.Vms("parent_snapshot = ?", s.uuid));
  }
  if (clones.empty()) return RemoveSnapTx(s, plan);
  if (!s.deleted) RETURN_IF_ERROR(cat_.SetSnapDeleted(s.uuid));
  indexes_.erase(vm.uuid);
  DeleteReport::Deferred d{vm.name + "@" + s.full_name, {}};
  for (const VmRow& c : clones) d.kept_by.push_back(c.name + (c.deleted ? " (deleted)" : ""));
  plan->report.deferred.push_back(std::move(d));
  return Status::OK();
}

Status ManagerImpl::DeleteVmTx(const VmRow& vm, bool recursive, DeletePlan* plan) {
  ASSIGN_OR_RETURN(auto disks, DisksOf(vm));
  for (const DiskRow& d : disks) RETURN_IF_ERROR(RemoveDiskTx(d, plan));
  ASSIGN_OR_RETURN(auto snaps, cat_.Snaps("vm_uuid = ?", vm.uuid));
  for (const SnapRow& s : snaps) RETURN_IF_ERROR(DeleteSnapTx(vm, s, recursive, plan));
  // A VM already marked deleted may just have gone with its last snapshot.
  ASSIGN_OR_RETURN(auto still, cat_.Vms("uuid = ?", vm.uuid));
  if (still.empty()) return Status::OK();
  ASSIGN_OR_RETURN(auto left, cat_.Snaps("vm_uuid = ?", vm.uuid));
  if (left.empty()) return RemoveVmRowTx(vm, plan);
  if (!vm.deleted) RETURN_IF_ERROR(cat_.SetVmDeleted(vm.uuid));
  DeleteReport::Deferred d{vm.name, {}};
  std::set<std::string> seen;
  for (const SnapRow& s : left) {
    ASSIGN_OR_RETURN(auto clones, cat_.Vms("parent_snapshot = ?", s.uuid));
    for (const VmRow& c : clones) {
      if (seen.insert(c.uuid).second) d.kept_by.push_back(c.name + (c.deleted ? " (deleted)" : ""));
    }
  }
  plan->report.deferred.push_back(std::move(d));
  return Status::OK();
}

Status ManagerImpl::DeleteVolumes(const std::vector<std::pair<std::string, std::string>>& volumes) {
  for (const auto& [sr, handle] : volumes) {
    ASSIGN_OR_RETURN(backend::Backend * b, BackendFor(sr));
    Status s = b->Delete(handle);
    if (!s.ok() && s.code() != Code::kNotFound) return s;
  }
  return Status::OK();
}

StatusOr<DeleteReport> ManagerImpl::FinishDelete(SqliteTxn* txn, DeletePlan plan, bool dry_run) {
  plan.report.dry_run = dry_run;
  if (dry_run) {
    indexes_.clear();    // the rolled-back transaction may have dropped some
    return plan.report;  // the transaction rolls back when it goes out of scope
  }
  json vols = json::array();
  for (auto& [sr, h] : plan.volumes) vols.push_back({sr, h});
  ASSIGN_OR_RETURN(int64_t intent, cat_.InsertIntent("delete", json{{"volumes", vols}}.dump(), Now()));
  RETURN_IF_ERROR(txn->Commit());
  Step("intent");
  RETURN_IF_ERROR(DeleteVolumes(plan.volumes));
  Step("backend");
  {
    SqliteTxn done(db_.get());
    RETURN_IF_ERROR(done.Begin());
    RETURN_IF_ERROR(cat_.DeleteIntent(intent));
    RETURN_IF_ERROR(done.Commit());
  }
  Step("done");
  return plan.report;
}

Status ManagerImpl::DeleteDisk(const std::string& vm_disk) {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kWrite));
  ASSIGN_OR_RETURN(DiskRow d, FindDisk(vm_disk));
  SqliteTxn txn(db_.get());
  RETURN_IF_ERROR(txn.Begin());
  DeletePlan plan;
  RETURN_IF_ERROR(RemoveDiskTx(d, &plan));
  return FinishDelete(&txn, std::move(plan), false).status();
}

StatusOr<DeleteReport> ManagerImpl::DeleteVm(const std::string& vm_ref, bool recursive, bool dry_run) {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kWrite));
  ASSIGN_OR_RETURN(VmRow vm, FindVm(vm_ref));
  SqliteTxn txn(db_.get());
  RETURN_IF_ERROR(txn.Begin());
  DeletePlan plan;
  RETURN_IF_ERROR(DeleteVmTx(vm, recursive, &plan));
  return FinishDelete(&txn, std::move(plan), dry_run);
}

StatusOr<DeleteReport> ManagerImpl::DeleteSnapshot(const std::string& vm_at_full, bool recursive, bool dry_run) {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kWrite));
  ASSIGN_OR_RETURN(auto vs, FindSnap(vm_at_full));
  SqliteTxn txn(db_.get());
  RETURN_IF_ERROR(txn.Begin());
  DeletePlan plan;
  RETURN_IF_ERROR(DeleteSnapTx(vs.first, vs.second, recursive, &plan));
  return FinishDelete(&txn, std::move(plan), dry_run);
}

}  // namespace vmstore::catalog
