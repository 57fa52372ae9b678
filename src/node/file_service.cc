#include "node/file_service.h"

#include "util/coding.h"

namespace vmstore::node {

namespace {

using cluster::ContainerOp;

std::string HexName(const std::string& name) { return internal::HexBytes(name.data(), name.size()); }

}  // namespace

std::string FileService::PathOf(const std::string& name) const { return dir_ + "/" + HexName(name); }

Status FileService::Mutate(const cluster::ContainerRequest& r, const std::string& path, std::string_view data) {
  MutexLock l(&mu_);
  if (r.op == ContainerOp::kFileDelete) {
    Status s = env_->DeleteFile(path);
    return s.code() == Code::kNotFound ? Status::OK() : s;
  }
  ASSIGN_OR_RETURN(auto f, env_->OpenFile(path, /*create=*/r.op == ContainerOp::kFileWrite));
  switch (r.op) {
    case ContainerOp::kFileWrite:
      return f->WriteAt(r.first, data.data(), data.size());
    case ContainerOp::kFileSync:
      return f->Sync();
    case ContainerOp::kFileTruncate:
      return f->Truncate(r.first);
    case ContainerOp::kFilePunch:
      return f->PunchHole(r.first, r.container);
    default:
      return Internal("not a file mutation");
  }
}

Status FileService::Handle(const cluster::ContainerRequest& r, std::string_view payload, std::string* out) {
  ASSIGN_OR_RETURN(auto split, cluster::SplitFilePayload(payload));
  const std::string& name = split.first;
  const std::string path = PathOf(name);
  switch (r.op) {
    case ContainerOp::kFileWrite:
    case ContainerOp::kFileSync:
    case ContainerOp::kFileTruncate:
    case ContainerOp::kFilePunch:
    case ContainerOp::kFileDelete:
      return Mutate(r, path, split.second);
    case ContainerOp::kFileExists:
      internal::AppendU64(out, env_->FileExists(path) ? 1 : 0);
      return Status::OK();
    case ContainerOp::kFileList: {
      ASSIGN_OR_RETURN(auto names, env_->ListDir(dir_));
      for (const std::string& hex : names) {
        std::string n;
        if (!internal::ParseHexBytes(hex, &n) || n.rfind(name, 0) != 0) continue;
        internal::PutBe32(out, static_cast<uint32_t>(n.size()));
        out->append(n);
        if (r.count == 1) {  // with each one's allocated bytes
          uint64_t bytes = 0;
          if (auto f = env_->OpenFile(dir_ + "/" + hex, false); f.ok()) {
            if (auto b = (*f)->AllocatedBytes(); b.ok()) bytes = *b;
          }
          internal::AppendU64(out, bytes);
        }
      }
      return Status::OK();
    }
    default:
      break;
  }
  if (!env_->FileExists(path)) return NotFound("no file '" + name + "' on this node");
  ASSIGN_OR_RETURN(auto f, env_->OpenFile(path, false));
  switch (r.op) {
    case ContainerOp::kFileRead:
      if (r.count > cluster::kMaxPayloadBytes) return InvalidArgument("file read over the limit");
      out->assign(r.count, '\0');
      return f->ReadAt(r.first, r.count, out->data());
    case ContainerOp::kFileSize: {
      ASSIGN_OR_RETURN(uint64_t size, f->Size());
      internal::AppendU64(out, size);
      return Status::OK();
    }
    case ContainerOp::kFileAllocated: {
      ASSIGN_OR_RETURN(uint64_t bytes, f->AllocatedBytes());
      internal::AppendU64(out, bytes);
      return Status::OK();
    }
    case ContainerOp::kFileRanges: {
      ASSIGN_OR_RETURN(auto ranges, f->DataRanges());
      for (const ByteRange& b : ranges) {
        internal::AppendU64(out, b.offset);
        internal::AppendU64(out, b.length);
      }
      return Status::OK();
    }
    case ContainerOp::kFileSums: {
      if (r.first % cluster::kFileChunkBytes || r.count == 0 || r.count > cluster::kMaxFileSumChunks) {
        return InvalidArgument("file sums of " + std::to_string(r.count) + " chunks at " + std::to_string(r.first));
      }
      ASSIGN_OR_RETURN(uint64_t size, f->Size());
      std::string chunk(cluster::kFileChunkBytes, '\0');
      for (uint32_t i = 0; i < r.count; ++i) {
        const uint64_t at = r.first + uint64_t{i} * cluster::kFileChunkBytes;
        const size_t n = at >= size ? 0 : static_cast<size_t>(std::min<uint64_t>(cluster::kFileChunkBytes, size - at));
        if (n > 0) RETURN_IF_ERROR(f->ReadAt(at, n, chunk.data()));
        internal::AppendU64(out, internal::Hash64(chunk.data(), n));
      }
      return Status::OK();
    }
    default:
      return InvalidArgument("not a file op");
  }
}

}  // namespace vmstore::node
