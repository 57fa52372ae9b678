// Snapshot policies (the snapshot paper's future work): per VM, schedules such
// as "every 15 minutes, keep 8", each taking snapshots named after it
// ("auto_15m_20261124T10:15:00") at every multiple of its interval (UTC) and
// pruning the oldest of them past its count. Pruning goes through the
// deletion rules: a snapshot with clones is marked deleted and kept for them.
//
// A VM's policy is kept in its property "vmstore:policy" (JSON, FORMAT.md).
// `vmstore serve` runs RunDue every few seconds; `vmstore policy run --now`
// runs it once, at a given time (cron, tests).
//
// Thread-safety: PolicyRunner is not thread-safe (one daemon thread).
// Ownership: borrows the Manager. Errors: InvalidArgument for bad schedules;
// the Manager's.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "vmstore/manager.h"

namespace vmstore::policy {

struct Schedule {
  std::string label;  // "15m", "hourly", "daily", "weekly", or the interval as given ("90s", "6h")
  int64_t interval_s = 0;
  int keep = 0;  // snapshots of this schedule kept (1 .. 10000)
  std::string SnapshotName() const { return "auto_" + label; }
  // When (s since the epoch) the schedule is next due after a snapshot taken
  // at `taken_s`: the next multiple of the interval (hourly: the next hour).
  int64_t NextDueS(int64_t taken_s) const { return (taken_s / interval_s + 1) * interval_s; }
};

// The schedule's snapshots among a VM's (Manager::ListSnapshots: oldest first).
std::vector<const SnapshotInfo*> SnapshotsOf(const Schedule& s, const std::vector<SnapshotInfo>& snaps);

struct Policy {
  std::vector<Schedule> schedules;  // at most one per label
};

// "15m:8", "hourly:24", "daily:7", "weekly:4", "90s:3", "6h:4" -> Schedule.
// Intervals: Ns, Nm, Nh, Nd, Nw, or hourly / daily / weekly; 10 s .. 365 d.
StatusOr<Schedule> ParseSchedule(const std::string& text);
std::string ScheduleText(const Schedule& s);  // "15m:8"

std::string PolicyJson(const Policy& p);
StatusOr<Policy> ParsePolicyJson(const std::string& json);

inline constexpr char kPolicyKey[] = "vmstore:policy";

// The VM's policy; an empty one if it has none.
StatusOr<Policy> GetPolicy(Manager& m, const std::string& vm);
Status SetPolicy(Manager& m, const std::string& vm, const Policy& p);  // empty: cleared

// What a run did, for the log.
struct RunReport {
  std::vector<std::string> created;  // "VM@FULL"
  std::vector<std::string> deleted;  // removed, or marked deleted (kept for clones)
  std::vector<std::string> errors;   // one per failed step; the run goes on
};

class PolicyRunner {
 public:
  // How the runner snapshots and deletes; by default the Manager's own calls.
  // The server wraps `snapshot` so the VM's writes are held meanwhile.
  struct Actions {
    std::function<StatusOr<SnapshotInfo>(const std::string& vm, const std::string& name)> snapshot;
    std::function<StatusOr<DeleteReport>(const std::string& vm_at_full)> remove;
  };
  explicit PolicyRunner(Manager* m);
  PolicyRunner(Manager* m, Actions actions) : m_(m), actions_(std::move(actions)) {}

  // For every VM with a policy and every schedule of it: a snapshot when a
  // multiple of the interval has passed since its newest one (or there is
  // none), then the oldest beyond `keep` deleted. `now_ns`: the time of the
  // run (the Manager names the snapshot by its own clock).
  RunReport RunDue(int64_t now_ns);

 private:
  Manager* m_;
  Actions actions_;
};

}  // namespace vmstore::policy
