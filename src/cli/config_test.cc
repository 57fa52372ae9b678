// The config file: every key parsed, every kind of bad input refused with
// FILE:LINE, relative paths, the example file, which file is read.
#include "cli/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "util/testing.h"

namespace vmstore::cli {
namespace {

using vmstore::testing::TempDir;

TEST(ConfigTest, EveryKeyIsReadWithItsType) {
  const char* text = R"(pool = "/srv/pool"
etcd = "http://10.0.0.1:2379,http://10.0.0.2:2379"
gateway_dir = "/var/lib/vmstore/gw"
[log]
level = "debug"
format = "json"
file = "/var/log/vmstore.log"
[serve]
listen = "127.0.0.1:10900"
socket = "/run/vmstore.sock"
workers = 8
max_connections = 100
max_client_connections = 5
handshake_timeout = 7
idle_timeout = 600
request_memory = 512
allow = ["127.0.0.1=web/*", "unix=*"]
policy_tick = 30
[serve.tls]
mode = "require"
cert = "/etc/vmstore/cert.pem"
key = "/etc/vmstore/key.pem"
psk = "/etc/vmstore/keys.psk"
[serve.http]
listen = "127.0.0.1:8080"
token_file = "/etc/vmstore/http.token"
)";
  auto c = Config::Parse(text, "t.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  for (const ConfigKey& k : ConfigKeys()) EXPECT_TRUE(c->IsSet(k.name)) << k.name << " is not in the test text";
  EXPECT_EQ(c->String("pool"), "/srv/pool");
  EXPECT_EQ(c->String("etcd"), "http://10.0.0.1:2379,http://10.0.0.2:2379");
  EXPECT_EQ(c->String("gateway_dir"), "/var/lib/vmstore/gw");
  EXPECT_EQ(c->String("log.level"), "debug");
  EXPECT_EQ(c->String("log.format"), "json");
  EXPECT_EQ(c->String("log.file"), "/var/log/vmstore.log");
  EXPECT_EQ(c->String("serve.listen"), "127.0.0.1:10900");
  EXPECT_EQ(c->String("serve.socket"), "/run/vmstore.sock");
  EXPECT_EQ(c->Int("serve.workers"), 8);
  EXPECT_EQ(c->Int("serve.max_connections"), 100);
  EXPECT_EQ(c->Int("serve.max_client_connections"), 5);
  EXPECT_EQ(c->Int("serve.handshake_timeout"), 7);
  EXPECT_EQ(c->Int("serve.idle_timeout"), 600);
  EXPECT_EQ(c->Int("serve.request_memory"), 512);
  EXPECT_EQ(c->Strings("serve.allow"), (std::vector<std::string>{"127.0.0.1=web/*", "unix=*"}));
  EXPECT_EQ(c->Int("serve.policy_tick"), 30);
  EXPECT_EQ(c->String("serve.tls.mode"), "require");
  EXPECT_EQ(c->String("serve.tls.cert"), "/etc/vmstore/cert.pem");
  EXPECT_EQ(c->String("serve.tls.key"), "/etc/vmstore/key.pem");
  EXPECT_EQ(c->String("serve.tls.psk"), "/etc/vmstore/keys.psk");
  EXPECT_EQ(c->String("serve.http.listen"), "127.0.0.1:8080");
  EXPECT_EQ(c->String("serve.http.token_file"), "/etc/vmstore/http.token");
}

TEST(ConfigTest, UnsetKeysGiveTheirDefaults) {
  Config c = *Config::Parse("", "empty.toml");
  EXPECT_EQ(c.String("pool"), "");
  EXPECT_EQ(c.String("log.level"), "info");
  EXPECT_EQ(c.String("serve.listen"), "127.0.0.1:10809");
  EXPECT_EQ(c.Int("serve.workers"), 4);
  EXPECT_EQ(c.Int("serve.max_connections"), 256);
  EXPECT_EQ(c.Int("serve.max_client_connections"), 32);
  EXPECT_EQ(c.Int("serve.handshake_timeout"), 10);
  EXPECT_EQ(c.Int("serve.policy_tick"), 10);
  EXPECT_TRUE(c.Strings("serve.allow").empty());
  EXPECT_FALSE(c.IsSet("serve.workers"));
}

void ExpectError(const std::string& text, const std::string& message) {
  auto c = Config::Parse(text, "f.toml");
  ASSERT_FALSE(c.ok()) << text;
  EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(c.status().message(), message) << text;
}

TEST(ConfigTest, BadInputIsRefusedWithFileAndLine) {
  ExpectError(
      "[serve]\nlisen = \"x\"\n",
      "f.toml:2: unknown key 'serve.lisen' (keys of [serve]: listen, socket, workers, max_connections, "
      "max_client_connections, handshake_timeout, idle_timeout, request_memory, allow, policy_tick, tls, http)");
  ExpectError("poool = 1\n", "f.toml:1: unknown key 'poool' (top-level keys: pool, etcd, gateway_dir, log, serve)");
  ExpectError("[srve]\nx = 1\n",
              "f.toml:1: unknown table [srve] (top-level keys: pool, etcd, gateway_dir, log, serve)");
  ExpectError("[serve]\nworkers = \"8\"\n", "f.toml:2: serve.workers must be an integer");
  ExpectError("[serve]\nworkers = 8.5\n", "f.toml:2: serve.workers must be an integer");
  ExpectError("[serve]\nworkers = 0\n", "f.toml:2: serve.workers = 0 is outside 1..64");
  ExpectError("[serve]\npolicy_tick = 3601\n", "f.toml:2: serve.policy_tick = 3601 is outside 1..3600");
  ExpectError("[serve]\nlisten = 10809\n", "f.toml:2: serve.listen must be a string");
  ExpectError("[serve]\nallow = \"unix=*\"\n", "f.toml:2: serve.allow must be an array of strings");
  ExpectError("[serve]\nallow = [\"unix=*\", 3]\n", "f.toml:2: serve.allow must be an array of strings");
  ExpectError("[log]\nlevel = \"loud\"\n",
              "f.toml:2: log.level = \"loud\" is not one of trace, debug, info, warn, error, off");
  ExpectError("[serve.tls]\nmode = \"maybe\"\n", "f.toml:2: serve.tls.mode = \"maybe\" is not one of off, on, require");
  ExpectError("[serve]\nlisten = \"a\"\nlisten = \"b\"\n",
              "f.toml:3: Error while parsing key-value pair: cannot redefine existing string 'listen'");
  ExpectError("pool = \n", "f.toml:1: Error while parsing key-value pair: expected value, saw '\\n'");
  ExpectError("serve = 1\n", "f.toml:1: unknown key 'serve' (top-level keys: pool, etcd, gateway_dir, log, serve)");
}

TEST(ConfigTest, RelativePathsStartFromTheFilesDirectory) {
  TempDir dir;
  std::filesystem::create_directories(dir.path());
  std::ofstream(dir.path() + "/v.toml") << "pool = \"pool\"\n[serve.tls]\npsk = \"/abs/keys.psk\"\n"
                                        << "[serve]\nlisten = \"relative:1\"\n";
  Config c = *Config::Load(dir.path() + "/v.toml");
  EXPECT_EQ(c.String("pool"), dir.path() + "/pool");
  EXPECT_EQ(c.String("serve.tls.psk"), "/abs/keys.psk");
  EXPECT_EQ(c.String("serve.listen"), "relative:1");  // not a path
  EXPECT_EQ(c.origin(), dir.path() + "/v.toml");
  EXPECT_EQ(Config::Load(dir.path() + "/none.toml").status().code(), Code::kNotFound);
}

TEST(ConfigTest, TheExampleListsEveryKeyAndParsesToTheDefaults) {
  std::string ex = ConfigExample();
  for (const ConfigKey& k : ConfigKeys()) {
    std::string leaf = k.name.substr(k.name.rfind('.') + 1);
    if (k.name == "pool") {  // set, for the service
      EXPECT_NE(ex.find("\npool = \"/var/lib/vmstore\"\n"), std::string::npos);
      continue;
    }
    EXPECT_NE(ex.find("#" + leaf + " = "), std::string::npos) << k.name;
  }
  // Uncommenting every line gives the defaults back.
  std::string all;
  std::istringstream lines(ex);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("#", 0) == 0 && line.find(" = ") != std::string::npos && line[1] != ' ') line = line.substr(1);
    all += line + "\n";
  }
  auto c = Config::Parse(all, "example");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  Config defaults = *Config::Parse("", "none");
  for (const ConfigKey& k : ConfigKeys()) {
    if (k.name == "pool") continue;
    EXPECT_TRUE(c->IsSet(k.name)) << k.name;
    if (k.type == ConfigKey::Type::kInt) {
      EXPECT_EQ(c->Int(k.name), defaults.Int(k.name)) << k.name;
    } else if (k.type == ConfigKey::Type::kString) {
      EXPECT_EQ(c->String(k.name), defaults.String(k.name)) << k.name;
    }
  }
}

TEST(ConfigTest, TheFlagThenTheEnvironmentNameTheFile) {
  TempDir dir;
  std::filesystem::create_directories(dir.path());
  std::ofstream(dir.path() + "/a.toml") << "pool = \"/a\"\n";
  std::ofstream(dir.path() + "/b.toml") << "pool = \"/b\"\n";
  ::setenv("VMSTORE_CONFIG", (dir.path() + "/b.toml").c_str(), 1);
  EXPECT_EQ(Config::ForCommand(dir.path() + "/a.toml")->String("pool"), "/a");
  EXPECT_EQ(Config::ForCommand("")->String("pool"), "/b");
  ::setenv("VMSTORE_CONFIG", (dir.path() + "/missing.toml").c_str(), 1);
  auto missing = Config::ForCommand("");
  EXPECT_EQ(missing.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(missing.status().message(), "config file " + dir.path() + "/missing.toml does not exist");
  ::unsetenv("VMSTORE_CONFIG");
}

}  // namespace
}  // namespace vmstore::cli
