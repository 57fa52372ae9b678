#include "catalog/catalog_db.h"

namespace vmstore::catalog {
namespace {

// Runs `sql` + optional " WHERE <where>" with `arg` bound to every "?", calling
// `read` per row.
template <typename Row, typename Read>
StatusOr<std::vector<Row>> Select(SqliteDb* db, const std::string& sql, const std::string& where,
                                  const std::string& arg, const std::string& order, Read read) {
  std::string q = sql + (where.empty() ? "" : " WHERE " + where) + order;
  ASSIGN_OR_RETURN(SqliteStmt st, db->Prepare(q));
  int params = 0;
  for (char c : where) params += c == '?';
  for (int i = 1; i <= params; ++i) st.Bind(i, arg);
  std::vector<Row> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(read(st));
  }
  return out;
}

Status RunWith(SqliteDb* db, const std::string& sql, const std::string& a) {
  ASSIGN_OR_RETURN(SqliteStmt st, db->Prepare(sql));
  return st.Bind(1, a).Run();
}

}  // namespace

Status CatalogDb::InsertSr(const SrRow& r) {
  ASSIGN_OR_RETURN(SqliteStmt st,
                   db_->Prepare("INSERT INTO sr(uuid, name, type, location, created_ns) VALUES(?,?,?,?,?)"));
  return st.Bind(1, r.uuid).Bind(2, r.name).Bind(3, r.type).Bind(4, r.location).Bind(5, r.created_ns).Run();
}

Status CatalogDb::DeleteSr(const std::string& uuid) { return RunWith(db_, "DELETE FROM sr WHERE uuid = ?", uuid); }

StatusOr<std::vector<SrRow>> CatalogDb::Srs(const std::string& where, const std::string& arg) {
  return Select<SrRow>(db_, "SELECT uuid, name, type, location, created_ns FROM sr", where, arg, " ORDER BY name",
                       [](SqliteStmt& s) {
                         return SrRow{s.Text(0), s.Text(1), s.Text(2), s.Text(3), s.Int(4)};
                       });
}

Status CatalogDb::InsertVm(const VmRow& r) {
  ASSIGN_OR_RETURN(SqliteStmt st, db_->Prepare("INSERT INTO vm(uuid, name, created_ns, parent_snapshot, deleted) "
                                               "VALUES(?,?,?,?,?)"));
  return st.Bind(1, r.uuid)
      .Bind(2, r.name)
      .Bind(3, r.created_ns)
      .BindOptional(4, r.parent_snapshot)
      .Bind(5, int64_t{r.deleted})
      .Run();
}

Status CatalogDb::SetVmDeleted(const std::string& uuid) {
  return RunWith(db_, "UPDATE vm SET deleted = 1 WHERE uuid = ?", uuid);
}

Status CatalogDb::DeleteVm(const std::string& uuid) { return RunWith(db_, "DELETE FROM vm WHERE uuid = ?", uuid); }

StatusOr<std::vector<VmRow>> CatalogDb::Vms(const std::string& where, const std::string& arg) {
  return Select<VmRow>(db_, "SELECT uuid, name, created_ns, parent_snapshot, deleted FROM vm", where, arg,
                       " ORDER BY name, created_ns", [](SqliteStmt& s) {
                         return VmRow{s.Text(0), s.Text(1), s.Int(2), s.OptionalText(3), s.Int(4) != 0};
                       });
}

Status CatalogDb::InsertSnap(const SnapRow& r) {
  ASSIGN_OR_RETURN(SqliteStmt st,
                   db_->Prepare("INSERT INTO snapshot(uuid, vm_uuid, name, full_name, created_ns, deleted) "
                                "VALUES(?,?,?,?,?,?)"));
  return st.Bind(1, r.uuid)
      .Bind(2, r.vm_uuid)
      .Bind(3, r.name)
      .Bind(4, r.full_name)
      .Bind(5, r.created_ns)
      .Bind(6, int64_t{r.deleted})
      .Run();
}

Status CatalogDb::SetSnapDeleted(const std::string& uuid) {
  return RunWith(db_, "UPDATE snapshot SET deleted = 1 WHERE uuid = ?", uuid);
}

Status CatalogDb::DeleteSnap(const std::string& uuid) {
  return RunWith(db_, "DELETE FROM snapshot WHERE uuid = ?", uuid);
}

StatusOr<std::vector<SnapRow>> CatalogDb::Snaps(const std::string& where, const std::string& arg) {
  return Select<SnapRow>(db_, "SELECT rowid, uuid, vm_uuid, name, full_name, created_ns, deleted FROM snapshot", where,
                         arg, " ORDER BY created_ns, rowid", [](SqliteStmt& s) {
                           return SnapRow{s.Int(0),  s.Text(1), s.Text(2),    s.Text(3),
                                          s.Text(4), s.Int(5),  s.Int(6) != 0};
                         });
}

Status CatalogDb::InsertVdi(const VdiRow& r) {
  ASSIGN_OR_RETURN(SqliteStmt st,
                   db_->Prepare("INSERT INTO vdi(uuid, sr_uuid, handle, name, size, created_ns, snapshot_uuid, "
                                "snapshot_of, clone_of) VALUES(?,?,?,?,?,?,?,?,?)"));
  return st.Bind(1, r.uuid)
      .Bind(2, r.sr_uuid)
      .Bind(3, r.handle)
      .Bind(4, r.name)
      .Bind(5, static_cast<int64_t>(r.size))
      .Bind(6, r.created_ns)
      .BindOptional(7, r.snapshot_uuid)
      .BindOptional(8, r.snapshot_of)
      .BindOptional(9, r.clone_of)
      .Run();
}

