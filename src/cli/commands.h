// The vmstore subcommands. Each Add* registers its subcommands on `app`; their
// callbacks run after parsing and leave the process exit code in ctx->rc.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "cli/cli_util.h"
#include "vmstore/manager.h"

namespace vmstore::cli {

struct Context {
  std::string pool_flag;  // --pool
  bool json = false;      // --json
  int rc = 0;
  // --pool, else $VMSTORE_POOL; InvalidArgument if neither.
  StatusOr<std::string> Dir() const;
  StatusOr<std::unique_ptr<Manager>> Open() const;
};

// A subcommand callback that runs `body` with an open Manager, turning errors
// into the exit code.
template <typename Body>
std::function<void()> WithManager(Context* ctx, Body body) {
  return [ctx, body] {
    auto m = ctx->Open();
    if (!m.ok()) {
      ctx->rc = Fail(m.status());
      return;
    }
    Status s = body(**m);
    Status c = (*m)->Close();
    if (s.ok()) s = c;
    ctx->rc = s.ok() ? 0 : Fail(s);
  };
}

void PrintDeleteReport(const DeleteReport& r, bool as_json);

void AddPoolCommands(CLI::App& app, Context* ctx);      // init, status, fsck, scrub, demo
void AddObjectCommands(CLI::App& app, Context* ctx);    // sr, vm, disk, catalog
void AddSnapshotCommands(CLI::App& app, Context* ctx);  // snapshot
void AddServeCommand(CLI::App& app, Context* ctx);      // serve

}  // namespace vmstore::cli
