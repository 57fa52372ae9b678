// Typed access to the catalog's tables (schema in catalog/schema.cc). Rows are
// plain structs; each function is one statement. Callers own transactions.
// Thread-safety: none (the Manager serialises). Errors: as SqliteDb.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "catalog/sqlite_db.h"

namespace vmstore::catalog {

struct SrRow {
  std::string uuid, name, type, location;
  int64_t created_ns = 0;
};

struct VmRow {
  std::string uuid, name;
  int64_t created_ns = 0;
  std::optional<std::string> parent_snapshot;  // snapshot uuid it was cloned from
  bool deleted = false;
};

struct SnapRow {
  int64_t rowid = 0;
  std::string uuid, vm_uuid, name, full_name;
  int64_t created_ns = 0;
  bool deleted = false;
};

struct VdiRow {
  std::string uuid, sr_uuid, handle, name;
  uint64_t size = 0;
  int64_t created_ns = 0;
  std::optional<std::string> snapshot_uuid;  // set: a disk snapshot, part of that VM snapshot
  std::optional<std::string> snapshot_of;    // the VDI it is a snapshot of
  std::optional<std::string> clone_of;       // the snapshot VDI it was cloned from
};

struct VbdRow {
  std::string uuid, vm_uuid, vdi_uuid, name;
  int64_t device = 0;
};

struct IntentRow {
  int64_t id = 0;
  std::string kind, body;
  int64_t created_ns = 0;
};

class CatalogDb {
 public:
  explicit CatalogDb(SqliteDb* db) : db_(db) {}
  SqliteDb* db() { return db_; }

  Status InsertSr(const SrRow& r);
  Status DeleteSr(const std::string& uuid);
  StatusOr<std::vector<SrRow>> Srs(const std::string& where = "", const std::string& arg = "");

  Status InsertVm(const VmRow& r);
  Status SetVmDeleted(const std::string& uuid);
  Status DeleteVm(const std::string& uuid);
  StatusOr<std::vector<VmRow>> Vms(const std::string& where = "", const std::string& arg = "");

  Status InsertSnap(const SnapRow& r);
  Status SetSnapDeleted(const std::string& uuid);
  Status DeleteSnap(const std::string& uuid);
  // Oldest first.
  StatusOr<std::vector<SnapRow>> Snaps(const std::string& where = "", const std::string& arg = "");

  Status InsertVdi(const VdiRow& r);
  Status SetVdiSize(const std::string& uuid, uint64_t size);
  Status DeleteVdi(const std::string& uuid);
  StatusOr<std::vector<VdiRow>> Vdis(const std::string& where = "", const std::string& arg = "");

  Status InsertVbd(const VbdRow& r);
  Status DeleteVbd(const std::string& uuid);
  StatusOr<std::vector<VbdRow>> Vbds(const std::string& where = "", const std::string& arg = "");

  StatusOr<int64_t> InsertIntent(const std::string& kind, const std::string& body, int64_t now_ns);
  Status DeleteIntent(int64_t id);
  StatusOr<std::vector<IntentRow>> Intents();

  // Properties of an object (by uuid); SetProperty with "" removes the key.
  Status SetProperty(const std::string& object, const std::string& key, const std::string& value);
  StatusOr<std::map<std::string, std::string>> Properties(const std::string& object);
  // Every property row, (object, key, value), for the catalog export.
  StatusOr<std::vector<std::array<std::string, 3>>> AllProperties();

  StatusOr<std::optional<std::string>> Meta(const std::string& key);
  Status SetMeta(const std::string& key, const std::string& value);

 private:
  SqliteDb* db_;
};

}  // namespace vmstore::catalog
