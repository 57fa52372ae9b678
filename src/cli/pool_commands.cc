// vmstore init | fsck | scrub | demo.
#include <cinttypes>
#include <cstdio>
#include <filesystem>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "vmstore/backend.h"
#include "vmstore/pool.h"

namespace vmstore::cli {

using json = nlohmann::json;

namespace {

// Runs one SR's own check: offline for an SR on this host (a native
// engine's with garbage reported, not reclaimed); a cluster's SR through the
// Manager `m`, which opens it with the cluster's connections (and its lock).
Status CheckSr(Manager* m, const SrInfo& sr, bool structure, bool accept_log_loss, json* out, bool as_json,
               int* problems) {
  CheckReport r;
  if (sr.type == "cluster") {
    ASSIGN_OR_RETURN(backend::Backend * b, m->SrBackend(sr.name));
    RETURN_IF_ERROR(b->Check(structure, &r));
  } else {
    backend::OpenOptions o;
    o.reclaim_garbage = !structure;
    o.accept_log_loss = accept_log_loss;
    ASSIGN_OR_RETURN(auto b, backend::OpenBackend(sr.type, sr.location, o));
    RETURN_IF_ERROR(b->Check(structure, &r));
    RETURN_IF_ERROR(b->Close());
  }
  *problems += static_cast<int>(r.errors.size());
  if (as_json) {
    out->push_back({{"sr", sr.name},
                    {"volumes", r.volumes},
                    {"index_nodes", r.nodes},
                    {"data_blocks", r.data_blocks},
                    {"bytes_verified", r.bytes_verified},
                    {"garbage_bytes", r.garbage_bytes},
                    {"errors", r.errors}});
    return Status::OK();
  }
  Printf("SR %s (%s): %" PRIu64 " volumes, %" PRIu64 " index nodes, %" PRIu64 " data blocks, %s verified\n",
         sr.name.c_str(), sr.location.c_str(), r.volumes, r.nodes, r.data_blocks, Human(r.bytes_verified).c_str());
  if (structure && r.garbage_bytes) {
    Printf("  unreferenced space: %s (left by an interrupted checkpoint; reclaimed at next open)\n",
           Human(r.garbage_bytes).c_str());
  }
  for (auto& e : r.errors) Printf("  ERROR: %s\n", e.c_str());
  return Status::OK();
}

// What of a pool on this host other users may read or change (the
// directory, its files, its containers): VM data must be its owner's alone.
std::vector<std::string> OpenToOthers(const std::string& dir) {
  std::vector<std::string> out;
  auto check = [&](const std::filesystem::path& p) {
    std::error_code ec;
    const auto perms = std::filesystem::symlink_status(p, ec).permissions();
    if (ec) return;
    const auto others = perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all);
    if (others != std::filesystem::perms::none) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(perms & std::filesystem::perms::mask));
      out.push_back(p.string() + " (mode " + mode + ")");
    }
  };
  check(dir);
  for (const std::string sub : {"", "/containers"}) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir + sub, ec)) check(e.path());
  }
  return out;
}

// fsck (structure) or scrub: every SR's own check, then the catalog against
// the SRs.
int RunCheck(Context* ctx, bool structure, bool accept_log_loss = false) {
  if (ctx->shared) {
    // Online, through the server: each SR's own check on the open engine,
    // then the catalog against the SRs.
    ConsistencyReport cr;
    Status s = ctx->shared->Check(/*deep=*/true, &cr);
    if (!s.ok()) return Fail(s);
    if (ctx->json) {
      PrintJson({{"check", structure ? "fsck" : "scrub"},
                 {"online", true},
                 {"catalog", {{"vdis", cr.vdis}, {"volumes", cr.volumes}, {"errors", cr.errors}}},
                 {"clean", cr.clean()}});
    } else {
      Printf("online check (the pool is being served): %" PRIu64 " VDIs, %" PRIu64 " volumes\n", cr.vdis, cr.volumes);
      for (auto& e : cr.errors) Printf("  ERROR: %s\n", e.c_str());
      Printf(cr.clean() ? "clean\n" : "%zu problem(s) found\n", cr.errors.size());
    }
    return cr.clean() ? 0 : 2;
  }
  auto m = ctx->Open();
  if (!m.ok()) return Fail(m.status());
  auto srs = (*m)->ListSrs();
  if (!srs.ok()) return Fail(srs.status());
  // The SRs on this host are checked with the catalog closed (nothing else
  // has them open); a cluster's through the catalog's Manager.
  const bool cluster = !ctx->Etcd().empty();
  Status s;
  if (!cluster) {
    s = (*m)->Close();
    m->reset();
    if (!s.ok()) return Fail(s);
  }
  int problems = 0;
  json report = json::array();
  for (const SrInfo& sr : *srs) {
    s = CheckSr(m->get(), sr, structure, accept_log_loss, &report, ctx->json, &problems);
    if (!s.ok()) {
      ++problems;
      if (!ctx->json) Printf("SR %s: ERROR: %s\n", sr.name.c_str(), s.ToString().c_str());
      report.push_back({{"sr", sr.name}, {"errors", {s.ToString()}}});
    }
  }
  if (!cluster) m = ctx->Open();
  if (!m.ok()) return Fail(m.status());
  ConsistencyReport cr;
  s = (*m)->Check(false, &cr);
  if (!s.ok()) return Fail(s);
  problems += static_cast<int>(cr.errors.size());
  std::vector<std::string> open;  // a warning, not damage: the exit code is the check's
  if (!cluster) {
    auto dir = ctx->Dir();
    if (dir.ok()) open = OpenToOthers(*dir);
  }
  if (ctx->json) {
    PrintJson({{"check", structure ? "fsck" : "scrub"},
               {"srs", report},
               {"catalog", {{"vdis", cr.vdis}, {"volumes", cr.volumes}, {"errors", cr.errors}}},
               {"open_to_others", open},
               {"clean", problems == 0}});
  } else {
    for (const std::string& o : open) {
      Printf("WARNING: %s is open to other users: VM data must be its owner's alone (chmod -R go-rwx)\n", o.c_str());
    }
    Printf("catalog: %" PRIu64 " VDIs, %" PRIu64 " volumes in the SRs\n", cr.vdis, cr.volumes);
    for (auto& e : cr.errors) Printf("  ERROR: %s\n", e.c_str());
    if (problems) {
      Printf("%d problem(s) found\n", problems);
    } else {
      Printf("clean\n");
    }
  }
  (void)(*m)->Close();
  return problems ? 2 : 0;
}

