// vmstore config show | check [FILE] | example.
#include "cli/commands.h"

namespace vmstore::cli {

using json = nlohmann::json;

void AddConfigCommands(CLI::App& app, Context* ctx) {
  auto* config =
      app.add_subcommand("config",
                         "The configuration file (TOML): show what is in effect, check a file, print an\n"
                         "example with every key\n  example: vmstore config check /etc/vmstore/vmstore.toml");
  config->require_subcommand(1);
  auto run = [ctx](const std::function<Status()>& body) {
    return [ctx, body] {
      Status s = body();
      ctx->rc = s.ok() ? 0 : Fail(s);
    };
  };
  config
      ->add_subcommand("show",
                       "Every key's value in effect and where it comes from (the file or the default)\n"
                       "  example: vmstore --config ./vmstore.toml config show")
      ->callback(run([ctx]() -> Status {
        // main tolerates a broken file for `config`; say what is wrong here.
        RETURN_IF_ERROR(ctx->config_status);
        const Config& c = ctx->config;
        json j = json::object();
        for (const ConfigKey& k : ConfigKeys()) {
          Config::Value v = c.Get(k.name);
          std::string from = c.IsSet(k.name) ? c.origin() : "default";
          if (ctx->json) {
            j[k.name] = {{"from", from}};
            std::visit([&](const auto& x) { j[k.name]["value"] = x; }, v);
          } else {
            Printf("%s = %s  # %s\n", k.name.c_str(), TomlValue(v).c_str(), from.c_str());
          }
        }
        if (ctx->json) PrintJson({{"file", c.origin()}, {"keys", j}});
        return Status::OK();
      }));
  auto file = std::make_shared<std::string>();
  auto* check = config->add_subcommand("check",
                                       "Parse and validate a config file (default: the one vmstore would read)\n"
                                       "  example: vmstore config check /etc/vmstore/vmstore.toml");
  check->add_option("FILE", *file, "The file to check");
  check->callback(run([ctx, file]() -> Status {
    StatusOr<Config> c = file->empty() ? Config::ForCommand(ctx->config_flag) : Config::Load(*file);
    if (!c.ok()) return c.status().code() == Code::kNotFound ? InvalidArgument(c.status().message()) : c.status();
    if (c->origin().empty()) {
      std::string looked;
      for (const std::string& p : DefaultConfigPaths()) looked += (looked.empty() ? "" : ", ") + p;
      Printf("no config file (no --config, no $VMSTORE_CONFIG, none of %s): the built-in defaults apply\n",
             looked.c_str());
      return Status::OK();
    }
    int set = 0;
    for (const ConfigKey& k : ConfigKeys()) set += c->IsSet(k.name);
    if (ctx->json) {
      PrintJson({{"file", c->origin()}, {"ok", true}, {"keys_set", set}});
    } else {
      Printf("%s: ok (%d of %zu keys set)\n", c->origin().c_str(), set, ConfigKeys().size());
    }
    return Status::OK();
  }));
  config
      ->add_subcommand("example",
                       "Print a config file listing every key with its meaning and default (contrib/vmstore.toml)\n"
                       "  example: vmstore config example > /etc/vmstore/vmstore.toml")
      ->callback(run([]() -> Status {
        Printf("%s", ConfigExample().c_str());
        return Status::OK();
      }));
}

}  // namespace vmstore::cli
