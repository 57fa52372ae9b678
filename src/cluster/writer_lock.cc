#include "cluster/writer_lock.h"

#include "util/steady_clock.h"

namespace vmstore::cluster {

WriterLock::WriterLock(Etcd* etcd, std::string key, int64_t lease, int ttl_s, uint64_t fence)
    : etcd_(etcd),
      key_(std::move(key)),
      lease_(lease),
      ttl_s_(ttl_s),
      fence_(fence),
      renewed_ns_(internal::SteadyNowNs()) {}

WriterLock::~WriterLock() {
  if (!lost_) (void)Release();
}

StatusOr<std::unique_ptr<WriterLock>> WriterLock::Acquire(Etcd* etcd, const std::string& key, const std::string& holder,
                                                          int ttl_seconds) {
  if (ttl_seconds < 2) return InvalidArgument("a writer lock's TTL must be at least 2 seconds");
  const int64_t start = internal::SteadyNowNs();
  ASSIGN_OR_RETURN(int64_t lease, etcd->GrantLease(ttl_seconds));
  auto won = etcd->CompareAndPut(key, 0, holder, lease);
  if (!won.ok() || !*won) {
    (void)etcd->Revoke(lease);
    if (!won.ok()) return won.status();
    auto kv = etcd->Get(key);
    const std::string who = kv.ok() && kv->has_value() ? (*kv)->value : "another gateway";
    return FailedPrecondition(key + " is held by " + who + " (it is released when that gateway stops, or " +
                              std::to_string(ttl_seconds) + " s after it dies)");
  }
  ASSIGN_OR_RETURN(auto kv, etcd->Get(key));
  if (!kv || kv->lease != lease) return Internal("the writer lock " + key + " vanished as it was taken");
  auto lock = std::unique_ptr<WriterLock>(
      new WriterLock(etcd, key, lease, ttl_seconds, static_cast<uint64_t>(kv->create_revision)));
  lock->renewed_ns_ = start;  // the lease started no later than this
  return lock;
}

Status WriterLock::Renew() {
  if (lost_) return NotFound("the writer lock " + key_ + " was lost");
  const int64_t start = internal::SteadyNowNs();
  auto ttl = etcd_->KeepAlive(lease_);
  if (ttl.ok()) {
    renewed_ns_ = start;
    return Status::OK();
  }
  if (ttl.status().code() == Code::kNotFound) lost_ = true;
  return ttl.status();
}

Status WriterLock::Release() {
  lost_ = true;
  return etcd_->Revoke(lease_);
}

bool WriterLock::held() const {
  if (lost_) return false;
  const int64_t margin_s = std::max<int64_t>(1, ttl_s_ / 3);
  return internal::SteadyNowNs() - renewed_ns_.load() < (ttl_s_ - margin_s) * int64_t{1000000000};
}

}  // namespace vmstore::cluster
