// The backend registry: SR type name -> factory.
#include <map>
#include <mutex>

#include "backend/btrfs_backend.h"
#include "backend/native_backend.h"
#include "backend/reflink_backend.h"
#include "backend/zfs_backend.h"
#include "vmstore/backend.h"

namespace vmstore::backend {
namespace {

struct Registry {
  std::mutex mu;
  std::map<std::string, BackendFactory> factories;
  std::map<std::string, bool> location_is_path;
};

Registry& Get() {
  static Registry* r = [] {
    auto* reg = new Registry;
    reg->factories["native"] = OpenNativeBackend;
    reg->factories["reflink"] = OpenReflinkBackend;
    reg->factories["btrfs"] = OpenBtrfsBackend;
    reg->factories["zfs"] = OpenZfsBackend;
    for (auto& [type, f] : reg->factories) reg->location_is_path[type] = type != "zfs";
    return reg;
  }();
  return *r;
}

}  // namespace

bool RegisterBackend(const std::string& type, BackendFactory factory, bool location_is_path) {
  Registry& r = Get();
  std::lock_guard<std::mutex> l(r.mu);
  if (!r.factories.emplace(type, std::move(factory)).second) return false;
  r.location_is_path[type] = location_is_path;
  return true;
}

bool LocationIsPath(const std::string& type) {
  Registry& r = Get();
  std::lock_guard<std::mutex> l(r.mu);
  auto it = r.location_is_path.find(type);
  return it == r.location_is_path.end() || it->second;
}

std::vector<std::string> BackendTypes() {
  Registry& r = Get();
  std::lock_guard<std::mutex> l(r.mu);
  std::vector<std::string> out;
  for (auto& [k, v] : r.factories) out.push_back(k);
  return out;
}

StatusOr<std::unique_ptr<Backend>> OpenBackend(const std::string& type, const std::string& location,
                                               const OpenOptions& options) {
  BackendFactory f;
  {
    Registry& r = Get();
    std::lock_guard<std::mutex> l(r.mu);
    auto it = r.factories.find(type);
    if (it == r.factories.end()) {
      std::string known;
      for (auto& [k, v] : r.factories) known += (known.empty() ? "" : ", ") + k;
      return NotSupported("unknown SR type '" + type + "' (known: " + known + ")");
    }
    f = it->second;
  }
  return f(location, options);
}

}  // namespace vmstore::backend
