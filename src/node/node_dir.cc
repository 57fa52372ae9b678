#include "node/node_dir.h"

#include <gnutls/crypto.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "util/coding.h"

namespace vmstore::node {

namespace {

using json = nlohmann::json;

StatusOr<std::string> ReadAll(Env* env, const std::string& path) {
  ASSIGN_OR_RETURN(auto f, env->OpenFile(path, false));
  ASSIGN_OR_RETURN(uint64_t size, f->Size());
  std::string s(size, '\0');
  RETURN_IF_ERROR(f->ReadAt(0, s.size(), s.data()));
  return s;
}

StatusOr<std::string> NewUuid() {
  unsigned char raw[16];
  if (gnutls_rnd(GNUTLS_RND_NONCE, raw, sizeof raw) != 0) return IOError("no random bytes for a uuid");
  return internal::HexBytes(raw, sizeof raw);
}

}  // namespace

StatusOr<std::unique_ptr<NodeDir>> NodeDir::Open(Env* env, const std::string& dir, const std::string& cluster,
                                                 const std::string& name) {
  RETURN_IF_ERROR(env->CreateDir(dir));
  ::chmod(dir.c_str(), 0700);  // VM data: its owner's alone
  auto d = std::unique_ptr<NodeDir>(new NodeDir);
  d->dir_ = dir;
  auto lock = env->LockFile(dir + "/node.lock");
  if (!lock.ok()) {
    if (lock.status().code() == Code::kFailedPrecondition) {
      return FailedPrecondition("data directory " + dir + " is in use by another vmstore node process");
    }
    return lock.status();
  }
  d->lock_ = std::move(lock).value();
  const std::string id_path = dir + "/node.json";
  if (env->FileExists(id_path)) {
    ASSIGN_OR_RETURN(std::string text, ReadAll(env, id_path));
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return Corruption(id_path + " is damaged (not JSON)");
    d->id_ = {j.value("cluster", ""), j.value("name", ""), j.value("data_uuid", "")};
    if (d->id_.cluster != cluster) {
      return FailedPrecondition("data directory " + dir + " belongs to cluster " + d->id_.cluster + ", not " + cluster +
                                " (use an empty directory for a node of this cluster)");
    }
    if (d->id_.name != name) {
      return FailedPrecondition("data directory " + dir + " is node '" + d->id_.name + "'s, not '" + name +
                                "' (start it with --name " + d->id_.name + ")");
    }
  } else {
    ASSIGN_OR_RETURN(std::string uuid, NewUuid());
    d->id_ = {cluster, name, uuid};
    const std::string text = json{{"cluster", cluster}, {"name", name}, {"data_uuid", uuid}}.dump(2) + "\n";
    ASSIGN_OR_RETURN(auto f, env->OpenFile(id_path + ".tmp", true));
    RETURN_IF_ERROR(f->Truncate(0));
    RETURN_IF_ERROR(f->WriteAt(0, text.data(), text.size()));
    RETURN_IF_ERROR(f->Sync());
    f.reset();
    if (::rename((id_path + ".tmp").c_str(), id_path.c_str()) != 0) return ErrnoStatus(errno, "rename " + id_path);
    RETURN_IF_ERROR(env->SyncDir(dir));
  }
  RETURN_IF_ERROR(env->CreateDir(d->containers()));
  ::chmod(d->containers().c_str(), 0700);
  return d;
}

}  // namespace vmstore::node
