// The NBD server: listening sockets, the handshake, and transmission.
#include "nbd/server.h"

#include <arpa/inet.h>
#include <fnmatch.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "nbd/protocol.h"
#include "nbd/stream.h"
#include "nbd/tls.h"
#include "nbd/wire.h"
#include "util/host_port.h"
#include "util/log.h"
#include "util/socket_io.h"
#include "util/unix_socket.h"

namespace vmstore::nbd {
namespace {

uint32_t ErrnoFor(const Status& s) {
  switch (s.code()) {
    case Code::kOk:
      return 0;
    case Code::kInvalidArgument:
    case Code::kOutOfRange:
      return kEINVAL;
    case Code::kFailedPrecondition:
      return kEPERM;
    case Code::kNoSpace:
      return kENOSPC;
    case Code::kNotSupported:
      return kENOTSUP;
    default:
      return kEIO;
  }
}

std::string OptionReply(uint32_t option, uint32_t type, const std::string& data) {
  std::string r;
  PutBe64(&r, kRepMagic);
  PutBe32(&r, option);
  PutBe32(&r, type);
  PutBe32(&r, static_cast<uint32_t>(data.size()));
  return r + data;
}

Op OpOf(uint16_t type) {
  switch (type) {
    case kCmdRead:
      return Op::kRead;
    case kCmdWrite:
      return Op::kWrite;
    case kCmdFlush:
      return Op::kFlush;
    case kCmdTrim:
      return Op::kTrim;
    case kCmdWriteZeroes:
      return Op::kWriteZeroes;
    case kCmdBlockStatus:
      return Op::kBlockStatus;
    case kCmdCache:
      return Op::kCache;
    default:
      return Op::kOther;
  }
}

constexpr uint32_t kAllocContextId = 1;
constexpr char kAllocContext[] = "base:allocation";

}  // namespace

struct Server::Conn {
  int fd = -1;
  std::unique_ptr<Stream> stream;  // the socket, or TLS over it, once the handshake is done
  // Set once, under Server::mu_, by the connection's thread when transmission
  // starts (before its workers run, so they read it freely); other threads
  // read it under Server::mu_.
  std::string export_name;
  std::string client;  // peer IP, or "unix"
  std::mutex wmu;      // one reply at a time
  bool structured = false;
  bool meta_alloc = false;  // base:allocation selected
  std::unique_ptr<backend::Device> dev;
  ExportMetrics* metrics = nullptr;  // the export's counters
  uint64_t size = 0;
  bool read_only = false;

  bool Send(std::string_view head, std::string_view body) {
    std::lock_guard<std::mutex> l(wmu);
    return stream->WriteFull2(head.data(), head.size(), body.data(), body.size());
  }
};

Server::Server(ExportSource* exports, ServerOptions options) : exports_(exports), opts_(std::move(options)) {}

Server::~Server() { Stop(); }

bool Allowed(const std::vector<std::pair<std::string, std::string>>& allow, const std::string& client,
             const std::string& export_name) {
  if (allow.empty() || client == "admin") return true;
  for (const auto& [who, glob] : allow) {
    if ((who == "*" || who == client) && ::fnmatch(glob.c_str(), export_name.c_str(), 0) == 0) return true;
  }
  return false;
}

ServerStats Server::stats() const { return {n_conns_.load(), n_requests_.load(), n_errors_.load(), n_refused_.load()}; }

Status Server::Start() {
  if (!opts_.listen.empty()) {
    ASSIGN_OR_RETURN(internal::HostPort hp, internal::ParseHostPort(opts_.listen, "listen address"));
    const std::string host = hp.host, port = std::to_string(hp.port);
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if (int e = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res); e != 0) {
      return InvalidArgument("listen address '" + opts_.listen + "': " + gai_strerror(e));
    }
    int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || ::bind(fd, res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd, 64) != 0) {
      int err = errno;
      ::freeaddrinfo(res);
      if (fd >= 0) ::close(fd);
      return ErrnoStatus(err, "listen on " + opts_.listen);
    }
    ::freeaddrinfo(res);
    sockaddr_storage ss{};
    socklen_t sl = sizeof ss;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl);
    tcp_port_ = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                         : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    listen_fds_.push_back(fd);
  }
  // The admin socket is root's alone (mode 0600 before it listens).
  for (const std::string* path : {&opts_.unix_socket, &opts_.admin_socket}) {
    if (path->empty()) continue;
    const bool admin = path == &opts_.admin_socket;
    ASSIGN_OR_RETURN(int fd, internal::ListenUnix(*path, admin ? 0600 : -1, 64));
    if (admin) admin_fd_ = fd;
    listen_fds_.push_back(fd);
  }
  if (listen_fds_.empty()) return InvalidArgument("nothing to listen on (give --listen or --socket)");
  for (int fd : listen_fds_) acceptors_.emplace_back([this, fd] { AcceptLoop(fd); });
  return Status::OK();
}

