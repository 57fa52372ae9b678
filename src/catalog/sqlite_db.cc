#include "catalog/sqlite_db.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstring>

namespace vmstore::catalog {

SqliteStmt::~SqliteStmt() {
  if (st_) sqlite3_finalize(st_);
}

SqliteStmt& SqliteStmt::Bind(int i, int64_t v) {
  sqlite3_bind_int64(st_, i, v);
  return *this;
}

SqliteStmt& SqliteStmt::Bind(int i, const std::string& v) {
  sqlite3_bind_text(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

SqliteStmt& SqliteStmt::BindNull(int i) {
  sqlite3_bind_null(st_, i);
  return *this;
}

static Status MapError(sqlite3* db, int rc, const std::string& context) {
  std::string m = context + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) return AlreadyExists(m);
      return FailedPrecondition(m);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Corruption(m);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return FailedPrecondition(m);
    case SQLITE_FULL:
      return NoSpace(m);
    default:
      return IOError(m);
  }
}

StatusOr<bool> SqliteStmt::Step() {
  int rc = sqlite3_step(st_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return MapError(db_, sqlite3_extended_errcode(db_), "catalog");
}

Status SqliteStmt::Run() {
  for (;;) {
    ASSIGN_OR_RETURN(bool row, Step());
    if (!row) break;
  }
  if (!sqlite3_stmt_readonly(st_) && !owner_->InTransaction()) return owner_->AfterCommit();
  return Status::OK();
}

int64_t SqliteStmt::Int(int col) const { return sqlite3_column_int64(st_, col); }

std::string SqliteStmt::Text(int col) const {
  const unsigned char* p = sqlite3_column_text(st_, col);
  return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(st_, col)) : std::string();
}

std::optional<std::string> SqliteStmt::OptionalText(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Text(col);
}

bool SqliteStmt::IsNull(int col) const { return sqlite3_column_type(st_, col) == SQLITE_NULL; }

StatusOr<std::unique_ptr<SqliteDb>> SqliteDb::Open(const std::string& path) {
  if (!path.empty() && path[0] != ':' && path.rfind("file:", 0) != 0) {
    // Made private before SQLite makes it 0644 (its journal files take the
    // database file's mode): the catalog names every VM and disk.
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) ::close(fd);
  }
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Status s = MapError(db, rc, "open catalog " + path);
    sqlite3_close(db);
    return s;
  }
  std::unique_ptr<SqliteDb> out(new SqliteDb(db, path));
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, 5000);
  RETURN_IF_ERROR(out->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"));
  return out;
}

SqliteDb::~SqliteDb() { sqlite3_close(db_); }

Status SqliteDb::Exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (err) sqlite3_free(err);
  if (rc != SQLITE_OK) return MapError(db_, sqlite3_extended_errcode(db_), "catalog");
  return Status::OK();
}

StatusOr<SqliteStmt> SqliteDb::Prepare(const std::string& sql) {
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &st, nullptr);
  if (rc != SQLITE_OK) return MapError(db_, rc, "catalog: prepare");
  return SqliteStmt(this, db_, st);
}

int64_t SqliteDb::LastInsertId() const { return sqlite3_last_insert_rowid(db_); }

Status SqliteDb::Error(int rc, const std::string& context) const { return MapError(db_, rc, context); }

StatusOr<std::string> SqliteDb::Serialize() {
  sqlite3_int64 size = 0;
  unsigned char* p = sqlite3_serialize(db_, "main", &size, 0);
  if (!p) {
    if (size == 0) return std::string();  // an empty database has no pages
    return NoSpace("catalog: no memory to serialize " + std::to_string(size) + " bytes");
  }
  std::string out(reinterpret_cast<const char*>(p), static_cast<size_t>(size));
  sqlite3_free(p);
  return out;
}

Status SqliteDb::Deserialize(const std::string& image) {
  auto* p = static_cast<unsigned char*>(sqlite3_malloc64(image.size() ? image.size() : 1));
  if (!p) return NoSpace("catalog: no memory for a " + std::to_string(image.size()) + "-byte image");
  std::memcpy(p, image.data(), image.size());
  int rc = sqlite3_deserialize(db_, "main", p, image.size(), image.size(),
                               SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE);
  if (rc != SQLITE_OK) return MapError(db_, rc, "catalog: load image");
  // A damaged image shows here rather than at the first query.
  ASSIGN_OR_RETURN(auto st, Prepare("PRAGMA quick_check"));
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row || st.Text(0) != "ok") return Corruption("catalog image fails SQLite's check: " + (row ? st.Text(0) : ""));
  return Status::OK();
}

int64_t SqliteDb::TotalChanges() const { return sqlite3_total_changes64(db_); }

bool SqliteDb::InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }

SqliteTxn::~SqliteTxn() {
  if (open_) (void)db_->Exec("ROLLBACK");
}

Status SqliteTxn::Begin() {
  RETURN_IF_ERROR(db_->Exec("BEGIN IMMEDIATE"));
  open_ = true;
  return Status::OK();
}

Status SqliteTxn::Commit() {
  RETURN_IF_ERROR(db_->Exec("COMMIT"));
  open_ = false;
  return db_->AfterCommit();
}

}  // namespace vmstore::catalog
