#include "cli/http_api.h"

#include <fcntl.h>
#include <gnutls/crypto.h>
#include <httplib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/served_commands.h"
#include "util/host_port.h"
#include "util/log.h"

namespace vmstore::cli {

using json = nlohmann::json;

namespace {

int HttpStatus(const Status& s) {
  switch (s.code()) {
    case Code::kInvalidArgument:
    case Code::kOutOfRange:
      return 400;
    case Code::kNotFound:
      return 404;
    case Code::kAlreadyExists:
    case Code::kFailedPrecondition:
      return 409;
    case Code::kNoSpace:
      return 507;
    case Code::kNotSupported:
      return 501;
    default:
      return 500;
  }
}

// The "code" field: the Status code's name as one identifier ("Not found" ->
// "NotFound", "I/O error" -> "IOError").
std::string ApiCode(Code c) {
  std::string out;
  bool upper = true;
  for (const char* p = CodeName(c); *p; ++p) {
    if (*p == ' ' || *p == '/') {
      upper = true;
    } else {
      out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(*p))) : *p;
      upper = false;
    }
  }
  return out;
}

void SendJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(2) + "\n", "application/json");
}

void SendError(httplib::Response& res, int status, const std::string& code, const std::string& message) {
  SendJson(res, status, {{"error", {{"code", code}, {"message", message}}}});
}

// Runs a command with --json and answers with its output or its error.
void Answer(ServedCommands* commands, std::vector<std::string> args, httplib::Response& res) {
  args.insert(args.begin(), "--json");
  ServedCommands::Result r = commands->Run(args);
  if (r.rc == 0) {
    json out = json::parse(r.out, nullptr, false);
    SendJson(res, 200, out.is_discarded() ? json{{"output", r.out}} : out);
    return;
  }
  if (!r.failure.ok()) {
    SendError(res, HttpStatus(r.failure), ApiCode(r.failure.code()), r.failure.message());
  } else {  // a usage error found by the command-line parser
    std::string msg = r.err;
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    SendError(res, 400, "InvalidArgument", msg);
  }
}

// The request's JSON object body; nullopt (and the answer sent) if it is not one.
std::optional<json> Body(const httplib::Request& req, httplib::Response& res) {
  json b = json::parse(req.body.empty() ? "{}" : req.body, nullptr, false);
  if (b.is_discarded() || !b.is_object()) {
    SendError(res, 400, "InvalidArgument", "the request body is not a JSON object");
    return std::nullopt;
  }
  return b;
}

// A string field of the body; nullopt (and the answer sent) if missing.
std::optional<std::string> Field(const json& b, const char* name, httplib::Response& res, bool required = true) {
  if (!b.contains(name)) {
    if (required) SendError(res, 400, "InvalidArgument", std::string("missing field \"") + name + "\"");
    return required ? std::nullopt : std::optional<std::string>("");
  }
  if (b[name].is_string()) return b[name].get<std::string>();
  if (b[name].is_number_unsigned()) return std::to_string(b[name].get<uint64_t>());
  SendError(res, 400, "InvalidArgument", std::string("field \"") + name + "\" must be a string");
  return std::nullopt;
}

bool Flag(const httplib::Request& req, const char* name) {
  if (!req.has_param(name)) return false;
  std::string v = req.get_param_value(name);
  return v == "1" || v == "true" || v == "yes";
}

// Query flags (e.g. dry_run=1) to options (--dry-run) appended to `args`.
void AddFlags(const httplib::Request& req, std::initializer_list<const char*> names, std::vector<std::string>* args) {
  for (const char* n : names) {
    if (!Flag(req, n)) continue;
    std::string opt = std::string("--") + n;
    std::replace(opt.begin(), opt.end(), '_', '-');
    args->push_back(opt);
  }
}

