#include "cli/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace vmstore::cli {

namespace {

using Type = ConfigKey::Type;

ConfigKey Str(std::string name, std::string help, std::string def = "", std::vector<std::string> choices = {}) {
  ConfigKey k;
  k.name = std::move(name);
  k.type = Type::kString;
  k.help = std::move(help);
  k.default_string = std::move(def);
  k.choices = std::move(choices);
  return k;
}

ConfigKey Path(std::string name, std::string help, std::string def = "") {
  ConfigKey k = Str(std::move(name), std::move(help), std::move(def));
  k.path = true;
  return k;
}

ConfigKey Int(std::string name, std::string help, int64_t def, int64_t min, int64_t max) {
  ConfigKey k;
  k.name = std::move(name);
  k.type = Type::kInt;
  k.help = std::move(help);
  k.default_int = def;
  k.min = min;
  k.max = max;
  return k;
}

const ConfigKey* Find(const std::string& name) {
  for (const ConfigKey& k : ConfigKeys()) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

bool IsTable(const std::string& name) {
  for (const ConfigKey& k : ConfigKeys()) {
    if (k.name.rfind(name + ".", 0) == 0) return true;
  }
  return false;
}

// The table part of a key ("serve.tls" of "serve.tls.mode"; "" for "pool").
std::string TableOf(const std::string& name) {
  size_t dot = name.rfind('.');
  return dot == std::string::npos ? "" : name.substr(0, dot);
}

std::string Choices(const ConfigKey& k) {
  std::string out;
  for (const std::string& c : k.choices) out += (out.empty() ? "" : ", ") + c;
  return out;
}

class Parser {
 public:
  Parser(std::string origin, std::string dir) : origin_(std::move(origin)), dir_(std::move(dir)) {}

  Status Walk(const toml::table& t, const std::string& prefix, std::map<std::string, Config::Value>* out) {
    for (auto&& [k, node] : t) {
      std::string name = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
      const int line = static_cast<int>(node.source().begin.line);
      if (const toml::table* sub = node.as_table()) {
        if (!IsTable(name)) return Err(line, "unknown table [" + name + "]" + Known(prefix));
        RETURN_IF_ERROR(Walk(*sub, name, out));
        continue;
      }
      const ConfigKey* key = Find(name);
      if (!key) return Err(line, "unknown key '" + name + "'" + Known(prefix));
      ASSIGN_OR_RETURN(Config::Value v, Convert(*key, node, line));
      (*out)[name] = std::move(v);
    }
    return Status::OK();
  }

 private:
  Status Err(int line, const std::string& what) const {
    return InvalidArgument(origin_ + ":" + std::to_string(line) + ": " + what);
  }

  // "(keys of [serve]: listen, socket, ...)" for a hint.
  static std::string Known(const std::string& table) {
    std::string keys;
    for (const ConfigKey& k : ConfigKeys()) {
      if (k.name.rfind(table.empty() ? "" : table + ".", 0) != 0) continue;
      std::string rest = table.empty() ? k.name : k.name.substr(table.size() + 1);
      std::string first = rest.substr(0, rest.find('.'));
      if (keys.find(first) != std::string::npos) continue;
      keys += (keys.empty() ? "" : ", ") + first;
    }
    return " (" + (table.empty() ? std::string("top-level keys") : "keys of [" + table + "]") + ": " + keys + ")";
  }

  StatusOr<Config::Value> Convert(const ConfigKey& key, const toml::node& node, int line) const {
    switch (key.type) {
      case Type::kString: {
        const auto* s = node.as_string();
        if (!s) return Err(line, key.name + " must be a string");
        std::string v = s->get();
        if (!key.choices.empty() && !v.empty() &&
            std::find(key.choices.begin(), key.choices.end(), v) == key.choices.end()) {
          return Err(line, key.name + " = \"" + v + "\" is not one of " + Choices(key));
        }
        if (key.path && !v.empty() && v[0] != '/' && !dir_.empty()) v = dir_ + "/" + v;
        return Config::Value(v);
      }
      case Type::kInt: {
        const auto* i = node.as_integer();
        if (!i) return Err(line, key.name + " must be an integer");
        int64_t v = i->get();
        if (v < key.min || v > key.max) {
          return Err(line, key.name + " = " + std::to_string(v) + " is outside " + std::to_string(key.min) + ".." +
                               std::to_string(key.max));
        }
        return Config::Value(v);
      }
      case Type::kStrings: {
        const auto* a = node.as_array();
        if (!a) return Err(line, key.name + " must be an array of strings");
        std::vector<std::string> v;
        for (const toml::node& e : *a) {
          const auto* s = e.as_string();
          if (!s) return Err(line, key.name + " must be an array of strings");
          v.push_back(s->get());
        }
        return Config::Value(v);
      }
    }
    return Err(line, "unknown type of " + key.name);
  }

  std::string origin_, dir_;
};

const ConfigKey& MustFind(const std::string& name, Type type) {
  const ConfigKey& k = ConfigKeyNamed(name);
  if (k.type != type) {
    std::fprintf(stderr, "vmstore: internal error: config key %s is not of that type\n", name.c_str());
    std::abort();
  }
  return k;
}

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// Wraps `text` into "# " comment lines of at most ~92 characters.
std::string Comment(const std::string& text) {
  std::string out, line;
  std::istringstream words(text);
  std::string w;
  while (words >> w) {
    if (!line.empty() && line.size() + 1 + w.size() > 90) {
      out += "# " + line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + w;
  }
  if (!line.empty()) out += "# " + line + "\n";
  return out;
}

}  // namespace

const std::vector<ConfigKey>& ConfigKeys() {
  static const std::vector<ConfigKey> keys = [] {
    std::vector<ConfigKey> k;
    k.push_back(Path("pool", "The pool directory every command uses; --pool and $VMSTORE_POOL win over it."));
    k.push_back(Str("etcd",
                    "Cluster mode: the cluster's etcd endpoints (comma-separated URLs) every command uses "
                    "instead of a pool; --etcd and $VMSTORE_ETCD win over it, --pool and $VMSTORE_POOL over "
                    "this key."));
    k.push_back(Path("gateway_dir",
                     "Cluster mode: this host's gateway directory (sockets, token); --gateway-dir and "
                     "$VMSTORE_GATEWAY_DIR win over it.",
                     "/var/lib/vmstore/gateway"));
    k.push_back(Str("log.level", "The server's log level: lines below it are not written.", "info",
                    {"trace", "debug", "info", "warn", "error", "off"}));
    k.push_back(Str("log.format",
                    "The server's log lines: text (time level component: message key=value ...) or "
                    "json (one object per line).",
                    "text", {"text", "json"}));
    k.push_back(Path("log.file",
                     "Append the server's log to this file; empty: standard error (the journal under "
                     "systemd)."));
    k.push_back(Str("serve.listen",
                    "NBD over TCP on HOST:PORT (loopback by default; port 0 = any free one); "
                    "empty: no TCP.",
                    "127.0.0.1:10809"));
    k.push_back(Path("serve.socket", "NBD on this Unix socket as well; empty: none."));
    k.push_back(Int("serve.workers", "Requests served at once per NBD connection.", 4, 1, 64));
    k.push_back(Int("serve.max_connections", "NBD connections open at once, in all.", 256, 1, 65536));
    k.push_back(Int("serve.max_client_connections",
                    "NBD connections open at once from one client IP (or the Unix socket).", 32, 1, 65536));
    k.push_back(Int("serve.handshake_timeout",
                    "Seconds an NBD connection may take to finish its handshake (choose an export); then it is "
                    "closed, so connections that send nothing hold no slot.",
                    10, 1, 3600));
    k.push_back(Int("serve.idle_timeout",
                    "Seconds an NBD connection with nothing in flight stays open; 0 = for ever (VM disks may rest "
                    "for hours). When the server is full, an idle connection of the client holding the most is "
                    "closed for a newcomer whatever this says.",
                    0, 0, 86400 * 7));
    k.push_back(Int("serve.request_memory",
                    "MiB of NBD request and reply data held at once, in all (one client: half); requests past it "
                    "wait. Bounds the server's memory whatever clients do.",
                    256, 32, 1 << 20));
    ConfigKey allow;
    allow.name = "serve.allow";
    allow.type = Type::kStrings;
    allow.help =
        "CLIENT=GLOB rules: the client (an IP, \"unix\" or \"*\") may see and open the exports matching GLOB, e.g. "
        "[\"127.0.0.1=web/*\"]; empty: every client may use every export.";
    k.push_back(allow);
    k.push_back(Int("serve.policy_tick", "Seconds between checks of the snapshot policies.", 10, 1, 3600));
    k.push_back(Str("serve.tls.mode",
                    "off, on (clients choose) or require (plaintext refused); empty: on when "
                    "credentials are given, else off.",
                    "", {"off", "on", "require"}));
    k.push_back(Path("serve.tls.cert", "PEM x509 server certificate (with serve.tls.key)."));
    k.push_back(Path("serve.tls.key", "PEM private key of serve.tls.cert."));
    k.push_back(Path("serve.tls.psk", "Pre-shared keys, one USERNAME:HEXKEY per line (as psktool writes them)."));
    k.push_back(Str("serve.http.listen",
                    "The HTTP+JSON management API and GET /metrics on HOST:PORT "
                    "(e.g. 127.0.0.1:8080); empty: none."));
    k.push_back(Path("serve.http.token_file",
                     "The API's bearer token (mode 0600, created if missing); empty: "
                     "POOL/http.token."));
    return k;
  }();
  return keys;
}

const ConfigKey& ConfigKeyNamed(const std::string& name) {
  const ConfigKey* k = Find(name);
  if (!k) {
    std::fprintf(stderr, "vmstore: internal error: no config key %s\n", name.c_str());
    std::abort();
  }
  return *k;
}

StatusOr<Config> Config::Parse(std::string_view text, const std::string& origin, const std::string& dir) {
  Config c;
  c.origin_ = origin;
  toml::table t;
  try {
    t = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    return InvalidArgument(origin + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description()));
  }
  RETURN_IF_ERROR(Parser(origin, dir).Walk(t, "", &c.values_));
  return c;
}

StatusOr<Config> Config::Load(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return NotFound("config file " + path + " does not exist");
  std::ifstream f(path);
  if (!f) return IOError("cannot read the config file " + path);
  std::stringstream text;
  text << f.rdbuf();
  std::string dir = std::filesystem::absolute(path, ec).parent_path().string();
  return Parse(text.str(), path, dir);
}

#ifndef VMSTORE_SYSCONFDIR
#define VMSTORE_SYSCONFDIR "/usr/local/etc"
#endif

std::vector<std::string> DefaultConfigPaths() {
  std::vector<std::string> paths = {kDefaultConfigPath};
  std::string installed = std::string(VMSTORE_SYSCONFDIR) + "/vmstore/vmstore.toml";
  if (installed != paths[0]) paths.push_back(installed);
  return paths;
}

StatusOr<Config> Config::ForCommand(const std::string& flag) {
  std::string path = flag;
  if (path.empty()) {
    const char* env = std::getenv("VMSTORE_CONFIG");
    if (env && *env) path = env;
  }
  if (path.empty()) {
    for (const std::string& p : DefaultConfigPaths()) {
      std::error_code ec;
      if (std::filesystem::exists(p, ec)) {
        path = p;
        break;
      }
    }
    if (path.empty()) return Config();
  }
  auto c = Load(path);
  if (!c.ok() && c.status().code() == Code::kNotFound) return InvalidArgument(c.status().message());
  return c;
}

std::string Config::String(const std::string& key) const {
  const ConfigKey& k = MustFind(key, Type::kString);
  auto it = values_.find(key);
  return it == values_.end() ? k.default_string : std::get<std::string>(it->second);
}

int64_t Config::Int(const std::string& key) const {
  const ConfigKey& k = MustFind(key, Type::kInt);
  auto it = values_.find(key);
  return it == values_.end() ? k.default_int : std::get<int64_t>(it->second);
}

std::vector<std::string> Config::Strings(const std::string& key) const {
  MustFind(key, Type::kStrings);
  auto it = values_.find(key);
  return it == values_.end() ? std::vector<std::string>{} : std::get<std::vector<std::string>>(it->second);
}

Config::Value Config::Get(const std::string& key) const {
  switch (ConfigKeyNamed(key).type) {
    case Type::kInt:
      return Int(key);
    case Type::kString:
      return String(key);
    case Type::kStrings:
      break;
  }
  return Strings(key);
}

std::string TomlValue(const Config::Value& value) {
  if (const auto* s = std::get_if<std::string>(&value)) return Quote(*s);
  if (const auto* i = std::get_if<int64_t>(&value)) return std::to_string(*i);
  std::string out = "[";
  for (const std::string& s : std::get<std::vector<std::string>>(value)) out += (out.size() > 1 ? ", " : "") + Quote(s);
  return out + "]";
}

std::string ConfigExample() {
  std::string out =
      "# VMStore configuration (TOML). vmstore reads --config FILE, else $VMSTORE_CONFIG, else the\n"
      "# first of /etc/vmstore/vmstore.toml and PREFIX/etc/vmstore/vmstore.toml (where `cmake\n"
      "# --install` puts this file) that exists. A flag on the command line wins over this file\n"
      "# (--pool and $VMSTORE_POOL over `pool`). Relative paths start from this file's directory.\n"
      "# Every key is listed with its default; remove the '#' to set one.\n"
      "# Generated by `vmstore config example`; check a file with `vmstore config check FILE`.\n";
  std::string table;
  for (const ConfigKey& k : ConfigKeys()) {
    std::string t = TableOf(k.name);
    if (t != table) {
      out += "\n[" + t + "]\n";
      table = t;
    }
    std::string help = k.help;
    if (k.type == Type::kInt) help += " (" + std::to_string(k.min) + ".." + std::to_string(k.max) + ")";
    out += "\n" + Comment(help);
    std::string leaf = t.empty() ? k.name : k.name.substr(t.size() + 1);
    if (k.name == "pool") {  // the service's pool: set, so the unit needs no flag
      out += leaf + " = " + Quote("/var/lib/vmstore") + "\n";
      continue;
    }
    out += "#" + leaf + " = " + TomlValue(Config().Get(k.name)) + "\n";
  }
  return out;
}

}  // namespace vmstore::cli
