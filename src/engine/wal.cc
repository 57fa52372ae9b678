#include "engine/wal.h"

#include <algorithm>

#include "util/coding.h"

namespace vmstore::internal {

StatusOr<std::vector<WalRecord>> Wal::Recover(uint64_t gen, bool accept_loss, std::string* dropped) {
  gen_ = gen;
  seq_ = 0;
  synced_seq_ = 0;
  buf_.clear();
  ASSIGN_OR_RETURN(uint64_t size, file_->Size());
  std::string data(size, '\0');
  if (size) RETURN_IF_ERROR(file_->ReadAt(0, size, data.data()));
  std::vector<WalRecord> out;
  uint64_t pos = 0;
  while (pos + kWalHeader + kWalTrailer <= size) {
    const char* h = data.data() + pos;
    if (GetU32(h) != kWalMagic) break;
    uint32_t type = GetU32(h + 4);
    uint64_t rgen = GetU64(h + 8), seq = GetU64(h + 16);
    uint32_t len = GetU32(h + 24);
    if (rgen != gen || seq != seq_ || pos + kWalHeader + len + kWalTrailer > size) break;
    if (GetU64(h + kWalHeader + len) != Hash64(h, kWalHeader + len)) break;
    out.push_back({static_cast<WalType>(type), seq, std::string(h + kWalHeader, len)});
    ++seq_;
    pos += kWalHeader + len + kWalTrailer;
  }
  // Past a bad record: is any valid record of this generation there whose
  // append came after the bad one was synced? Then it is no torn tail.
  for (uint64_t at = pos + 1; at + kWalHeader + kWalTrailer <= size; ++at) {
    const char* h = data.data() + at;
    if (GetU32(h) != kWalMagic || GetU64(h + 8) != gen) continue;
    const uint64_t seq = GetU64(h + 16);
    const uint32_t len = GetU32(h + 24), synced = GetU32(h + 28);
    if (seq <= seq_ || synced <= seq_ || at + kWalHeader + len + kWalTrailer > size) continue;
    if (GetU64(h + kWalHeader + len) != Hash64(h, kWalHeader + len)) continue;
    const std::string what = "the write-ahead log is damaged at byte " + std::to_string(pos) + " (record " +
                             std::to_string(seq_) + " of generation " + std::to_string(gen) + "): record " +
                             std::to_string(seq) + " after it says " + std::to_string(synced) +
                             " records had been made durable, so flushed writes are in the damaged part";
    if (!accept_loss) return Corruption(what);
    if (dropped) *dropped = what + "; dropped from there on (" + std::to_string(size - pos) + " bytes)";
    break;
  }
  synced_seq_ = seq_;
  file_offset_ = pos;
  // Drop whatever follows the last valid record so new records are never
  // mistaken for the continuation of a torn tail.
  if (pos < size) {
    RETURN_IF_ERROR(file_->Truncate(pos));
    RETURN_IF_ERROR(file_->Sync());
  }
  return out;
}

StatusOr<uint64_t> Wal::FirstGeneration() {
  ASSIGN_OR_RETURN(uint64_t size, file_->Size());
  if (size < kWalHeader) return uint64_t{0};
  char h[kWalHeader];
  RETURN_IF_ERROR(file_->ReadAt(0, kWalHeader, h));
  if (GetU32(h) != kWalMagic || GetU64(h + 16) != 0) return uint64_t{0};
  return GetU64(h + 8);
}

void Wal::Append(WalType type, const std::string& payload) {
  size_t start = buf_.size();
  buf_.resize(start + kWalHeader);
  char* h = buf_.data() + start;
  PutU32(h, kWalMagic);
  PutU32(h + 4, static_cast<uint32_t>(type));
  PutU64(h + 8, gen_);
  PutU64(h + 16, seq_);
  PutU32(h + 24, static_cast<uint32_t>(payload.size()));
  PutU32(h + 28, static_cast<uint32_t>(std::min<uint64_t>(synced_seq_, UINT32_MAX)));  // durable before this one
  buf_.append(payload);
  AppendU64(&buf_, Hash64(buf_.data() + start, kWalHeader + payload.size()));
  ++seq_;
  unsynced_ = true;
}

Status Wal::WriteOut() {
  if (buf_.empty()) return Status::OK();
  RETURN_IF_ERROR(file_->WriteAt(file_offset_, buf_.data(), buf_.size()));
  file_offset_ += buf_.size();
  buf_.clear();
  return Status::OK();
}

Status Wal::Sync() {
  if (!unsynced_) return Status::OK();
  const uint64_t upto = seq_;
  RETURN_IF_ERROR(WriteOut());
  if (Status s = file_->Sync(); !s.ok()) {
    sync_failed_ = true;
    return s;
  }
  unsynced_ = false;
  // After a failed sync a later one proves nothing (its pages may be gone).
  if (!sync_failed_) synced_seq_ = std::max(synced_seq_, upto);
  return Status::OK();
}

Status Wal::Reset(uint64_t gen) {
  buf_.clear();
  file_offset_ = 0;
  gen_ = gen;
  seq_ = 0;
  synced_seq_ = 0;
  unsynced_ = false;
  sync_failed_ = false;
  // Only for the space: records left behind belong to an older generation,
  // and recovery stops at the first of them.
  return file_->Truncate(0);
}

}  // namespace vmstore::internal
