// vmstore diff | send | receive | import | export | property.
//
// import and export drive qemu-img against an NBD export of the disk - the
// running server's admin socket, or a private server started here - so every
// format qemu-img knows works and holes stay holes (NBD block status).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdlib>
#include <map>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "nbd/manager_exports.h"
#include "nbd/server.h"
#include "transfer/diff.h"
#include "transfer/refs.h"
#include "transfer/send_receive.h"
#include "util/subprocess.h"

namespace vmstore::cli {

using json = nlohmann::json;

namespace {

// What import/export reach the pool's disks through: the server's admin
// socket, or a private NBD server on the open Manager, on a socket in a
// fresh 0700 directory, stopped and removed on destruction.
class NbdEndpoint {
 public:
  static StatusOr<std::unique_ptr<NbdEndpoint>> Open(Context* ctx, Manager& m) {
    auto e = std::unique_ptr<NbdEndpoint>(new NbdEndpoint);
    if (ctx->hooks && !ctx->hooks->nbd_socket.empty()) {
      e->socket_ = ctx->hooks->nbd_socket;
      return e;
    }
    char tmpl[] = "/tmp/vmstore-xfer.XXXXXX";
    if (!::mkdtemp(tmpl)) return ErrnoStatus(errno, "mkdtemp /tmp/vmstore-xfer.XXXXXX");
    e->tmpdir_ = tmpl;
    e->socket_ = e->tmpdir_ + "/nbd.sock";
    e->exports_ = std::make_unique<nbd::ManagerExports>(&m);
    nbd::ServerOptions o;
    o.listen = "";
    o.admin_socket = e->socket_;
    e->server_ = std::make_unique<nbd::Server>(e->exports_.get(), o);
    RETURN_IF_ERROR(e->server_->Start());
    return e;
  }
  ~NbdEndpoint() {
    if (server_) server_->Stop();
    if (!tmpdir_.empty()) ::rmdir(tmpdir_.c_str());
  }
  std::string Uri(const std::string& export_name) const { return "nbd+unix:///" + export_name + "?socket=" + socket_; }

