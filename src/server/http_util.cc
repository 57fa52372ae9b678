#include "server/http_util.h"

#include <cctype>

namespace vmstore::server {

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
std::optional<std::string> Field(const json& b, const char* name, httplib::Response& res, bool required) {
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

void SendStatus(httplib::Response& res, const Status& s) {
  SendError(res, HttpStatus(s), ApiCode(s.code()), s.message());
}

void Reply(httplib::Response& res, const StatusOr<json>& view) {
  if (view.ok()) {
    SendJson(res, 200, *view);
  } else {
    SendStatus(res, view.status());
  }
}

void AnswerCommand(CommandRunner* commands, std::vector<std::string> args, httplib::Response& res) {
  args.insert(args.begin(), "--json");
  CommandResult r = commands->Run(args, nullptr);
  if (r.rc == 0) {
    json out = json::parse(r.out, nullptr, false);
    SendJson(res, 200, out.is_discarded() ? json{{"output", r.out}} : out);
    return;
  }
  if (!r.failure.ok()) {
    SendStatus(res, r.failure);
  } else {  // a usage error found by the command-line parser
    std::string msg = r.err;
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    SendError(res, 400, "InvalidArgument", msg);
  }
}

}  // namespace vmstore::server
