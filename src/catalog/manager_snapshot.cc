// Manager: disks, snapshots, clones and rollback.
#include <algorithm>
#include <climits>
#include <map>
#include <nlohmann/json.hpp>

#include "catalog/manager_impl.h"
#include "catalog/naming.h"
#include "util/coding.h"

namespace vmstore::catalog {

using json = nlohmann::json;

static Status CheckDiskSize(uint64_t size) {
  if (size == 0 || size % 512 != 0) {
    return InvalidArgument("disk size " + std::to_string(size) + " is not a positive multiple of 512 bytes");
  }
  return Status::OK();
}

// ---- disks

StatusOr<DiskInfo> ManagerImpl::CreateDisk(const std::string& vm_ref, const std::string& disk, uint64_t size,
                                           const std::string& sr_name) {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kWrite));
  ASSIGN_OR_RETURN(VmRow vm, FindVm(vm_ref));
  RETURN_IF_ERROR(ValidateObjectName("disk", disk));
  RETURN_IF_ERROR(CheckDiskSize(size));
  ASSIGN_OR_RETURN(SrRow sr, FindSr(sr_name.empty() ? "default" : sr_name));
  ASSIGN_OR_RETURN(auto disks, DisksOf(vm));
  int64_t device = 0;
  for (const DiskRow& d : disks) {
    if (d.vbd.name == disk) return AlreadyExists("VM '" + vm.name + "' already has a disk '" + disk + "'");
    device = std::max(device, d.vbd.device + 1);
  }
  ASSIGN_OR_RETURN(backend::Backend * b, BackendFor(sr.uuid));
  ASSIGN_OR_RETURN(int64_t intent, BeginIntent("create", json{{"srs", {sr.uuid}}}.dump()));
  ASSIGN_OR_RETURN(std::string handle, b->CreateDisk(size, static_cast<uint64_t>(intent)));
  Step("backend");
  DiskRow d{vm, VbdRow{NewUuid(), vm.uuid, "", disk, device}, VdiRow{}};
  d.vdi = VdiRow{NewUuid(), sr.uuid, handle, disk, size, Now(), std::nullopt, std::nullopt, std::nullopt};
  d.vbd.vdi_uuid = d.vdi.uuid;
  SqliteTxn txn(db_.get());
  RETURN_IF_ERROR(txn.Begin());
  RETURN_IF_ERROR(cat_.InsertVdi(d.vdi));
  RETURN_IF_ERROR(cat_.InsertVbd(d.vbd));
  RETURN_IF_ERROR(cat_.DeleteIntent(intent));
  RETURN_IF_ERROR(txn.Commit());
  Step("done");
  return MakeDiskInfo(d);
}

StatusOr<std::vector<DiskInfo>> ManagerImpl::ListDisks(const std::string& vm_ref) {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kRead));
  std::vector<VmRow> vms;
  if (vm_ref.empty()) {
    ASSIGN_OR_RETURN(vms, cat_.Vms("deleted = 0"));
  } else {
    ASSIGN_OR_RETURN(VmRow vm, FindVm(vm_ref));
    vms.push_back(vm);
  }
  std::vector<DiskInfo> out;
  for (const VmRow& vm : vms) {
    ASSIGN_OR_RETURN(auto disks, DisksOf(vm));
    for (const DiskRow& d : disks) {
      ASSIGN_OR_RETURN(DiskInfo info, MakeDiskInfo(d));
      out.push_back(std::move(info));
    }
  }
  return out;
}

StatusOr<DiskInfo> ManagerImpl::GetDisk(const std::string& vm_disk) {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kRead));
  ASSIGN_OR_RETURN(DiskRow d, FindDisk(vm_disk));
  return MakeDiskInfo(d);
}

