#include "nbd/manager_exports.h"

namespace vmstore::nbd {
namespace {

// A device whose writes hold the VM's gate shared.
class GatedDevice : public backend::Device {
 public:
  GatedDevice(std::unique_ptr<backend::Device> inner, std::shared_ptr<SharedMutex> gate)
      : inner_(std::move(inner)), gate_(std::move(gate)) {}
  uint64_t size() const override { return inner_->size(); }
  bool read_only() const override { return inner_->read_only(); }
  bool can_trim() const override { return inner_->can_trim(); }
  Status Read(uint64_t offset, std::span<char> buf) override { return inner_->Read(offset, buf); }
  Status Write(uint64_t offset, std::span<const char> data, bool fua) override {
    std::shared_lock<SharedMutex> l(*gate_);
    return inner_->Write(offset, data, fua);
  }
  Status Trim(uint64_t offset, uint64_t length, bool fua) override {
    std::shared_lock<SharedMutex> l(*gate_);
    return inner_->Trim(offset, length, fua);
  }
  Status WriteZeroes(uint64_t offset, uint64_t length, bool may_punch, bool fua) override {
    std::shared_lock<SharedMutex> l(*gate_);
    return inner_->WriteZeroes(offset, length, may_punch, fua);
  }
  Status Flush() override { return inner_->Flush(); }
  StatusOr<std::vector<Extent>> Map(uint64_t offset, uint64_t length) override { return inner_->Map(offset, length); }

 private:
  std::unique_ptr<backend::Device> inner_;
  std::shared_ptr<SharedMutex> gate_;
};

}  // namespace

std::shared_ptr<SharedMutex> ManagerExports::Gate(const std::string& vm) {
  std::lock_guard<std::mutex> l(mu_);
  auto& g = gates_[vm];
  if (!g) g = std::make_shared<SharedMutex>();
  return g;
}

Status ManagerExports::Quiesce(const std::string& vm, const std::function<Status()>& fn) {
  auto gate = Gate(vm);
  std::unique_lock<SharedMutex> l(*gate);
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
  ASSIGN_OR_RETURN(auto dev, ref->backend->OpenDevice(ref->handle));
  if (dev->read_only()) return dev;
  return std::unique_ptr<backend::Device>(new GatedDevice(std::move(dev), Gate(name.substr(0, name.find('/')))));
}

}  // namespace vmstore::nbd
