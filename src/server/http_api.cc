#include "server/http_api.h"

#include <fcntl.h>
#include <gnutls/crypto.h>
#include <httplib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>

#include "server/http_gate.h"
#include "server/http_util.h"
#include "util/host_port.h"
#include "util/log.h"

namespace vmstore::server {

using json = nlohmann::json;

namespace {

bool SameToken(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;  // constant time in the token's content
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

HttpApi::HttpApi(Deps deps, std::string token)
    : deps_(deps), token_(std::move(token)), server_(std::make_unique<httplib::Server>()) {}

HttpApi::~HttpApi() { Stop(); }

StatusOr<std::string> HttpApi::LoadOrCreateToken(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    unsigned char raw[32];
    std::string hex;
    if (gnutls_rnd(GNUTLS_RND_KEY, raw, sizeof raw) != 0) {
      ::close(fd);
      return IOError("no random bytes for the HTTP token");
    }
    static const char kHex[] = "0123456789abcdef";
    for (unsigned char c : raw) hex += {kHex[c >> 4], kHex[c & 15]};
    std::string line = hex + "\n";
    bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) return ErrnoStatus(errno, "write " + path);
    return hex;
  }
  if (errno != EEXIST) return ErrnoStatus(errno, "create the HTTP token file " + path);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "stat " + path);
  if (st.st_mode & 077) {
    return InvalidArgument("the HTTP token file " + path + " is readable by others (chmod 600 it)");
  }
  std::ifstream f(path);
  std::string token;
  std::getline(f, token);
  if (!token.empty() && token.back() == '\r') token.pop_back();
  if (token.size() < 16) {
    return InvalidArgument("the HTTP token in " + path + " is shorter than 16 characters");
  }
  return token;
}

Status HttpApi::Start(const std::string& listen) {
  ASSIGN_OR_RETURN(internal::HostPort hp, internal::ParseHostPort(listen, "--http address"));
  (void)hp;  // checked here; the gate binds it
  Routes();
  server_->set_payload_max_length(1 << 20);
  server_->set_read_timeout(10, 0);
  // (to the gate's forwarder, which may itself wait up to its io_timeout for a slow client)
  server_->set_write_timeout(60, 0);
  // The library reads only whole requests from the gate (server/http_gate.h),
  // on a Unix socket in a directory of its own that only this user can enter.
  char dir[] = "/tmp/vmstore-http-XXXXXX";
  if (!::mkdtemp(dir)) return ErrnoStatus(errno, "make a private directory for the HTTP API");
  dir_ = dir;
  const std::string sock = dir_ + "/api.sock";
  HttpGateOptions go;
  go.upstream = sock;
  server_->new_task_queue = [n = go.forwarders] { return new httplib::ThreadPool(static_cast<size_t>(n)); };
  server_->set_address_family(AF_UNIX);
  if (!server_->bind_to_port(sock, 80)) return IOError("cannot listen on " + sock + " for the HTTP API");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  gate_ = std::make_unique<HttpGate>(go);
  Status s = gate_->Start(listen);
  if (!s.ok()) {
    Stop();
    if (s.code() == Code::kInvalidArgument) return s;
    return IOError("cannot listen on " + listen + " for HTTP (in use?): " + s.message());
  }
  port_ = gate_->port();
  return Status::OK();
}

void HttpApi::Stop() {
  if (gate_) gate_->Stop();
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
  if (!dir_.empty()) {
    ::unlink((dir_ + "/api.sock").c_str());
    ::rmdir(dir_.c_str());
    dir_.clear();
  }
}

void HttpApi::Routes() {
  httplib::Server& s = *server_;
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (req.method == "GET" && (req.path == "/" || req.path.rfind("/ui/", 0) == 0)) {
      return httplib::Server::HandlerResponse::Unhandled;  // the web console's files: no data, no token
    }
    std::string auth = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (auth.rfind(prefix, 0) != 0 || !SameToken(auth.substr(prefix.size()), token_)) {
      logging::Warn("http", "unauthorized request",
                    {{"client", req.get_header_value("X-Forwarded-For")},
                     {"method", req.method},
                     {"path", req.path},
                     {"token", auth.empty() ? "none" : "wrong"}});
      res.set_header("WWW-Authenticate", "Bearer");
      SendError(res, 401, "Unauthorized", "send Authorization: Bearer TOKEN (the token is in the server's token file)");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 404 && res.body.empty()) {
      SendError(res, 404, "NotFound", "no route " + req.method + " " + req.path + " (see GET /v1/status and the docs)");
    }
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    SendError(res, 500, "Internal", what);
  });
  AddServerRoutes();
  AddObjectRoutes();
}

}  // namespace vmstore::server
