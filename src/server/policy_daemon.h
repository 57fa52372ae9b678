// PolicyDaemon: runs the snapshot policies (policy::PolicyRunner) on its own
// thread every `tick` seconds until Stop(), logging what each run did.
//
// Thread-safety: totals() may be called from any thread. Ownership: borrows
// the Manager, which must outlive it.
#pragma once

#include <chrono>
#include <thread>

#include "metrics/pool_metrics.h"
#include "policy/policy.h"
#include "util/mutex.h"
#include "vmstore/env.h"

namespace vmstore::server {

class PolicyDaemon {
 public:
  // Starts the thread; `env` gives the time of each run.
  PolicyDaemon(Manager* m, policy::PolicyRunner::Actions actions, int tick_s, Env* env);
  ~PolicyDaemon() { Stop(); }
  PolicyDaemon(const PolicyDaemon&) = delete;
  PolicyDaemon& operator=(const PolicyDaemon&) = delete;

  void Stop() EXCLUDES(mu_);
  metrics::PolicyTotals totals() const EXCLUDES(totals_mu_);

 private:
  void Loop() EXCLUDES(mu_);

  policy::PolicyRunner runner_;
  const std::chrono::seconds tick_;
  Env* const env_;
  Mutex mu_;
  CondVar cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  mutable Mutex totals_mu_;
  metrics::PolicyTotals totals_ GUARDED_BY(totals_mu_);
  std::thread thread_;  // last: starts once the rest is ready
};

}  // namespace vmstore::server
