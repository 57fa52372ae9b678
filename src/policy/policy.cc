#include "policy/policy.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

namespace vmstore::policy {

using json = nlohmann::json;

namespace {

constexpr int64_t kMinInterval = 10;
constexpr int64_t kMaxInterval = 365 * 86400;
constexpr int kMaxKeep = 10000;

}  // namespace

StatusOr<Schedule> ParseSchedule(const std::string& text) {
  const std::string usage = "schedule '" + text +
                            "': use INTERVAL:KEEP, INTERVAL one of hourly, daily, weekly or N followed by s, m, h, "
                            "d, w (e.g. 15m:8 hourly:24 daily:7)";
  size_t colon = text.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return InvalidArgument(usage);
  Schedule s;
  s.label = text.substr(0, colon);
  const std::string keep = text.substr(colon + 1);
  if (!std::all_of(keep.begin(), keep.end(), ::isdigit) || keep.size() > 5) return InvalidArgument(usage);
  s.keep = std::stoi(keep);
  if (s.keep < 1 || s.keep > kMaxKeep) {
    return InvalidArgument("schedule '" + text + "': keep 1 to " + std::to_string(kMaxKeep) + " snapshots");
  }
  if (s.label == "hourly") {
    s.interval_s = 3600;
  } else if (s.label == "daily") {
    s.interval_s = 86400;
  } else if (s.label == "weekly") {
    s.interval_s = 7 * 86400;
  } else {
    const std::string num = s.label.substr(0, s.label.size() - 1);
    if (num.empty() || num.size() > 7 || !std::all_of(num.begin(), num.end(), ::isdigit)) {
      return InvalidArgument(usage);
    }
    int64_t n = std::stoll(num);
    switch (s.label.back()) {
      case 's':
        s.interval_s = n;
        break;
      case 'm':
        s.interval_s = n * 60;
        break;
      case 'h':
        s.interval_s = n * 3600;
        break;
      case 'd':
        s.interval_s = n * 86400;
        break;
      case 'w':
        s.interval_s = n * 7 * 86400;
        break;
      default:
        return InvalidArgument(usage);
    }
  }
  if (s.interval_s < kMinInterval || s.interval_s > kMaxInterval) {
    return InvalidArgument("schedule '" + text + "': the interval must be 10s to 365d");
  }
  return s;
}

std::string ScheduleText(const Schedule& s) { return s.label + ":" + std::to_string(s.keep); }

std::string PolicyJson(const Policy& p) {
  json a = json::array();
  for (const Schedule& s : p.schedules) {
    a.push_back({{"label", s.label}, {"interval_s", s.interval_s}, {"keep", s.keep}});
  }
  return json{{"version", 1}, {"schedules", a}}.dump();
}

StatusOr<Policy> ParsePolicyJson(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("version", 0) != 1 || !j.contains("schedules")) {
    return Corruption("snapshot policy property is not a version-1 policy: " + text.substr(0, 200));
  }
  Policy p;
  try {
    for (const auto& s : j.at("schedules")) {
      // Re-parsed from its text form, so a stored policy obeys the same limits.
      ASSIGN_OR_RETURN(Schedule sc,
                       ParseSchedule(s.at("label").get<std::string>() + ":" + std::to_string(s.at("keep").get<int>())));
      p.schedules.push_back(sc);
    }
  } catch (const json::exception& e) {
    return Corruption(std::string("snapshot policy property: ") + e.what());
  }
  return p;
}

StatusOr<Policy> GetPolicy(Manager& m, const std::string& vm) {
  ASSIGN_OR_RETURN(auto props, m.Properties(vm));
  auto it = props.find(kPolicyKey);
  if (it == props.end()) return Policy{};
  return ParsePolicyJson(it->second);
}

Status SetPolicy(Manager& m, const std::string& vm, const Policy& p) {
  for (size_t i = 0; i < p.schedules.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (p.schedules[i].label == p.schedules[j].label) {
        return InvalidArgument("schedule '" + p.schedules[i].label + "' given twice");
      }
    }
  }
  return m.SetProperty(vm, kPolicyKey, p.schedules.empty() ? "" : PolicyJson(p));
}

std::vector<const SnapshotInfo*> SnapshotsOf(const Schedule& s, const std::vector<SnapshotInfo>& snaps) {
  std::vector<const SnapshotInfo*> out;
  for (const SnapshotInfo& si : snaps) {
    if (si.name == s.SnapshotName()) out.push_back(&si);
  }
  return out;
}

PolicyRunner::PolicyRunner(Manager* m) : m_(m) {
  actions_.snapshot = [m](const std::string& vm, const std::string& name) { return m->CreateSnapshot(vm, name, ""); };
  actions_.remove = [m](const std::string& vm_at_full) { return m->DeleteSnapshot(vm_at_full, false, false); };
}

RunReport PolicyRunner::RunDue(int64_t now_ns) {
  RunReport r;
  auto vms = m_->ListVms(false);
  if (!vms.ok()) {
    r.errors.push_back("list VMs: " + vms.status().ToString());
    return r;
  }
  const int64_t now_s = now_ns / 1'000'000'000;
  for (const VmInfo& vm : *vms) {
    auto policy = GetPolicy(*m_, vm.name);
    if (!policy.ok()) {
      r.errors.push_back(vm.name + ": " + policy.status().ToString());
      continue;
    }
    // A VM without disks has nothing to snapshot yet (not an error each tick).
    if (policy->schedules.empty() || vm.disks.empty()) continue;
    // In a cluster a VM's policy runs on the gateway that holds its SRs (the
    // others see its space as unknown); taking them here would take the VM
    // from the gateway serving it.
    if (std::any_of(vm.disks.begin(), vm.disks.end(), [](const DiskInfo& d) { return !d.space_known; })) continue;
    auto snaps = m_->ListSnapshots(vm.name, false);
    if (!snaps.ok()) {
      r.errors.push_back(vm.name + ": " + snaps.status().ToString());
      continue;
    }
    for (const Schedule& s : policy->schedules) {
      std::vector<const SnapshotInfo*> held = SnapshotsOf(s, *snaps);
      std::vector<std::string> mine;  // oldest first
      for (const SnapshotInfo* si : held) mine.push_back(vm.name + "@" + si->full_name);
      // Due once per multiple of the interval (UTC): hourly at every hour.
      if (held.empty() || now_s >= s.NextDueS(held.back()->created_ns / 1'000'000'000)) {
        auto made = actions_.snapshot(vm.name, s.SnapshotName());
        if (!made.ok()) {
          r.errors.push_back(vm.name + " " + s.label + ": " + made.status().ToString());
          continue;
        }
        r.created.push_back(vm.name + "@" + made->full_name);
        mine.push_back(r.created.back());
      }
      for (size_t i = 0; i + s.keep < mine.size(); ++i) {
        auto del = actions_.remove(mine[i]);
        if (!del.ok()) {
          r.errors.push_back(mine[i] + ": " + del.status().ToString());
          continue;
        }
        r.deleted.push_back(mine[i]);
      }
    }
  }
  return r;
}

}  // namespace vmstore::policy
