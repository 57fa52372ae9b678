#include "nbd/request_budget.h"

#include <algorithm>

namespace vmstore::nbd {

RequestBudget::RequestBudget(uint64_t total, uint64_t per_client)
    : total_(total), per_client_(per_client == 0 || per_client > total ? total : per_client) {}

bool RequestBudget::Fits(const std::string& client, uint64_t bytes) const {
  if (total_ == 0) return true;
  if (in_use_ + bytes > total_) return false;
  auto it = by_client_.find(client);
  return (it == by_client_.end() ? 0 : it->second) + bytes <= per_client_;
}

uint64_t RequestBudget::Take(const std::string& client, uint64_t bytes) {
  if (bytes == 0) return 0;
  const uint64_t want = total_ == 0 ? bytes : std::min(bytes, per_client_);
  MutexLock l(&mu_);
  const uint64_t ticket = next_ticket_++;
  // May this request pass the older waiters? Only if the oldest one whose
  // client is within its share still fits after it.
  auto may_pass = [&] {
    mu_.AssertHeld();
    for (const auto& [t, w] : waiting_) {
      if (t >= ticket) break;
      auto it = by_client_.find(w.client);
      if ((it == by_client_.end() ? 0 : it->second) + w.bytes > per_client_) continue;  // waits for its own client
      return in_use_ + want + w.bytes <= total_;
    }
    return true;
  };
  bool waited = false;
  while (!(Fits(client, want) && (total_ == 0 || may_pass()))) {
    if (!waited) {
      waiting_.emplace(ticket, Waiter{client, want});
      ++waits_;
      waited = true;
    }
    cv_.Wait(&mu_);
  }
  if (waited) {
    waiting_.erase(ticket);
    cv_.NotifyAll();  // a younger waiter may pass now
  }
  in_use_ += want;
  by_client_[client] += want;
  peak_ = std::max(peak_, in_use_);
  return want;
}

void RequestBudget::Give(const std::string& client, uint64_t taken) {
  if (taken == 0) return;
  MutexLock l(&mu_);
  in_use_ -= taken;
  auto it = by_client_.find(client);
  if (it != by_client_.end() && (it->second -= taken) == 0) by_client_.erase(it);
  cv_.NotifyAll();
}

RequestBudget::Stats RequestBudget::stats() const {
  MutexLock l(&mu_);
  return {total_, in_use_, peak_, waits_};
}

}  // namespace vmstore::nbd
