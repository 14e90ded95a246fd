// SPDX-License-Identifier: Apache-2.0
#include "snapshotter/metadata.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

namespace syspgo::snapshotter {
namespace {

constexpr char kSchema[] = R"(
CREATE TABLE IF NOT EXISTS snapshots (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  key TEXT NOT NULL UNIQUE,
  parent TEXT NOT NULL,
  kind INTEGER NOT NULL,
  labels TEXT NOT NULL,
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL,
  namespace TEXT NOT NULL,
  remote TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS snapshots_parent ON snapshots(parent);
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
)";
constexpr int kSchemaVersion = 1;

// A prepared statement, finalized on destruction.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Status Prepared(const char* what) const {
    if (rc_ != SQLITE_OK)
      return Internal(std::string("sqlite prepare ") + what + ": " + sqlite3_errmsg(db_));
    return Status();
  }
  void Bind(int i, const std::string& s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  }
  void Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  int Step() { return sqlite3_step(stmt_); }
  std::string Text(int col) const {
    const unsigned char* t = sqlite3_column_text(stmt_, col);
    return t ? std::string(reinterpret_cast<const char*>(t),
                           static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  Status Error(const std::string& what) const {
    return Internal("sqlite " + what + ": " + sqlite3_errmsg(db_));
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_OK;
};

std::string LabelsToJson(const std::map<std::string, std::string>& labels) {
  return nlohmann::json(labels).dump();
}

std::map<std::string, std::string> LabelsFromJson(const std::string& text) {
  std::map<std::string, std::string> out;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.value().is_string()) out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

std::string RemoteToJson(const std::optional<RemoteLayer>& r) {
  if (!r) return "";
  return nlohmann::json{
      {"image", r->image}, {"manifest", r->manifest}, {"layer", r->layer}, {"top", r->top}}
      .dump();
}

std::optional<RemoteLayer> RemoteFromJson(const std::string& text) {
  if (text.empty()) return std::nullopt;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  RemoteLayer r;
  r.image = j.value("image", "");
  r.manifest = j.value("manifest", "");
  r.layer = j.value("layer", "");
  r.top = j.value("top", false);
  return r;
}

constexpr char kColumns[] = "id, key, parent, kind, labels, created, updated, namespace, remote";

SnapshotRecord FromRow(const Stmt& s) {
  SnapshotRecord r;
  r.id = s.Int(0);
  r.key = s.Text(1);
  r.parent = s.Text(2);
  r.kind = static_cast<Kind>(s.Int(3));
  r.labels = LabelsFromJson(s.Text(4));
  r.created_ns = s.Int(5);
  r.updated_ns = s.Int(6);
  r.ns = s.Text(7);
  r.remote = RemoteFromJson(s.Text(8));
  return r;
}

}  // namespace

Result<std::unique_ptr<MetadataStore>> MetadataStore::Open(const std::string& path) {
  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Internal("open " + path + ": " + msg);
  }
  ::chmod(path.c_str(), 0600);
  std::unique_ptr<MetadataStore> store(new MetadataStore(db));
  sqlite3_busy_timeout(db, 5000);
  RETURN_IF_ERROR(store->Exec("PRAGMA journal_mode=WAL"));
  RETURN_IF_ERROR(store->Exec("PRAGMA synchronous=FULL"));
  RETURN_IF_ERROR(store->Exec(kSchema));
  Stmt version(db, "SELECT version FROM schema_version");
  RETURN_IF_ERROR(version.Prepared("schema_version"));
  if (version.Step() == SQLITE_ROW) {
    if (version.Int(0) != kSchemaVersion) {
      return FailedPrecondition(path + " has schema version " + std::to_string(version.Int(0)) +
                                "; this syspgo reads " + std::to_string(kSchemaVersion));
    }
  } else {
    RETURN_IF_ERROR(store->Exec("INSERT INTO schema_version VALUES (1)"));
  }
  return store;
}

MetadataStore::~MetadataStore() { sqlite3_close(db_); }

Status MetadataStore::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "error";
    sqlite3_free(err);
    return Internal(std::string("sqlite: ") + msg);
  }
  return Status();
}

Result<SnapshotRecord> MetadataStore::Get(const std::string& key) {
  Stmt s(db_, (std::string("SELECT ") + kColumns + " FROM snapshots WHERE key = ?").c_str());
  RETURN_IF_ERROR(s.Prepared("get"));
  s.Bind(1, key);
  const int rc = s.Step();
  if (rc == SQLITE_ROW) return FromRow(s);
  if (rc == SQLITE_DONE) return NotFound("snapshot " + key + " does not exist");
  return s.Error("get " + key);
}