 private:
  NbdEndpoint() = default;
  std::string socket_, tmpdir_;
  std::unique_ptr<nbd::ManagerExports> exports_;
  std::unique_ptr<nbd::Server> server_;
};

// Runs qemu-img; on a terminal (`progress_fd`) with -p and its output shown.
Status QemuImg(std::vector<std::string> args, int progress_fd) {
  args.insert(args.begin(), "qemu-img");
  bool tty = ::isatty(progress_fd) == 1;
  if (tty) args.insert(args.begin() + 2, "-p");
  ASSIGN_OR_RETURN(CommandResult r, RunCommand(args, tty ? progress_fd : -1));
  if (r.exit_code != 0) {
    std::string cmd;
    for (const std::string& a : args) cmd += (cmd.empty() ? "" : " ") + a;
    return IOError(cmd + " failed (exit " + std::to_string(r.exit_code) + "): " + r.err);
  }
  return Status::OK();
}

// The formats `export` writes (qemu-img's names) and the file endings that pick them.
const std::map<std::string, std::string>& ExportFormats() {
  static const std::map<std::string, std::string> m = {{"raw", ".raw"},   {"qcow2", ".qcow2"}, {"vmdk", ".vmdk"},
                                                       {"vhdx", ".vhdx"}, {"vpc", ".vhd"},     {"vdi", ".vdi"},
                                                       {"qed", ".qed"}};
  return m;
}

StatusOr<std::string> ExportFormat(const std::string& flag, const std::string& file) {
  std::string names;
  for (auto& [f, ext] : ExportFormats()) {
    names += (names.empty() ? "" : ", ") + f;
    if (!flag.empty() && flag == f) return f;
    if (flag.empty() && file.size() > ext.size() && file.compare(file.size() - ext.size(), ext.size(), ext) == 0) {
      return f;
    }
  }
  if (flag.empty()) return std::string("raw");
  return InvalidArgument("--format " + flag + ": export writes " + names);
}

uint64_t AllocatedBytes(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_blocks) * 512 : 0;
}

Status DoImport(Context* ctx, Manager& m, const std::string& file_arg, const std::string& target,
                const std::string& format, const std::string& sr) {
  ASSIGN_OR_RETURN(auto vd, transfer::ParseDiskRef(target, ""));
  const std::string file = ctx->AbsPath(file_arg);
  std::vector<std::string> info = {"qemu-img", "info", "--output=json"};
  if (!format.empty()) info.insert(info.end(), {"-f", format});
  info.push_back(file);
  ASSIGN_OR_RETURN(CommandResult r, RunCommand(info));
  if (r.exit_code != 0) return InvalidArgument("cannot read " + file + ": " + r.err);
  json j = json::parse(r.out, nullptr, false);
  if (j.is_discarded() || !j.contains("virtual-size"))
    return Internal("qemu-img info gave no virtual size for " + file);
  const uint64_t vsize = j["virtual-size"].get<uint64_t>();
  const std::string fmt = j.value("format", format.empty() ? "raw" : format);
  if (vsize == 0) return InvalidArgument(file + " is empty (virtual size 0)");
  if (m.GetDisk(target).ok()) {
    return AlreadyExists("disk " + target + " exists; import makes a new disk (delete it or choose another name)");
  }
  bool created_vm = false;
  if (auto v = m.GetVm(vd.first); !v.ok()) {
    if (v.status().code() != Code::kNotFound) return v.status();
    RETURN_IF_ERROR(m.CreateVm(vd.first).status());
    created_vm = true;
  }
  const uint64_t size = (vsize + 511) / 512 * 512;
  auto undo = [&](Status s) {
    (void)m.DeleteDisk(target);
    if (created_vm) (void)m.DeleteVm(vd.first, true, false);
    return s;
  };
  if (auto d = m.CreateDisk(vd.first, vd.second, size, sr); !d.ok()) return undo(d.status());
  auto ep = NbdEndpoint::Open(ctx, m);
  if (!ep.ok()) return undo(ep.status());
  // The new disk reads as zeroes: qemu-img writes only what is not.
  Status s =
      QemuImg({"convert", "-n", "--target-is-zero", "-f", fmt, "-O", "raw", file, (*ep)->Uri(target)}, ctx->out_fd);
  ep->reset();
  if (!s.ok()) return undo(s);
  ASSIGN_OR_RETURN(DiskInfo d, m.GetDisk(target));
  if (ctx->json) {
    PrintJson({{"file", file}, {"format", fmt}, {"disk", ToJson(d)}, {"created_vm", created_vm}});
  } else {
    Printf("imported %s (%s, %s) into %s: %s stored\n", file.c_str(), fmt.c_str(), Human(vsize).c_str(), target.c_str(),
           Human(d.referenced).c_str());
  }
  return Status::OK();
}

Status DoExport(Context* ctx, Manager& m, const std::string& source, const std::string& file_arg,
                const std::string& format_flag, bool force) {
  if (source.find('/') == std::string::npos) return InvalidArgument("'" + source + "' is not VM/DISK[@SNAPSHOT]");
  ASSIGN_OR_RETURN(DiskRef ref, m.Resolve(source));
  const std::string file = ctx->AbsPath(file_arg);
  ASSIGN_OR_RETURN(std::string fmt, ExportFormat(format_flag, file));
  struct stat st;
  if (::stat(file.c_str(), &st) == 0) {
    if (!force) return AlreadyExists(file + " exists (--force replaces it)");
    if (!S_ISREG(st.st_mode)) return InvalidArgument(file + " is not a regular file");
  }
  ASSIGN_OR_RETURN(auto ep, NbdEndpoint::Open(ctx, m));
  std::vector<std::string> args = {"convert", "-f", "raw", "-O", fmt};
  // VHD rounds sizes to its disk geometry unless told not to.
  if (fmt == "vpc") args.insert(args.end(), {"-o", "force_size=on"});
  args.insert(args.end(), {ep->Uri(source), file});
  RETURN_IF_ERROR(QemuImg(args, ctx->out_fd));
  uint64_t allocated = AllocatedBytes(file);
  if (ctx->json) {
    PrintJson({{"source", source}, {"file", file}, {"format", fmt}, {"size", ref.size}, {"allocated", allocated}});
  } else {
    Printf("exported %s (%s) to %s (%s): %s allocated\n", source.c_str(), Human(ref.size).c_str(), file.c_str(),
           fmt.c_str(), Human(allocated).c_str());
  }
  return Status::OK();
}

const char* TypeName(ExtentType t) { return t == ExtentType::kData ? "data" : "zero"; }

Status DoDiff(Context* ctx, Manager& m, const std::string& from, std::string to) {
  ASSIGN_OR_RETURN(transfer::SnapRef base, transfer::ParseSnapRef(from, "diff"));
  to = to.empty() ? base.disk_ref() : transfer::OnDisk(to, base.disk_ref());
  ASSIGN_OR_RETURN(transfer::DiskDiff d, transfer::DiffDisks(m, from, to));
  const DiffResult& r = d.result;
  if (ctx->json) {
    json a = json::array();
    for (const Extent& e : r.changed)
      a.push_back({{"offset", e.offset}, {"length", e.length}, {"type", TypeName(e.type)}});
    PrintJson({{"from", from},
               {"to", to},
               {"method", d.method},
               {"from_size", r.from_size},
               {"to_size", r.to_size},
               {"changed_bytes", r.changed_bytes()},
               {"nodes_visited", r.nodes_visited},
               {"changed", a}});
    return Status::OK();
  }
  Table t({"offset", "length", "now"});
  for (const Extent& e : r.changed) t.Add({std::to_string(e.offset), std::to_string(e.length), TypeName(e.type)});
  if (!r.changed.empty()) t.Print();
  Printf("%s -> %s: %zu range%s, %s changed", from.c_str(), to.c_str(), r.changed.size(),
         r.changed.size() == 1 ? "" : "s", Human(r.changed_bytes()).c_str());
  if (r.from_size != r.to_size) Printf(", size %s -> %s", Human(r.from_size).c_str(), Human(r.to_size).c_str());
  if (d.method == "index") {
    Printf(" (from the block indexes: %" PRIu64 " index nodes read)\n", r.nodes_visited);
  } else {
    Printf(" (by reading and comparing both: this SR keeps no block index)\n");
  }
  return Status::OK();
}

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "write the stream");
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::OK();
}

