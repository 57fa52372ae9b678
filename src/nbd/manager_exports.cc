#include "nbd/manager_exports.h"

namespace vmstore::nbd {
std::shared_ptr<SharedMutex> ManagerExports::Gate(const std::string& vm) {
  MutexLock l(&mu_);
  auto& g = gates_[vm];
  if (!g) g = std::make_shared<SharedMutex>();
  return g;
}

Status ManagerExports::Quiesce(const std::string& vm, const std::function<Status()>& fn) {
  auto gate = Gate(vm);
  WriterLock l(gate.get());
  return fn();
}

StatusOr<std::vector<ExportSource::Entry>> ManagerExports::List() {
  std::vector<Entry> out;
  ASSIGN_OR_RETURN(auto vms, m_->ListVms(false));
  for (const VmInfo& vm : vms) {
    for (const DiskInfo& d : vm.disks) {
      out.push_back({vm.name + "/" + d.name, "disk, " + std::to_string(d.size) + " bytes"});
    }
    ASSIGN_OR_RETURN(auto snaps, m_->ListSnapshots(vm.name, false));
    for (const SnapshotInfo& s : snaps) {
      for (const auto& d : s.disks) {
        out.push_back(
            {vm.name + "/" + d.name + "@" + s.full_name, "snapshot (read-only), " + std::to_string(d.size) + " bytes"});
      }
    }
  }
  return out;
}

StatusOr<std::unique_ptr<backend::Device>> ManagerExports::Open(const std::string& name) {
  auto ref = m_->Resolve(name);
  if (!ref.ok()) {
    if (ref.status().code() == Code::kInvalidArgument || ref.status().code() == Code::kNotFound) {
      return NotFound("unknown export '" + name + "': " + ref.status().message() +
                      " (exports are VM/DISK and VM/DISK@SNAPSHOT; list them with nbdinfo --list)");
    }
    return ref.status();
  }
  return ref->backend->OpenDevice(ref->handle);
}

std::shared_ptr<SharedMutex> ManagerExports::WriteGate(const std::string& name) {
  if (name.find('@') != std::string::npos) return nullptr;
  return Gate(name.substr(0, name.find('/')));
}

}  // namespace vmstore::nbd
