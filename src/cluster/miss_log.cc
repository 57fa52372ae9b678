#include "cluster/miss_log.h"

#include <nlohmann/json.hpp>

namespace vmstore::cluster {
namespace {

using json = nlohmann::json;

StatusOr<std::set<std::string>> ParseNodes(const std::string& key, const std::string& value) {
  json j = json::parse(value, nullptr, false);
  if (j.is_discarded() || !j.is_array()) return Corruption("the miss record " + key + " in etcd does not parse");
  std::set<std::string> out;
  for (const json& n : j) {
    if (!n.is_string()) return Corruption("the miss record " + key + " in etcd does not parse");
    out.insert(n.get<std::string>());
  }
  return out;
}

class EtcdMissLog final : public MissLog {
 public:
  EtcdMissLog(Etcd* etcd, std::string prefix) : etcd_(etcd), prefix_(std::move(prefix)) {}

  Status Record(const std::string& object, const std::string& node) override {
    const std::string key = prefix_ + object;
    for (int attempt = 0; attempt < 50; ++attempt) {
      ASSIGN_OR_RETURN(auto kv, etcd_->Get(key));
      std::set<std::string> nodes;
      if (kv) {
        ASSIGN_OR_RETURN(nodes, ParseNodes(key, kv->value));
      }
      if (!nodes.insert(node).second) return Status::OK();
      ASSIGN_OR_RETURN(int64_t rev, etcd_->CompareAndPut(key, kv ? kv->mod_revision : 0, json(nodes).dump()));
      if (rev) return Status::OK();
    }
    return FailedPrecondition("the miss record " + key + " kept changing");
  }

  StatusOr<std::map<std::string, std::set<std::string>>> Load() override {
    ASSIGN_OR_RETURN(auto kvs, etcd_->List(prefix_));
    std::map<std::string, std::set<std::string>> out;
    for (const KeyValue& kv : kvs) {
      ASSIGN_OR_RETURN(out[kv.key.substr(prefix_.size())], ParseNodes(kv.key, kv.value));
    }
    return out;
  }

 private:
  Etcd* const etcd_;
  const std::string prefix_;
};

}  // namespace

std::shared_ptr<MissLog> NewEtcdMissLog(Etcd* etcd, std::string prefix) {
  return std::make_shared<EtcdMissLog>(etcd, std::move(prefix));
}

}  // namespace vmstore::cluster
