#include "nbd/reply.h"

#include <algorithm>

#include "nbd/protocol.h"

namespace vmstore::nbd {

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

std::string_view EncodeReply(bool structured, const RequestHeader& r, const Status& st, std::string_view payload,
                             std::string* head) {
  head->clear();
  const uint32_t err = ErrnoFor(st);
  if (!structured) {
    PutBe32(head, kSimpleReplyMagic);
    PutBe32(head, err);
    PutBe64(head, r.cookie);
    return !err && r.type == kCmdRead ? payload : std::string_view();
  }
  auto chunk = [&](uint16_t type, size_t length) {
    PutBe32(head, kStructuredReplyMagic);
    PutBe16(head, kReplyFlagDone);
    PutBe16(head, type);
    PutBe64(head, r.cookie);
    PutBe32(head, static_cast<uint32_t>(length));
  };
  if (err) {
    std::string msg = st.message().substr(0, 1024);
    chunk(kReplyError, 6 + msg.size());
    PutBe32(head, err);
    PutBe16(head, static_cast<uint16_t>(msg.size()));
    *head += msg;
    return {};
  }
  if (r.type == kCmdRead && !payload.empty()) {
    chunk(kReplyOffsetData, 8 + payload.size());
    PutBe64(head, r.offset);
    return payload;
  }
  if (r.type == kCmdBlockStatus) {
    chunk(kReplyBlockStatus, payload.size());
    return payload;
  }
  chunk(kReplyNone, 0);  // also a read of 0 bytes: an OFFSET_DATA chunk must carry data
  return {};
}

std::string EncodeBlockStatus(uint32_t context_id, const std::vector<Extent>& extents, bool req_one) {
  std::string payload;
  PutBe32(&payload, context_id);
  for (const Extent& e : extents) {
    uint32_t flags = e.type == ExtentType::kHole   ? (kStateHole | kStateZero)
                     : e.type == ExtentType::kZero ? kStateZero
                                                   : 0;
    // Descriptors are 32-bit: split longer extents.
    for (uint64_t done = 0; done < e.length;) {
      uint32_t len = static_cast<uint32_t>(std::min<uint64_t>(e.length - done, 0x80000000u));
      PutBe32(&payload, len);
      PutBe32(&payload, flags);
      done += len;
      if (req_one) break;
    }
    if (req_one) break;
  }
  return payload;
}

}  // namespace vmstore::nbd
