// The web console's files (web/), compiled into the program by the build
// (cmake/embed_web.cmake) and served by the HTTP API at / and /ui/NAME.
// Thread-safety: immutable data.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace vmstore::server {

struct WebAsset {
  const char* name;          // "index.html", "app.js", ...
  const char* content_type;  // for the Content-Type header
  const char* data;
  size_t size;
};

std::span<const WebAsset> WebAssets();

// The asset called `name`, or nullptr.
inline const WebAsset* FindWebAsset(std::string_view name) {
  for (const WebAsset& a : WebAssets()) {
    if (name == a.name) return &a;
  }
  return nullptr;
}

}  // namespace vmstore::server