namespace {

StatusOr<bool> ReadsAsZero(backend::Device& dev, uint64_t offset, uint64_t length) {
  std::string buf(std::min<uint64_t>(length, 1 << 20), '\0');
  for (uint64_t done = 0; done < length;) {
    uint64_t n = std::min<uint64_t>(buf.size(), length - done);
    RETURN_IF_ERROR(dev.Read(offset + done, std::span<char>(buf.data(), n)));
    if (!internal::IsAllZero(buf.data(), n)) return false;
    done += n;
  }
  return true;
}

}  // namespace

StatusOr<DiskInfo> ManagerImpl::ResizeDisk(const std::string& vm_disk, uint64_t size) {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kWrite));
  ASSIGN_OR_RETURN(DiskRow d, FindDisk(vm_disk));
  RETURN_IF_ERROR(CheckDiskSize(size));
  ASSIGN_OR_RETURN(backend::Backend * b, BackendFor(d.vdi.sr_uuid));
  if (size < d.vdi.size) {
    ASSIGN_OR_RETURN(auto extents, b->Map(d.vdi.handle, size, d.vdi.size - size));
    std::unique_ptr<backend::Device> dev;
    for (const Extent& e : extents) {
      // Allocated ranges that read as zeroes (a trimmed tail of a cluster) lose nothing.
      bool zero = e.type != ExtentType::kData;
      if (!zero) {
        if (!dev) {
          ASSIGN_OR_RETURN(dev, b->OpenDevice(d.vdi.handle));
        }
        ASSIGN_OR_RETURN(zero, ReadsAsZero(*dev, e.offset, e.length));
      }
      if (!zero) {
        return FailedPrecondition("disk '" + vm_disk + "' holds data at offset " + std::to_string(e.offset) +
                                  ", past the new size " + std::to_string(size) +
                                  "; shrinking would lose it (trim that range inside the VM first)");
      }
    }
  }
  json body = {{"disks", {{{"sr", d.vdi.sr_uuid}, {"disk", d.vdi.handle}, {"vdi", d.vdi.uuid}, {"size", size}}}}};
  ASSIGN_OR_RETURN(int64_t intent, BeginIntent("resize", body.dump()));
  RETURN_IF_ERROR(b->Resize(d.vdi.handle, size));
  Step("backend");
  SqliteTxn txn(db_.get());
  RETURN_IF_ERROR(txn.Begin());
  RETURN_IF_ERROR(cat_.SetVdiSize(d.vdi.uuid, size));
  RETURN_IF_ERROR(cat_.DeleteIntent(intent));
  RETURN_IF_ERROR(txn.Commit());
  Step("done");
  d.vdi.size = size;
  return MakeDiskInfo(d);
}

// ---- snapshots

