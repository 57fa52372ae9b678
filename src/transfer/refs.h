// The references the transfer commands take: a disk "VM/DISK" and a disk
// snapshot "VM/DISK@FULLNAME", where "@FULLNAME" alone means the same disk as
// another reference. Thread-safety: pure functions.
#pragma once

#include <string>
#include <utility>

#include "vmstore/status.h"

namespace vmstore::transfer {

struct SnapRef {
  std::string vm, disk, full;
  std::string disk_ref() const { return vm + "/" + disk; }     // "VM/DISK"
  std::string str() const { return disk_ref() + "@" + full; }  // "VM/DISK@FULL"
  std::string vm_snapshot() const { return vm + "@" + full; }  // "VM@FULL"
};

// InvalidArgument "WHAT 'REF' is not a disk snapshot VM/DISK@FULLNAME" + `hint`
// unless `ref` is one.
inline StatusOr<SnapRef> ParseSnapRef(const std::string& ref, const std::string& what, const std::string& hint = "") {
  size_t slash = ref.find('/'), at = ref.find('@');
  if (slash == std::string::npos || at == std::string::npos || slash == 0 || at < slash + 2 || at + 1 == ref.size()) {
    return InvalidArgument(what + " '" + ref + "' is not a disk snapshot VM/DISK@FULLNAME" + hint);
  }
  return SnapRef{ref.substr(0, slash), ref.substr(slash + 1, at - slash - 1), ref.substr(at + 1)};
}

// {"VM", "DISK"}; InvalidArgument "[WHAT ]'REF' is not a disk VM/DISK" unless `ref` is one.
inline StatusOr<std::pair<std::string, std::string>> ParseDiskRef(const std::string& ref, const std::string& what) {
  size_t slash = ref.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == ref.size() || ref.find('@') != std::string::npos) {
    return InvalidArgument((what.empty() ? "" : what + " ") + "'" + ref + "' is not a disk VM/DISK");
  }
  return std::make_pair(ref.substr(0, slash), ref.substr(slash + 1));
}

// `ref`, with "@FULLNAME" taken as a snapshot of `disk_ref` ("VM/DISK").
inline std::string OnDisk(const std::string& ref, const std::string& disk_ref) {
  return !ref.empty() && ref[0] == '@' ? disk_ref + ref : ref;
}

}  // namespace vmstore::transfer
