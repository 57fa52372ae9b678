// Structured logging for the server: one line per event with a time, a level,
// a component and key=value fields, as text (logfmt-like) or JSON, written
// through spdlog to stderr or a file.
//
// Example:
//   RETURN_IF_ERROR(logging::Init({.level = logging::Level::kDebug, .format = logging::Format::kJson}));
//   logging::Info("nbd", "connection opened", {{"client", "127.0.0.1"}, {"export", "web/root"}});
//
// text: 2026-11-24T07:44:13.123Z info  nbd: connection opened client=127.0.0.1 export=web/root
// json: {"time":"2026-11-24T07:44:13.123Z","level":"info","component":"nbd",
//        "msg":"connection opened","client":"127.0.0.1","export":"web/root"}
// Text values with spaces, quotes or '=' are quoted with JSON string escapes.
//
// Before Init, lines go to stderr as text at level info. Every line is flushed
// (the server logs events, not requests). Thread-safety: Write and the
// helpers may be called from any thread; Init from one thread while nothing
// else logs (at start-up).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "vmstore/status.h"

namespace vmstore::logging {

enum class Level { kTrace, kDebug, kInfo, kWarn, kError, kOff };
enum class Format { kText, kJson };

// "trace" "debug" "info" "warn" "error" "off"; InvalidArgument naming them otherwise.
StatusOr<Level> ParseLevel(const std::string& name);
const char* LevelName(Level level);
// "text" or "json".
StatusOr<Format> ParseFormat(const std::string& name);

struct Options {
  Level level = Level::kInfo;
  Format format = Format::kText;
  std::string file;  // appended to; "" = stderr
};

// Replaces the logger. IOError if the file cannot be opened.
Status Init(const Options& options);

// One field of a line; numbers stay numbers in JSON.
struct Field {
  Field(std::string k, std::string v) : key(std::move(k)), value(std::move(v)) {}
  Field(std::string k, const char* v) : key(std::move(k)), value(v) {}
  Field(std::string k, std::string_view v) : key(std::move(k)), value(v) {}
  Field(std::string k, uint64_t v) : key(std::move(k)), value(std::to_string(v)), number(true) {}
  Field(std::string k, int64_t v) : key(std::move(k)), value(std::to_string(v)), number(true) {}
  Field(std::string k, int v) : key(std::move(k)), value(std::to_string(v)), number(true) {}
  std::string key, value;
  bool number = false;
};
using Fields = std::initializer_list<Field>;

bool Enabled(Level level);
void Write(Level level, std::string_view component, std::string_view message, Fields fields = {});
inline void Debug(std::string_view c, std::string_view m, Fields f = {}) { Write(Level::kDebug, c, m, f); }
inline void Info(std::string_view c, std::string_view m, Fields f = {}) { Write(Level::kInfo, c, m, f); }
inline void Warn(std::string_view c, std::string_view m, Fields f = {}) { Write(Level::kWarn, c, m, f); }
inline void Error(std::string_view c, std::string_view m, Fields f = {}) { Write(Level::kError, c, m, f); }

// The line Write would log (without the time when `time` is empty); for tests.
std::string FormatLine(Format format, const std::string& time, Level level, std::string_view component,
                       std::string_view message, Fields fields);

}  // namespace vmstore::logging
