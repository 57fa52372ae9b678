#include "cluster/remote_env.h"

#include <algorithm>
#include <chrono>

#include "util/coding.h"

namespace vmstore::cluster {

namespace {

// File ops carry a punch's length in `container`.
ContainerRequest FileReq(ContainerOp op, uint64_t first = 0, uint32_t count = 0, uint64_t length = 0) {
  return MakeRequest(op, length, first, count);
}

uint64_t U64(const std::string& s) { return s.size() >= 8 ? internal::GetU64(s.data()) : 0; }

class NoLock final : public Env::Lock {};

// A file on its replicas; reads and writes in pieces the protocol carries.
class RemoteFile final : public File {
 public:
  RemoteFile(RemoteEnv* env, std::string path) : env_(env), path_(std::move(path)) {}

  Status ReadAt(uint64_t offset, size_t n, char* dst) override {
    for (size_t done = 0; done < n;) {
      const uint32_t k = static_cast<uint32_t>(std::min<size_t>(n - done, kMaxPayloadBytes / 2));
      ASSIGN_OR_RETURN(std::string got, env_->ReadFrom(path_, FileReq(ContainerOp::kFileRead, offset + done, k)));
      if (got.size() != k) return Corruption("a node answered a read of " + path_ + " with the wrong length");
      std::copy(got.begin(), got.end(), dst + done);
      done += k;
    }
    return Status::OK();
  }
  Status WriteAt(uint64_t offset, const char* src, size_t n) override {
    for (size_t done = 0; done < n || n == 0;) {
      const size_t k = std::min<size_t>(n - done, kMaxPayloadBytes / 2);
      RETURN_IF_ERROR(
          env_->ToAll(path_, FileReq(ContainerOp::kFileWrite, offset + done), std::string_view(src + done, k)));
      done += k;
      if (n == 0) break;
    }
    return Status::OK();
  }
  Status Sync() override { return env_->ToAll(path_, FileReq(ContainerOp::kFileSync), {}); }
  Status Truncate(uint64_t size) override { return env_->ToAll(path_, FileReq(ContainerOp::kFileTruncate, size), {}); }
  Status PunchHole(uint64_t offset, uint64_t length) override {
    return env_->ToAll(path_, FileReq(ContainerOp::kFilePunch, offset, 0, length), {});
  }
  StatusOr<uint64_t> Size() override {
    ASSIGN_OR_RETURN(std::string s, env_->ReadFrom(path_, FileReq(ContainerOp::kFileSize)));
    return U64(s);
  }
  StatusOr<uint64_t> AllocatedBytes() override {
    ASSIGN_OR_RETURN(std::string s, env_->ReadFrom(path_, FileReq(ContainerOp::kFileAllocated)));
    return U64(s);
  }
  StatusOr<std::vector<ByteRange>> DataRanges() override {
    ASSIGN_OR_RETURN(std::string s, env_->ReadFrom(path_, FileReq(ContainerOp::kFileRanges)));
    std::vector<ByteRange> out;
    const std::vector<uint64_t> v = DecodeU64List(s);
    for (size_t i = 0; i + 1 < v.size(); i += 2) {
      out.push_back({v[i], v[i + 1]});
    }
    return out;
  }