void Server::AcceptLoop(int listen_fd) {
  while (!stopping_) {
    pollfd p{listen_fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    sockaddr_storage peer{};
    socklen_t plen = sizeof peer;
    int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &plen, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::string client = listen_fd == admin_fd_ ? "admin" : "unix";
    char ip[INET6_ADDRSTRLEN] = "";
    if (peer.ss_family == AF_INET) {
      ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&peer)->sin_addr, ip, sizeof ip);
      client = ip;
    } else if (peer.ss_family == AF_INET6) {
      ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&peer)->sin6_addr, ip, sizeof ip);
      client = ip;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto c = std::make_shared<Conn>();
    c->fd = fd;
    c->client = client;
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_) {
      ::close(fd);
      break;
    }
    size_t same = 0;
    for (const auto& o : conns_) same += o->client == client;
    if (conns_.size() >= static_cast<size_t>(std::max(1, opts_.max_connections)) ||
        same >= static_cast<size_t>(std::max(1, opts_.max_client_connections))) {
      ::close(fd);
      ++n_refused_;
      logging::Warn(
          "nbd",
          "connection from " + client + " refused: " + std::to_string(same) + " open from it, " +
              std::to_string(conns_.size()) + " in all",
          {{"client", client}, {"limit_client", opts_.max_client_connections}, {"limit", opts_.max_connections}});
      continue;
    }
    conns_.insert(c);
    ++n_conns_;
    // Reap threads whose connection has ended.
    for (size_t i = 0; i < conn_threads_.size();) {
      if (conn_threads_[i].done->load()) {
        conn_threads_[i].thread.join();
        conn_threads_[i] = std::move(conn_threads_.back());
        conn_threads_.pop_back();
      } else {
        ++i;
      }
    }
    auto done = std::make_shared<std::atomic<bool>>(false);
    conn_threads_.push_back({std::thread([this, c, done] {
                               Serve(c);
                               {
                                 std::lock_guard<std::mutex> l2(mu_);
                                 conns_.erase(c);
                               }
                               *done = true;
                             }),
                             done});
  }
}

std::vector<std::string> Server::OpenExports() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<std::string> out;
  for (const auto& c : conns_) {
    if (!c->export_name.empty()) out.push_back(c->export_name);
  }
  return out;
}

