#include "nbd/transmission.h"

#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "nbd/handshake.h"
#include "nbd/layers.h"
#include "nbd/payload_buffer.h"
#include "nbd/protocol.h"
#include "nbd/reply.h"
#include "nbd/wire.h"
#include "util/log.h"
#include "util/steady_clock.h"

namespace vmstore::nbd {

namespace {

struct Request : RequestHeader {
  explicit Request(BufferCache* cache) : data(cache) {}
  PayloadBuffer data;  // a WRITE's payload or a READ's data
  uint64_t held = 0;   // payload bytes taken from the budget
};

// The payload bytes a request brings or asks for (0 for what the protocol
// refuses before any buffer is allocated).
uint64_t PayloadBytes(const RequestHeader& r) {
  if (r.length > kMaxPayload) return 0;
  return r.type == kCmdRead || r.type == kCmdWrite ? PayloadBuffer::Footprint(r.length) : 0;
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

// What the protocol refuses before the layers; OK when the request may go on.
Status ProtocolCheck(const Connection& c, const Request& r) {
  if (r.flags & ~kCmdFlagsKnown) return InvalidArgument("unknown command flags " + std::to_string(r.flags));
  if ((r.flags & kCmdFlagDf) && (r.type != kCmdRead || !c.structured)) {
    return InvalidArgument("DF (don't fragment) is for reads with structured replies");
  }
  switch (r.type) {
    case kCmdRead:
      return r.length > kMaxPayload ? InvalidArgument("read longer than 32 MiB") : Status::OK();
    case kCmdWrite:
    case kCmdFlush:
    case kCmdTrim:
    case kCmdCache:
      return Status::OK();
    case kCmdWriteZeroes:
      // Without hole punching, zeroing writes zeroes: not fast.
      if ((r.flags & kCmdFlagFastZero) && !c.dev->can_trim()) return NotSupported("zeroing is not fast here");
      return Status::OK();
    case kCmdBlockStatus:
      if (!c.meta_alloc) return InvalidArgument("no metadata context negotiated (ask for base:allocation)");
      return r.length == 0 ? InvalidArgument("block status of zero bytes") : Status::OK();
    default:
      return InvalidArgument("unknown command " + std::to_string(r.type));
  }
}

// Runs an accepted request through the layers; a read's data or the block
// status descriptors go to *payload.
Status Dispatch(Connection& c, Request& r, std::string* payload) {
  backend::Device& dev = *c.dev;
  const bool fua = r.flags & kCmdFlagFua;
  switch (r.type) {
    case kCmdRead:
      if (!r.data.Resize(r.length)) return Internal("no memory for a read of " + std::to_string(r.length) + " bytes");
      return dev.Read(r.offset, r.data.span());
    case kCmdWrite:
      return dev.Write(r.offset, r.data.span(), fua);
    case kCmdFlush:
      return dev.Flush();
    case kCmdTrim:
      return dev.Trim(r.offset, r.length, fua);
    case kCmdWriteZeroes:
      return dev.WriteZeroes(r.offset, r.length, !(r.flags & kCmdFlagNoHole), fua);
    case kCmdCache:
      return dev.Cache(r.offset, r.length);
    case kCmdBlockStatus: {
      ASSIGN_OR_RETURN(std::vector<Extent> map, dev.Map(r.offset, r.length));
      *payload = EncodeBlockStatus(kAllocContextId, map, r.flags & kCmdFlagReqOne);
      return Status::OK();
    }
    default:
      return Internal("unchecked command " + std::to_string(r.type));
  }
}

// The end of a request: its buffer and budget are given back.
void Done(Connection& c, Request* r) {
  r->data.Release();
  if (c.budget) c.budget->Give(c.client, r->held);
  r->held = 0;
  c.Touch();
  --c.in_flight;
}

void Run(Connection& c, Request& r, std::string& payload, RequestCounters counters) {
  const auto start = std::chrono::steady_clock::now();
  ++*counters.requests;
  payload.clear();
  const Op op = OpOf(r.type);
  Status st = ProtocolCheck(c, r);
  if (!st.ok()) {  // never reached the layers: counted here
    const bool has_bytes = op != Op::kFlush && op != Op::kBlockStatus && op != Op::kOther;
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start);
    c.metrics->Record(op, has_bytes ? r.length : 0, static_cast<uint64_t>(ns.count()), true);
  } else {
    st = Dispatch(c, r, &payload);
  }
  if (!st.ok()) ++*counters.errors;
  std::string head;
  std::string_view body = EncodeReply(c.structured, r, st, r.type == kCmdRead ? r.data.view() : payload, &head);
  if (!c.Send(head, body)) {
    // The client is gone or did not take the reply within the send timeout:
    // the connection ends (the reader stops too), and what it holds is freed.
    ::shutdown(c.fd, SHUT_RDWR);
  }
  if (!st.ok() && (st.code() == Code::kIOError || st.code() == Code::kCorruption)) {
    // The storage failed (not the client's request): worth an operator's look.
    logging::Error("nbd", "request failed",
                   {{"export", c.export_name},
                    {"op", OpName(op)},
                    {"offset", r.offset},
                    {"length", static_cast<uint64_t>(r.length)},
                    {"error", st.ToString()}});
  }
}

// Reads the next request into *r, its payload bytes taken from the budget
// (r->held); false when the connection is over (DISC, EOF, or a stream that
// cannot be trusted any more), with nothing held.
bool Next(Connection& c, Request* r) {
  char h[kRequestHeaderSize];
  if (!c.stream->ReadFull(h, sizeof h)) return false;
  auto hdr = ParseRequestHeader(std::string_view(h, sizeof h));
  if (!hdr.ok()) return false;
  static_cast<RequestHeader&>(*r) = *hdr;
  if (r->type == kCmdDisc) return false;
  if (r->type == kCmdWrite && r->length > kMaxPayload) return false;  // cannot skip that much safely
  ++c.in_flight;
  c.Touch();
  r->held = c.budget ? c.budget->Take(c.client, PayloadBytes(*r)) : 0;
  if (r->type == kCmdWrite && (!r->data.Resize(r->length) || !c.stream->ReadFull(r->data.data(), r->length))) {
    Done(c, r);
    return false;
  }
  return true;
}

}  // namespace

void Connection::Touch() { last_active_ns.store(internal::SteadyNowNs()); }

bool Connection::Send(std::string_view head, std::string_view body) {
  MutexLock l(&wmu);
  return stream->WriteFull2(head.data(), head.size(), body.data(), body.size());
}

// The workers' turns at reading the next request.
struct ReadTurn {
  Mutex mu;
  bool closing GUARDED_BY(mu) = false;  // the stream has ended: no more turns
};

void Transmit(Connection* c, int workers, RequestCounters counters) {
  ReadTurn turn;
  auto serve = [&] {
    Request r(c->buffers);  // the small buffer is kept across requests
    std::string payload;
    for (;;) {
      {
        MutexLock l(&turn.mu);
        if (turn.closing) return;
        if (!Next(*c, &r)) {
          turn.closing = true;  // the others finish what they run and stop
          return;
        }
      }
      Run(*c, r, payload, counters);
      Done(*c, &r);
      if (payload.capacity() > PayloadBuffer::kSmall) std::string().swap(payload);
    }
  };
  std::vector<std::thread> threads;
  for (int i = 1; i < std::max(1, workers); ++i) threads.emplace_back(serve);
  serve();
  for (auto& t : threads) t.join();
  // A clean or abrupt end: what was written is made durable (under the
  // layers: not a request of the client's).
  Status flushed = Innermost(*c->dev).Flush();
  if (!flushed.ok()) {
    logging::Error("nbd", "flush at disconnect failed", {{"export", c->export_name}, {"error", flushed.ToString()}});
  }
}

}  // namespace vmstore::nbd
