// Manager: the catalog-against-backends check, and catalog export / import.
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "catalog/manager_impl.h"
#include "catalog/schema.h"

namespace vmstore {

using json = nlohmann::json;

namespace catalog {

Status ManagerImpl::Check(bool deep, ConsistencyReport* report) {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kRead));
  auto err = [&](std::string m) { report->errors.push_back(std::move(m)); };
  ASSIGN_OR_RETURN(auto intents, cat_.Intents());
  for (const IntentRow& in : intents)
    err("unfinished " + in.kind + " operation (intent " + std::to_string(in.id) + ")");

  ASSIGN_OR_RETURN(auto vdis, cat_.Vdis());
  report->vdis = vdis.size();
  std::map<std::pair<std::string, std::string>, const VdiRow*> by_handle;
  for (const VdiRow& v : vdis) by_handle[{v.sr_uuid, v.handle}] = &v;
  ASSIGN_OR_RETURN(auto srs, cat_.Srs());
  for (const SrRow& sr : srs) {
    auto b = BackendFor(sr.uuid);
    if (!b.ok()) {
      err("SR '" + sr.name + "': " + b.status().ToString());
      continue;
    }
    ASSIGN_OR_RETURN(auto vols, (*b)->List());
    std::set<std::string> present;
    for (const backend::VolumeStat& v : vols) {
      ++report->volumes;
      present.insert(v.handle);
      auto it = by_handle.find({sr.uuid, v.handle});
      if (it == by_handle.end()) {
        err("SR '" + sr.name + "': volume " + v.handle + " belongs to no disk or snapshot (tag " +
            std::to_string(v.tag) + ")");
        continue;
      }
      const VdiRow& row = *it->second;
      bool is_snap = row.snapshot_uuid.has_value();
      if (is_snap != v.read_only) {
        err("VDI " + row.uuid + " is a " + (is_snap ? "snapshot" : "disk") + " in the catalog but volume " + v.handle +
            " is " + (v.read_only ? "read-only" : "writable"));
      }
      if (row.size != v.size) {
        err("VDI " + row.uuid + " has size " + std::to_string(row.size) + " in the catalog but " +
            std::to_string(v.size) + " in SR '" + sr.name + "'");
      }
    }
    for (const VdiRow& v : vdis) {
      if (v.sr_uuid == sr.uuid && !present.count(v.handle)) {
        err("VDI " + v.uuid + " ('" + v.name + "') has no volume " + v.handle + " in SR '" + sr.name + "'");
      }
    }
    if (deep) {
      CheckReport cr;
      RETURN_IF_ERROR((*b)->Check(true, &cr));
      for (auto& e : cr.errors) err("SR '" + sr.name + "': " + e);
    }
  }
  // Catalog structure: VBDs attach existing VDIs; snapshots hold disks;
  // deferred deletions still have children.
  ASSIGN_OR_RETURN(auto vbds, cat_.Vbds());
  for (const VbdRow& b : vbds) {
    ASSIGN_OR_RETURN(auto v, cat_.Vdis("uuid = ?", b.vdi_uuid));
    if (v.empty()) err("VBD " + b.uuid + " attaches missing VDI " + b.vdi_uuid);
  }
  ASSIGN_OR_RETURN(auto snaps, cat_.Snaps());
  for (const SnapRow& s : snaps) {
    ASSIGN_OR_RETURN(auto v, cat_.Vdis("snapshot_uuid = ?", s.uuid));
    if (v.empty()) err("snapshot " + s.full_name + " holds no disk snapshot");
    if (s.deleted) {
      ASSIGN_OR_RETURN(auto clones, cat_.Vms("parent_snapshot = ?", s.uuid));
      if (clones.empty()) err("snapshot " + s.full_name + " is marked deleted but has no clones left");
    }
  }
  ASSIGN_OR_RETURN(auto vms, cat_.Vms("deleted = 1"));
  for (const VmRow& vm : vms) {
    ASSIGN_OR_RETURN(auto left, cat_.Snaps("vm_uuid = ?", vm.uuid));
    if (left.empty()) err("VM " + vm.name + " is marked deleted but has no snapshots left");
    ASSIGN_OR_RETURN(auto disks, cat_.Vbds("vm_uuid = ?", vm.uuid));
    if (!disks.empty()) err("VM " + vm.name + " is marked deleted but still has disks");
  }
  return Status::OK();
}

