// The vmstore command line. Exit codes: 0 ok, 1 user error, 2 internal or I/O
// error (including damage found by fsck / scrub).
#include <CLI/CLI.hpp>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "vmstore/pool.h"

using namespace vmstore;

namespace {

int ExitCode(const Status& s) {
  switch (s.code()) {
    case Code::kOk:
      return 0;
    case Code::kInvalidArgument:
    case Code::kNotFound:
    case Code::kAlreadyExists:
    case Code::kFailedPrecondition:
    case Code::kOutOfRange:
    case Code::kNotSupported:
      return 1;
    default:
      return 2;
  }
}

int Fail(const Status& s) {
  std::fprintf(stderr, "vmstore: %s\n", s.ToString().c_str());
  return ExitCode(s);
}

// "64K", "10G", "512" -> bytes (binary multiples).
StatusOr<uint64_t> ParseSize(const std::string& text) {
  if (text.empty()) return InvalidArgument("empty size");
  size_t pos = 0;
  unsigned long long v;
  try {
    v = std::stoull(text, &pos);
  } catch (...) {
    return InvalidArgument("size '" + text + "' is not a number (examples: 512, 64K, 10G)");
  }
  std::string suf = text.substr(pos);
  int shift = 0;
  if (suf == "" || suf == "B")
    shift = 0;
  else if (suf == "K" || suf == "k" || suf == "KiB")
    shift = 10;
  else if (suf == "M" || suf == "MiB")
    shift = 20;
  else if (suf == "G" || suf == "GiB")
    shift = 30;
  else if (suf == "T" || suf == "TiB")
    shift = 40;
  else
    return InvalidArgument("size '" + text + "' has an unknown suffix (use K, M, G or T)");
  if (shift && v > (UINT64_MAX >> shift)) return InvalidArgument("size '" + text + "' is too large");
  return uint64_t{v} << shift;
}

std::string Human(uint64_t b) {
  const char* u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double d = static_cast<double>(b);
  int i = 0;
  while (d >= 1024 && i < 4) {
    d /= 1024;
    ++i;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, i ? "%.1f %s" : "%.0f %s", d, u[i]);
  return buf;
}

std::string PoolDir(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* e = std::getenv("VMSTORE_POOL")) return e;
  return "";
}

int PrintStatus(Pool& pool) {
  auto st = pool.Stats();
  if (!st.ok()) return Fail(st.status());
  std::printf("cluster size   %s\ngeneration     %" PRIu64 "\nvolumes        %" PRIu64
              "\nlive data      %s\nphysical       %s\n",
              Human(st->cluster_size).c_str(), st->generation, st->volumes, Human(st->live_bytes).c_str(),
              Human(st->physical_bytes).c_str());
  std::printf("\n%-6s %-9s %-10s %-11s %-11s %-7s %s\n", "ID", "KIND", "SIZE", "REFERENCED", "EXCLUSIVE", "PARENT",
              "HEIGHT");
  for (const VolumeInfo& v : pool.ListVolumes()) {
    auto sp = pool.Space(v.id);
    if (!sp.ok()) return Fail(sp.status());
    std::printf("%-6" PRIu64 " %-9s %-10s %-11s %-11s %-7s %u\n", v.id, v.read_only ? "snapshot" : "volume",
                Human(v.size).c_str(), Human(sp->referenced).c_str(), Human(sp->exclusive).c_str(),
                v.parent ? std::to_string(v.parent).c_str() : "-", v.height);
  }
  return 0;
}

