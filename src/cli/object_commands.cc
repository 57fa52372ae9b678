// vmstore vm | disk | catalog (sr: sr_commands.cc).
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/cli_util.h"
#include "cli/commands.h"

namespace vmstore::cli {

using json = nlohmann::json;

namespace {

void PrintDisks(const std::vector<DiskInfo>& disks) {
  Table t({"vm", "disk", "size", "referenced", "exclusive", "sr", "device", "clone of"});
  for (const DiskInfo& d : disks) {
    const bool k = d.space_known;  // "?": the SR is held by another gateway
    t.Add({d.vm, d.name, Human(d.size), k ? Human(d.referenced) : "?", k ? Human(d.exclusive) : "?", d.sr,
           std::to_string(d.device), d.clone_of.empty() ? "-" : d.clone_of});
  }
  t.Print();
}

}  // namespace

void PrintDeleteReport(const DeleteReport& r, bool as_json) {
  if (as_json) return PrintJson(ToJson(r));
  const char* verb = r.dry_run ? "would remove" : "removed";
  for (const std::string& o : r.removed) Printf("%s %s\n", verb, o.c_str());
  for (const auto& d : r.deferred) {
    std::string by;
    for (const std::string& k : d.kept_by) by += (by.empty() ? "" : ", ") + k;
    Printf("%s %s: marked deleted, kept while its clones exist (kept by: %s)\n", r.dry_run ? "would defer" : "deferred",
           d.object.c_str(), by.c_str());
  }
  if (r.dry_run) Printf("dry run: nothing changed\n");
}

namespace {

void AddVmCreate(CLI::App* vm, Context* ctx) {
  auto* c = vm->add_subcommand("create", "Create a VM (then add disks)\n  example: vmstore vm create web");
  auto name = std::make_shared<std::string>();
  c->add_option("NAME", *name, "VM name: letters, digits, '_', '-', '.'")->required();
  c->callback(WithManager(ctx, [=](Manager& m) -> Status {
    ASSIGN_OR_RETURN(VmInfo v, m.CreateVm(*name));
    if (ctx->json) {
      PrintJson(ToJson(v));
    } else {
      Printf("created VM %s (%s)\n", v.name.c_str(), v.uuid.c_str());
    }
    return Status::OK();
  }));
}

void AddVmList(CLI::App* vm, Context* ctx) {
  auto* c = vm->add_subcommand("list", "List VMs\n  example: vmstore vm list --all");
  auto all = std::make_shared<bool>(false);
  c->add_flag("--all", *all, "Include VMs marked deleted (kept for their clones)");
  c->callback(WithManager(ctx, [=](Manager& m) -> Status {
    ASSIGN_OR_RETURN(auto vms, m.ListVms(*all));
    if (ctx->json) {
      json a = json::array();
      for (auto& v : vms) a.push_back(ToJson(v));
      PrintJson(a);
      return Status::OK();
    }
    Table t({"name", "disks", "snapshots", "state", "parent", "created", "uuid"});
    for (auto& v : vms) {
      t.Add({v.name, std::to_string(v.disks.size()), std::to_string(v.snapshots.size()),
             v.deleted ? "deleted" : "active", v.parent.empty() ? "-" : v.parent, IsoTime(v.created_ns), v.uuid});
    }
    t.Print();
    return Status::OK();
  }));
}

void AddVmShow(CLI::App* vm, Context* ctx) {
  auto* c = vm->add_subcommand("show", "Show a VM, its disks and snapshots\n  example: vmstore vm show web");
  auto name = std::make_shared<std::string>();
  c->add_option("VM", *name, "VM name or UUID")->required();
  c->callback(WithManager(ctx, [=](Manager& m) -> Status {
    ASSIGN_OR_RETURN(VmInfo v, m.GetVm(*name));
    if (ctx->json) {
      PrintJson(ToJson(v));
      return Status::OK();
    }
    Printf("name       %s%s\nuuid       %s\ncreated    %s\nparent     %s\nsnapshots  %zu\n\n", v.name.c_str(),
           v.deleted ? " (deleted)" : "", v.uuid.c_str(), IsoTime(v.created_ns).c_str(),
           v.parent.empty() ? "-" : v.parent.c_str(), v.snapshots.size());
    PrintDisks(v.disks);
    return Status::OK();
  }));
}

void AddVmDelete(CLI::App* vm, Context* ctx) {
  auto* c = vm->add_subcommand(
      "delete",
      "Delete a VM with its disks and snapshots; what clones depend on is kept, marked deleted, until they go\n"
      "  example: vmstore vm delete web --recursive --dry-run");
  auto name = std::make_shared<std::string>();
  auto rec = std::make_shared<bool>(false);
  auto dry = std::make_shared<bool>(false);
  c->add_option("VM", *name, "VM name or UUID")->required();
  auto force = std::make_shared<bool>(false);
  c->add_flag("--recursive,-r", *rec, "Also delete every VM cloned from its snapshots, and their dependants");
  c->add_flag("--dry-run,-n", *dry, "Only list what would be removed");
  c->add_flag("--force", *force, "Disconnect NBD clients of what goes first");
  c->callback(WithManager(ctx, [=](Manager& m) -> Status {
    ASSIGN_OR_RETURN(DeleteReport r, ctx->Ops(m).DeleteVm(*name, *rec, *dry, *force));
    PrintDeleteReport(r, ctx->json);
    return Status::OK();
  }));
}

void AddVmClone(CLI::App* vm, Context* ctx) {
  auto* c = vm->add_subcommand("clone",
                               "Create a VM whose disks are writable clones of a snapshot's disks (O(1))\n"
                               "  example: vmstore vm clone golden@base_20140219T02:52:44 desktop-017\n"
                               "  in a cluster, --sr SR puts the clone in another cluster SR (one another\n"
                               "  gateway serves), still sharing the snapshot's blocks");
  auto snap = std::make_shared<std::string>();
  auto name = std::make_shared<std::string>();
  auto sr = std::make_shared<std::string>();
  c->add_option("VM@SNAPSHOT", *snap, "The snapshot, as VM@FULLNAME")->required();
  c->add_option("NEWVM", *name, "Name of the new VM")->required();
  c->add_option("--sr", *sr, "SR of the clone's disks (default: each snapshot disk's own)");
  c->callback(WithManager(ctx, [=](Manager& m) -> Status {
    ASSIGN_OR_RETURN(VmInfo v, m.CloneVm(*snap, *name, *sr));
    if (ctx->json) {
      PrintJson(ToJson(v));
    } else {
      Printf("cloned VM %s from %s (%zu disks)\n", v.name.c_str(), snap->c_str(), v.disks.size());
    }
    return Status::OK();
  }));
}

void AddDiskCreate(CLI::App* disk, Context* ctx) {
  auto* c = disk->add_subcommand("create",
                                 "Create a disk and attach it to a VM\n"
                                 "  example: vmstore disk create web root --size 20G --sr default");
  auto vmn = std::make_shared<std::string>();
  auto dn = std::make_shared<std::string>();
  auto size = std::make_shared<std::string>();
  auto srn = std::make_shared<std::string>();
  c->add_option("VM", *vmn, "VM name")->required();
  c->add_option("DISK", *dn, "Disk name, unique in the VM")->required();
  c->add_option("--size", *size, "Size with K/M/G/T suffix, a multiple of 512")->required();
  c->add_option("--sr", *srn, "SR to keep it in (default: default)");
  c->callback(WithManager(ctx, [=](Manager& m) -> Status {
    ASSIGN_OR_RETURN(uint64_t bytes, ParseSize(*size));
    ASSIGN_OR_RETURN(DiskInfo d, m.CreateDisk(*vmn, *dn, bytes, *srn));
    if (ctx->json) {
      PrintJson(ToJson(d));
    } else {
      Printf("created disk %s/%s (%s) in SR %s\n", d.vm.c_str(), d.name.c_str(), Human(d.size).c_str(), d.sr.c_str());
    }
    return Status::OK();
  }));
}

void AddDiskList(CLI::App* disk, Context* ctx) {
  auto* c = disk->add_subcommand("list", "List disks, of one VM or all\n  example: vmstore disk list web");
  auto vmn = std::make_shared<std::string>();
  c->add_option("VM", *vmn, "VM name (default: every VM)");
  c->callback(WithManager(ctx, [=](Manager& m) -> Status {
    ASSIGN_OR_RETURN(auto disks, m.ListDisks(*vmn));
    if (ctx->json) {
      json a = json::array();
      for (auto& d : disks) a.push_back(ToJson(d));
      PrintJson(a);
    } else {
      PrintDisks(disks);
    }
    return Status::OK();
  }));
}

void AddDiskResize(CLI::App* disk, Context* ctx) {
  auto* c = disk->add_subcommand("resize",
                                 "Grow a disk, or shrink it when nothing is stored past the new end\n"
                                 "  example: vmstore disk resize web/root 40G");
  auto ref = std::make_shared<std::string>();
  auto size = std::make_shared<std::string>();
  c->add_option("VM/DISK", *ref, "The disk")->required();
  c->add_option("SIZE", *size, "New size with K/M/G/T suffix")->required();
  c->callback(WithManager(ctx, [=](Manager& m) -> Status {
    ASSIGN_OR_RETURN(uint64_t bytes, ParseSize(*size));
    ASSIGN_OR_RETURN(DiskInfo d, m.ResizeDisk(*ref, bytes));
    if (ctx->json) {
      PrintJson(ToJson(d));
    } else {
      Printf("resized %s to %s\n", ref->c_str(), Human(d.size).c_str());
    }
    return Status::OK();
  }));
}

void AddDiskDelete(CLI::App* disk, Context* ctx) {
  auto* c = disk->add_subcommand("delete",
                                 "Delete a disk (its snapshots stay with the VM's snapshots)\n"
                                 "  example: vmstore disk delete web/scratch");
  auto ref = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  c->add_option("VM/DISK", *ref, "The disk")->required();
  c->add_flag("--force", *force, "Disconnect its NBD clients first");
  c->callback(WithManager(ctx, [=](Manager& m) -> Status {
    RETURN_IF_ERROR(ctx->Ops(m).DeleteDisk(*ref, *force));
    if (ctx->json) {
      PrintJson({{"deleted", *ref}});
    } else {
      Printf("deleted disk %s\n", ref->c_str());
    }
    return Status::OK();
  }));
}

void AddCatExport(CLI::App* cat, Context* ctx) {
  auto* c = cat->add_subcommand("export", "Write the catalog as JSON\n  example: vmstore catalog export -o map.json");
  auto out = std::make_shared<std::string>();
  c->add_option("--output,-o", *out, "File to write (default: standard output)");
  c->callback(WithManager(ctx, [=](Manager& m) -> Status {
    ASSIGN_OR_RETURN(std::string text, m.ExportCatalog());
    if (out->empty()) {
      Printf("%s\n", text.c_str());
      return Status::OK();
    }
    std::ofstream f(*out);
    f << text << "\n";
    f.close();
    if (!f) return IOError("cannot write " + *out);
    std::fprintf(Err(), "wrote %s\n", out->c_str());
    return Status::OK();
  }));
}

void AddCatImport(CLI::App* cat, Context* ctx) {
  auto* c = cat->add_subcommand("import",
                                "Rebuild the catalog of a pool whose catalog is empty or lost from an export\n"
                                "  example: vmstore --pool /srv/vmstore catalog import map.json");
  auto in = std::make_shared<std::string>();
  c->add_option("FILE", *in, "An export written by 'catalog export'")->required();
  c->callback([=] {
    auto dir = ctx->Dir();
    if (!dir.ok()) {
      ctx->rc = Fail(dir.status());
      return;
    }
    std::ifstream f(*in);
    if (!f) {
      ctx->rc = Fail(NotFound("cannot read " + *in));
      return;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    Status s = ImportCatalog(*dir, ss.str(), ManagerOptions{});
    if (s.ok() && !ctx->json) Printf("imported the catalog into %s\n", dir->c_str());
    ctx->rc = s.ok() ? 0 : Fail(s);
  });
}

}  // namespace

void AddObjectCommands(CLI::App& app, Context* ctx) {
  AddSrCommands(app, ctx);

  // ---- vm
  auto* vm = app.add_subcommand("vm", "Virtual machines");
  vm->require_subcommand(1);
  AddVmCreate(vm, ctx);
  AddVmList(vm, ctx);
  AddVmShow(vm, ctx);
  AddVmDelete(vm, ctx);
  AddVmClone(vm, ctx);

  // ---- disk
  auto* disk = app.add_subcommand("disk", "Virtual disks (VDIs attached to VMs)");
  disk->require_subcommand(1);
  AddDiskCreate(disk, ctx);
  AddDiskList(disk, ctx);
  AddDiskResize(disk, ctx);
  AddDiskDelete(disk, ctx);

  // ---- catalog
  auto* cat = app.add_subcommand("catalog", "The catalog's mapping records (<VM,VBD,VDI>, <SR,VDI>)");
  cat->require_subcommand(1);
  AddCatExport(cat, ctx);
  AddCatImport(cat, ctx);
}

}  // namespace vmstore::cli
