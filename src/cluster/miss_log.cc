#include "cluster/miss_log.h"

#include <charconv>
#include <nlohmann/json.hpp>

#include "cluster/container_wire.h"
#include "cluster/membership.h"

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

  Status Clear(const std::string& object, const std::string& node) override {
    const std::string key = prefix_ + object;
    for (int attempt = 0; attempt < 50; ++attempt) {
      ASSIGN_OR_RETURN(auto kv, etcd_->Get(key));
      if (!kv) return Status::OK();
      ASSIGN_OR_RETURN(std::set<std::string> nodes, ParseNodes(key, kv->value));
      if (!nodes.erase(node)) return Status::OK();
      if (nodes.empty()) {
        ASSIGN_OR_RETURN(bool gone, etcd_->CompareAndDelete(key, kv->mod_revision));
        if (gone) return Status::OK();
        continue;
      }
      ASSIGN_OR_RETURN(int64_t rev, etcd_->CompareAndPut(key, kv->mod_revision, json(nodes).dump()));
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

Status MissSet::Load() { return LoadFromLog(false); }
Status MissSet::Reload() { return LoadFromLog(true); }

Status MissSet::LoadFromLog(bool replace) {
  if (!log_) return Status::OK();
  ASSIGN_OR_RETURN(auto all, log_->Load());
  MutexLock l(&mu_);
  if (replace) nodes_.clear();
  for (auto& [object, nodes] : all) nodes_[object].insert(nodes.begin(), nodes.end());
  return Status::OK();
}

Status MissSet::Add(const std::string& object, const std::string& node) {
  {
    MutexLock l(&mu_);
    if (auto it = nodes_.find(object); it != nodes_.end() && it->second.count(node)) return Status::OK();
  }
  if (log_) {
    Status s = log_->Record(object, node);
    if (!s.ok()) return s.WithContext("recording that node " + node + " missed a change of " + object);
  }
  MutexLock l(&mu_);
  nodes_[object].insert(node);
  return Status::OK();
}

Status MissSet::Remove(const std::string& object, const std::string& node) {
  if (log_) {
    Status s = log_->Clear(object, node);
    if (!s.ok()) return s.WithContext("clearing that node " + node + " missed " + object);
  }
  MutexLock l(&mu_);
  if (auto it = nodes_.find(object); it != nodes_.end()) {
    it->second.erase(node);
    if (it->second.empty()) nodes_.erase(it);
  }
  return Status::OK();
}

std::set<std::string> MissSet::Nodes(const std::string& object) const {
  MutexLock l(&mu_);
  auto it = nodes_.find(object);
  return it == nodes_.end() ? std::set<std::string>{} : it->second;
}

std::map<std::string, std::set<std::string>> MissSet::OfKind(const std::string& kind) const {
  MutexLock l(&mu_);
  std::map<std::string, std::set<std::string>> out;
  for (auto& [object, nodes] : nodes_) {
    if (object.rfind(kind, 0) == 0) out[object.substr(kind.size())] = nodes;
  }
  return out;
}

StatusOr<std::map<std::string, std::set<std::string>>> LoadAllMisses(Etcd* etcd) {
  const std::string prefix = std::string(kRoot) + "degraded/";
  ASSIGN_OR_RETURN(auto kvs, etcd->List(prefix));
  std::map<std::string, std::set<std::string>> out;
  for (const KeyValue& kv : kvs) {
    const size_t slash = kv.key.find('/', prefix.size());  // after "pool-N"
    if (slash == std::string::npos) return Corruption("the miss record " + kv.key + " in etcd is misnamed");
    ASSIGN_OR_RETURN(std::set<std::string> nodes, ParseNodes(kv.key, kv.value));
    out[kv.key.substr(slash + 1)].insert(nodes.begin(), nodes.end());
  }
  return out;
}

std::shared_ptr<MissLog> NewEtcdMissLog(Etcd* etcd, std::string prefix) {
  return std::make_shared<EtcdMissLog>(etcd, std::move(prefix));
}

std::string PoolMissPrefix(uint64_t pool) { return std::string(kRoot) + "degraded/pool-" + std::to_string(pool) + "/"; }

StatusOr<uint64_t> PoolOfObject(const std::string& object) {
  auto number = [&](std::string_view digits, uint64_t* v) {
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), *v);
    return ec == std::errc() && end == digits.data() + digits.size() && !digits.empty();
  };
  std::string_view o = object;
  uint64_t v = 0;
  if (o.substr(0, 10) == "container:" && number(o.substr(10), &v)) return v >> kPoolSpanBits;
  if (o.substr(0, 10) == "file:pool-") {
    const size_t slash = o.find('/', 10);
    if (slash != std::string_view::npos && number(o.substr(10, slash - 10), &v)) return v;
  }
  return InvalidArgument("'" + object + "' names no pool's container or file");
}

}  // namespace vmstore::cluster
