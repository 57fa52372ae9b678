// libFuzzer harness for the NBD parsers of client input (src/nbd/wire.h).
// The first byte picks the parser; the rest is the message. On success the
// parsed parts must account for every byte of the message.
//
// Build and run (scripts/test.sh does this for a bounded time):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
//     fuzz/nbd_wire_fuzz.cc src/nbd/wire.cc src/util/status.cc -o nbd_wire_fuzz
//   ./nbd_wire_fuzz -max_total_time=30 fuzz/corpus/nbd_wire
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "nbd/wire.h"

using namespace vmstore::nbd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view msg(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      auto r = ParseGo(msg);
      if (r.ok() && 4 + r->name.size() + 2 + 2 * r->infos.size() != msg.size()) std::abort();
      break;
    }
    case 1: {
      auto r = ParseMeta(msg);
      if (r.ok()) {
        size_t total = 8 + r->name.size();
        for (const auto& q : r->queries) total += 4 + q.size();
        if (total != msg.size()) std::abort();
      }
      break;
    }
    default: {
      auto r = ParseRequestHeader(msg);
      if (r.ok() && msg.size() != kRequestHeaderSize) std::abort();
      break;
    }
  }
  return 0;
}