// ---- export / import

static json Opt(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }
static std::optional<std::string> Opt(const json& v) {
  if (v.is_null()) return std::nullopt;
  return v.get<std::string>();
}

StatusOr<std::string> ManagerImpl::ExportCatalog() {
  ASSIGN_OR_RETURN(Session l, Enter(Access::kRead));
  json out;
  out["format"] = "vmstore-catalog";
  out["version"] = 1;
  ASSIGN_OR_RETURN(auto srs, cat_.Srs());
  ASSIGN_OR_RETURN(auto vms, cat_.Vms());
  ASSIGN_OR_RETURN(auto snaps, cat_.Snaps());
  ASSIGN_OR_RETURN(auto vdis, cat_.Vdis());
  ASSIGN_OR_RETURN(auto vbds, cat_.Vbds());
  out["srs"] = json::array();
  for (const SrRow& r : srs) {
    out["srs"].push_back(
        {{"uuid", r.uuid}, {"name", r.name}, {"type", r.type}, {"location", r.location}, {"created_ns", r.created_ns}});
  }
  out["vms"] = json::array();
  for (const VmRow& r : vms) {
    out["vms"].push_back({{"uuid", r.uuid},
                          {"name", r.name},
                          {"created_ns", r.created_ns},
                          {"parent_snapshot", Opt(r.parent_snapshot)},
                          {"is_deleted", r.deleted}});
  }
  out["snapshots"] = json::array();
  for (const SnapRow& r : snaps) {
    out["snapshots"].push_back({{"uuid", r.uuid},
                                {"vm", r.vm_uuid},
                                {"name", r.name},
                                {"full_name", r.full_name},
                                {"created_ns", r.created_ns},
                                {"is_deleted", r.deleted}});
  }
  out["vdis"] = json::array();
  for (const VdiRow& r : vdis) {
    out["vdis"].push_back({{"uuid", r.uuid},
                           {"sr", r.sr_uuid},
                           {"handle", r.handle},
                           {"name", r.name},
                           {"size", r.size},
                           {"created_ns", r.created_ns},
                           {"snapshot", Opt(r.snapshot_uuid)},
                           {"snapshot_of", Opt(r.snapshot_of)},
                           {"clone_of", Opt(r.clone_of)}});
  }
  out["vbds"] = json::array();
  for (const VbdRow& r : vbds) {
    out["vbds"].push_back(
        {{"uuid", r.uuid}, {"vm", r.vm_uuid}, {"vdi", r.vdi_uuid}, {"name", r.name}, {"device", r.device}});
  }
  ASSIGN_OR_RETURN(auto props, cat_.AllProperties());
  out["properties"] = json::array();
  for (const auto& [object, key, value] : props) {
    out["properties"].push_back({{"object", object}, {"key", key}, {"value", value}});
  }
  // The paper's mapping records.
  json vm_vbd_vdi = json::array(), sr_vdi = json::array();
  for (const VbdRow& r : vbds) vm_vbd_vdi.push_back({r.vm_uuid, r.uuid, r.vdi_uuid});
  for (const VdiRow& r : vdis) sr_vdi.push_back({r.sr_uuid, r.uuid});
  out["mappings"] = {{"vm_vbd_vdi", vm_vbd_vdi}, {"sr_vdi", sr_vdi}};
  return out.dump(2);
}

}  // namespace catalog