 private:
  RemoteEnv* env_;
  const std::string path_;
};

}  // namespace

uint64_t FileKey(const std::string& path) {
  return (internal::Hash64(path.data(), path.size()) & ((uint64_t{1} << 33) - 1)) | 1;
}

RemoteEnv::RemoteEnv(Ring ring, RemoteStoreOptions options) : RemoteEnv(RingView::Fixed(ring), std::move(options)) {}

RemoteEnv::RemoteEnv(std::shared_ptr<RingView> view, RemoteStoreOptions options)
    : opts_(std::move(options)), replicas_(std::move(view), opts_) {}

Status RemoteEnv::LoadMisses() { return replicas_.misses().Load(); }

std::map<std::string, std::set<std::string>> RemoteEnv::missed() const { return replicas_.misses().OfKind("file:"); }

StatusOr<std::string> RemoteEnv::ReadFrom(const std::string& path, ContainerRequest r) {
  return replicas_.Read("file:" + path, FileKey(path), r, FileNamePayload(path));
}

Status RemoteEnv::ToAll(const std::string& path, ContainerRequest r, std::string_view data) {
  std::string payload = FileNamePayload(path);
  payload.append(data);
  return replicas_.Change("file:" + path, FileKey(path), r, payload);
}

RepairReport RemoteEnv::Repair() {
  auto key_of = [](const std::string& path, uint64_t* key) {
    *key = FileKey(path);
    return true;
  };
  return replicas_.Repair(
      "file:", key_of,
      [&](const std::string& object, uint64_t key, NodeClient* stale, uint64_t* bytes, bool final) {
        return SyncFile(object, key, stale, bytes, final);
      },
      [](const std::string& object) {
        return std::make_pair(FileReq(ContainerOp::kFileSize),
                              FileNamePayload(object.substr(std::string("file:").size())));
      });
}

Status RemoteEnv::SyncFile(const std::string& object, uint64_t key, NodeClient* stale, uint64_t* bytes, bool final) {
  const std::string path = object.substr(std::string("file:").size());
  const std::string name = FileNamePayload(path);
  // The bulk (not `final`) runs while the pool writes on and is throttled by
  // the node as a recovery copy; what a write changes meanwhile is caught up
  // in the final pass, under the lock, strictly.
  auto call = [&](ContainerRequest r, std::string_view data = {}) {
    r.fence = replicas_.fence();
    if (!final && IsChange(r.op)) r.flags |= kFlagRecovery;  // a copy in (not the stale node's reads)
    std::string payload = name;
    payload.append(data);
    return stale->Call(r, payload);
  };
  NodeClient* holder = nullptr;  // a node off the file's owners that holds it (see below)
  auto ask = [&](ContainerOp op, uint64_t first = 0, uint32_t count = 0) -> StatusOr<std::string> {
    ContainerRequest r = FileReq(op, first, count);
    if (!final) r.flags |= kFlagRecovery;
    if (holder) return holder->Call(r, name);
    return replicas_.Read(object, key, r, name, nullptr, /*record_damage=*/final);
  };
  ASSIGN_OR_RETURN(std::string exists, ask(ContainerOp::kFileExists));
  if (U64(exists) != 1) {
    // No owner but the stale one holds it. Deleted since - or its only
    // copies are on nodes the ring no longer names: then it is copied from
    // there, never given up for gone.
    holder = replicas_.HolderOffOwners(object, stale, [&](NodeClient* c) {
      auto e = c->Call(FileReq(ContainerOp::kFileExists), name);
      if (!e.ok() || U64(*e) != 1) return false;
      exists = *e;
      return true;
    });
  }
  if (U64(exists) != 1) {  // deleted since: so on the stale one
    Status gone = call(FileReq(ContainerOp::kFileDelete)).status();
    return gone.ok() || gone.code() == Code::kNotFound ? Status::OK() : gone;
  }
  ASSIGN_OR_RETURN(std::string size_s, ask(ContainerOp::kFileSize));
  ASSIGN_OR_RETURN(std::string ranges_s, ask(ContainerOp::kFileRanges));
  const uint64_t size = U64(size_s);
  std::vector<std::pair<uint64_t, uint64_t>> good;  // [begin, end)
  {
    const std::vector<uint64_t> v = DecodeU64List(ranges_s);  // (offset, length) pairs
    for (size_t i = 0; i + 1 < v.size(); i += 2) good.emplace_back(v[i], std::min(v[i] + v[i + 1], size));
  }
  // The stale copy takes the good one's size, and holes where it has them.
  RETURN_IF_ERROR(call(FileReq(ContainerOp::kFileWrite, 0)).status());  // makes it if it is not there
  RETURN_IF_ERROR(call(FileReq(ContainerOp::kFileTruncate, size)).status());
  ASSIGN_OR_RETURN(std::string mine_s, call(FileReq(ContainerOp::kFileRanges)));
  const std::vector<uint64_t> mine = DecodeU64List(mine_s);
  for (size_t i = 0; i + 1 < mine.size(); i += 2) {
    uint64_t at = mine[i];
    const uint64_t end = std::min(mine[i] + mine[i + 1], size);
    for (const auto& [b, e] : good) {
      if (e <= at) continue;
      if (b >= end) break;
      if (b > at) RETURN_IF_ERROR(call(FileReq(ContainerOp::kFilePunch, at, 0, b - at)).status());
      at = std::max(at, e);
    }
    if (at < end) RETURN_IF_ERROR(call(FileReq(ContainerOp::kFilePunch, at, 0, end - at)).status());
  }
  // Only the 64 KiB chunks whose digests differ travel (a node back after
  // a short absence takes the log's new records, not the log).
  constexpr uint64_t kChunk = kFileChunkBytes;
  for (const auto& [b, e] : good) {
    for (uint64_t c = b / kChunk * kChunk; c < e;) {
      const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(kMaxFileSumChunks, (e - c + kChunk - 1) / kChunk));
      auto theirs = ask(ContainerOp::kFileSums, c, n);
      auto ours = call(FileReq(ContainerOp::kFileSums, c, n));
      if (!theirs.ok() && (final || CopyWaits(theirs.status()))) return theirs.status();
      if (!theirs.ok() || theirs->size() != size_t{n} * 8) {
        if (final) return Corruption("a node answered the file sums of " + path + " wrongly");
        c += uint64_t{n} * kChunk;  // left to the final pass
        continue;
      }
      for (uint32_t i = 0; i < n; ++i) {
        const uint64_t at = c + uint64_t{i} * kChunk;
        if (ours.ok() && ours->size() == theirs->size() &&
            std::memcmp(ours->data() + size_t{i} * 8, theirs->data() + size_t{i} * 8, 8) == 0) {
          continue;
        }
        const uint64_t from = std::max(at, b), to = std::min(at + kChunk, e);
        auto data = ask(ContainerOp::kFileRead, from, static_cast<uint32_t>(to - from));
        if (!data.ok() && (final || CopyWaits(data.status()))) return data.status();
        if (!data.ok() || data->size() != to - from) {
          if (!final) continue;  // left to the final pass
          return Corruption("a node answered a read of " + path + " with the wrong length");
        }
        RETURN_IF_ERROR(call(FileReq(ContainerOp::kFileWrite, from), *data).status());
        *bytes += data->size();
      }
      c += uint64_t{n} * kChunk;
    }
  }
  return final ? call(FileReq(ContainerOp::kFileSync)).status() : Status::OK();
}

