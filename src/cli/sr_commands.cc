// vmstore sr: storage repositories (create, list, show, set, delete).
#include <cinttypes>
#include <cstdio>

#include "cli/cli_util.h"
#include "cli/commands.h"

namespace vmstore::cli {

using json = nlohmann::json;

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

void AddSrCreate(CLI::App* sr, Context* ctx) {
  auto* c =
      sr->add_subcommand("create", "Create an SR\n  example: vmstore sr create fast --type native --path /ssd/vmstore");
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

void AddSrList(CLI::App* sr, Context* ctx) {
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

void AddSrShow(CLI::App* sr, Context* ctx) {
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

void AddSrSet(CLI::App* sr, Context* ctx) {
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

void AddSrDelete(CLI::App* sr, Context* ctx) {
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

}  // namespace

void AddSrCommands(CLI::App& app, Context* ctx) {
  auto* sr = app.add_subcommand("sr", "Storage repositories: where disks and snapshots are kept");
  sr->require_subcommand(1);
  AddSrCreate(sr, ctx);
  AddSrList(sr, ctx);
  AddSrShow(sr, ctx);
  AddSrSet(sr, ctx);
  AddSrDelete(sr, ctx);
}

}  // namespace vmstore::cli