void AddInit(CLI::App& app, Context* ctx) {
  auto* c = app.add_subcommand("init",
                               "Create a pool: a directory with the catalog and the default native SR\n"
                               "  example: vmstore --pool /srv/vmstore init --cluster-size 64K");
  auto cluster = std::make_shared<std::string>("64K");
  auto container = std::make_shared<std::string>("64M");
  c->add_option("--cluster-size", *cluster, "Cluster size, a power of two from 4K to 1M (default 64K)");
  c->add_option("--container-size", *container, "Data bytes per container file (default 64M)");
  auto dedup = std::make_shared<std::string>("off");
  c->add_option("--dedup", *dedup,
                "Deduplication of the default SR: off, on (clusters with the SHA-256 of a stored one are shared) "
                "or verify (the bytes are compared too); later: vmstore sr set default --dedup MODE");
  auto exist_ok = std::make_shared<bool>(false);
  c->add_flag("--exist-ok", *exist_ok,
              "Succeed without change when the directory already holds a pool (for service start-up)");
  c->callback([=] {
    auto run = [&]() -> Status {
      ASSIGN_OR_RETURN(std::string dir, ctx->Dir());
      std::error_code ec;
      if (*exist_ok && std::filesystem::exists(dir + "/catalog.db", ec)) {
        if (ctx->json) {
          PrintJson({{"pool", dir}, {"created", false}});
        } else {
          Printf("pool %s exists\n", dir.c_str());
        }
        return Status::OK();
      }
      ASSIGN_OR_RETURN(uint64_t cs, ParseSize(*cluster));
      ASSIGN_OR_RETURN(uint64_t ct, ParseSize(*container));
      if (cs > UINT32_MAX) return InvalidArgument("cluster size " + *cluster + " is too large");
      ManagerOptions o;
      o.cluster_size = static_cast<uint32_t>(cs);
      o.container_size = ct;
      ASSIGN_OR_RETURN(o.dedup, ParseDedupMode(*dedup));
      ASSIGN_OR_RETURN(auto m, Manager::Create(dir, o));
      RETURN_IF_ERROR(m->Close());
      if (ctx->json) {
        PrintJson({{"pool", dir}, {"cluster_size", cs}, {"container_size", ct}, {"dedup", *dedup}});
      } else {
        Printf("created pool %s (cluster size %s) with SR default\n", dir.c_str(), Human(cs).c_str());
      }
      return Status::OK();
    };
    Status s = run();
    ctx->rc = s.ok() ? 0 : Fail(s);
  });
}

