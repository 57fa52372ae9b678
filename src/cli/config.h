// The configuration file (TOML): defaults for the command line, chiefly for
// `vmstore serve` run as a service.
//
// Which file: --config PATH, else $VMSTORE_CONFIG, else the first of
// /etc/vmstore/vmstore.toml and SYSCONFDIR/vmstore/vmstore.toml (where `cmake
// --install` puts it: /usr/local/etc by default) that exists; none at all is
// fine (the built-in defaults). A flag given on
// the command line wins over the file; for the pool, --pool and then
// $VMSTORE_POOL win over `pool`.
//
// Example:
//   ASSIGN_OR_RETURN(Config c, Config::Parse("[serve]\nworkers = 8\n", "inline"));
//   int64_t w = c.Int("serve.workers");   // 8; a key not set gives its default
//
// Every key, its type, range and default are in ConfigKeys(); ConfigExample()
// writes them as a commented file (contrib/vmstore.toml). Relative paths in a
// file are taken from the file's directory.
// Errors (InvalidArgument, prefixed "FILE:LINE:"): TOML syntax, an unknown key
// or table, a wrong type, a value out of range or not among the choices.
// Thread-safety: a Config is a value; const methods may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "vmstore/status.h"

namespace vmstore::cli {

inline constexpr char kDefaultConfigPath[] = "/etc/vmstore/vmstore.toml";
// Where a config file is looked for without --config and $VMSTORE_CONFIG, in order.
std::vector<std::string> DefaultConfigPaths();

struct ConfigKey {
  enum class Type { kString, kInt, kStrings };
  std::string name;  // "serve.listen"
  Type type = Type::kString;
  std::string help;
  std::string default_string;        // kString; "" = unset
  int64_t default_int = 0;           // kInt
  int64_t min = 0, max = 0;          // kInt: the allowed range
  std::vector<std::string> choices;  // kString: the allowed values ("" always allowed), or any when empty
  bool path = false;                 // kString: relative values are taken from the file's directory
};
const std::vector<ConfigKey>& ConfigKeys();
// The key of that name (one of ConfigKeys(); aborts otherwise: a programming error).
const ConfigKey& ConfigKeyNamed(const std::string& name);

class Config {
 public:
  using Value = std::variant<std::string, int64_t, std::vector<std::string>>;

  // `origin` names the text in errors; `dir` is where relative paths start ("" = as given).
  static StatusOr<Config> Parse(std::string_view text, const std::string& origin, const std::string& dir = "");
  // NotFound if the file does not exist.
  static StatusOr<Config> Load(const std::string& path);
  // The file a command reads (see above): `flag` is --config's value, or "".
  static StatusOr<Config> ForCommand(const std::string& flag);

  // The value set in the file, or the key's default. The key must be one of
  // ConfigKeys() of that type (a programming error otherwise: aborts).
  std::string String(const std::string& key) const;
  int64_t Int(const std::string& key) const;
  std::vector<std::string> Strings(const std::string& key) const;
  // Any key's value (or default) whatever its type.
  Value Get(const std::string& key) const;
  bool IsSet(const std::string& key) const { return values_.count(key) != 0; }

  const std::string& origin() const { return origin_; }  // the file, or "" for none

 private:
  std::string origin_;
  std::map<std::string, Value> values_;
};

// Every key with its help, type and default, as a TOML file whose settings are
// all commented out (pool aside).
std::string ConfigExample();
// `value` as TOML writes it.
std::string TomlValue(const Config::Value& value);

}  // namespace vmstore::cli
