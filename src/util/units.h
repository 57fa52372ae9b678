// Sizes and times as users write and read them, shared by the CLI and the
// HTTP API: "64K" / "10G" sizes, "1.5 GiB" for humans, ISO-8601 UTC times.
#pragma once

#include <cstdint>
#include <string>

#include "vmstore/status.h"

namespace vmstore {

// "64K", "10G", "512" -> bytes (binary multiples). InvalidArgument otherwise.
StatusOr<uint64_t> ParseSize(const std::string& text);
// 1536 -> "1.5 KiB".
std::string Human(uint64_t bytes);
// "2014-02-19T02:52:44Z" style UTC time of a ns timestamp.
std::string IsoTime(int64_t unix_ns);

}  // namespace vmstore
