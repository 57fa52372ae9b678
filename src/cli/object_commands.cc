// vmstore sr | vm | disk | catalog.
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
    t.Add({d.vm, d.name, Human(d.size), Human(d.referenced), Human(d.exclusive), d.sr, std::to_string(d.device),
           d.clone_of.empty() ? "-" : d.clone_of});
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

// What a user of SR type `type` may use instead of our deduplication.
std::string DedupElsewhere(const std::string& type) {
  return type == "zfs" ? " (ZFS has its own: zfs set dedup=on DATASET)" : "";
}

// Refuses deduplication on an SR that cannot do it.
StatusOr<backend::Backend*> DedupBackend(Manager& m, const std::string& sr) {
  ASSIGN_OR_RETURN(backend::Backend * b, m.SrBackend(sr));
  if (b->caps().dedup) return b;
  return InvalidArgument("deduplication is a property of native SRs; SR " + sr + " is of type " + b->type() +
                         DedupElsewhere(b->type()));
}

// Space and deduplication of a native SR: logical = what the disks and clones
// hold as written (snapshots not counted), data = the bytes of distinct data
// blocks stored, ratio = logical / data.
StatusOr<json> NativeSpace(backend::Backend* b) {
  ASSIGN_OR_RETURN(PoolStats st, b->EngineStats());
  uint64_t logical = 0;
  ASSIGN_OR_RETURN(std::vector<backend::VolumeStat> volumes, b->List());
  for (const backend::VolumeStat& v : volumes) {
    if (v.read_only) continue;
    ASSIGN_OR_RETURN(backend::VolumeStat s, b->Stat(v.handle));
    logical += s.referenced;
  }
  const DedupStats& d = st.dedup_stats;
  return json{{"cluster_size", st.cluster_size},
              {"dedup", DedupModeName(st.dedup)},
              {"logical_bytes", logical},
              {"data_bytes", st.data_bytes},
              {"physical_bytes", st.physical_bytes},
              {"dedup_ratio", st.data_bytes ? static_cast<double>(logical) / static_cast<double>(st.data_bytes) : 1.0},
              {"index_memory_bytes", d.memory_bytes},
              {"index_hook_bytes", d.hook_bytes},
              {"index_file_bytes", d.file_bytes},
              {"hooks", d.hooks},
              {"cached_manifests", d.cached_manifests},
              {"lookups", d.lookups},
              {"candidates", d.candidates},
              {"hits", d.hits},
              {"hit_bytes", d.hit_bytes},
              {"verify_mismatches", d.verify_mismatches},
              {"manifest_loads", d.manifest_loads},
              {"load_failures", d.load_failures}};
}

void PrintNativeSpace(const json& j) {
  auto u = [&](const char* k) { return j[k].get<uint64_t>(); };
  Printf("cluster   %s\ndedup     %s\n", Human(u("cluster_size")).c_str(), j["dedup"].get<std::string>().c_str());
  Printf("logical   %s (disks and clones as written)\n", Human(u("logical_bytes")).c_str());
  Printf("data      %s stored (%s on disk with index, logs and metadata)\n", Human(u("data_bytes")).c_str(),
         Human(u("physical_bytes")).c_str());
  Printf("ratio     %.2f (logical / data)\n", j["dedup_ratio"].get<double>());
  if (j["dedup"] != "off" || u("index_file_bytes") > 0) {
    Printf("index     %s in memory (%" PRIu64 " hooks, %" PRIu64 " manifests loaded), %s on disk\n",
           Human(u("index_memory_bytes")).c_str(), u("hooks"), u("cached_manifests"),
           Human(u("index_file_bytes")).c_str());
    Printf("lookups   %" PRIu64 " clusters since the SR was opened, %" PRIu64 " shared (%s not written)\n",
           u("lookups"), u("hits"), Human(u("hit_bytes")).c_str());
  }
}

}  // namespace

