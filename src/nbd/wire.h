// Parsers of the NBD messages a client sends: option payloads of
// NBD_OPT_INFO / NBD_OPT_GO and NBD_OPT_{LIST,SET}_META_CONTEXT, and the
// 28-byte request header. Pure functions on untrusted bytes (fuzzed by
// fuzz/nbd_wire_fuzz.cc); errors are InvalidArgument with the reason.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vmstore/status.h"

namespace vmstore::nbd {

struct GoRequest {
  std::string name;
  std::vector<uint16_t> infos;  // requested NBD_INFO_* types
};
StatusOr<GoRequest> ParseGo(std::string_view data);

struct MetaRequest {
  std::string name;
  std::vector<std::string> queries;
};
StatusOr<MetaRequest> ParseMeta(std::string_view data);

constexpr size_t kRequestHeaderSize = 28;
struct RequestHeader {
  uint16_t flags = 0, type = 0;
  uint64_t cookie = 0, offset = 0;
  uint32_t length = 0;
};
// `h` holds kRequestHeaderSize bytes; InvalidArgument for a bad magic.
StatusOr<RequestHeader> ParseRequestHeader(std::string_view h);

}  // namespace vmstore::nbd
