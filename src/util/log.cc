#include "util/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

namespace vmstore::logging {

namespace {

struct State {
  std::mutex mu;  // guards replacing `logger`
  std::shared_ptr<spdlog::logger> logger;
  std::atomic<Level> level{Level::kInfo};
  std::atomic<Format> format{Format::kText};
};

State& St() {
  static State* s = [] {
    auto* st = new State;
    st->logger = std::make_shared<spdlog::logger>("vmstore", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    st->logger->set_pattern("%v");
    st->logger->set_level(spdlog::level::trace);  // filtered by our level
    st->logger->flush_on(spdlog::level::trace);
    return st;
  }();
  return *s;
}

spdlog::level::level_enum SpdLevel(Level l) {
  switch (l) {
    case Level::kTrace:
      return spdlog::level::trace;
    case Level::kDebug:
      return spdlog::level::debug;
    case Level::kInfo:
      return spdlog::level::info;
    case Level::kWarn:
      return spdlog::level::warn;
    case Level::kError:
      return spdlog::level::err;
    case Level::kOff:
      break;
  }
  return spdlog::level::off;
}

std::string NowIso() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

// A text value: bare when it is a plain word, else a JSON string.
std::string TextValue(const std::string& v) {
  bool plain = !v.empty();
  for (unsigned char c : v) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f) {
      plain = false;
      break;
    }
  }
  return plain ? v : nlohmann::json(v).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

StatusOr<Level> ParseLevel(const std::string& name) {
  for (Level l : {Level::kTrace, Level::kDebug, Level::kInfo, Level::kWarn, Level::kError, Level::kOff}) {
    if (name == LevelName(l)) return l;
  }
  return InvalidArgument("log level '" + name + "' is not one of trace, debug, info, warn, error, off");
}

const char* LevelName(Level level) {
  switch (level) {
    case Level::kTrace:
      return "trace";
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
    case Level::kOff:
      break;
  }
  return "off";
}

StatusOr<Format> ParseFormat(const std::string& name) {
  if (name == "text") return Format::kText;
  if (name == "json") return Format::kJson;
  return InvalidArgument("log format '" + name + "' is not text or json");
}

Status Init(const Options& options) {
  spdlog::sink_ptr sink;
  if (options.file.empty()) {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  } else {
    try {
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(options.file, /*truncate=*/false);
    } catch (const spdlog::spdlog_ex& e) {
      return IOError("cannot open the log file " + options.file + ": " + e.what());
    }
  }
  auto logger = std::make_shared<spdlog::logger>("vmstore", sink);
  logger->set_pattern("%v");
  logger->set_level(spdlog::level::trace);
  logger->flush_on(spdlog::level::trace);
  State& s = St();
  std::lock_guard<std::mutex> l(s.mu);
  s.logger = std::move(logger);
  s.level = options.level;
  s.format = options.format;
  return Status::OK();
}

bool Enabled(Level level) { return level != Level::kOff && level >= St().level.load(); }

std::string FormatLine(Format format, const std::string& time, Level level, std::string_view component,
                       std::string_view message, Fields fields) {
  if (format == Format::kJson) {
    nlohmann::ordered_json j;
    if (!time.empty()) j["time"] = time;
    j["level"] = LevelName(level);
    j["component"] = std::string(component);
    j["msg"] = std::string(message);
    for (const Field& f : fields) {
      if (f.number) {
        j[f.key] = nlohmann::json::parse(f.value);
      } else {
        j[f.key] = f.value;
      }
    }
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  std::string line;
  if (!time.empty()) line = time + " ";
  std::string lv = LevelName(level);
  lv.resize(5, ' ');
  line += lv + " " + std::string(component) + ": " + std::string(message);
  for (const Field& f : fields) line += " " + f.key + "=" + (f.number ? f.value : TextValue(f.value));
  return line;
}

void Write(Level level, std::string_view component, std::string_view message, Fields fields) {
  if (!Enabled(level)) return;
  State& s = St();
  std::shared_ptr<spdlog::logger> logger;
  {
    std::lock_guard<std::mutex> l(s.mu);
    logger = s.logger;
  }
  logger->log(SpdLevel(level), "{}", FormatLine(s.format.load(), NowIso(), level, component, message, fields));
}

}  // namespace vmstore::logging