Result<int64_t> MetadataStore::Insert(const SnapshotRecord& r) {
  Stmt s(db_,
         "INSERT INTO snapshots (key, parent, kind, labels, created, updated, namespace, remote) "
         "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  RETURN_IF_ERROR(s.Prepared("insert"));
  s.Bind(1, r.key);
  s.Bind(2, r.parent);
  s.Bind(3, static_cast<int64_t>(r.kind));
  s.Bind(4, LabelsToJson(r.labels));
  s.Bind(5, r.created_ns);
  s.Bind(6, r.updated_ns);
  s.Bind(7, r.ns);
  s.Bind(8, RemoteToJson(r.remote));
  const int rc = s.Step();
  if (rc == SQLITE_CONSTRAINT)
    return Status(StatusCode::kAlreadyExists, "snapshot " + r.key + " already exists");
  if (rc != SQLITE_DONE) return s.Error("insert " + r.key);
  return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
}

Status MetadataStore::Commit(const std::string& key, const std::string& name,
                             const std::map<std::string, std::string>& labels, int64_t now_ns) {
  ASSIGN_OR_RETURN(SnapshotRecord r, Get(key));
  if (r.kind != Kind::kActive) return FailedPrecondition("snapshot " + key + " is not active");
  for (const auto& [k, v] : labels) r.labels[k] = v;
  Stmt s(db_, "UPDATE snapshots SET key = ?, kind = ?, labels = ?, updated = ? WHERE key = ?");
  RETURN_IF_ERROR(s.Prepared("commit"));
  s.Bind(1, name);
  s.Bind(2, static_cast<int64_t>(Kind::kCommitted));
  s.Bind(3, LabelsToJson(r.labels));
  s.Bind(4, now_ns);
  s.Bind(5, key);
  const int rc = s.Step();
  if (rc == SQLITE_CONSTRAINT)
    return Status(StatusCode::kAlreadyExists, "snapshot " + name + " already exists");
  if (rc != SQLITE_DONE) return s.Error("commit " + key);
  return Status();
}

Status MetadataStore::SetLabels(const std::string& key,
                                const std::map<std::string, std::string>& labels, int64_t now_ns) {
  Stmt s(db_, "UPDATE snapshots SET labels = ?, updated = ? WHERE key = ?");
  RETURN_IF_ERROR(s.Prepared("update"));
  s.Bind(1, LabelsToJson(labels));
  s.Bind(2, now_ns);
  s.Bind(3, key);
  if (s.Step() != SQLITE_DONE) return s.Error("update " + key);
  if (sqlite3_changes(db_) == 0) return NotFound("snapshot " + key + " does not exist");
  return Status();
}

Result<int64_t> MetadataStore::CountChildren(const std::string& key) {
  Stmt s(db_, "SELECT COUNT(*) FROM snapshots WHERE parent = ?");
  RETURN_IF_ERROR(s.Prepared("children"));
  s.Bind(1, key);
  if (s.Step() != SQLITE_ROW) return s.Error("children of " + key);
  return s.Int(0);
}

Status MetadataStore::Remove(const std::string& key) {
  ASSIGN_OR_RETURN(int64_t children, CountChildren(key));
  if (children > 0) {
    return FailedPrecondition("snapshot " + key + " has " + std::to_string(children) + " children");
  }
  Stmt s(db_, "DELETE FROM snapshots WHERE key = ?");
  RETURN_IF_ERROR(s.Prepared("remove"));
  s.Bind(1, key);
  if (s.Step() != SQLITE_DONE) return s.Error("remove " + key);
  if (sqlite3_changes(db_) == 0) return NotFound("snapshot " + key + " does not exist");
  return Status();
}

Result<std::vector<SnapshotRecord>> MetadataStore::List() {
  Stmt s(db_, (std::string("SELECT ") + kColumns + " FROM snapshots ORDER BY id").c_str());
  RETURN_IF_ERROR(s.Prepared("list"));
  std::vector<SnapshotRecord> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) out.push_back(FromRow(s));
  if (rc != SQLITE_DONE) return s.Error("list");
  return out;
}

}  // namespace syspgo::snapshotter