void AddObjectCommands(CLI::App& app, Context* ctx) {
  // ---- sr
  auto* sr = app.add_subcommand("sr", "Storage repositories: where disks and snapshots are kept");
  sr->require_subcommand(1);
  {
    auto* c = sr->add_subcommand("create",
                                 "Create an SR\n  example: vmstore sr create fast --type native --path /ssd/vmstore");
    auto name = std::make_shared<std::string>();
    auto type = std::make_shared<std::string>("native");
    auto path = std::make_shared<std::string>();
    auto dataset = std::make_shared<std::string>();
    c->add_option("NAME", *name, "SR name")->required();
    c->add_option("--type", *type,
                  "SR type: native (the engine), reflink (raw images on XFS/btrfs/OCFS2, FICLONE snapshots), "
                  "btrfs (a subvolume per disk, subvolume snapshots) or zfs (a dataset per disk, zfs snapshots)");
    auto* p = c->add_option("--path", *path, "Where its data goes (default: POOL/srs/NAME; not for zfs)");
    c->add_option("--dataset", *dataset, "zfs: the existing, empty ZFS dataset to keep it in (POOL/PATH)")->excludes(p);
    auto dedup = std::make_shared<std::string>();
    c->add_option("--dedup", *dedup,
                  "native: deduplication off (default), on (a cluster with the SHA-256 of a stored one is shared) or "
                  "verify (the bytes are compared too)");
    c->callback(WithManager(ctx, [=](Manager& m) -> Status {
      DedupMode mode = DedupMode::kOff;
      if (!dedup->empty()) {
        ASSIGN_OR_RETURN(mode, ParseDedupMode(*dedup));
        if (*type != "native") {
          return InvalidArgument("--dedup is for native SRs" + DedupElsewhere(*type));
        }
      }
      if (!dataset->empty() && *type != "zfs") {
        return InvalidArgument("--dataset is for --type zfs; a " + *type + " SR takes --path");
      }
      if (*type == "zfs" && dataset->empty()) {
        return InvalidArgument("a zfs SR needs --dataset POOL/PATH (an existing, empty ZFS dataset)");
      }
      ASSIGN_OR_RETURN(SrInfo s, m.CreateSr(*name, *type, *type == "zfs" ? *dataset : *path));
      if (mode != DedupMode::kOff) {
        ASSIGN_OR_RETURN(backend::Backend * b, DedupBackend(m, s.name));
        RETURN_IF_ERROR(b->SetDedup(mode).WithContext("SR " + s.name + " was created; setting --dedup"));
      }
      if (ctx->json) {
        PrintJson(ToJson(s));
      } else {
        Printf("created SR %s (%s) at %s\n", s.name.c_str(), s.type.c_str(), s.location.c_str());
      }
      return Status::OK();
    }));
  }
  {
    auto* c = sr->add_subcommand("list", "List SRs\n  example: vmstore sr list");
    c->callback(WithManager(ctx, [=](Manager& m) -> Status {
      ASSIGN_OR_RETURN(auto srs, m.ListSrs());
      if (ctx->json) {
        json a = json::array();
        for (auto& s : srs) a.push_back(ToJson(s));
        PrintJson(a);
        return Status::OK();
      }
      Table t({"name", "type", "vdis", "location", "uuid"});
      for (auto& s : srs) t.Add({s.name, s.type, std::to_string(s.vdis), s.location, s.uuid});
      t.Print();
      return Status::OK();
    }));
  }
  {
    auto* c = sr->add_subcommand("show", "Show one SR\n  example: vmstore sr show default");
    auto name = std::make_shared<std::string>();
    c->add_option("NAME", *name, "SR name")->required();
    c->callback(WithManager(ctx, [=](Manager& m) -> Status {
      ASSIGN_OR_RETURN(SrInfo s, m.GetSr(*name));
      ASSIGN_OR_RETURN(backend::Backend * b, m.SrBackend(*name));
      const backend::Caps caps = b->caps();
      const std::vector<std::pair<const char*, bool>> flags = {
          {"clone", caps.can_clone},
          {"rollback_keeping_newer", caps.can_rollback_keeping_newer},
          {"trim", caps.can_trim},
          {"allocation_map", caps.allocation_map},
          {"atomic_multi_snapshot", caps.atomic_multi_snapshot},
          {"space_accounting", caps.space_accounting},
          {"exact_disk_exclusive", caps.exact_disk_exclusive}};
      json space;
      if (caps.engine_stats && caps.space_accounting) {
        ASSIGN_OR_RETURN(space, NativeSpace(b));
      }
      if (ctx->json) {
        json j = ToJson(s);
        for (auto& [k, v] : flags) j["capabilities"][k] = v;
        if (!space.is_null()) j["space"] = space;
        PrintJson(j);
      } else {
        Printf("name      %s\ntype      %s\nlocation  %s\nvdis      %llu\nuuid      %s\ncreated   %s\n", s.name.c_str(),
               s.type.c_str(), s.location.c_str(), static_cast<unsigned long long>(s.vdis), s.uuid.c_str(),
               IsoTime(s.created_ns).c_str());
        std::string yes, no;
        for (auto& [k, v] : flags) {
          std::string& list = v ? yes : no;
          list += (list.empty() ? "" : " ") + std::string(k);
        }
        Printf("can       %s\ncannot    %s\n", yes.c_str(), no.empty() ? "-" : no.c_str());
        if (!space.is_null()) PrintNativeSpace(space);
      }
      return Status::OK();
    }));
  }
  {
    auto* c = sr->add_subcommand("set",
                                 "Change an SR's settings; they apply to the writes that follow\n"
                                 "  example: vmstore sr set default --dedup on");
    auto name = std::make_shared<std::string>();
    auto dedup = std::make_shared<std::string>();
    c->add_option("NAME", *name, "SR name")->required();
    c->add_option("--dedup", *dedup,
                  "native: off (drops the fingerprint index; what is shared stays shared), on or verify")
        ->required();
    c->callback(WithManager(ctx, [=](Manager& m) -> Status {
      ASSIGN_OR_RETURN(DedupMode mode, ParseDedupMode(*dedup));
      ASSIGN_OR_RETURN(backend::Backend * b, DedupBackend(m, *name));
      RETURN_IF_ERROR(b->SetDedup(mode));
      if (ctx->json) {
        PrintJson({{"sr", *name}, {"dedup", DedupModeName(mode)}});
      } else {
        Printf("SR %s: dedup %s\n", name->c_str(), DedupModeName(mode));
      }
      return Status::OK();
    }));
  }
  {
    auto* c = sr->add_subcommand("delete", "Delete an SR that holds nothing\n  example: vmstore sr delete fast");
    auto name = std::make_shared<std::string>();
    c->add_option("NAME", *name, "SR name")->required();
    c->callback(WithManager(ctx, [=](Manager& m) -> Status {
      RETURN_IF_ERROR(m.DeleteSr(*name));
      if (!ctx->json) Printf("deleted SR %s\n", name->c_str());
      if (ctx->json) PrintJson({{"deleted", *name}});
      return Status::OK();
    }));
  }

  // ---- vm
  auto* vm = app.add_subcommand("vm", "Virtual machines");
  vm->require_subcommand(1);
  {
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
  {
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
  {
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
  {
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
  {
    auto* c = vm->add_subcommand("clone",
                                 "Create a VM whose disks are writable clones of a snapshot's disks (O(1))\n"
                                 "  example: vmstore vm clone golden@base_20140219T02:52:44 desktop-017");
    auto snap = std::make_shared<std::string>();
    auto name = std::make_shared<std::string>();
    c->add_option("VM@SNAPSHOT", *snap, "The snapshot, as VM@FULLNAME")->required();
    c->add_option("NEWVM", *name, "Name of the new VM")->required();
    c->callback(WithManager(ctx, [=](Manager& m) -> Status {
      ASSIGN_OR_RETURN(VmInfo v, m.CloneVm(*snap, *name));
      if (ctx->json) {
        PrintJson(ToJson(v));
      } else {
        Printf("cloned VM %s from %s (%zu disks)\n", v.name.c_str(), snap->c_str(), v.disks.size());
      }
      return Status::OK();
    }));
  }

  // ---- disk
  auto* disk = app.add_subcommand("disk", "Virtual disks (VDIs attached to VMs)");
  disk->require_subcommand(1);
  {
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
  {
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
  {
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
  {
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

  // ---- catalog
  auto* cat = app.add_subcommand("catalog", "The catalog's mapping records (<VM,VBD,VDI>, <SR,VDI>)");
  cat->require_subcommand(1);
  {
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
  {
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
}

}  // namespace vmstore::cli
