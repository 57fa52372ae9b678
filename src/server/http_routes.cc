// The HTTP API's routes (the table is in http_api.h). Each calls the Manager
// or server::Operations with the request's values as values - never as
// command-line words - and answers with the views of server/views.h.
#include <httplib.h>

#include "metrics/pool_metrics.h"
#include "server/http_api.h"
#include "server/http_util.h"
#include "server/operations.h"
#include "server/views.h"
#include "server/web_assets.h"
#include "util/units.h"

namespace vmstore::server {

namespace {

using Req = const httplib::Request&;
using Res = httplib::Response&;

// Wraps a handler that makes a view from the request: answers it or its error.
template <typename Fn>
httplib::Server::Handler View(Fn fn) {
  return [fn](Req req, Res res) { Reply(res, fn(req)); };
}

// Wraps a handler that needs the JSON body: 400 when it is not an object.
template <typename Fn>
httplib::Server::Handler WithBody(Fn fn) {
  return [fn](Req req, Res res) {
    if (auto b = Body(req, res)) fn(req, *b, res);
  };
}

std::string Vm(Req req) { return req.matches[1]; }

}  // namespace

void HttpApi::AddServerRoutes() {
  httplib::Server& s = *server_;
  const Deps d = deps_;
  // The web console's files: no data in them, so no token (the console asks
  // for it and sends it with every API call).
  auto asset = [](const std::string& name, Res res) {
    const WebAsset* a = FindWebAsset(name);
    if (!a) return SendError(res, 404, "NotFound", "no file " + name + " in the web console");
    res.set_header("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Cache-Control", "no-cache");
    res.set_content(a->data, a->size, a->content_type);
  };
  s.Get("/", [asset](Req, Res res) { asset("index.html", res); });
  s.Get(R"(/ui/([A-Za-z0-9_.-]+))", [asset](Req req, Res res) { asset(req.matches[1], res); });
  s.Get("/v1/status", View([d](Req) { return PoolStatus(*d.manager, d.hooks, d.env); }));
  // A gateway's cluster: nodes, ring, a move's progress (`cluster status`).
  s.Get("/v1/cluster", [d](Req, Res res) {
    if (!d.hooks || !d.hooks->cluster_status) {
      return SendError(res, 404, "NotFound", "this server serves a pool directory, not a cluster");
    }
    StatusOr<std::string> text = d.hooks->cluster_status();
    if (!text.ok()) return Reply(res, StatusOr<json>(text.status()));
    res.set_content(*text, "application/json");
  });
  // Rendered here, not as a command: a scrape does not wait behind a long command.
  s.Get("/metrics", [d](Req, Res res) {
    std::optional<metrics::ServerView> view;
    if (d.hooks && d.hooks->server_view) view = d.hooks->server_view();
    StatusOr<std::string> text = metrics::RenderMetrics(*d.manager, view ? &*view : nullptr, d.env);
    if (!text.ok()) return SendError(res, 500, "Internal", text.status().ToString());
    res.set_content(*text, "text/plain; version=0.0.4; charset=utf-8");
  });
  s.Get("/v1/exports", [d](Req, Res res) {
    json open = json::array();
    if (d.hooks && d.hooks->open_exports) {
      for (const std::string& e : d.hooks->open_exports()) open.push_back(e);
    }
    SendJson(res, 200, {{"open", open}});
  });
  s.Post(
      "/v1/cli", WithBody([d](Req, const json& b, Res res) {
        const json& args = b.value("args", json());
        if (!args.is_array() || !std::all_of(args.begin(), args.end(), [](const json& v) { return v.is_string(); })) {
          return SendError(res, 400, "InvalidArgument", "field \"args\" must be an array of strings");
        }
        AnswerCommand(d.commands, args.get<std::vector<std::string>>(), res);
      }));
}

void HttpApi::AddObjectRoutes() {
  httplib::Server& s = *server_;
  const Deps d = deps_;
  Manager* m = d.manager;
  auto ops = [d] { return Operations(d.manager, d.hooks); };
  s.Get("/v1/srs", View([m](Req) -> StatusOr<json> {
          ASSIGN_OR_RETURN(auto srs, m->ListSrs());
          return ToJsonArray(srs);
        }));
  s.Get("/v1/vms", View([m](Req req) -> StatusOr<json> {
          ASSIGN_OR_RETURN(auto vms, m->ListVms(Flag(req, "all")));
          return ToJsonArray(vms);
        }));
  s.Post("/v1/vms", WithBody([m](Req, const json& b, Res res) {
           auto name = Field(b, "name", res);
           if (!name) return;
           Reply(res, [&]() -> StatusOr<json> {
             ASSIGN_OR_RETURN(VmInfo v, m->CreateVm(*name));
             return ToJson(v);
           }());
         }));
  s.Get(R"(/v1/vms/([^/]+))", View([m](Req req) -> StatusOr<json> {
          ASSIGN_OR_RETURN(VmInfo v, m->GetVm(Vm(req)));
          return ToJson(v);
        }));
  s.Delete(R"(/v1/vms/([^/]+))", View([ops](Req req) -> StatusOr<json> {
             ASSIGN_OR_RETURN(DeleteReport r, ops().DeleteVm(Vm(req), Flag(req, "recursive"), Flag(req, "dry_run"),
                                                             Flag(req, "force")));
             return ToJson(r);
           }));
  s.Get(R"(/v1/vms/([^/]+)/disks)", View([m](Req req) -> StatusOr<json> {
          ASSIGN_OR_RETURN(auto disks, m->ListDisks(Vm(req)));
          return ToJsonArray(disks);
        }));
  s.Post(R"(/v1/vms/([^/]+)/disks)", WithBody([m](Req req, const json& b, Res res) {
           auto name = Field(b, "name", res);
           auto size = name ? Field(b, "size", res) : std::nullopt;
           auto sr = size ? Field(b, "sr", res, false) : std::nullopt;
           if (!sr) return;
           Reply(res, [&]() -> StatusOr<json> {
             ASSIGN_OR_RETURN(uint64_t bytes, ParseSize(*size));
             ASSIGN_OR_RETURN(DiskInfo disk, m->CreateDisk(Vm(req), *name, bytes, *sr));
             return ToJson(disk);
           }());
         }));
  s.Get(R"(/v1/vms/([^/]+)/tree)", View([m](Req req) -> StatusOr<json> {
          ASSIGN_OR_RETURN(TreeNode t, m->SnapshotTree(Vm(req), Flag(req, "all")));
          return ToJson(t);
        }));
  s.Get(R"(/v1/vms/([^/]+)/snapshots)", View([m](Req req) -> StatusOr<json> {
          ASSIGN_OR_RETURN(auto snaps, m->ListSnapshots(Vm(req), Flag(req, "all")));
          return ToJsonArray(snaps);
        }));
  s.Post(R"(/v1/vms/([^/]+)/snapshots)", WithBody([ops](Req req, const json& b, Res res) {
           auto name = Field(b, "name", res);
           if (!name) return;
           Reply(res, [&]() -> StatusOr<json> {
             ASSIGN_OR_RETURN(SnapshotInfo snap, ops().CreateSnapshot(Vm(req), *name, ""));
             return ToJson(snap);
           }());
         }));
  s.Delete(R"(/v1/vms/([^/]+)/snapshots/([^/]+))", View([ops](Req req) -> StatusOr<json> {
             const std::string ref = Vm(req) + "@" + std::string(req.matches[2]);
             ASSIGN_OR_RETURN(DeleteReport r, ops().DeleteSnapshot(ref, Flag(req, "recursive"), Flag(req, "dry_run"),
                                                                   Flag(req, "force")));
             return ToJson(r);
           }));
  s.Post(R"(/v1/vms/([^/]+)/rollback)", WithBody([ops](Req req, const json& b, Res res) {
           auto snap = Field(b, "snapshot", res);
           if (!snap) return;
           const std::string ref = Vm(req) + "@" + *snap;
           Reply(res, [&]() -> StatusOr<json> {
             RETURN_IF_ERROR(ops().Rollback(ref, b.value("force", false)));
             return json{{"rolled_back_to", ref}};
           }());
         }));
  s.Post(R"(/v1/vms/([^/]+)/clone)", WithBody([m](Req req, const json& b, Res res) {
           auto snap = Field(b, "snapshot", res);
           auto name = snap ? Field(b, "name", res) : std::nullopt;
           auto sr = name ? Field(b, "sr", res, false) : std::nullopt;
           if (!sr) return;
           Reply(res, [&]() -> StatusOr<json> {
             ASSIGN_OR_RETURN(VmInfo v, m->CloneVm(Vm(req) + "@" + *snap, *name, *sr));
             return ToJson(v);
           }());
         }));
}

}  // namespace vmstore::server
