// vmstore serve: the NBD server on a pool until SIGTERM or SIGINT.
#include <memory>

#include "cli/commands.h"
#include "cli/served_commands.h"
#include "server/serve.h"
#include "util/log.h"

namespace vmstore::cli {

void AddServeCommand(CLI::App& app, Context* ctx) {
  auto* c = app.add_subcommand(
      "serve",
      "Serve the pool's disks (VM/DISK) and snapshots (VM/DISK@FULLNAME) over NBD until SIGTERM/SIGINT\n"
      "  example: vmstore --pool /srv/vmstore serve --listen 127.0.0.1:10809\n"
      "           qemu-img info nbd://127.0.0.1:10809/web/root");
  // Defaults from the config file (ConfigKeys), which the flags override.
  const Config& cfg = ctx->config;
  // A flag takes the same range or choices as its key in the file.
  auto range = [](const char* key) { return CLI::Range(ConfigKeyNamed(key).min, ConfigKeyNamed(key).max); };
  auto choices = [](const char* key) { return CLI::IsMember(ConfigKeyNamed(key).choices); };
  auto listen = std::make_shared<std::string>(cfg.String("serve.listen"));
  auto sock = std::make_shared<std::string>(cfg.String("serve.socket"));
  auto workers = std::make_shared<int>(static_cast<int>(cfg.Int("serve.workers")));
  auto allow = std::make_shared<std::vector<std::string>>(cfg.Strings("serve.allow"));
  c->add_option("--listen", *listen, "TCP HOST:PORT, loopback by default (\"\" for none) [serve.listen]");
  c->add_option("--socket", *sock, "Also listen on this Unix socket [serve.socket]");
  c->add_option("--workers", *workers, "Requests served at once per connection (default 4) [serve.workers]")
      ->check(range("serve.workers"));
  auto max_conns = std::make_shared<int>(static_cast<int>(cfg.Int("serve.max_connections")));
  auto max_client = std::make_shared<int>(static_cast<int>(cfg.Int("serve.max_client_connections")));
  c->add_option("--max-connections", *max_conns,
                "Connections open at once, in all (default 256) [serve.max_connections]")
      ->check(range("serve.max_connections"));
  c->add_option("--max-client-connections", *max_client,
                "Connections open at once from one client IP (or the Unix socket) (default 32) "
                "[serve.max_client_connections]")
      ->check(range("serve.max_client_connections"));
  auto tls_mode = std::make_shared<std::string>(cfg.String("serve.tls.mode"));
  auto tls_opts = std::make_shared<nbd::TlsOptions>();
  tls_opts->cert_file = cfg.String("serve.tls.cert");
  tls_opts->key_file = cfg.String("serve.tls.key");
  tls_opts->psk_file = cfg.String("serve.tls.psk");
  c->add_option("--tls", *tls_mode,
                "off | on (clients choose) | require (plaintext refused); default: on when credentials are given "
                "[serve.tls.mode]")
      ->check(choices("serve.tls.mode"));
  c->add_option("--tls-cert", tls_opts->cert_file, "PEM x509 server certificate (with --tls-key) [serve.tls.cert]");
  c->add_option("--tls-key", tls_opts->key_file, "PEM private key of --tls-cert [serve.tls.key]");
  c->add_option("--tls-psk", tls_opts->psk_file,
                "Pre-shared keys, one USERNAME:HEXKEY per line (as qemu's tls-creds-psk and psktool write) "
                "[serve.tls.psk]");
  auto http = std::make_shared<std::string>(cfg.String("serve.http.listen"));
  auto token_file = std::make_shared<std::string>(cfg.String("serve.http.token_file"));
  c->add_option("--http", *http,
                "Also serve the HTTP+JSON management API and GET /metrics on HOST:PORT (e.g. 127.0.0.1:8080) "
                "[serve.http.listen]");
  c->add_option("--http-token-file", *token_file,
                "The API's bearer token (mode 0600; created if missing). Default: POOL/http.token "
                "[serve.http.token_file]");
  auto policy_tick = std::make_shared<int>(static_cast<int>(cfg.Int("serve.policy_tick")));
  c->add_option("--policy-tick", *policy_tick,
                "Seconds between checks of the snapshot policies (vmstore policy; default 10) [serve.policy_tick]")
      ->check(range("serve.policy_tick"));
  c->add_option("--allow", *allow,
                "CLIENT=GLOB: the client (an IP, 'unix' or '*') may use the exports matching GLOB; repeatable. "
                "Without it every client may use every export [serve.allow]");
  auto log_level = std::make_shared<std::string>(cfg.String("log.level"));
  auto log_format = std::make_shared<std::string>(cfg.String("log.format"));
  auto log_file = std::make_shared<std::string>(cfg.String("log.file"));
  c->add_option("--log-level", *log_level, "trace | debug | info | warn | error | off (default info) [log.level]")
      ->check(choices("log.level"));
  c->add_option("--log-format", *log_format, "text | json (default text) [log.format]")->check(choices("log.format"));
  c->add_option("--log-file", *log_file, "Append the log to this file (default: standard error) [log.file]");
  c->callback(WithManager(ctx, [=](Manager& m) -> Status {
    server::ServeOptions o;
    ASSIGN_OR_RETURN(o.dir, ctx->Dir());
    ASSIGN_OR_RETURN(o.log.level, logging::ParseLevel(*log_level));
    ASSIGN_OR_RETURN(o.log.format, logging::ParseFormat(*log_format));
    o.log.file = *log_file;
    o.nbd.listen = *listen;
    o.nbd.unix_socket = *sock;
    o.nbd.workers_per_connection = *workers;
    o.nbd.max_connections = *max_conns;
    o.nbd.max_client_connections = *max_client;
    for (const std::string& a : *allow) {
      size_t eq = a.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == a.size()) {
        return InvalidArgument("--allow (serve.allow) '" + a + "' is not CLIENT=GLOB (e.g. 127.0.0.1='web/*')");
      }
      o.nbd.allow.emplace_back(a.substr(0, eq), a.substr(eq + 1));
    }
    bool have_creds = !tls_opts->cert_file.empty() || !tls_opts->key_file.empty() || !tls_opts->psk_file.empty();
    o.tls_mode = tls_mode->empty() ? (have_creds ? "on" : "off") : *tls_mode;
    if (o.tls_mode != "off" && !have_creds) {
      return InvalidArgument("--tls=" + o.tls_mode + " needs --tls-cert/--tls-key or --tls-psk");
    }
    if (o.tls_mode == "off" && have_creds) {
      return InvalidArgument("--tls=off with TLS credentials: drop the credentials or choose --tls=on|require");
    }
    o.tls = *tls_opts;
    o.http_listen = *http;
    o.http_token_file = *token_file;
    o.policy_tick_s = *policy_tick;
    o.config_origin = ctx->config.origin();
    const Config config = ctx->config;
    return server::Serve(m, o, [&m, dir = o.dir, config](server::Hooks* hooks) {
      return std::make_unique<ServedCommands>(dir, &m, hooks, config);
    });
  }));
}

}  // namespace vmstore::cli