bool SameToken(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;  // constant time in the token's content
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

HttpApi::HttpApi(ServedCommands* commands, std::string token)
    : commands_(commands), token_(std::move(token)), server_(std::make_unique<httplib::Server>()) {}

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
  Routes();
  server_->set_payload_max_length(1 << 20);
  server_->set_read_timeout(10, 0);
  if (hp.port == 0) {
    port_ = server_->bind_to_any_port(hp.host);
    if (port_ < 0) return IOError("cannot listen on " + listen + " for HTTP");
  } else {
    if (!server_->bind_to_port(hp.host, hp.port)) {
      return IOError("cannot listen on " + listen + " for HTTP (in use?)");
    }
    port_ = hp.port;
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return Status::OK();
}

void HttpApi::Stop() {
  if (!thread_.joinable()) return;
  server_->stop();
  thread_.join();
}

void HttpApi::Routes() {
  httplib::Server& s = *server_;
  ServedCommands* cmds = commands_;
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    std::string auth = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (auth.rfind(prefix, 0) != 0 || !SameToken(auth.substr(prefix.size()), token_)) {
      logging::Warn("http", "unauthorized request",
                    {{"client", req.remote_addr},
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
  using Req = const httplib::Request&;
  using Res = httplib::Response&;
  s.Get("/v1/status", [cmds](Req, Res res) { Answer(cmds, {"status"}, res); });
  // Rendered here, not as a command: a scrape does not wait behind a long command.
  s.Get("/metrics", [cmds](Req, Res res) {
    StatusOr<std::string> text = MetricsText(*cmds->manager(), cmds->hooks());
    if (!text.ok()) {
      SendError(res, 500, "Internal", text.status().ToString());
      return;
    }
    res.set_content(*text, "text/plain; version=0.0.4; charset=utf-8");
  });
  s.Get("/v1/srs", [cmds](Req, Res res) { Answer(cmds, {"sr", "list"}, res); });
  s.Get("/v1/vms", [cmds](Req req, Res res) {
    std::vector<std::string> a{"vm", "list"};
    AddFlags(req, {"all"}, &a);
    Answer(cmds, a, res);
  });
  s.Post("/v1/vms", [cmds](Req req, Res res) {
    auto b = Body(req, res);
    if (!b) return;
    auto name = Field(*b, "name", res);
    if (!name) return;
    Answer(cmds, {"vm", "create", *name}, res);
  });
  s.Get(R"(/v1/vms/([^/]+))", [cmds](Req req, Res res) { Answer(cmds, {"vm", "show", req.matches[1]}, res); });
  s.Delete(R"(/v1/vms/([^/]+))", [cmds](Req req, Res res) {
    std::vector<std::string> a{"vm", "delete", req.matches[1]};
    AddFlags(req, {"recursive", "dry_run", "force"}, &a);
    Answer(cmds, a, res);
  });
  s.Get(R"(/v1/vms/([^/]+)/disks)", [cmds](Req req, Res res) { Answer(cmds, {"disk", "list", req.matches[1]}, res); });
  s.Post(R"(/v1/vms/([^/]+)/disks)", [cmds](Req req, Res res) {
    auto b = Body(req, res);
    if (!b) return;
    auto name = Field(*b, "name", res);
    auto size = name ? Field(*b, "size", res) : std::nullopt;
    auto sr = size ? Field(*b, "sr", res, false) : std::nullopt;
    if (!sr) return;
    std::vector<std::string> a{"disk", "create", req.matches[1], *name, "--size", *size};
    if (!sr->empty()) a.insert(a.end(), {"--sr", *sr});
    Answer(cmds, a, res);
  });
  s.Get(R"(/v1/vms/([^/]+)/snapshots)", [cmds](Req req, Res res) {
    std::vector<std::string> a{"snapshot", "list", req.matches[1]};
    AddFlags(req, {"all"}, &a);
    Answer(cmds, a, res);
  });
  s.Post(R"(/v1/vms/([^/]+)/snapshots)", [cmds](Req req, Res res) {
    auto b = Body(req, res);
    if (!b) return;
    auto name = Field(*b, "name", res);
    if (!name) return;
    Answer(cmds, {"snapshot", "create", req.matches[1], *name}, res);
  });
  s.Delete(R"(/v1/vms/([^/]+)/snapshots/([^/]+))", [cmds](Req req, Res res) {
    std::vector<std::string> a{"snapshot", "delete", std::string(req.matches[1]) + "@" + std::string(req.matches[2])};
    AddFlags(req, {"recursive", "dry_run", "force"}, &a);
    Answer(cmds, a, res);
  });
  s.Post(R"(/v1/vms/([^/]+)/rollback)", [cmds](Req req, Res res) {
    auto b = Body(req, res);
    if (!b) return;
    auto snap = Field(*b, "snapshot", res);
    if (!snap) return;
    std::vector<std::string> a{"snapshot", "rollback", std::string(req.matches[1]) + "@" + *snap};
    if (b->value("force", false)) a.push_back("--force");
    Answer(cmds, a, res);
  });
  s.Post(R"(/v1/vms/([^/]+)/clone)", [cmds](Req req, Res res) {
    auto b = Body(req, res);
    if (!b) return;
    auto snap = Field(*b, "snapshot", res);
    auto name = snap ? Field(*b, "name", res) : std::nullopt;
    if (!name) return;
    Answer(cmds, {"vm", "clone", std::string(req.matches[1]) + "@" + *snap, *name}, res);
  });
  s.Get("/v1/exports", [cmds](Req, Res res) {
    json open = json::array();
    if (cmds->hooks()) {
      for (const std::string& e : cmds->hooks()->open_exports()) open.push_back(e);
    }
    SendJson(res, 200, {{"open", open}});
  });
  s.Post("/v1/cli", [cmds](Req req, Res res) {
    auto b = Body(req, res);
    if (!b) return;
    const json& args = b->value("args", json());
    if (!args.is_array() || !std::all_of(args.begin(), args.end(), [](const json& v) { return v.is_string(); })) {
      SendError(res, 400, "InvalidArgument", "field \"args\" must be an array of strings");
      return;
    }
    auto a = args.get<std::vector<std::string>>();
    Answer(cmds, a, res);
  });
}

}  // namespace vmstore::cli