void Server::Disconnect(const std::vector<std::string>& exports) {
  auto matching = [&] {
    std::vector<int> fds;
    for (const auto& c : conns_) {
      if (std::find(exports.begin(), exports.end(), c->export_name) != exports.end()) fds.push_back(c->fd);
    }
    return fds;
  };
  {
    std::lock_guard<std::mutex> l(mu_);
    for (int fd : matching()) ::shutdown(fd, SHUT_RDWR);
  }
  for (int i = 0; i < 1000; ++i) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (matching().empty()) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void Server::Stop() {
  if (stopping_.exchange(true)) return;
  for (auto& t : acceptors_) t.join();
  acceptors_.clear();
  for (int fd : listen_fds_) ::close(fd);
  listen_fds_.clear();
  for (const std::string* path : {&opts_.unix_socket, &opts_.admin_socket}) {
    if (!path->empty()) ::unlink(path->c_str());
  }
  {
    // Wake every reader; workers finish what was read and the connection flushes.
    std::lock_guard<std::mutex> l(mu_);
    for (auto& c : conns_) ::shutdown(c->fd, SHUT_RD);
  }
  std::vector<ConnThread> threads;
  {
    std::lock_guard<std::mutex> l(mu_);
    threads.swap(conn_threads_);
  }
  for (auto& t : threads) t.thread.join();
}

// ---- one connection

namespace {

struct Request : RequestHeader {
  std::string data;  // WRITE payload
};

// Handshake state and helpers, used by Serve.
class Handshake {
 public:
  Handshake(int fd, ExportSource* exports, const ServerOptions& opts, std::string client)
      : fd_(fd),
        stream_(std::make_unique<SocketStream>(fd)),
        exports_(exports),
        opts_(opts),
        client_(std::move(client)) {}
  bool structured = false, no_zeroes = false, meta_alloc = false;
  std::string meta_export;
  std::unique_ptr<backend::Device> dev;
  std::string export_name;

  // Runs the option phase; true when transmission should start.
  bool Run() {
    std::string hello;
    PutBe64(&hello, kNbdMagic);
    PutBe64(&hello, kOptMagic);
    PutBe16(&hello, kFlagFixedNewstyle | kFlagNoZeroes);
    if (!Send(hello)) return false;
    char cf[4];
    if (!stream_->ReadFull(cf, 4)) return false;
    uint32_t client_flags = GetBe32(cf);
    if (!(client_flags & kClientFixedNewstyle)) return false;  // only fixed newstyle clients
    no_zeroes = client_flags & kClientNoZeroes;
    for (;;) {
      char h[16];
      if (!stream_->ReadFull(h, 16)) return false;
      if (GetBe64(h) != kOptMagic) return false;
      uint32_t opt = GetBe32(h + 8), len = GetBe32(h + 12);
      if (len > kMaxOptionLength) {
        if (len > (1u << 20)) return false;  // not worth reading
        std::string skip(len, '\0');
        if (!stream_->ReadFull(skip.data(), len)) return false;
        if (!Reply(opt, kRepErrTooBig, "option too long")) return false;
        continue;
      }
      std::string data(len, '\0');
      if (len && !stream_->ReadFull(data.data(), len)) return false;
      int r = Option(opt, data);
      if (r < 0) return false;
      if (r > 0) return true;
    }
  }

  // The stream that carries the connection from here on.
  std::unique_ptr<Stream> TakeStream() { return std::move(stream_); }

 private:
  bool Send(const std::string& s) { return stream_->WriteFull(s.data(), s.size()); }
  bool Reply(uint32_t opt, uint32_t type, const std::string& data = "") { return Send(OptionReply(opt, type, data)); }
  // A reply that ends the option: 0 to go on with the next one, -1 if the
  // client is gone.
  int Answer(uint32_t opt, uint32_t type, const std::string& data = "") { return Reply(opt, type, data) ? 0 : -1; }
  // The allow-list's refusal of `name` to this client.
  int NotAllowed(uint32_t opt, const std::string& name) {
    logging::Warn("nbd", "export refused by the allow list", {{"client", client_}, {"export", name}});
    return Answer(opt, kRepErrPolicy, "export '" + name + "' is not allowed for client " + client_);
  }

  uint16_t TransmissionFlags() const {
    uint16_t f = kFlagHasFlags | kFlagSendFlush | kFlagSendFua | kFlagSendWriteZeroes | kFlagSendCache |
                 kFlagSendFastZero | kFlagCanMultiConn;
    if (dev->can_trim()) f |= kFlagSendTrim;
    if (structured) f |= kFlagSendDf;
    if (dev->read_only()) f |= kFlagReadOnly;
    return f;
  }

  // -1: drop the connection; 0: continue; 1: start transmission.
  int Option(uint32_t opt, const std::string& d) {
    if (opts_.tls_required && !stream_->is_tls() && client_ != "admin" && opt != kOptStartTls && opt != kOptAbort) {
      if (opt == kOptExportName) return -1;  // no error reply exists for it
      return Answer(opt, kRepErrTlsReqd, "this server requires TLS (NBD_OPT_STARTTLS) before any other option");
    }
    switch (opt) {
      case kOptExportName: {
        if (!Allowed(opts_.allow, client_, d)) return -1;
        auto dev_or = exports_->Open(d);
        if (!dev_or.ok()) return -1;  // the protocol has no error reply here
        dev = std::move(dev_or).value();
        export_name = d;
        std::string r;
        PutBe64(&r, dev->size());
        PutBe16(&r, TransmissionFlags());
        if (!no_zeroes) r.append(124, '\0');
        return Send(r) ? 1 : -1;
      }
      case kOptAbort:
        Reply(opt, kRepAck);
        return -1;
      case kOptList: {
        if (!d.empty()) return Answer(opt, kRepErrInvalid, "NBD_OPT_LIST takes no data");
        auto list = exports_->List();
        if (!list.ok()) return Answer(opt, kRepErrPlatform, list.status().ToString());
        for (const auto& e : *list) {
          if (!Allowed(opts_.allow, client_, e.name)) continue;
          std::string p;
          PutBe32(&p, static_cast<uint32_t>(e.name.size()));
          p += e.name + e.description;
          if (!Reply(opt, kRepServer, p)) return -1;
        }
        return Answer(opt, kRepAck);
      }
      case kOptStructuredReply:
        if (!d.empty()) return Answer(opt, kRepErrInvalid, "NBD_OPT_STRUCTURED_REPLY takes no data");
        structured = true;
        return Answer(opt, kRepAck);
      case kOptInfo:
      case kOptGo:
        return InfoOrGo(opt, d);
      case kOptListMetaContext:
      case kOptSetMetaContext:
        return MetaContext(opt, d);
      case kOptStartTls:
        return StartTls(d);
      default:
        return Answer(opt, kRepErrUnsup, "option " + std::to_string(opt) + " is not supported");
    }
  }

  int StartTls(const std::string& d) {
    if (!opts_.tls) return Answer(kOptStartTls, kRepErrPolicy, "TLS is not configured on this server");
    if (stream_->is_tls()) return Answer(kOptStartTls, kRepErrInvalid, "TLS is already on");
    if (!d.empty()) return Answer(kOptStartTls, kRepErrInvalid, "NBD_OPT_STARTTLS takes no data");
    if (!Reply(kOptStartTls, kRepAck)) return -1;
    auto tls = opts_.tls->Handshake(fd_);
    if (!tls.ok()) return -1;  // the stream is in an unknown state
    stream_ = std::move(tls).value();
    // Nothing negotiated in plaintext carries over.
    structured = false;
    meta_alloc = false;
    meta_export.clear();
    return 0;
  }

  int InfoOrGo(uint32_t opt, const std::string& d) {
    auto req = ParseGo(d);
    if (!req.ok()) return Answer(opt, kRepErrInvalid, req.status().message());
    const std::string& name = req->name;
    bool want_name = false, want_desc = false, want_block = false;
    for (uint16_t t : req->infos) {
      want_name |= t == kInfoName;
      want_desc |= t == kInfoDescription;
      want_block |= t == kInfoBlockSize;
    }
    if (!Allowed(opts_.allow, client_, name)) return NotAllowed(opt, name);
    auto dev_or = exports_->Open(name);
    if (!dev_or.ok()) {
      uint32_t err = dev_or.status().code() == Code::kNotFound ? kRepErrUnknown : kRepErrPlatform;
      return Answer(opt, err, dev_or.status().message());
    }
    dev = std::move(dev_or).value();
    std::string info;
    PutBe16(&info, kInfoExport);
    PutBe64(&info, dev->size());
    PutBe16(&info, TransmissionFlags());
    if (!Reply(opt, kRepInfo, info)) return -1;
    if (want_name) {
      std::string p;
      PutBe16(&p, kInfoName);
      if (!Reply(opt, kRepInfo, p + name)) return -1;
    }
    if (want_desc) {
      std::string p;
      PutBe16(&p, kInfoDescription);
      if (!Reply(opt, kRepInfo, p + (dev->read_only() ? "snapshot (read-only)" : "disk"))) return -1;
    }
    if (want_block) {
      std::string p;
      PutBe16(&p, kInfoBlockSize);
      PutBe32(&p, 1);
      PutBe32(&p, kPreferredBlock);
      PutBe32(&p, kMaxPayload);
      if (!Reply(opt, kRepInfo, p)) return -1;
    }
    if (!Reply(opt, kRepAck)) return -1;
    if (opt == kOptInfo) {
      dev.reset();
      return 0;
    }
    export_name = name;
    if (meta_alloc && meta_export != name) meta_alloc = false;  // contexts were for another export
    return 1;
  }

  int MetaContext(uint32_t opt, const std::string& d) {
    if (opt == kOptSetMetaContext && !structured) {
      return Answer(opt, kRepErrInvalid, "negotiate structured replies first");
    }
    auto req = ParseMeta(d);
    if (!req.ok()) return Answer(opt, kRepErrInvalid, req.status().message());
    const std::string& name = req->name;
    const std::vector<std::string>& queries = req->queries;
    if (!Allowed(opts_.allow, client_, name)) return NotAllowed(opt, name);
    auto probe = exports_->Open(name);
    if (!probe.ok()) return Answer(opt, kRepErrUnknown, probe.status().message());
    bool match = false;
    if (queries.empty()) match = opt == kOptListMetaContext;
    for (const std::string& q : queries) match |= q == kAllocContext || (opt == kOptListMetaContext && q == "base:");
    if (opt == kOptSetMetaContext) {
      meta_alloc = match;
      meta_export = name;
    }
    if (match) {
      std::string p;
      PutBe32(&p, kAllocContextId);
      if (!Reply(opt, kRepMetaContext, p + kAllocContext)) return -1;
    }
    return Answer(opt, kRepAck);
  }

  int fd_;
  std::unique_ptr<Stream> stream_;
  ExportSource* exports_;
  const ServerOptions& opts_;
  std::string client_;
};

}  // namespace

void Server::Serve(std::shared_ptr<Conn> c) {
  Handshake hs(c->fd, exports_, opts_, c->client);
  if (!hs.Run()) {
    hs.TakeStream().reset();  // before the descriptor can be reused
    ::close(c->fd);
    return;
  }
  c->stream = hs.TakeStream();
  {
    std::lock_guard<std::mutex> l(mu_);
    c->export_name = hs.export_name;
  }
  c->structured = hs.structured;
  c->meta_alloc = hs.meta_alloc;
  c->dev = std::move(hs.dev);
  c->size = c->dev->size();
  c->read_only = c->dev->read_only();
  c->metrics = metrics_.For(hs.export_name);
  c->metrics->Opened();
  logging::Debug("nbd", "connection opened", {{"client", c->client}, {"export", hs.export_name}});

  // Transmission: a few threads take turns reading the next request (under
  // rmu) and then each runs its own and replies (under the write lock), so
  // requests are served in parallel without a hand-off between threads.
  std::mutex rmu;
  bool closing = false;  // guarded by rmu

  // The reply header goes in one write with the payload that follows it.
  auto reply = [&](const Request& r, const Status& st, const std::string& payload) {
    std::string head;
    std::string_view body;
    uint32_t err = ErrnoFor(st);
    if (err) ++n_errors_;
    if (!c->structured) {
      PutBe32(&head, kSimpleReplyMagic);
      PutBe32(&head, err);
      PutBe64(&head, r.cookie);
      if (!err && r.type == kCmdRead) body = payload;
      return c->Send(head, body);
    }
    auto chunk = [&](uint16_t type, size_t length) {
      PutBe32(&head, kStructuredReplyMagic);
      PutBe16(&head, kReplyFlagDone);
      PutBe16(&head, type);
      PutBe64(&head, r.cookie);
      PutBe32(&head, static_cast<uint32_t>(length));
    };
    if (err) {
      std::string msg = st.message().substr(0, 1024);
      chunk(kReplyError, 6 + msg.size());
      PutBe32(&head, err);
      PutBe16(&head, static_cast<uint16_t>(msg.size()));
      head += msg;
    } else if (r.type == kCmdRead) {
      chunk(kReplyOffsetData, 8 + payload.size());
      PutBe64(&head, r.offset);
      body = payload;
    } else if (r.type == kCmdBlockStatus) {
      chunk(kReplyBlockStatus, payload.size());
      body = payload;
    } else {
      chunk(kReplyNone, 0);
    }
    return c->Send(head, body);
  };

  auto run = [&](Request& r, std::string& payload) {
    const auto start = std::chrono::steady_clock::now();
    ++n_requests_;
    backend::Device& dev = *c->dev;
    // Past the end: ENOSPC for writes, EINVAL for the rest (as the protocol asks).
    auto bounds = [&](Code code) -> Status {
      if (r.offset > c->size || r.length > c->size - r.offset) {
        return Status(code, "request " + std::to_string(r.offset) + "+" + std::to_string(r.length) +
                                " is past the end of the export (" + std::to_string(c->size) + " bytes)");
      }
      return Status::OK();
    };
    auto writable = [&]() -> Status {
      if (c->read_only) return FailedPrecondition("export is read-only (a snapshot)");
      return Status::OK();
    };
    const bool fua = r.flags & kCmdFlagFua;
    Status st;
    payload.clear();
    switch (r.type) {
      case kCmdRead:
        st = r.length > kMaxPayload ? InvalidArgument("read longer than 32 MiB") : bounds(Code::kOutOfRange);
        if (st.ok()) {
          payload.resize(r.length);
          st = dev.Read(r.offset, payload);
        }
        break;
      case kCmdWrite:
        st = writable();
        if (st.ok()) st = bounds(Code::kNoSpace);
        if (st.ok()) st = dev.Write(r.offset, r.data, fua);
        break;
      case kCmdFlush:
        st = dev.Flush();
        break;
      case kCmdTrim:
        st = dev.can_trim() ? writable() : InvalidArgument("trim is not offered on this export");
        if (st.ok()) st = bounds(Code::kOutOfRange);
        if (st.ok()) st = dev.Trim(r.offset, r.length, fua);
        break;
      case kCmdWriteZeroes:
        st = writable();
        if (st.ok()) st = bounds(Code::kNoSpace);
        // Without hole punching, zeroing writes zeroes: not fast.
        if (st.ok() && (r.flags & kCmdFlagFastZero) && !dev.can_trim()) st = NotSupported("zeroing is not fast here");
        if (st.ok()) st = dev.WriteZeroes(r.offset, r.length, !(r.flags & kCmdFlagNoHole), fua);
        break;
      case kCmdCache:
        st = bounds(Code::kOutOfRange);
        break;
      case kCmdBlockStatus: {
        if (!c->meta_alloc) {
          st = InvalidArgument("no metadata context negotiated (ask for base:allocation)");
          break;
        }
        st = r.length == 0 ? InvalidArgument("block status of zero bytes") : bounds(Code::kOutOfRange);
        if (!st.ok()) break;
        auto map = dev.Map(r.offset, r.length);
        st = map.status();
        if (!st.ok()) break;
        PutBe32(&payload, kAllocContextId);
        for (const Extent& e : *map) {
          uint32_t flags = e.type == ExtentType::kHole   ? (kStateHole | kStateZero)
                           : e.type == ExtentType::kZero ? kStateZero
                                                         : 0;
          // Descriptors are 32-bit: split longer extents.
          for (uint64_t done = 0; done < e.length;) {
            uint32_t len = static_cast<uint32_t>(std::min<uint64_t>(e.length - done, 0x80000000u));
            PutBe32(&payload, len);
            PutBe32(&payload, flags);
            done += len;
            if (r.flags & kCmdFlagReqOne) break;
          }
          if (r.flags & kCmdFlagReqOne) break;
        }
        break;
      }
      default:
        st = InvalidArgument("unknown command " + std::to_string(r.type));
    }
    reply(r, st, payload);
    const Op op = OpOf(r.type);
    if (!st.ok() && (st.code() == Code::kIOError || st.code() == Code::kCorruption)) {
      // The storage failed (not the client's request): worth an operator's look.
      logging::Error("nbd", "request failed",
                     {{"export", c->export_name},
                      {"op", OpName(op)},
                      {"offset", r.offset},
                      {"length", static_cast<uint64_t>(r.length)},
                      {"error", st.ToString()}});
    }
    const bool has_bytes = op != Op::kFlush && op != Op::kBlockStatus && op != Op::kOther;
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start);
    c->metrics->Record(op, has_bytes ? r.length : 0, static_cast<uint64_t>(ns.count()), !st.ok());
  };

  // Reads the next request into *r; false when the connection is over (DISC,
  // EOF, or a stream that cannot be trusted any more). rmu held.
  auto next = [&](Request* r) {
    char h[kRequestHeaderSize];
    if (!c->stream->ReadFull(h, sizeof h)) return false;
    auto hdr = ParseRequestHeader(std::string_view(h, sizeof h));
    if (!hdr.ok()) return false;
    static_cast<RequestHeader&>(*r) = *hdr;
    if (r->type == kCmdDisc) return false;
    if (r->type == kCmdWrite) {
      if (r->length > kMaxPayload) return false;  // cannot skip that much safely
      r->data.resize(r->length);
      if (!c->stream->ReadFull(r->data.data(), r->length)) return false;
    }
    return true;
  };
  auto serve = [&] {
    Request r;  // buffers kept across requests
    std::string payload;
    for (;;) {
      {
        std::lock_guard<std::mutex> l(rmu);
        if (closing) return;
        if (!next(&r)) {
          closing = true;  // the others finish what they run and stop
          return;
        }
      }
      run(r, payload);
    }
  };
  const int nthreads = std::max(1, opts_.workers_per_connection);
  std::vector<std::thread> threads;
  for (int i = 1; i < nthreads; ++i) threads.emplace_back(serve);
  serve();
  for (auto& t : threads) t.join();
  Status flushed = c->dev->Flush();  // a clean or abrupt end: what was written is made durable
  if (!flushed.ok())
    logging::Error("nbd", "flush at disconnect failed", {{"export", c->export_name}, {"error", flushed.ToString()}});
  c->metrics->Closed();
  logging::Debug("nbd", "connection closed", {{"client", c->client}, {"export", c->export_name}});
  c->stream.reset();  // TLS says goodbye before the socket closes
  ::close(c->fd);
}

}  // namespace vmstore::nbd
