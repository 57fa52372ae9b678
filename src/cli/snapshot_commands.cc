// vmstore snapshot create | list | find | rollback | delete.
#include <cstdio>
#include <map>
#include <optional>

#include "catalog/naming.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "transfer/diff.h"

namespace vmstore::cli {

using json = nlohmann::json;

namespace {

void PrintSnapshots(const std::vector<SnapshotInfo>& snaps, bool as_json) {
  if (as_json) {
    json a = json::array();
    for (auto& s : snaps) a.push_back(ToJson(s));
    return PrintJson(a);
  }
  Table t({"snapshot", "created", "disks", "referenced", "exclusive", "state", "clones"});
  for (const SnapshotInfo& s : snaps) {
    std::string clones;
    for (auto& c : s.clones) clones += (clones.empty() ? "" : ",") + c;
    const bool k = s.space_known;  // "?": the SR is held by another gateway
    t.Add({s.full_name, IsoTime(s.created_ns), std::to_string(s.disks.size()), k ? Human(s.referenced) : "?",
           k ? Human(s.exclusive) : "?", s.deleted ? "deleted" : "active", clones.empty() ? "-" : clones});
  }
  t.Print();
}

void PrintTree(const TreeNode& n, const std::string& prefix, bool last, bool root) {
  std::string label = n.label + (n.is_vm && !root ? " (clone)" : "") + (n.deleted ? " [deleted]" : "");
  if (root) {
    Printf("%s\n", label.c_str());
  } else {
    Printf("%s%s%s\n", prefix.c_str(), last ? "`-- " : "|-- ", label.c_str());
  }
  std::string next = root ? "" : prefix + (last ? "    " : "|   ");
  for (size_t i = 0; i < n.children.size(); ++i) PrintTree(n.children[i], next, i + 1 == n.children.size(), false);
}

// "2014-02-19T02:52:44Z" or "20140219T02:52:44": the end of that second, so a
// snapshot taken during it counts as "at or before".
StatusOr<int64_t> ParseAt(const std::string& text) {
  auto secs = catalog::ParseTimeTag(text);
  if (!secs.ok()) {
    return InvalidArgument("time '" + text + "' is not YYYY-MM-DDTHH:MM:SS[Z] or YYYYMMDDTHH:MM:SS (UTC)");
  }
  constexpr int64_t kMaxSecs = INT64_MAX / 1000000000 - 1;
  if (*secs > kMaxSecs) return INT64_MAX;  // far future: the newest snapshot
  return *secs * 1000000000 + 999999999;
}

// Growth of a VM over time: for each snapshot, the bytes its disks changed
// since the snapshot before it (the first: the data it holds), from the block
// indexes (transfer::DiffDisks), and that per hour; then the disks now.
Status PrintGrowth(Manager& m, const std::string& vm_name, bool as_json) {
  ASSIGN_OR_RETURN(auto snaps, m.ListSnapshots(vm_name, false));
  ASSIGN_OR_RETURN(VmInfo vm, m.GetVm(vm_name));
  struct Point {
    std::string label;  // full name, or "(now)"
    int64_t at_ns;
    uint64_t written = 0;
    std::map<std::string, DiskRef> disks;  // disk name -> its state at this point, resolved once
  };
  std::vector<Point> points;
  for (const SnapshotInfo& s : snaps) {
    Point p{s.full_name, s.created_ns, 0, {}};
    for (const auto& d : s.disks) {
      ASSIGN_OR_RETURN(p.disks[d.name], m.Resolve(vm.name + "/" + d.name + "@" + s.full_name));
    }
    points.push_back(std::move(p));
  }
  Point now{"(now)", 0, 0, {}};
  for (const DiskInfo& d : vm.disks) {
    ASSIGN_OR_RETURN(now.disks[d.name], m.Resolve(vm.name + "/" + d.name));
  }
  points.push_back(std::move(now));
  for (size_t i = 0; i < points.size(); ++i) {
    for (const auto& [disk, ref] : points[i].disks) {
      const DiskRef* from = nullptr;
      if (i > 0) {
        auto it = points[i - 1].disks.find(disk);
        if (it != points[i - 1].disks.end()) from = &it->second;
      }
      ASSIGN_OR_RETURN(transfer::DiskDiff d, transfer::DiffResolved(from, ref));
      points[i].written += d.result.changed_bytes();
    }
  }
  json a = json::array();
  Table t({"snapshot", "created", "written", "per hour"});
  for (size_t i = 0; i < points.size(); ++i) {
    const Point& p = points[i];
    std::optional<double> per_hour;
    if (i > 0 && p.at_ns > points[i - 1].at_ns) {
      per_hour = static_cast<double>(p.written) * 3.6e12 / static_cast<double>(p.at_ns - points[i - 1].at_ns);
    }
    if (as_json) {
      a.push_back({{"snapshot", p.at_ns ? json(p.label) : json(nullptr)},
                   {"created_ns", p.at_ns ? json(p.at_ns) : json(nullptr)},
                   {"written", p.written},
                   {"written_per_hour", per_hour ? json(static_cast<uint64_t>(*per_hour)) : json(nullptr)}});
    } else {
      t.Add({p.label, p.at_ns ? IsoTime(p.at_ns) : "-", Human(p.written),
             per_hour ? Human(static_cast<uint64_t>(*per_hour)) : "-"});
    }
  }
  if (as_json) return PrintJson(a), Status::OK();
  t.Print();
  return Status::OK();
}

void AddSnapCreate(CLI::App* snap, Context* ctx) {
  auto* c = snap->add_subcommand(
      "create",
      "Snapshot every disk of a VM at one point (or one disk); the UTC time tag is appended\n"
      "  example: vmstore snapshot create web before_upgrade   ->  web@before_upgrade_20140219T02:52:44");
  auto vm = std::make_shared<std::string>();
  auto name = std::make_shared<std::string>();
  auto disk = std::make_shared<std::string>();
  c->add_option("VM", *vm, "VM name")->required();
  c->add_option("NAME", *name, "Letters, digits and underscores, 1-64 characters")->required();
  c->add_option("--disk", *disk, "Snapshot only this disk");
  c->callback(WithManager(ctx, [=](Manager& m) -> Status {
    ASSIGN_OR_RETURN(SnapshotInfo s, ctx->Ops(m).CreateSnapshot(*vm, *name, *disk));
    if (ctx->json) {
      PrintJson(ToJson(s));
    } else {
      Printf("created snapshot %s@%s (%zu disk%s)\n", s.vm.c_str(), s.full_name.c_str(), s.disks.size(),
             s.disks.size() == 1 ? "" : "s");
    }
    return Status::OK();
  }));
}

void AddSnapList(CLI::App* snap, Context* ctx) {
  auto* c = snap->add_subcommand("list",
                                 "List a VM's snapshots, oldest first, with their space\n"
                                 "  example: vmstore snapshot list web --tree");
  auto vm = std::make_shared<std::string>();
  auto tree = std::make_shared<bool>(false);
  auto all = std::make_shared<bool>(false);
  c->add_option("VM", *vm, "VM name or UUID")->required();
  c->add_flag("--tree", *tree, "Show the tree of snapshots and the VMs cloned from them");
  c->add_flag("--all", *all, "Include snapshots marked deleted (kept for their clones)");
  auto growth = std::make_shared<bool>(false);
  c->add_flag("--growth", *growth,
              "Per snapshot, the bytes written since the one before (from the block indexes) and per hour; "
              "last, what the disks changed since the newest snapshot");
  c->callback(WithManager(ctx, [=](Manager& m) -> Status {
    if (*growth) {
      if (*tree || *all) return InvalidArgument("--growth shows live snapshots in time order: drop --tree/--all");
      return PrintGrowth(m, *vm, ctx->json);
    }
    if (*tree) {
      ASSIGN_OR_RETURN(TreeNode t, m.SnapshotTree(*vm, *all));
      if (ctx->json) {
        PrintJson(ToJson(t));
      } else {
        PrintTree(t, "", true, true);
      }
      return Status::OK();
    }
    ASSIGN_OR_RETURN(auto snaps, m.ListSnapshots(*vm, *all));
    PrintSnapshots(snaps, ctx->json);
    return Status::OK();
  }));
}

void AddSnapFind(CLI::App* snap, Context* ctx) {
  auto* c =
      snap->add_subcommand("find",
                           "Find snapshots by binary search: by full name, the one at or before a time, or by prefix\n"
                           "  example: vmstore snapshot find web --at 2014-02-19T03:00:00Z");
  auto vm = std::make_shared<std::string>();
  auto full = std::make_shared<std::string>();
  auto at = std::make_shared<std::string>();
  auto prefix = std::make_shared<std::string>();
  c->add_option("VM", *vm, "VM name or UUID")->required();
  c->add_option("FULLNAME", *full, "Exact full name NAME_YYYYMMDDTHH:MM:SS");
  auto* at_opt = c->add_option("--at", *at, "UTC time: the newest snapshot at or before it");
  auto* pre_opt = c->add_option("--prefix", *prefix, "Every snapshot whose full name starts with this");
  c->callback(WithManager(ctx, [=](Manager& m) -> Status {
    SnapshotQuery q;
    q.full_name = *full;
    if (at_opt->count()) {
      ASSIGN_OR_RETURN(q.at_ns, ParseAt(*at));
    }
    if (pre_opt->count()) q.prefix = *prefix;
    ASSIGN_OR_RETURN(auto found, m.FindSnapshots(*vm, q));
    if (found.empty()) {
      std::string what = !full->empty()    ? "named " + *full
                         : at_opt->count() ? "at or before " + *at
                                           : "starting with '" + *prefix + "'";
      return NotFound("VM '" + *vm + "' has no snapshot " + what);
    }
    PrintSnapshots(found, ctx->json);
    return Status::OK();
  }));
}

void AddSnapRollback(CLI::App* snap, Context* ctx) {
  auto* c = snap->add_subcommand("rollback",
                                 "Roll every disk of the VM back to a snapshot; newer snapshots are kept\n"
                                 "  example: vmstore snapshot rollback web@before_upgrade_20140219T02:52:44");
  auto ref = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  c->add_option("VM@SNAPSHOT", *ref, "The snapshot, as VM@FULLNAME")->required();
  c->add_flag("--force", *force, "Disconnect NBD clients of the VM's disks first");
  c->callback(WithManager(ctx, [=](Manager& m) -> Status {
    RETURN_IF_ERROR(ctx->Ops(m).Rollback(*ref, *force));
    if (ctx->json) {
      PrintJson({{"rolled_back_to", *ref}});
    } else {
      Printf("rolled back to %s (newer snapshots kept)\n", ref->c_str());
    }
    return Status::OK();
  }));
}

void AddSnapDelete(CLI::App* snap, Context* ctx) {
  auto* c = snap->add_subcommand(
      "delete",
      "Delete a snapshot; if VMs were cloned from it, it is marked deleted and kept until they go\n"
      "  example: vmstore snapshot delete web@daily_20140219T02:52:44 --recursive --dry-run");
  auto ref = std::make_shared<std::string>();
  auto rec = std::make_shared<bool>(false);
  auto dry = std::make_shared<bool>(false);
  c->add_option("VM@SNAPSHOT", *ref, "The snapshot, as VM@FULLNAME")->required();
  auto force = std::make_shared<bool>(false);
  c->add_flag("--recursive,-r", *rec, "Also delete every VM cloned from it, and their dependants");
  c->add_flag("--dry-run,-n", *dry, "Only list what would be removed");
  c->add_flag("--force", *force, "Disconnect NBD clients of what goes first");
  c->callback(WithManager(ctx, [=](Manager& m) -> Status {
    ASSIGN_OR_RETURN(DeleteReport r, ctx->Ops(m).DeleteSnapshot(*ref, *rec, *dry, *force));
    PrintDeleteReport(r, ctx->json);
    return Status::OK();
  }));
}

}  // namespace

void AddSnapshotCommands(CLI::App& app, Context* ctx) {
  auto* snap = app.add_subcommand("snapshot", "Chain-free snapshots of VMs");
  snap->require_subcommand(1);
  AddSnapCreate(snap, ctx);
  AddSnapList(snap, ctx);
  AddSnapFind(snap, ctx);
  AddSnapRollback(snap, ctx);
  AddSnapDelete(snap, ctx);
}

}  // namespace vmstore::cli
