// vmstore serve: the flags (defaults from the config file) turned into
// server::ServeOptions; the daemon itself is server::Serve.
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "cli/served_commands.h"
#include "gateway/cluster_view.h"
#include "server/serve.h"
#include "util/log.h"

namespace vmstore::cli {

namespace {

// The serve flags, each defaulting to its config key's value.
struct ServeFlags {
  std::string listen, sock, http, token_file, tls_mode, log_level, log_format, log_file;
  int workers = 0, max_conns = 0, max_client = 0, policy_tick = 0, handshake_timeout = 0, idle_timeout = 0;
  int64_t request_memory = 0;
  std::vector<std::string> allow;
  nbd::TlsOptions tls;
};

// An integer flag defaulting to its config key's value and taking the key's
// range; the help names the key.
template <typename T>
void IntFlag(CLI::App* c, const Config& cfg, const char* flag, const char* key, T* value, const std::string& help) {
  *value = static_cast<T>(cfg.Int(key));
  c->add_option(flag, *value, help + " [" + key + "]")
      ->check(CLI::Range(ConfigKeyNamed(key).min, ConfigKeyNamed(key).max));
}

void AddNbdFlags(CLI::App* c, const Config& cfg, ServeFlags* f) {
  f->listen = cfg.String("serve.listen");
  f->sock = cfg.String("serve.socket");
  f->allow = cfg.Strings("serve.allow");
  c->add_option("--listen", f->listen, "TCP HOST:PORT, loopback by default (\"\" for none) [serve.listen]");
  c->add_option("--socket", f->sock, "Also listen on this Unix socket [serve.socket]");
  IntFlag(c, cfg, "--workers", "serve.workers", &f->workers, "Requests served at once per connection (default 4)");
  IntFlag(c, cfg, "--max-connections", "serve.max_connections", &f->max_conns,
          "Connections open at once, in all (default 256)");
  IntFlag(c, cfg, "--max-client-connections", "serve.max_client_connections", &f->max_client,
          "Connections open at once from one client IP (or the Unix socket) (default 32)");
  IntFlag(c, cfg, "--handshake-timeout", "serve.handshake_timeout", &f->handshake_timeout,
          "Seconds a connection may take to choose an export, then it is closed (default 10)");
  IntFlag(c, cfg, "--idle-timeout", "serve.idle_timeout", &f->idle_timeout,
          "Seconds a connection with nothing in flight stays open; 0 = for ever (default)");
  IntFlag(c, cfg, "--request-memory", "serve.request_memory", &f->request_memory,
          "MiB of request and reply data held at once, in all; requests past it wait (default 256)");
}

void AddAccessFlags(CLI::App* c, const Config& cfg, ServeFlags* f) {
  // A flag takes the same choices as its key in the file.
  auto choices = [](const char* key) { return CLI::IsMember(ConfigKeyNamed(key).choices); };
  f->tls_mode = cfg.String("serve.tls.mode");
  f->tls.cert_file = cfg.String("serve.tls.cert");
  f->tls.key_file = cfg.String("serve.tls.key");
  f->tls.psk_file = cfg.String("serve.tls.psk");
  c->add_option("--tls", f->tls_mode,
                "off | on (clients choose) | require (plaintext refused); default: on when credentials are given "
                "[serve.tls.mode]")
      ->check(choices("serve.tls.mode"));
  c->add_option("--tls-cert", f->tls.cert_file, "PEM x509 server certificate (with --tls-key) [serve.tls.cert]");
  c->add_option("--tls-key", f->tls.key_file, "PEM private key of --tls-cert [serve.tls.key]");
  c->add_option("--tls-psk", f->tls.psk_file,
                "Pre-shared keys, one USERNAME:HEXKEY per line (as qemu's tls-creds-psk and psktool write) "
                "[serve.tls.psk]");
  f->http = cfg.String("serve.http.listen");
  f->token_file = cfg.String("serve.http.token_file");
  c->add_option("--http", f->http,
                "Also serve the HTTP+JSON management API and GET /metrics on HOST:PORT (e.g. 127.0.0.1:8080) "
                "[serve.http.listen]");
  c->add_option("--http-token-file", f->token_file,
                "The API's bearer token (mode 0600; created if missing). Default: POOL/http.token "
                "[serve.http.token_file]");
  IntFlag(c, cfg, "--policy-tick", "serve.policy_tick", &f->policy_tick,
          "Seconds between checks of the snapshot policies (vmstore policy; default 10)");
  c->add_option("--allow", f->allow,
                "CLIENT=GLOB: the client (an IP, 'unix' or '*') may use the exports matching GLOB; repeatable. "
                "Without it every client may use every export [serve.allow]");
  f->log_level = cfg.String("log.level");
  f->log_format = cfg.String("log.format");
  f->log_file = cfg.String("log.file");
  c->add_option("--log-level", f->log_level, "trace | debug | info | warn | error | off (default info) [log.level]")
      ->check(choices("log.level"));
  c->add_option("--log-format", f->log_format, "text | json (default text) [log.format]")->check(choices("log.format"));
  c->add_option("--log-file", f->log_file, "Append the log to this file (default: standard error) [log.file]");
}

// The daemon's options from the flags; InvalidArgument for a bad --allow or TLS choice.
StatusOr<server::ServeOptions> ToOptions(const ServeFlags& f, const Context& ctx) {
  server::ServeOptions o;
  ASSIGN_OR_RETURN(o.dir, ctx.StateDir());
  if (!ctx.shared && !ctx.Etcd().empty()) {  // a gateway's own directory: made here, private
    std::error_code ec;
    std::filesystem::create_directories(o.dir, ec);
    if (ec) return IOError("cannot make the gateway directory " + o.dir + ": " + ec.message());
    std::filesystem::permissions(o.dir, std::filesystem::perms::owner_all, ec);
  }
  ASSIGN_OR_RETURN(o.log.level, logging::ParseLevel(f.log_level));
  ASSIGN_OR_RETURN(o.log.format, logging::ParseFormat(f.log_format));
  o.log.file = f.log_file;
  o.nbd.listen = f.listen;
  o.nbd.unix_socket = f.sock;
  o.nbd.workers_per_connection = f.workers;
  o.nbd.max_connections = f.max_conns;
  o.nbd.max_client_connections = f.max_client;
  o.nbd.handshake_timeout = std::chrono::seconds(f.handshake_timeout);
  o.nbd.idle_timeout = std::chrono::seconds(f.idle_timeout);
  o.nbd.request_memory = static_cast<uint64_t>(f.request_memory) << 20;
  for (const std::string& a : f.allow) {
    size_t eq = a.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == a.size()) {
      return InvalidArgument("--allow (serve.allow) '" + a + "' is not CLIENT=GLOB (e.g. 127.0.0.1='web/*')");
    }
    o.nbd.allow.emplace_back(a.substr(0, eq), a.substr(eq + 1));
  }
  const bool have_creds = !f.tls.cert_file.empty() || !f.tls.key_file.empty() || !f.tls.psk_file.empty();
  o.tls_mode = f.tls_mode.empty() ? (have_creds ? "on" : "off") : f.tls_mode;
  if (o.tls_mode != "off" && !have_creds) {
    return InvalidArgument("--tls=" + o.tls_mode + " needs --tls-cert/--tls-key or --tls-psk");
  }
  if (o.tls_mode == "off" && have_creds) {
    return InvalidArgument("--tls=off with TLS credentials: drop the credentials or choose --tls=on|require");
  }
  o.tls = f.tls;
  o.http_listen = f.http;
  o.http_token_file = f.token_file;
  o.policy_tick_s = f.policy_tick;
  o.config_origin = ctx.config.origin();
  return o;
}

}  // namespace

