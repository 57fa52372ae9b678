#include "transfer/stream_format.h"

#include <xxhash.h>

#include <cstring>

#include "util/coding.h"

namespace vmstore::transfer {

using internal::AppendU32;
using internal::AppendU64;
using internal::GetU32;
using internal::GetU64;
using internal::PutU32;
using internal::PutU64;

namespace {

constexpr size_t kRecordHeader = 24;  // type, reserved, offset, length
constexpr size_t kMaxHeaderFields = 64 * 1024;

void AppendString(std::string* s, const std::string& v) {
  uint16_t n = static_cast<uint16_t>(v.size());
  s->append(reinterpret_cast<const char*>(&n), 2);
  s->append(v);
}

// A record's link in the chain: XXH3-64 of its header and payload, seeded
// with the previous link.
uint64_t RecordSum(uint64_t seed, const char (&hdr)[kRecordHeader], std::string_view payload) {
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset_withSeed(st, seed);
  XXH3_64bits_update(st, hdr, sizeof hdr);
  XXH3_64bits_update(st, payload.data(), payload.size());
  uint64_t sum = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return sum;
}

const char* TypeName(RecordType t) {
  switch (t) {
    case RecordType::kData:
      return "DATA";
    case RecordType::kZero:
      return "ZERO";
    case RecordType::kEnd:
      return "END";
  }
  return "?";
}

}  // namespace

Status StreamWriter::WriteHeader(const StreamHeader& h) {
  for (const std::string* f : {&h.to_guid, &h.from_guid, &h.to_name, &h.from_name, &h.snapshot}) {
    if (f->size() > 4096) return InvalidArgument("send stream header field longer than 4096 bytes");
  }
  std::string fields;
  AppendU64(&fields, h.size);
  AppendU64(&fields, static_cast<uint64_t>(h.created_ns));
  for (const std::string* f : {&h.to_guid, &h.from_guid, &h.to_name, &h.from_name, &h.snapshot}) {
    AppendString(&fields, *f);
  }
  std::string out(kStreamMagic, sizeof kStreamMagic);
  AppendU32(&out, kStreamVersion);
  AppendU32(&out, static_cast<uint32_t>(fields.size()));
  out += fields;
  chain_ = XXH3_64bits(out.data(), out.size());
  AppendU64(&out, chain_);
  return sink_(out);
}

Status StreamWriter::Emit(RecordType type, uint64_t offset, uint64_t length, std::string_view payload) {
  char hdr[kRecordHeader];
  PutU32(hdr, static_cast<uint32_t>(type));
  PutU32(hdr + 4, 0);
  PutU64(hdr + 8, offset);
  PutU64(hdr + 16, length);
  chain_ = RecordSum(chain_, hdr, payload);
  char sum[8];
  PutU64(sum, chain_);
  RETURN_IF_ERROR(sink_(std::string_view(hdr, sizeof hdr)));
  if (!payload.empty()) RETURN_IF_ERROR(sink_(payload));
  return sink_(std::string_view(sum, sizeof sum));
}

Status StreamWriter::WriteData(uint64_t offset, std::string_view data) {
  if (data.empty() || data.size() > kMaxRecordData) return InvalidArgument("DATA record of a bad length");
  ++records_;
  data_bytes_ += data.size();
  return Emit(RecordType::kData, offset, data.size(), data);
}

Status StreamWriter::WriteZero(uint64_t offset, uint64_t length) {
  if (length == 0) return InvalidArgument("empty ZERO record");
  ++records_;
  return Emit(RecordType::kZero, offset, length, {});
}

Status StreamWriter::Finish() { return Emit(RecordType::kEnd, records_, data_bytes_, {}); }

Status StreamReader::ReadExact(char* buf, size_t n, const char* what) {
  size_t got = 0;
  while (got < n) {
    ASSIGN_OR_RETURN(size_t r, source_(buf + got, n - got));
    if (r == 0) {
      return Corruption(std::string("send stream ends early, in ") + what + " at byte " +
                        std::to_string(bytes_read_ + got) + " (truncated?)");
    }
    got += r;
  }
  bytes_read_ += n;
  return Status::OK();
}

StatusOr<StreamHeader> StreamReader::ReadHeader() {
  char fixed[16];
  RETURN_IF_ERROR(ReadExact(fixed, sizeof fixed, "the header"));
  if (std::memcmp(fixed, kStreamMagic, sizeof kStreamMagic) != 0) {
    return InvalidArgument("not a vmstore send stream (bad magic; made by 'vmstore send'?)");
  }
  uint32_t version = GetU32(fixed + 8), len = GetU32(fixed + 12);
  if (version != kStreamVersion) {
    return NotSupported("send stream version " + std::to_string(version) + "; this vmstore reads version " +
                        std::to_string(kStreamVersion));
  }
  if (len < 16 || len > kMaxHeaderFields) return Corruption("send stream header: bad length " + std::to_string(len));
  std::string all(fixed, sizeof fixed);
  all.resize(sizeof fixed + len + 8);
  RETURN_IF_ERROR(ReadExact(all.data() + sizeof fixed, len + 8, "the header"));
  chain_ = XXH3_64bits(all.data(), sizeof fixed + len);
  if (chain_ != GetU64(all.data() + sizeof fixed + len)) return Corruption("send stream header: checksum mismatch");
  const char* p = all.data() + sizeof fixed;
  const char* end = p + len;
  StreamHeader h;
  h.size = GetU64(p);
  h.created_ns = static_cast<int64_t>(GetU64(p + 8));
  p += 16;
  for (std::string* f : {&h.to_guid, &h.from_guid, &h.to_name, &h.from_name, &h.snapshot}) {
    if (end - p < 2) return Corruption("send stream header: fields cut short");
    uint16_t n;
    std::memcpy(&n, p, 2);
    p += 2;
    if (end - p < n) return Corruption("send stream header: fields cut short");
    f->assign(p, n);
    p += n;
  }
  if (h.to_guid.empty()) return Corruption("send stream header: no snapshot identity");
  header_ = h;
  return h;
}

StatusOr<StreamRecord> StreamReader::Next() {
  if (ended_) return FailedPrecondition("send stream: read past END");
  char hdr[kRecordHeader];
  RETURN_IF_ERROR(ReadExact(hdr, sizeof hdr, "a record header"));
  StreamRecord r;
  uint32_t type = GetU32(hdr);
  r.offset = GetU64(hdr + 8);
  r.length = GetU64(hdr + 16);
  const std::string where =
      " (record " + std::to_string(records_ + 1) + ", stream byte " + std::to_string(bytes_read_ - sizeof hdr) + ")";
  if (type < 1 || type > 3 || GetU32(hdr + 4) != 0) return Corruption("send stream: unknown record type" + where);
  r.type = static_cast<RecordType>(type);
  if (r.type == RecordType::kData) {
    if (r.length == 0 || r.length > kMaxRecordData) return Corruption("send stream: DATA record of bad length" + where);
    r.data.resize(r.length);
    RETURN_IF_ERROR(ReadExact(r.data.data(), r.length, "a DATA record"));
  }
  char sum[8];
  RETURN_IF_ERROR(ReadExact(sum, sizeof sum, "a record checksum"));
  uint64_t want = RecordSum(chain_, hdr, r.data);
  if (want != GetU64(sum))
    return Corruption(std::string("send stream: ") + TypeName(r.type) + " checksum mismatch" + where);
  chain_ = want;
  if (r.type == RecordType::kEnd) {
    if (r.offset != records_ || r.length != data_bytes_) {
      return Corruption("send stream: END counts " + std::to_string(r.offset) + " records, " +
                        std::to_string(r.length) + " data bytes; read " + std::to_string(records_) + ", " +
                        std::to_string(data_bytes_));
    }
    ended_ = true;
    return r;
  }
  if (r.length == 0 || r.offset < next_offset_ || r.offset > header_.size || header_.size - r.offset < r.length) {
    return Corruption("send stream: " + std::string(TypeName(r.type)) + " [" + std::to_string(r.offset) + ", +" +
                      std::to_string(r.length) + ") out of order or past the disk's end (" +
                      std::to_string(header_.size) + ")" + where);
  }
  next_offset_ = r.offset + r.length;
  ++records_;
  if (r.type == RecordType::kData) data_bytes_ += r.length;
  return r;
}

}  // namespace vmstore::transfer
