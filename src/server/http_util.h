// Helpers of the HTTP API's routes: JSON answers, errors as
// {"error": {"code", "message"}} with the HTTP status of the Status code, and
// the request's body, fields and query flags.
#pragma once

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "server/command_runner.h"
#include "vmstore/status.h"

namespace vmstore::server {

using json = nlohmann::json;

// 400 bad input, 404 not found, 409 conflict, 507 no space, 501, else 500.
int HttpStatus(const Status& s);
// The Status code's name as one identifier ("Not found" -> "NotFound").
std::string ApiCode(Code c);
void SendJson(httplib::Response& res, int status, const json& body);
void SendError(httplib::Response& res, int status, const std::string& code, const std::string& message);
void SendStatus(httplib::Response& res, const Status& s);
// 200 with the view, or the error.
void Reply(httplib::Response& res, const StatusOr<json>& view);
// Runs a command line with --json (POST /v1/cli) and answers with its output or its error.
void AnswerCommand(CommandRunner* commands, std::vector<std::string> args, httplib::Response& res);

// The request's JSON object body; nullopt (and the answer sent) if it is not one.
std::optional<json> Body(const httplib::Request& req, httplib::Response& res);
// A string field of the body (numbers are taken as their decimal text);
// nullopt (and the answer sent) if missing and `required`, "" if missing and not.
std::optional<std::string> Field(const json& b, const char* name, httplib::Response& res, bool required = true);
// A query flag: 1, true or yes.
bool Flag(const httplib::Request& req, const char* name);

}  // namespace vmstore::server
