#include "cluster/membership.h"

#include <gnutls/crypto.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "util/coding.h"

namespace vmstore::cluster {

namespace {

using json = nlohmann::json;
const std::string kClusterKey = std::string(kRoot) + "cluster";
const std::string kNodesPrefix = std::string(kRoot) + "nodes/";
const std::string kRingKey = std::string(kRoot) + "ring";

StatusOr<json> Parse(const std::string& key, const std::string& value) {
  json j = json::parse(value, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Corruption("etcd key " + key + " does not hold a JSON object");
  return j;
}

json ToJson(const RingNode& n) {
  return {{"name", n.name}, {"address", n.address}, {"zone", n.zone}, {"weight", n.weight}};
}

RingNode RingNodeOf(const json& j) {
  return {j.value("name", ""), j.value("address", ""), j.value("zone", ""), j.value("weight", 1u)};
}

}  // namespace

std::string UuidText(const std::array<uint8_t, 16>& u) { return internal::HexBytes(u.data(), u.size()); }

StatusOr<std::array<uint8_t, 16>> ParseUuidText(const std::string& text) {
  std::string bytes;
  if (text.size() != 32 || !internal::ParseHexBytes(text, &bytes)) {
    return Corruption("uuid '" + text + "' is not 32 hex digits");
  }
  std::array<uint8_t, 16> u{};
  std::copy(bytes.begin(), bytes.end(), u.begin());
  return u;
}

std::string ClusterRecord::uuid_text() const { return UuidText(uuid); }

StatusOr<ClusterRecord> InitCluster(Etcd& etcd, int replicas, int64_t now_ns, uint32_t container_units) {
  if (replicas < 1 || replicas > 3) {
    return InvalidArgument("--replicas " + std::to_string(replicas) + ": 1, 2 or 3 copies of every block");
  }
  if (container_units < 256 || container_units > 262144 || (container_units & (container_units - 1)) != 0) {
    return InvalidArgument("--container-size " + std::to_string(uint64_t{container_units} * 4096) +
                           ": a power of two from 1 MiB to 1 GiB");
  }
  ClusterRecord c;
  c.container_units = container_units;
  if (gnutls_rnd(GNUTLS_RND_NONCE, c.uuid.data(), c.uuid.size()) != 0) return IOError("no random bytes for a uuid");
  c.replicas = replicas;
  c.created_ns = now_ns;
  json j = {{"uuid", c.uuid_text()},
            {"replicas", c.replicas},
            {"container_units", c.container_units},
            {"created_ns", c.created_ns}};
  ASSIGN_OR_RETURN(bool created, etcd.CompareAndPut(kClusterKey, 0, j.dump()));
  if (!created) {
    auto existing = LoadCluster(etcd);
    return AlreadyExists("this etcd already holds a VMStore cluster" +
                         (existing.ok() ? " (" + existing->uuid_text() + ")" : std::string()));
  }
  return c;
}

StatusOr<ClusterRecord> LoadCluster(Etcd& etcd) {
  ASSIGN_OR_RETURN(auto kv, etcd.Get(kClusterKey));
  if (!kv) return NotFound("no VMStore cluster in this etcd (create one with: vmstore cluster init --etcd URL)");
  ASSIGN_OR_RETURN(json j, Parse(kClusterKey, kv->value));
  ClusterRecord c;
  ASSIGN_OR_RETURN(c.uuid, ParseUuidText(j.value("uuid", "")));
  c.replicas = j.value("replicas", 2);
  c.container_units = j.value("container_units", 16384u);
  c.created_ns = j.value("created_ns", int64_t{0});
  return c;
}

StatusOr<ClusterConfig> LoadConfig(Etcd& etcd) {
  const std::string key = std::string(kRoot) + "config";
  ASSIGN_OR_RETURN(auto kv, etcd.Get(key));
  ClusterConfig c;
  if (!kv) return c;
  ASSIGN_OR_RETURN(json j, Parse(key, kv->value));
  c.recovery_mib_per_s = j.value("recovery_mib_per_s", uint64_t{0});
  c.max_moves = j.value("max_moves", c.max_moves);
  c.down_out_s = j.value("down_out_seconds", uint64_t{0});
  return c;
}

Status PutConfig(Etcd& etcd, const ClusterConfig& c) {
  json j = {
      {"recovery_mib_per_s", c.recovery_mib_per_s}, {"max_moves", c.max_moves}, {"down_out_seconds", c.down_out_s}};
  return etcd.Put(std::string(kRoot) + "config", j.dump()).status();
}

double MoveRecord::rate() const {
  const double secs = static_cast<double>(updated_ns - started_ns) / 1e9;
  const uint64_t done = bytes - std::min(bytes, bytes_left);
  return secs > 0 && done > 0 ? static_cast<double>(done) / secs : 0;
}

double MoveRecord::eta_seconds() const {
  const double r = rate();
  return r > 0 ? static_cast<double>(bytes_left) / r : -1;
}

namespace {
const std::string kMoveKey = std::string(kRoot) + "move";
}  // namespace

StatusOr<MoveRecord> LoadMove(Etcd& etcd) {
  ASSIGN_OR_RETURN(auto kv, etcd.Get(kMoveKey));
  if (!kv) return NotFound("no move is recorded");
  ASSIGN_OR_RETURN(json j, Parse(kMoveKey, kv->value));
  MoveRecord m;
  m.epoch = j.value("epoch", uint64_t{0});
  m.started_ns = j.value("started_ns", int64_t{0});
  m.updated_ns = j.value("updated_ns", int64_t{0});
  m.copies = j.value("copies", uint64_t{0});
  m.bytes = j.value("bytes", uint64_t{0});
  m.copies_left = j.value("copies_left", uint64_t{0});
  m.bytes_left = j.value("bytes_left", uint64_t{0});
  return m;
}

Status PutMove(Etcd& etcd, const MoveRecord& m) {
  json j = {{"epoch", m.epoch}, {"started_ns", m.started_ns},   {"updated_ns", m.updated_ns}, {"copies", m.copies},
            {"bytes", m.bytes}, {"copies_left", m.copies_left}, {"bytes_left", m.bytes_left}};
  return etcd.Put(kMoveKey, j.dump()).status();
}

Status DeleteMove(Etcd& etcd) { return etcd.Delete(kMoveKey); }

std::string NodeKey(const std::string& name) { return kNodesPrefix + name; }

StatusOr<std::vector<NodeRecord>> ListNodes(Etcd& etcd) {
  ASSIGN_OR_RETURN(auto kvs, etcd.List(kNodesPrefix));
  std::vector<NodeRecord> out;
  for (const KeyValue& kv : kvs) {
    ASSIGN_OR_RETURN(json j, Parse(kv.key, kv.value));
    NodeRecord n;
    n.node = RingNodeOf(j);
    n.data_uuid = j.value("data_uuid", "");
    n.started_ns = j.value("started_ns", int64_t{0});
    out.push_back(std::move(n));
  }
  return out;
}

Status RegisterNode(Etcd& etcd, const NodeRecord& n, int64_t lease) {
  json j = ToJson(n.node);
  j["data_uuid"] = n.data_uuid;
  j["started_ns"] = n.started_ns;
  return etcd.Put(NodeKey(n.node.name), j.dump(), lease).status();
}

StatusOr<RingRecord> LoadRing(Etcd& etcd) {
  ASSIGN_OR_RETURN(auto kv, etcd.Get(kRingKey));
  RingRecord r;
  if (!kv) return r;
  ASSIGN_OR_RETURN(json j, Parse(kRingKey, kv->value));
  r.epoch = j.value("epoch", uint64_t{0});
  for (const json& m : j.value("members", json::array())) r.members.push_back(RingNodeOf(m));
  if (j.contains("previous") && j["previous"].is_object()) {
    r.previous_epoch = j["previous"].value("epoch", uint64_t{0});
    for (const json& m : j["previous"].value("members", json::array())) r.previous.push_back(RingNodeOf(m));
  }
  r.mod_revision = kv->mod_revision;
  return r;
}

StatusOr<bool> PutRing(Etcd& etcd, RingRecord r) {
  RETURN_IF_ERROR(Ring::Validate(r.members));
  ++r.epoch;
  json j = {{"epoch", r.epoch}, {"members", json::array()}};
  for (const RingNode& m : r.members) j["members"].push_back(ToJson(m));
  if (r.moving()) {
    json p = {{"epoch", r.previous_epoch}, {"members", json::array()}};
    for (const RingNode& m : r.previous) p["members"].push_back(ToJson(m));
    j["previous"] = p;
  }
  ASSIGN_OR_RETURN(int64_t revision, etcd.CompareAndPut(kRingKey, r.mod_revision, j.dump()));
  return revision != 0;
}

StatusOr<RingRecord> JoinRing(Etcd& etcd, const RingNode& n) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    ASSIGN_OR_RETURN(RingRecord r, LoadRing(etcd));
    bool found = false, changed = false;
    for (RingNode& m : r.members) {
      if (m.name != n.name) continue;
      found = true;
      if (m.address != n.address || m.zone != n.zone || m.weight != n.weight) {
        m = n;
        changed = true;
      }
    }
    if (!found) r.members.push_back(n);
    if (found && !changed) return r;
    ASSIGN_OR_RETURN(bool won, PutRing(etcd, r));
    if (won) return LoadRing(etcd);
  }
  return FailedPrecondition("the ring kept changing while node " + n.name + " joined (50 tries)");
}

}  // namespace vmstore::cluster
