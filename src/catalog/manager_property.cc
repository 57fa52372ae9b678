// Manager properties: key/value strings kept with VMs, snapshots and VDIs.
#include "catalog/manager_impl.h"

namespace vmstore::catalog {

namespace {

constexpr size_t kMaxKey = 64;
constexpr size_t kMaxValue = 64 * 1024;

Status CheckKey(const std::string& key) {
  bool ok = !key.empty() && key.size() <= kMaxKey;
  for (char c : key) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' || c == '-');
  }
  if (!ok) return InvalidArgument("property key '" + key + "': use 1-64 of a-z 0-9 _ . : -");
  return Status::OK();
}

}  // namespace

StatusOr<std::string> ManagerImpl::ObjectUuid(const std::string& ref) {
  if (ref.find('/') != std::string::npos) {
    ASSIGN_OR_RETURN(DiskRef d, ResolveLocked(ref));
    return d.vdi_uuid;
  }
  if (ref.find('@') != std::string::npos) {
    ASSIGN_OR_RETURN(auto vs, FindSnap(ref));
    return vs.second.uuid;
  }
  ASSIGN_OR_RETURN(VmRow vm, FindVm(ref));
  return vm.uuid;
}

Status ManagerImpl::SetProperty(const std::string& object, const std::string& key, const std::string& value) {
  RETURN_IF_ERROR(CheckKey(key));
  if (value.size() > kMaxValue) {
    return InvalidArgument("property '" + key + "': value of " + std::to_string(value.size()) +
                           " bytes is over the limit of " + std::to_string(kMaxValue));
  }
  ASSIGN_OR_RETURN(Session l, Enter(Access::kWrite));
  ASSIGN_OR_RETURN(std::string uuid, ObjectUuid(object));
  return cat_.SetProperty(uuid, key, value);
}

StatusOr<std::map<std::string, std::string>> ManagerImpl::Properties(const std::string& object) {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kRead));
  ASSIGN_OR_RETURN(std::string uuid, ObjectUuid(object));
  return cat_.Properties(uuid);
}

}  // namespace vmstore::catalog
