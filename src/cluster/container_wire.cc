#include "cluster/container_wire.h"

#include "util/coding.h"

namespace vmstore::cluster {

using internal::GetBe32;
using internal::GetBe64;
using internal::PutBe32;
using internal::PutBe64;

const char* ContainerOpName(ContainerOp op) {
  switch (op) {
    case ContainerOp::kHello:
      return "hello";
    case ContainerOp::kReadUnits:
      return "read_units";
    case ContainerOp::kReadSums:
      return "read_sums";
    case ContainerOp::kWrite:
      return "write";
    case ContainerOp::kSync:
      return "sync";
    case ContainerOp::kPunch:
      return "punch";
    case ContainerOp::kPunchSums:
      return "punch_sums";
    case ContainerOp::kDelete:
      return "delete";
    case ContainerOp::kTruncate:
      return "truncate";
    case ContainerOp::kList:
      return "list";
    case ContainerOp::kAllocatedUnits:
      return "allocated_units";
    case ContainerOp::kCheckHeader:
      return "check_header";
    case ContainerOp::kStat:
      return "stat";
    case ContainerOp::kFileRead:
      return "file_read";
    case ContainerOp::kFileWrite:
      return "file_write";
    case ContainerOp::kFileSync:
      return "file_sync";
    case ContainerOp::kFileTruncate:
      return "file_truncate";
    case ContainerOp::kFilePunch:
      return "file_punch";
    case ContainerOp::kFileSize:
      return "file_size";
    case ContainerOp::kFileAllocated:
      return "file_allocated";
    case ContainerOp::kFileRanges:
      return "file_ranges";
    case ContainerOp::kFileDelete:
      return "file_delete";
    case ContainerOp::kFileExists:
      return "file_exists";
    case ContainerOp::kFileList:
      return "file_list";
    case ContainerOp::kReadBlockPart:
      return "read_block_part";
    case ContainerOp::kFileSums:
      return "file_sums";
  }
  return "unknown";
}

void AppendU64List(std::string* out, const std::vector<uint64_t>& v) {
  for (uint64_t x : v) internal::AppendU64(out, x);
}

std::vector<uint64_t> DecodeU64List(std::string_view s) {
  std::vector<uint64_t> v(s.size() / 8);
  for (size_t i = 0; i < v.size(); ++i) v[i] = internal::GetU64(s.data() + i * 8);
  return v;
}

bool IsChange(ContainerOp op) {
  switch (op) {
    case ContainerOp::kWrite:
    case ContainerOp::kSync:
    case ContainerOp::kPunch:
    case ContainerOp::kPunchSums:
    case ContainerOp::kDelete:
    case ContainerOp::kTruncate:
    case ContainerOp::kFileWrite:
    case ContainerOp::kFileSync:
    case ContainerOp::kFileTruncate:
    case ContainerOp::kFilePunch:
    case ContainerOp::kFileDelete:
      return true;
    default:
      return false;
  }
}

std::string EncodeRequest(const ContainerRequest& r) {
  std::string h;
  PutBe32(&h, kRequestMagic);
  h.push_back(static_cast<char>(r.op));
  h.push_back(static_cast<char>(r.flags));
  h.append(2, '\0');
  PutBe64(&h, r.id);
  PutBe64(&h, r.fence);
  PutBe64(&h, r.container);
  PutBe64(&h, r.first);
  PutBe32(&h, r.count);
  PutBe32(&h, r.payload_bytes);
  PutBe64(&h, r.ring_epoch);
  return h;
}

StatusOr<ContainerRequest> DecodeRequest(std::string_view h) {
  if (h.size() != kRequestHeaderBytes) return InvalidArgument("container request header of the wrong size");
  if (GetBe32(h.data()) != kRequestMagic) return InvalidArgument("not a container request (bad magic)");
  ContainerRequest r;
  const uint8_t op = static_cast<uint8_t>(h[4]);
  if (op < 1 || op > static_cast<uint8_t>(ContainerOp::kFileSums)) {
    return InvalidArgument("unknown container op " + std::to_string(op));
  }
  r.op = static_cast<ContainerOp>(op);
  r.flags = static_cast<uint8_t>(h[5]);
  r.id = GetBe64(h.data() + 8);
  r.fence = GetBe64(h.data() + 16);
  r.container = GetBe64(h.data() + 24);
  r.first = GetBe64(h.data() + 32);
  r.count = GetBe32(h.data() + 40);
  r.payload_bytes = GetBe32(h.data() + 44);
  r.ring_epoch = GetBe64(h.data() + 48);
  if (r.payload_bytes > kMaxPayloadBytes) {
    return InvalidArgument("container request payload of " + std::to_string(r.payload_bytes) +
                           " bytes is over the limit");
  }
  return r;
}

std::string EncodeResponse(const ContainerResponse& r) {
  std::string h;
  PutBe32(&h, kResponseMagic);
  PutBe32(&h, static_cast<uint32_t>(r.code));
  PutBe64(&h, r.id);
  PutBe32(&h, r.payload_bytes);
  PutBe32(&h, r.message_bytes);
  return h;
}

StatusOr<ContainerResponse> DecodeResponse(std::string_view h) {
  if (h.size() != kResponseHeaderBytes) return InvalidArgument("container response header of the wrong size");
  if (GetBe32(h.data()) != kResponseMagic) return Corruption("not a container response (bad magic)");
  ContainerResponse r;
  const uint32_t code = GetBe32(h.data() + 4);
  if (code > static_cast<uint32_t>(Code::kInternal))
    return Corruption("container response with unknown code " + std::to_string(code));
  r.code = static_cast<Code>(code);
  r.id = GetBe64(h.data() + 8);
  r.payload_bytes = GetBe32(h.data() + 16);
  r.message_bytes = GetBe32(h.data() + 20);
  if (r.payload_bytes > kMaxPayloadBytes || r.message_bytes > kMaxMessageBytes) {
    return Corruption("container response too long");
  }
  return r;
}

std::string FileNamePayload(const std::string& name) {
  std::string p;
  PutBe32(&p, static_cast<uint32_t>(name.size()));
  return p + name;
}

StatusOr<std::pair<std::string, std::string_view>> SplitFilePayload(std::string_view payload) {
  if (payload.size() < 4) return InvalidArgument("file request without a name");
  const uint32_t n = GetBe32(payload.data());
  if (n == 0 || n > 1024 || payload.size() - 4 < n) return InvalidArgument("file request with a bad name length");
  std::string name(payload.substr(4, n));
  if (name.find('\0') != std::string::npos) return InvalidArgument("file name with a NUL byte");
  return std::make_pair(std::move(name), payload.substr(4 + n));
}

}  // namespace vmstore::cluster