void AddServeCommand(CLI::App& app, Context* ctx) {
  auto* c = app.add_subcommand(
      "serve",
      "Serve the pool's disks (VM/DISK) and snapshots (VM/DISK@FULLNAME) over NBD until SIGTERM/SIGINT\n"
      "  example: vmstore --pool /srv/vmstore serve --listen 127.0.0.1:10809\n"
      "           qemu-img info nbd://127.0.0.1:10809/web/root");
  auto flags = std::make_shared<ServeFlags>();
  AddNbdFlags(c, ctx->config, flags.get());
  AddAccessFlags(c, ctx->config, flags.get());
  c->callback(WithManager(ctx, [=](Manager& m) -> Status {
    ASSIGN_OR_RETURN(server::ServeOptions o, ToOptions(*flags, *ctx));
    // A gateway's directory holds its control socket: one gateway each (a
    // pool's server has the pool's own lock).
    std::unique_ptr<Env::Lock> gateway_lock;
    if (!ctx->shared && !ctx->Etcd().empty()) {
      auto l = Env::Default()->LockFile(o.dir + "/gateway.lock");
      if (!l.ok() && l.status().code() == Code::kFailedPrecondition) {
        return FailedPrecondition("gateway directory " + o.dir + " is in use by another vmstore process");
      }
      if (!l.ok()) return l.status();
      gateway_lock = std::move(l).value();
      o.cluster_status = gateway::CachedClusterStatus(ctx->Etcd(), 1000);
    }
    const Config config = ctx->config;
    return server::Serve(m, o, [&m, dir = o.dir, config](server::Hooks* hooks) {
      return std::make_unique<ServedCommands>(dir, &m, hooks, config);
    });
  }));
}

}  // namespace vmstore::cli
