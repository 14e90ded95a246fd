// SPDX-License-Identifier: Apache-2.0
#include "oci/layer_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "common/file_lock.h"

namespace syspgo::oci {
namespace {

std::string EscapeRef(const std::string& ref) {
  std::string out;
  for (char c : ref) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_') {
      out += c;
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", static_cast<unsigned char>(c));
      out += buf;
    }
  }
  return out;
}

// Held while a session is made and while stale ones are removed, so that
// no one sees a session before its process holds the session's lock (16
// starts at once on one node removed each other's new sessions).
constexpr char kSessionsLock[] = "locks/sessions";

// Removes session directories whose lock no process holds. Called with
// kSessionsLock held.
void RemoveStaleSessions(const std::string& tmp_root) {
  auto entries = ListDir(tmp_root);
  if (!entries.ok()) return;
  for (const std::string& name : *entries) {
    std::string dir = JoinPath(tmp_root, name);
    const TriedLock lock = TryLockFile(JoinPath(dir, "lock"));
    if (lock.held()) continue;
    RemoveTree(dir).IgnoreError();
  }
}

}  // namespace

Result<LayerStore> LayerStore::Open(const std::string& root) {
  RETURN_IF_ERROR(MakePrivateDir(root));
  for (const char* sub : {"blobs/sha256", "layers/sha256", "locks/layers", "refs", "tmp"}) {
    RETURN_IF_ERROR(MakeDirs(JoinPath(root, sub), 0700));
  }
  std::string tmp_root = JoinPath(root, "tmp");
  const std::string sessions_lock_path = JoinPath(root, kSessionsLock);
  ASSIGN_OR_RETURN(UniqueFd sessions_lock,
                   UniqueFd::Open(sessions_lock_path, O_RDWR | O_CREAT, 0600));
  if (::flock(sessions_lock.get(), LOCK_EX) != 0) {
    return ErrnoStatus(errno, "lock", sessions_lock_path);
  }
  RemoveStaleSessions(tmp_root);
  ASSIGN_OR_RETURN(TempDir session, TempDir::Create(tmp_root, "session-"));
  ASSIGN_OR_RETURN(UniqueFd lock,
                   UniqueFd::Open(JoinPath(session.path(), "lock"), O_RDWR | O_CREAT, 0600));
  if (::flock(lock.get(), LOCK_EX) != 0) {
    return ErrnoStatus(errno, "lock", session.path());
  }
  sessions_lock.Reset();
  std::string session_path = session.path();
  session.Release();
  return LayerStore(root, session_path, std::move(lock));
}

LayerStore::~LayerStore() {
  if (!session_.empty()) RemoveTree(session_).IgnoreError();
}

std::string LayerStore::BlobPath(const Digest& d) const {
  return JoinPath(root_, "blobs/" + d.algorithm + "/" + d.hex);
}

bool LayerStore::HasBlob(const Digest& d) const { return PathExists(BlobPath(d)); }

Result<std::string> LayerStore::ReadBlob(const Digest& d, size_t max_bytes) const {
  ASSIGN_OR_RETURN(std::string content, ReadFileToString(BlobPath(d), max_bytes));
  if (Digest::Of(content) != d) {
    return Corruption("stored blob " + d.ToString() + " no longer matches its digest");
  }
  return content;
}

Status LayerStore::PutBlob(const Digest& d, std::string_view content) {
  if (Digest::Of(content) != d) {
    return Corruption("blob content does not match digest " + d.ToString());
  }
  if (HasBlob(d)) return Status::Ok();
  return WriteFileAtomic(BlobPath(d), content, 0600, /*durable=*/false);
}

Status LayerStore::CommitBlobFile(const std::string& file, const Digest& d) {
  if (::rename(file.c_str(), BlobPath(d).c_str()) != 0) {
    return ErrnoStatus(errno, "rename blob to", BlobPath(d));
  }
  return Status::Ok();
}

std::string LayerStore::LayerDir(const Digest& diff_id) const {
  return JoinPath(root_, "layers/" + diff_id.algorithm + "/" + diff_id.hex);
}

