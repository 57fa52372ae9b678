#include "engine/dedup_file.h"

#include "util/coding.h"

namespace vmstore::internal {

namespace {
Status Damaged(const char* what, uint64_t at, const std::string& why) {
  return Corruption(std::string("dedup index: ") + what + " at " + std::to_string(at) + ": " + why);
}
}  // namespace

std::string EncodeBatch(uint64_t at, uint64_t generation, const std::vector<Manifest*>& manifests, int hook_bits,
                        std::vector<Hook>* hooks) {
  size_t first_hook = hooks->size();
  uint64_t nhooks = 0;
  for (const Manifest* m : manifests) {
    for (const DedupEntry& e : m->entries) nhooks += e.addr != 0 && IsHook(FingerprintKey(e.fp), hook_bits);
  }
  uint64_t pos = at + kBatchHeader + nhooks * kHookSize + 8;
  std::string body;
  for (Manifest* m : manifests) {
    m->offset = pos;
    std::string one;
    AppendU32(&one, kManifestMagic);
    AppendU32(&one, 0);  // count, set below
    AppendU64(&one, m->stream);
    uint32_t count = 0;
    for (const DedupEntry& e : m->entries) {
      if (e.addr == 0) continue;
      one.append(reinterpret_cast<const char*>(e.fp.data()), e.fp.size());
      AppendU64(&one, e.addr);
      AppendU64(&one, e.csum);
      ++count;
      uint64_t key = FingerprintKey(e.fp);
      if (IsHook(key, hook_bits)) hooks->push_back({key, pos});
    }
    PutU32(one.data() + 4, count);
    AppendU64(&one, Hash64(one.data(), one.size()));
    pos += one.size();
    body += one;
  }
  std::string out;
  AppendU32(&out, kBatchMagic);
  AppendU32(&out, 0);
  AppendU64(&out, generation);
  AppendU64(&out, pos - at);
  AppendU64(&out, nhooks);
  AppendU64(&out, manifests.size());
  for (size_t i = first_hook; i < hooks->size(); ++i) {
    AppendU64(&out, (*hooks)[i].key);
    AppendU64(&out, (*hooks)[i].manifest);
  }
  AppendU64(&out, Hash64(out.data(), out.size()));
  return out + body;
}

StatusOr<BatchHeader> ReadBatch(File* f, uint64_t at, uint64_t file_size, std::vector<Hook>* hooks) {
  if (at + kBatchHeader + 8 > file_size) return Damaged("batch", at, "cut short");
  char h[kBatchHeader];
  RETURN_IF_ERROR(f->ReadAt(at, sizeof(h), h));
  if (GetU32(h) != kBatchMagic) return Damaged("batch", at, "bad magic");
  BatchHeader b{GetU64(h + 8), GetU64(h + 16), GetU64(h + 24), GetU64(h + 32)};
  const uint64_t hook_bytes = b.hooks * kHookSize;
  if (b.hooks > file_size / kHookSize || b.length < kBatchHeader + hook_bytes + 8 || b.length > file_size - at) {
    return Damaged("batch", at, "cut short or bad lengths");
  }
  std::string buf(kBatchHeader + hook_bytes + 8, '\0');
  RETURN_IF_ERROR(f->ReadAt(at, buf.size(), buf.data()));
  if (Hash64(buf.data(), buf.size() - 8) != GetU64(buf.data() + buf.size() - 8)) {
    return Damaged("batch", at, "checksum mismatch");
  }
  for (uint64_t i = 0; i < b.hooks; ++i) {
    const char* p = buf.data() + kBatchHeader + i * kHookSize;
    hooks->push_back({GetU64(p), GetU64(p + 8)});
  }
  return b;
}

StatusOr<Manifest> ReadManifest(File* f, uint64_t offset, uint64_t file_size) {
  if (offset + kManifestHeader + 8 > file_size) return Damaged("manifest", offset, "past the end of the file");
  char h[kManifestHeader];
  RETURN_IF_ERROR(f->ReadAt(offset, sizeof(h), h));
  uint32_t count = GetU32(h + 4);
  if (GetU32(h) != kManifestMagic) return Damaged("manifest", offset, "bad magic");
  const uint64_t size = kManifestHeader + uint64_t{count} * kDedupEntrySize + 8;
  if (count > kMaxManifestEntries || size > file_size - offset) return Damaged("manifest", offset, "bad length");
  std::string buf(size, '\0');
  RETURN_IF_ERROR(f->ReadAt(offset, size, buf.data()));
  if (Hash64(buf.data(), size - 8) != GetU64(buf.data() + size - 8)) {
    return Damaged("manifest", offset, "checksum mismatch");
  }
  Manifest m;
  m.offset = offset;
  m.stream = GetU64(buf.data() + 8);
  m.entries.resize(count);
  for (uint32_t i = 0; i < count; ++i) {
    const char* p = buf.data() + kManifestHeader + size_t{i} * kDedupEntrySize;
    std::memcpy(m.entries[i].fp.data(), p, 32);
    m.entries[i].addr = GetU64(p + 32);
    m.entries[i].csum = GetU64(p + 40);
  }
  return m;
}

}  // namespace vmstore::internal
