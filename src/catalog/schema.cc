#include "catalog/schema.h"

namespace vmstore::catalog {

const std::vector<std::string>& Migrations() {
  static const std::vector<std::string> m = {
      // 0 -> 1: the object model (SR, VM, VDI, VBD), VM snapshots, and the
      // intent log that keeps the catalog and the backends in step.
      R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sr(
  uuid TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, type TEXT NOT NULL,
  location TEXT NOT NULL, created_ns INTEGER NOT NULL);
CREATE TABLE vm(
  uuid TEXT PRIMARY KEY, name TEXT NOT NULL, created_ns INTEGER NOT NULL,
  parent_snapshot TEXT REFERENCES snapshot(uuid), deleted INTEGER NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX vm_live_name ON vm(name) WHERE deleted = 0;
CREATE INDEX vm_parent ON vm(parent_snapshot);
CREATE TABLE snapshot(
  uuid TEXT PRIMARY KEY, vm_uuid TEXT NOT NULL REFERENCES vm(uuid), name TEXT NOT NULL,
  full_name TEXT NOT NULL, created_ns INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
  UNIQUE(vm_uuid, full_name));
CREATE INDEX snapshot_time ON snapshot(vm_uuid, created_ns);
CREATE TABLE vdi(
  uuid TEXT PRIMARY KEY, sr_uuid TEXT NOT NULL REFERENCES sr(uuid), handle TEXT NOT NULL,
  name TEXT NOT NULL, size INTEGER NOT NULL, created_ns INTEGER NOT NULL,
  snapshot_uuid TEXT REFERENCES snapshot(uuid), snapshot_of TEXT, clone_of TEXT,
  UNIQUE(sr_uuid, handle));
CREATE INDEX vdi_snapshot ON vdi(snapshot_uuid);
CREATE TABLE vbd(
  uuid TEXT PRIMARY KEY, vm_uuid TEXT NOT NULL REFERENCES vm(uuid),
  vdi_uuid TEXT NOT NULL UNIQUE REFERENCES vdi(uuid), name TEXT NOT NULL, device INTEGER NOT NULL,
  UNIQUE(vm_uuid, name), UNIQUE(vm_uuid, device));
CREATE TABLE intent(
  id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, body TEXT NOT NULL,
  created_ns INTEGER NOT NULL);
)sql",
      // 1 -> 2: properties, small key/value strings kept with a VM, snapshot
      // or VDI (snapshot policies, where a received snapshot came from),
      // removed with their object.
      R"sql(
CREATE TABLE property(
  object TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY(object, key));
CREATE TRIGGER vm_property AFTER DELETE ON vm BEGIN DELETE FROM property WHERE object = OLD.uuid; END;
CREATE TRIGGER snapshot_property AFTER DELETE ON snapshot BEGIN DELETE FROM property WHERE object = OLD.uuid; END;
CREATE TRIGGER vdi_property AFTER DELETE ON vdi BEGIN DELETE FROM property WHERE object = OLD.uuid; END;
)sql",
  };
  return m;
}

StatusOr<int> SchemaVersion(SqliteDb* db) {
  ASSIGN_OR_RETURN(SqliteStmt st, db->Prepare("PRAGMA user_version"));
  ASSIGN_OR_RETURN(bool row, st.Step());
  return row ? static_cast<int>(st.Int(0)) : 0;
}

Status Migrate(SqliteDb* db) {
  ASSIGN_OR_RETURN(int v, SchemaVersion(db));
  const int latest = LatestSchemaVersion();
  if (v > latest) {
    return NotSupported("catalog " + db->path() + " has schema version " + std::to_string(v) +
                        "; this vmstore knows up to " + std::to_string(latest) + " (upgrade vmstore)");
  }
  for (; v < latest; ++v) {
    SqliteTxn txn(db);
    RETURN_IF_ERROR(txn.Begin());
    RETURN_IF_ERROR(db->Exec(Migrations()[v]));
    RETURN_IF_ERROR(db->Exec("PRAGMA user_version = " + std::to_string(v + 1)));
    RETURN_IF_ERROR(txn.Commit());
  }
  return Status::OK();
}

}  // namespace vmstore::catalog