std::string LayerStore::LayerFsPath(const Digest& diff_id) const {
  return JoinPath(LayerDir(diff_id), "fs");
}

bool LayerStore::HasLayer(const Digest& diff_id) const { return PathExists(LayerFsPath(diff_id)); }

Status LayerStore::CommitLayer(TempDir dir, const Digest& diff_id) {
  std::string target = LayerDir(diff_id);
  if (::rename(dir.path().c_str(), target.c_str()) != 0) {
    if ((errno == ENOTEMPTY || errno == EEXIST) && HasLayer(diff_id)) {
      return Status::Ok();  // someone else won; our copy goes with `dir`
    }
    return ErrnoStatus(errno, "rename layer to", target);
  }
  dir.Release();
  return Status::Ok();
}

namespace {

std::string UnescapeRef(const std::string& name) {
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '%' && i + 2 < name.size()) {
      out += static_cast<char>(std::stoi(name.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += name[i];
    }
  }
  return out;
}

}  // namespace

Result<UniqueFd> LayerStore::LockLayer(const Digest& diff_id, const CancelToken* cancel) const {
  return WaitForFileLock(
      JoinPath(root_, "locks/layers/" + diff_id.hex), LOCK_EX,
      {.cancel = cancel, .waiting_for = "another fetch of layer " + diff_id.ToString()});
}

Result<UniqueFd> LayerStore::HoldAgainstGc(const std::string& root, const CancelToken* cancel) {
  RETURN_IF_ERROR(MakeDirs(JoinPath(root, "locks"), 0700));
  return WaitForFileLock(
      JoinPath(root, "locks/gc"), LOCK_SH,
      {.cancel = cancel, .waiting_for = "the store's garbage collection to finish"});
}

Result<UniqueFd> LayerStore::LockForGc(const std::string& root, const CancelToken* cancel) {
  RETURN_IF_ERROR(MakeDirs(JoinPath(root, "locks"), 0700));
  return WaitForFileLock(
      JoinPath(root, "locks/gc"), LOCK_EX,
      {.cancel = cancel, .waiting_for = "the store's users to take their images into use"});
}

Result<std::vector<LayerStore::RefEntry>> LayerStore::ListRefs() const {
  std::vector<RefEntry> out;
  const std::string dir = JoinPath(root_, "refs");
  if (!PathExists(dir)) return out;
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir));
  for (const std::string& name : names) {
    if (name.find(".tmp") != std::string::npos) continue;  // a write in progress
    RefEntry e;
    e.reference = UnescapeRef(name);
    auto digest = GetRef(e.reference);
    if (!digest.ok()) continue;  // removed meanwhile
    e.manifest = *digest;
    struct stat st;
    if (::stat(JoinPath(dir, name).c_str(), &st) == 0) e.mtime = st.st_mtim.tv_sec;
    out.push_back(std::move(e));
  }
  return out;
}

void LayerStore::TouchRef(const std::string& reference) {
  const std::string path = JoinPath(root_, "refs/" + EscapeRef(reference));
  (void)::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);  // a hint: failure is harmless
}

Status LayerStore::RemoveRef(const std::string& reference) {
  const std::string path = JoinPath(root_, "refs/" + EscapeRef(reference));
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return NotFound("image " + reference + " is not in the local store");
    return ErrnoStatus(errno, "remove", path);
  }
  return Status::Ok();
}

Result<TempDir> LayerStore::NewTempDir(std::string_view prefix) const {
  return TempDir::Create(session_, prefix);
}

Status LayerStore::SetRef(const std::string& reference, const Digest& manifest) {
  return WriteFileAtomic(JoinPath(root_, "refs/" + EscapeRef(reference)),
                         manifest.ToString() + "\n", 0600, /*durable=*/false);
}

Result<Digest> LayerStore::GetRef(const std::string& reference) const {
  auto text = ReadFileToString(JoinPath(root_, "refs/" + EscapeRef(reference)));
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) {
      return NotFound("image " + reference + " is not in the local store");
    }
    return text.status();
  }
  std::string s = *text;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return Digest::Parse(s);
}

}  // namespace syspgo::oci
