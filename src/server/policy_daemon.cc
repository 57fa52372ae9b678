#include "server/policy_daemon.h"

#include "util/log.h"

namespace vmstore::server {

PolicyDaemon::PolicyDaemon(Manager* m, policy::PolicyRunner::Actions actions, int tick_s, Env* env)
    : runner_(m, std::move(actions)), tick_(tick_s), env_(env), thread_([this] { Loop(); }) {}

void PolicyDaemon::Stop() {
  {
    MutexLock l(&mu_);
    stop_ = true;
  }
  cv_.NotifyAll();
  if (thread_.joinable()) thread_.join();
}

metrics::PolicyTotals PolicyDaemon::totals() const {
  MutexLock l(&totals_mu_);
  return totals_;
}

void PolicyDaemon::Loop() {
  for (;;) {
    {
      MutexLock l(&mu_);
      if (stop_) return;
    }
    const int64_t now = env_->NowNanos();
    policy::RunReport r = runner_.RunDue(now);
    {
      MutexLock t(&totals_mu_);
      ++totals_.runs;
      totals_.created += r.created.size();
      totals_.deleted += r.deleted.size();
      totals_.errors += r.errors.size();
      auto& recent = totals_.recent;
      for (auto& s : r.created) recent.push_back({now, "created", s});
      for (auto& s : r.deleted) recent.push_back({now, "deleted", s});
      for (auto& s : r.errors) recent.push_back({now, "failed", s});
      if (recent.size() > metrics::PolicyTotals::kRecent) {
        recent.erase(recent.begin(), recent.end() - metrics::PolicyTotals::kRecent);
      }
    }
    for (auto& s : r.created) logging::Info("policy", "created", {{"snapshot", s}});
    for (auto& s : r.deleted) logging::Info("policy", "deleted", {{"snapshot", s}});
    for (auto& s : r.errors) logging::Warn("policy", "failed", {{"error", s}});
    MutexLock l(&mu_);
    const auto deadline = std::chrono::steady_clock::now() + tick_;
    while (!stop_ && std::chrono::steady_clock::now() < deadline) {
      cv_.WaitFor(&mu_, deadline - std::chrono::steady_clock::now());
    }
    if (stop_) return;
  }
}

}  // namespace vmstore::server
