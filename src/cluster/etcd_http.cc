// Etcd over the v3 JSON gateway (etcd.h). Every int64 the gateway sends is a
// JSON string, and fields equal to zero or empty are left out.
#include <httplib.h>
#include <openssl/evp.h>

#include <charconv>
#include <nlohmann/json.hpp>

#include "cluster/etcd.h"

namespace vmstore::cluster {

namespace {

using json = nlohmann::json;

std::string Base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

StatusOr<std::string> Unbase64(const std::string& in) {
  if (in.size() % 4) return Corruption("etcd sent malformed base64");
  std::string out(3 * in.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (n < 0) return Corruption("etcd sent malformed base64");
  size_t pad = 0;
  while (pad < 2 && pad < in.size() && in[in.size() - 1 - pad] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

// An int64 field of the gateway's JSON (a string, or absent for zero).
int64_t Int(const json& j, const char* name) {
  if (!j.is_object() || !j.contains(name)) return 0;
  const json& v = j[name];
  if (v.is_string()) {  // a malformed number reads as 0, as an absent one
    const std::string s = v.get<std::string>();
    int64_t n = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    return ec == std::errc() && end == s.data() + s.size() ? n : 0;
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  return 0;
}

StatusOr<KeyValue> ParseKv(const json& j) {
  KeyValue kv;
  ASSIGN_OR_RETURN(kv.key, Unbase64(j.value("key", "")));
  ASSIGN_OR_RETURN(kv.value, Unbase64(j.value("value", "")));
  kv.create_revision = Int(j, "create_revision");
  kv.mod_revision = Int(j, "mod_revision");
  kv.version = Int(j, "version");
  kv.lease = Int(j, "lease");
  return kv;
}

struct Endpoint {
  std::string host;
  int port = 0;
  std::string Name() const { return host + ":" + std::to_string(port); }
};

class HttpEtcd final : public Etcd {
 public:
  HttpEtcd(std::vector<Endpoint> endpoints, std::chrono::milliseconds timeout)
      : endpoints_(std::move(endpoints)), timeout_(timeout) {}

  StatusOr<std::optional<KeyValue>> Get(const std::string& key) override {
    ASSIGN_OR_RETURN(json r, Call("/v3/kv/range", {{"key", Base64(key)}}));
    if (!r.contains("kvs") || r["kvs"].empty()) return std::optional<KeyValue>();
    ASSIGN_OR_RETURN(KeyValue kv, ParseKv(r["kvs"][0]));
    return std::optional<KeyValue>(std::move(kv));
  }

  StatusOr<std::vector<KeyValue>> List(const std::string& prefix, int64_t* revision) override {
    ASSIGN_OR_RETURN(json r, Call("/v3/kv/range", {{"key", Base64(prefix)}, {"range_end", Base64(PrefixEnd(prefix))}}));
    if (revision) *revision = Int(r.value("header", json::object()), "revision");
    std::vector<KeyValue> out;
    for (const json& j : r.value("kvs", json::array())) {
      ASSIGN_OR_RETURN(KeyValue kv, ParseKv(j));
      out.push_back(std::move(kv));
    }
    return out;
  }

  StatusOr<int64_t> Put(const std::string& key, const std::string& value, int64_t lease) override {
    json body = {{"key", Base64(key)}, {"value", Base64(value)}};
    if (lease) body["lease"] = std::to_string(lease);
    ASSIGN_OR_RETURN(json r, Call("/v3/kv/put", body));
    return Int(r.value("header", json::object()), "revision");
  }

  StatusOr<int64_t> CompareAndPut(const std::string& key, int64_t expected, const std::string& value,
                                  int64_t lease) override {
    json put = {{"key", Base64(key)}, {"value", Base64(value)}};
    if (lease) put["lease"] = std::to_string(lease);
    return Txn(key, expected, {{"request_put", put}});
  }

  StatusOr<bool> CompareAndDelete(const std::string& key, int64_t expected) override {
    ASSIGN_OR_RETURN(int64_t rev, Txn(key, expected, {{"request_delete_range", {{"key", Base64(key)}}}}));
    return rev != 0;
  }

  Status Delete(const std::string& key) override { return Call("/v3/kv/deleterange", {{"key", Base64(key)}}).status(); }

  StatusOr<int64_t> GrantLease(int64_t ttl_seconds) override {
    ASSIGN_OR_RETURN(json r, Call("/v3/lease/grant", {{"TTL", ttl_seconds}}));
    const int64_t id = Int(r, "ID");
    if (!id) return Corruption("etcd granted no lease: " + r.dump());
    return id;
  }

  StatusOr<int64_t> KeepAlive(int64_t lease) override {
    ASSIGN_OR_RETURN(json r, Call("/v3/lease/keepalive", {{"ID", std::to_string(lease)}}));
    const int64_t ttl = Int(r.value("result", json::object()), "TTL");
    if (ttl <= 0) return NotFound("etcd lease " + std::to_string(lease) + " has expired");
    return ttl;
  }

  Status Revoke(int64_t lease) override { return Call("/v3/lease/revoke", {{"ID", std::to_string(lease)}}).status(); }

  StatusOr<std::vector<WatchEvent>> WaitChanges(const std::string& prefix, int64_t after_revision,
                                                std::chrono::milliseconds timeout) override;

 private:
  // The store's revision after the transaction when it succeeded, else 0.
  StatusOr<int64_t> Txn(const std::string& key, int64_t expected, const json& op) {
    json body = {{"compare", json::array({{{"key", Base64(key)},
                                           {"result", "EQUAL"},
                                           {"target", "MOD"},
                                           {"mod_revision", std::to_string(expected)}}})},
                 {"success", json::array({op})}};
    ASSIGN_OR_RETURN(json r, Call("/v3/kv/txn", body));
    if (!r.value("succeeded", false)) return int64_t{0};
    const int64_t rev = Int(r.value("header", json::object()), "revision");
    if (rev <= 0) return Corruption("etcd answered a transaction without its revision: " + r.dump());
    return rev;
  }

  // POSTs `body` to each endpoint in turn until one answers.
  StatusOr<json> Call(const std::string& path, const json& body);

  const std::vector<Endpoint> endpoints_;
  const std::chrono::milliseconds timeout_;
};

StatusOr<json> HttpEtcd::Call(const std::string& path, const json& body) {
  std::string errors;
  for (const Endpoint& e : endpoints_) {
    httplib::Client c(e.host, e.port);
    c.set_connection_timeout(timeout_);
    c.set_read_timeout(timeout_);
    c.set_write_timeout(timeout_);
    auto res = c.Post(path, body.dump(), "application/json");
    if (!res) {
      errors += (errors.empty() ? "" : "; ") + e.Name() + ": " + httplib::to_string(res.error());
      continue;
    }
    json r = json::parse(res->body, nullptr, false);
    if (r.is_discarded()) return Corruption("etcd " + e.Name() + path + " answered " + std::to_string(res->status));
    if (res->status != 200) {
      std::string msg = r.value("message", r.value("error", res->body));
      if (res->status == 404 || msg.find("not found") != std::string::npos) {
        return NotFound("etcd " + path + ": " + msg);
      }
      return IOError("etcd " + e.Name() + path + " answered " + std::to_string(res->status) + ": " + msg);
    }
    return r;
  }
  return IOError("no etcd endpoint answered " + path + " (" + errors + ")");
}

StatusOr<std::vector<WatchEvent>> HttpEtcd::WaitChanges(const std::string& prefix, int64_t after_revision,
                                                        std::chrono::milliseconds timeout) {
  const json body = {{"create_request",
                      {{"key", Base64(prefix)},
                       {"range_end", Base64(PrefixEnd(prefix))},
                       {"start_revision", std::to_string(after_revision + 1)}}}};
  std::string errors;
  for (const Endpoint& e : endpoints_) {
    httplib::Client c(e.host, e.port);
    c.set_connection_timeout(timeout_);
    c.set_read_timeout(timeout);  // no event in time: the read times out
    std::vector<WatchEvent> events;
    Status parse_error;
    std::string pending;
    httplib::Request req;
    req.method = "POST";
    req.path = "/v3/watch";
    req.body = body.dump();
    req.set_header("Content-Type", "application/json");
    // One JSON object per message; stop at the first that carries events.
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
      pending.append(data, n);
      size_t nl;
      while ((nl = pending.find('\n')) != std::string::npos || (!pending.empty() && json::accept(pending))) {
        std::string msg = nl == std::string::npos ? pending : pending.substr(0, nl);
        pending.erase(0, nl == std::string::npos ? pending.size() : nl + 1);
        if (msg.empty()) continue;
        json m = json::parse(msg, nullptr, false);
        if (m.is_discarded()) continue;  // a message split across reads: wait for the rest
        for (const json& ev : m.value("result", json::object()).value("events", json::array())) {
          WatchEvent w;
          w.type = ev.value("type", "PUT") == "DELETE" ? WatchEvent::Type::kDelete : WatchEvent::Type::kPut;
          auto kv = ParseKv(ev.value("kv", json::object()));
          if (!kv.ok()) {
            parse_error = kv.status();
            return false;
          }
          w.kv = std::move(kv).value();
          events.push_back(std::move(w));
        }
        if (!events.empty()) return false;  // enough: end the stream
      }
      return true;
    };
    httplib::Response res;
    httplib::Error err = httplib::Error::Success;
    const bool sent = c.send(req, res, err);
    if (!parse_error.ok()) return parse_error;
    if (!events.empty()) return events;
    if (err == httplib::Error::Read || (sent && res.status == 200)) return events;  // timed out: nothing changed
    errors += (errors.empty() ? "" : "; ") + e.Name() + ": " + httplib::to_string(err);
  }
  return IOError("no etcd endpoint answered /v3/watch (" + errors + ")");
}

StatusOr<std::vector<Endpoint>> ParseEndpoints(const std::string& list) {
  std::vector<Endpoint> out;
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    std::string e = list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? list.size() + 1 : comma + 1;
    if (e.empty()) continue;
    if (e.rfind("https://", 0) == 0) return InvalidArgument("etcd endpoint '" + e + "': only http:// is supported");
    if (e.rfind("http://", 0) == 0) e = e.substr(7);
    while (!e.empty() && e.back() == '/') e.pop_back();
    const size_t colon = e.rfind(':');
    int port = 0;
    try {
      port = colon == std::string::npos ? 0 : std::stoi(e.substr(colon + 1));
    } catch (...) {
      port = 0;
    }
    if (colon == std::string::npos || colon == 0 || port <= 0 || port > 65535) {
      return InvalidArgument("etcd endpoint '" + e + "' is not HOST:PORT or http://HOST:PORT");
    }
    out.push_back({e.substr(0, colon), port});
  }
  if (out.empty()) return InvalidArgument("no etcd endpoint given (--etcd http://HOST:PORT[,...])");
  return out;
}

}  // namespace

std::string PrefixEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

StatusOr<std::unique_ptr<Etcd>> ConnectEtcd(const std::string& endpoints, std::chrono::milliseconds timeout) {
  ASSIGN_OR_RETURN(std::vector<Endpoint> list, ParseEndpoints(endpoints));
  auto etcd = std::make_unique<HttpEtcd>(std::move(list), timeout);
  Status s = etcd->Get("/vmstore").status();  // one round trip: is anyone there?
  if (!s.ok()) return Status(s.code(), "cannot reach etcd at " + endpoints + ": " + s.message());
  return std::unique_ptr<Etcd>(std::move(etcd));
}

}  // namespace vmstore::cluster
