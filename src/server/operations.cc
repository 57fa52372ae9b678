#include "server/operations.h"

#include <algorithm>

namespace vmstore::server {

namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The exports of a VM's disks (VM/DISK, not its snapshots).
bool IsDiskOf(const std::string& e, const std::string& vm) {
  return e.rfind(vm + "/", 0) == 0 && e.find('@') == std::string::npos;
}

}  // namespace

Status CheckNotOpen(const Hooks* hooks, const std::function<bool(const std::string&)>& affected, bool force,
                    const std::string& what) {
  if (!hooks || !hooks->open_exports) return Status::OK();
  std::vector<std::string> busy;
  for (const std::string& e : hooks->open_exports()) {
    if (affected(e) && std::find(busy.begin(), busy.end(), e) == busy.end()) busy.push_back(e);
  }
  if (busy.empty()) return Status::OK();
  if (force) {
    hooks->disconnect(busy);
    return Status::OK();
  }
  std::string list;
  for (const std::string& b : busy) list += (list.empty() ? "" : ", ") + b;
  return FailedPrecondition(what + ": export " + list +
                            " is open by an NBD client (use --force to disconnect it first)");
}

Status Quiesced(const Hooks* hooks, const std::string& vm, const std::function<Status()>& fn) {
  if (!hooks || !hooks->quiesce) return fn();
  return hooks->quiesce(vm, fn);
}

StatusOr<SnapshotInfo> Operations::CreateSnapshot(const std::string& vm, const std::string& name,
                                                  const std::string& disk) {
  ASSIGN_OR_RETURN(VmInfo v, m_->GetVm(vm));
  StatusOr<SnapshotInfo> out = Internal("snapshot not taken");
  RETURN_IF_ERROR(Quiesced(hooks_, v.name, [&] {
    out = m_->CreateSnapshot(vm, name, disk);
    return out.status();
  }));
  return out;
}

Status Operations::Rollback(const std::string& vm_at_full, bool force) {
  ASSIGN_OR_RETURN(SnapshotInfo target, m_->GetSnapshot(vm_at_full));
  const std::string vm = target.vm;
  RETURN_IF_ERROR(CheckNotOpen(
      hooks_, [&](const std::string& e) { return IsDiskOf(e, vm); }, force, "cannot roll back VM '" + vm + "'"));
  return Quiesced(hooks_, vm, [&] { return m_->Rollback(vm_at_full); });
}

StatusOr<DeleteReport> Operations::DeleteSnapshot(const std::string& vm_at_full, bool recursive, bool dry_run,
                                                  bool force) {
  ASSIGN_OR_RETURN(SnapshotInfo target, m_->GetSnapshot(vm_at_full));
  if (!dry_run) {
    // Conservative: any export of the snapshot, and with recursive any export of any VM.
    const std::string vm = target.vm, suffix = "@" + target.full_name;
    RETURN_IF_ERROR(CheckNotOpen(
        hooks_, [&](const std::string& e) { return recursive || (e.rfind(vm + "/", 0) == 0 && EndsWith(e, suffix)); },
        force, "cannot delete snapshot '" + vm_at_full + "'"));
  }
  return m_->DeleteSnapshot(vm_at_full, recursive, dry_run);
}

StatusOr<DeleteReport> Operations::DeleteVm(const std::string& vm, bool recursive, bool dry_run, bool force) {
  ASSIGN_OR_RETURN(VmInfo v, m_->GetVm(vm));
  if (!dry_run) {
    RETURN_IF_ERROR(CheckNotOpen(
        hooks_, [&](const std::string& e) { return recursive || e.rfind(v.name + "/", 0) == 0; }, force,
        "cannot delete VM '" + v.name + "'"));
  }
  return m_->DeleteVm(vm, recursive, dry_run);
}

Status Operations::DeleteDisk(const std::string& vm_slash_disk, bool force) {
  RETURN_IF_ERROR(CheckNotOpen(
      hooks_, [&](const std::string& e) { return e == vm_slash_disk; }, force,
      "cannot delete disk '" + vm_slash_disk + "'"));
  return m_->DeleteDisk(vm_slash_disk);
}

policy::PolicyRunner::Actions Operations::PolicyActions() {
  policy::PolicyRunner::Actions a;
  Manager* m = m_;
  const Hooks* hooks = hooks_;
  a.snapshot = [m, hooks](const std::string& vm, const std::string& name) -> StatusOr<SnapshotInfo> {
    StatusOr<SnapshotInfo> out = Internal("not run");
    RETURN_IF_ERROR(Quiesced(hooks, vm, [&] {
      out = m->CreateSnapshot(vm, name, "");
      return out.status();
    }));
    return out;
  };
  a.remove = [m, hooks](const std::string& vm_at_full) -> StatusOr<DeleteReport> {
    const std::string suffix = vm_at_full.substr(vm_at_full.find('@'));
    const std::string vm = vm_at_full.substr(0, vm_at_full.find('@'));
    RETURN_IF_ERROR(CheckNotOpen(
        hooks, [&](const std::string& e) { return e.rfind(vm + "/", 0) == 0 && EndsWith(e, suffix); }, false,
        "prune " + vm_at_full));
    return m->DeleteSnapshot(vm_at_full, false, false);
  };
  return a;
}

}  // namespace vmstore::server
