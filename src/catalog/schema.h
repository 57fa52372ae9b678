// The catalog's SQLite schema and its migrations (docs/FORMAT.md, "Catalog").
//
// The schema version lives in PRAGMA user_version. Migrations()[i] takes a
// database from version i to i + 1; each runs in its own transaction together
// with the version bump, so a crash leaves the file at one version or the next.
#pragma once

#include <string>
#include <vector>

#include "catalog/sqlite_db.h"

namespace vmstore::catalog {

const std::vector<std::string>& Migrations();
inline int LatestSchemaVersion() { return static_cast<int>(Migrations().size()); }

// Brings `db` to LatestSchemaVersion(). NotSupported if the file was written
// by a newer VMStore (its version is higher than this build knows).
Status Migrate(SqliteDb* db);
StatusOr<int> SchemaVersion(SqliteDb* db);

}  // namespace vmstore::catalog