Status DoSend(Context* ctx, Manager& m, const std::string& to, const std::string& from) {
  if (::isatty(ctx->out_fd) == 1) {
    return InvalidArgument("refusing to write a send stream to a terminal: redirect it (> FILE, or | vmstore receive)");
  }
  Progress progress(ctx->err_fd, "send");
  transfer::SendOptions o{to, from, [&](uint64_t d, uint64_t t) { progress.Update(d, t); }};
  ASSIGN_OR_RETURN(transfer::TransferStats st,
                   transfer::Send(m, o, [&](std::string_view piece) { return WriteAll(ctx->out_fd, piece); }));
  progress.Done();
  return Status::OK();
}

Status DoReceive(Context* ctx, Manager& m, const transfer::ReceiveOptions& base) {
  RETURN_IF_ERROR(server::CheckNotOpen(
      ctx->hooks, [&](const std::string& e) { return e == base.target; }, base.force, "receive into " + base.target));
  Progress progress(ctx->err_fd, "receive");
  transfer::ReceiveOptions o = base;
  o.progress = [&](uint64_t d, uint64_t t) { progress.Update(d, t); };
  transfer::StreamReader in([&](char* buf, size_t n) -> StatusOr<size_t> {
    for (;;) {
      ssize_t r = ::read(ctx->in_fd, buf, n);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return ErrnoStatus(errno, "read the stream");
      return static_cast<size_t>(r);
    }
  });
  ASSIGN_OR_RETURN(transfer::TransferStats st, transfer::Receive(m, o, in));
  progress.Done();
  if (ctx->json) {
    PrintJson({{"snapshot", st.snapshot},
               {"kind", st.method},
               {"records", st.records},
               {"data_bytes", st.data_bytes},
               {"zero_bytes", st.zero_bytes},
               {"stream_bytes", in.bytes_read()}});
  } else {
    Printf("received %s snapshot %s: %" PRIu64 " records, %s of data, %s zeroed\n", st.method.c_str(),
           st.snapshot.c_str(), st.records, Human(st.data_bytes).c_str(), Human(st.zero_bytes).c_str());
  }
  return Status::OK();
}

void AddDiff(CLI::App& app, Context* ctx) {
  auto* c = app.add_subcommand(
      "diff",
      "The ranges of a disk that changed between two of its snapshots (or a snapshot and the disk now),\n"
      "from the two block indexes: shared subtrees are skipped, so the cost follows the change\n"
      "  example: vmstore diff web/root@daily_20261101T00:00:00 @daily_20261102T00:00:00");
  auto from = std::make_shared<std::string>(), to = std::make_shared<std::string>();
  c->add_option("FROM", *from, "The older snapshot, VM/DISK@FULLNAME")->required();
  c->add_option("TO", *to, "The newer state: VM/DISK@FULLNAME, @FULLNAME (same disk), or VM/DISK (default: now)");
  c->callback(WithManager(ctx, [=](Manager& m) { return DoDiff(ctx, m, *from, *to); }));
}

void AddSend(CLI::App& app, Context* ctx) {
  auto* c = app.add_subcommand(
      "send",
      "Write a disk snapshot to stdout as a stream (docs/FORMAT.md): whole, or with --from only what changed\n"
      "since an older snapshot the receiver has\n"
      "  example: vmstore send web/root@daily_20261102T00:00:00 --from @daily_20261101T00:00:00 > web.inc");
  auto to = std::make_shared<std::string>(), from = std::make_shared<std::string>();
  c->add_option("SNAPSHOT", *to, "VM/DISK@FULLNAME")->required();
  c->add_option("--from", *from, "Base snapshot: @FULLNAME (same disk) or VM/DISK@FULLNAME (e.g. a clone's origin)");
  c->callback(WithManager(ctx, [=](Manager& m) { return DoSend(ctx, m, *to, *from); }));
}