StatusOr<SnapshotInfo> ManagerImpl::CreateSnapshot(const std::string& vm_ref, const std::string& name,
                                                   const std::string& disk) {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kWrite));
  ASSIGN_OR_RETURN(VmRow vm, FindVm(vm_ref));
  RETURN_IF_ERROR(ValidateSnapshotName(name));
  ASSIGN_OR_RETURN(auto disks, DisksOf(vm));
  if (!disk.empty()) {
    auto it = std::find_if(disks.begin(), disks.end(), [&](const DiskRow& d) { return d.vbd.name == disk; });
    if (it == disks.end()) return NotFound("VM '" + vm.name + "' has no disk '" + disk + "'");
    disks = {*it};
  }
  if (disks.empty()) {
    return FailedPrecondition("VM '" + vm.name + "' has no disks to snapshot (add one: vmstore disk create " + vm.name +
                              " DISK --size SIZE)");
  }
  const int64_t now = Now();
  SnapRow snap{0, NewUuid(), vm.uuid, name, FullSnapshotName(name, now), now, false};
  ASSIGN_OR_RETURN(auto same, cat_.Snaps("full_name = ?", snap.full_name));
  for (const SnapRow& s : same) {
    if (s.vm_uuid == vm.uuid) {
      return AlreadyExists("VM '" + vm.name + "' already has snapshot '" + snap.full_name +
                           "' (taken this second); use another name");
    }
  }
  // One backend call per SR holding the VM's disks: all disks of one SR are
  // taken at one point; the VM's disks take no writes meanwhile (the caller
  // holds the server's VM gate when it runs).
  std::map<std::string, std::vector<const DiskRow*>> by_sr;
  for (const DiskRow& d : disks) by_sr[d.vdi.sr_uuid].push_back(&d);
  json srs = json::array();
  for (auto& [sr, v] : by_sr) srs.push_back(sr);
  ASSIGN_OR_RETURN(int64_t intent, BeginIntent("create", json{{"srs", srs}}.dump()));
  std::vector<VdiRow> rows;
  for (auto& [sr, members] : by_sr) {
    ASSIGN_OR_RETURN(backend::Backend * b, BackendFor(sr));
    std::vector<std::string> handles;
    for (const DiskRow* d : members) handles.push_back(d->vdi.handle);
    ASSIGN_OR_RETURN(auto snaps, b->Snapshot(handles, static_cast<uint64_t>(intent)));
    for (size_t i = 0; i < members.size(); ++i) {
      const VdiRow& src = members[i]->vdi;
      rows.push_back(
          VdiRow{NewUuid(), sr, snaps[i], members[i]->vbd.name, src.size, now, snap.uuid, src.uuid, std::nullopt});
    }
  }
  Step("backend");
  SqliteTxn txn(db_.get());
  RETURN_IF_ERROR(txn.Begin());
  RETURN_IF_ERROR(cat_.InsertSnap(snap));
  for (const VdiRow& r : rows) RETURN_IF_ERROR(cat_.InsertVdi(r));
  RETURN_IF_ERROR(cat_.DeleteIntent(intent));
  RETURN_IF_ERROR(txn.Commit());
  Step("done");
  indexes_.erase(vm.uuid);
  ASSIGN_OR_RETURN(auto stored, cat_.Snaps("uuid = ?", snap.uuid));
  return MakeSnapInfo(vm, stored.at(0));
}

StatusOr<SnapshotInfo> ManagerImpl::MakeSnapInfo(const VmRow& vm, const SnapRow& s) {
  SnapshotInfo info;
  info.uuid = s.uuid;
  info.vm = vm.name;
  info.name = s.name;
  info.full_name = s.full_name;
  info.created_ns = s.created_ns;
  info.deleted = s.deleted;
  ASSIGN_OR_RETURN(auto vdis, cat_.Vdis("snapshot_uuid = ?", s.uuid));
  for (const VdiRow& v : vdis) {
    ASSIGN_OR_RETURN(auto st, SpaceOf(v.sr_uuid, v.handle));
    ASSIGN_OR_RETURN(SrRow sr, FindSr(v.sr_uuid));
    const backend::VolumeStat space = st.value_or(backend::VolumeStat{});
    info.disks.push_back({v.name, v.uuid, sr.name, v.size, space.referenced, space.exclusive, st.has_value()});
    info.referenced += space.referenced;
    info.exclusive += space.exclusive;
    info.space_known = info.space_known && st.has_value();
  }
  ASSIGN_OR_RETURN(auto clones, cat_.Vms("parent_snapshot = ?", s.uuid));
  for (const VmRow& c : clones) info.clones.push_back(c.name);
  return info;
}

StatusOr<std::vector<SnapshotInfo>> ManagerImpl::ListSnapshots(const std::string& vm_ref, bool include_deleted) {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kRead));
  ASSIGN_OR_RETURN(VmRow vm, FindVm(vm_ref));
  ASSIGN_OR_RETURN(auto snaps, include_deleted ? cat_.Snaps("vm_uuid = ?", vm.uuid)
                                               : cat_.Snaps("vm_uuid = ? AND deleted = 0", vm.uuid));
  std::vector<SnapshotInfo> out;
  for (const SnapRow& s : snaps) {
    ASSIGN_OR_RETURN(SnapshotInfo info, MakeSnapInfo(vm, s));
    out.push_back(std::move(info));
  }
  return out;
}

