// Parsing of listen addresses given on the command line: "HOST:PORT",
// "[IPV6]:PORT", or ":PORT" (every address). Used by the NBD server and the
// HTTP API.
#pragma once

#include <string>

#include "vmstore/status.h"

namespace vmstore::internal {

struct HostPort {
  std::string host;  // without brackets; "" = every address
  int port = 0;      // 0 = any free port
};

// InvalidArgument naming `what` (e.g. "--http address") and the text when it
// is not HOST:PORT or the port is not a number in 0..65535.
inline StatusOr<HostPort> ParseHostPort(const std::string& text, const std::string& what) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) return InvalidArgument(what + " '" + text + "' is not HOST:PORT");
  HostPort hp;
  hp.host = text.substr(0, colon);
  if (hp.host.size() > 2 && hp.host.front() == '[' && hp.host.back() == ']')
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  std::string port = text.substr(colon + 1);
  size_t used = 0;
  try {
    hp.port = std::stoi(port, &used);
  } catch (...) {
    used = 0;
  }
  if (port.empty() || used != port.size()) return InvalidArgument(what + " '" + text + "' has no port number");
  if (hp.port < 0 || hp.port > 65535) {
    return InvalidArgument(what + " '" + text + "': port " + port + " is out of range (0-65535)");
  }
  return hp;
}

}  // namespace vmstore::internal
