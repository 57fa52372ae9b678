// vmstore policy set | show | clear | run: snapshot schedules with retention
// (src/policy/policy.h), run by `vmstore serve`.
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "policy/policy.h"

namespace vmstore::cli {

using json = nlohmann::json;

namespace {

// One VM's policy with, per schedule, its snapshots now and when it is next due.
Status ShowPolicy(Manager& m, const std::string& vm, bool as_json, json* out, Table* t) {
  ASSIGN_OR_RETURN(policy::Policy p, policy::GetPolicy(m, vm));
  if (p.schedules.empty()) return Status::OK();
  ASSIGN_OR_RETURN(auto snaps, m.ListSnapshots(vm, false));
  const int64_t now_s = Env::Default()->NowNanos() / 1'000'000'000;
  for (const policy::Schedule& s : p.schedules) {
    std::vector<const SnapshotInfo*> held = policy::SnapshotsOf(s, snaps);
    const size_t count = held.size();
    const int64_t newest_ns = count ? held.back()->created_ns : 0;
    int64_t next_s = count ? s.NextDueS(newest_ns / 1'000'000'000) : now_s;
    if (as_json) {
      out->push_back({{"vm", vm},
                      {"schedule", s.label},
                      {"interval_s", s.interval_s},
                      {"keep", s.keep},
                      {"snapshots", count},
                      {"newest_ns", count ? json(newest_ns) : json(nullptr)},
                      {"next_due_ns", next_s * 1'000'000'000}});
    } else {
      t->Add({vm, s.label, std::to_string(s.keep), std::to_string(count), count ? IsoTime(newest_ns) : "-",
              IsoTime(next_s * 1'000'000'000)});
    }
  }
  return Status::OK();
}

}  // namespace

void AddPolicyCommands(CLI::App& app, Context* ctx) {
  auto* pol = app.add_subcommand("policy", "Snapshot schedules with retention, run by 'vmstore serve'");
  pol->require_subcommand(1);
  auto vm = std::make_shared<std::string>();
  {
    auto* c = pol->add_subcommand(
        "set",
        "Set a VM's snapshot schedules (replacing any): INTERVAL:KEEP each, INTERVAL one of hourly, daily,\n"
        "weekly or N with s/m/h/d/w; snapshots are named auto_INTERVAL and taken at every multiple of the\n"
        "interval (UTC); the oldest past KEEP are deleted by the deletion rules (kept while cloned)\n"
        "  example: vmstore policy set web 15m:8 hourly:24 daily:7");
    auto specs = std::make_shared<std::vector<std::string>>();
    c->add_option("VM", *vm, "VM name or UUID")->required();
    c->add_option("SCHEDULE", *specs, "INTERVAL:KEEP, e.g. 15m:8 hourly:24 daily:7 weekly:4")->required();
    c->callback(WithManager(ctx, [=](Manager& m) -> Status {
      policy::Policy p;
      for (const std::string& s : *specs) {
        ASSIGN_OR_RETURN(policy::Schedule sc, policy::ParseSchedule(s));
        p.schedules.push_back(sc);
      }
      RETURN_IF_ERROR(policy::SetPolicy(m, *vm, p));
      std::string text;
      for (const auto& s : p.schedules) text += " " + policy::ScheduleText(s);
      if (!ctx->json) Printf("policy of %s:%s\n", vm->c_str(), text.c_str());
      return Status::OK();
    }));
  }
  {
    auto* c = pol->add_subcommand("show",
                                  "Show the schedules of a VM (or of every VM), their snapshots and when each is "
                                  "next due\n  example: vmstore policy show web");
    auto one = std::make_shared<std::string>();
    c->add_option("VM", *one, "VM name or UUID (default: every VM with a policy)");
    c->callback(WithManager(ctx, [=](Manager& m) -> Status {
      json a = json::array();
      Table t({"vm", "schedule", "keep", "snapshots", "newest", "next due"});
      std::vector<std::string> names;
      if (!one->empty()) {
        names.push_back(*one);
      } else {
        ASSIGN_OR_RETURN(auto vms, m.ListVms(false));
        for (const VmInfo& v : vms) names.push_back(v.name);
      }
      for (const std::string& n : names) RETURN_IF_ERROR(ShowPolicy(m, n, ctx->json, &a, &t));
      if (ctx->json) return PrintJson(a), Status::OK();
      t.Print();
      return Status::OK();
    }));
  }
  {
    auto* c = pol->add_subcommand("clear", "Remove a VM's schedules (its snapshots stay)");
    c->add_option("VM", *vm, "VM name or UUID")->required();
    c->callback(WithManager(ctx, [=](Manager& m) { return policy::SetPolicy(m, *vm, policy::Policy{}); }));
  }
  {
    auto* c = pol->add_subcommand("run",
                                  "Take and prune what is due now, once (the server does this every few seconds;\n"
                                  "without a server, run it from cron)\n  example: vmstore policy run");
    c->callback(WithManager(ctx, [=](Manager& m) -> Status {
      policy::PolicyRunner runner(&m, ctx->Ops(m).PolicyActions());
      policy::RunReport r = runner.RunDue(Env::Default()->NowNanos());
      if (ctx->json) {
        PrintJson({{"created", r.created}, {"deleted", r.deleted}, {"errors", r.errors}});
      } else {
        for (auto& s : r.created) Printf("created %s\n", s.c_str());
        for (auto& s : r.deleted) Printf("deleted %s\n", s.c_str());
        for (auto& s : r.errors) Printf("error: %s\n", s.c_str());
      }
      if (!r.errors.empty()) return IOError(std::to_string(r.errors.size()) + " policy steps failed");
      return Status::OK();
    }));
  }
}

}  // namespace vmstore::cli