StatusOr<std::vector<SnapshotInfo>> ManagerImpl::FindSnapshots(const std::string& vm_ref, const SnapshotQuery& q) {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kRead));
  ASSIGN_OR_RETURN(VmRow vm, FindVm(vm_ref));
  int set = !q.full_name.empty() + q.at_ns.has_value() + q.prefix.has_value();
  if (set != 1) return InvalidArgument("give exactly one of: a full name, --at TIME, --prefix PREFIX");
  ASSIGN_OR_RETURN(SnapshotIndex * idx, IndexOf(vm));
  std::vector<const SnapshotEntry*> hits;
  if (!q.full_name.empty()) {
    if (const SnapshotEntry* e = idx->FindByFullName(q.full_name)) hits.push_back(e);
  } else if (q.at_ns) {
    if (const SnapshotEntry* e = idx->FindAt(*q.at_ns)) hits.push_back(e);
  } else {
    hits = idx->FindByPrefix(*q.prefix);
  }
  std::vector<SnapshotInfo> out;
  for (const SnapshotEntry* e : hits) {
    ASSIGN_OR_RETURN(auto rows, cat_.Snaps("rowid = ?", std::to_string(e->id)));
    if (rows.empty()) return Internal("snapshot index out of step with the catalog");
    ASSIGN_OR_RETURN(SnapshotInfo info, MakeSnapInfo(vm, rows[0]));
    out.push_back(std::move(info));
  }
  return out;
}

StatusOr<SnapshotInfo> ManagerImpl::GetSnapshot(const std::string& vm_at_full) {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kRead));
  ASSIGN_OR_RETURN(auto vs, FindSnap(vm_at_full));
  return MakeSnapInfo(vs.first, vs.second);
}

StatusOr<TreeNode> ManagerImpl::TreeOf(const VmRow& vm, bool include_deleted) {
  TreeNode node{true, vm.name, vm.deleted, {}};
  ASSIGN_OR_RETURN(auto snaps, cat_.Snaps("vm_uuid = ?", vm.uuid));
  for (const SnapRow& s : snaps) {
    if (s.deleted && !include_deleted) continue;
    TreeNode sn{false, s.full_name, s.deleted, {}};
    ASSIGN_OR_RETURN(auto clones, cat_.Vms("parent_snapshot = ?", s.uuid));
    for (const VmRow& c : clones) {
      if (c.deleted && !include_deleted) continue;
      ASSIGN_OR_RETURN(TreeNode child, TreeOf(c, include_deleted));
      sn.children.push_back(std::move(child));
    }
    node.children.push_back(std::move(sn));
  }
  return node;
}

StatusOr<TreeNode> ManagerImpl::SnapshotTree(const std::string& vm_ref, bool include_deleted) {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kRead));
  ASSIGN_OR_RETURN(VmRow vm, FindVm(vm_ref));
  return TreeOf(vm, include_deleted);
}

// ---- clones and rollback