void AddReceive(CLI::App& app, Context* ctx) {
  auto* c = app.add_subcommand(
      "receive",
      "Read a stream from stdin into a disk and snapshot it: a full stream makes a new disk (and VM), an\n"
      "incremental one applies to the disk that holds its base snapshot\n"
      "  example: vmstore receive backup/root < web.full");
  auto o = std::make_shared<transfer::ReceiveOptions>();
  c->add_option("DISK", o->target, "VM/DISK")->required();
  c->add_option("--sr", o->sr, "SR of a new disk (default: default)");
  c->add_flag("--force", o->force,
              "Roll the disk back to the stream's base when it changed since, and disconnect its NBD clients");
  c->callback(WithManager(ctx, [=](Manager& m) { return DoReceive(ctx, m, *o); }));
}

void AddImport(CLI::App& app, Context* ctx) {
  auto* c = app.add_subcommand(
      "import",
      "Copy a disk image of any format qemu-img reads (raw, qcow2, vmdk, vhdx, vpc, vdi, ...) into a new disk;\n"
      "holes stay holes\n"
      "  example: vmstore import debian.qcow2 web/root");
  auto file = std::make_shared<std::string>(), target = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>(), sr = std::make_shared<std::string>();
  c->add_option("FILE", *file, "The image")->required();
  c->add_option("DISK", *target, "VM/DISK to create (the VM too, if missing)")->required();
  c->add_option("--format", *format, "The image's format (default: detected by qemu-img)");
  c->add_option("--sr", *sr, "SR of the new disk (default: default)");
  c->callback(WithManager(ctx, [=](Manager& m) { return DoImport(ctx, m, *file, *target, *format, *sr); }));
}

void AddExport(CLI::App& app, Context* ctx) {
  auto* c = app.add_subcommand("export",
                               "Copy a disk or disk snapshot to an image file; holes stay holes\n"
                               "  example: vmstore export web/root@daily_20261102T00:00:00 web.qcow2");
  auto source = std::make_shared<std::string>(), file = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  c->add_option("SOURCE", *source, "VM/DISK or VM/DISK@FULLNAME")->required();
  c->add_option("FILE", *file, "The image to write")->required();
  c->add_option("--format", *format,
                "raw, qcow2, vmdk, vhdx, vpc (VHD), vdi or qed (default: from FILE's ending, else raw)");
  c->add_flag("--force", *force, "Replace FILE if it exists");
  c->callback(WithManager(ctx, [=](Manager& m) { return DoExport(ctx, m, *source, *file, *format, *force); }));
}

void AddProperty(CLI::App& app, Context* ctx) {
  auto* prop = app.add_subcommand("property", "Key/value properties of VMs, snapshots and disks");
  prop->require_subcommand(1);
  auto object = std::make_shared<std::string>(), key = std::make_shared<std::string>();
  auto value = std::make_shared<std::string>();
  auto* set = prop->add_subcommand("set", "Set a property\n  example: vmstore property set web owner alice");
  set->add_option("OBJECT", *object, "VM, VM@FULLNAME, VM/DISK or VM/DISK@FULLNAME")->required();
  set->add_option("KEY", *key, "1-64 of a-z 0-9 _ . : -")->required();
  set->add_option("VALUE", *value, "Up to 64 KiB")->required();
  set->callback(WithManager(ctx, [=](Manager& m) {
    if (value->empty()) return InvalidArgument("empty value: use 'vmstore property unset' to remove a key");
    return m.SetProperty(*object, *key, *value);
  }));
  auto* unset = prop->add_subcommand("unset", "Remove a property");
  unset->add_option("OBJECT", *object, "VM, VM@FULLNAME, VM/DISK or VM/DISK@FULLNAME")->required();
  unset->add_option("KEY", *key, "The key")->required();
  unset->callback(WithManager(ctx, [=](Manager& m) { return m.SetProperty(*object, *key, ""); }));
  auto* list = prop->add_subcommand("list", "List an object's properties");
  list->add_option("OBJECT", *object, "VM, VM@FULLNAME, VM/DISK or VM/DISK@FULLNAME")->required();
  list->callback(WithManager(ctx, [=](Manager& m) -> Status {
    ASSIGN_OR_RETURN(auto props, m.Properties(*object));
    if (ctx->json) return PrintJson(json(props)), Status::OK();
    Table t({"key", "value"});
    for (auto& [k, v] : props) t.Add({k, v});
    t.Print();
    return Status::OK();
  }));
}

}  // namespace

void AddTransferCommands(CLI::App& app, Context* ctx) {
  AddDiff(app, ctx);
  AddSend(app, ctx);
  AddReceive(app, ctx);
  AddImport(app, ctx);
  AddExport(app, ctx);
  AddProperty(app, ctx);
}

}  // namespace vmstore::cli
