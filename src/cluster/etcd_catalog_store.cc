#include "cluster/etcd_catalog_store.h"

#include <zlib.h>

#include "cluster/lock_keeper.h"
#include "util/coding.h"

namespace vmstore::cluster {
namespace {

// The stored value: magic, the image's length (u64 little-endian), deflate.
constexpr char kMagic[] = "VMSCAT1\n";
constexpr size_t kMagicLen = sizeof kMagic - 1;
constexpr uint64_t kMaxImage = uint64_t{1} << 30;

StatusOr<std::string> Pack(const std::string& image) {
  uLongf bound = compressBound(image.size());
  std::string out(kMagicLen + 8 + bound, '\0');
  std::memcpy(out.data(), kMagic, kMagicLen);
  internal::PutU64(out.data() + kMagicLen, image.size());
  int rc = compress2(reinterpret_cast<Bytef*>(out.data() + kMagicLen + 8), &bound,
                     reinterpret_cast<const Bytef*>(image.data()), image.size(), 6);
  if (rc != Z_OK) return Internal("deflating the catalog image failed (zlib " + std::to_string(rc) + ")");
  out.resize(kMagicLen + 8 + bound);
  return out;
}

StatusOr<std::string> Unpack(const std::string& value) {
  if (value.size() < kMagicLen + 8 || value.compare(0, kMagicLen, kMagic) != 0) {
    return Corruption("the catalog key in etcd does not hold a vmstore catalog image");
  }
  const uint64_t size = internal::GetU64(value.data() + kMagicLen);
  if (size > kMaxImage) return Corruption("the catalog image claims " + std::to_string(size) + " bytes");
  std::string out(size, '\0');
  uLongf got = size;
  int rc = uncompress(reinterpret_cast<Bytef*>(out.data()), &got,
                      reinterpret_cast<const Bytef*>(value.data() + kMagicLen + 8), value.size() - kMagicLen - 8);
  if (rc != Z_OK || got != size) return Corruption("the catalog image in etcd is damaged (inflate failed)");
  return out;
}

class LockGuard final : public CatalogStore::Guard {
 public:
  LockGuard(std::unique_ptr<WriterLock> lock, int ttl) : lock_(std::move(lock)), keeper_(lock_.get(), ttl) {}

 private:
  std::unique_ptr<WriterLock> lock_;
  LockKeeper keeper_;  // stops before the lock is released
};

class EtcdCatalogStore final : public CatalogStore {
 public:
  EtcdCatalogStore(Etcd* etcd, EtcdCatalogOptions o) : etcd_(etcd), opts_(std::move(o)) {}

  StatusOr<Image> Load(int64_t known) override {
    ASSIGN_OR_RETURN(auto kv, etcd_->Get(kCatalogImageKey));
    if (!kv) return Image{};
    if (known != 0 && kv->mod_revision == known) return Image{"", known};
    ASSIGN_OR_RETURN(std::string bytes, Unpack(kv->value));
    return Image{std::move(bytes), kv->mod_revision};
  }

  StatusOr<int64_t> Store(const std::string& bytes, int64_t expected) override {
    ASSIGN_OR_RETURN(std::string value, Pack(bytes));
    if (value.size() > opts_.max_image_bytes) {
      return NoSpace("the catalog image is " + std::to_string(value.size()) + " bytes deflated, over the " +
                     std::to_string(opts_.max_image_bytes) + " that fit one etcd request");
    }
    ASSIGN_OR_RETURN(int64_t rev, etcd_->CompareAndPut(kCatalogImageKey, expected, value));
    if (rev == 0) {
      return FailedPrecondition("another process changed the catalog at the same time (version " +
                                std::to_string(expected) + " is gone); nothing of this operation was saved");
    }
    return rev;
  }

  StatusOr<std::unique_ptr<CatalogStore::Guard>> Lock() override {
    ASSIGN_OR_RETURN(auto lock,
                     AcquireWaiting(etcd_, kCatalogLockKey, opts_.holder, opts_.lock_ttl_s, opts_.lock_wait));
    return std::unique_ptr<CatalogStore::Guard>(new LockGuard(std::move(lock), opts_.lock_ttl_s));
  }

  std::string Describe() const override { return "etcd " + opts_.endpoints; }

 private:
  Etcd* const etcd_;
  const EtcdCatalogOptions opts_;
};

}  // namespace

std::unique_ptr<CatalogStore> NewEtcdCatalogStore(Etcd* etcd, EtcdCatalogOptions options) {
  return std::make_unique<EtcdCatalogStore>(etcd, std::move(options));
}

}  // namespace vmstore::cluster