Status CatalogDb::SetVdiSize(const std::string& uuid, uint64_t size) {
  ASSIGN_OR_RETURN(SqliteStmt st, db_->Prepare("UPDATE vdi SET size = ? WHERE uuid = ?"));
  return st.Bind(1, static_cast<int64_t>(size)).Bind(2, uuid).Run();
}

Status CatalogDb::DeleteVdi(const std::string& uuid) { return RunWith(db_, "DELETE FROM vdi WHERE uuid = ?", uuid); }

StatusOr<std::vector<VdiRow>> CatalogDb::Vdis(const std::string& where, const std::string& arg) {
  return Select<VdiRow>(
      db_,
      "SELECT uuid, sr_uuid, handle, name, size, created_ns, snapshot_uuid, snapshot_of, "
      "clone_of FROM vdi",
      where, arg, " ORDER BY name, created_ns", [](SqliteStmt& s) {
        return VdiRow{
            s.Text(0), s.Text(1),         s.Text(2),         s.Text(3),        static_cast<uint64_t>(s.Int(4)),
            s.Int(5),  s.OptionalText(6), s.OptionalText(7), s.OptionalText(8)};
      });
}

Status CatalogDb::InsertVbd(const VbdRow& r) {
  ASSIGN_OR_RETURN(SqliteStmt st,
                   db_->Prepare("INSERT INTO vbd(uuid, vm_uuid, vdi_uuid, name, device) VALUES(?,?,?,?,?)"));
  return st.Bind(1, r.uuid).Bind(2, r.vm_uuid).Bind(3, r.vdi_uuid).Bind(4, r.name).Bind(5, r.device).Run();
}

Status CatalogDb::DeleteVbd(const std::string& uuid) { return RunWith(db_, "DELETE FROM vbd WHERE uuid = ?", uuid); }

StatusOr<std::vector<VbdRow>> CatalogDb::Vbds(const std::string& where, const std::string& arg) {
  return Select<VbdRow>(db_, "SELECT uuid, vm_uuid, vdi_uuid, name, device FROM vbd", where, arg, " ORDER BY device",
                        [](SqliteStmt& s) {
                          return VbdRow{s.Text(0), s.Text(1), s.Text(2), s.Text(3), s.Int(4)};
                        });
}

StatusOr<int64_t> CatalogDb::InsertIntent(const std::string& kind, const std::string& body, int64_t now_ns) {
  ASSIGN_OR_RETURN(SqliteStmt st, db_->Prepare("INSERT INTO intent(kind, body, created_ns) VALUES(?,?,?)"));
  RETURN_IF_ERROR(st.Bind(1, kind).Bind(2, body).Bind(3, now_ns).Run());
  return db_->LastInsertId();
}

Status CatalogDb::DeleteIntent(int64_t id) {
  ASSIGN_OR_RETURN(SqliteStmt st, db_->Prepare("DELETE FROM intent WHERE id = ?"));
  return st.Bind(1, id).Run();
}

StatusOr<std::vector<IntentRow>> CatalogDb::Intents() {
  return Select<IntentRow>(db_, "SELECT id, kind, body, created_ns FROM intent", "", "", " ORDER BY id",
                           [](SqliteStmt& s) {
                             return IntentRow{s.Int(0), s.Text(1), s.Text(2), s.Int(3)};
                           });
}

Status CatalogDb::SetProperty(const std::string& object, const std::string& key, const std::string& value) {
  if (value.empty()) {
    ASSIGN_OR_RETURN(SqliteStmt st, db_->Prepare("DELETE FROM property WHERE object = ? AND key = ?"));
    return st.Bind(1, object).Bind(2, key).Run();
  }
  ASSIGN_OR_RETURN(SqliteStmt st, db_->Prepare("INSERT OR REPLACE INTO property(object, key, value) VALUES(?,?,?)"));
  return st.Bind(1, object).Bind(2, key).Bind(3, value).Run();
}

StatusOr<std::map<std::string, std::string>> CatalogDb::Properties(const std::string& object) {
  using KeyValue = std::pair<std::string, std::string>;
  auto read = [](SqliteStmt& s) { return KeyValue(s.Text(0), s.Text(1)); };
  ASSIGN_OR_RETURN(
      auto rows, Select<KeyValue>(db_, "SELECT key, value FROM property", "object = ?", object, " ORDER BY key", read));
  return std::map<std::string, std::string>(rows.begin(), rows.end());
}

StatusOr<std::vector<std::array<std::string, 3>>> CatalogDb::AllProperties() {
  return Select<std::array<std::string, 3>>(db_, "SELECT object, key, value FROM property", "", "",
                                            " ORDER BY object, key", [](SqliteStmt& s) {
                                              return std::array<std::string, 3>{s.Text(0), s.Text(1), s.Text(2)};
                                            });
}

StatusOr<std::optional<std::string>> CatalogDb::Meta(const std::string& key) {
  ASSIGN_OR_RETURN(SqliteStmt st, db_->Prepare("SELECT value FROM meta WHERE key = ?"));
  st.Bind(1, key);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(st.Text(0));
}

Status CatalogDb::SetMeta(const std::string& key, const std::string& value) {
  ASSIGN_OR_RETURN(SqliteStmt st, db_->Prepare("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)"));
  return st.Bind(1, key).Bind(2, value).Run();
}

}  // namespace vmstore::catalog
