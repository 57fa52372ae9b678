// Snapshot naming rules (snapshot paper, section 3.2.3).
//
// A user-given NAME is letters, digits and underscore, 1-64 characters. The
// system appends a UTC time tag: the full name is NAME_YYYYMMDDTHH:MM:SS, e.g.
// "snapshot_1_20140219T02:52:44". Full names order snapshots by time and are
// unique per VM; the catalog also keeps the full-precision creation time.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "vmstore/status.h"

namespace vmstore::catalog {

// InvalidArgument naming the rule when `name` breaks it.
Status ValidateSnapshotName(std::string_view name);
// Names of SRs, VMs and disks: 1-64 of letters, digits, '_', '-' and '.',
// starting with a letter, digit or '_' (they appear in export names
// "VM/DISK@SNAPSHOT", so never '/' or '@'). `kind` is "VM", "disk" or "SR".
Status ValidateObjectName(std::string_view kind, std::string_view name);
// "YYYYMMDDTHH:MM:SS" for a time in ns since the Unix epoch (UTC).
std::string TimeTag(int64_t unix_ns);
// NAME + "_" + TimeTag(unix_ns).
std::string FullSnapshotName(std::string_view name, int64_t unix_ns);
// Parses "YYYYMMDDTHH:MM:SS" (also accepted: "YYYY-MM-DDTHH:MM:SS", with an
// optional trailing "Z") into seconds since the Unix epoch.
StatusOr<int64_t> ParseTimeTag(std::string_view tag);
// Splits a full name into NAME and the time in seconds; InvalidArgument if it
// does not end in a valid time tag.
StatusOr<std::pair<std::string, int64_t>> SplitFullName(std::string_view full);

}  // namespace vmstore::catalog
