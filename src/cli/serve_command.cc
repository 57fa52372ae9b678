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

namespace vmstore::cli {

namespace {

// Runs the snapshot policies on its own thread until Stop(), logging what
// each run did to stdout.
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
      for (auto& s : r.created) std::printf("policy: created %s\n", s.c_str());
      for (auto& s : r.deleted) std::printf("policy: deleted %s\n", s.c_str());
      for (auto& s : r.errors) std::printf("policy: error: %s\n", s.c_str());
      std::fflush(stdout);
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
  auto listen = std::make_shared<std::string>("127.0.0.1:10809");
  auto sock = std::make_shared<std::string>();
  auto workers = std::make_shared<int>(4);
  auto allow = std::make_shared<std::vector<std::string>>();
  c->add_option("--listen", *listen, "TCP HOST:PORT, loopback by default (\"\" for none)");
  c->add_option("--socket", *sock, "Also listen on this Unix socket");
  c->add_option("--workers", *workers, "Requests served at once per connection (default 4)")->check(CLI::Range(1, 64));
  auto max_conns = std::make_shared<int>(256);
  auto max_client = std::make_shared<int>(32);
  c->add_option("--max-connections", *max_conns, "Connections open at once, in all (default 256)")
      ->check(CLI::Range(1, 65536));
  c->add_option("--max-client-connections", *max_client,
                "Connections open at once from one client IP (or the Unix socket) (default 32)")
      ->check(CLI::Range(1, 65536));
  auto tls_mode = std::make_shared<std::string>();
  auto tls_opts = std::make_shared<nbd::TlsOptions>();
  c->add_option("--tls", *tls_mode,
                "off | on (clients choose) | require (plaintext refused); default: on when credentials are given")
      ->check(CLI::IsMember({"off", "on", "require"}));
  c->add_option("--tls-cert", tls_opts->cert_file, "PEM x509 server certificate (with --tls-key)");
  c->add_option("--tls-key", tls_opts->key_file, "PEM private key of --tls-cert");
  c->add_option("--tls-psk", tls_opts->psk_file,
                "Pre-shared keys, one USERNAME:HEXKEY per line (as qemu's tls-creds-psk and psktool write)");
  auto http = std::make_shared<std::string>();
  auto token_file = std::make_shared<std::string>();
  c->add_option("--http", *http, "Also serve the HTTP+JSON management API on HOST:PORT (e.g. 127.0.0.1:8080)");
  c->add_option("--http-token-file", *token_file,
                "The API's bearer token (mode 0600; created if missing). Default: POOL/http.token");
  auto policy_tick = std::make_shared<int>(10);
  c->add_option("--policy-tick", *policy_tick,
                "Seconds between checks of the snapshot policies (vmstore policy; default 10)")
      ->check(CLI::Range(1, 3600));
  c->add_option("--allow", *allow,
                "CLIENT=GLOB: the client (an IP, 'unix' or '*') may use the exports matching GLOB; repeatable. "
                "Without it every client may use every export");
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
        return InvalidArgument("--allow '" + a + "' is not CLIENT=GLOB (e.g. 127.0.0.1='web/*')");
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
    if (!listen->empty()) {
      std::string host = listen->substr(0, listen->rfind(':'));
      std::printf("serving %zu exports on nbd://%s:%d/VM/DISK[@SNAPSHOT]\n", list.size(), host.c_str(),
                  server.tcp_port());
    }
    if (!sock->empty()) std::printf("serving on nbd+unix:///VM/DISK?socket=%s\n", sock->c_str());
    if (api) {
      std::printf("HTTP API on http://%s:%d/v1/ (bearer token in %s)\n", http->substr(0, http->rfind(':')).c_str(),
                  api->port(), token_path.c_str());
    }
    if (tls) std::printf("TLS (%s) %s\n", tls->kinds().c_str(), o.tls_required ? "required" : "offered");
    std::fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    policies.Stop();
    if (api) api->Stop();
    control.Stop();
    server.Stop();
    auto st = server.stats();
    std::printf("stopped on signal %d: %llu connections, %llu requests, %llu errors\n", sig,
                static_cast<unsigned long long>(st.connections), static_cast<unsigned long long>(st.requests),
                static_cast<unsigned long long>(st.errors));
    return Status::OK();
  }));
}

}  // namespace vmstore::cli
