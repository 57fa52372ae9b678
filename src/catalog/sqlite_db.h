// A thin SQLite wrapper: a connection, prepared statements and transactions,
// with errors as Status values.
//
// Example:
//   ASSIGN_OR_RETURN(auto db, SqliteDb::Open("/pool/catalog.db"));
//   SqliteTxn txn(db.get());
//   RETURN_IF_ERROR(txn.Begin());
//   ASSIGN_OR_RETURN(auto st, db->Prepare("INSERT INTO vm(uuid, name) VALUES(?, ?)"));
//   RETURN_IF_ERROR(st.Bind(1, uuid).Bind(2, name).Run());
//   RETURN_IF_ERROR(txn.Commit());
//
// Durability: the database runs in WAL mode with synchronous=FULL, so a
// committed transaction survives power loss. Errors: a UNIQUE or other
// constraint violation is AlreadyExists/FailedPrecondition, a damaged file
// Corruption, a lock held elsewhere FailedPrecondition, anything else IOError.
// Thread-safety: none; one SqliteDb per thread (the catalog serialises).
// Ownership: SqliteDb owns the connection; a SqliteStmt must not outlive it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "vmstore/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace vmstore::catalog {

class SqliteDb;

class SqliteStmt {
 public:
  SqliteStmt(SqliteStmt&& o) noexcept : owner_(o.owner_), db_(o.db_), st_(o.st_) { o.st_ = nullptr; }
  SqliteStmt(const SqliteStmt&) = delete;
  SqliteStmt& operator=(const SqliteStmt&) = delete;
  ~SqliteStmt();

  // Parameters are numbered from 1. A failed bind is reported by Step/Run.
  SqliteStmt& Bind(int i, int64_t v);
  SqliteStmt& Bind(int i, const std::string& v);
  SqliteStmt& Bind(int i, const char* v) { return Bind(i, std::string(v)); }
  SqliteStmt& BindNull(int i);
  SqliteStmt& BindOptional(int i, const std::optional<std::string>& v) { return v ? Bind(i, *v) : BindNull(i); }

  // Advances: true with a row to read, false when done.
  StatusOr<bool> Step();
  // Steps to the end, for statements without results.
  Status Run();

  int64_t Int(int col) const;
  std::string Text(int col) const;
  std::optional<std::string> OptionalText(int col) const;
  bool IsNull(int col) const;

 private:
  friend class SqliteDb;
  SqliteStmt(SqliteDb* owner, sqlite3* db, sqlite3_stmt* st) : owner_(owner), db_(db), st_(st) {}
  SqliteDb* owner_;
  sqlite3* db_;
  sqlite3_stmt* st_;
};

class SqliteDb {
 public:
  // Opens or creates the database file at `path`.
  static StatusOr<std::unique_ptr<SqliteDb>> Open(const std::string& path);
  ~SqliteDb();

  Status Exec(const std::string& sql);  // one or more statements, no results
  StatusOr<SqliteStmt> Prepare(const std::string& sql);
  int64_t LastInsertId() const;
  const std::string& path() const { return path_; }

  // Maps an SQLite result code (with the connection's message) to a Status.
  Status Error(int rc, const std::string& context) const;

  // The whole database as bytes (SQLite's file format), and back: Deserialize
  // replaces the database's content with `image` (an empty image: an empty
  // database). Used for a catalog kept elsewhere than in a file (etcd).
  StatusOr<std::string> Serialize();
  Status Deserialize(const std::string& image);
  // Rows changed since the connection opened (monotonic).
  int64_t TotalChanges() const;
  // Called after every commit - a transaction's COMMIT, or a statement run
  // outside a transaction - with the database in its committed state; its
  // error becomes the commit's (the data is then committed locally only).
  void SetAfterCommit(std::function<Status()> hook) { after_commit_ = std::move(hook); }
  Status AfterCommit() { return after_commit_ ? after_commit_() : Status::OK(); }
  bool InTransaction() const;

 private:
  SqliteDb(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
  std::function<Status()> after_commit_;
};

// BEGIN IMMEDIATE ... COMMIT; rolled back on destruction unless committed.
class SqliteTxn {
 public:
  explicit SqliteTxn(SqliteDb* db) : db_(db) {}
  ~SqliteTxn();
  SqliteTxn(const SqliteTxn&) = delete;
  SqliteTxn& operator=(const SqliteTxn&) = delete;
  Status Begin();
  Status Commit();

 private:
  SqliteDb* db_;
  bool open_ = false;
};

}  // namespace vmstore::catalog