StatusOr<VmInfo> ManagerImpl::CloneVm(const std::string& snapshot, const std::string& new_name, const std::string& sr) {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kWrite));
  ASSIGN_OR_RETURN(auto vs, FindSnap(snapshot));
  const SnapRow& s = vs.second;
  if (s.deleted) {
    return FailedPrecondition("snapshot '" + snapshot +
                              "' is deleted (kept only while its clones exist) and cannot be cloned");
  }
  RETURN_IF_ERROR(ValidateObjectName("VM", new_name));
  ASSIGN_OR_RETURN(auto existing, cat_.Vms("name = ? AND deleted = 0", new_name));
  if (!existing.empty()) return AlreadyExists("VM '" + new_name + "' already exists");
  ASSIGN_OR_RETURN(auto src, cat_.Vdis("snapshot_uuid = ?", s.uuid));
  // The clone's disks keep the device order of the disks the snapshot was taken of.
  std::map<std::string, int64_t> device;
  for (const VdiRow& v : src) {
    device[v.uuid] = INT64_MAX;
    if (!v.snapshot_of) continue;
    ASSIGN_OR_RETURN(auto vbd, cat_.Vbds("vdi_uuid = ?", *v.snapshot_of));
    if (!vbd.empty()) device[v.uuid] = vbd[0].device;
  }
  std::stable_sort(src.begin(), src.end(),
                   [&](const VdiRow& a, const VdiRow& b) { return device[a.uuid] < device[b.uuid]; });
  std::optional<SrRow> target;
  if (!sr.empty()) {
    ASSIGN_OR_RETURN(target, FindSr(sr));
  }
  // Each clone's SR: the snapshot's, or the target.
  std::vector<std::string> dst;
  json srs = json::array();
  for (const VdiRow& v : src) {
    dst.push_back(target ? target->uuid : v.sr_uuid);
    ASSIGN_OR_RETURN(backend::Backend * b, BackendFor(dst.back()));
    if (dst.back() == v.sr_uuid) {
      if (!b->caps().can_clone)
        return NotSupported("disk '" + v.name + "' is on a " + b->type() + " SR, which cannot clone");
    } else if (!b->caps().clone_across_srs) {
      ASSIGN_OR_RETURN(auto from, cat_.Srs("uuid = ?", v.sr_uuid));
      return NotSupported("SR '" + target->name + "' (" + b->type() +
                          ") cannot share the blocks of a snapshot in SR '" +
                          (from.empty() ? v.sr_uuid : from[0].name) +
                          "'; only cluster SRs clone across SRs - clone without --sr to keep the clone in the "
                          "snapshot's SR");
    }
    srs.push_back(dst.back());
  }
  ASSIGN_OR_RETURN(int64_t intent, BeginIntent("create", json{{"srs", srs}}.dump()));
  VmRow vm{NewUuid(), new_name, Now(), s.uuid, false};
  std::vector<VdiRow> vdis;
  std::vector<VbdRow> vbds;
  for (size_t i = 0; i < src.size(); ++i) {
    const VdiRow& v = src[i];
    ASSIGN_OR_RETURN(backend::Backend * b, BackendFor(dst[i]));
    std::string handle;
    if (dst[i] == v.sr_uuid) {
      ASSIGN_OR_RETURN(handle, b->Clone(v.handle, static_cast<uint64_t>(intent)));
    } else {
      ASSIGN_OR_RETURN(auto from, cat_.Srs("uuid = ?", v.sr_uuid));
      if (from.empty()) return Corruption("catalog: VDI " + v.uuid + " is on a missing SR " + v.sr_uuid);
      ASSIGN_OR_RETURN(handle, b->CloneFromSr(from[0].type, from[0].location, v.handle, static_cast<uint64_t>(intent)));
    }
    vdis.push_back(
        VdiRow{NewUuid(), dst[i], handle, v.name, v.size, vm.created_ns, std::nullopt, std::nullopt, v.uuid});
    vbds.push_back(VbdRow{NewUuid(), vm.uuid, vdis.back().uuid, v.name, static_cast<int64_t>(vbds.size())});
  }
  Step("backend");
  SqliteTxn txn(db_.get());
  RETURN_IF_ERROR(txn.Begin());
  RETURN_IF_ERROR(cat_.InsertVm(vm));
  for (size_t i = 0; i < vdis.size(); ++i) {
    RETURN_IF_ERROR(cat_.InsertVdi(vdis[i]));
    RETURN_IF_ERROR(cat_.InsertVbd(vbds[i]));
  }
  RETURN_IF_ERROR(cat_.DeleteIntent(intent));
  RETURN_IF_ERROR(txn.Commit());
  Step("done");
  return MakeVmInfo(vm);
}