Status ImportCatalog(const std::string& dir, const std::string& text, const ManagerOptions& options) {
  json in = json::parse(text, nullptr, false);
  if (in.is_discarded() || !in.is_object() || !in.contains("format") || in["format"] != "vmstore-catalog") {
    return InvalidArgument("not a vmstore catalog export (expected JSON with \"format\": \"vmstore-catalog\")");
  }
  if (!in.contains("version") || in["version"] != 1) {
    return NotSupported("catalog export version " + in.value("version", json()).dump() + " is not supported");
  }
  Env* env = catalog::EnvOf(options);
  RETURN_IF_ERROR(env->CreateDir(dir));
  auto lock = env->LockFile(dir + "/catalog.lock");
  if (!lock.ok()) return FailedPrecondition("pool " + dir + " is in use by another vmstore process");
  ASSIGN_OR_RETURN(auto db, catalog::SqliteDb::Open(dir + "/catalog.db"));
  RETURN_IF_ERROR(catalog::Migrate(db.get()));
  catalog::ManagerImpl m(dir, options, std::move(lock).value(), std::move(db));
  catalog::CatalogDb& cat = m.cat_;
  ASSIGN_OR_RETURN(auto have_srs, cat.Srs());
  ASSIGN_OR_RETURN(auto have_vms, cat.Vms());
  ASSIGN_OR_RETURN(auto have_vdis, cat.Vdis());
  if (!have_vms.empty() || !have_vdis.empty() || have_srs.size() > 1) {
    return FailedPrecondition("the catalog of " + dir + " is not empty; import needs a new or empty pool");
  }
  try {
    catalog::SqliteTxn txn(m.db_.get());
    RETURN_IF_ERROR(txn.Begin());
    for (const catalog::SrRow& r : have_srs) RETURN_IF_ERROR(cat.DeleteSr(r.uuid));
    for (auto& r : in.at("srs")) {
      RETURN_IF_ERROR(cat.InsertSr({r.at("uuid"), r.at("name"), r.at("type"), r.at("location"), r.at("created_ns")}));
    }
    RETURN_IF_ERROR(m.db_->Exec("PRAGMA defer_foreign_keys = ON"));
    for (auto& r : in.at("vms")) {
      RETURN_IF_ERROR(cat.InsertVm({r.at("uuid"), r.at("name"), r.at("created_ns"),
                                    catalog::Opt(r.at("parent_snapshot")), r.at("is_deleted").get<bool>()}));
    }
    for (auto& r : in.at("snapshots")) {
      RETURN_IF_ERROR(cat.InsertSnap({0, r.at("uuid"), r.at("vm"), r.at("name"), r.at("full_name"), r.at("created_ns"),
                                      r.at("is_deleted").get<bool>()}));
    }
    for (auto& r : in.at("vdis")) {
      catalog::VdiRow v{r.at("uuid"),
                        r.at("sr"),
                        r.at("handle"),
                        r.at("name"),
                        r.at("size"),
                        r.at("created_ns"),
                        catalog::Opt(r.at("snapshot")),
                        catalog::Opt(r.at("snapshot_of")),
                        catalog::Opt(r.at("clone_of"))};
      // Every VDI must be where the export says.
      ASSIGN_OR_RETURN(backend::Backend * b, m.BackendFor(v.sr_uuid));
      auto st = b->Stat(v.handle);
      if (!st.ok()) {
        return NotFound("VDI " + v.uuid + " ('" + v.name + "'): volume " + v.handle +
                        " is not in its SR: " + st.status().ToString());
      }
      RETURN_IF_ERROR(cat.InsertVdi(v));
    }
    for (auto& r : in.at("vbds")) {
      RETURN_IF_ERROR(cat.InsertVbd({r.at("uuid"), r.at("vm"), r.at("vdi"), r.at("name"), r.at("device")}));
    }
    // Exports made before properties existed have none.
    for (auto& r : in.value("properties", json::array())) {
      RETURN_IF_ERROR(cat.SetProperty(r.at("object"), r.at("key"), r.at("value")));
    }
    RETURN_IF_ERROR(txn.Commit());
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("catalog export is missing a field: ") + e.what());
  }
  return m.Close();
}

}  // namespace vmstore
