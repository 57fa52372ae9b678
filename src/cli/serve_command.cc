// vmstore serve: the NBD server on a pool until SIGTERM or SIGINT.
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "cli/commands.h"
#include "cli/control.h"
#include "cli/http_api.h"
#include "cli/served_commands.h"
#include "nbd/manager_exports.h"
#include "nbd/server.h"
#include "nbd/tls.h"
#include "util/log.h"

namespace vmstore::cli {

namespace {

// Runs the snapshot policies on its own thread until Stop(), logging what
// each run did.
class PolicyDaemon {
 public:
  PolicyDaemon(Manager* m, policy::PolicyRunner::Actions actions, int tick_s)
      : runner_(m, std::move(actions)), tick_(tick_s), thread_([this] { Loop(); }) {}
  ~PolicyDaemon() { Stop(); }
  void Stop() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  metrics::PolicyTotals totals() const {
    std::lock_guard<std::mutex> l(totals_mu_);
    return totals_;
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> l(mu_);
    while (!stop_) {
      l.unlock();
      policy::RunReport r = runner_.RunDue(Env::Default()->NowNanos());
      {
        std::lock_guard<std::mutex> t(totals_mu_);
        ++totals_.runs;
        totals_.created += r.created.size();
        totals_.deleted += r.deleted.size();
        totals_.errors += r.errors.size();
      }
      for (auto& s : r.created) logging::Info("policy", "created", {{"snapshot", s}});
      for (auto& s : r.deleted) logging::Info("policy", "deleted", {{"snapshot", s}});
      for (auto& s : r.errors) logging::Warn("policy", "failed", {{"error", s}});
      l.lock();
      cv_.wait_for(l, tick_, [this] { return stop_; });
    }
  }
  policy::PolicyRunner runner_;
  std::chrono::seconds tick_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  mutable std::mutex totals_mu_;
  metrics::PolicyTotals totals_;  // guarded by totals_mu_
  std::thread thread_;            // last: starts once the rest is ready
};

}  // namespace

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
    // glibc gives each thread that meets contention an arena of its own (up to
    // 8 per core), and the server's threads allocate cluster buffers that other
    // threads free: in the soak (8 clients, 36 threads) that held 776 MiB of RSS
    // against 472 MiB with one arena per core, at the same IOPS. MALLOC_ARENA_MAX
    // in the environment still wins.
    if (!std::getenv("MALLOC_ARENA_MAX")) {
      mallopt(M_ARENA_MAX, static_cast<int>(std::max(2u, std::thread::hardware_concurrency())));
    }
    // Block the signals first so every thread inherits the mask; sigwait below.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    logging::Options lo;
    ASSIGN_OR_RETURN(lo.level, logging::ParseLevel(*log_level));
    ASSIGN_OR_RETURN(lo.format, logging::ParseFormat(*log_format));
    lo.file = *log_file;
    RETURN_IF_ERROR(logging::Init(lo));
    nbd::ManagerExports exports(&m);
    nbd::ServerOptions o;
    o.listen = *listen;
    o.unix_socket = *sock;
    o.workers_per_connection = *workers;
    o.max_connections = *max_conns;
    o.max_client_connections = *max_client;
    for (const std::string& a : *allow) {
      size_t eq = a.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == a.size()) {
        return InvalidArgument("--allow (serve.allow) '" + a + "' is not CLIENT=GLOB (e.g. 127.0.0.1='web/*')");
      }
      o.allow.emplace_back(a.substr(0, eq), a.substr(eq + 1));
    }
    bool have_creds = !tls_opts->cert_file.empty() || !tls_opts->key_file.empty() || !tls_opts->psk_file.empty();
    std::string mode = tls_mode->empty() ? (have_creds ? "on" : "off") : *tls_mode;
    std::unique_ptr<nbd::TlsServer> tls;
    if (mode != "off") {
      if (!have_creds) return InvalidArgument("--tls=" + mode + " needs --tls-cert/--tls-key or --tls-psk");
      ASSIGN_OR_RETURN(tls, nbd::TlsServer::Create(*tls_opts));
      o.tls = tls.get();
      o.tls_required = mode == "require";
    } else if (have_creds) {
      return InvalidArgument("--tls=off with TLS credentials: drop the credentials or choose --tls=on|require");
    }
    ASSIGN_OR_RETURN(std::string dir, ctx->Dir());
    o.admin_socket = AdminSocketPath(dir);
    nbd::Server server(&exports, o);
    RETURN_IF_ERROR(server.Start());
    const int64_t started_ns = Env::Default()->NowNanos();
    std::atomic<PolicyDaemon*> policy_daemon{nullptr};  // set once it runs
    // The management API: other vmstore commands on this pool run here.
    ServeHooks hooks;
    hooks.open_exports = [&] { return server.OpenExports(); };
    hooks.disconnect = [&](const std::vector<std::string>& e) { server.Disconnect(e); };
    hooks.nbd_socket = o.admin_socket;
    hooks.config = ctx->config;
    hooks.quiesce = [&](const std::string& vm, const std::function<Status()>& fn) { return exports.Quiesce(vm, fn); };
    hooks.server_view = [&] {
      metrics::ServerView v;
      v.exports = &server.metrics();
      v.nbd = server.stats();
      v.started_ns = started_ns;
      if (PolicyDaemon* p = policy_daemon.load()) v.policy = p->totals();
      return v;
    };
    ServedCommands commands(dir, &m, &hooks);
    ControlServer control(&commands);
    RETURN_IF_ERROR(control.Start());
    std::unique_ptr<HttpApi> api;
    std::string token_path = token_file->empty() ? dir + "/http.token" : *token_file;
    if (!http->empty()) {
      ASSIGN_OR_RETURN(std::string token, HttpApi::LoadOrCreateToken(token_path));
      api = std::make_unique<HttpApi>(&commands, token);
      RETURN_IF_ERROR(api->Start(*http));
    }
    // The snapshot policies: what is due, every --policy-tick seconds.
    Context policy_ctx;
    policy_ctx.shared = &m;
    policy_ctx.shared_dir = dir;
    policy_ctx.hooks = &hooks;
    PolicyDaemon policies(&m, PolicyActions(&policy_ctx, &m), *policy_tick);
    policy_daemon = &policies;
    ASSIGN_OR_RETURN(auto list, exports.List());
    logging::Info("serve", "started",
                  {{"pool", dir},
                   {"config", ctx->config.origin()},
                   {"workers", *workers},
                   {"max_connections", *max_conns},
                   {"max_client_connections", *max_client},
                   {"allow_rules", static_cast<uint64_t>(o.allow.size())},
                   {"policy_tick", *policy_tick},
                   {"log_level", *log_level}});
    if (!listen->empty()) {
      std::string host = listen->substr(0, listen->rfind(':'));
      logging::Info("serve", "serving " + std::to_string(list.size()) + " exports on nbd://" + host + ":" +
                                 std::to_string(server.tcp_port()) + "/VM/DISK[@SNAPSHOT]");
    }
    if (!sock->empty()) logging::Info("serve", "serving on nbd+unix:///VM/DISK?socket=" + *sock);
    if (api) {
      logging::Info("serve", "HTTP API on http://" + http->substr(0, http->rfind(':')) + ":" +
                                 std::to_string(api->port()) + "/v1/ (bearer token in " + token_path + ")");
    }
    if (tls) {
      logging::Info("serve", "TLS (" + tls->kinds() + ") " + (o.tls_required ? "required" : "offered"));
    }
    int sig = 0;
    sigwait(&set, &sig);
    logging::Info("serve", "stopping", {{"signal", sig}});
    policies.Stop();
    if (api) api->Stop();
    control.Stop();
    server.Stop();
    auto st = server.stats();
    logging::Info("serve", "stopped on signal " + std::to_string(sig),
                  {{"connections", st.connections}, {"requests", st.requests}, {"errors", st.errors}});
    return Status::OK();
  }));
}

}  // namespace vmstore::cli
