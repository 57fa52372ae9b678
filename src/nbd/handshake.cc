#include "nbd/handshake.h"

#include "nbd/protocol.h"
#include "nbd/tls.h"
#include "nbd/wire.h"
#include "util/log.h"

namespace vmstore::nbd {

namespace {

std::string OptionReply(uint32_t option, uint32_t type, const std::string& data) {
  std::string r;
  PutBe64(&r, kRepMagic);
  PutBe32(&r, option);
  PutBe32(&r, type);
  PutBe32(&r, static_cast<uint32_t>(data.size()));
  return r + data;
}

}  // namespace

Handshake::Handshake(int fd, ExportSource* exports, const ServerOptions& opts, std::string client)
    : fd_(fd),
      stream_(std::make_unique<SocketStream>(fd)),
      exports_(exports),
      opts_(opts),
      client_(std::move(client)) {}

bool Handshake::Reply(uint32_t opt, uint32_t type, const std::string& data) {
  return Send(OptionReply(opt, type, data));
}

int Handshake::NotAllowed(uint32_t opt, const std::string& name) {
  logging::Warn("nbd", "export refused by the allow list", {{"client", client_}, {"export", name}});
  return Answer(opt, kRepErrPolicy, "export '" + name + "' is not allowed for client " + client_);
}

bool Handshake::Run() {
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

uint16_t Handshake::TransmissionFlags() const {
  uint16_t f = kFlagHasFlags | kFlagSendFlush | kFlagSendFua | kFlagSendWriteZeroes | kFlagSendCache |
               kFlagSendFastZero | kFlagCanMultiConn;
  if (dev->can_trim()) f |= kFlagSendTrim;
  if (structured) f |= kFlagSendDf;
  if (dev->read_only()) f |= kFlagReadOnly;
  return f;
}

int Handshake::Option(uint32_t opt, const std::string& d) {
  if (opts_.tls_required && !stream_->is_tls() && client_ != "admin" && opt != kOptStartTls && opt != kOptAbort) {
    if (opt == kOptExportName) return -1;  // no error reply exists for it
    return Answer(opt, kRepErrTlsReqd, "this server requires TLS (NBD_OPT_STARTTLS) before any other option");
  }
  switch (opt) {
    case kOptExportName:
      return ExportName(d);
    case kOptAbort:
      Reply(opt, kRepAck);
      return -1;
    case kOptList:
      return List(d);
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

int Handshake::ExportName(const std::string& d) {
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

int Handshake::List(const std::string& d) {
  if (!d.empty()) return Answer(kOptList, kRepErrInvalid, "NBD_OPT_LIST takes no data");
  auto list = exports_->List();
  if (!list.ok()) return Answer(kOptList, kRepErrPlatform, list.status().ToString());
  for (const auto& e : *list) {
    if (!Allowed(opts_.allow, client_, e.name)) continue;
    std::string p;
    PutBe32(&p, static_cast<uint32_t>(e.name.size()));
    p += e.name + e.description;
    if (!Reply(kOptList, kRepServer, p)) return -1;
  }
  return Answer(kOptList, kRepAck);
}

int Handshake::StartTls(const std::string& d) {
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

int Handshake::InfoOrGo(uint32_t opt, const std::string& d) {
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

int Handshake::MetaContext(uint32_t opt, const std::string& d) {
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

}  // namespace vmstore::nbd