Status ManagerImpl::CheckRollbackKeepsNewer(const std::string& vm_at_full, const DiskRow& d, const VdiRow& sv) {
  ASSIGN_OR_RETURN(backend::Backend * b, BackendFor(sv.sr_uuid));
  if (b->caps().can_rollback_keeping_newer) return Status::OK();
  ASSIGN_OR_RETURN(auto later, cat_.Vdis("snapshot_of = ?", d.vdi.uuid));
  std::string names;
  for (const VdiRow& v : later) {
    if (v.uuid == sv.uuid || v.created_ns < sv.created_ns || !v.snapshot_uuid) continue;
    ASSIGN_OR_RETURN(auto snaps, cat_.Snaps("uuid = ?", *v.snapshot_uuid));
    for (const SnapRow& s : snaps) {
      names += (names.empty() ? "" : ", ") + d.vm.name + "@" + s.full_name +
               (s.deleted ? " (deleted, kept for its clones)" : "");
    }
  }
  if (names.empty()) return Status::OK();
  return FailedPrecondition(
      "disk '" + d.vm.name + "/" + d.vbd.name + "' is on a " + b->type() +
      " SR, which cannot roll back past newer snapshots without destroying them; newer: " + names +
      ". Delete those first, or clone the snapshot instead: vmstore vm clone " + vm_at_full + " NEWVM");
}

Status ManagerImpl::Rollback(const std::string& vm_at_full) {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kWrite));
  ASSIGN_OR_RETURN(auto vs, FindSnap(vm_at_full));
  const auto& [vm, s] = vs;
  if (s.deleted) return FailedPrecondition("snapshot '" + vm_at_full + "' is deleted; it cannot be rolled back to");
  ASSIGN_OR_RETURN(auto snap_vdis, cat_.Vdis("snapshot_uuid = ?", s.uuid));
  ASSIGN_OR_RETURN(auto disks, DisksOf(vm));
  json pairs = json::array();
  std::vector<std::pair<const DiskRow*, const VdiRow*>> work;
  for (const VdiRow& sv : snap_vdis) {
    auto it = std::find_if(disks.begin(), disks.end(),
                           [&](const DiskRow& d) { return sv.snapshot_of && d.vdi.uuid == *sv.snapshot_of; });
    if (it == disks.end()) {
      return FailedPrecondition("disk '" + sv.name + "' of snapshot '" + vm_at_full + "' no longer exists in VM '" +
                                vm.name + "'; to get that state back, clone the snapshot: vmstore vm clone " +
                                vm_at_full + " NEWVM");
    }
    if (it->vdi.sr_uuid != sv.sr_uuid) return Internal("snapshot of a disk in another SR");
    work.emplace_back(&*it, &sv);
    pairs.push_back({{"sr", sv.sr_uuid},
                     {"disk", it->vdi.handle},
                     {"snapshot", sv.handle},
                     {"vdi", it->vdi.uuid},
                     {"size", sv.size}});
  }
  for (auto& [d, sv] : work) RETURN_IF_ERROR(CheckRollbackKeepsNewer(vm_at_full, *d, *sv));
  ASSIGN_OR_RETURN(int64_t intent, BeginIntent("rollback", json{{"disks", pairs}}.dump()));
  for (auto& [d, sv] : work) {
    ASSIGN_OR_RETURN(backend::Backend * b, BackendFor(sv->sr_uuid));
    RETURN_IF_ERROR(b->Rollback(d->vdi.handle, sv->handle));
  }
  Step("backend");
  SqliteTxn txn(db_.get());
  RETURN_IF_ERROR(txn.Begin());
  for (auto& [d, sv] : work) RETURN_IF_ERROR(cat_.SetVdiSize(d->vdi.uuid, sv->size));
  RETURN_IF_ERROR(cat_.DeleteIntent(intent));
  RETURN_IF_ERROR(txn.Commit());
  Step("done");
  return Status::OK();
}

}  // namespace vmstore::catalog
