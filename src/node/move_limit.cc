#include "node/move_limit.h"

namespace vmstore::node {

void MoveLimit::SetLimit(uint32_t n) {
  MutexLock l(&mu_);
  limit_ = n;
}

uint32_t MoveLimit::limit() const {
  MutexLock l(&mu_);
  return limit_;
}

Status MoveLimit::Admit(Direction dir, const std::string& object) {
  const auto now = std::chrono::steady_clock::now();
  MutexLock l(&mu_);
  auto& active = active_[dir];
  for (auto it = active.begin(); it != active.end();) {  // copies idle past the window ended
    it = now - it->second > idle_ ? active.erase(it) : std::next(it);
  }
  auto it = active.find(object);
  if (it == active.end() && limit_ != 0 && active.size() >= limit_) {
    ++stats_.refused;
    return FailedPrecondition(std::to_string(active.size()) + " copies " + (dir == kIn ? "in" : "out") +
                              " under way, the limit (vmstore cluster config --max-moves); the copy of " + object +
                              " waits");
  }
  active[object] = now;
  stats_.peak[dir] = std::max<uint64_t>(stats_.peak[dir], active.size());
  return Status::OK();
}

void MoveLimit::End(const std::string& object) {
  MutexLock l(&mu_);
  active_[kIn].erase(object);
  active_[kOut].erase(object);
}

MoveLimit::Stats MoveLimit::stats() const {
  MutexLock l(&mu_);
  return stats_;
}

}  // namespace vmstore::node
