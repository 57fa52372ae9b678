// Constants of the NBD protocol (the "newstyle" protocol document of the NBD
// project, doc/proto.md) and big-endian helpers. Only facts from the spec.
#pragma once

#include <cstdint>
#include <string>

#include "util/coding.h"

namespace vmstore::nbd {

// Handshake.
constexpr uint64_t kNbdMagic = 0x4e42444d41474943ull;  // "NBDMAGIC"
constexpr uint64_t kOptMagic = 0x49484156454f5054ull;  // "IHAVEOPT"
constexpr uint64_t kRepMagic = 0x0003e889045565a9ull;  // option reply
constexpr uint16_t kFlagFixedNewstyle = 1 << 0;
constexpr uint16_t kFlagNoZeroes = 1 << 1;
constexpr uint32_t kClientFixedNewstyle = 1 << 0;
constexpr uint32_t kClientNoZeroes = 1 << 1;

// Options.
constexpr uint32_t kOptExportName = 1;
constexpr uint32_t kOptAbort = 2;
constexpr uint32_t kOptList = 3;
constexpr uint32_t kOptStartTls = 5;
constexpr uint32_t kOptInfo = 6;
constexpr uint32_t kOptGo = 7;
constexpr uint32_t kOptStructuredReply = 8;
constexpr uint32_t kOptListMetaContext = 9;
constexpr uint32_t kOptSetMetaContext = 10;

// Option replies.
constexpr uint32_t kRepAck = 1;
constexpr uint32_t kRepServer = 2;
constexpr uint32_t kRepInfo = 3;
constexpr uint32_t kRepMetaContext = 4;
constexpr uint32_t kRepErrUnsup = 0x80000001;
constexpr uint32_t kRepErrPolicy = 0x80000002;
constexpr uint32_t kRepErrInvalid = 0x80000003;
constexpr uint32_t kRepErrPlatform = 0x80000004;
constexpr uint32_t kRepErrTlsReqd = 0x80000005;
constexpr uint32_t kRepErrUnknown = 0x80000006;
constexpr uint32_t kRepErrShutdown = 0x80000007;
constexpr uint32_t kRepErrBlockSizeReqd = 0x80000008;
constexpr uint32_t kRepErrTooBig = 0x80000009;

// NBD_OPT_INFO / NBD_OPT_GO information types.
constexpr uint16_t kInfoExport = 0;
constexpr uint16_t kInfoName = 1;
constexpr uint16_t kInfoDescription = 2;
constexpr uint16_t kInfoBlockSize = 3;

// Transmission flags.
constexpr uint16_t kFlagHasFlags = 1 << 0;
constexpr uint16_t kFlagReadOnly = 1 << 1;
constexpr uint16_t kFlagSendFlush = 1 << 2;
constexpr uint16_t kFlagSendFua = 1 << 3;
constexpr uint16_t kFlagSendTrim = 1 << 5;
constexpr uint16_t kFlagSendWriteZeroes = 1 << 6;
constexpr uint16_t kFlagSendDf = 1 << 7;
constexpr uint16_t kFlagCanMultiConn = 1 << 8;
constexpr uint16_t kFlagSendCache = 1 << 10;
constexpr uint16_t kFlagSendFastZero = 1 << 11;

// Requests.
constexpr uint32_t kRequestMagic = 0x25609513;
constexpr uint16_t kCmdRead = 0;
constexpr uint16_t kCmdWrite = 1;
constexpr uint16_t kCmdDisc = 2;
constexpr uint16_t kCmdFlush = 3;
constexpr uint16_t kCmdTrim = 4;
constexpr uint16_t kCmdCache = 5;
constexpr uint16_t kCmdWriteZeroes = 6;
constexpr uint16_t kCmdBlockStatus = 7;
constexpr uint16_t kCmdFlagFua = 1 << 0;
constexpr uint16_t kCmdFlagNoHole = 1 << 1;
constexpr uint16_t kCmdFlagDf = 1 << 2;
constexpr uint16_t kCmdFlagReqOne = 1 << 3;
constexpr uint16_t kCmdFlagFastZero = 1 << 4;
// Every command flag this server knows; a request with another bit is EINVAL.
constexpr uint16_t kCmdFlagsKnown = kCmdFlagFua | kCmdFlagNoHole | kCmdFlagDf | kCmdFlagReqOne | kCmdFlagFastZero;

// Replies.
constexpr uint32_t kSimpleReplyMagic = 0x67446698;
constexpr uint32_t kStructuredReplyMagic = 0x668e33ef;
constexpr uint16_t kReplyFlagDone = 1 << 0;
constexpr uint16_t kReplyNone = 0;
constexpr uint16_t kReplyOffsetData = 1;
constexpr uint16_t kReplyOffsetHole = 2;
constexpr uint16_t kReplyBlockStatus = 5;
constexpr uint16_t kReplyError = 0x8001;
constexpr uint16_t kReplyErrorOffset = 0x8002;

// base:allocation descriptor flags.
constexpr uint32_t kStateHole = 1 << 0;
constexpr uint32_t kStateZero = 1 << 1;

// Error values (errno numbers as the protocol fixes them).
constexpr uint32_t kEPERM = 1;
constexpr uint32_t kEIO = 5;
constexpr uint32_t kENOMEM = 12;
constexpr uint32_t kEINVAL = 22;
constexpr uint32_t kENOSPC = 28;
constexpr uint32_t kEOVERFLOW = 75;
constexpr uint32_t kENOTSUP = 95;
constexpr uint32_t kESHUTDOWN = 108;

// Limits this server announces and enforces.
constexpr uint32_t kMaxPayload = 32u << 20;  // largest READ/WRITE
// Largest option payload: an export name or a query may be 4,096 bytes (the
// protocol's limit), with the option's own fields around it.
constexpr uint32_t kMaxOptionLength = 8192;
constexpr uint32_t kMinBlock = 512;
constexpr uint32_t kPreferredBlock = 4096;

// The protocol is big-endian (util/coding.h has the helpers).
using internal::GetBe16;
using internal::GetBe32;
using internal::GetBe64;
using internal::PutBe16;
using internal::PutBe32;
using internal::PutBe64;

}  // namespace vmstore::nbd