int RunCheck(const std::string& dir, bool structure) {
  PoolOptions o;
  o.reclaim_garbage = !structure;  // fsck reports garbage instead of silently reclaiming it
  auto pool = Pool::Open(dir, o);
  if (!pool.ok()) return Fail(pool.status());
  CheckReport r;
  Status s = (*pool)->Check(structure, &r);
  if (!s.ok()) return Fail(s);
  std::printf("%s %s: %" PRIu64 " volumes, %" PRIu64 " index nodes, %" PRIu64 " data blocks, %s verified\n",
              structure ? "fsck" : "scrub", dir.c_str(), r.volumes, r.nodes, r.data_blocks,
              Human(r.bytes_verified).c_str());
  if (structure && r.garbage_bytes) {
    std::printf("unreferenced space: %s (left by an interrupted checkpoint; reclaimed at next open)\n",
                Human(r.garbage_bytes).c_str());
  }
  for (auto& e : r.errors) std::printf("ERROR: %s\n", e.c_str());
  if (!r.clean()) {
    std::printf("%zu problem(s) found\n", r.errors.size());
    return 2;
  }
  std::printf("clean\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"VMStore: chain-free snapshots and clones for virtual-machine disks"};
  app.require_subcommand(1);
  std::string pool_flag;
  app.add_option("--pool", pool_flag, "Pool directory (default: $VMSTORE_POOL)");

  std::string cluster = "64K", container = "64M";
  auto* init =
      app.add_subcommand("init", "Create a pool\n  example: vmstore --pool /srv/vmstore init --cluster-size 64K");
  init->add_option("--cluster-size", cluster, "Cluster size, a power of two from 4K to 1M (default 64K)");
  init->add_option("--container-size", container, "Data bytes per container file (default 64M)");

  app.add_subcommand("fsck",
                     "Check a pool offline: every checksum, reference counts, overlaps, unreferenced space\n"
                     "  example: vmstore --pool /srv/vmstore fsck");
  app.add_subcommand("scrub", "Read and verify every reachable block\n  example: vmstore --pool /srv/vmstore scrub");
  app.add_subcommand("status", "Show the pool and its volumes\n  example: vmstore --pool /srv/vmstore status");
  auto* demo = app.add_subcommand("demo",
                                  "Create a pool if needed, write a demo disk, snapshot it, and print the state\n"
                                  "  example: vmstore --pool /tmp/demo-pool demo");
  std::string demo_size = "1G";
  demo->add_option("--size", demo_size, "Demo disk size (default 1G)");

  CLI11_PARSE(app, argc, argv);
  std::string dir = PoolDir(pool_flag);
  if (dir.empty()) return Fail(InvalidArgument("no pool given: pass --pool DIR or set VMSTORE_POOL"));

  if (init->parsed()) {
    PoolOptions o;
    auto cs = ParseSize(cluster);
    if (!cs.ok()) return Fail(cs.status());
    auto ct = ParseSize(container);
    if (!ct.ok()) return Fail(ct.status());
    if (*cs > UINT32_MAX) return Fail(InvalidArgument("cluster size " + cluster + " is too large"));
    o.cluster_size = static_cast<uint32_t>(*cs);
    o.container_size = *ct;
    auto pool = Pool::Create(dir, o);
    if (!pool.ok()) return Fail(pool.status());
    Status s = (*pool)->Close();
    if (!s.ok()) return Fail(s);
    std::printf("created pool %s (cluster size %s)\n", dir.c_str(), Human(o.cluster_size).c_str());
    return 0;
  }
  if (app.got_subcommand("fsck")) return RunCheck(dir, true);
  if (app.got_subcommand("scrub")) return RunCheck(dir, false);
  if (app.got_subcommand("status")) {
    auto pool = Pool::Open(dir, PoolOptions{});
    if (!pool.ok()) return Fail(pool.status());
    return PrintStatus(**pool);
  }
  if (demo->parsed()) {
    auto size = ParseSize(demo_size);
    if (!size.ok()) return Fail(size.status());
    auto pool = Pool::Open(dir, PoolOptions{});
    if (!pool.ok() && pool.status().code() == Code::kNotFound) pool = Pool::Create(dir, PoolOptions{});
    if (!pool.ok()) return Fail(pool.status());
    Pool& p = **pool;
    auto disk = p.CreateVolume(*size);
    if (!disk.ok()) return Fail(disk.status());
    // A "boot sector" and 4 MiB of data every 64 MiB, a snapshot, then new data.
    std::string block(1 << 20, '\0');
    for (size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>('A' + i % 26);
    for (uint64_t off = 0; off + block.size() <= *size; off += 64ull << 20) {
      for (int k = 0; k < 4 && off + (k + 1) * block.size() <= *size; ++k) {
        Status s = p.Write(*disk, off + k * block.size(), block);
        if (!s.ok()) return Fail(s);
      }
    }
    auto snap = p.Snapshot(*disk);
    if (!snap.ok()) return Fail(snap.status());
    std::string hello = "hello from VMStore after the snapshot";
    Status s = p.Write(*disk, 4096, hello);
    if (s.ok()) s = p.Flush();
    if (!s.ok()) return Fail(s);
    std::string a(hello.size(), '\0'), b(hello.size(), '\0');
    if (!(s = p.Read(*disk, 4096, a)).ok() || !(s = p.Read(*snap, 4096, b)).ok()) return Fail(s);
    std::printf("demo disk: volume %" PRIu64 " (%s), snapshot: volume %" PRIu64 "\n", *disk, Human(*size).c_str(),
                *snap);
    std::printf("disk     @4096: %s\nsnapshot @4096: %.*s\n\n", a.c_str(), static_cast<int>(b.size()), b.c_str());
    auto map = p.Map(*disk, 0, std::min<uint64_t>(*size, 256ull << 20));
    if (!map.ok()) return Fail(map.status());
    std::printf("allocation map of the first 256 MiB:\n");
    for (const Extent& e : *map) {
      std::printf("  %12" PRIu64 " %12" PRIu64 "  %s\n", e.offset, e.length,
                  e.type == ExtentType::kData   ? "data"
                  : e.type == ExtentType::kZero ? "zero"
                                                : "hole");
    }
    std::printf("\n");
    int rc = PrintStatus(p);
    if (rc) return rc;
    s = p.Close();
    return s.ok() ? 0 : Fail(s);
  }
  return 0;
}