// A demo VM with a disk, data and a snapshot, then the pool's state.
void AddDemo(CLI::App& app, Context* ctx) {
  auto* demo = app.add_subcommand("demo",
                                  "Create the pool if needed, then a demo VM with a disk, data and a snapshot, and\n"
                                  "print the state\n  example: vmstore --pool /tmp/demo-pool demo");
  auto size = std::make_shared<std::string>("1G");
  demo->add_option("--size", *size, "Demo disk size (default 1G)");
  demo->callback([=] {
    auto run = [&]() -> Status {
      ASSIGN_OR_RETURN(std::string dir, ctx->Dir());
      ASSIGN_OR_RETURN(uint64_t bytes, ParseSize(*size));
      std::unique_ptr<Manager> owned;
      if (!ctx->shared) {
        auto opened = Manager::Open(dir, ManagerOptions{});
        if (!opened.ok() && opened.status().code() == Code::kNotFound) opened = Manager::Create(dir, ManagerOptions{});
        ASSIGN_OR_RETURN(owned, std::move(opened));
      }
      Manager* m = ctx->shared ? ctx->shared : owned.get();
      std::string vm = "demo";
      for (int i = 2; m->GetVm(vm).ok(); ++i) vm = "demo-" + std::to_string(i);
      RETURN_IF_ERROR(m->CreateVm(vm).status());
      RETURN_IF_ERROR(m->CreateDisk(vm, "disk0", bytes, "").status());
      ASSIGN_OR_RETURN(DiskRef d, m->Resolve(vm + "/disk0"));
      ASSIGN_OR_RETURN(std::unique_ptr<backend::Device> disk, d.backend->OpenDevice(d.handle));
      // A "boot sector" and 4 MiB of data every 64 MiB, a snapshot, then new data.
      std::string block(1 << 20, '\0');
      for (size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>('A' + i % 26);
      for (uint64_t off = 0; off + block.size() <= bytes; off += 64ull << 20) {
        for (uint64_t k = 0; k < 4 && off + (k + 1) * block.size() <= bytes; ++k) {
          RETURN_IF_ERROR(disk->Write(off + k * block.size(), block, /*fua=*/false));
        }
      }
      RETURN_IF_ERROR(disk->Flush());
      ASSIGN_OR_RETURN(SnapshotInfo s, m->CreateSnapshot(vm, "demo_snapshot", ""));
      std::string hello = "hello from VMStore after the snapshot";
      RETURN_IF_ERROR(disk->Write(4096, hello, /*fua=*/true));
      ASSIGN_OR_RETURN(DiskRef sd, m->Resolve(vm + "/disk0@" + s.full_name));
      ASSIGN_OR_RETURN(std::unique_ptr<backend::Device> snap, sd.backend->OpenDevice(sd.handle));
      std::string a(hello.size(), '\0'), b(hello.size(), '\0');
      RETURN_IF_ERROR(disk->Read(4096, a));
      RETURN_IF_ERROR(snap->Read(4096, b));
      ASSIGN_OR_RETURN(auto map, disk->Map(0, std::min<uint64_t>(bytes, 256ull << 20)));
      ASSIGN_OR_RETURN(SnapshotInfo si, m->GetSnapshot(vm + "@" + s.full_name));
      auto kind = [](ExtentType t) {
        return t == ExtentType::kData ? "data" : t == ExtentType::kZero ? "zero" : "hole";
      };
      if (ctx->json) {
        json extents = json::array();
        for (const Extent& e : map)
          extents.push_back({{"offset", e.offset}, {"length", e.length}, {"type", kind(e.type)}});
        PrintJson({{"vm", vm},
                   {"disk", vm + "/disk0"},
                   {"size", bytes},
                   {"snapshot", ToJson(si)},
                   {"disk_at_4096", a},
                   {"snapshot_at_4096", b},
                   {"map_first_256MiB", extents}});
        return owned ? owned->Close() : Status::OK();
      }
      Printf("demo VM %s: disk %s/disk0 (%s), snapshot %s@%s\n", vm.c_str(), vm.c_str(), Human(bytes).c_str(),
             vm.c_str(), s.full_name.c_str());
      Printf("disk     @4096: %s\nsnapshot @4096: %.*s\n\n", a.c_str(), static_cast<int>(b.size()), b.c_str());
      Printf("allocation map of the first 256 MiB:\n");
      for (const Extent& e : map) {
        Printf("  %12" PRIu64 " %12" PRIu64 "  %s\n", e.offset, e.length, kind(e.type));
      }
      Printf("\nsnapshot %s: referenced %s, exclusive %s\n\n", si.full_name.c_str(), Human(si.referenced).c_str(),
             Human(si.exclusive).c_str());
      RETURN_IF_ERROR(PrintPoolStatus(*m, false, ctx->hooks));
      return owned ? owned->Close() : Status::OK();
    };
    Status s = run();
    ctx->rc = s.ok() ? 0 : Fail(s);
  });
}

}  // namespace

void AddPoolCommands(CLI::App& app, Context* ctx) {
  AddInit(app, ctx);
  auto accept = std::make_shared<bool>(false);
  auto* fsck =
      app.add_subcommand("fsck",
                         "Check a pool offline: every checksum, reference counts, overlaps, unreferenced "
                         "space, and\nthe catalog against the SRs\n  example: vmstore --pool /srv/vmstore fsck");
  fsck->add_flag("--accept-log-loss", *accept,
                 "Open a pool whose write-ahead log is damaged before records it says were durable, giving up\n"
                 "the flushed writes from the damage on (said, exit 2; the next fsck finds the pool clean)");
  fsck->callback([=] { ctx->rc = RunCheck(ctx, true, *accept); });
  app.add_subcommand("scrub",
                     "Read and verify every reachable block, and the catalog against the SRs\n"
                     "  example: vmstore --pool /srv/vmstore scrub")
      ->callback([=] { ctx->rc = RunCheck(ctx, false); });

  AddDemo(app, ctx);
}

}  // namespace vmstore::cli
