// The backend registry: SR type name -> factory.
#include <map>
#include <mutex>

#include "backend/native_backend.h"
#include "backend/reflink_backend.h"
#include "vmstore/backend.h"

namespace vmstore::backend {
namespace {

struct Registry {
  std::mutex mu;
  std::map<std::string, BackendFactory> factories;
};

Registry& Get() {
  static Registry* r = [] {
    auto* reg = new Registry;
    reg->factories["native"] = OpenNativeBackend;
    reg->factories["reflink"] = OpenReflinkBackend;
    return reg;
  }();
  return *r;
}

}  // namespace

bool RegisterBackend(const std::string& type, BackendFactory factory) {
  Registry& r = Get();
  std::lock_guard<std::mutex> l(r.mu);
  return r.factories.emplace(type, std::move(factory)).second;
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
