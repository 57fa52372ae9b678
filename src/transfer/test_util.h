// Test helpers for the transfer tests: streams written to and read from strings.
#pragma once

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>

#include "vmstore/status.h"

namespace vmstore::transfer {

// A StreamWriter / Send sink appending to *out.
inline auto AppendTo(std::string* out) {
  return [out](std::string_view piece) {
    out->append(piece);
    return Status::OK();
  };
}

// A StreamReader source reading *s from *pos on, advancing *pos; both must
// outlive it.
inline auto ReadFrom(const std::string* s, size_t* pos) {
  return [s, pos](char* buf, size_t n) -> StatusOr<size_t> {
    size_t k = std::min(n, s->size() - *pos);
    std::memcpy(buf, s->data() + *pos, k);
    *pos += k;
    return k;
  };
}

}  // namespace vmstore::transfer
