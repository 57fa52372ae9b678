#include "nbd/wire.h"

#include "nbd/protocol.h"

namespace vmstore::nbd {

StatusOr<GoRequest> ParseGo(std::string_view d) {
  if (d.size() < 6) return InvalidArgument("option too short");
  uint32_t nlen = GetBe32(d.data());
  if (d.size() < 4ull + nlen + 2) return InvalidArgument("export name overruns the option");
  GoRequest r;
  r.name = std::string(d.substr(4, nlen));
  uint16_t nreq = GetBe16(d.data() + 4 + nlen);
  if (d.size() != 4ull + nlen + 2 + 2ull * nreq) {
    return InvalidArgument("information requests do not match the option length");
  }
  for (uint16_t i = 0; i < nreq; ++i) r.infos.push_back(GetBe16(d.data() + 4 + nlen + 2 + 2 * i));
  return r;
}

StatusOr<MetaRequest> ParseMeta(std::string_view d) {
  if (d.size() < 8) return InvalidArgument("option too short");
  uint32_t nlen = GetBe32(d.data());
  if (d.size() < 8ull + nlen) return InvalidArgument("export name overruns the option");
  MetaRequest r;
  r.name = std::string(d.substr(4, nlen));
  uint32_t nq = GetBe32(d.data() + 4 + nlen);
  size_t pos = 8 + nlen;
  for (uint32_t i = 0; i < nq; ++i) {
    if (pos + 4 > d.size()) return InvalidArgument("query overruns the option");
    uint32_t ql = GetBe32(d.data() + pos);
    if (ql > d.size() - pos - 4) return InvalidArgument("query overruns the option");
    r.queries.emplace_back(d.substr(pos + 4, ql));
    pos += 4 + ql;
  }
  if (pos != d.size()) return InvalidArgument("trailing bytes in the option");
  return r;
}

StatusOr<RequestHeader> ParseRequestHeader(std::string_view h) {
  if (h.size() != kRequestHeaderSize) return InvalidArgument("request header is not 28 bytes");
  if (GetBe32(h.data()) != kRequestMagic) return InvalidArgument("bad request magic");
  RequestHeader r;
  r.flags = GetBe16(h.data() + 4);
  r.type = GetBe16(h.data() + 6);
  r.cookie = GetBe64(h.data() + 8);
  r.offset = GetBe64(h.data() + 16);
  r.length = GetBe32(h.data() + 24);
  return r;
}

}  // namespace vmstore::nbd