StatusOr<std::unique_ptr<File>> RemoteEnv::OpenFile(const std::string& path, bool create) {
  if (!FileExists(path)) {
    if (!create) return NotFound("no such file: " + path);
    RETURN_IF_ERROR(ToAll(path, FileReq(ContainerOp::kFileWrite, 0), {}));  // makes it, empty
  }
  return std::unique_ptr<File>(new RemoteFile(this, path));
}

bool RemoteEnv::FileExists(const std::string& path) {
  auto s = ReadFrom(path, FileReq(ContainerOp::kFileExists));
  if (s.ok() && U64(*s) == 1) return true;
  auto children = ListDir(path);  // a "directory": some file's name starts with PATH/
  return children.ok() && !children->empty();
}

Status RemoteEnv::DeleteFile(const std::string& path) {
  if (!FileExists(path)) return NotFound("no such file: " + path);
  return ToAll(path, FileReq(ContainerOp::kFileDelete), {});
}

StatusOr<std::vector<std::string>> RemoteEnv::ListDir(const std::string& path) {
  const std::string prefix = path + "/";  // files are listed by every replica; a name once is enough
  std::set<std::string> names;
  int answered = 0;
  Status last;
  for (NodeClient* c : replicas_.Nodes()) {
    auto out = c->Call(FileReq(ContainerOp::kFileList), FileNamePayload(prefix));
    if (!out.ok()) {
      last = out.status();
      continue;
    }
    ++answered;
    for (size_t i = 0; i + 4 <= out->size();) {
      const uint32_t len = internal::GetBe32(out->data() + i);
      if (i + 4 + len > out->size()) return Corruption("a node sent a damaged file list");
      std::string name = out->substr(i + 4 + prefix.size(), len - prefix.size());
      if (name.find('/') == std::string::npos) names.insert(name);
      i += 4 + len;
    }
  }
  if (!answered) return last;
  return std::vector<std::string>(names.begin(), names.end());
}

StatusOr<std::unique_ptr<Env::Lock>> RemoteEnv::LockFile(const std::string& path) {
  return std::unique_ptr<Env::Lock>(new NoLock);
}

StatusOr<FsSpace> RemoteEnv::FileSystemSpace(const std::string& path) {
  return FsSpace{uint64_t{1} << 50, uint64_t{1} << 50};
}

int64_t RemoteEnv::NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace vmstore::cluster
